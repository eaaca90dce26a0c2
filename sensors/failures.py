"""Record every failed tenant run beside the tenant's artifacts, for `mm report` and operators."""

import dagster as dg

from mm_platform.atomic import append_jsonl
from mm_platform.indexing.versions import now_iso
from mm_platform.inputs.tenancy import TenantError, validate_tenant_id
from resources import PlatformResource, PushgatewayResource


@dg.run_failure_sensor(monitor_all_code_locations=False, default_status=dg.DefaultSensorStatus.RUNNING,
                       name="tenant_run_failure_sensor",
                       description="Appends every failed tenant run (time, run id, job, failed steps, message) to "
                                   "storage/<tenant>/failures.jsonl and pushes the outcome to the Pushgateway.")
def tenant_run_failure_sensor(context: dg.RunFailureSensorContext, platform: PlatformResource,
                              pushgateway: PushgatewayResource) -> None:
    tenant = context.dagster_run.tags.get("dagster/partition")
    try:
        validate_tenant_id(tenant)
    except TenantError:
        context.log.warning(f"run {context.dagster_run.run_id} failed without a tenant partition")
        return
    steps = sorted({e.step_key for e in context.get_step_failure_events() if e.step_key})
    append_jsonl(platform.layout().artifact(tenant, "failures.jsonl"), {
        "time": now_iso(), "run_id": context.dagster_run.run_id, "job": context.dagster_run.job_name,
        "failed_steps": steps, "message": context.failure_event.message})
    pushgateway.push_run_outcome(tenant, None, False)  # no-op without MM_PUSHGATEWAY_URL
