"""Intervals, paired tests and folds (mm_platform.evaluation.stats)."""

import numpy as np
import pytest

from mm_platform.evaluation.metrics import f1_macro
from mm_platform.evaluation.stats import (
    _encode,
    bootstrap_f1_interval,
    fold_of,
    mcnemar_exact_p,
    paired_comparison,
    weighted_macro_f1,
    wilson_interval,
)


def test_resampled_macro_f1_is_scikit_learns_figure():
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        truth = [str(x) for x in rng.integers(0, 6, n)]
        predicted = [None if rng.random() < 0.1 else str(x) for x in rng.integers(0, 8, n)]
        classes, t, p, _ = _encode(predicted, truth)
        weights = rng.integers(0, 3, (1, n)).astype(float)
        if weights.sum() == 0:
            continue
        expanded = [i for i in range(n) for _ in range(int(weights[0, i]))]
        assert weighted_macro_f1(weights, t, p, classes)[0] == pytest.approx(
            f1_macro([predicted[i] for i in expanded], [truth[i] for i in expanded]))


def test_wilson_interval_brackets_the_proportion_and_narrows_with_n():
    lo, hi = wilson_interval(40, 50)
    assert lo < 0.8 < hi
    lo2, hi2 = wilson_interval(400, 500)
    assert lo2 > lo and hi2 < hi
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_bootstrap_interval_is_reproducible_and_wider_for_small_samples():
    truth = ["a", "b", "c", "d"] * 10
    predicted = truth[:30] + ["a"] * 10
    small = bootstrap_f1_interval(predicted, truth)
    assert small == bootstrap_f1_interval(predicted, truth)  # seeded
    assert small[0] < f1_macro(predicted, truth) < small[1]
    big = bootstrap_f1_interval(predicted * 10, truth * 10)
    assert big[1] - big[0] < small[1] - small[0]


def test_paired_comparison_detects_a_real_regression_and_not_noise():
    truth = ["a", "b", "c", "d", "e"] * 12
    live = list(truth)
    worse = list(truth)
    for i in range(0, 60, 3):  # 20 of 60 now wrong
        worse[i] = "zz"
    assert paired_comparison(worse, live, truth).regressed
    one_off = list(truth)
    one_off[0] = "zz"
    assert not paired_comparison(one_off, live, truth).regressed
    assert not paired_comparison(live, live, truth).regressed


def test_mcnemar_is_symmetric_and_one_when_nothing_differs():
    assert mcnemar_exact_p(0, 0) == 1.0
    assert mcnemar_exact_p(10, 1) == pytest.approx(mcnemar_exact_p(1, 10))
    assert mcnemar_exact_p(10, 1) < 0.05


def test_folds_are_deterministic_by_query_content():
    q = {"query": "can I return it?", "language": "en", "annotation": "Return policy", "source_row": 3}
    moved = {**q, "source_row": 99}  # the same query elsewhere in the file keeps its fold
    assert fold_of(q, 3) == fold_of(moved, 3)
    folds = [fold_of({"query": f"q{i}", "language": "en", "annotation": "x"}, 3) for i in range(300)]
    assert set(folds) == {0, 1, 2} and min(folds.count(f) for f in range(3)) > 70


def test_wilson_interval_matches_scipy():
    from scipy.stats import binomtest

    for successes, n in ((0, 1), (1, 1), (3, 7), (40, 50), (299, 300), (0, 120), (57, 120)):
        ci = binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
        lo, hi = wilson_interval(successes, n)
        assert abs(lo - ci.low) < 1e-9 and abs(hi - ci.high) < 1e-9, (successes, n)
