"""Joint requests (text, audio, image and video in one request), evaluated on what is live, kept
current by its automation condition and the automation sensor that evaluates it."""

import dagster as dg

from jobs.k8s import step_op_tags, step_pool
from mm_assets.metadata import check_result, md_table, one_line, tenant_series, with_ci
from mm_assets.partitions import tenant_check_spec, tenant_partitions
from mm_assets.selection import JOINT_EVALUATION
from resources import PlatformResource, QualityResource


def joint_definitions(modalities: dict) -> dg.Definitions:
    live_keys = [dg.AssetKey([name, "live_index"]) for name in modalities]

    @dg.asset(key=JOINT_EVALUATION, deps=live_keys, partitions_def=tenant_partitions, group_name="joint",
              kinds={"python"}, op_tags=step_op_tags(True), pool=step_pool(True), output_required=False,
              automation_condition=dg.AutomationCondition.eager(),
              check_specs=[tenant_check_spec("joint_quality", asset=JOINT_EVALUATION,
                                             description="Fused answers pass the gates' bounds in every language (a "
                                                         "warning, not a gate: nothing is swapped on it).")],
              description="Joint queries answered from the tenant's live indexes with a fused ranking (weighted sum "
                          "of cosine scores over FAQ rows): F1 and recall on the intent with intervals, accuracy on "
                          "the pictured product, latency per request. Re-evaluated whenever a live index changes.")
    def joint_evaluation(context: dg.AssetExecutionContext, platform: PlatformResource, quality: QualityResource):
        from mm_platform.retrieval.joint import evaluate_joint

        tenant = context.partition_key
        try:
            report = evaluate_joint(platform.layout(), tenant, modalities, gates=quality.gate_config())
        except LookupError as exc:
            report = {"present": False, "reason": str(exc)}
        if not report.get("present", True):
            context.log.info(f"{tenant}/joint: {report['reason']}")
            yield dg.AssetCheckResult(check_name="joint_quality", passed=True, description=f"not run: {report['reason']}",
                                      metadata={"tenant": tenant})
            return
        metadata = {"tenant": tenant, "versions": dg.MetadataValue.json(report["versions"]), "results": md_table(
            ["language", "verdict", "n", "recall@1 [95% CI]", "F1 [95% CI]", "product accuracy", "p95 ms", "errors"],
            [[r["language"], r.get("verdict"), r["n_queries"], with_ci(r, "recall_at_1"), with_ci(r, "f1_macro"),
              r["entity_accuracy"], r["latency_p95_ms"], r["error_rate"]] for r in report["rows"]])}
        for row in report["rows"]:
            metadata.update(tenant_series(tenant, row["language"], {k: row.get(k) for k in (
                "f1_macro", "recall_at_1", "latency_p95_ms", "n_queries")}))
        yield dg.Output(report, metadata=metadata)
        low = [f"{r['language']}: {r.get('verdict')}: " + "; ".join(r.get("verdict_reasons", []))
               for r in report["rows"] if r.get("verdict") != "pass"]
        yield check_result("joint_quality", not low, one_line(low, "every language passes"),
                           {"tenant": tenant, "languages": len(report["rows"])}, severity=dg.AssetCheckSeverity.WARN)

    automation = dg.AutomationConditionSensorDefinition(
        "automation_condition_sensor", target=dg.AssetSelection.assets(JOINT_EVALUATION),
        default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30,
        description="Evaluates the automation conditions: joint/evaluation runs again for a tenant whenever one of "
                    "its live indexes changes (AutomationCondition.eager).")
    return dg.Definitions(assets=[joint_evaluation], sensors=[automation])
