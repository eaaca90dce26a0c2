"""ConfigurableResources for storage locations, the text encoder and the evaluation gates."""


from pathlib import Path

import dagster as dg

from mm_platform import settings
from mm_platform.encoders.base import TextEncoder
from mm_platform.encoders.text import load_text_encoder
from mm_platform.gates import GateConfig
from mm_platform.tenancy import Layout


class PlatformResource(dg.ConfigurableResource):
    """Where tenant input is read from and where every tenant-scoped artifact is written."""

    data_dir: str = settings.DEFAULT_DATA_DIR
    storage_dir: str = settings.DEFAULT_STORAGE_DIR

    def layout(self) -> Layout:
        return Layout(Path(self.data_dir).absolute(), Path(self.storage_dir).absolute())


class TextEncoderResource(dg.ConfigurableResource):
    """Which registered text encoder embeds new content (loaded once per process)."""

    encoder: str = settings.DEFAULT_TEXT_ENCODER
    model_path: str = ""
    threads: int = 0

    def load(self) -> TextEncoder:
        settings.configure_offline()
        return load_text_encoder(self.encoder, model_path=self.model_path or None, threads=self.threads or None)


class QualityResource(dg.ConfigurableResource):
    """Data-quality bounds and global gate thresholds (a tenant's `tenant.yaml` may override them) and index options."""

    min_f1: float = 0.9
    min_recall_at_1: float = 0.85
    max_latency_p95_ms: float = 500.0
    max_error_rate: float = 0.001
    max_regression: float = 0.02
    max_quarantine_rate: float = 0.2
    required_languages: list[str] = ["zh", "en", "ja"]
    index_type: str = "flat"

    def gate_config(self) -> GateConfig:
        return GateConfig(min_f1=self.min_f1, min_recall_at_1=self.min_recall_at_1,
                          max_latency_p95_ms=self.max_latency_p95_ms, max_error_rate=self.max_error_rate,
                          max_regression=self.max_regression)
