"""The per-tenant indexing job, the CI check job (everything but the swap) and the nightly
re-index schedule."""


import dagster as dg

from mm_assets.faq import GROUP, LIVE_INDEX
from mm_assets.partitions import tenant_partitions

FAQ_SELECTION = dg.AssetSelection.groups(GROUP)

index_tenant_job = dg.define_asset_job(
    "index_tenant",
    selection=FAQ_SELECTION,
    partitions_def=tenant_partitions,
    description="Validate, embed, index and evaluate one tenant, then swap its live pointer if the gates pass.",
)

ci_checks_job = dg.define_asset_job(
    "ci_checks",
    selection=FAQ_SELECTION - dg.AssetSelection.assets(LIVE_INDEX),
    partitions_def=tenant_partitions,
    description="Every asset and check up to the evaluation gates; never touches what is live.",
)


@dg.schedule(job=index_tenant_job, cron_schedule="0 2 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING)
def nightly_reindex_schedule(context: dg.ScheduleEvaluationContext):
    """Re-index every tenant nightly; cheap when nothing changed (content-hash cache)."""
    for tenant in context.instance.get_dynamic_partitions(tenant_partitions.name):
        yield dg.RunRequest(partition_key=tenant, run_key=f"nightly-{tenant}-{context.scheduled_execution_time:%Y-%m-%d}",
                            tags={"mm/tenant": tenant, "mm/trigger": "nightly"})
