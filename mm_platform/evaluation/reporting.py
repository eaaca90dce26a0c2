"""Evaluation rows of a tenant's live version and latest candidate, and their text table."""

from __future__ import annotations

import json

from mm_platform.inputs.tenancy import Layout
from mm_platform.pipeline import FAQ, index_store

#: keys of `mm report --json` rows: stable (keys are added, never renamed); see the README
REPORT_KEYS = ("tenant", "modality", "language", "model", "index_version", "status", "gate_passed", "n_queries",
               "recall_at_1", "recall_at_5", "mrr", "f1_macro", "latency_p50_ms", "latency_p95_ms", "throughput_qps",
               "error_rate", "n_unsupported", "unsupported_reason", "wer", "cer",
               # added with interval-based gates
               "verdict", "verdict_reasons", "excused", "recall_at_1_ci", "f1_macro_ci", "latency_p99_ms",
               "latency_cpu_p50_ms", "latency_cpu_p95_ms", "latency_cpu_p99_ms", "latency_samples",
               "latency_ratio_to_live", "paired_vs_live", "strategy", "evaluated_at")


def report_rows(layout: Layout, tenant: str, modality: str = FAQ) -> dict:
    """{"live": version|None, "candidate": version|None, "rows": [...], "notes": [...]} for one tenant."""
    store = index_store(layout, tenant, modality)
    live = store.live_version()
    candidate = (store.candidate() or {}).get("version")
    rows, notes = [], []
    for status, version in (("live", live), ("candidate", candidate)):
        if not version or (status == "candidate" and version == live):
            continue
        report = store.evaluation(version)
        if report is None:
            notes.append(f"{status} version {version} has no evaluation report")
            continue
        for row in report["rows"]:
            rows.append({**{k: row.get(k) for k in REPORT_KEYS}, "status": status, "gate_passed": report["gate_passed"],
                         "gate_failures": report["gate_failures"], "evaluated_at": report.get("evaluated_at"),
                         "strategy": row.get("strategy") or (report.get("strategy") or {}).get("id")})
    if live is None:
        cand = store.candidate()
        if cand and not cand["gate_passed"]:
            notes.append(f"{tenant}/{modality}: nothing is live: the first candidate {cand['version']} failed its gates: "
                         + "; ".join(cand["gate_failures"]))
        else:
            notes.append(f"{tenant}/{modality}: nothing is live yet (no candidate has been evaluated)")
    elif candidate and candidate != live and not store.candidate()["gate_passed"]:
        notes.append(f"{tenant}/{modality}: candidate {candidate} kept out of service: " + "; ".join(store.candidate()["gate_failures"]))
    return {"tenant": tenant, "modality": modality, "live": live, "candidate": candidate, "rows": rows, "notes": notes}


def _interval(r: dict, metric: str) -> str:
    lo, hi = r.get(f"{metric}_ci") or (r[metric], r[metric])
    return f"{r[metric]:.2f} [{lo:.2f},{hi:.2f}]"


def format_table(rows: list[dict]) -> str:
    columns = [("tenant", 10), ("modality", 8), ("cell", 4), ("status", 9), ("verdict", 12), ("n", 4),
               ("R@1 [95% CI]", 17), ("F1 [95% CI]", 17), ("MRR", 5), ("cpu95", 6), ("p95ms", 6), ("err", 5),
               ("WER/CER", 8), ("strategy / model", 30)]
    lines = ["  ".join(name.ljust(width) for name, width in columns)]
    notes = []
    for r in rows:
        verdict = r.get("verdict") or ("pass" if r["gate_passed"] else "fail")
        if not r.get("n_queries"):
            why = r.get("excused") and f"excused: {r['excused']}" or r.get("unsupported_reason") or "no queries"
            quality = [0, f"not measured: {why}"]
        else:
            quality = [r["n_queries"], _interval(r, "recall_at_1"), _interval(r, "f1_macro"), f"{r['mrr']:.2f}",
                       f"{r.get('latency_cpu_p95_ms') or 0:.1f}", f"{r.get('latency_p95_ms') or 0:.1f}",
                       f"{r['error_rate']:.3f}", _error_rate_text(r), r.get("strategy") or r.get("model") or ""]
        values = [r["tenant"], r["modality"], r["language"], r["status"], verdict, *quality]
        lines.append("  ".join(str(v).ljust(width) for v, (_, width) in zip(values, columns)).rstrip())
        if r.get("excused") and r.get("n_queries"):
            notes.append(f"   {r['tenant']}/{r['modality']}/{r['language']}: excused: {r['excused']}")
    return "\n".join(lines + notes)


def _error_rate_text(row: dict) -> str:
    if row.get("wer") is not None:
        return f"W {row['wer']:.3f}"
    if row.get("cer") is not None:
        return f"C {row['cer']:.3f}"
    return "-"


def tenant_report(layout: Layout, tenant: str, modalities) -> dict:
    """Rows and notes of every modality the tenant has something for."""
    rows, notes = [], []
    for modality in modalities:
        store = index_store(layout, tenant, modality)
        if modality != FAQ and not store.root.exists():
            continue  # the tenant has no input of this modality
        report = report_rows(layout, tenant, modality)
        rows += report["rows"]
        notes += report["notes"]
    joint = layout.artifact(tenant, "indexes", "joint", "evaluation.json")
    if joint.exists():
        for row in json.loads(joint.read_text("utf-8"))["rows"]:
            rows.append({**{k: row.get(k) for k in REPORT_KEYS}, "status": "live (not gated)", "gate_passed": True,
                         "gate_failures": [], "entity_accuracy": row.get("entity_accuracy")})
    return {"tenant": tenant, "rows": rows, "notes": notes}
