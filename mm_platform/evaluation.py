"""Retrieval evaluation of an index version on held-out queries, per language."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Callable

import numpy as np

from .encoders.base import TextEncoder
from .index import IndexHandle
from .metrics import f1_macro, latency_percentiles_ms, mean_reciprocal_rank, recall_at_k

METRIC_KEYS = ("n_queries", "recall_at_1", "recall_at_5", "mrr", "f1_macro", "latency_p50_ms",
               "latency_p95_ms", "latency_p99_ms", "throughput_qps", "error_rate")


def evaluate_text_retrieval(
    handle: IndexHandle,
    encoder: TextEncoder,
    queries: list[dict],
    k: int = 5,
    progress: Callable[[str, int], None] | None = None,
) -> list[dict]:
    """One row per language: quality of the top hits and cost of the whole query path.

    Each query runs the path a user's request takes (encode one text, search the index
    restricted to the query's language) and is timed on its own; throughput is the batched
    path (encode all, search all). A query that raises counts as an error and a miss.
    """
    if encoder.key != handle.manifest["encoder_key"]:
        raise RuntimeError(
            f"encoder {encoder.key} differs from {handle.manifest['encoder_key']} that built index {handle.version}"
        )
    by_language: dict[str, list[dict]] = defaultdict(list)
    for q in queries:
        by_language[q["language"]].append(q)
    encoder.encode(["warm-up"])  # first-call costs are not query latency
    rows = []
    for language in sorted(by_language):
        items = by_language[language]
        ranked, predicted, latencies, errors = [], [], [], 0
        for q in items:
            started = time.perf_counter()
            try:
                hits = handle.search(encoder.encode([q["query"]]), k=k, language=language)[0]
            except Exception:  # noqa: BLE001 - an error is a measured outcome here
                errors += 1
                hits = []
            latencies.append(time.perf_counter() - started)
            labels = [h.row["annotation"] for h in hits]
            ranked.append(labels)
            predicted.append(labels[0] if labels else None)
        truth = [q["annotation"] for q in items]
        started = time.perf_counter()
        handle.search(encoder.encode([q["query"] for q in items]), k=k, language=language)
        batched = time.perf_counter() - started
        rows.append(
            {
                "language": language,
                "n_queries": len(items),
                "recall_at_1": round(recall_at_k(ranked, truth, 1), 4),
                "recall_at_5": round(recall_at_k(ranked, truth, 5), 4),
                "mrr": round(mean_reciprocal_rank(ranked, truth), 4),
                "f1_macro": round(f1_macro(predicted, truth), 4),
                **latency_percentiles_ms(latencies),
                "throughput_qps": round(len(items) / batched, 1) if batched > 0 else 0.0,
                "error_rate": round(errors / len(items), 5),
            }
        )
        if progress:
            progress(language, len(items))
    return rows


def summarize(rows: list[dict]) -> dict:
    """Query-weighted means across languages (for plots and audit entries)."""
    total = sum(r["n_queries"] for r in rows)
    if not total:
        return {}
    out = {m: round(float(np.average([r[m] for r in rows], weights=[r["n_queries"] for r in rows])), 4)
           for m in ("recall_at_1", "recall_at_5", "mrr", "f1_macro", "error_rate")}
    out["latency_p95_ms"] = max(r["latency_p95_ms"] for r in rows)
    out["n_queries"] = total
    return out
