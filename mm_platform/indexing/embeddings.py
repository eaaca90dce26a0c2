"""Incremental embedding: only rows whose (content hash, encoder id+version) is new are encoded.

Each embedding snapshot is an immutable folder named by its content; the latest snapshot of
the same encoder serves as the cache for the next run.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from mm_platform.atomic import atomic_write_json, publish_dir
from mm_platform.faults import pause_point

LATEST = "LATEST.json"


def _load_snapshot(folder: Path) -> tuple[list[str], np.ndarray]:
    hashes = json.loads((folder / "content_hashes.json").read_text("utf-8"))
    vectors = np.load(folder / "vectors.npy")
    return hashes, vectors


def load_embeddings(path: Path) -> tuple[list[str], np.ndarray]:
    """(content hashes, vectors) of one snapshot, aligned with the dataset rows."""
    return _load_snapshot(Path(path))


def _previous_vectors(encoder_root: Path, dim: int) -> dict[str, np.ndarray]:
    pointer = encoder_root / LATEST
    if not pointer.exists():
        return {}
    folder = encoder_root / json.loads(pointer.read_text("utf-8"))["snapshot"]
    if not folder.exists():
        return {}
    hashes, vectors = _load_snapshot(folder)
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        return {}
    return dict(zip(hashes, vectors))


def embed_incremental(
    hashes: Sequence[str],
    encode: Callable[[list[int]], np.ndarray],
    *,
    dim: int,
    key: str,
    spec: dict,
    encoder_root: Path,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = 1024,
) -> dict:
    """Vectors for items keyed by content hash, reusing those of the previous snapshot.

    `encode(indices)` returns vectors for the items at those indices; it is called only for
    hashes missing from the cache (each distinct hash once). Returns a reference to the new
    snapshot with reused/computed counts and timings.
    """
    started = time.perf_counter()
    snapshot = hashlib.sha256(("\n".join(hashes) + key).encode()).hexdigest()[:16]
    folder = encoder_root / snapshot
    manifest = folder / "manifest.json"
    if manifest.is_file():  # these exact rows were embedded before: nothing to load or encode
        health = json.loads(manifest.read_text("utf-8")).get("health")
        if health is not None:
            atomic_write_json(encoder_root / LATEST, {"snapshot": snapshot})
            return {"path": str(folder), "snapshot": snapshot, "encoder_key": key, "rows": len(hashes),
                    "computed": 0, "reused": len(hashes), "encode_seconds": 0.0,
                    "seconds": round(time.perf_counter() - started, 4), "health": health}
    cached = _previous_vectors(encoder_root, dim)
    todo = sorted({h: i for i, h in enumerate(hashes) if h not in cached}.items(), key=lambda kv: kv[1])
    fresh: dict[str, np.ndarray] = {}
    encode_seconds = 0.0
    for start in range(0, len(todo), chunk):
        batch = todo[start : start + chunk]
        t0 = time.perf_counter()
        vectors = encode([i for _, i in batch])
        encode_seconds += time.perf_counter() - t0
        fresh.update({h: v for (h, _), v in zip(batch, vectors)})
        pause_point("embedding")
        if progress:
            progress(min(start + chunk, len(todo)), len(todo))
    matrix = np.zeros((len(hashes), dim), dtype=np.float32)
    for i, h in enumerate(hashes):
        matrix[i] = fresh[h] if h in fresh else cached[h]
    health = vector_health(matrix, dim)
    with publish_dir(folder) as staging:
        np.save(staging / "vectors.npy", matrix)
        (staging / "content_hashes.json").write_text(json.dumps(list(hashes)), "utf-8")
        (staging / "manifest.json").write_text(json.dumps({"models": spec, "key": key, "rows": len(hashes),
                                                           "health": health}), "utf-8")
    atomic_write_json(encoder_root / LATEST, {"snapshot": snapshot})
    return {
        "path": str(folder),
        "snapshot": snapshot,
        "encoder_key": key,
        "rows": len(hashes),
        "computed": len(fresh),
        "reused": len(hashes) - sum(1 for h in hashes if h in fresh),
        "encode_seconds": round(encode_seconds, 4),
        "seconds": round(time.perf_counter() - started, 4),
        "health": health,
    }


def vector_health(matrix: np.ndarray, dim: int) -> dict:
    """Whether every vector is finite, of the expected dimension and of unit length (recorded with
    the snapshot, so a check needs no second read of the vectors)."""
    finite = bool(np.isfinite(matrix).all())
    deviation = float(np.max(np.abs(np.linalg.norm(matrix, axis=1) - 1.0))) if finite and matrix.size else 0.0
    problems = ([] if finite else ["non-finite values"]) + \
        ([] if matrix.ndim == 2 and matrix.shape[1] == dim else [f"shape {matrix.shape} is not (rows, {dim})"]) + \
        ([] if deviation < 1e-3 else [f"a vector's length is off by {deviation:.2e}"])
    return {"finite": finite, "dim": int(matrix.shape[1]) if matrix.ndim == 2 else None,
            "max_norm_deviation": round(deviation, 8), "problems": problems}
