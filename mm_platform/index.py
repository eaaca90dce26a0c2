"""Immutable Faiss index versions per tenant and modality, and the live pointer that serves one."""

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

from .atomic import append_jsonl, atomic_write_json, publish_dir, read_jsonl

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
        return {"version": vid, "path": str(folder), "reused": True, **json.loads((folder / MANIFEST_FILE).read_text("utf-8"))}
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


class IndexStore:
    """Versions, the live pointer, the last evaluated candidate and the audit log of one
    tenant x modality."""

    def __init__(self, root: Path, tenant: str, modality: str):
        self.root = Path(root)
        self.tenant = tenant
        self.modality = modality
        self.versions_root = self.root / "versions"

    def version_dir(self, version: str) -> Path:
        return self.versions_root / version

    def live(self) -> dict | None:
        path = self.root / LIVE_FILE
        return json.loads(path.read_text("utf-8")) if path.exists() else None

    def live_version(self) -> str | None:
        live = self.live()
        return live["version"] if live else None

    def candidate(self) -> dict | None:
        path = self.root / CANDIDATE_FILE
        return json.loads(path.read_text("utf-8")) if path.exists() else None

    def record_candidate(self, record: dict) -> None:
        atomic_write_json(self.root / CANDIDATE_FILE, record)

    def evaluations(self, version: str) -> list[dict]:
        """Every evaluation record of a version, oldest first (one per evaluating run; never rewritten)."""
        folder = self.version_dir(version) / EVALUATIONS_DIR
        records = [json.loads(p.read_text("utf-8")) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
        legacy = self.version_dir(version) / EVALUATION_FILE
        if legacy.exists():  # written by versions of the platform before append-only records
            records.insert(0, json.loads(legacy.read_text("utf-8")))
        return records

    def evaluation(self, version: str) -> dict | None:
        """The latest evaluation record of a version."""
        records = self.evaluations(version)
        return records[-1] if records else None

    def append_evaluation(self, version: str, record: dict) -> Path:
        """Add a record (a new file named by time and run; an existing record is never replaced)."""
        folder = self.version_dir(version) / EVALUATIONS_DIR
        stamp = record["evaluated_at"].replace(":", "").replace("-", "").replace("+0000", "Z")
        base = f"{stamp}-{record.get('run_id', 'run')[:12]}"
        path, n = folder / f"{base}.json", 1
        while path.exists():
            path, n = folder / f"{base}-{n}.json", n + 1
        atomic_write_json(path, record)
        return path

    def history(self) -> list[dict]:
        return read_jsonl(self.root / AUDIT_FILE)

    def _swap(self, action: str, to: str, previous: list[str], run_id: str, metrics: dict | None, reason: str | None = None,
              strategy: dict | None = None) -> dict:
        if not (self.version_dir(to) / MANIFEST_FILE).exists():
            raise FileNotFoundError(f"index version {to} of {self.tenant}/{self.modality} does not exist")
        before = self.live_version()
        pointer = {"version": to, "previous": previous, "since": now_iso(), "run_id": run_id}
        if strategy:
            pointer["strategy"] = strategy
        atomic_write_json(self.root / LIVE_FILE, pointer)
        entry = {"time": pointer["since"], "tenant": self.tenant, "modality": self.modality, "action": action,
                 "run_id": run_id, "from": before, "to": to, "metrics": metrics or {}}
        if reason:
            entry["reason"] = reason
        if strategy:
            entry["strategy"] = strategy.get("id")
        append_jsonl(self.root / AUDIT_FILE, entry)
        return entry

    def live_strategy(self) -> dict | None:
        """The retrieval strategy the live version serves with (None: the version's plain search)."""
        live = self.live()
        return (live or {}).get("strategy")

    def promote(self, version: str, run_id: str, metrics: dict | None = None, keep: int = 5,
                strategy: dict | None = None) -> dict | None:
        """Make `version` live with `strategy`; a no-op (None) when both already are."""
        live = self.live()
        if live and live["version"] == version and (live.get("strategy") or None) == (strategy or None):
            return None
        previous = ([live["version"]] + live.get("previous", [])) if live and live["version"] != version else \
            (live.get("previous", []) if live else [])
        entry = self._swap("promote", version, previous[: max(0, keep - 1)], run_id, metrics, strategy=strategy)
        self.prune(keep)
        return entry

    def rollback(self, run_id: str, reason: str = "manual rollback") -> dict:
        live = self.live()
        if not live or not live.get("previous"):
            raise RuntimeError(f"{self.tenant}/{self.modality}: no previous version to roll back to")
        target, rest = live["previous"][0], live["previous"][1:]
        record = self.evaluation(target) or {}
        return self._swap("rollback", target, rest, run_id, record.get("summary"), reason,
                          strategy=record.get("strategy"))

    def prune(self, keep: int) -> list[str]:
        """Delete old versions beyond `keep`, never the live one, its rollback chain or the candidate."""
        live = self.live() or {}
        protected = {live.get("version"), *live.get("previous", []), (self.candidate() or {}).get("version")}
        return prune_folders(self.versions_root, keep, protected)


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
