"""Discover tenants from their folders: new ones become partitions and get a first run."""


import dagster as dg

from jobs.indexing import index_tenant_job
from mm_assets.partitions import tenant_partitions
from mm_platform.tenancy import Layout


@dg.sensor(job=index_tenant_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def tenant_discovery_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """Adds a `tenants` partition for every new valid folder under MM_DATA_DIR and requests its
    first indexing run; folder names that are not valid tenant ids are logged and skipped."""
    valid, rejected = Layout.from_env().discover_tenants()
    for name in rejected:
        context.log.warning(f"ignoring folder {name!r}: not a valid tenant id")
    known = set(context.instance.get_dynamic_partitions(tenant_partitions.name))
    new = [t for t in valid if t not in known]
    if not new:
        return dg.SkipReason(f"no new tenants ({len(known)} known)")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=t, run_key=f"discovered-{t}", tags={"mm/tenant": t, "mm/trigger": "discovery"})
                      for t in new],
        dynamic_partitions_requests=[tenant_partitions.build_add_request(new)],
    )
