"""Facts a registered version records about its content (fingerprint, parameter count) and references
to models shipped inside pip packages."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Sequence

from mm_platform.registry.common import RegistryError
from mm_platform.registry.safety import _npy_header, model_files

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

