"""The steps of a tenant x modality pipeline as plain functions. The Dagster assets and the CLI
call these, so every step is testable without a Dagster instance, and every modality goes
through the same steps: validate -> (derive) -> embed -> index -> evaluate -> promote."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from mm_platform.atomic import atomic_write_json, publish_dir, write_jsonl
from mm_platform.encoders.models import DEFAULT_MODELS, ModelSet
from mm_platform.evaluation.gates import ANY_LANGUAGE, GateConfig, judge
from mm_platform.evaluation.measure import DEFAULT_LATENCY_SAMPLES
from mm_platform.indexing.embeddings import embed_incremental, load_embeddings
from mm_platform.indexing.store import IndexStore
from mm_platform.indexing.versions import IndexHandle, build_index_version, now_iso, prune_folders
from mm_platform.inputs.tenancy import Layout, confine
from mm_platform.inputs.tenant_config import load_tenant_config
from mm_platform.inputs.validation import InputFileError, content_hash, quarantine_rate
from mm_platform.modalities.base import Modality
from mm_platform.modalities.registry import query_fields
from mm_platform.retrieval.selection import SelectionSettings

log = logging.getLogger(__name__)
FAQ = "faq"
DEFAULT_KEEP_VERSIONS = 5
Progress = Callable[[int, int], None]


def index_store(layout: Layout, tenant: str, modality: str = FAQ) -> IndexStore:
    return IndexStore(layout.artifact(tenant, "indexes", modality), tenant, modality)


def tenant_models(layout: Layout, tenant: str, defaults: dict | None = None,
                  max_query_cpu_ms: float | None = None) -> ModelSet:
    """The platform's model choices by role, overridden by the tenant's `tenant.yaml`. The second
    text encoder is kept only where it loads and its query cost fits the tenant's retrieval budget
    (`retrieval.max_query_cpu_ms`): its views would otherwise be computed for nothing."""
    from mm_platform.encoders.models import DISABLED

    cfg = load_tenant_config(layout.tenant_data(tenant))
    choices = {role: dict(spec) for role, spec in (defaults or DEFAULT_MODELS).items()}
    choices.update(cfg.models)
    choices = {role: spec for role, spec in choices.items() if spec.get("name") != DISABLED}
    models = ModelSet(choices=choices)
    if models.has("text2"):
        budget = cfg.retrieval.get("max_query_cpu_ms", max_query_cpu_ms if max_query_cpu_ms is not None
                                   else SelectionSettings().max_query_cpu_ms)
        try:
            cost = encoder_query_cost_ms(models.get("text")) + encoder_query_cost_ms(models.get("text2"))
        except (ImportError, OSError, ValueError) as exc:
            log.warning("second text encoder %s unavailable: %s", choices["text2"].get("name"), exc)
            cost = None
        if cost is None or cost > budget:
            choices.pop("text2")
            models = ModelSet(choices=choices)
    return models


def encoder_query_cost_ms(encoder) -> float:
    """CPU ms of one query through a text encoder (measured once per loaded model)."""
    from mm_platform.evaluation.timing import cpu_cost_ms

    cost = getattr(encoder, "_query_cost_ms", None)
    if cost is None:
        cost = cpu_cost_ms(lambda i: encoder.encode_queries([f"how long does delivery take {i}"]))
        encoder._query_cost_ms = cost
    return cost


def gates_for(layout: Layout, tenant: str, modality: Modality, base: GateConfig) -> GateConfig:
    """The built-in defaults, then the modality's own defaults, then what the platform configured
    (a platform setting that differs from the built-in default wins over the modality's), then the
    tenant's tenant.yaml."""
    tenant_cfg = load_tenant_config(layout.tenant_data(tenant))
    builtin = GateConfig()
    modality_defaults = {k: v for k, v in modality.default_gates.items() if getattr(base, k) == getattr(builtin, k)}
    return tenant_cfg.gate_config(base.with_overrides(modality_defaults), modality.name)


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
    """Row vectors aligned with the dataset (the main vector and any extra views); only new
    (content hash, model key) pairs are computed."""
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
    views = {}
    for view in modality.extra_views(models):
        encoder = models.get(view.role)
        texts = [view.text(r) for r in rows]
        view_key = f"{view.name.split('@')[0]}@{encoder.key}"
        view_root = layout.artifact(tenant, "embeddings", modality.name, view_key)
        views[view.name] = {**embed_incremental(
            [content_hash(r["language"], t) for r, t in zip(rows, texts)],
            lambda idx, texts=texts, encoder=encoder: encoder.encode([texts[i] for i in idx]),
            dim=encoder.dim, key=view_key, spec={view.role: encoder.spec()}, encoder_root=view_root,
            progress=progress), "role": view.role, "dim": encoder.dim, "model": encoder.spec()}
        prune_folders(view_root, DEFAULT_KEEP_VERSIONS, {views[view.name]["snapshot"]})
    return {**ref, "tenant": tenant, "modality": modality.name, "present": True, "models": models.specs(modality.roles),
            "dim": modality.dim(models), "dataset_fingerprint": dataset["fingerprint"], "views": views,
            "computed_all_views": ref["computed"] + sum(v["computed"] for v in views.values()),
            "reused_all_views": ref["reused"] + sum(v["reused"] for v in views.values())}


# --- 4. candidate index -----------------------------------------------------------------------

def build_index(layout: Layout, tenant: str, modality: Modality, dataset: dict, embeddings: dict,
                index_type: str = "flat") -> dict:
    if absent(dataset):
        return dataset
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
    return {"present": True, **build_index_version(
        store.versions_root, rows, vectors, {**embeddings["models"][main_role], "models": embeddings["models"]},
        embeddings["encoder_key"], tenant=tenant, modality=modality.name,
        dataset_fingerprint=dataset["fingerprint"], index_type=index_type, views=views,
        files=lambda ordered_rows, ordered_views: modality.version_files(
            ordered_rows, {f"q@{main_role}": ordered_views.get("__main__"), **ordered_views}))}


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


# --- 5. evaluation ------------------------------------------------------------------------------

EVALUATION_SCHEMA = 2  # bump when the evaluation changes what it measures (records of older ones are re-made)


@dataclass(frozen=True)
class EvaluationSettings:
    latency_samples: int = DEFAULT_LATENCY_SAMPLES
    selection: SelectionSettings = SelectionSettings()

    def for_tenant(self, tenant_cfg) -> "EvaluationSettings":
        return replace(self, selection=replace(self.selection, **tenant_cfg.retrieval)) if tenant_cfg.retrieval else self


def version_models(handle: IndexHandle) -> ModelSet:
    """The exact models that built a version: its main roles plus those of its extra views."""
    specs = dict(handle.manifest["encoder"]["models"])
    for meta in handle.manifest.get("views", {}).values():
        specs.setdefault(meta["role"], meta["model"])
    return ModelSet.from_specs(specs)


def query_path(layout: Layout, tenant: str, modality: Modality, version: str, strategy: dict | None,
               name: str):
    """How `version` of a tenant's modality answers queries (FAQ: with its retrieval strategy)."""
    from mm_platform.evaluation.measure import index_path, retriever_path, transcribing_path
    from mm_platform.retrieval.retriever import Retriever
    from mm_platform.retrieval.strategy import Strategy

    handle = IndexHandle(index_store(layout, tenant, modality.name).version_dir(version))
    models = version_models(handle)
    if modality.strategies:
        plain = Strategy()  # versions served before strategies existed: the main vector alone
        retriever = Retriever(handle, models, Strategy.from_dict(strategy) if strategy else plain)
        if "asr" in models.choices:
            return transcribing_path(retriever, modality, models, layout.tenant_data(tenant), name)
        return retriever_path(retriever, name)
    return index_path(handle, modality, models, layout.tenant_data(tenant), name)


def evaluation_key(version: str, queries: list[dict], config: GateConfig, settings: EvaluationSettings) -> str:
    from mm_platform.evaluation.stats import query_key

    payload = json.dumps({"schema": EVALUATION_SCHEMA, "version": version, "queries": sorted(query_key(q) for q in queries),
                          "gates": config.to_dict(), "latency_samples": settings.latency_samples,
                          "selection": settings.selection.to_dict()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def evaluate(layout: Layout, tenant: str, modality: Modality, dataset: dict, index_ref: dict, gates: GateConfig,
             run_id: str, progress: Callable[[str, int], None] | None = None,
             settings: EvaluationSettings = EvaluationSettings(), force: bool = False) -> dict:
    """Evaluate the candidate with the exact models that built it (for the FAQ: choose its retrieval
    strategy on one fold, report on the others), decide its gates (absolute, and paired against the
    live version on the same queries) and append the record beside the version. Nothing live
    changes here. An unchanged version evaluated before on the same queries is not re-evaluated
    (its latest record is returned, marked `unchanged`) unless `force`."""
    from mm_platform.evaluation.measure import evaluate_paths, index_path, retriever_path, summarize, transcribing_path
    from mm_platform.retrieval.retriever import Retriever
    from mm_platform.retrieval.selection import Selection, choose, fit_calibration
    from mm_platform.retrieval.strategy import default_strategy

    if absent(dataset):
        return dataset
    handle = IndexHandle(Path(index_ref["path"]))
    models = version_models(handle)
    queries = load_queries(dataset["path"])
    store = index_store(layout, tenant, modality.name)
    tenant_cfg = load_tenant_config(layout.tenant_data(tenant))
    settings = settings.for_tenant(tenant_cfg)
    config = gates_for(layout, tenant, modality, gates)
    live = store.live() or {}
    live_version = live.get("version")
    key = evaluation_key(handle.version, queries, config, settings)
    latest = store.evaluation(handle.version)
    if latest and latest.get("evaluation_key") == key and not force:
        note = "already live, unchanged" if live_version == handle.version else "unchanged: evaluated before on the same queries"
        return {**latest, "unchanged": True, "note": note}
    tenant_dir = layout.tenant_data(tenant)
    selection = None
    spoken = modality.strategies and "asr" in models.choices
    if spoken:
        # a spoken query costs a second of transcription: no fold is spent on choosing, the default
        # strategy is evaluated on every query (its calibration is fitted on their transcripts after)
        retriever = Retriever(handle, models, default_strategy(Retriever(handle, models).available_roles))
        selection = Selection(retriever.strategy, [], list(queries),
                              note="spoken queries: the default strategy on every query (no choice fold)")
        candidate = transcribing_path(retriever, modality, models, tenant_dir, "candidate")
        report_queries = queries
    elif modality.strategies:
        selection = choose(Retriever(handle, models), queries, settings.selection)
        candidate = retriever_path(Retriever(handle, models, selection.strategy), "candidate")
        report_queries = selection.report_queries
    else:
        candidate = index_path(handle, modality, models, tenant_dir, "candidate")
        report_queries = queries
    live_path, live_outcomes = None, None
    if live_version and live_version != handle.version and store.version_dir(live_version).exists():
        live_record = store.evaluation(live_version) or {}
        if candidate.expensive and live_record.get("outcomes"):
            # a spoken query costs a second: the live version's recorded answers to the same queries
            live_outcomes = {o["key"]: o for o in live_record["outcomes"]}
        else:
            live_path = query_path(layout, tenant, modality, live_version, live.get("strategy"), "live")
    rows, outcomes = evaluate_paths(
        candidate, report_queries, live=live_path, live_outcomes=live_outcomes, latency_samples=settings.latency_samples,
        extra=lambda scored: modality.extra_metrics(scored, models, tenant_dir), progress=progress)
    if spoken:
        transcribed = [{"query": modality.transcript_of(q, models, tenant_dir), "language": q["language"],
                        "annotation": q["annotation"]} for q in queries if not modality.query_unsupported(q, models)]
        selection.strategy = selection.strategy.with_calibration(
            fit_calibration(retriever, selection.strategy, transcribed) if transcribed else None)
    model_name = " + ".join(sorted({spec["name"] for spec in models.choices.values()}))
    for row in rows:
        row.update({"tenant": tenant, "modality": modality.name, "model": model_name, "index_version": handle.version})
        if row.get("paired_vs_live"):
            row["paired_vs_live"]["live_version"] = live_version
        if selection:
            row["strategy"] = selection.strategy.id
    cells = [ANY_LANGUAGE] if getattr(modality, "language_free_queries", False) else sorted(dataset["languages"])
    failures = judge(rows, config, cells, tenant_cfg.excuses_for(modality.name))
    report = {
        "present": True,
        "tenant": tenant,
        "modality": modality.name,
        "index_version": handle.version,
        "encoder": handle.manifest["encoder"],
        "dataset_fingerprint": dataset["fingerprint"],
        "evaluated_at": now_iso(),
        "run_id": run_id,
        "evaluation_key": key,
        "gates": config.to_dict(),
        "gate_passed": not failures,
        "gate_failures": failures,
        "compared_to_live": live_version if live_version and live_version != handle.version else None,
        "strategy": selection.strategy.to_dict() if selection else None,
        "selection": selection.to_dict() if selection else None,
        "settings": {"latency_samples": settings.latency_samples, **settings.selection.to_dict()},
        "summary": summarize(rows),
        "rows": rows,
        "outcomes": outcomes,
    }
    store.append_evaluation(handle.version, report)
    store.record_candidate({"version": handle.version, "gate_passed": not failures, "gate_failures": failures,
                            "evaluated_at": report["evaluated_at"], "run_id": run_id,
                            "strategy": report["strategy"]})
    return report


# --- 6. live pointer ------------------------------------------------------------------------------

class GateFailed(RuntimeError):
    """The candidate did not pass its gates; the live pointer was left alone."""


def promote(layout: Layout, tenant: str, modality: Modality, report: dict, gates: GateConfig, run_id: str) -> dict:
    """Swap the live pointer to the evaluated version and strategy. The record's verdict must be a
    pass and, when the live version changed since the evaluation, the candidate must have been
    compared with what is live now. Raises GateFailed and changes nothing otherwise."""
    if absent(report):
        return {"present": False, "reason": report.get("reason"), "swapped": False, "live_version": None}
    store = index_store(layout, tenant, modality.name)
    tenant_cfg = load_tenant_config(layout.tenant_data(tenant))
    live_version = store.live_version()
    failures = list(report["gate_failures"])
    if not failures and live_version not in (None, report["index_version"], report.get("compared_to_live")):
        failures.append(f"the live version changed to {live_version} after this candidate was evaluated against "
                        f"{report.get('compared_to_live') or 'nothing'}; evaluate it again")
    if failures:
        raise GateFailed(f"{tenant}/{modality.name} candidate {report['index_version']} not promoted: " + "; ".join(failures))
    entry = store.promote(report["index_version"], run_id, report["summary"],
                          keep=tenant_cfg.keep_versions or DEFAULT_KEEP_VERSIONS, strategy=report.get("strategy"))
    return {"present": True, "live_version": report["index_version"], "previous_version": live_version,
            "swapped": entry is not None, "audit": entry, "strategy": (report.get("strategy") or {}).get("id")}
