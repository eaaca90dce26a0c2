"""Environment-driven locations of the embedded default (one place, read once per call)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATA_DIR = "data/tenants"
#: the Dagster dynamic partitions that hold one key per tenant (the wiring and the CLI's events)
TENANT_PARTITIONS = "tenants"
DEFAULT_STORAGE_DIR = "storage"
#: "champion": the model registry's text-encoder champion (per tenant); or a backend name
DEFAULT_TEXT_ENCODER = "champion"


def data_dir() -> Path:
    """Root of tenant input folders (`MM_DATA_DIR`, default `data/tenants`)."""
    return Path(os.environ.get("MM_DATA_DIR", DEFAULT_DATA_DIR)).absolute()


def storage_dir() -> Path:
    """Root of every artifact the platform writes (`MM_STORAGE_DIR`, default `storage/`)."""
    return Path(os.environ.get("MM_STORAGE_DIR", DEFAULT_STORAGE_DIR)).absolute()


def text_encoder_name() -> str:
    """Text encoder used when nothing else is configured (`MM_TEXT_ENCODER`)."""
    return os.environ.get("MM_TEXT_ENCODER", DEFAULT_TEXT_ENCODER)


def text_model_path() -> str:
    """Local model folder for path-based text encoders (`MM_TEXT_MODEL_PATH`, empty: bundled)."""
    return os.environ.get("MM_TEXT_MODEL_PATH", "")


def configure_offline() -> None:
    """No hub access at run time: every model loads from a local path."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
