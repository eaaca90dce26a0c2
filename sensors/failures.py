"""Record every failed tenant run beside the tenant's artifacts, for `mm report` and operators."""

import dagster as dg

from jobs.indexing import index_tenant_job
from mm_platform.atomic import append_jsonl
from mm_platform.indexing.versions import now_iso
from mm_platform.inputs.tenancy import Layout, TenantError, validate_tenant_id
from mm_platform.observability import gateway_from_env, push_run_outcome


@dg.run_failure_sensor(monitored_jobs=[index_tenant_job], default_status=dg.DefaultSensorStatus.RUNNING)
def tenant_run_failure_sensor(context: dg.RunFailureSensorContext) -> None:
    """Appends {time, run id, job, failed steps, message} to storage/<tenant>/failures.jsonl."""
    tenant = context.dagster_run.tags.get("dagster/partition")
    try:
        validate_tenant_id(tenant)
    except TenantError:
        context.log.warning(f"run {context.dagster_run.run_id} failed without a tenant partition")
        return
    steps = sorted({e.step_key for e in context.get_step_failure_events() if e.step_key})
    append_jsonl(Layout.from_env().artifact(tenant, "failures.jsonl"), {
        "time": now_iso(), "run_id": context.dagster_run.run_id, "job": context.dagster_run.job_name,
        "failed_steps": steps, "message": context.failure_event.message})
    push_run_outcome(tenant, None, False, gateway_from_env())  # no-op without MM_PUSHGATEWAY_URL
