"""Metrics (scikit-learn, jiwer) and the interval-based gate verdicts."""

import pytest

from mm_platform.evaluation.gates import EXCUSED, FAIL, PASS, UNDERPOWERED, GateConfig, judge, judge_cell
from mm_platform.evaluation.metrics import (
    char_error_rate,
    f1_macro,
    latency_percentiles_ms,
    mean_reciprocal_rank,
    recall_at_k,
    word_error_rate,
)


def test_recall_and_mrr():
    ranked = [["a", "b"], ["b", "a"], ["c", "c"]]
    truth = ["a", "a", "a"]
    assert recall_at_k(ranked, truth, 1) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, truth, 2) == pytest.approx(2 / 3)
    assert mean_reciprocal_rank(ranked, truth) == pytest.approx((1 + 0.5 + 0) / 3)


def test_f1_macro_matches_hand_computation():
    truth = ["a", "a", "b", "b"]
    predicted = ["a", "b", "b", None]
    # a: tp1 fp0 fn1 -> 2/3 ; b: tp1 fp1 fn1 -> 1/2 ; a missing prediction is wrong, not a class
    assert f1_macro(predicted, truth) == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert f1_macro(truth, truth) == 1.0


def test_latency_percentiles():
    out = latency_percentiles_ms([0.001] * 99 + [0.1])
    assert out["latency_p50_ms"] == pytest.approx(1.0)
    assert out["latency_p99_ms"] > out["latency_p95_ms"] >= 1.0
    assert set(latency_percentiles_ms([0.002], "latency_cpu")) == {"latency_cpu_p50_ms", "latency_cpu_p95_ms",
                                                                  "latency_cpu_p99_ms"}


def test_error_rates_come_from_jiwer():
    assert word_error_rate("a b c d", "a x c") == pytest.approx(0.5)
    assert char_error_rate("退货政策", "退款政策") == pytest.approx(0.25)
    assert char_error_rate("退货 政策", "退货政策") == 0.0  # whitespace is not a character of zh/ja
    assert word_error_rate("", "") == 0.0 and word_error_rate("", "noise") == 1.0


def _row(cell, f1=0.95, r1=0.95, n=60, cpu=5.0, err=0.0, ci=0.05, **extra):
    return {"language": cell, "n_queries": n, "f1_macro": f1, "f1_macro_ci": [f1 - ci, min(1.0, f1 + ci)],
            "recall_at_1": r1, "recall_at_1_ci": [r1 - ci, min(1.0, r1 + ci)], "latency_cpu_p95_ms": cpu,
            "error_rate": err, **extra}


def test_a_gate_reads_the_interval_lower_bound_not_the_point():
    config = GateConfig(min_f1=0.8, min_recall_at_1=0.8)
    assert judge_cell(_row("en", f1=0.86, r1=0.9, ci=0.03), config)[0] == PASS
    verdict, reasons = judge_cell(_row("en", f1=0.86, r1=0.9, ci=0.10), config)  # point passes, low end does not
    assert verdict == FAIL and "95% CI low 0.760" in reasons[0]


def test_each_bound_fails_with_its_reason():
    config = GateConfig(min_f1=0.8, min_recall_at_1=0.8, max_latency_p95_ms=100, max_latency_ratio=1.5)
    cases = {"f1_macro": _row("en", f1=0.5), "recall_at_1": _row("en", r1=0.5), "latency_cpu_p95_ms": _row("en", cpu=150),
             "error_rate": _row("en", err=0.01), "the live version's": _row("en", latency_ratio_to_live=2.0),
             "wer": _row("en", wer=0.5),
             "regressed against live": _row("en", paired_vs_live={"regressed": True, "f1_delta": -0.1,
                                                                  "f1_delta_ci": [-0.2, -0.01], "only_live_right": 8,
                                                                  "only_candidate_right": 1, "mcnemar_p": 0.04})}
    for needle, row in cases.items():
        verdict, reasons = judge_cell(row, config)
        assert verdict == FAIL and any(needle in r for r in reasons), (needle, reasons)


def test_small_samples_are_underpowered_and_empty_cells_fail_unless_excused():
    config = GateConfig(min_n=30, min_f1=0.5, min_recall_at_1=0.5)
    assert judge_cell(_row("ja", n=12), config)[0] == UNDERPOWERED
    assert judge_cell(_row("ja", n=12), config, excuse="pilot tenant")[0] == EXCUSED
    empty = {"language": "ja", "n_queries": 0, "unsupported_reason": "ASR model tiny.en does not support ja"}
    verdict, reasons = judge_cell(empty, config)
    assert verdict == FAIL and "no scored queries (ASR model tiny.en does not support ja)" in reasons[0]
    assert judge_cell(empty, config, excuse="no Japanese phone line")[0] == EXCUSED


def test_judge_adds_missing_cells_and_applies_excuses():
    config = GateConfig(min_f1=0.5, min_recall_at_1=0.5)
    rows = [_row("en")]
    failures = judge(rows, config, ["en", "ja", "zh"], excuses={"zh": "no Chinese customers yet"})
    assert failures == ["ja: no scored queries (no evaluation queries)"]
    verdicts = {r["language"]: r["verdict"] for r in rows}
    assert verdicts == {"en": PASS, "ja": FAIL, "zh": EXCUSED}
    assert next(r for r in rows if r["language"] == "zh")["excused"] == "no Chinese customers yet"


def test_gate_overrides_are_validated():
    assert GateConfig().with_overrides({"min_f1": 0.95}).min_f1 == 0.95
    with pytest.raises(ValueError, match="unknown gate setting"):
        GateConfig().with_overrides({"min_f2": 1})
    with pytest.raises(ValueError, match="must be a number"):
        GateConfig().with_overrides({"min_f1": "high"})
