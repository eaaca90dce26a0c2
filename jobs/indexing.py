"""The per-tenant indexing job, the CI check job (everything but the swaps) and the nightly
re-index schedule. Both jobs cover every registered modality."""

import dagster as dg

from mm_assets.partitions import tenant_partitions

TENANT_ASSETS = dg.AssetSelection.all() - dg.AssetSelection.groups("models")

index_tenant_job = dg.define_asset_job(
    "index_tenant",
    selection=TENANT_ASSETS,
    description="Validate, embed, index and evaluate every modality of one tenant, then swap each live "
                "pointer whose gates pass.",
)


def ci_checks_job(live_pointer_keys: list[dg.AssetKey]) :
    return dg.define_asset_job(
        "ci_checks",
        selection=TENANT_ASSETS - dg.AssetSelection.assets(*live_pointer_keys),
            description="Every asset and check up to the evaluation gates; never touches what is live.",
    )


@dg.schedule(job=index_tenant_job, cron_schedule="0 2 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING)
def nightly_reindex_schedule(context: dg.ScheduleEvaluationContext):
    """Re-index every tenant nightly; cheap when nothing changed (content-hash cache)."""
    for tenant in context.instance.get_dynamic_partitions(tenant_partitions.name):
        yield dg.RunRequest(partition_key=tenant, run_key=f"nightly-{tenant}-{context.scheduled_execution_time:%Y-%m-%d}",
                            tags={"mm/tenant": tenant, "mm/trigger": "nightly"})


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
