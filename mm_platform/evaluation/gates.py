"""Evaluation gates that decide whether a candidate index may go live.

Every evaluated cell (tenant x modality x language, or x "any" for photo and clip queries, which
have no language) gets one verdict:

- `pass`: enough scored queries and every bound met;
- `fail`: a bound missed, or nothing was scored at all (with the reason);
- `underpowered`: fewer than `min_n` scored queries: too few to tell, so it cannot pass;
- `excused`: nothing (or too little) was scored and `tenant.yaml` gives the reason why that is fine.

Quality bounds apply to the lower end of the 95 % interval, not to the point estimate, so a cell
passes only when its sample supports the bound. Latency is bounded on the CPU time one query
costs (a busy machine barely moves it) and, where a live version exists, on the ratio to the live
version timed interleaved in the same run. Regression against the live version is a paired test
on the same queries (`mm_platform.evaluation.stats.paired_comparison`), not a fixed tolerance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

PASS, FAIL, UNDERPOWERED, EXCUSED = "pass", "fail", "underpowered", "excused"
#: the cell of queries that have no language (photos, clips)
ANY_LANGUAGE = "any"


@dataclass(frozen=True)
class GateConfig:
    """Bounds a candidate must meet in every cell before its pointer swap (see the README for how
    the defaults were set from measurements on realistic queries)."""

    #: lower bound of the 95 % bootstrap interval of macro F1
    min_f1: float = 0.55
    #: lower bound of the 95 % Wilson interval of recall@1
    min_recall_at_1: float = 0.55
    #: p95 of the CPU time of one query (thread CPU, the whole query path)
    max_latency_p95_ms: float = 500.0
    #: candidate CPU p95 / live CPU p95, timed interleaved in the same run
    max_latency_ratio: float = 2.0
    max_error_rate: float = 0.001
    #: speech: word (en) / character (zh, ja) error rate bounds
    max_wer: float = 0.15
    max_cer: float = 0.15
    #: a cell with fewer scored queries is underpowered and cannot pass
    min_n: int = 30
    #: every language of the dataset must have a measured (or excused) cell
    require_eval_queries: bool = True

    def __post_init__(self):
        """Bounds that cannot be met or mean nothing are refused where they are set (tenant.yaml,
        resources, the CLI), not discovered as a gate nothing passes."""
        for name in ("min_f1", "min_recall_at_1", "max_error_rate", "max_wer", "max_cer"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"gate setting {name!r} is a share between 0 and 1, got {value!r}")
        if not self.max_latency_p95_ms > 0:
            raise ValueError(f"gate setting 'max_latency_p95_ms' must be > 0 ms, got {self.max_latency_p95_ms!r}")
        if not self.max_latency_ratio >= 1.0:
            raise ValueError(f"gate setting 'max_latency_ratio' must be >= 1 (candidate vs live), got "
                             f"{self.max_latency_ratio!r}")
        if isinstance(self.min_n, bool) or not isinstance(self.min_n, int) or self.min_n < 1:
            raise ValueError(f"gate setting 'min_n' must be a whole number >= 1, got {self.min_n!r}")

    def with_overrides(self, overrides: dict | None) -> "GateConfig":
        if not overrides:
            return self
        known = {f.name: f.type for f in fields(self)}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ValueError(f"unknown gate setting(s): {', '.join(unknown)}; known: {', '.join(known)}")
        for name, value in overrides.items():
            flag = name == "require_eval_queries"
            if not isinstance(value, bool if flag else (int, float)) or (not flag and isinstance(value, bool)):
                raise ValueError(f"gate setting {name!r} must be {'true/false' if flag else 'a number'}, got {value!r}")
        return replace(self, **overrides)

    def to_dict(self) -> dict:
        return asdict(self)


def judge_cell(row: dict, config: GateConfig, excuse: str | None = None) -> tuple[str, list[str]]:
    """(verdict, reasons) of one evaluation row."""
    n = row.get("n_queries", 0)
    cell = row["language"]
    if n == 0:
        reason = f"{cell}: no scored queries" + (f" ({row['unsupported_reason']})" if row.get("unsupported_reason") else "")
        return (EXCUSED, [f"{cell}: excused: {excuse}"]) if excuse else (FAIL, [reason])
    interval, hard = [], []  # bounds a bigger sample could meet / bounds that fail at any size
    low_f1 = row.get("f1_macro_ci", [row.get("f1_macro", 0.0)])[0]
    low_r1 = row.get("recall_at_1_ci", [row.get("recall_at_1", 0.0)])[0]
    if low_f1 < config.min_f1:
        interval.append(f"{cell}: f1_macro {row['f1_macro']:.3f} (95% CI low {low_f1:.3f}) < {config.min_f1:.3f}")
    if low_r1 < config.min_recall_at_1:
        interval.append(f"{cell}: recall_at_1 {row['recall_at_1']:.3f} (95% CI low {low_r1:.3f}) < {config.min_recall_at_1:.3f}")
    cpu_p95 = row.get("latency_cpu_p95_ms")
    if cpu_p95 is not None and cpu_p95 > config.max_latency_p95_ms:
        hard.append(f"{cell}: latency_cpu_p95_ms {cpu_p95:.1f} > {config.max_latency_p95_ms:.1f}")
    ratio = row.get("latency_ratio_to_live")
    if ratio is not None and ratio > config.max_latency_ratio:
        hard.append(f"{cell}: CPU p95 {ratio:.2f}x the live version's > {config.max_latency_ratio:.2f}x")
    if row.get("error_rate", 0.0) > config.max_error_rate:
        hard.append(f"{cell}: error_rate {row['error_rate']:.4f} > {config.max_error_rate:.4f}")
    for metric, bound in (("wer", config.max_wer), ("cer", config.max_cer)):
        if row.get(metric) is not None and row[metric] > bound:
            hard.append(f"{cell}: {metric} {row[metric]:.3f} > {bound:.3f}")
    paired = row.get("paired_vs_live")
    if paired and paired.get("regressed"):
        lo, hi = paired["f1_delta_ci"]
        hard.append(f"{cell}: regressed against live {paired.get('live_version', '?')}: F1 {paired['f1_delta']:+.3f} "
                    f"(95% CI {lo:+.3f}..{hi:+.3f}), top-1 right only live {paired['only_live_right']} vs only "
                    f"candidate {paired['only_candidate_right']} (McNemar p={paired['mcnemar_p']:.3g})")
    if n < config.min_n and not hard:
        # too few queries to tell: the interval is wide whatever the system does
        why = f"{cell}: underpowered: {n} scored queries < min_n {config.min_n}"
        return (EXCUSED, [f"{why}; excused: {excuse}"]) if excuse else (UNDERPOWERED, [why] + interval)
    if hard or interval:
        return FAIL, hard + interval
    return PASS, []


def judge(rows: list[dict], config: GateConfig, expected_cells: list[str],
          excuses: dict[str, str] | None = None) -> list[str]:
    """Set `verdict` and `verdict_reasons` on every row (adding a failed row for an expected cell
    that has none) and return the reasons the candidate must not go live (empty: it passes)."""
    excuses = excuses or {}
    by_cell = {r["language"]: r for r in rows}
    if config.require_eval_queries:
        for cell in expected_cells:
            if cell not in by_cell:
                row = {"language": cell, "n_queries": 0, "n_unsupported": 0,
                       "unsupported_reason": "no evaluation queries"}
                rows.append(row)
                by_cell[cell] = row
    failures = []
    for row in rows:
        excuse = excuses.get(row["language"]) or excuses.get("*")
        verdict, reasons = judge_cell(row, config, excuse)
        row["verdict"], row["verdict_reasons"] = verdict, reasons
        if excuse and verdict == EXCUSED:
            row["excused"] = excuse
        if verdict not in (PASS, EXCUSED):
            failures += reasons
    return failures
