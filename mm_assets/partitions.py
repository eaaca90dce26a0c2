"""Tenants are dynamic partitions, discovered from the folders under MM_DATA_DIR."""

import dagster as dg

from mm_platform.settings import TENANT_PARTITIONS

tenant_partitions = dg.DynamicPartitionsDefinition(name=TENANT_PARTITIONS)


def tenant_run_config(job_name: str) -> dg.PartitionedConfig:
    """Every run of a tenant job carries the tenant's tags, whoever launches it (a sensor and the
    CLI set `mm/trigger` themselves; a launch from the UI is `ui`). Per-tenant limits key on
    `dagster/partition`, which Dagster sets on every partitioned run, asset-graph launches included."""
    return dg.PartitionedConfig(
        partitions_def=tenant_partitions,
        run_config_for_partition_key_fn=lambda key: {},
        tags_for_partition_key_fn=lambda key: {"mm/tenant": key, "mm/trigger": "ui", "mm/job": job_name})


def tenant_check_spec(name: str, **kwargs) -> dg.AssetCheckSpec:
    """A check on a tenant-partitioned asset, partitioned like it: one result per tenant, and the UI
    and GraphQL show the check's partitions (a spec without them reads as unpartitioned)."""
    return dg.AssetCheckSpec(name, partitions_def=tenant_partitions, **kwargs)


def tag_run_with_tenant(context: dg.AssetExecutionContext) -> None:
    """Tag the run with its tenant where its launcher did not: a "Materialize" from the asset graph
    runs the implicit asset job, which has no partitioned config and so none of its tags. Called by
    each pipeline's first step, so the runs list can be filtered by `mm/tenant` whatever launched it."""
    tags = context.run.tags
    if tags.get("mm/tenant") == context.partition_key:
        return
    context.instance.add_run_tags(context.run.run_id, {"mm/tenant": context.partition_key,
                                                       "mm/trigger": tags.get("mm/trigger", "ui")})
