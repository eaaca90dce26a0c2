"""Step 5: the candidate evaluated with the exact models that built it (strategy chosen on one fold,
reported on the others), judged against its gates and the live version, recorded append-only."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from mm_platform.encoders.models import ModelSet
from mm_platform.evaluation.gates import ANY_LANGUAGE, GateConfig, judge
from mm_platform.evaluation.measure import DEFAULT_LATENCY_SAMPLES
from mm_platform.indexing.versions import IndexHandle, now_iso
from mm_platform.inputs.tenancy import Layout
from mm_platform.inputs.tenant_config import load_tenant_config
from mm_platform.modalities.base import Modality
from mm_platform.pipeline.inputs import absent, load_queries
from mm_platform.pipeline.tenant import gates_for, index_store
from mm_platform.retrieval.selection import SelectionSettings

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


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


def evaluation_inputs(queries: list[dict], config: GateConfig, settings: EvaluationSettings) -> str:
    """What an evaluation's figures depend on besides the version: its queries, gates and settings."""
    from mm_platform.evaluation.stats import query_key

    payload = json.dumps({"schema": EVALUATION_SCHEMA, "queries": sorted(query_key(q) for q in queries),
                          "gates": config.to_dict(), "latency_samples": settings.latency_samples,
                          "selection": settings.selection.to_dict()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


#: a candidate whose rows differ by at most this share from the live version's (same models, same
#: strategy) costs what the live version costs per query: its measured latency is carried over
SAME_COST_ROWS = 0.10


def same_cost(handle: IndexHandle, store, live_version: str, selection, live: dict) -> bool:
    """Whether a query costs the candidate what it costs the live version: the same models in every
    role, the same strategy and a row count within SAME_COST_ROWS (every row is scored per query)."""
    if selection is None or not live.get("strategy") or live["strategy"].get("id") != selection.strategy.id:
        return False
    live_manifest = json.loads((store.version_dir(live_version) / "manifest.json").read_text("utf-8"))
    same_models = version_models(handle).choices == ModelSet.from_specs(
        {**live_manifest["encoder"]["models"],
         **{m["role"]: m["model"] for m in live_manifest.get("views", {}).values()}}).choices
    rows, live_rows = handle.manifest["rows"], live_manifest["rows"]
    return same_models and abs(rows - live_rows) <= SAME_COST_ROWS * max(1, live_rows)


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
    from mm_platform.evaluation.stats import fold_of
    from mm_platform.retrieval.query_cache import QueryVectorCache
    from mm_platform.retrieval.retriever import Retriever
    from mm_platform.retrieval.selection import Selection, choose, fit_calibration
    from mm_platform.retrieval.strategy import Strategy, default_strategy

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
    vector_cache = QueryVectorCache(layout.artifact(tenant, "embeddings", modality.name, "queries"))
    live_record = (store.evaluation(live_version) or {}) if live_version and live_version != handle.version \
        and store.version_dir(live_version).exists() else {}
    # the reference: the live version, or (nothing live yet, e.g. the last candidate was refused)
    # the last evaluated candidate. Evaluated on these same queries and settings, what only a
    # change of queries, settings or models can change is carried over from it: the strategy
    # chosen on the choice fold and, at the same cost per query, the measured latency.
    reference_version, reference, reference_strategy = live_version, live_record, live.get("strategy")
    if not live_record:
        last = store.candidate() or {}
        version = last.get("version")
        if version and version != handle.version and store.version_dir(version).exists():
            reference_version, reference = version, store.evaluation(version) or {}
            reference_strategy = reference.get("strategy")
    inputs = evaluation_inputs(queries, config, settings)
    same_questions = bool(reference) and reference.get("inputs") == inputs
    selection, carried = None, None
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
        base = Retriever(handle, models)
        kept = Strategy.from_dict(reference_strategy) if same_questions and reference_strategy else None
        if kept is not None and set(kept.views) <= base.available_views():
            whose = "live" if reference_version == live_version else "last candidate's"
            selection = Selection(kept, [q for q in queries if fold_of(q, settings.selection.folds) == 0],
                                  [q for q in queries if fold_of(q, settings.selection.folds) != 0],
                                  note=f"kept the {whose} strategy {kept.id} (chosen on the same queries for "
                                       f"{reference_version})")
        else:
            selection = choose(base, queries, settings.selection, vector_cache=vector_cache)
        candidate = retriever_path(base.using(selection.strategy), "candidate", vector_cache=vector_cache)
        report_queries = selection.report_queries
    else:
        candidate = index_path(handle, modality, models, tenant_dir, "candidate")
        report_queries = queries
    live_path, live_outcomes = None, None
    if live_record:
        if (same_questions or candidate.expensive) and live_record.get("outcomes"):
            # the live version's recorded answers to the same queries (answering again would only
            # repeat them; a spoken query costs a second)
            live_outcomes = {o["key"]: o for o in live_record["outcomes"]}
        else:
            live_path = query_path(layout, tenant, modality, live_version, live.get("strategy"), "live")
    if same_questions and same_cost(handle, store, reference_version, selection, {"strategy": reference_strategy}):
        carried = {"version": reference_version, "rows": {r["language"]: r for r in reference.get("rows", [])}}
    rows, outcomes = evaluate_paths(
        candidate, report_queries, live=live_path, live_outcomes=live_outcomes, latency_samples=settings.latency_samples,
        extra=lambda scored: modality.extra_metrics(scored, models, tenant_dir), progress=progress,
        latency_from=None if candidate.expensive else carried)
    vector_cache.save()
    for path in (candidate, live_path):
        if getattr(path, "retriever", None) is not None:
            path.retriever.save_token_cache()
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
        "inputs": inputs,
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
