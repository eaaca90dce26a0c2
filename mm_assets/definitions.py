"""The code location: everything Dagster loads, declared in one place."""

import dagster as dg

from jobs import ci_checks_job, index_tenant_job, nightly_reindex_schedule
from mm_platform import settings
from resources import build_resources
from sensors import tenant_discovery_sensor

from .faq import FAQ_ASSETS
from .faq_checks import FAQ_CHECKS

settings.configure_offline()

defs = dg.Definitions(
    assets=FAQ_ASSETS,
    asset_checks=FAQ_CHECKS,
    jobs=[index_tenant_job, ci_checks_job],
    schedules=[nightly_reindex_schedule],
    sensors=[tenant_discovery_sensor],
    resources=build_resources(),
)
