"""Challenger vs champion, measured on every tenant's evaluation sets, and the gated promotion
with a shadow migration of each tenant's index.

A text-encoder challenger is evaluated by building each tenant's FAQ index with it beside the
live one (a shadow version: nothing serves it) and evaluating champion and challenger on the
same queries, cell by cell (tenant x language x modality). Promotion moves the registry's
`champion` alias and swaps each tenant whose shadow passed; a tenant whose shadow failed keeps
its old index and encoder pair through a per-tenant alias, so its next run builds with the old
encoder too. The query path never mixes pairs: it always loads the encoder a manifest names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mm_platform import pipeline
from mm_platform.encoders.models import ModelSet
from mm_platform.evaluation.gates import GateConfig
from mm_platform.evaluation.stats import paired_comparison
from mm_platform.indexing.versions import now_iso
from mm_platform.inputs.tenancy import Layout
from mm_platform.modalities.faq import FaqModality
from mm_platform.registry import ModelRegistry

FAMILY_ROLE = {"text_encoder": "text", "asr": "asr", "vision_encoder": "image"}
#: the modalities whose index a text-encoder change rebuilds in the shadow
SHADOW_MODALITY = FaqModality()


@dataclass(frozen=True)
class PromotionGates:
    """Absolute thresholds come from GateConfig; these decide challenger vs champion."""

    #: the query-weighted mean F1 over all cells must rise by at least this (no cell may regress
    #: against the champion in a paired test on the same queries)...
    min_aggregate_gain: float = 0.0
    #: ...or CPU latency p95 must improve by this factor with no cell regressed
    min_latency_gain: float = 0.1
    #: a quantized challenger must stay this close (mean cosine) to the model it was quantized from
    min_fidelity: float = 0.97


def _champion_models(layout: Layout, registry: ModelRegistry, tenant: str, family: str, version: str):
    choices = dict(pipeline.tenant_models(layout, tenant).choices)
    choices[FAMILY_ROLE[family]] = registry.spec_for(version)
    return ModelSet(choices=choices)


def _shadow(layout: Layout, tenant: str, models, gates: GateConfig, run_id: str) -> dict:
    """Build and evaluate the tenant's FAQ with `models` beside what is live (never swapped here)."""
    dataset = pipeline.validate(layout, tenant, SHADOW_MODALITY)
    if pipeline.absent(dataset):
        return dataset
    embeddings = pipeline.embed(layout, tenant, SHADOW_MODALITY, dataset, models)
    index = pipeline.build_index(layout, tenant, SHADOW_MODALITY, dataset, embeddings)
    return pipeline.evaluate(layout, tenant, SHADOW_MODALITY, dataset, index, gates, run_id)


def challenge(layout: Layout, registry: ModelRegistry, family: str, challenger: str, tenants: list[str],
              gates: GateConfig, run_id: str, promotion: PromotionGates = PromotionGates(), log=print) -> dict:
    """Evaluate `challenger` against each tenant's champion on the same queries; returns the
    side-by-side report with the per-tenant and overall verdicts. Nothing live changes."""
    if family != "text_encoder":
        raise ValueError(f"shadow evaluation is implemented for text_encoder, not {family}")
    registry.get(challenger)
    cells, tenant_results = [], {}
    for tenant in tenants:
        champion = registry.resolve(family, "champion", tenant)
        log(f"{tenant}: champion {champion} vs challenger {challenger}")
        reports = {label: _shadow(layout, tenant, _champion_models(layout, registry, tenant, family, version),
                                  gates, run_id)
                   for label, version in (("champion", champion), ("challenger", challenger))}
        if pipeline.absent(reports["challenger"]):
            continue
        champ_rows = {r["language"]: r for r in reports["champion"]["rows"]}
        failures = list(reports["challenger"]["gate_failures"])
        champ_outcomes = {o["key"]: o for o in reports["champion"].get("outcomes", [])}
        for row in reports["challenger"]["rows"]:
            base = champ_rows.get(row["language"])
            if base is None or not row.get("n_queries") or not base.get("n_queries"):
                continue
            pairs = [(o, champ_outcomes[o["key"]]) for o in reports["challenger"].get("outcomes", [])
                     if o["cell"] == row["language"] and o["key"] in champ_outcomes]
            paired = paired_comparison([a["predicted"] for a, _ in pairs], [b["predicted"] for _, b in pairs],
                                       [a["truth"] for a, _ in pairs]).to_dict() if pairs else None
            delta = round(row["f1_macro"] - base["f1_macro"], 4)
            cells.append({"tenant": tenant, "modality": SHADOW_MODALITY.name, "language": row["language"],
                          "n_queries": row["n_queries"], "champion": _cell(base), "challenger": _cell(row),
                          "delta_f1": delta, "paired_vs_champion": paired,
                          "delta_latency_cpu_p95_ms": round(row.get("latency_cpu_p95_ms", 0) - base.get("latency_cpu_p95_ms", 0), 3)})
            if paired and paired["regressed"]:
                lo, hi = paired["f1_delta_ci"]
                failures.append(f"{tenant}/{row['language']}: regressed against the champion: f1 {base['f1_macro']:.3f} -> "
                                f"{row['f1_macro']:.3f} (paired 95% CI {lo:+.3f}..{hi:+.3f}, McNemar p={paired['mcnemar_p']:.3g})")
        shadow = reports["challenger"]
        tenant_results[tenant] = {"champion": champion, "passed": not failures, "failures": failures,
                                  "shadow_version": shadow["index_version"],
                                  "shadow_strategy": shadow.get("strategy"),
                                  "champion_version": reports["champion"]["index_version"],
                                  # what the promotion re-checks under the tenant's lease
                                  "shadow_report": {"present": True, "index_version": shadow["index_version"],
                                                    "compared_to_live": shadow.get("compared_to_live"),
                                                    "summary": shadow.get("summary", {}),
                                                    "strategy": shadow.get("strategy")}}
    aggregate = _aggregate(cells)
    overall = []
    fidelity = _fidelity(layout, registry, challenger, tenants)
    if fidelity is not None and fidelity["mean_cosine"] < promotion.min_fidelity:
        overall.append(f"quantized fidelity: mean cosine {fidelity['mean_cosine']:.4f} to {fidelity['reference']} "
                       f"< {promotion.min_fidelity:.2f}")
    if not cells:
        overall.append("no tenant has evaluation queries to compare on")
    elif not any(t["passed"] for t in tenant_results.values()):
        overall.append("the challenger passed in no tenant")
    else:
        better = aggregate["challenger_f1"] - aggregate["champion_f1"] > promotion.min_aggregate_gain
        faster = aggregate["challenger_p95_ms"] <= (1 - promotion.min_latency_gain) * aggregate["champion_p95_ms"]
        if not (better or faster):
            overall.append(f"aggregate F1 {aggregate['champion_f1']:.3f} -> {aggregate['challenger_f1']:.3f} and CPU p95 "
                           f"{aggregate['champion_p95_ms']:.1f} -> {aggregate['challenger_p95_ms']:.1f} ms: neither "
                           "better quality nor faster without a regressed cell")
    return {"family": family, "challenger": challenger, "evaluated_at": now_iso(), "run_id": run_id,
            "gates": {**promotion.__dict__, **gates.to_dict()}, "cells": cells, "tenants": tenant_results,
            "aggregate": aggregate, "fidelity": fidelity, "gate_passed": not overall, "gate_failures": overall}


