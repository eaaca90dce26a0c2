"""One factory builds every modality's assets and checks, so a modality plugin gets the whole
pipeline (validated dataset -> [derived rows] -> embeddings -> candidate index -> evaluation ->
live index) and its blocking checks without any edit here."""

import inspect

import dagster as dg
import numpy as np

from jobs.k8s import step_op_tags, step_pool
from mm_assets.partitions import tenant_partitions
from mm_platform import pipeline
from mm_platform.indexing.embeddings import load_embeddings
from mm_platform.indexing.versions import IndexHandle
from mm_platform.inputs.validation import InputFileError
from mm_platform.modalities.base import Modality
from mm_platform.observability import gateway_from_env, push_evaluation_metrics
from resources import ModelsResource, PlatformResource, QualityResource

EVAL_METRICS = ("f1_macro", "recall_at_1", "recall_at_5", "mrr", "latency_p50_ms", "latency_p95_ms",
                "latency_p99_ms", "latency_cpu_p50_ms", "latency_cpu_p95_ms", "latency_cpu_p99_ms", "throughput_qps",
                "error_rate", "wer", "cer")


def md_table(header: list[str], rows: list[list]) -> dg.MetadataValue:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))


def _with_ci(row: dict, metric: str) -> str:
    if metric not in row:
        return "-"
    lo, hi = row.get(f"{metric}_ci", [row[metric], row[metric]])
    return f"{row[metric]:.3f} [{lo:.3f}, {hi:.3f}]"


def _absent_metadata(ref: dict) -> dict:
    return {"present": False, "reason": ref.get("reason", "")}


