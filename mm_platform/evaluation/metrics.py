"""Retrieval, classification and transcription metrics: one definition of each.

Classification figures come from scikit-learn and transcription error rates from `jiwer`; only
what neither library has (recall@k and MRR over ranked labels, latency percentiles) is written
here.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

#: stands for "no prediction" (an empty hit list): never a true label, so it always counts as wrong
NO_PREDICTION = "\x00none"


def recall_at_k(ranked: Sequence[Sequence[str]], truth: Sequence[str], k: int) -> float:
    """Share of queries with at least one relevant item (same label) in the top k."""
    if not truth:
        return 0.0
    return float(np.mean([t in list(r)[:k] for r, t in zip(ranked, truth)]))


def reciprocal_ranks(ranked: Sequence[Sequence[str]], truth: Sequence[str]) -> list[float]:
    """1 / rank of the first relevant item per query (0 when none is ranked)."""
    out = []
    for r, t in zip(ranked, truth):
        r = list(r)
        out.append(1.0 / (r.index(t) + 1) if t in r else 0.0)
    return out


def mean_reciprocal_rank(ranked: Sequence[Sequence[str]], truth: Sequence[str]) -> float:
    return float(np.mean(reciprocal_ranks(ranked, truth))) if truth else 0.0


def f1_macro(predicted: Sequence[str | None], truth: Sequence[str]) -> float:
    """Macro F1 (scikit-learn) over the classes seen in truth or predictions; a missing
    prediction (None) is wrong and is not a class of its own."""
    from sklearn.metrics import f1_score

    if not truth:
        return 0.0
    pred = [NO_PREDICTION if p is None else p for p in predicted]
    labels = sorted(set(truth) | {p for p in pred if p != NO_PREDICTION})
    return float(f1_score(list(truth), pred, labels=labels, average="macro", zero_division=0))


def latency_percentiles_ms(seconds: Sequence[float], prefix: str = "latency") -> dict[str, float]:
    if not len(seconds):
        return {f"{prefix}_p{p}_ms": 0.0 for p in (50, 95, 99)}
    ms = np.asarray(seconds) * 1000.0
    return {f"{prefix}_p{p}_ms": round(float(np.percentile(ms, p)), 3) for p in (50, 95, 99)}


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER (jiwer) over whitespace-separated words."""
    import jiwer

    if not reference.split():
        return 0.0 if not hypothesis.split() else 1.0
    return float(jiwer.wer(reference, hypothesis if hypothesis.strip() else ""))


def char_error_rate(reference: str, hypothesis: str) -> float:
    """CER (jiwer) over the characters that are not whitespace (zh and ja have no word spaces)."""
    import jiwer

    ref = "".join(c for c in reference if not c.isspace())
    hyp = "".join(c for c in hypothesis if not c.isspace())
    if not ref:
        return 0.0 if not hyp else 1.0
    return float(jiwer.cer(ref, hyp))
