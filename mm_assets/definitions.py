"""The code location: everything Dagster loads, declared in one place. The asset graph is built
from the registered modality plugins."""

import dagster as dg

from jobs import challenger_evaluation_job, ci_checks_job, index_tenant_job, nightly_reindex_schedule, promotion_job
from jobs.k8s import executor
from mm_assets.factory import build_all, build_joint_evaluation
from mm_assets.models import MODEL_ASSETS, MODEL_CHECKS
from mm_platform import settings
from mm_platform.modalities.registry import registered_modalities
from resources import build_resources
from sensors import promotion_sensor, registry_inbox_sensor, tenant_data_sensor, tenant_run_failure_sensor

settings.configure_offline()

MODALITY_ASSETS = build_all(registered_modalities())
JOINT_EVALUATION, JOINT_CHECK = build_joint_evaluation(MODALITY_ASSETS)

defs = dg.Definitions(
    assets=[a for m in MODALITY_ASSETS for a in m.assets] + [JOINT_EVALUATION] + MODEL_ASSETS,
    asset_checks=[c for m in MODALITY_ASSETS for c in m.checks] + [JOINT_CHECK] + MODEL_CHECKS,
    jobs=[index_tenant_job, ci_checks_job([m.live_index for m in MODALITY_ASSETS]), challenger_evaluation_job,
          promotion_job],
    schedules=[nightly_reindex_schedule],
    sensors=[tenant_data_sensor, tenant_run_failure_sensor, registry_inbox_sensor, promotion_sensor],
    resources=build_resources(),
    executor=executor(),
)