class ModalityAssets:
    """Asset keys of one modality, and the factory output."""

    def __init__(self, modality: Modality):
        self.modality = modality
        name = modality.name
        self.validated = dg.AssetKey([name, "validated_dataset"])
        self.derived = dg.AssetKey([name, modality.derived_name]) if getattr(modality, "derived_name", None) else None
        self.embeddings = dg.AssetKey([name, "embeddings"])
        self.index_candidate = dg.AssetKey([name, "index_candidate"])
        self.evaluation = dg.AssetKey([name, "evaluation"])
        self.live_index = dg.AssetKey([name, "live_index"])
        self.assets = self._assets()
        self.checks = self._checks()

    def _assets(self) -> list:
        m = self.modality
        common = dict(partitions_def=tenant_partitions, group_name=m.name, key_prefix=[m.name])
        heavy = {"gpu"} if m.gpu else set()
        # model steps of GPU modalities run on GPU pods in production; everything else on CPU pods
        model_step = dict(op_tags=step_op_tags(m.gpu), pool=step_pool(m.gpu))
        cpu_step = dict(op_tags=step_op_tags(False), pool=step_pool(False))
        files = " / ".join(m.input_files)

        @dg.asset(name="validated_dataset", kinds={"python", "huggingface"}, **common, **cpu_step,
                  description=f"The tenant's {m.name} input ({files}) and its {m.name} evaluation queries, "
                              "validated into a Hugging Face dataset on disk (annotation class-encoded). Rejected "
                              f"rows are in storage/<tenant>/quarantine/{m.name}.jsonl with file, row, field, reason.")
        def validated_dataset(context: dg.AssetExecutionContext, platform: PlatformResource) -> dict:
            try:
                ref = pipeline.validate(platform.layout(), context.partition_key, m)
            except InputFileError as exc:
                # A whole unusable file: fail this tenant only, with the file and reason up front.
                raise dg.Failure(description=str(exc), metadata={"file": exc.file, "reason": exc.reason}) from exc
            if pipeline.absent(ref):
                context.log.info(f"{m.name}: {ref['reason']}")
                context.add_output_metadata(_absent_metadata(ref))
                return ref
            for record in ref["quarantine_sample"]:
                context.log.warning(f"quarantined {record['file']} row {record['row']} field {record['field']}: "
                                    f"{record['reason']}")
            context.add_output_metadata({
                "rows": ref["rows"], "quarantined": ref["quarantined"], "quarantine_rate": ref["quarantine_rate"],
                "quarantined_eval_queries": ref["quarantined_eval_queries"], "fingerprint": ref["fingerprint"],
                "path": dg.MetadataValue.path(ref["path"]),
                "quarantine_path": dg.MetadataValue.path(ref["quarantine_path"]),
                "rows_per_language": dg.MetadataValue.json(ref["languages"]),
                "eval_queries_per_language": dg.MetadataValue.json(ref["eval_queries"]),
                "media": dg.MetadataValue.json(ref["media"]),
                "distribution": md_table(["language/annotation", "rows"], [[k, v] for k, v in ref["annotations"].items()]),
                "quarantine_sample": md_table(["file", "row", "field", "reason"], [
                    [q["file"], q["row"], q["field"], q["reason"]] for q in ref["quarantine_sample"]]),
            })
            return ref

        assets = [validated_dataset]
        upstream = self.validated
        if self.derived is not None:
            @dg.asset(name=m.derived_name, ins={"dataset": dg.AssetIn(self.validated)}, kinds={"python"} | heavy,
                      **common, **model_step, description=m.derived_description)
            def derived(context: dg.AssetExecutionContext, dataset: dict, platform: PlatformResource,
                        models: ModelsResource) -> dict:
                layout = platform.layout()
                ref = pipeline.derive(layout, context.partition_key, m, dataset,
                                      models.for_tenant(layout, context.partition_key),
                                      progress=lambda done, total: context.log.info(f"derived {done}/{total} new rows"))
                context.add_output_metadata(_absent_metadata(ref) if pipeline.absent(ref) else
                                            {k: v for k, v in ref["derived"].items() if isinstance(v, (int, float, str))})
                return ref

            assets.append(derived)
            upstream = self.derived

        @dg.asset(name="embeddings", ins={"dataset": dg.AssetIn(upstream)}, kinds={"python", "numpy"} | heavy, **common,
                  **model_step,
                  description=f"{m.name} row vectors aligned with the dataset. Only rows whose (content hash, model "
                              "ids and versions) are new are computed; the rest is reused from the previous snapshot.")
        def embeddings(context: dg.AssetExecutionContext, dataset: dict, platform: PlatformResource,
                       models: ModelsResource, quality: QualityResource) -> dict:
            layout = platform.layout()
            model_set = models.for_tenant(layout, context.partition_key, quality.max_query_cpu_ms)
            ref = pipeline.embed(layout, context.partition_key, m, dataset, model_set,
                                 progress=lambda done, total: context.log.info(f"encoded {done}/{total} new rows"))
            if pipeline.absent(ref):
                context.add_output_metadata(_absent_metadata(ref))
                return ref
            context.add_output_metadata({
                "rows": ref["rows"], "computed": ref["computed"], "reused": ref["reused"],
                "views": ", ".join(ref.get("views", {})) or "main only",
                "computed_all_views": ref.get("computed_all_views", ref["computed"]),
                "models": ", ".join(f"{role}: {s['name']}" for role, s in ref["models"].items()),
                "model_key": ref["encoder_key"], "dim": ref["dim"], "encode_seconds": ref["encode_seconds"],
                "encoded_rows_per_second": round(ref["computed"] / ref["encode_seconds"], 1) if ref["encode_seconds"] else 0.0,
                "path": dg.MetadataValue.path(ref["path"]),
            })
            return ref

        @dg.asset(name="index_candidate", ins={"dataset": dg.AssetIn(upstream), "vectors": dg.AssetIn(self.embeddings)},
                  kinds={"faiss"}, **common, **cpu_step,
                  description=f"An immutable Faiss index version of the tenant's {m.name} (folder named by content "
                              "and models) with its row map and manifest, built beside the live one.")
        def index_candidate(context: dg.AssetExecutionContext, dataset: dict, vectors: dict, platform: PlatformResource,
                            quality: QualityResource) -> dict:
            ref = pipeline.build_index(platform.layout(), context.partition_key, m, dataset, vectors, quality.index_type)
            context.add_output_metadata(_absent_metadata(ref) if pipeline.absent(ref) else {
                "index_version": ref["version"], "rows": ref["rows"], "dims": ref["dims"],
                "index_type": ref["index_type"], "encoder": ref["encoder"]["name"],
                "reused_existing_version": ref["reused"], "build_seconds": ref["build_seconds"],
                "path": dg.MetadataValue.path(ref["path"])})
            return ref

        @dg.asset(name="evaluation", ins={"dataset": dg.AssetIn(upstream), "index": dg.AssetIn(self.index_candidate)},
                  kinds={"python"} | heavy, **common, **model_step,
                  description=f"Evaluation of the {m.name} candidate per language, before any swap: recall@1/@5, MRR, "
                              "macro F1 on annotations, latency p50/p95/p99 of the whole query path, batched "
                              "throughput, error rate (and WER/CER for speech), with the gate verdict.")
        def evaluation(context: dg.AssetExecutionContext, dataset: dict, index: dict, platform: PlatformResource,
                       quality: QualityResource) -> dict:
            report = pipeline.evaluate(platform.layout(), context.partition_key, m, dataset, index, quality.gate_config(),
                                       context.run.run_id, progress=lambda lang, n: context.log.info(f"evaluated {n} {lang} queries"),
                                       settings=quality.evaluation_settings())
            if pipeline.absent(report):
                context.add_output_metadata(_absent_metadata(report))
                return report
            if report.get("unchanged"):
                context.log.info(f"{m.name} {report['index_version']}: {report['note']} (no new evaluation record)")
            metadata: dict = {
                "tenant": context.partition_key,
                "index_version": report["index_version"], "models": report["rows"][0].get("model", "") if report["rows"] else "",
                "gate_passed": report["gate_passed"],
                "unchanged": bool(report.get("unchanged")), "note": report.get("note", "evaluated now"),
                "strategy": (report.get("strategy") or {}).get("id", "plain search"),
                "gate_failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in report["gate_failures"]) or "none"),
                "compared_to_live": report["compared_to_live"] or "none",
                "results": md_table(
                    ["cell", "verdict", "n", "recall@1 [95% CI]", "F1 [95% CI]", "MRR", "CPU p95 ms", "wall p95 ms",
                     "q/s", "errors", "WER", "CER"],
                    [[r["language"], r.get("verdict", "-"), r.get("n_queries", 0),
                      _with_ci(r, "recall_at_1"), _with_ci(r, "f1_macro"), r.get("mrr", "-"),
                      r.get("latency_cpu_p95_ms", "-"), r.get("latency_p95_ms", "-"), r.get("throughput_qps", "-"),
                      r.get("error_rate", "-"), r.get("wer", "-"), r.get("cer", "-")] for r in report["rows"]]),
            }
            metadata.update({f"all/{k}": v for k, v in report["summary"].items()})
            push_evaluation_metrics(report, gateway_from_env())  # no-op without MM_PUSHGATEWAY_URL
            for row in report["rows"]:  # numeric metadata: the UI plots each over time
                if row.get("n_queries"):
                    metadata.update({f"{row['language']}/{k}": float(row[k]) for k in EVAL_METRICS
                                     if row.get(k) is not None})
            context.add_output_metadata(metadata)
            return report

        @dg.asset(name="live_index", ins={"report": dg.AssetIn(self.evaluation)}, kinds={"python"}, **common, **cpu_step,
                  description=f"The tenant's {m.name} serving pointer: an atomic swap to the evaluated candidate, done "
                              "only when its gates pass (re-checked against what is live now); audit-logged.")
        def live_index(context: dg.AssetExecutionContext, report: dict, platform: PlatformResource,
                       quality: QualityResource) -> dict:
            try:
                result = pipeline.promote(platform.layout(), context.partition_key, m, report,
                                          quality.gate_config(), context.run.run_id)
            except pipeline.GateFailed as exc:
                raise dg.Failure(description=str(exc),
                                 metadata={"gate_failures": dg.MetadataValue.json(report["gate_failures"])}) from exc
            if not result["present"]:
                context.add_output_metadata(_absent_metadata(result))
                return result
            context.log.info(("swapped to " if result["swapped"] else "already live: ") + result["live_version"])
            context.add_output_metadata({
                "live_version": result["live_version"], "previous_version": result["previous_version"] or "none",
                "swapped": result["swapped"], **{f"all/{k}": v for k, v in report["summary"].items()}})
            return result

        return assets + [embeddings, index_candidate, evaluation, live_index]

    def _checks(self) -> list:
        m = self.modality
        check = dict(blocking=True, partitions_def=tenant_partitions)
        skipped = lambda ref: dg.AssetCheckResult(passed=True, metadata=_absent_metadata(ref))  # noqa: E731

        @dg.asset_check(asset=self.validated, name="schema_and_quarantine_rate", **check,
                        description="The saved dataset has the contract's columns (annotation class-encoded) and "
                                    "the share of quarantined rows stays under the configured bound.")
        def schema_and_quarantine_rate(validated_dataset: dict, quality: QualityResource) -> dg.AssetCheckResult:
            if pipeline.absent(validated_dataset):
                return skipped(validated_dataset)
            from datasets import ClassLabel, load_from_disk

            dataset = load_from_disk(validated_dataset["path"] + "/rows")
            required = {"id", "language", "annotation", "content_hash", "tenant", "title", "content"}
            missing = sorted(required - set(dataset.column_names))
            rate = validated_dataset["quarantine_rate"]
            problems = ([f"missing columns {missing}"] if missing else []) + \
                ([] if isinstance(dataset.features.get("annotation"), ClassLabel) else ["annotation is not class-encoded"]) + \
                ([f"quarantine rate {rate:.1%} > {quality.max_quarantine_rate:.1%}"] if rate > quality.max_quarantine_rate else [])
            return dg.AssetCheckResult(passed=not problems, metadata={
                "quarantine_rate": rate, "quarantined": validated_dataset["quarantined"], "rows": len(dataset),
                "problems": "; ".join(problems) or "none"})

        @dg.asset_check(asset=self.validated, name="all_languages_present", **check,
                        description="Every required language (zh, en, ja by default) has at least one valid row.")
        def all_languages_present(validated_dataset: dict, quality: QualityResource) -> dg.AssetCheckResult:
            if pipeline.absent(validated_dataset):
                return skipped(validated_dataset)
            missing = [lang for lang in quality.required_languages if not validated_dataset["languages"].get(lang)]
            return dg.AssetCheckResult(passed=not missing, metadata={
                "rows_per_language": dg.MetadataValue.json(validated_dataset["languages"]),
                "missing": ", ".join(missing) or "none"})

        @dg.asset_check(asset=self.embeddings, name="embeddings_finite_normalized", **check,
                        description="Every vector is finite, has the model's dimension and unit length.")
        def embeddings_finite_normalized(embeddings: dict) -> dg.AssetCheckResult:
            if pipeline.absent(embeddings):
                return skipped(embeddings)
            _, vectors = load_embeddings(embeddings["path"])
            finite = bool(np.isfinite(vectors).all())
            dim_ok = vectors.ndim == 2 and vectors.shape[1] == embeddings["dim"]
            worst = float(np.max(np.abs(np.linalg.norm(vectors, axis=1) - 1.0))) if finite and vectors.size else 0.0
            return dg.AssetCheckResult(passed=finite and dim_ok and worst < 1e-3 and len(vectors) == embeddings["rows"],
                                       metadata={"rows": int(len(vectors)), "dim": int(vectors.shape[1]),
                                                 "expected_dim": embeddings["dim"], "all_finite": finite,
                                                 "max_norm_deviation": worst})

        @dg.asset_check(asset=self.index_candidate, name="index_rows_match_dataset",
                        additional_ins={"dataset": dg.AssetIn(self.validated)}, **check,
                        description="The index holds exactly one vector per valid dataset row, and its row map agrees.")
        def index_rows_match_dataset(index_candidate: dict, dataset: dict) -> dg.AssetCheckResult:
            if pipeline.absent(index_candidate):
                return skipped(index_candidate)
            handle = IndexHandle(index_candidate["path"])
            counts = {"dataset_rows": dataset["rows"], "index_vectors": int(handle.index.ntotal),
                      "row_map": len(handle.rows), "manifest_rows": handle.manifest["rows"]}
            return dg.AssetCheckResult(passed=len(set(counts.values())) == 1, metadata=counts)

        @dg.asset_check(asset=self.index_candidate, name="tenant_isolation_canary", **check,
                        description="Other tenants' queries sent to this tenant's candidate return only this tenant's "
                                    "rows (0 leaks), and no file of the version lies outside the tenant's folder.")
        def tenant_isolation_canary(context: dg.AssetCheckExecutionContext, index_candidate: dict,
                                    platform: PlatformResource) -> dg.AssetCheckResult:
            if pipeline.absent(index_candidate):
                return skipped(index_candidate)
            layout = platform.layout()
            tenant = context.partition_key
            others = [t for t in layout.discover_tenants()[0] if t != tenant]
            result = pipeline.isolation_canary(layout, tenant, m, index_candidate, others)
            return dg.AssetCheckResult(passed=result["leaks"] == 0 and not result["paths_outside_tenant"], metadata={
                "probes": result["probes"], "leaks": result["leaks"],
                "leaked_ids": ", ".join(result["leaked_ids"]) or "none",
                "paths_outside_tenant": len(result["paths_outside_tenant"]), "other_tenants": ", ".join(others) or "none"})

        @dg.asset_check(asset=self.evaluation, name="evaluation_gates", **check,
                        description="F1, recall@1, latency p95, error rate (and WER/CER) per language meet the "
                                    "thresholds, and nothing regressed beyond the tolerance against the live version.")
        def evaluation_gates(evaluation: dict) -> dg.AssetCheckResult:
            if pipeline.absent(evaluation):
                return skipped(evaluation)
            return dg.AssetCheckResult(passed=evaluation["gate_passed"], metadata={
                "index_version": evaluation["index_version"],
                "failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in evaluation["gate_failures"]) or "none"),
                "compared_to_live": evaluation["compared_to_live"] or "none",
                "thresholds": dg.MetadataValue.json(evaluation["gates"])})

        checks = [schema_and_quarantine_rate, all_languages_present, embeddings_finite_normalized,
                  index_rows_match_dataset, tenant_isolation_canary, evaluation_gates]
        for spec in getattr(m, "extra_checks", lambda: [])():
            checks.append(self._extra_check(spec, check))
        return checks

    def _extra_check(self, spec, check: dict):
        """A modality's own check on one of its assets: `spec` = (asset name, check name, description,
        fn(ref, gates) -> (passed, metadata))."""
        asset_name, check_name, description, fn = spec

        def run_check(context: dg.AssetCheckExecutionContext, quality: QualityResource, platform: PlatformResource,
                      **inputs) -> dg.AssetCheckResult:
            ref = inputs[asset_name]
            if pipeline.absent(ref):
                return dg.AssetCheckResult(passed=True, metadata=_absent_metadata(ref))
            gates = pipeline.gates_for(platform.layout(), ref["tenant"], self.modality, quality.gate_config())
            passed, metadata = fn(ref, gates)
            return dg.AssetCheckResult(passed=passed, metadata=metadata)

        # Dagster passes the checked asset by parameter name, so name it after the asset.
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        run_check.__signature__ = inspect.Signature([
            inspect.Parameter("context", kind, annotation=dg.AssetCheckExecutionContext),
            inspect.Parameter(asset_name, kind, annotation=dict),
            inspect.Parameter("quality", kind, annotation=QualityResource),
            inspect.Parameter("platform", kind, annotation=PlatformResource)])
        return dg.asset_check(asset=dg.AssetKey([self.modality.name, asset_name]), name=check_name,
                              description=description, **check)(run_check)


