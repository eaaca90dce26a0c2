"""Evaluation gates that decide whether a candidate index may go live."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class GateConfig:
    """Thresholds a candidate must meet in every language before its pointer swap."""

    min_f1: float = 0.9
    min_recall_at_1: float = 0.85
    max_latency_p95_ms: float = 500.0
    max_error_rate: float = 0.001
    #: a metric may drop this much below the live version's before the swap is refused
    max_regression: float = 0.02
    #: speech: word / character error rate bounds for languages the ASR model supports
    max_wer: float = 0.15
    max_cer: float = 0.15
    #: every language of the dataset must have evaluation queries
    require_eval_queries: bool = True

    def with_overrides(self, overrides: dict | None) -> "GateConfig":
        if not overrides:
            return self
        known = {f.name: f.type for f in fields(self)}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ValueError(f"unknown gate setting(s): {', '.join(unknown)}; known: {', '.join(known)}")
        for name, value in overrides.items():
            expected = bool if name == "require_eval_queries" else (int, float)
            if not isinstance(value, expected) or (expected != bool and isinstance(value, bool)):
                raise ValueError(f"gate setting {name!r} must be {'true/false' if expected == bool else 'a number'}, got {value!r}")
        return replace(self, **overrides)

    def to_dict(self) -> dict:
        return asdict(self)


REGRESSION_METRICS = ("f1_macro", "recall_at_1")


def gate_failures(rows: list[dict], config: GateConfig, dataset_languages: list[str], live_rows: list[dict] | None = None) -> list[str]:
    """Human-readable reasons the candidate must not go live (empty: it passes)."""
    failures: list[str] = []
    by_language = {r["language"]: r for r in rows}
    if config.require_eval_queries:
        for language in dataset_languages:
            row = by_language.get(language)
            if row is None or (row["n_queries"] == 0 and not row.get("n_unsupported")):
                failures.append(f"{language}: no evaluation queries")
    for language, row in sorted(by_language.items()):
        if row["n_queries"] == 0:
            continue
        if row["f1_macro"] < config.min_f1:
            failures.append(f"{language}: f1_macro {row['f1_macro']:.3f} < {config.min_f1:.3f}")
        if row["recall_at_1"] < config.min_recall_at_1:
            failures.append(f"{language}: recall_at_1 {row['recall_at_1']:.3f} < {config.min_recall_at_1:.3f}")
        if row["latency_p95_ms"] > config.max_latency_p95_ms:
            failures.append(f"{language}: latency_p95_ms {row['latency_p95_ms']:.1f} > {config.max_latency_p95_ms:.1f}")
        if row["error_rate"] > config.max_error_rate:
            failures.append(f"{language}: error_rate {row['error_rate']:.4f} > {config.max_error_rate:.4f}")
        for metric, bound in (("wer", config.max_wer), ("cer", config.max_cer)):
            if row.get(metric) is not None and row[metric] > bound:
                failures.append(f"{language}: {metric} {row[metric]:.3f} > {bound:.3f}")
    for live in live_rows or []:
        cand = by_language.get(live["language"])
        if cand is None or cand["n_queries"] == 0:
            continue
        for metric in REGRESSION_METRICS:
            drop = live[metric] - cand[metric]
            if drop > config.max_regression:
                failures.append(
                    f"{live['language']}: {metric} regressed {live[metric]:.3f} -> {cand[metric]:.3f} "
                    f"(-{drop:.3f} > tolerance {config.max_regression:.3f}) against live {live.get('index_version', '?')}"
                )
    return failures
