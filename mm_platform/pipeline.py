"""The steps of a tenant's text pipeline as plain functions: the Dagster assets and the CLI
call these, so every step is testable without a Dagster instance."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections import Counter
from pathlib import Path
from typing import Callable

from .atomic import atomic_write_json, publish_dir, write_jsonl
from .embeddings import embed_incremental, load_embeddings
from .encoders.base import TextEncoder
from .evaluation import evaluate_text_retrieval, summarize
from .gates import GateConfig, gate_failures
from .index import IndexHandle, IndexStore, build_index_version, now_iso
from .modalities.faq import parse_eval_queries, parse_faq
from .tenancy import Layout, confine
from .tenant_config import load_tenant_config
from .validation import InputFileError, quarantine_rate

log = logging.getLogger(__name__)
FAQ = "faq"
DEFAULT_KEEP_VERSIONS = 5
INDEX_ROW_FIELDS = ("id", "question", "answer", "language", "annotation", "entity", "tenant", "source_file",
                    "source_row", "content_hash")


def _prune_children(root: Path, keep: int, protect: set[str]) -> None:
    if not root.exists():
        return
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for folder in folders[keep:]:
        if folder.name not in protect:
            shutil.rmtree(folder, ignore_errors=True)


def index_store(layout: Layout, tenant: str, modality: str = FAQ) -> IndexStore:
    return IndexStore(layout.artifact(tenant, "indexes", modality), tenant, modality)


# --- 1. validated dataset -------------------------------------------------------------------

def validate_faq(layout: Layout, tenant: str) -> dict:
    """Validate a tenant's FAQ and eval queries into an immutable Hugging Face dataset folder.

    Bad rows go to `quarantine/faq.jsonl` with file, row, field and reason. Raises
    InputFileError (nothing written, nothing live touched) when a whole file is unusable.
    """
    from datasets import ClassLabel, Dataset, Features, Value

    tenant_dir = layout.tenant_data(tenant)
    if not tenant_dir.is_dir():
        raise InputFileError(tenant_dir, "tenant folder not found")
    load_tenant_config(tenant_dir)  # a broken tenant.yaml fails here, before anything is written
    faq = parse_faq(tenant_dir, tenant)
    queries = parse_eval_queries(tenant_dir)
    if not faq.rows:
        raise InputFileError(tenant_dir / "faq.json", f"no valid rows ({len(faq.quarantine)} quarantined)")
    quarantine = [q.to_dict() for q in faq.quarantine + queries.quarantine]
    labels = sorted({r["annotation"] for r in faq.rows})
    features = Features({
        **{name: Value("string") for name in ("id", "question", "answer", "language", "entity", "tenant",
                                               "source_file", "content_hash")},
        "annotation": ClassLabel(names=labels),
        "source_row": Value("int64"),
    })
    payload = json.dumps([faq.rows, queries.rows], sort_keys=True, ensure_ascii=False).encode()
    fingerprint = hashlib.sha256(payload).hexdigest()[:16]
    root = layout.artifact(tenant, "datasets", FAQ)
    folder = root / fingerprint
    with publish_dir(folder) as staging:
        Dataset.from_list(faq.rows, features=features).save_to_disk(str(staging / "faq"))
        (staging / "eval_queries.json").write_text(json.dumps(queries.rows, ensure_ascii=False), "utf-8")
    write_jsonl(layout.quarantine_dir(tenant) / f"{FAQ}.jsonl", quarantine)
    _prune_children(root, DEFAULT_KEEP_VERSIONS, {fingerprint})
    return {
        "tenant": tenant,
        "modality": FAQ,
        "path": str(folder),
        "fingerprint": fingerprint,
        "rows": len(faq.rows),
        "quarantined": len(faq.quarantine),
        "quarantined_eval_queries": len(queries.quarantine),
        "quarantine_rate": round(quarantine_rate(len(faq.rows), len(faq.quarantine)), 4),
        "quarantine_path": str(layout.quarantine_dir(tenant) / f"{FAQ}.jsonl"),
        "quarantine_sample": quarantine[:20],
        "languages": dict(sorted(Counter(r["language"] for r in faq.rows).items())),
        "annotations": {f"{lang}/{ann}": n for (lang, ann), n in
                        sorted(Counter((r["language"], r["annotation"]) for r in faq.rows).items())},
        "eval_queries": dict(sorted(Counter(q["language"] for q in queries.rows).items())),
    }


def load_faq_rows(dataset_path: str | Path) -> list[dict]:
    """Rows of a validated FAQ dataset with the class-encoded annotation decoded to text."""
    from datasets import load_from_disk

    dataset = load_from_disk(str(Path(dataset_path) / "faq"))
    names = dataset.features["annotation"].names
    return [{**row, "annotation": names[row["annotation"]]} for row in dataset]


def load_eval_queries(dataset_path: str | Path) -> list[dict]:
    return json.loads((Path(dataset_path) / "eval_queries.json").read_text("utf-8"))


# --- 2. embeddings ----------------------------------------------------------------------------

def embed_faq(layout: Layout, tenant: str, dataset: dict, encoder: TextEncoder,
              progress: Callable[[int, int], None] | None = None) -> dict:
    rows = load_faq_rows(dataset["path"])
    root = layout.artifact(tenant, "embeddings", FAQ, encoder.key)
    ref = embed_incremental([r["question"] for r in rows], [r["content_hash"] for r in rows], encoder, root, progress)
    _prune_children(root, DEFAULT_KEEP_VERSIONS, {ref["snapshot"]})
    return {**ref, "tenant": tenant, "dataset_fingerprint": dataset["fingerprint"], "dataset_path": dataset["path"]}


# --- 3. candidate index -----------------------------------------------------------------------

def build_faq_index(layout: Layout, tenant: str, dataset: dict, embeddings: dict, index_type: str = "flat") -> dict:
    rows = load_faq_rows(dataset["path"])
    hashes, vectors = load_embeddings(embeddings["path"])
    if hashes != [r["content_hash"] for r in rows]:
        raise RuntimeError("embeddings are not aligned with the dataset rows (stale snapshot)")
    store = index_store(layout, tenant)
    return build_index_version(
        store.versions_root,
        [{k: r[k] for k in INDEX_ROW_FIELDS} for r in rows],
        vectors,
        embeddings["encoder"],
        embeddings["encoder_key"],
        tenant=tenant,
        modality=FAQ,
        dataset_fingerprint=dataset["fingerprint"],
        index_type=index_type,
    )


def sample_questions(layout: Layout, tenant: str, n: int = 50) -> list[str]:
    """Up to n valid questions from a tenant's input (empty if its input is unusable)."""
    try:
        return [r["question"] for r in parse_faq(layout.tenant_data(tenant), tenant).rows[:n]]
    except InputFileError:
        return []


def isolation_canary(layout: Layout, tenant: str, index_ref: dict, encoder: TextEncoder, other_tenants: list[str],
                     per_tenant: int = 50) -> dict:
    """Query tenant A's index with other tenants' questions: a hit on a row that is not A's is a
    leak, as is any foreign row in the index; every file of the version must lie inside A's
    storage folder."""
    handle = IndexHandle(Path(index_ref["path"]))
    probes, leaked = 0, []
    for other in other_tenants:
        questions = sample_questions(layout, other, per_tenant)
        probes += len(questions)
        if questions:
            for hits in handle.search(encoder.encode(questions), k=5):
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


# --- 4. evaluation ------------------------------------------------------------------------------

def evaluate_faq_index(layout: Layout, tenant: str, dataset: dict, index_ref: dict, encoder: TextEncoder,
                       gates: GateConfig, run_id: str, progress: Callable[[str, int], None] | None = None) -> dict:
    """Evaluate the candidate, decide its gates (absolute and against the live version) and
    record the report beside the version. Nothing live changes here."""
    handle = IndexHandle(Path(index_ref["path"]))
    queries = load_eval_queries(dataset["path"])
    rows = evaluate_text_retrieval(handle, encoder, queries, progress=progress)
    for row in rows:
        row.update({"tenant": tenant, "modality": FAQ, "model": encoder.name, "index_version": handle.version})
    store = index_store(layout, tenant)
    config = load_tenant_config(layout.tenant_data(tenant)).gate_config(gates)
    live_version = store.live_version()
    live_report = store.evaluation(live_version) if live_version and live_version != handle.version else None
    failures = gate_failures(rows, config, sorted(dataset["languages"]), live_report["rows"] if live_report else None)
    report = {
        "tenant": tenant,
        "modality": FAQ,
        "index_version": handle.version,
        "encoder": handle.manifest["encoder"],
        "dataset_fingerprint": dataset["fingerprint"],
        "evaluated_at": now_iso(),
        "run_id": run_id,
        "gates": config.to_dict(),
        "gate_passed": not failures,
        "gate_failures": failures,
        "compared_to_live": live_version if live_report else None,
        "summary": summarize(rows),
        "rows": rows,
    }
    atomic_write_json(store.version_dir(handle.version) / "evaluation.json", report)
    store.record_candidate({"version": handle.version, "gate_passed": not failures, "gate_failures": failures,
                            "evaluated_at": report["evaluated_at"], "run_id": run_id})
    return report


# --- 5. live pointer ------------------------------------------------------------------------------

class GateFailed(RuntimeError):
    """The candidate did not pass its gates; the live pointer was left alone."""


def promote_faq_index(layout: Layout, tenant: str, report: dict, gates: GateConfig, run_id: str) -> dict:
    """Swap the live pointer to the evaluated version, re-checking the gates against whatever
    is live right now. Raises GateFailed and changes nothing when they fail."""
    store = index_store(layout, tenant)
    tenant_cfg = load_tenant_config(layout.tenant_data(tenant))
    config = tenant_cfg.gate_config(gates)
    live_version = store.live_version()
    live_report = store.evaluation(live_version) if live_version and live_version != report["index_version"] else None
    languages = sorted({r["language"] for r in report["rows"]})
    failures = list(report["gate_failures"]) or gate_failures(report["rows"], config, languages,
                                                              live_report["rows"] if live_report else None)
    if failures:
        raise GateFailed(f"{tenant}/{FAQ} candidate {report['index_version']} not promoted: " + "; ".join(failures))
    entry = store.promote(report["index_version"], run_id, report["summary"],
                          keep=tenant_cfg.keep_versions or DEFAULT_KEEP_VERSIONS)
    return {"live_version": report["index_version"], "previous_version": live_version, "swapped": entry is not None,
            "audit": entry}