def build_all(modalities: dict[str, Modality]) -> list[ModalityAssets]:
    return [ModalityAssets(m) for m in modalities.values()]


def build_joint_evaluation(modality_assets: list[ModalityAssets]) -> tuple:
    """`joint/evaluation`: text + image + speech + video in one request, fused, on what is live."""
    from mm_platform.modalities.registry import registered_modalities
    from mm_platform.retrieval.joint import evaluate_joint

    @dg.asset(key=dg.AssetKey(["joint", "evaluation"]), deps=[m.live_index for m in modality_assets],
              partitions_def=tenant_partitions, group_name="joint", kinds={"python"}, **{
                  "op_tags": step_op_tags(True), "pool": step_pool(True)},
              automation_condition=dg.AutomationCondition.eager(),
              description="Joint queries (text, audio, image and video in one request) answered from the tenant's "
                          "live indexes with a fused ranking (weighted sum of cosine scores over FAQ rows): F1 and recall on "
                          "the intent, accuracy on the pictured product, latency per request.")
    def joint_evaluation(context: dg.AssetExecutionContext, platform: PlatformResource,
                         quality: QualityResource) -> dict:
        layout = platform.layout()
        try:
            report = evaluate_joint(layout, context.partition_key, registered_modalities(), gates=quality.gate_config())
        except LookupError as exc:
            report = {"present": False, "reason": str(exc)}
        if pipeline.absent(report):
            context.add_output_metadata(_absent_metadata(report))
            return report
        metadata = {"versions": dg.MetadataValue.json(report["versions"]), "results": md_table(
            ["language", "n", "recall@1", "MRR", "F1", "product accuracy", "p50 ms", "p95 ms", "errors"],
            [[r["language"], r["n_queries"], r["recall_at_1"], r["mrr"], r["f1_macro"], r["entity_accuracy"],
              r["latency_p50_ms"], r["latency_p95_ms"], r["error_rate"]] for r in report["rows"]])}
        for row in report["rows"]:
            metadata.update({f"{row['language']}/{k}": float(row[k]) for k in ("f1_macro", "recall_at_1", "latency_p95_ms")})
        context.add_output_metadata(metadata)
        return report

    @dg.asset_check(asset=joint_evaluation, partitions_def=tenant_partitions, blocking=False,
                    description="Fused answers reach the F1 threshold in every language (a warning, not a gate).")
    def joint_quality(joint_evaluation: dict, quality: QualityResource) -> dg.AssetCheckResult:
        if pipeline.absent(joint_evaluation):
            return dg.AssetCheckResult(passed=True, metadata=_absent_metadata(joint_evaluation))
        low = [f"{r['language']}: {r.get('verdict', '?')}: " + "; ".join(r.get("verdict_reasons", []))
               for r in joint_evaluation["rows"] if r.get("verdict") != "pass"]
        return dg.AssetCheckResult(passed=not low, severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"below_threshold": "; ".join(low) or "none"})

    return joint_evaluation, joint_quality
