"""What every part of the model registry shares: its layout, families, aliases, errors and versions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REGISTRY_DIR = "_registry"
MANIFEST_FILE = "manifest.json"
BACKEND_FILE = "backend.json"
ALIASES_FILE = "aliases.json"
AUDIT_FILE = "audit.jsonl"
READY_FILE = "READY"
REJECTED_FILE = "REJECTED.txt"
#: files of an inbox drop that describe it rather than belong to the model
INBOX_META_FILES = {READY_FILE, MANIFEST_FILE, REJECTED_FILE}

FAMILY_BACKENDS: dict[str, tuple[str, ...]] = {
    "text_encoder": ("use-multilingual-v3", "sentence-transformers", "sentence-transformers-onnx-int8"),
    "asr": ("faster-whisper", "transformers-whisper"),
    "vision_encoder": ("clip", "visual-descriptor"),
    "llm": ("transformers-causal-lm",),
}
FAMILIES = tuple(FAMILY_BACKENDS)
#: family -> role understood by mm_platform.encoders.models.load_model (llm has no role there yet)
ROLES = {"text_encoder": "text", "asr": "asr", "vision_encoder": "image"}
ALIASES = ("champion", "challenger")

PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".dill", ".mar", ".h5"}
CODE_SUFFIXES = {".py", ".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib", ".sh", ".ipynb"}
TRANSFORMERS_BACKENDS = {"transformers-whisper", "clip", "transformers-causal-lm"}
_VERSION_RE = re.compile(r"^[a-z_]+-[a-z0-9.-]+-[0-9a-f]{10}$")


class RegistryError(ValueError):
    """A registration or alias request the registry refuses."""


class UnsafeModelError(RegistryError):
    """A model folder holds something that could execute code when loaded."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _parse_time(value: str | datetime) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)



@dataclass(frozen=True)
class ModelVersion:
    version_id: str
    family: str
    backend: str
    path: Path
    manifest: dict = field(compare=False, repr=False)
    #: True when register() found this exact content already registered
    existing: bool = field(default=False, compare=False)

    @property
    def reference(self) -> dict | None:
        return self.manifest.get("reference")

    @property
    def quantization(self) -> dict | None:
        return self.manifest.get("quantization")


def _validate_family(family: str) -> str:
    if family not in FAMILY_BACKENDS:
        raise RegistryError(f"unknown model family {family!r}; expected one of {', '.join(FAMILIES)}")
    return family


def _validate_backend(family: str, backend: str) -> str:
    if backend not in FAMILY_BACKENDS[_validate_family(family)]:
        raise RegistryError(f"unknown {family} backend {backend!r}; expected one of {', '.join(FAMILY_BACKENDS[family])}")
    return backend


def _validate_alias(alias: str) -> str:
    if alias not in ALIASES:
        raise RegistryError(f"unknown alias {alias!r}; expected one of {', '.join(ALIASES)}")
    return alias


def _validate_tenant(tenant: str | None) -> str | None:
    if tenant is None:
        return None
    from mm_platform.inputs.tenancy import validate_tenant_id

    try:
        return validate_tenant_id(tenant)
    except ValueError as exc:
        raise RegistryError(str(exc)) from None

