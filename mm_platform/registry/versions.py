"""Immutable model versions of the registry: registration (checked, content-addressed), lookup,
and loading through the platform's own loaders."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

from mm_platform.atomic import publish_dir
from mm_platform.encoders.base import directory_size
from mm_platform.registry.common import (
    _VERSION_RE,
    BACKEND_FILE,
    MANIFEST_FILE,
    REGISTRY_DIR,
    ROLES,
    ModelVersion,
    RegistryError,
    _validate_backend,
    _validate_family,
    now_iso,
)
from mm_platform.registry.facts import _content_fingerprint, count_parameters, resolve_reference
from mm_platform.registry.safety import check_model_folder, model_files


class VersionStore:
    """The versions part of the registry under `<root>/_registry` (root: the storage folder)."""

    def __init__(self, root: str | os.PathLike | None = None):
        if root is None:
            from mm_platform.settings import storage_dir

            root = storage_dir()
        self.storage_root = Path(root)
        self.root = self.storage_root / REGISTRY_DIR

    # -- versions --

    def family_dir(self, family: str) -> Path:
        return self.root / _validate_family(family)

    def version_dir(self, version_id: str) -> Path:
        return self.family_dir(self._family_of(version_id)) / "versions" / version_id

    @staticmethod
    def _family_of(version_id: str) -> str:
        if not isinstance(version_id, str) or not _VERSION_RE.fullmatch(version_id):
            raise RegistryError(f"malformed model version id {version_id!r}")
        return _validate_family(version_id.split("-", 1)[0])

    def get(self, version: str | ModelVersion) -> ModelVersion:
        if isinstance(version, ModelVersion):
            return version
        folder = self.version_dir(version)
        manifest_path = folder / MANIFEST_FILE
        if not manifest_path.is_file():
            raise LookupError(f"model version {version} is not registered")
        manifest = json.loads(manifest_path.read_text("utf-8"))
        return ModelVersion(version, manifest["family"], manifest["backend"], folder, manifest)

    def exists(self, version_id: str) -> bool:
        try:
            return (self.version_dir(version_id) / MANIFEST_FILE).is_file()
        except RegistryError:
            return False

    def versions(self, family: str) -> list[ModelVersion]:
        folder = self.family_dir(family) / "versions"
        if not folder.is_dir():
            return []
        found = [self.get(p.name) for p in sorted(folder.iterdir())
                 if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST_FILE).is_file()]
        return sorted(found, key=lambda v: v.manifest.get("created_at", ""))

    def register(
        self,
        family: str,
        backend: str,
        path: str | os.PathLike | None = None,
        *,
        reference: dict | None = None,
        source: str | None = None,
        languages: Sequence[str] | None = None,
        parameter_count: int | None = None,
        quantization: dict | None = None,
        load_args: dict | None = None,
        exclude: set[str] | frozenset = frozenset(),
    ) -> ModelVersion:
        """Register a model folder (copied in) or a `reference` to a model shipped inside a pip
        package (see `package_reference`); the same content again returns the existing version."""
        _validate_backend(family, backend)
        if (path is None) == (reference is None):
            raise RegistryError("register needs exactly one of a model folder `path` or a `reference`")
        if quantization is not None:
            if not isinstance(quantization, dict) or not {"method", "bits"} <= set(quantization):
                raise RegistryError("quantization must be null or {'method', 'bits', 'from_version'}")
            quantization = {"method": quantization["method"], "bits": quantization["bits"],
                            "from_version": quantization.get("from_version"),
                            **{k: v for k, v in quantization.items() if k not in ("method", "bits", "from_version")}}
            if quantization["from_version"] and not self.exists(quantization["from_version"]):
                raise RegistryError(f"quantization.from_version {quantization['from_version']} is not registered")
        load_args = dict(load_args or {})

        if path is not None:
            folder = Path(path)
            if not folder.is_dir():
                raise RegistryError(f"no model folder at {folder}")
            files = model_files(folder, exclude)
            if not files:
                raise RegistryError(f"model folder {folder} is empty")
            check_model_folder(folder, backend, files)
            fingerprint = _content_fingerprint(folder, files)
            size = sum((folder / f).stat().st_size for f in files)
            params = parameter_count if parameter_count is not None else count_parameters(folder, files)
        else:
            reference = dict(reference)
            located = resolve_reference(reference)
            ref_key = {k: reference.get(k) for k in ("package", "package_version", "module", "subpath", "code_version")}
            fingerprint = hashlib.sha256(json.dumps(ref_key, sort_keys=True).encode()).hexdigest()[:16]
            size = directory_size(located) if located is not None and located.is_dir() else 0
            params = parameter_count if parameter_count is not None else (
                count_parameters(located) if located is not None and located.is_dir() else None)
            files = []

        key = json.dumps({"family": family, "backend": backend, "fingerprint": fingerprint, "load_args": load_args},
                         sort_keys=True)
        version_id = f"{family}-{backend}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
        final = self.family_dir(family) / "versions" / version_id
        if (final / MANIFEST_FILE).is_file():
            existing = self.get(version_id)
            return ModelVersion(existing.version_id, existing.family, existing.backend, existing.path,
                                existing.manifest, existing=True)

        manifest = {
            "version_id": version_id,
            "family": family,
            "backend": backend,
            "source": source or (str(Path(path).resolve()) if path is not None else f"pip:{reference.get('package')}"),
            "languages": list(languages) if languages else None,
            "parameter_count": params,
            "size_bytes": size,
            "created_at": now_iso(),
            "fingerprint": fingerprint,
            "quantization": quantization,
            "load_args": load_args,
            "storage": "copy" if path is not None else "reference",
            "reference": reference,
            "files": [f.as_posix() for f in files],
        }
        with publish_dir(final) as staging:
            if path is not None:
                for rel in files:
                    (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(Path(path) / rel, staging / rel)
            else:
                (staging / BACKEND_FILE).write_text(json.dumps(reference, indent=1), "utf-8")
            (staging / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")
        return self.get(version_id)

    def model_path(self, version: str | ModelVersion) -> Path | None:
        """The folder a backend loads: the version folder, or the referenced package folder
        (None for weight-free backends)."""
        mv = self.get(version)
        if mv.manifest.get("storage") == "reference":
            return resolve_reference(mv.reference or {})
        return mv.path

    def spec_for(self, version: str | ModelVersion) -> dict:
        """The model spec `mm_platform.encoders.models.load_model(role_for(family), spec)` loads."""
        mv = self.get(version)
        spec: dict[str, Any] = {"name": mv.backend}
        path = self.model_path(mv)
        if path is not None:
            spec["model_path"] = str(path.resolve())
        spec.update(mv.manifest.get("load_args") or {})
        return spec

    @staticmethod
    def role_for(family: str) -> str | None:
        return ROLES.get(_validate_family(family))

    def load(self, version: str | ModelVersion):
        """Load a version through the platform's model plugins (text, image and asr families)."""
        from mm_platform.encoders.models import load_model

        mv = self.get(version)
        role = self.role_for(mv.family)
        if role is None:
            raise RegistryError(f"family {mv.family} has no platform loader role")
        return load_model(role, self.spec_for(mv))