def _fidelity(layout: Layout, registry: ModelRegistry, version: str, tenants: list[str], sample: int = 200) -> dict | None:
    """For a quantized version: cosine of its vectors to its source model's on the tenants' questions."""
    source = (registry.get(version).quantization or {}).get("from_version")
    if not source:
        return None
    texts = []
    for tenant in tenants:
        dataset = pipeline.validate(layout, tenant, SHADOW_MODALITY)
        if not pipeline.absent(dataset):
            texts += [r["question"] for r in pipeline.load_rows(dataset["path"])][:sample]
    reference, candidate = registry.load(source).encode(texts), registry.load(version).encode(texts)
    cosine = np.sum(reference * candidate, axis=1)
    return {"reference": source, "texts": len(texts), "mean_cosine": round(float(cosine.mean()), 4),
            "min_cosine": round(float(cosine.min()), 4)}


def _cell(row: dict) -> dict:
    return {k: row.get(k) for k in ("f1_macro", "f1_macro_ci", "recall_at_1", "mrr", "latency_cpu_p95_ms",
                                    "latency_p95_ms", "throughput_qps", "index_version", "strategy", "verdict")}


def _aggregate(cells: list[dict]) -> dict:
    if not cells:
        return {}
    weights = [c["n_queries"] for c in cells]
    mean = lambda side, key: round(float(np.average([c[side][key] for c in cells], weights=weights)), 4)  # noqa: E731
    return {"cells": len(cells), "champion_f1": mean("champion", "f1_macro"), "challenger_f1": mean("challenger", "f1_macro"),
            "champion_p95_ms": mean("champion", "latency_cpu_p95_ms"),
            "challenger_p95_ms": mean("challenger", "latency_cpu_p95_ms")}


def promote(layout: Layout, registry: ModelRegistry, report: dict, run_id: str, *, force_reason: str | None = None) -> dict:
    """Move the champion alias to the challenger and swap each passing tenant to its shadow index;
    tenants whose shadow failed keep their old encoder through a per-tenant alias."""
    if not report["gate_passed"] and not force_reason:
        raise pipeline.GateFailed("challenger not promoted: " + "; ".join(report["gate_failures"]))
    family, challenger = report["family"], report["challenger"]
    metrics = {**report["aggregate"], "tenants_passed": sorted(t for t, r in report["tenants"].items() if r["passed"])}
    previous = registry.resolve(family, "champion")
    registry.set_alias(family, "champion", challenger, run_id=run_id, metrics=metrics,
                       reason=force_reason or "challenger passed its gates", forced=bool(force_reason))
    swapped, kept = [], []
    for tenant, result in report["tenants"].items():
        store = pipeline.index_store(layout, tenant, SHADOW_MODALITY.name)
        with store.writer(f"model promotion to {challenger}", run_id):  # one writer per tenant
            failures = list(result["failures"])
            if result["passed"]:
                # the same re-check as a data run's swap: the shadow was evaluated against what
                # is live now (a data run may have swapped since the challenge)
                recorded = result.get("shadow_report") or {
                    "present": True, "index_version": result["shadow_version"], "summary": {},
                    "strategy": result.get("shadow_strategy")}
                shadow = {**recorded, "gate_failures": []}
                try:
                    pipeline.promote(layout, tenant, SHADOW_MODALITY, shadow, GateConfig(), run_id)
                except pipeline.GateFailed as exc:
                    failures.append(str(exc))
            if not failures:
                if _has_override(registry, family, tenant):
                    registry.clear_alias(family, "champion", tenant=tenant, run_id=run_id,
                                         reason="follows the global champion")
                swapped.append(tenant)
            else:
                registry.set_alias(family, "champion", result["champion"], tenant=tenant, run_id=run_id,
                                   reason="shadow failed: " + "; ".join(failures), metrics={})
                kept.append(tenant)
    return {"family": family, "from": previous, "to": challenger, "swapped": swapped, "kept_old_pair": kept}


def _has_override(registry: ModelRegistry, family: str, tenant: str) -> bool:
    return "champion" in registry.aliases(family, tenant=tenant)
