"""Model assets: the registry, quantized checkpoints, challenger evaluation and the gated
promotion (not partitioned: one run compares across every tenant)."""

import tempfile

import dagster as dg

from jobs.k8s import step_op_tags, step_pool
from mm_assets.metadata import md_table
from mm_platform.atomic import atomic_write_json
from mm_platform.registry import FAMILIES, ModelRegistry, promotion, seed_bundled
from resources import PlatformResource, QualityResource

REGISTRY = dg.AssetKey(["models", "registry"])
CHALLENGER_EVALUATION = dg.AssetKey(["models", "challenger_evaluation"])


class ChallengeConfig(dg.Config):
    """Which registered version challenges the family's champion (empty: the `challenger` alias)."""

    family: str = "text_encoder"
    challenger: str = ""


class QuantizeConfig(dg.Config):
    """Quantize this text-encoder version (empty: the bundled all-MiniLM-L6-v2); bnb bits to try."""

    source: str = ""
    bnb_bits: list[int] = [4, 8]
    sample_texts: int = 256


@dg.asset(key=REGISTRY, group_name="models", kinds={"python"},
          description="The model registry: immutable versions per family (text_encoder, asr, vision_encoder, llm) "
                      "with manifests, and the champion/challenger aliases. Seeded with the bundled models.")
def model_registry(context: dg.AssetExecutionContext, platform: PlatformResource) -> dict:
    registry = ModelRegistry(platform.layout().storage_dir)
    summary = seed_bundled(registry)
    for family, info in summary.items():
        for move in info["moves"]:
            context.log.info(f"{family}: champion -> {move['to']} ({move['reason']})")
    rows = [[family, v.version_id, v.backend, v.manifest.get("size_bytes", 0), ", ".join(v.manifest.get("languages") or [])]
            for family in FAMILIES for v in registry.versions(family)]
    champions = {f: registry.aliases(f).get("champion") for f in FAMILIES}
    context.add_output_metadata({"versions": md_table(["family", "version", "backend", "bytes", "languages"], rows),
                                 "champions": dg.MetadataValue.json(champions), "version_count": len(rows)})
    return {"champions": champions, "versions": [r[1] for r in rows]}


@dg.asset(key=["models", "quantized_checkpoints"], deps=[REGISTRY], group_name="models",
          kinds={"onnx", "bitsandbytes"}, op_tags=step_op_tags(True), pool=step_pool(True),
          description="Quantized checkpoints of a text encoder: int8 ONNX (onnxruntime, the fast CPU path, "
                      "registered) and bitsandbytes NF4/8-bit (the GPU path; runs on CPU here), each with size, "
                      "encode speed and cosine fidelity against fp32 on the same texts.")
def quantized_checkpoints(context: dg.AssetExecutionContext, config: QuantizeConfig, platform: PlatformResource) -> dict:
    from mm_platform.demo.faq import build_faq_rows
    from mm_platform.encoders import quantization as quantize

    registry = ModelRegistry(platform.layout().storage_dir)
    source = registry.get(config.source) if config.source else next(
        v for v in registry.versions("text_encoder") if v.backend == "sentence-transformers")
    reference = registry.load(source)
    texts = [r["question"] for r in build_faq_rows("ecommerce", "seed")[0] if r["language"] == "en"][: config.sample_texts]
    results = {}
    int8 = next((v for v in registry.versions("text_encoder")
                 if (v.quantization or {}).get("from_version") == source.version_id
                 and v.backend == "sentence-transformers-onnx-int8"), None)
    if int8 is None:
        with tempfile.TemporaryDirectory() as tmp:
            out = quantize.quantize_int8_onnx(source.path, f"{tmp}/int8")
            int8 = registry.register("text_encoder", "sentence-transformers-onnx-int8", out, languages=["en"],
                                     source=f"quantized from {source.version_id}",
                                     quantization={"method": "onnxruntime-dynamic", "bits": 8,
                                                   "from_version": source.version_id})
    results["int8_onnx"] = {"version": int8.version_id, **quantize.measure(reference, registry.load(int8), texts)}
    for bits in config.bnb_bits:
        out = registry.root / "quantized" / f"{source.version_id}-bnb{bits}"
        candidate = quantize.load_bnb(out) if out.exists() else quantize.quantize_bnb(source.path, out, bits=bits)
        results[f"bnb_{bits}bit"] = {"path": str(out), **quantize.measure(reference, candidate, texts)}
        context.log.info(f"bnb {bits}-bit: {results[f'bnb_{bits}bit']['fidelity']}")
    atomic_write_json(registry.root / "quantized" / f"{source.version_id}-report.json", results)
    context.add_output_metadata({
        "source": source.version_id,
        "results": md_table(["variant", "size x fp32", "speed x fp32", "mean cosine", "min cosine"], [
            [name, r["size_ratio"], r["speed_ratio"], r["fidelity"]["mean_cosine"], r["fidelity"]["min_cosine"]]
            for name, r in results.items()]),
        **{f"{name}/speed_ratio": float(r["speed_ratio"]) for name, r in results.items()},
        **{f"{name}/mean_cosine": float(r["fidelity"]["mean_cosine"] or 0.0) for name, r in results.items()},
    })
    return {"source": source.version_id, "results": results}


