"""Materialize the real asset graph (real encoders, real Faiss) on an ephemeral instance."""

import dagster as dg
import pytest

from mm_assets.definitions import MODALITY_DEFINITIONS
from mm_assets.partitions import tenant_partitions
from resources import ModelsResource, PlatformResource, QualityResource

ALL_DEFINITIONS = [a for d in MODALITY_DEFINITIONS.values() for a in (*(d.assets or ()), *(d.asset_checks or ()))]


#: hand-written tenants have two queries per cell, far too few for the gates' statistics (they are
#: `underpowered`, and an interval over two queries is [0, 1]): tests of the graph's mechanics lift
#: the sample-size and quality bounds; the realistic demo tenants run with the defaults
TINY_SAMPLE_GATES = {"min_n": 1, "min_f1": 0.0, "min_recall_at_1": 0.0}


class TenantRunner:
    """Runs the FAQ graph for one tenant partition against a given layout and encoder."""

    def __init__(self, layout):
        self.layout = layout
        self.instance = dg.DagsterInstance.ephemeral()
        self.quality_defaults: dict = {}

    def resources(self, encoder: str, ensemble: bool, **quality) -> dict:
        return {
            "platform": PlatformResource(data_dir=str(self.layout.data_dir), storage_dir=str(self.layout.storage_dir)),
            "models": ModelsResource(text_encoder=encoder, text2_encoder="multilingual-e5-small" if ensemble else "none"),
            "quality": QualityResource(**{**self.quality_defaults, **quality}),
            "io_manager": dg.FilesystemIOManager(base_dir=str(self.layout.storage_dir / ".dagster_io")),
        }

    def run(self, tenant: str, encoder: str = "use-multilingual-v3", ensemble: bool = False,
            **quality) -> dg.ExecuteInProcessResult:
        """`ensemble`: add the second text encoder (what `make demo` runs); off by default, it
        costs seconds per test and the graph's mechanics do not depend on it."""
        if tenant not in self.instance.get_dynamic_partitions(tenant_partitions.name):
            self.instance.add_dynamic_partitions(tenant_partitions.name, [tenant])
        return dg.materialize(ALL_DEFINITIONS, instance=self.instance, partition_key=tenant,
                              resources=self.resources(encoder, ensemble, **quality), raise_on_error=False)


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


@pytest.fixture
def tiny_tenant(layout, runner) -> str:
    """The hand-written six-row tenant, run with the sample-size bounds lifted."""
    from tests.conftest import TINY_EVAL, TINY_FAQ, write_json

    write_json(layout.tenant_data("acme") / "faq.json", TINY_FAQ)
    write_json(layout.tenant_data("acme") / "eval_queries.json", TINY_EVAL)
    runner.quality_defaults = dict(TINY_SAMPLE_GATES)
    return "acme"
