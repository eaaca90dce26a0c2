"""Retrieval evaluation of an index version on held-out queries, per language."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

import numpy as np

from .index import IndexHandle
from .metrics import f1_macro, latency_percentiles_ms, mean_reciprocal_rank, recall_at_k
from .models import ModelSet
from .modalities.base import Modality

def evaluate_retrieval(
    handle: IndexHandle,
    modality: Modality,
    models: ModelSet,
    queries: list[dict],
    tenant_dir: Path,
    k: int = 5,
    progress: Callable[[str, int], None] | None = None,
    check_models: bool = True,
) -> list[dict]:
    """One row per language: quality of the top hits and cost of the whole query path.

    Each query runs the path a user's request takes (decode/transcribe/encode one query, search
    the index restricted to the query's language) and is timed on its own; throughput is the
    batched path. A query that raises counts as an error and a miss. Queries the configured
    models cannot answer (e.g. speech in a language the ASR model lacks) are counted and
    reported as unsupported, not scored.
    """
    if check_models and modality.embedding_key(models) != handle.manifest["encoder_key"]:
        raise RuntimeError(f"models {modality.embedding_key(models)} differ from "
                           f"{handle.manifest['encoder_key']} that built index {handle.version}")
    by_language: dict[str, list[dict]] = defaultdict(list)
    for q in queries:
        by_language[q["language"]].append(q)
    rows = []
    warmed = False
    for language in sorted(by_language):
        items, unsupported, reasons = [], 0, set()
        for q in by_language[language]:
            reason = modality.query_unsupported(q, models)
            if reason:
                unsupported += 1
                reasons.add(reason)
            else:
                items.append(q)
        if items and not warmed:  # first-call costs (lazy loads, JIT) are not query latency
            modality.encode_queries(items[:1], models, tenant_dir)
            warmed = True
        ranked, predicted, latencies, errors = [], [], [], 0
        for q in items:
            started = time.perf_counter()
            try:
                hits = handle.search(modality.encode_queries([q], models, tenant_dir), k=k, language=language)[0]
            except Exception:  # noqa: BLE001 - an error is a measured outcome here
                errors += 1
                hits = []
            latencies.append(time.perf_counter() - started)
            labels = [h.row["annotation"] for h in hits]
            ranked.append(labels)
            predicted.append(labels[0] if labels else None)
        truth = [q["annotation"] for q in items]
        throughput = 0.0
        if items and not modality.batched_throughput:
            throughput = round(len(items) / sum(latencies), 2) if sum(latencies) > 0 else 0.0
        elif items:
            started = time.perf_counter()
            handle.search(modality.encode_queries(items, models, tenant_dir), k=k, language=language)
            batched = time.perf_counter() - started
            throughput = round(len(items) / batched, 1) if batched > 0 else 0.0
        row = {
            "language": language,
            "n_queries": len(items),
            "recall_at_1": round(recall_at_k(ranked, truth, 1), 4),
            "recall_at_5": round(recall_at_k(ranked, truth, 5), 4),
            "mrr": round(mean_reciprocal_rank(ranked, truth), 4),
            "f1_macro": round(f1_macro(predicted, truth), 4) if items else 0.0,
            **latency_percentiles_ms(latencies),
            "throughput_qps": throughput,
            "error_rate": round(errors / len(items), 5) if items else 0.0,
            "n_unsupported": unsupported,
            "unsupported_reason": "; ".join(sorted(reasons)) or None,
        }
        rows.append(row)
        if progress:
            progress(language, len(items))
    extra = modality.extra_metrics(queries, models, tenant_dir)  # after the timed pass, which it may reuse
    for row in rows:
        row.update(extra.get(row["language"], {}))
    return rows


def summarize(rows: list[dict]) -> dict:
    """Query-weighted means across languages (for plots and audit entries)."""
    scored = [r for r in rows if r["n_queries"]]
    total = sum(r["n_queries"] for r in scored)
    if not total:
        return {"n_queries": 0}
    weights = [r["n_queries"] for r in scored]
    out = {m: round(float(np.average([r[m] for r in scored], weights=weights)), 4)
           for m in ("recall_at_1", "recall_at_5", "mrr", "f1_macro", "error_rate")}
    out["latency_p95_ms"] = max(r["latency_p95_ms"] for r in scored)
    out["n_queries"] = total
    return out
