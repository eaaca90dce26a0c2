"""Tenant input sensor: new tenant folders become partitions, and a tenant whose input files
changed gets exactly one re-index run per distinct fingerprint, of the modalities it has."""

import json

import dagster as dg

from mm_assets.partitions import tenant_partitions
from mm_assets.selection import tenant_asset_keys, tenant_modalities
from mm_platform.inputs.tenancy import tenant_fingerprint
from mm_platform.pipeline.inputs import VALIDATION_SCHEMA
from resources import PlatformResource


def last_built_fingerprint(instance: dg.DagsterInstance, tenant: str, modality_names: list[str]) -> str | None:
    """The input fingerprint the tenant's last validated datasets were built from (None: never built)."""
    for name in modality_names:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey([name, "validated_dataset"]), asset_partitions=[tenant]),
            limit=1).records
        if records:
            value = records[0].asset_materialization.metadata.get("input_fingerprint")
            if value is not None and value.value:
                return str(value.value)
    return None


def tenant_data_sensor(modalities: dict) -> dg.SensorDefinition:
    @dg.sensor(job_name="index_tenant", minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
               name="tenant_data_sensor",
               description="Watches MM_DATA_DIR: a new tenant folder becomes a partition; a tenant whose input files "
                           "changed (paths, sizes, modification times) gets one run of the modalities it has. The "
                           "first tick launches nothing for a tenant already built from the same input.")
    def sensor(context: dg.SensorEvaluationContext, platform: PlatformResource) -> dg.SensorResult | dg.SkipReason:
        """The cursor holds the last fingerprint seen per tenant, so nothing is missed across ticks;
        the run key is (tenant, fingerprint), so the same input never runs twice. Folders whose
        names are not valid tenant ids are logged and skipped."""
        layout = platform.layout()
        valid, rejected = layout.discover_tenants()
        for name in rejected:
            context.log.warning(f"ignoring folder {name!r}: not a valid tenant id")
        seen = json.loads(context.cursor) if context.cursor else None
        known = set(context.instance.get_dynamic_partitions(tenant_partitions.name))
        new_tenants = [t for t in valid if t not in known]
        requests, cursor, skipped = [], {}, []
        for tenant in valid:
            fingerprint = tenant_fingerprint(layout.tenant_data(tenant))
            cursor[tenant] = fingerprint
            if seen is None:  # first tick: what the last run of this tenant was built from
                built = last_built_fingerprint(context.instance, tenant, tenant_modalities(layout, tenant, modalities))
                if built == f"v{VALIDATION_SCHEMA}-{fingerprint}":
                    skipped.append(tenant)
                    continue
            elif seen.get(tenant) == fingerprint:
                continue
            trigger = "new-tenant" if tenant not in (seen or {}) and tenant in new_tenants else "data-change"
            requests.append(dg.RunRequest(partition_key=tenant, run_key=f"{tenant}-{fingerprint}",
                                          asset_selection=tenant_asset_keys(layout, tenant, modalities),
                                          tags={"mm/tenant": tenant, "mm/trigger": trigger}))
        if skipped:
            context.log.info(f"already built from their current input: {', '.join(skipped)}")
        if not requests and not new_tenants:
            return dg.SensorResult(skip_reason=f"no input changed ({len(valid)} tenants)",
                                   cursor=json.dumps(cursor, sort_keys=True))
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[tenant_partitions.build_add_request(new_tenants)] if new_tenants else [],
            cursor=json.dumps(cursor, sort_keys=True),
        )

    return sensor
