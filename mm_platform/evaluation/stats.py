"""Statistics that match the sample: intervals for every quality figure, paired tests against
the live version, and the deterministic folds that keep choosing apart from reporting.

A gate passes on an interval's lower bound, so a small or noisy evaluation set cannot pass by
luck, and a candidate is said to regress only when a paired test on the same queries says so.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mm_platform.evaluation.metrics import NO_PREDICTION

CONFIDENCE = 0.95
RESAMPLES = 2000


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a proportion; (0, 1) for an empty sample.

    Written out (the same figures as scipy's `binomtest(...).proportion_ci(method="wilson")`, which
    a test checks) because importing `scipy.stats` costs about a second per process, more than
    a whole re-evaluation of a barely changed index."""
    from statistics import NormalDist

    if n <= 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p, z2 = successes / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _encode(predicted: Sequence[str | None], truth: Sequence[str], *more: Sequence[str | None]):
    labels = sorted(set(truth) | {p for seq in (predicted, *more) for p in seq if p not in (None, NO_PREDICTION)})
    code = {label: i for i, label in enumerate(labels)}

    def enc(seq):
        return np.array([code.get(p, -1) if p not in (None, NO_PREDICTION) else -1 for p in seq], dtype=np.int64)

    return len(labels), enc(truth), enc(predicted), [enc(seq) for seq in more]


def _onehot(codes: np.ndarray, classes: int) -> np.ndarray:
    out = np.zeros((len(codes), classes), dtype=np.float64)
    valid = codes >= 0
    out[np.nonzero(valid)[0], codes[valid]] = 1.0
    return out


def weighted_macro_f1(weights: np.ndarray, truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Macro F1 of each resample given as query multiplicities (`weights`: resamples x queries).

    The same figure as `metrics.f1_macro` (scikit-learn) for every resample: classes present in
    the resample's truth or predictions, a missing prediction wrong. Written with matrix products
    because scikit-learn costs ~3 ms a call and a bootstrap needs thousands of calls per cell
    (tests/unit/test_stats.py checks the two agree)."""
    t, p = _onehot(truth, classes), _onehot(predicted, classes)
    tp = weights @ (t * p)
    true_count, pred_count = weights @ t, weights @ p
    denom = true_count + pred_count  # = 2tp + fp + fn
    present = denom > 0
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=present)
    return f1.sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def _resample_weights(n: int, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)


def bootstrap_f1_interval(predicted: Sequence[str | None], truth: Sequence[str], confidence: float = CONFIDENCE,
                          resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of macro F1 (queries resampled with replacement)."""
    n = len(truth)
    if n == 0:
        return 0.0, 1.0
    classes, t, p, _ = _encode(predicted, truth)
    values = weighted_macro_f1(_resample_weights(n, resamples, seed), t, p, classes)
    alpha = (1 - confidence) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


@dataclass(frozen=True)
class PairedComparison:
    """Candidate minus live on the same queries."""

    n: int
    f1_delta: float
    f1_delta_low: float
    f1_delta_high: float
    #: top-1 correct for one and wrong for the other
    only_candidate_right: int
    only_live_right: int
    mcnemar_p: float

    @property
    def regressed(self) -> bool:
        """Worse with 95 % confidence: the F1 difference's interval lies below zero, or McNemar's
        exact test finds the live version right on significantly more queries."""
        worse_top1 = self.only_live_right > self.only_candidate_right and self.mcnemar_p < 1 - CONFIDENCE
        return self.f1_delta_high < 0 or worse_top1

    def to_dict(self) -> dict:
        return {"n": self.n, "f1_delta": round(self.f1_delta, 4),
                "f1_delta_ci": [round(self.f1_delta_low, 4), round(self.f1_delta_high, 4)],
                "only_candidate_right": self.only_candidate_right, "only_live_right": self.only_live_right,
                "mcnemar_p": round(self.mcnemar_p, 5), "regressed": self.regressed}


def mcnemar_exact_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar test: a binomial test on the discordant pairs (scipy)."""
    from scipy.stats import binomtest

    discordant = only_a + only_b
    return 1.0 if discordant == 0 else float(binomtest(only_a, discordant, 0.5).pvalue)


def paired_comparison(candidate: Sequence[str | None], live: Sequence[str | None], truth: Sequence[str],
                      confidence: float = CONFIDENCE, resamples: int = RESAMPLES, seed: int = 0) -> PairedComparison:
    """Paired bootstrap of the macro-F1 difference plus McNemar's test on top-1 correctness."""
    from mm_platform.evaluation.metrics import f1_macro

    n = len(truth)
    classes, t, c, (lv,) = _encode(candidate, truth, live)
    weights = _resample_weights(n, resamples, seed) if n else np.zeros((0, 0))
    deltas = (weighted_macro_f1(weights, t, c, classes) - weighted_macro_f1(weights, t, lv, classes)) if n else np.zeros(1)
    alpha = (1 - confidence) / 2
    right_c = [p == y for p, y in zip(candidate, truth)]
    right_l = [p == y for p, y in zip(live, truth)]
    only_c = sum(a and not b for a, b in zip(right_c, right_l))
    only_l = sum(b and not a for a, b in zip(right_c, right_l))
    return PairedComparison(
        n=n, f1_delta=f1_macro(candidate, truth) - f1_macro(live, truth) if n else 0.0,
        f1_delta_low=float(np.quantile(deltas, alpha)), f1_delta_high=float(np.quantile(deltas, 1 - alpha)),
        only_candidate_right=only_c, only_live_right=only_l, mcnemar_p=mcnemar_exact_p(only_c, only_l))


def query_key(query: dict) -> str:
    """Stable identity of an evaluation query (its fields, not its position in the file)."""
    fields = {k: v for k, v in sorted(query.items()) if k not in ("source_row", "source_file")}
    return hashlib.sha256(repr(fields).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def fold_of(query: dict, folds: int) -> int:
    """Deterministic fold of a query: the same query lands in the same fold in every run."""
    return int(query_key(query), 16) % folds
