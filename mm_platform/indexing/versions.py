"""Immutable Faiss index versions per tenant and modality: built once (named by content and models),
read-only once built. The pointer that makes one live is `mm_platform.indexing.store`."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import faiss
import numpy as np

from mm_platform.atomic import publish_dir, read_jsonl
from mm_platform.faults import pause_point

INDEX_FILE = "index.faiss"
ROWS_FILE = "rows.jsonl"
MANIFEST_FILE = "manifest.json"
EVALUATION_FILE = "evaluation.json"
EVALUATIONS_DIR = "evaluations"
LIVE_FILE = "LIVE.json"
CANDIDATE_FILE = "CANDIDATE.json"
AUDIT_FILE = "audit.jsonl"
VIEWS_DIR = "views"
# An approximate index is kept only when it finds this share of the exact top-10.
APPROX_MIN_RECALL = 0.99


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def version_id(encoder_key: str, rows: list[dict], vectors: np.ndarray, views: dict | None = None) -> str:
    digest = hashlib.sha256(encoder_key.encode())
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
    digest.update(np.ascontiguousarray(vectors).tobytes())
    for name, (view_vectors, meta) in sorted((views or {}).items()):
        digest.update(f"{name}:{meta['encoder_key']}".encode())
        digest.update(np.ascontiguousarray(view_vectors).tobytes())
    return digest.hexdigest()[:16]


def _exact_index(vectors: np.ndarray) -> faiss.Index:
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index


def _approximate_index(vectors: np.ndarray) -> tuple[faiss.Index, float]:
    """HNSW index and its recall@10 against exact search on a sample of the rows as queries."""
    index = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efSearch = 128
    index.add(vectors)
    sample = vectors[np.random.default_rng(0).choice(len(vectors), size=min(500, len(vectors)), replace=False)]
    k = min(10, len(vectors))
    _, exact = _exact_index(vectors).search(sample, k)
    _, approx = index.search(sample, k)
    recall = float(np.mean([len(set(a) & set(e)) / k for a, e in zip(approx, exact)]))
    return index, recall


def build_index_version(
    versions_root: Path,
    rows: list[dict],
    vectors: np.ndarray,
    encoder_spec: dict,
    encoder_key: str,
    *,
    tenant: str,
    modality: str,
    dataset_fingerprint: str,
    index_type: str = "flat",
    views: dict[str, tuple[np.ndarray, dict]] | None = None,
    files: "Callable[[list[dict], dict[str, np.ndarray]], dict] | None" = None,
) -> dict:
    """Build (or find, when identical) an immutable index version; rows are grouped by language
    so a language filter is an id range. `views` adds one exact index per extra vector of a row
    (`views/<name>.faiss`); `files(rows, vectors by view)` adds JSON files (e.g. links.json)."""
    if len(rows) != len(vectors):
        raise ValueError(f"{len(rows)} rows but {len(vectors)} vectors")
    order = sorted(range(len(rows)), key=lambda i: (rows[i].get("language", ""), i))
    rows = [rows[i] for i in order]
    vectors = np.ascontiguousarray(vectors[order], dtype=np.float32)
    views = {name: (np.ascontiguousarray(v[order], dtype=np.float32), meta) for name, (v, meta) in (views or {}).items()}
    for name, (view_vectors, _) in views.items():
        if len(view_vectors) != len(rows):
            raise ValueError(f"view {name}: {len(view_vectors)} vectors for {len(rows)} rows")
    vid = version_id(encoder_key, rows, vectors, views)
    folder = Path(versions_root) / vid
    if (folder / MANIFEST_FILE).exists():
        manifest = json.loads((folder / MANIFEST_FILE).read_text("utf-8"))
        return {"version": vid, "path": str(folder), "reused": True, "ntotal": manifest.get("rows"), **manifest}
    started = time.perf_counter()
    chosen, approx_recall = "flat", None
    index = _exact_index(vectors)
    if index_type == "hnsw" and len(rows) > 10:
        approx, approx_recall = _approximate_index(vectors)
        if approx_recall >= APPROX_MIN_RECALL:
            index, chosen = approx, "hnsw"
    ranges: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        lo_hi = ranges.setdefault(row.get("language", ""), [i, i + 1])
        lo_hi[1] = i + 1
    manifest = {
        "version": vid,
        "tenant": tenant,
        "modality": modality,
        "encoder": encoder_spec,
        "encoder_key": encoder_key,
        "dims": int(vectors.shape[1]),
        "rows": len(rows),
        "ntotal": int(index.ntotal),
        "views_ntotal": {name: len(v) for name, (v, _) in sorted(views.items())},
        "index_type": chosen,
        "requested_index_type": index_type,
        "approx_recall_at_10": approx_recall,
        "language_ranges": ranges,
        "dataset_fingerprint": dataset_fingerprint,
        "views": {name: {**meta, "file": f"{VIEWS_DIR}/{name}.faiss"} for name, (_, meta) in sorted(views.items())},
        "built_at": now_iso(),
    }
    extra_files = files(rows, {"__main__": vectors, **{n: v for n, (v, _) in views.items()}}) if files else {}
    manifest["files"] = sorted(extra_files)
    manifest["build_seconds"] = round(time.perf_counter() - started, 4)
    with publish_dir(folder) as staging:
        faiss.write_index(index, str(staging / INDEX_FILE))
        if views:
            (staging / VIEWS_DIR).mkdir()
            for name, (view_vectors, _) in views.items():
                faiss.write_index(_exact_index(view_vectors), str(staging / VIEWS_DIR / f"{name}.faiss"))
        for name, content in extra_files.items():
            (staging / name).write_text(json.dumps(content, ensure_ascii=False), "utf-8")
        (staging / ROWS_FILE).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")
        pause_point("index_build")
    return {"path": str(folder), "reused": False, **manifest}


@dataclass
class Hit:
    row: dict
    score: float


class IndexHandle:
    """A loaded, read-only index version."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.manifest = json.loads((self.folder / MANIFEST_FILE).read_text("utf-8"))
        self.rows = read_jsonl(self.folder / ROWS_FILE)
        self.index = faiss.read_index(str(self.folder / INDEX_FILE))
        if self.index.ntotal != len(self.rows):
            raise RuntimeError(f"index {self.folder} holds {self.index.ntotal} vectors for {len(self.rows)} rows")
        self._views: dict[str, faiss.Index] = {}

    def view(self, name: str) -> faiss.Index:
        """The exact index of one extra view (loaded on first use)."""
        if name not in self._views:
            meta = self.manifest.get("views", {}).get(name)
            if meta is None:
                raise KeyError(f"index {self.version} has no view {name!r}")
            index = faiss.read_index(str(self.folder / meta["file"]))
            if index.ntotal != len(self.rows):
                raise RuntimeError(f"view {name} of {self.folder} holds {index.ntotal} vectors for {len(self.rows)} rows")
            self._views[name] = index
        return self._views[name]

    def file(self, name: str) -> dict | None:
        """A JSON file the version carries (None when it has none of that name)."""
        path = self.folder / name
        return json.loads(path.read_text("utf-8")) if name in self.manifest.get("files", []) and path.exists() else None

    @property
    def version(self) -> str:
        return self.manifest["version"]

    def search(self, vectors: np.ndarray, k: int = 5, language: str | None = None) -> list[list[Hit]]:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        params = None
        if language is not None:
            lo, hi = self.manifest["language_ranges"].get(language, (0, 0))
            if hi <= lo:
                return [[] for _ in range(len(vectors))]
            selector = faiss.IDSelectorRange(lo, hi)
            params = faiss.SearchParametersHNSW(sel=selector) if self.manifest["index_type"] == "hnsw" else faiss.SearchParameters(sel=selector)
        k = max(1, min(k, self.index.ntotal))
        scores, ids = self.index.search(vectors, k, params=params)
        return [[Hit(self.rows[i], float(s)) for s, i in zip(srow, irow) if i >= 0] for srow, irow in zip(scores, ids)]


def prune_folders(root: Path, keep: int, protect: set) -> list[str]:
    """Delete all but the `keep` newest sub-folders of `root` (staging folders and `protect` are kept)."""
    if not root.exists():
        return []
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    removed = []
    for folder in folders[keep:]:
        if folder.name not in protect:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed
