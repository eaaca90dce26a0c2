"""Step 1-2: a tenant's input of one modality validated into an immutable dataset (bad rows quarantined,
unchanged rows not parsed again), and the derived rows of modalities that have them (transcripts)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Callable

from mm_platform.atomic import atomic_write_json, publish_dir, write_jsonl
from mm_platform.encoders.models import ModelSet
from mm_platform.indexing.versions import prune_folders
from mm_platform.inputs.tenancy import Layout, tenant_fingerprint
from mm_platform.inputs.tenant_config import load_tenant_config
from mm_platform.inputs.validation import InputFileError, quarantine_rate
from mm_platform.modalities.base import Modality
from mm_platform.modalities.registry import query_fields
from mm_platform.pipeline.tenant import DEFAULT_KEEP_VERSIONS, index_store

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
#: bump when validation rules change, so an unchanged input folder is validated again
VALIDATION_SCHEMA = 1
LATEST_FILE = "LATEST.json"
ROW_CACHE_FILE = "row_cache.json"


def absent(ref: dict) -> bool:
    return not ref.get("present", True)


# --- 1. validated dataset -------------------------------------------------------------------

def validate(layout: Layout, tenant: str, modality: Modality) -> dict:
    """Validate a tenant's input of one modality into an immutable Hugging Face dataset folder.

    Bad rows go to `quarantine/<modality>.jsonl` with file, row, field and reason. Raises
    InputFileError (nothing written, nothing live touched) when a whole file is unusable. A
    tenant without this modality's input (or with it disabled) gets an `absent` reference.

    Only what changed is parsed: an input folder whose fingerprint (every file's path, size and
    modification time) equals the last validated one returns that dataset at once (`unchanged`),
    and otherwise a record whose content (and media files) did not change reuses its last parse.
    """
    tenant_dir = layout.tenant_data(tenant)
    if not tenant_dir.is_dir():
        raise InputFileError(tenant_dir, "tenant folder not found")
    config = load_tenant_config(tenant_dir)  # a broken tenant.yaml fails here, before anything is written
    base = {"tenant": tenant, "modality": modality.name}
    if not config.enabled(modality.name):
        return {**base, "present": False, "reason": f"{modality.name} is not enabled in tenant.yaml"}
    if not modality.present(tenant_dir):
        absent_ref = {**base, "present": False, "reason": f"no {' or '.join(modality.input_files)} in the tenant folder"}
        live = index_store(layout, tenant, modality.name).live_version()
        if live:  # the input was there before: say what that means instead of going quiet
            absent_ref["warning"] = (f"{' / '.join(modality.input_files)} is gone from {tenant_dir}, but {modality.name} "
                                     f"version {live} stays live (nothing is deleted on a missing file); restore the "
                                     f"file, or disable {modality.name} in tenant.yaml to retire it on purpose")
            absent_ref["live_version"] = live
        return absent_ref
    root = layout.artifact(tenant, "datasets", modality.name)
    input_fingerprint = f"v{VALIDATION_SCHEMA}-{tenant_fingerprint(tenant_dir)}"
    latest = _read_json(root / LATEST_FILE)
    if latest and latest.get("input_fingerprint") == input_fingerprint and Path(latest["ref"]["path"]).is_dir():
        return {**latest["ref"], "unchanged": True, "reused_rows": latest["ref"]["rows"]}
    from datasets import ClassLabel, Dataset  # imported here: the unchanged path above never needs it

    cache = (_read_json(root / ROW_CACHE_FILE) or {}).get("records", {})
    parsed = modality.parse(tenant_dir, tenant, cache=cache)
    queries = modality.parse_queries(tenant_dir, tenant, known_fields=query_fields())
    if not parsed.rows:
        raise InputFileError(modality.input_path(tenant_dir), f"no valid rows ({len(parsed.quarantine)} quarantined)")
    labels = sorted({r["annotation"] for r in parsed.rows})
    queries = _drop_unknown_annotations(queries, set(labels), modality)
    quarantine = [q.to_dict() for q in parsed.quarantine + queries.quarantine]
    payload = json.dumps([parsed.rows, queries.rows], sort_keys=True, ensure_ascii=False, default=str).encode()
    fingerprint = hashlib.sha256(payload).hexdigest()[:16]
    folder = root / fingerprint
    with publish_dir(folder) as staging:
        dataset = Dataset.from_list(parsed.rows)
        dataset.cast_column("annotation", ClassLabel(names=labels)).save_to_disk(str(staging / "rows"))
        (staging / "eval_queries.json").write_text(json.dumps(queries.rows, ensure_ascii=False), "utf-8")
    quarantine_path = layout.quarantine_dir(tenant) / f"{modality.name}.jsonl"
    write_jsonl(quarantine_path, quarantine)
    prune_folders(root, DEFAULT_KEEP_VERSIONS, {fingerprint})
    by_pair = Counter((r["language"], r["annotation"]) for r in parsed.rows)
    ref = {
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
        "columns": sorted({k for r in parsed.rows for k in r}),
        "input_fingerprint": input_fingerprint,
        "reused_rows": parsed.reused,
    }
    atomic_write_json(root / ROW_CACHE_FILE, {"records": cache})
    atomic_write_json(root / LATEST_FILE, {"input_fingerprint": input_fingerprint, "ref": ref})
    return ref


def _drop_unknown_annotations(queries, labels: set[str], modality: Modality):
    """Evaluation queries whose expected answer no row has could only be scored as misses and would
    block the update without saying why: each is quarantined, named by its row."""
    from mm_platform.inputs.validation import QuarantineRecord

    kept, bad = [], []
    for query in queries.rows:
        if query["annotation"] in labels:
            kept.append(query)
        else:
            bad.append(QuarantineRecord(query.get("source_file", "eval_queries.json"), query.get("source_row"), "annotation",
                                        f"unknown annotation {query['annotation']!r}: no {modality.name} row has it, "
                                        "so the query could only be scored as a miss"))
    queries.rows[:] = kept
    queries.quarantine.extend(bad)
    return queries


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        return None


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
