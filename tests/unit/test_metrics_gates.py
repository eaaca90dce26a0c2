"""Metrics and gate decisions."""

import pytest

from mm_platform.gates import GateConfig, gate_failures
from mm_platform.metrics import (char_error_rate, f1_macro, latency_percentiles_ms, mean_reciprocal_rank,
                                 recall_at_k, word_error_rate)


def test_recall_and_mrr():
    ranked = [["a", "b"], ["b", "a"], ["c", "c"]]
    truth = ["a", "a", "a"]
    assert recall_at_k(ranked, truth, 1) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, truth, 2) == pytest.approx(2 / 3)
    assert mean_reciprocal_rank(ranked, truth) == pytest.approx((1 + 0.5 + 0) / 3)


def test_f1_macro_matches_hand_computation():
    truth = ["a", "a", "b", "b"]
    predicted = ["a", "b", "b", None]
    # a: tp1 fp0 fn1 -> 2/3 ; b: tp1 fp1 fn1 -> 1/2
    assert f1_macro(predicted, truth) == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert f1_macro(truth, truth) == 1.0


def test_latency_percentiles():
    out = latency_percentiles_ms([0.001] * 99 + [0.1])
    assert out["latency_p50_ms"] == pytest.approx(1.0)
    assert out["latency_p99_ms"] > out["latency_p95_ms"] >= 1.0


def test_error_rates():
    assert word_error_rate("a b c d", "a x c") == pytest.approx(0.5)
    assert char_error_rate("退货政策", "退款政策") == pytest.approx(0.25)


def _row(lang, f1=0.95, r1=0.95, p95=10.0, err=0.0, n=10):
    return {"language": lang, "n_queries": n, "f1_macro": f1, "recall_at_1": r1, "latency_p95_ms": p95,
            "error_rate": err, "index_version": "v1"}


def test_gates_pass_and_each_threshold_fails():
    config = GateConfig()
    assert gate_failures([_row("en"), _row("zh")], config, ["en", "zh"]) == []
    failures = gate_failures([_row("en", f1=0.5), _row("zh", r1=0.1), _row("ja", p95=900, err=0.5)], config,
                             ["en", "zh", "ja"])
    assert any(f.startswith("en: f1_macro 0.500 < 0.900") for f in failures)
    assert any(f.startswith("zh: recall_at_1") for f in failures)
    assert any("latency_p95_ms 900.0 > 500.0" in f for f in failures)
    assert any("error_rate" in f for f in failures)


def test_missing_eval_language_and_regression():
    config = GateConfig()
    assert gate_failures([_row("en")], config, ["en", "ja"]) == ["ja: no evaluation queries"]
    failures = gate_failures([_row("en", f1=0.91)], config, ["en"], live_rows=[_row("en", f1=0.99)])
    assert len(failures) == 1 and "f1_macro regressed 0.990 -> 0.910" in failures[0]
    assert gate_failures([_row("en", f1=0.98)], config, ["en"], live_rows=[_row("en", f1=0.99)]) == []


def test_gate_overrides_are_validated():
    assert GateConfig().with_overrides({"min_f1": 0.95}).min_f1 == 0.95
    with pytest.raises(ValueError, match="unknown gate setting"):
        GateConfig().with_overrides({"min_f2": 1})
    with pytest.raises(ValueError, match="must be a number"):
        GateConfig().with_overrides({"min_f1": "high"})
