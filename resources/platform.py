"""ConfigurableResources: storage locations, model choices by role, quality gates, the model
registry and the Prometheus push (assets and sensors use the same ones)."""

from dataclasses import fields
from pathlib import Path

import dagster as dg

from mm_platform import settings
from mm_platform.encoders.models import ModelSet
from mm_platform.evaluation.gates import GateConfig
from mm_platform.evaluation.measure import DEFAULT_LATENCY_SAMPLES
from mm_platform.inputs.tenancy import Layout
from mm_platform.pipeline import EvaluationSettings, tenant_models
from mm_platform.retrieval.selection import SelectionSettings


class PlatformResource(dg.ConfigurableResource):
    """Where tenant input is read from and where every tenant-scoped artifact is written."""

    data_dir: str = settings.DEFAULT_DATA_DIR
    storage_dir: str = settings.DEFAULT_STORAGE_DIR

    def layout(self) -> Layout:
        return Layout(Path(self.data_dir).absolute(), Path(self.storage_dir).absolute())


class ModelsResource(dg.ConfigurableResource):
    """The platform's model per role (a tenant's `tenant.yaml` may choose others); each backend
    is a registered plugin, loaded once per process from a local path. `text_encoder: champion`
    (the default) takes the model registry's text-encoder champion for the tenant, seeding the
    registry with the bundled models on first use."""

    text_encoder: str = settings.DEFAULT_TEXT_ENCODER
    text_model_path: str = ""
    #: second encoder of FAQ retrieval ensembles ("none": no ensemble)
    text2_encoder: str = "multilingual-e5-small"
    image_encoder: str = "visual-descriptor"
    image_model_path: str = ""
    asr_backend: str = "faster-whisper"
    asr_model_path: str = ""

    def defaults(self) -> dict:
        from mm_platform.encoders.models import safe_model_path

        def choice(name: str, path: str) -> dict:
            # a folder named by an operator gets the registry's safety checks, like tenant.yaml's
            return {"name": name, **({"model_path": safe_model_path(path, name)} if path else {})}

        return {"text": choice(self.text_encoder, self.text_model_path),
                "text2": choice(self.text2_encoder, ""),
                "image": choice(self.image_encoder, self.image_model_path),
                "asr": choice(self.asr_backend, self.asr_model_path)}

    def for_tenant(self, layout: Layout, tenant: str, max_query_cpu_ms: float | None = None) -> ModelSet:
        settings.configure_offline()
        defaults = self.defaults()
        if self.text_encoder == "champion":
            defaults["text"] = champion_spec(layout, "text_encoder", tenant)
        return tenant_models(layout, tenant, defaults, max_query_cpu_ms)


def champion_spec(layout: Layout, family: str, tenant: str) -> dict:
    """The registry champion of a family for a tenant (the registry is seeded on first use)."""
    from mm_platform.registry import ModelRegistry, seed_bundled

    registry = ModelRegistry(layout.storage_dir)
    try:
        version = registry.resolve(family, "champion", tenant)
    except LookupError:
        seed_bundled(registry)
        version = registry.resolve(family, "champion", tenant)
    return registry.spec_for(version)


class QualityResource(dg.ConfigurableResource):
    """Data-quality bounds and global gate thresholds (a tenant's `tenant.yaml` may override
    them, per modality too) and index options."""

    min_f1: float = GateConfig.min_f1
    min_recall_at_1: float = GateConfig.min_recall_at_1
    max_latency_p95_ms: float = GateConfig.max_latency_p95_ms
    max_latency_ratio: float = GateConfig.max_latency_ratio
    max_error_rate: float = GateConfig.max_error_rate
    max_wer: float = GateConfig.max_wer
    max_cer: float = GateConfig.max_cer
    min_n: int = GateConfig.min_n
    max_quarantine_rate: float = 0.2
    required_languages: list[str] = ["zh", "en", "ja"]
    index_type: str = "flat"
    #: single-query timings per evaluation cell set (cycling the queries)
    latency_samples: int = DEFAULT_LATENCY_SAMPLES
    #: retrieval strategy selection (tenant.yaml `retrieval:` overrides per tenant)
    folds: int = SelectionSettings.folds
    max_query_cpu_ms: float = SelectionSettings.max_query_cpu_ms
    switch_margin: float = SelectionSettings.switch_margin

    def gate_config(self) -> GateConfig:
        return GateConfig(**{f.name: getattr(self, f.name) for f in fields(GateConfig) if hasattr(self, f.name)})

    def evaluation_settings(self) -> EvaluationSettings:
        return EvaluationSettings(latency_samples=self.latency_samples, selection=SelectionSettings(
            folds=self.folds, max_query_cpu_ms=self.max_query_cpu_ms, switch_margin=self.switch_margin,
            min_report_n=self.min_n))


class RegistryResource(dg.ConfigurableResource):
    """The model registry under `<storage_dir>/_registry` (what the model assets and sensors use)."""

    storage_dir: str = settings.DEFAULT_STORAGE_DIR

    def registry(self):
        from mm_platform.registry import ModelRegistry

        return ModelRegistry(Path(self.storage_dir).absolute())


class PushgatewayResource(dg.ConfigurableResource):
    """Where run and evaluation metrics are pushed for Prometheus ('' : nowhere, every push a no-op)."""

    url: str = ""

    def push_evaluation(self, report: dict) -> bool:
        from mm_platform.observability import push_evaluation_metrics

        return push_evaluation_metrics(report, self.url)

    def push_run_outcome(self, tenant: str, modality: str | None, success: bool) -> bool:
        from mm_platform.observability import push_run_outcome

        return push_run_outcome(tenant, modality, success, self.url)

