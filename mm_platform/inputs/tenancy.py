"""Tenant ids and tenant-scoped paths: isolation by construction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mm_platform import settings

TENANT_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,62}$")


class TenantError(ValueError):
    """An invalid tenant id or a path escaping its tenant's folder."""


def validate_tenant_id(tenant: str) -> str:
    if not isinstance(tenant, str) or not TENANT_ID_PATTERN.fullmatch(tenant):
        raise TenantError(
            f"invalid tenant id {tenant!r}: must match {TENANT_ID_PATTERN.pattern} "
            "(lower-case letter first, then 1-62 lower-case letters, digits or underscores)"
        )
    return tenant


def confine(path: Path, root: Path) -> Path:
    """Resolve `path` (following links) and insist it lies inside `root`."""
    root_resolved = Path(root).resolve()
    resolved = Path(path).resolve()
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise TenantError(f"path {path} resolves to {resolved}, outside {root_resolved}")
    return resolved


@dataclass(frozen=True)
class Layout:
    """Where tenant input lives and where every tenant-scoped artifact goes."""

    data_dir: Path
    storage_dir: Path

    @classmethod
    def from_env(cls) -> "Layout":
        return cls(settings.data_dir(), settings.storage_dir())

    def tenant_data(self, tenant: str) -> Path:
        """The tenant's input folder; one that is a link leading outside the data folder is refused
        (it would read another tenant's, or any, files as this tenant's)."""
        path = Path(self.data_dir) / validate_tenant_id(tenant)
        if path.is_symlink() or path.exists():
            try:
                confine(path, self.data_dir)
            except TenantError:
                raise TenantError(f"tenant folder {path} resolves to {path.resolve()}, outside the data folder "
                                  f"{Path(self.data_dir).resolve()} (MM_DATA_DIR): refused") from None
        return path

    def tenant_storage(self, tenant: str) -> Path:
        return Path(self.storage_dir) / validate_tenant_id(tenant)

    def artifact(self, tenant: str, *parts: str) -> Path:
        """A path under the tenant's storage folder; parts may not climb out of it."""
        root = self.tenant_storage(tenant)
        path = root.joinpath(*parts)
        if ".." in Path(*parts).parts or Path(*parts).is_absolute():
            raise TenantError(f"artifact path {parts} escapes tenant {tenant}")
        return path

    def quarantine_dir(self, tenant: str) -> Path:
        return self.artifact(tenant, "quarantine")

    def modality_dir(self, tenant: str, kind: str, modality: str) -> Path:
        return self.artifact(tenant, kind, modality)

    def discover_tenants(self) -> tuple[list[str], list[str]]:
        """(valid tenant ids, rejected folder names) found under the data folder."""
        valid, rejected = [], []
        if not Path(self.data_dir).is_dir():
            return valid, rejected
        for entry in sorted(Path(self.data_dir).iterdir()):
            if not entry.is_dir() or entry.name.startswith("."):
                continue
            (valid if TENANT_ID_PATTERN.fullmatch(entry.name) else rejected).append(entry.name)
        return valid, rejected


def tenant_fingerprint(tenant_dir: Path) -> str:
    """A cheap fingerprint of everything in a tenant's input folder (relative paths, sizes and
    modification times), so a change to any input file, media included, is noticed."""
    import hashlib
    import os

    digest = hashlib.sha256()
    root = Path(tenant_dir)
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            stat = path.stat()
            digest.update(f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]
