"""Refusing model folders that could execute code when loaded (pickles, code files, custom modelling
code), by content and not by extension; the layout each backend needs."""

from __future__ import annotations

import contextlib
import json
import struct
import zipfile
from pathlib import Path
from typing import Sequence

from mm_platform.registry.common import (
    CODE_SUFFIXES,
    PICKLE_SUFFIXES,
    TRANSFORMERS_BACKENDS,
    RegistryError,
    UnsafeModelError,
)

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
    problems += _picklescan(folder)
    if problems:
        raise UnsafeModelError(f"refused {folder}: " + "; ".join(problems))
    _check_layout(folder, backend, files)


def _picklescan(folder: Path) -> list[str]:
    """picklescan's verdict on every pickle it finds (inside zips and numpy files too): a second
    opinion from a kept scanner, beside the format checks above, which refuse pickles outright."""
    import logging

    from picklescan.scanner import scan_directory_path

    # it logs a warning for every non-pickle .bin (CTranslate2 weights); what matters is its result
    logging.getLogger("picklescan").setLevel(logging.ERROR)
    result = scan_directory_path(str(folder))
    problems = []
    if result.infected_files or result.issues_count:
        names = sorted({f"{g.module}.{g.name}" for g in result.globals if g.safety.value == "dangerous"})
        problems.append(f"picklescan: {result.infected_files} file(s) import dangerous globals "
                        f"({', '.join(names) or 'see picklescan'})")
    if result.scan_err:
        problems.append("picklescan could not scan every file (unreadable or corrupt pickles)")
    return problems


def check_model_path(path: Path, backend: str) -> Path:
    """A model folder named outside the registry (`tenant.yaml`'s `model_path`, `--model-path`)
    gets the registry's checks before anything loads it: no pickles, no custom code, no `auto_map`,
    picklescan clean. Returns the resolved folder."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise RegistryError(f"model_path {path} does not exist")
    if not folder.is_dir():
        raise RegistryError(f"model_path {path} is not a folder")
    folder = folder.resolve()
    files = model_files(folder)
    if not files:
        raise RegistryError(f"model_path {path} holds no model files")
    check_model_folder(folder, backend, files)
    return folder


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

