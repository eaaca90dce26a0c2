"""What runs per tenant: the tenant jobs, the nightly schedule, the data and failure sensors."""

import dagster as dg

from jobs.indexing import ci_checks_job, index_tenant_job, nightly_schedule
from sensors import tenant_data_sensor, tenant_run_failure_sensor


def tenant_definitions(modalities: dict) -> dg.Definitions:
    live_keys = [dg.AssetKey([name, "live_index"]) for name in modalities]
    return dg.Definitions(jobs=[index_tenant_job(), ci_checks_job(live_keys)],
                          schedules=[nightly_schedule(modalities)],
                          sensors=[tenant_data_sensor(modalities), tenant_run_failure_sensor])
