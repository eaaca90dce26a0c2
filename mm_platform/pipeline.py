"""The steps of a tenant x modality pipeline as plain functions. The Dagster assets and the CLI
call these, so every step is testable without a Dagster instance, and every modality goes
through the same steps: validate -> (derive) -> embed -> index -> evaluate -> promote."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Callable

from .atomic import atomic_write_json, publish_dir, write_jsonl
from .embeddings import embed_incremental, load_embeddings
from .evaluation import evaluate_retrieval, summarize
from .gates import GateConfig, gate_failures
from .index import IndexHandle, IndexStore, build_index_version, now_iso, prune_folders
from .models import DEFAULT_MODELS, ModelSet
from .modalities.base import Modality
from .modalities.registry import query_fields
from .tenancy import Layout, confine
from .tenant_config import load_tenant_config
from .validation import InputFileError, quarantine_rate

log = logging.getLogger(__name__)
FAQ = "faq"
DEFAULT_KEEP_VERSIONS = 5
Progress = Callable[[int, int], None]


def index_store(layout: Layout, tenant: str, modality: str = FAQ) -> IndexStore:
    return IndexStore(layout.artifact(tenant, "indexes", modality), tenant, modality)


def tenant_models(layout: Layout, tenant: str, defaults: dict | None = None) -> ModelSet:
    """The platform's model choices by role, overridden by the tenant's `tenant.yaml`."""
    choices = {role: dict(spec) for role, spec in (defaults or DEFAULT_MODELS).items()}
    choices.update(load_tenant_config(layout.tenant_data(tenant)).models)
    return ModelSet(choices=choices)


def gates_for(layout: Layout, tenant: str, modality: Modality, base: GateConfig) -> GateConfig:
    """Platform gates, then the modality's own defaults, then the tenant's tenant.yaml."""
    tenant_cfg = load_tenant_config(layout.tenant_data(tenant))
    return tenant_cfg.gate_config(base.with_overrides(modality.default_gates), modality.name)


def absent(ref: dict) -> bool:
    return not ref.get("present", True)


# --- 1. validated dataset -------------------------------------------------------------------

def validate(layout: Layout, tenant: str, modality: Modality) -> dict:
    """Validate a tenant's input of one modality into an immutable Hugging Face dataset folder.

    Bad rows go to `quarantine/<modality>.jsonl` with file, row, field and reason. Raises
    InputFileError (nothing written, nothing live touched) when a whole file is unusable. A
    tenant without this modality's input (or with it disabled) gets an `absent` reference.
    """
    from datasets import ClassLabel, Dataset

    tenant_dir = layout.tenant_data(tenant)
    if not tenant_dir.is_dir():
        raise InputFileError(tenant_dir, "tenant folder not found")
    config = load_tenant_config(tenant_dir)  # a broken tenant.yaml fails here, before anything is written
    base = {"tenant": tenant, "modality": modality.name}
    if not config.enabled(modality.name):
        return {**base, "present": False, "reason": f"{modality.name} is not enabled in tenant.yaml"}
    if not modality.present(tenant_dir):
        return {**base, "present": False, "reason": f"no {' or '.join(modality.input_files)} in the tenant folder"}
    parsed = modality.parse(tenant_dir, tenant)
    queries = modality.parse_queries(tenant_dir, tenant, known_fields=query_fields())
    if not parsed.rows:
        raise InputFileError(modality.input_path(tenant_dir), f"no valid rows ({len(parsed.quarantine)} quarantined)")
    quarantine = [q.to_dict() for q in parsed.quarantine + queries.quarantine]
    labels = sorted({r["annotation"] for r in parsed.rows})
    payload = json.dumps([parsed.rows, queries.rows], sort_keys=True, ensure_ascii=False, default=str).encode()
    fingerprint = hashlib.sha256(payload).hexdigest()[:16]
    root = layout.artifact(tenant, "datasets", modality.name)
    folder = root / fingerprint
    with publish_dir(folder) as staging:
        dataset = Dataset.from_list(parsed.rows)
        dataset.cast_column("annotation", ClassLabel(names=labels)).save_to_disk(str(staging / "rows"))
        (staging / "eval_queries.json").write_text(json.dumps(queries.rows, ensure_ascii=False), "utf-8")
    quarantine_path = layout.quarantine_dir(tenant) / f"{modality.name}.jsonl"
    write_jsonl(quarantine_path, quarantine)
    prune_folders(root, DEFAULT_KEEP_VERSIONS, {fingerprint})
    by_pair = Counter((r["language"], r["annotation"]) for r in parsed.rows)
    return {
        **base,
        "present": True,
        "path": str(folder),
        "tenant_dir": str(tenant_dir),
        "fingerprint": fingerprint,
        "rows": len(parsed.rows),
        "quarantined": len(parsed.quarantine),
        "quarantined_eval_queries": len(queries.quarantine),
        "quarantine_rate": round(quarantine_rate(len(parsed.rows), len(parsed.quarantine)), 4),
        "quarantine_path": str(quarantine_path),
        "quarantine_sample": quarantine[:20],
        "languages": dict(sorted(Counter(r["language"] for r in parsed.rows).items())),
        "annotations": {f"{lang}/{ann}": n for (lang, ann), n in sorted(by_pair.items())},
        "eval_queries": dict(sorted(Counter(q["language"] for q in queries.rows).items())),
        "media": modality.describe_media(parsed.rows) if hasattr(modality, "describe_media") else {},
    }


def load_rows(dataset_path: str | Path) -> list[dict]:
    """Rows of a validated dataset with the class-encoded annotation decoded to text."""
    from datasets import load_from_disk

    dataset = load_from_disk(str(Path(dataset_path) / "rows"))
    names = dataset.features["annotation"].names
    rows = dataset.to_list()  # one Arrow conversion; iterating row by row is ~10x slower
    for row in rows:
        row["annotation"] = names[row["annotation"]]
    return rows


def load_queries(dataset_path: str | Path) -> list[dict]:
    return json.loads((Path(dataset_path) / "eval_queries.json").read_text("utf-8"))


# --- 2. derived rows (optional stage, e.g. speech transcripts) --------------------------------

def derive(layout: Layout, tenant: str, modality: Modality, dataset: dict, models: ModelSet,
           progress: Progress | None = None) -> dict:
    """Rows with derived fields (transcripts), computed only for new content, plus their figures."""
    if absent(dataset):
        return dataset
    rows = load_rows(dataset["path"])
    cache_root = layout.artifact(tenant, "derived", modality.name)
    derived_rows, summary = modality.derive(rows, models, layout.tenant_data(tenant), cache_root, progress)
    digest = hashlib.sha256(json.dumps(derived_rows, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()[:16]
    path = cache_root / f"rows-{digest}.json"
    if not path.exists():
        atomic_write_json(path, derived_rows)
    return {**dataset, "derived_path": str(path), "derived": summary}


def rows_of(ref: dict) -> list[dict]:
    if ref.get("derived_path"):
        return json.loads(Path(ref["derived_path"]).read_text("utf-8"))
    return load_rows(ref["path"])


# --- 3. embeddings ------------------------------------------------------------------------------

def embed(layout: Layout, tenant: str, modality: Modality, dataset: dict, models: ModelSet,
          progress: Progress | None = None) -> dict:
    """Row vectors aligned with the dataset; only new (content hash, model key) pairs are computed."""
    if absent(dataset):
        return dataset
    rows = rows_of(dataset)
    key = modality.embedding_key(models)
    root = layout.artifact(tenant, "embeddings", modality.name, key)
    tenant_dir = layout.tenant_data(tenant)
    ref = embed_incremental(
        [r["content_hash"] for r in rows],
        lambda idx: modality.encode_rows([rows[i] for i in idx], models, tenant_dir),
        dim=modality.dim(models), key=key, spec=models.specs(modality.roles), encoder_root=root, progress=progress)
    prune_folders(root, DEFAULT_KEEP_VERSIONS, {ref["snapshot"]})
    return {**ref, "tenant": tenant, "modality": modality.name, "present": True, "models": models.specs(modality.roles),
            "dim": modality.dim(models), "dataset_fingerprint": dataset["fingerprint"]}


# --- 4. candidate index -----------------------------------------------------------------------

def build_index(layout: Layout, tenant: str, modality: Modality, dataset: dict, embeddings: dict,
                index_type: str = "flat") -> dict:
    if absent(dataset):
        return dataset
    rows = rows_of(dataset)
    hashes, vectors = load_embeddings(embeddings["path"])
    if hashes != [r["content_hash"] for r in rows]:
        raise RuntimeError("embeddings are not aligned with the dataset rows (stale snapshot)")
    store = index_store(layout, tenant, modality.name)
    main_role = modality.row_roles[-1]
    return {"present": True, **build_index_version(
        store.versions_root, rows, vectors, {**embeddings["models"][main_role], "models": embeddings["models"]},
        embeddings["encoder_key"], tenant=tenant, modality=modality.name,
        dataset_fingerprint=dataset["fingerprint"], index_type=index_type)}


def isolation_canary(layout: Layout, tenant: str, modality: Modality, index_ref: dict, other_tenants: list[str],
                     per_tenant: int = 20) -> dict:
    """Query tenant A's index with other tenants' queries: a hit on a row that is not A's is a
    leak, as is any foreign row in the index; every file of the version must lie inside A's
    storage folder."""
    handle = IndexHandle(Path(index_ref["path"]))
    models = ModelSet.from_specs(handle.manifest["encoder"]["models"])
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


# --- 5. evaluation ------------------------------------------------------------------------------

def evaluate(layout: Layout, tenant: str, modality: Modality, dataset: dict, index_ref: dict, gates: GateConfig,
             run_id: str, progress: Callable[[str, int], None] | None = None) -> dict:
    """Evaluate the candidate with the exact models that built it, decide its gates (absolute
    and against the live version) and record the report beside the version. Nothing live
    changes here."""
    if absent(dataset):
        return dataset
    handle = IndexHandle(Path(index_ref["path"]))
    models = ModelSet.from_specs(handle.manifest["encoder"]["models"])
    queries = load_queries(dataset["path"])
    searched = handle
    if modality.search_target:
        # the caller's path: this modality's queries answered from the target's live index
        target_store = index_store(layout, tenant, modality.search_target)
        target_version = target_store.live_version()
        if not target_version:
            raise InputFileError(layout.tenant_data(tenant), f"no live {modality.search_target} index to answer "
                                                             f"{modality.name} queries from; build it first")
        from .query import target_models

        searched = IndexHandle(target_store.version_dir(target_version))
        models = target_models(handle, searched)
    rows = evaluate_retrieval(searched, modality, models, queries, layout.tenant_data(tenant), progress=progress,
                              check_models=searched is handle)
    model_name = " + ".join(spec["name"] for spec in models.choices.values())
    for row in rows:
        row.update({"tenant": tenant, "modality": modality.name, "model": model_name, "index_version": handle.version})
    store = index_store(layout, tenant, modality.name)
    config = gates_for(layout, tenant, modality, gates)
    live_version = store.live_version()
    live_report = store.evaluation(live_version) if live_version and live_version != handle.version else None
    failures = gate_failures(rows, config, sorted(dataset["languages"]), live_report["rows"] if live_report else None)
    report = {
        "present": True,
        "tenant": tenant,
        "modality": modality.name,
        "index_version": handle.version,
        "encoder": handle.manifest["encoder"],
        "dataset_fingerprint": dataset["fingerprint"],
        "evaluated_at": now_iso(),
        "run_id": run_id,
        "gates": config.to_dict(),
        "gate_passed": not failures,
        "gate_failures": failures,
        "compared_to_live": live_version if live_report else None,
        "searched_index": f"{searched.manifest['modality']}@{searched.version}",
        "summary": summarize(rows),
        "rows": rows,
    }
    atomic_write_json(store.version_dir(handle.version) / "evaluation.json", report)
    store.record_candidate({"version": handle.version, "gate_passed": not failures, "gate_failures": failures,
                            "evaluated_at": report["evaluated_at"], "run_id": run_id})
    return report


# --- 6. live pointer ------------------------------------------------------------------------------

class GateFailed(RuntimeError):
    """The candidate did not pass its gates; the live pointer was left alone."""


def promote(layout: Layout, tenant: str, modality: Modality, report: dict, gates: GateConfig, run_id: str) -> dict:
    """Swap the live pointer to the evaluated version, re-checking the gates against whatever
    is live right now. Raises GateFailed and changes nothing when they fail."""
    if absent(report):
        return {"present": False, "reason": report.get("reason"), "swapped": False, "live_version": None}
    store = index_store(layout, tenant, modality.name)
    tenant_cfg = load_tenant_config(layout.tenant_data(tenant))
    config = gates_for(layout, tenant, modality, gates)
    live_version = store.live_version()
    live_report = store.evaluation(live_version) if live_version and live_version != report["index_version"] else None
    languages = sorted({r["language"] for r in report["rows"]})
    failures = list(report["gate_failures"]) or gate_failures(report["rows"], config, languages,
                                                              live_report["rows"] if live_report else None)
    if failures:
        raise GateFailed(f"{tenant}/{modality.name} candidate {report['index_version']} not promoted: " + "; ".join(failures))
    entry = store.promote(report["index_version"], run_id, report["summary"],
                          keep=tenant_cfg.keep_versions or DEFAULT_KEEP_VERSIONS)
    return {"present": True, "live_version": report["index_version"], "previous_version": live_version,
            "swapped": entry is not None, "audit": entry}
