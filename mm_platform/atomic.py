"""Atomic file and folder writes: a reader sees the old content or the new, never half of one."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temp file in the same folder and `os.replace`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=False) + "\n")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """Replace a JSON-lines file atomically."""
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def append_jsonl(path: Path, row: dict) -> None:
    """Append one record with a single O_APPEND write (audit logs: never rewritten)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_jsonl(path: Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


@contextlib.contextmanager
def publish_dir(final: Path) -> Iterator[Path]:
    """Yield a staging folder; on success it is renamed to `final` in one step.

    Folders published this way are immutable and named by their content, so when `final`
    already exists the staged copy is identical and is discarded. On error the staging
    folder is removed and `final` is untouched.
    """
    from mm_platform.recovery import staging_name, sweep_staging

    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    sweep_staging(final.parent)  # what a killed writer left behind (its process is gone)
    staging = final.parent / staging_name()
    staging.mkdir()
    try:
        yield staging
        if final.exists():
            shutil.rmtree(staging)
        else:
            os.rename(staging, final)
            _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
