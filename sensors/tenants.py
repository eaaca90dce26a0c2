"""Tenant input sensor: new tenant folders become partitions, and a tenant whose input files
changed gets exactly one re-index run per distinct fingerprint."""

import json

import dagster as dg

from jobs.indexing import index_tenant_job
from mm_assets.partitions import tenant_partitions
from mm_platform.inputs.tenancy import Layout, tenant_fingerprint


@dg.sensor(job=index_tenant_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def tenant_data_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """Fingerprints every tenant folder under MM_DATA_DIR (paths, sizes, modification times).

    The cursor holds the last fingerprint seen per tenant, so nothing is missed across ticks;
    the run key is (tenant, fingerprint), so the same input never runs twice. Folders whose
    names are not valid tenant ids are logged and skipped.
    """
    layout = Layout.from_env()
    valid, rejected = layout.discover_tenants()
    for name in rejected:
        context.log.warning(f"ignoring folder {name!r}: not a valid tenant id")
    seen = json.loads(context.cursor) if context.cursor else {}
    known = set(context.instance.get_dynamic_partitions(tenant_partitions.name))
    new_tenants = [t for t in valid if t not in known]
    requests, cursor = [], {}
    for tenant in valid:
        fingerprint = tenant_fingerprint(layout.tenant_data(tenant))
        cursor[tenant] = fingerprint
        if seen.get(tenant) != fingerprint:
            trigger = "new-tenant" if tenant not in seen else "data-change"
            requests.append(dg.RunRequest(partition_key=tenant, run_key=f"{tenant}-{fingerprint}",
                                          tags={"mm/tenant": tenant, "mm/trigger": trigger}))
    if not requests and not new_tenants:
        return dg.SkipReason(f"no input changed ({len(valid)} tenants)")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[tenant_partitions.build_add_request(new_tenants)] if new_tenants else [],
        cursor=json.dumps(cursor, sort_keys=True),
    )
