"""The tenant jobs (every modality of one tenant; the CI check job: everything up to the gates,
never a swap) and the nightly re-index schedule, which launches only the modalities each tenant has."""

import dagster as dg

from mm_assets.partitions import tenant_partitions, tenant_run_config
from mm_assets.selection import tenant_asset_keys
from resources import PlatformResource

TENANT_ASSETS = dg.AssetSelection.all() - dg.AssetSelection.groups("models")


def index_tenant_job():
    return dg.define_asset_job(
        "index_tenant", selection=TENANT_ASSETS,
        config=tenant_run_config("index_tenant"),
        description="Validate, embed, index and evaluate every modality of one tenant, then swap each live pointer "
                    "whose gates pass. Launched by the data sensor and the nightly schedule with the tenant's own "
                    "modalities only.")


def ci_checks_job(live_pointer_keys: list[dg.AssetKey]):
    return dg.define_asset_job(
        "ci_checks", selection=TENANT_ASSETS - dg.AssetSelection.assets(*live_pointer_keys),
        config=tenant_run_config("ci_checks"),
        description="Every asset and check up to the evaluation gates; never touches what is live.")


def nightly_schedule(modalities: dict) -> dg.ScheduleDefinition:
    @dg.schedule(job_name="index_tenant", cron_schedule="0 2 * * *", execution_timezone="UTC",
                 default_status=dg.DefaultScheduleStatus.RUNNING, name="nightly_reindex_schedule",
                 description="02:00 UTC: re-index every tenant, each with only the modalities it has; cheap when "
                             "nothing changed (unchanged input short-circuits every step).")
    def nightly_reindex_schedule(context: dg.ScheduleEvaluationContext, platform: PlatformResource):
        layout = platform.layout()
        for tenant in context.instance.get_dynamic_partitions(tenant_partitions.name):
            yield dg.RunRequest(partition_key=tenant, asset_selection=tenant_asset_keys(layout, tenant, modalities),
                                run_key=f"nightly-{tenant}-{context.scheduled_execution_time:%Y-%m-%d}",
                                tags={"mm/tenant": tenant, "mm/trigger": "nightly"})

    return nightly_reindex_schedule


challenger_evaluation_job = dg.define_asset_job(
    "challenger_evaluation",
    selection=dg.AssetSelection.assets(dg.AssetKey(["models", "challenger_evaluation"])),
    description="Evaluate a registered challenger against the champion on every tenant (shadow builds, gates).",
)

promotion_job = dg.define_asset_job(
    "promotion",
    selection=dg.AssetSelection.assets(dg.AssetKey(["models", "champion"])),
    description="Promote the evaluated challenger: move the champion alias and swap passing tenants' shadows.",
)
