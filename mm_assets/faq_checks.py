"""Asset checks of the FAQ pipeline. Blocking ones gate the live swap: when one fails, the
assets downstream of it (and so the pointer swap) do not run."""


import dagster as dg
import numpy as np

from mm_platform import pipeline
from mm_platform.embeddings import load_embeddings
from mm_platform.encoders.text import load_from_spec
from mm_platform.index import IndexHandle
from resources import PlatformResource, QualityResource

from .faq import EMBEDDINGS, EVALUATION, INDEX_CANDIDATE, VALIDATED
from .partitions import tenant_partitions

REQUIRED_COLUMNS = {"id", "question", "answer", "language", "annotation", "content_hash", "tenant"}
_check = dict(blocking=True, partitions_def=tenant_partitions)


@dg.asset_check(asset=VALIDATED, **_check)
def schema_and_quarantine_rate(validated_dataset: dict, quality: QualityResource) -> dg.AssetCheckResult:
    """The saved dataset has the contract's columns (annotation class-encoded) and the share of
    quarantined rows stays under the configured bound."""
    from datasets import ClassLabel, load_from_disk

    dataset = load_from_disk(validated_dataset["path"] + "/faq")
    missing = sorted(REQUIRED_COLUMNS - set(dataset.column_names))
    class_encoded = isinstance(dataset.features.get("annotation"), ClassLabel)
    rate = validated_dataset["quarantine_rate"]
    problems = ([f"missing columns {missing}"] if missing else []) + \
        ([] if class_encoded else ["annotation is not class-encoded"]) + \
        ([f"quarantine rate {rate:.1%} > {quality.max_quarantine_rate:.1%}"] if rate > quality.max_quarantine_rate else [])
    return dg.AssetCheckResult(passed=not problems, metadata={
        "quarantine_rate": rate, "quarantined": validated_dataset["quarantined"], "rows": len(dataset),
        "problems": "; ".join(problems) or "none"})


@dg.asset_check(asset=VALIDATED, **_check)
def all_languages_present(validated_dataset: dict, quality: QualityResource) -> dg.AssetCheckResult:
    """Every required language (zh, en, ja by default) has at least one valid FAQ row."""
    missing = [lang for lang in quality.required_languages if not validated_dataset["languages"].get(lang)]
    return dg.AssetCheckResult(passed=not missing, metadata={
        "rows_per_language": dg.MetadataValue.json(validated_dataset["languages"]),
        "missing": ", ".join(missing) or "none"})


@dg.asset_check(asset=EMBEDDINGS, **_check)
def embeddings_finite_normalized(embeddings: dict) -> dg.AssetCheckResult:
    """Every vector is finite, has the encoder's dimension and unit length."""
    _, vectors = load_embeddings(embeddings["path"])
    finite = bool(np.isfinite(vectors).all())
    dim_ok = vectors.ndim == 2 and vectors.shape[1] == embeddings["encoder"]["dim"]
    norms = np.linalg.norm(vectors, axis=1) if vectors.size else np.ones(1)
    worst = float(np.max(np.abs(norms - 1.0))) if finite else float("nan")
    passed = finite and dim_ok and worst < 1e-3 and len(vectors) == embeddings["rows"]
    return dg.AssetCheckResult(passed=passed, metadata={
        "rows": int(len(vectors)), "dim": int(vectors.shape[1]) if vectors.ndim == 2 else -1,
        "expected_dim": embeddings["encoder"]["dim"], "all_finite": finite, "max_norm_deviation": worst})


@dg.asset_check(asset=INDEX_CANDIDATE, additional_ins={"dataset": dg.AssetIn(VALIDATED)}, **_check)
def index_rows_match_dataset(index_candidate: dict, dataset: dict) -> dg.AssetCheckResult:
    """The index holds exactly one vector per valid dataset row, and its row map agrees."""
    handle = IndexHandle(index_candidate["path"])
    counts = {"dataset_rows": dataset["rows"], "index_vectors": int(handle.index.ntotal), "row_map": len(handle.rows),
              "manifest_rows": handle.manifest["rows"]}
    return dg.AssetCheckResult(passed=len(set(counts.values())) == 1, metadata=counts)


@dg.asset_check(asset=INDEX_CANDIDATE, **_check)
def tenant_isolation_canary(context: dg.AssetCheckExecutionContext, index_candidate: dict,
                            platform: PlatformResource) -> dg.AssetCheckResult:
    """Other tenants' questions sent to this tenant's candidate return only this tenant's rows
    (0 leaks), and no file of the version lies outside the tenant's storage folder."""
    layout = platform.layout()
    tenant = context.partition_key
    others = [t for t in layout.discover_tenants()[0] if t != tenant]
    encoder = load_from_spec(index_candidate["encoder"])
    result = pipeline.isolation_canary(layout, tenant, index_candidate, encoder, others)
    return dg.AssetCheckResult(passed=result["leaks"] == 0 and not result["paths_outside_tenant"], metadata={
        "probes": result["probes"], "leaks": result["leaks"], "leaked_ids": ", ".join(result["leaked_ids"]) or "none",
        "paths_outside_tenant": len(result["paths_outside_tenant"]), "other_tenants": ", ".join(others) or "none"})


@dg.asset_check(asset=EVALUATION, **_check)
def evaluation_gates(evaluation: dict) -> dg.AssetCheckResult:
    """F1, recall@1, latency p95 and error rate per language meet the thresholds, and nothing
    regressed beyond the tolerance against the live version."""
    return dg.AssetCheckResult(passed=evaluation["gate_passed"], metadata={
        "index_version": evaluation["index_version"],
        "failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in evaluation["gate_failures"]) or "none"),
        "compared_to_live": evaluation["compared_to_live"] or "none",
        "thresholds": dg.MetadataValue.json(evaluation["gates"])})


FAQ_CHECKS = [schema_and_quarantine_rate, all_languages_present, embeddings_finite_normalized,
              index_rows_match_dataset, tenant_isolation_canary, evaluation_gates]
