"""Optional per-tenant settings (`tenant.yaml` beside the tenant's data), validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .gates import GateConfig
from .validation import InputFileError

TENANT_FILE = "tenant.yaml"
KNOWN_KEYS = {"gates", "keep_versions"}


@dataclass(frozen=True)
class TenantConfig:
    gates: dict = field(default_factory=dict)
    keep_versions: int | None = None

    def gate_config(self, base: GateConfig) -> GateConfig:
        return base.with_overrides(self.gates)


def load_tenant_config(tenant_dir: Path) -> TenantConfig:
    path = Path(tenant_dir) / TENANT_FILE
    if not path.exists():
        return TenantConfig()
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise InputFileError(path, "expected a mapping at the top level")
    unknown = sorted(set(data) - KNOWN_KEYS)
    if unknown:
        raise InputFileError(path, f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_KEYS))}")
    gates = data.get("gates") or {}
    if not isinstance(gates, dict):
        raise InputFileError(path, "'gates' must be a mapping")
    try:
        GateConfig().with_overrides(gates)
    except (ValueError, TypeError) as exc:
        raise InputFileError(path, f"gates: {exc}") from exc
    keep = data.get("keep_versions")
    if keep is not None and (not isinstance(keep, int) or keep < 2):
        raise InputFileError(path, "'keep_versions' must be an integer >= 2 (the live version and one to roll back to)")
    return TenantConfig(gates=gates, keep_versions=keep)