@dg.asset(key=CHALLENGER_EVALUATION, deps=[REGISTRY], group_name="models", kinds={"python", "faiss"},
          op_tags=step_op_tags(False), pool=step_pool(False),
          description="The challenger against each tenant's champion on the same evaluation sets, cell by cell "
                      "(tenant x language x modality), from shadow index builds beside the live ones; with the "
                      "per-tenant and overall promotion verdicts. Nothing live changes here.")
def challenger_evaluation(context: dg.AssetExecutionContext, config: ChallengeConfig, platform: PlatformResource,
                          quality: QualityResource) -> dict:
    layout = platform.layout()
    registry = ModelRegistry(layout.storage_dir)
    challenger = config.challenger or registry.resolve(config.family, "challenger")
    tenants = layout.discover_tenants()[0]
    report = promotion.challenge(layout, registry, config.family, challenger, tenants, quality.gate_config(),
                                 context.run.run_id, log=context.log.info)
    atomic_write_json(registry.family_dir(config.family) / "challenges" / f"{context.run.run_id}.json", report)
    context.add_output_metadata({
        "challenger": challenger, "gate_passed": report["gate_passed"],
        "gate_failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in report["gate_failures"]) or "none"),
        "aggregate": dg.MetadataValue.json(report["aggregate"]),
        "tenants": dg.MetadataValue.json({t: {"passed": r["passed"], "failures": r["failures"]}
                                          for t, r in report["tenants"].items()}),
        "side_by_side": md_table(
            ["tenant", "modality", "language", "champion F1", "challenger F1", "delta", "champion p95 ms",
             "challenger p95 ms"],
            [[c["tenant"], c["modality"], c["language"], c["champion"]["f1_macro"], c["challenger"]["f1_macro"],
              c["delta_f1"], c["champion"]["latency_p95_ms"], c["challenger"]["latency_p95_ms"]] for c in report["cells"]]),
    })
    return report


@dg.asset_check(asset=challenger_evaluation, blocking=True,
                description="The challenger meets the absolute gates, no cell regresses beyond the tolerance and the "
                            "aggregate improves (or latency does at equal quality); says which cell failed and by how much.")
def promotion_gates(challenger_evaluation: dict) -> dg.AssetCheckResult:
    per_tenant = [f"{t}: {f}" for t, r in challenger_evaluation["tenants"].items() for f in r["failures"]]
    return dg.AssetCheckResult(passed=challenger_evaluation["gate_passed"], metadata={
        "overall": dg.MetadataValue.md("\n".join(f"- {f}" for f in challenger_evaluation["gate_failures"]) or "none"),
        "tenants_kept_on_champion": dg.MetadataValue.md("\n".join(f"- {f}" for f in per_tenant) or "none")})


@dg.asset(key=["models", "champion"], ins={"report": dg.AssetIn(CHALLENGER_EVALUATION)}, group_name="models",
          kinds={"python"}, op_tags=step_op_tags(False), pool=step_pool(False),
          description="The promotion: the champion alias moves to a challenger that passed, each passing tenant's "
                      "shadow index is swapped live, and a tenant whose shadow failed keeps its old index and "
                      "encoder pair. Every alias move is in the registry's audit log.")
def champion(context: dg.AssetExecutionContext, report: dict, platform: PlatformResource) -> dict:
    layout = platform.layout()
    try:
        result = promotion.promote(layout, ModelRegistry(layout.storage_dir), report, context.run.run_id)
    except promotion.pipeline.GateFailed as exc:
        raise dg.Failure(description=str(exc)) from exc
    context.add_output_metadata({"from": result["from"], "to": result["to"],
                                 "swapped": ", ".join(result["swapped"]) or "none",
                                 "kept_old_pair": ", ".join(result["kept_old_pair"]) or "none"})
    return result


MODEL_ASSETS = [model_registry, quantized_checkpoints, challenger_evaluation, champion]
MODEL_CHECKS = [promotion_gates]


def model_definitions() -> dg.Definitions:
    """The model registry's assets, check, jobs and sensors."""
    from jobs.indexing import challenger_evaluation_job, promotion_job
    from sensors import promotion_sensor, registry_inbox_sensor

    return dg.Definitions(assets=MODEL_ASSETS, asset_checks=MODEL_CHECKS, jobs=[challenger_evaluation_job, promotion_job],
                          sensors=[registry_inbox_sensor, promotion_sensor])
