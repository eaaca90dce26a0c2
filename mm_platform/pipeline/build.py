"""Step 3-4: row vectors of every view (only new content encoded), the immutable index version built
from them, and the isolation canary that probes it with other tenants' queries."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Callable

from mm_platform.atomic import atomic_write_json
from mm_platform.encoders.models import ModelSet
from mm_platform.indexing.embeddings import embed_incremental, load_embeddings
from mm_platform.indexing.versions import IndexHandle, build_index_version, prune_folders
from mm_platform.inputs.tenancy import Layout, confine
from mm_platform.inputs.validation import InputFileError, content_hash
from mm_platform.modalities.base import Modality
from mm_platform.modalities.registry import query_fields
from mm_platform.pipeline.inputs import absent, rows_of
from mm_platform.pipeline.tenant import DEFAULT_KEEP_VERSIONS, index_store

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


# --- 3. embeddings ------------------------------------------------------------------------------

def embed(layout: Layout, tenant: str, modality: Modality, dataset: dict, models: ModelSet,
          progress: Progress | None = None) -> dict:
    """Row vectors aligned with the dataset (the main vector and any extra views); only new
    (content hash, model key) pairs are computed."""
    if absent(dataset):
        return dataset
    key = modality.embedding_key(models)
    views_wanted = [(view, models.get(view.role)) for view in modality.extra_views(models)]
    memo = _memo_path(layout.artifact(tenant, "embeddings", modality.name), dataset["fingerprint"],
                      dataset.get("derived_path", ""), key, *[f"{v.name}={e.key}" for v, e in views_wanted])
    remembered = _remembered(memo)
    if remembered is not None:  # the same dataset with the same models: every snapshot exists already
        return {**remembered, "computed": 0, "reused": remembered["rows"], "computed_all_views": 0,
                "reused_all_views": remembered["rows"] * (1 + len(remembered["views"])), "encode_seconds": 0.0}
    rows = rows_of(dataset)
    root = layout.artifact(tenant, "embeddings", modality.name, key)
    tenant_dir = layout.tenant_data(tenant)
    ref = embed_incremental(
        [r["content_hash"] for r in rows],
        lambda idx: modality.encode_rows([rows[i] for i in idx], models, tenant_dir),
        dim=modality.dim(models), key=key, spec=models.specs(modality.roles), encoder_root=root, progress=progress)
    prune_folders(root, DEFAULT_KEEP_VERSIONS, {ref["snapshot"]})
    views = {}
    for view, encoder in views_wanted:
        texts = [view.text(r) for r in rows]
        view_key = f"{view.name.split('@')[0]}@{encoder.key}"
        view_root = layout.artifact(tenant, "embeddings", modality.name, view_key)
        views[view.name] = {**embed_incremental(
            [content_hash(r["language"], t) for r, t in zip(rows, texts)],
            lambda idx, texts=texts, encoder=encoder: encoder.encode([texts[i] for i in idx]),
            dim=encoder.dim, key=view_key, spec={view.role: encoder.spec()}, encoder_root=view_root,
            progress=progress), "role": view.role, "dim": encoder.dim, "model": encoder.spec()}
        prune_folders(view_root, DEFAULT_KEEP_VERSIONS, {views[view.name]["snapshot"]})
    every = {"main": ref, **views}
    health = {"views": sorted(every), "max_norm_deviation": max(v["health"]["max_norm_deviation"] for v in every.values()),
              "problems": {name: "; ".join(v["health"]["problems"]) for name, v in every.items() if v["health"]["problems"]}}
    out = {**ref, "tenant": tenant, "modality": modality.name, "present": True, "models": models.specs(modality.roles),
           "dim": modality.dim(models), "dataset_fingerprint": dataset["fingerprint"], "views": views,
           "computed_all_views": ref["computed"] + sum(v["computed"] for v in views.values()),
           "reused_all_views": ref["reused"] + sum(v["reused"] for v in views.values()), "health": health}
    atomic_write_json(memo, out)
    return out


def _memo_path(root: Path, *parts: str) -> Path:
    """Where a step remembers what it produced for exactly these inputs."""
    return root / "memo" / (hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24] + ".json")


def _remembered(path: Path) -> dict | None:
    """A step's remembered output, if every folder it names still exists (pruning may remove them)."""
    try:
        ref = json.loads(path.read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    folders = [ref.get("path"), *(v["path"] for v in ref.get("views", {}).values() if isinstance(v, dict) and "path" in v)]
    return ref if all(f and Path(f).is_dir() for f in folders) else None


# --- 4. candidate index -----------------------------------------------------------------------

def build_index(layout: Layout, tenant: str, modality: Modality, dataset: dict, embeddings: dict,
                index_type: str = "flat") -> dict:
    if absent(dataset):
        return dataset
    memo = _memo_path(index_store(layout, tenant, modality.name).root, dataset["fingerprint"], index_type,
                      embeddings["snapshot"], *sorted(f"{n}={v['snapshot']}" for n, v in embeddings.get("views", {}).items()))
    remembered = _remembered(memo)
    if remembered is not None:
        return {**remembered, "reused": True}
    rows = rows_of(dataset)
    hashes, vectors = load_embeddings(embeddings["path"])
    if hashes != [r["content_hash"] for r in rows]:
        raise RuntimeError("embeddings are not aligned with the dataset rows (stale snapshot)")
    views = {}
    for name, ref in embeddings.get("views", {}).items():
        view_hashes, view_vectors = load_embeddings(ref["path"])
        if len(view_hashes) != len(rows):
            raise RuntimeError(f"view {name} is not aligned with the dataset rows (stale snapshot)")
        views[name] = (view_vectors, {"role": ref["role"], "encoder_key": ref["encoder_key"], "dim": ref["dim"],
                                      "model": ref["model"]})
    store = index_store(layout, tenant, modality.name)
    main_role = modality.row_roles[-1]
    ref = {"present": True, **build_index_version(
        store.versions_root, rows, vectors, {**embeddings["models"][main_role], "models": embeddings["models"]},
        embeddings["encoder_key"], tenant=tenant, modality=modality.name,
        dataset_fingerprint=dataset["fingerprint"], index_type=index_type, views=views,
        files=lambda ordered_rows, ordered_views: modality.version_files(
            ordered_rows, {f"q@{main_role}": ordered_views.get("__main__"), **ordered_views}))}
    atomic_write_json(memo, ref)
    return ref


def isolation_canary(layout: Layout, tenant: str, modality: Modality, index_ref: dict, other_tenants: list[str],
                     per_tenant: int | None = None) -> dict:
    """Query tenant A's index with other tenants' queries: a hit on a row that is not A's is a
    leak, as is any foreign row in the index; every file of the version must lie inside A's
    storage folder."""
    handle = IndexHandle(Path(index_ref["path"]))
    models = ModelSet.from_specs(handle.manifest["encoder"]["models"])
    if per_tenant is None:  # a spoken probe costs a transcription: a few per tenant show a leak as well
        per_tenant = 20 if modality.batched_throughput else 5
    probes, leaked = 0, []
    for other in other_tenants:
        other_dir = layout.tenant_data(other)
        try:
            queries = modality.parse_queries(other_dir, other, known_fields=query_fields()).rows
        except InputFileError:
            continue
        queries = [q for q in queries if not modality.query_unsupported(q, models)][:per_tenant]
        if not queries:
            continue
        probes += len(queries)
        for hits in handle.search(modality.encode_queries(queries, models, other_dir), k=5):
            leaked.extend(h.row["id"] for h in hits if h.row.get("tenant") != tenant)
    leaked.extend(r["id"] for r in handle.rows if r.get("tenant") != tenant)
    root = layout.tenant_storage(tenant)
    outside = []
    for path in Path(index_ref["path"]).rglob("*"):
        try:
            confine(path, root)
        except ValueError:
            outside.append(str(path))
    return {"probes": probes, "leaks": len(leaked), "leaked_ids": sorted(set(leaked))[:10],
            "paths_outside_tenant": outside}
