"""Retrieval and classification metrics (plain numpy, no hidden dependencies)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def recall_at_k(ranked: Sequence[Sequence[str]], truth: Sequence[str], k: int) -> float:
    """Share of queries with at least one relevant item (same label) in the top k."""
    if not truth:
        return 0.0
    return float(np.mean([t in list(r)[:k] for r, t in zip(ranked, truth)]))


def mean_reciprocal_rank(ranked: Sequence[Sequence[str]], truth: Sequence[str]) -> float:
    if not truth:
        return 0.0
    scores = []
    for r, t in zip(ranked, truth):
        r = list(r)
        scores.append(1.0 / (r.index(t) + 1) if t in r else 0.0)
    return float(np.mean(scores))


def f1_macro(predicted: Sequence[str | None], truth: Sequence[str]) -> float:
    """Macro F1 over the classes seen in truth or predictions (a missing prediction is wrong)."""
    labels = sorted({t for t in truth} | {p for p in predicted if p is not None})
    if not labels:
        return 0.0
    f1s = []
    for label in labels:
        tp = sum(1 for p, t in zip(predicted, truth) if p == label and t == label)
        fp = sum(1 for p, t in zip(predicted, truth) if p == label and t != label)
        fn = sum(1 for p, t in zip(predicted, truth) if p != label and t == label)
        denom = 2 * tp + fp + fn
        f1s.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(f1s))


def latency_percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    if not seconds:
        return {"latency_p50_ms": 0.0, "latency_p95_ms": 0.0, "latency_p99_ms": 0.0}
    ms = np.asarray(seconds) * 1000.0
    return {f"latency_p{p}_ms": round(float(np.percentile(ms, p)), 3) for p in (50, 95, 99)}


def word_error_rate(reference: str, hypothesis: str) -> float:
    return _edit_rate(reference.split(), hypothesis.split())


def char_error_rate(reference: str, hypothesis: str) -> float:
    return _edit_rate([c for c in reference if not c.isspace()], [c for c in hypothesis if not c.isspace()])


def _edit_rate(ref: list, hyp: list) -> float:
    if not ref:
        return 0.0 if not hyp else 1.0
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / len(ref)
