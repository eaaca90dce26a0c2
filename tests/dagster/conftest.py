"""Materialize the real asset graph (real encoders, real Faiss) on an ephemeral instance."""

import dagster as dg
import pytest

from mm_assets.definitions import MODALITY_ASSETS
from mm_assets.partitions import tenant_partitions
from resources import ModelsResource, PlatformResource, QualityResource

ALL_DEFINITIONS = [a for m in MODALITY_ASSETS for a in m.assets] + [c for m in MODALITY_ASSETS for c in m.checks]


class TenantRunner:
    """Runs the FAQ graph for one tenant partition against a given layout and encoder."""

    def __init__(self, layout):
        self.layout = layout
        self.instance = dg.DagsterInstance.ephemeral()

    def resources(self, encoder: str, **quality) -> dict:
        return {
            "platform": PlatformResource(data_dir=str(self.layout.data_dir), storage_dir=str(self.layout.storage_dir)),
            "models": ModelsResource(text_encoder=encoder),
            "quality": QualityResource(**quality),
            "io_manager": dg.FilesystemIOManager(base_dir=str(self.layout.storage_dir / ".dagster_io")),
        }

    def run(self, tenant: str, encoder: str = "use-multilingual-v3", **quality) -> dg.ExecuteInProcessResult:
        if tenant not in self.instance.get_dynamic_partitions(tenant_partitions.name):
            self.instance.add_dynamic_partitions(tenant_partitions.name, [tenant])
        return dg.materialize(ALL_DEFINITIONS, instance=self.instance, partition_key=tenant,
                              resources=self.resources(encoder, **quality), raise_on_error=False)


def checks(result, modality: str = "faq") -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations() if e.asset_key.path[0] == modality}


def materialized(result, modality: str = "faq") -> set[str]:
    return {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()
            if m.asset_key.path[0] == modality}


def metadata(result, key: str) -> dict:
    (event,) = [m for m in result.get_asset_materialization_events() if m.asset_key.to_user_string() == key]
    return {k: v.value for k, v in event.materialization.metadata.items()}


@pytest.fixture
def runner(layout) -> TenantRunner:
    return TenantRunner(layout)
