"""`champion` / `challenger` aliases, global and per tenant: atomic, locked, audited moves, and which
version served a tenant at a given time."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from pathlib import Path
from typing import Iterator

from mm_platform.atomic import append_jsonl, atomic_write_json, read_jsonl
from mm_platform.registry.common import (
    ALIASES_FILE,
    AUDIT_FILE,
    ModelVersion,
    RegistryError,
    _parse_time,
    _validate_alias,
    _validate_family,
    _validate_tenant,
    now_iso,
)


class AliasesMixin:
    """Alias moves of a registry (`VersionStore` gives the versions they point at)."""

    # -- aliases --

    def _alias_file(self, family: str, tenant: str | None) -> Path:
        base = self.family_dir(family)
        return base / "tenants" / tenant / ALIASES_FILE if tenant else base / ALIASES_FILE

    def aliases(self, family: str, tenant: str | None = None) -> dict:
        """The alias file of the family (tenant=None) or of one tenant's overrides."""
        path = self._alias_file(family, _validate_tenant(tenant))
        return json.loads(path.read_text("utf-8")) if path.is_file() else {}

    @contextlib.contextmanager
    def _locked(self, family: str) -> Iterator[None]:
        import fcntl

        lock = self.family_dir(family) / ".lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _move(self, family: str, alias: str, to: str | None, run_id: str, tenant: str | None,
              metrics: dict | None, reason: str, forced: bool) -> dict | None:
        _validate_family(family)
        _validate_alias(alias)
        tenant = _validate_tenant(tenant)
        if to is not None:
            mv = self.get(to)
            if mv.family != family:
                raise RegistryError(f"version {to} is a {mv.family} model, not {family}")
        with self._locked(family):
            path = self._alias_file(family, tenant)
            current = json.loads(path.read_text("utf-8")) if path.is_file() else {}
            before = current.get(alias)
            if before == to:
                return None
            updated = {k: v for k, v in current.items() if k != alias}
            if to is not None:
                updated[alias] = to
            atomic_write_json(path, updated)
            entry = {"time": now_iso(), "run_id": run_id, "family": family, "alias": alias, "tenant": tenant,
                     "from": before, "to": to, "metrics": dict(metrics or {}), "reason": reason, "forced": bool(forced)}
            append_jsonl(self.family_dir(family) / AUDIT_FILE, entry)
        return entry

    def set_alias(self, family: str, alias: str, version: str | ModelVersion, *, run_id: str,
                  tenant: str | None = None, metrics: dict | None = None, reason: str = "",
                  forced: bool = False) -> dict | None:
        """Point `alias` (globally or for one tenant) at `version`; atomic, audited. Returns the
        audit entry, or None when the alias already points there."""
        vid = version.version_id if isinstance(version, ModelVersion) else version
        return self._move(family, alias, vid, run_id, tenant, metrics, reason, forced)

    def clear_alias(self, family: str, alias: str, *, run_id: str, tenant: str | None = None,
                    reason: str = "", forced: bool = False) -> dict | None:
        """Remove an alias (a tenant override then falls back to the global alias)."""
        return self._move(family, alias, None, run_id, tenant, None, reason, forced)

    def resolve(self, family: str, alias: str = "champion", tenant: str | None = None) -> str:
        """The version `alias` names for `tenant` (its override first, then the global alias)."""
        _validate_alias(alias)
        if tenant is not None:
            override = self.aliases(family, tenant).get(alias)
            if override:
                return override
        version = self.aliases(family).get(alias)
        if not version:
            raise LookupError(f"no {alias} set for {family}" + (f" (tenant {tenant})" if tenant else ""))
        return version

    def history(self, family: str) -> list[dict]:
        return read_jsonl(self.family_dir(family) / AUDIT_FILE)

    def served_at(self, family: str, tenant: str | None, when: datetime | str, alias: str = "champion") -> str | None:
        """Which version `alias` resolved to for `tenant` at time `when` (naive = UTC), replayed
        from the audit log; None when nothing was set yet."""
        _validate_alias(alias)
        when = _parse_time(when)
        global_version, tenant_version = None, None
        for entry in self.history(family):
            if entry.get("alias") != alias or _parse_time(entry["time"]) > when:
                continue
            if entry.get("tenant") is None:
                global_version = entry.get("to")
            elif entry.get("tenant") == tenant:
                tenant_version = entry.get("to")
        return tenant_version or global_version

