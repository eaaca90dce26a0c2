"""Evaluation rows of a tenant's live version and latest candidate, and their text table."""

from __future__ import annotations

import json

from .pipeline import FAQ, index_store
from .tenancy import Layout

REPORT_KEYS = ("tenant", "modality", "language", "model", "index_version", "status", "gate_passed", "n_queries",
               "recall_at_1", "recall_at_5", "mrr", "f1_macro", "latency_p50_ms", "latency_p95_ms", "throughput_qps",
               "error_rate", "n_unsupported", "unsupported_reason", "wer", "cer")


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
                         "gate_failures": report["gate_failures"]})
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


def format_table(rows: list[dict]) -> str:
    columns = [("tenant", 10), ("modality", 8), ("language", 8), ("status", 9), ("gate", 5), ("n", 5),
               ("R@1", 6), ("R@5", 6), ("MRR", 6), ("F1", 6), ("p50ms", 7), ("p95ms", 7), ("q/s", 8), ("err", 6),
               ("WER/CER", 8), ("model", 34)]
    lines = ["  ".join(name.ljust(width) for name, width in columns)]
    for r in rows:
        if not r["n_queries"]:
            quality = [f"unsupported: {r.get('unsupported_reason') or 'no queries'}"]
        else:
            quality = [r["n_queries"], f"{r['recall_at_1']:.3f}", f"{r['recall_at_5']:.3f}", f"{r['mrr']:.3f}",
                       f"{r['f1_macro']:.3f}", f"{r['latency_p50_ms']:.1f}", f"{r['latency_p95_ms']:.1f}",
                       f"{r['throughput_qps']:.0f}", f"{r['error_rate']:.3f}",
                       _error_rate_text(r), r["model"]]
        values = [r["tenant"], r["modality"], r["language"], r["status"], "pass" if r["gate_passed"] else "FAIL", *quality]
        lines.append("  ".join(str(v).ljust(width) for v, (_, width) in zip(values, columns)).rstrip())
    return "\n".join(lines)


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
            rows.append({**{k: row.get(k) for k in REPORT_KEYS}, "status": "live", "gate_passed": True,
                         "gate_failures": [], "entity_accuracy": row.get("entity_accuracy")})
    return {"tenant": tenant, "rows": rows, "notes": notes}
