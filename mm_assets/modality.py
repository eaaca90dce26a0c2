"""One factory per modality: its assets, their checks and its job, as one `dg.Definitions`.

Every registered modality (built-in or plugin) gets the same pipeline, so a plugin needs no edit
here: validated_dataset -> [derived rows] -> embeddings -> index_candidate -> evaluation ->
live_index. Checks that read an asset's own output run inside that asset (`check_specs`: no
second step, nothing loaded twice); the ones that must hold before anything downstream runs are
blocking. A tenant without this modality's input gets no materialization at all: the dataset's
output is optional, so every downstream step is skipped (and a tenant's runs select only the
modalities it has, `mm_assets.selection`).

The evaluation's gate check does not stop the graph: `live_index` always runs, swaps only a
candidate whose recorded verdict passed (re-checked against what is live now), and otherwise
records which version it kept, so a refused candidate shows as "kept <version>" and not as a
failed asset while the old version goes on serving.
"""


import dagster as dg

from jobs.k8s import step_op_tags, step_pool
from mm_assets.metadata import check_result, md_table, one_line, tenant_series, with_ci
from mm_assets.partitions import tag_run_with_tenant, tenant_check_spec, tenant_partitions, tenant_run_config
from mm_platform import pipeline
from mm_platform.inputs.validation import InputFileError
from mm_platform.modalities.base import Modality
from mm_platform.observability import gateway_from_env, push_evaluation_metrics
from resources import ModelsResource, PlatformResource, QualityResource

EVAL_METRICS = ("f1_macro", "recall_at_1", "recall_at_5", "mrr", "latency_p95_ms", "latency_cpu_p95_ms",
                "throughput_qps", "error_rate", "wer", "cer", "n_queries")


class ModalityKeys:
    """The asset keys of one modality's pipeline."""

    def __init__(self, modality: Modality):
        name = modality.name
        self.validated = dg.AssetKey([name, "validated_dataset"])
        self.derived = dg.AssetKey([name, modality.derived_name]) if getattr(modality, "derived_name", None) else None
        self.embeddings = dg.AssetKey([name, "embeddings"])
        self.index_candidate = dg.AssetKey([name, "index_candidate"])
        self.evaluation = dg.AssetKey([name, "evaluation"])
        self.live_index = dg.AssetKey([name, "live_index"])

    @property
    def all(self) -> list[dg.AssetKey]:
        return [k for k in (self.validated, self.derived, self.embeddings, self.index_candidate, self.evaluation,
                            self.live_index) if k is not None]

    @property
    def upstream_of_embeddings(self) -> dg.AssetKey:
        return self.derived or self.validated


def _extra_specs(modality: Modality, asset_name: str, key: dg.AssetKey) -> list:
    """The modality's own checks on one of its assets: (asset name, check, description, fn)."""
    return [(spec, tenant_check_spec(spec[1], asset=key, description=spec[2], blocking=True))
            for spec in getattr(modality, "extra_checks", lambda: [])() if spec[0] == asset_name]


def _run_extra(layout, modality: Modality, extras: list, ref: dict, quality: QualityResource):
    gates = pipeline.gates_for(layout, ref["tenant"], modality, quality.gate_config())
    for (_, check_name, description, fn), _spec in extras:
        passed, figures = fn(ref, gates)
        reasons = [str(v) for k, v in figures.items() if k in ("over_bound", "empty_ids") and v not in ("none", "")]
        yield check_result(check_name, passed, one_line(reasons if not passed else [], description),
                           {"tenant": ref["tenant"], **figures})


def modality_definitions(modality: Modality) -> dg.Definitions:
    """Assets (with their checks) and the `index_<modality>` job of one modality."""
    keys = ModalityKeys(modality)
    m = modality
    common = dict(partitions_def=tenant_partitions, group_name=m.name)
    heavy = {"gpu"} if m.gpu else set()
    # model steps of GPU modalities run on GPU pods in production; everything else on CPU pods
    model_step = dict(op_tags=step_op_tags(m.gpu), pool=step_pool(m.gpu))
    cpu_step = dict(op_tags=step_op_tags(False), pool=step_pool(False))
    files = " / ".join(m.input_files)
    validated_extras = _extra_specs(m, "validated_dataset", keys.validated)

    @dg.asset(key=keys.validated, kinds={"python", "huggingface"}, output_required=False, **common, **cpu_step,
              check_specs=[
                  tenant_check_spec("schema_and_quarantine_rate", asset=keys.validated, blocking=True,
                                    description="The dataset has the contract's columns (annotation class-encoded) "
                                                "and the share of quarantined rows stays under the bound."),
                  tenant_check_spec("all_languages_present", asset=keys.validated, blocking=True,
                                    description="Every required language (zh, en, ja) has at least one valid row."),
                  *[s for _, s in validated_extras]],
              description=f"The tenant's {m.name} input ({files}) and its {m.name} evaluation queries, validated "
                          "into a Hugging Face dataset on disk (annotation class-encoded). Rejected rows are in "
                          f"storage/<tenant>/quarantine/{m.name}.jsonl with file, row, field and reason. A tenant "
                          "without this input gets no materialization (the rest of the pipeline is skipped).")
    def validated_dataset(context: dg.AssetExecutionContext, platform: PlatformResource, quality: QualityResource):
        layout = platform.layout()
        tenant = context.partition_key
        tag_run_with_tenant(context)
        try:
            ref = pipeline.validate(layout, tenant, m)
        except InputFileError as exc:
            # a whole unusable file: fail this tenant only, with the file and the reason up front
            raise dg.Failure(description=str(exc), metadata={"tenant": tenant, "file": exc.file,
                                                              "reason": exc.reason}) from exc
        if pipeline.absent(ref):
            if ref.get("warning"):
                context.log.warning(f"{tenant}/{m.name}: {ref['warning']}")
            else:
                context.log.info(f"{tenant}/{m.name}: {ref['reason']}: nothing to build")
            for spec in context.assets_def.check_specs:
                if ref.get("warning") and spec.name == "schema_and_quarantine_rate":
                    yield dg.AssetCheckResult(check_name=spec.name, passed=False, severity=dg.AssetCheckSeverity.WARN,
                                              description=ref["warning"],
                                              metadata={"tenant": tenant, "live_version": ref["live_version"]})
                    continue
                yield dg.AssetCheckResult(check_name=spec.name, passed=True, description=f"not run: {ref['reason']}",
                                          metadata={"tenant": tenant})
            return
        for record in ref["quarantine_sample"]:
            context.log.warning(f"quarantined {record['file']} row {record['row']} field {record['field']}: "
                                f"{record['reason']}")
        yield dg.Output(ref, metadata={
            "tenant": tenant, "rows": ref["rows"], "quarantined": ref["quarantined"],
            "quarantine_rate": ref["quarantine_rate"], "quarantined_eval_queries": ref["quarantined_eval_queries"],
            "fingerprint": ref["fingerprint"], "input_fingerprint": ref.get("input_fingerprint", ""),
            "unchanged": bool(ref.get("unchanged")), "reused_rows": ref.get("reused_rows", 0),
            "path": dg.MetadataValue.path(ref["path"]),
            "quarantine_path": dg.MetadataValue.path(ref["quarantine_path"]),
            "rows_per_language": dg.MetadataValue.json(ref["languages"]),
            "eval_queries_per_language": dg.MetadataValue.json(ref["eval_queries"]),
            "media": dg.MetadataValue.json(ref["media"]),
            "distribution": md_table(["language/annotation", "rows"], [[k, v] for k, v in ref["annotations"].items()]),
            "quarantine_sample": md_table(["file", "row", "field", "reason"], [
                [q["file"], q["row"], q["field"], q["reason"]] for q in ref["quarantine_sample"]]),
        })
        missing_columns = sorted({"id", "language", "annotation", "content_hash", "tenant", "title", "content"}
                                 - set(ref["columns"]))
        rate = ref["quarantine_rate"]
        problems = ([f"missing columns {missing_columns}"] if missing_columns else []) + \
            ([f"{ref['quarantined']} of {ref['rows'] + ref['quarantined']} rows quarantined ({rate:.1%} > "
              f"{quality.max_quarantine_rate:.1%})"] if rate > quality.max_quarantine_rate else [])
        yield check_result("schema_and_quarantine_rate", not problems, one_line(
            problems, f"{ref['rows']} rows, {ref['quarantined']} quarantined ({rate:.1%} <= "
                      f"{quality.max_quarantine_rate:.1%})"),
            {"tenant": tenant, "quarantine_rate": rate, "quarantined": ref["quarantined"], "rows": ref["rows"]})
        missing = [lang for lang in quality.required_languages if not ref["languages"].get(lang)]
        yield check_result("all_languages_present", not missing, one_line(
            [f"no valid {lang} rows" for lang in missing], "rows in " + ", ".join(sorted(ref["languages"]))),
            {"tenant": tenant, "languages": len(ref["languages"]), "missing": ", ".join(missing) or "none"})
        yield from _run_extra(layout, m, validated_extras, ref, quality)

    assets = [validated_dataset]

    if keys.derived is not None:
        derived_extras = _extra_specs(m, m.derived_name, keys.derived)

        @dg.asset(key=keys.derived, ins={"dataset": dg.AssetIn(keys.validated)}, kinds={"python"} | heavy, **common,
                  **model_step, description=m.derived_description, check_specs=[s for _, s in derived_extras])
        def derived(context: dg.AssetExecutionContext, dataset: dict, platform: PlatformResource,
                    models: ModelsResource, quality: QualityResource):
            layout = platform.layout()
            ref = pipeline.derive(layout, context.partition_key, m, dataset,
                                  models.for_tenant(layout, context.partition_key),
                                  progress=lambda done, total: context.log.info(f"derived {done}/{total} new rows"))
            yield dg.Output(ref, metadata={"tenant": context.partition_key, **{
                k: v for k, v in ref["derived"].items() if isinstance(v, (int, float, str))}})
            yield from _run_extra(layout, m, derived_extras, ref, quality)

        assets.append(derived)

    @dg.asset(key=keys.embeddings, ins={"dataset": dg.AssetIn(keys.upstream_of_embeddings)},
              kinds={"python", "numpy"} | heavy, **common, **model_step,
              check_specs=[tenant_check_spec("embeddings_finite_normalized", asset=keys.embeddings, blocking=True,
                                             description="Every vector of every view is finite, has its model's "
                                                         "dimension and unit length.")],
              description=f"{m.name} row vectors aligned with the dataset, one set per view (the row's texts x "
                          "the encoders of the ensemble). Only rows whose (content hash, model ids and versions) are "
                          "new are computed; the rest is reused from the previous snapshot.")
    def embeddings(context: dg.AssetExecutionContext, dataset: dict, platform: PlatformResource,
                   models: ModelsResource, quality: QualityResource):
        layout = platform.layout()
        tenant = context.partition_key
        model_set = models.for_tenant(layout, tenant, quality.max_query_cpu_ms)
        ref = pipeline.embed(layout, tenant, m, dataset, model_set,
                             progress=lambda done, total: context.log.info(f"encoded {done}/{total} new rows"))
        yield dg.Output(ref, metadata={
            "tenant": tenant, "rows": ref["rows"], "computed": ref["computed"], "reused": ref["reused"],
            "computed_all_views": ref["computed_all_views"], "reused_all_views": ref["reused_all_views"], "views": ", ".join(["main", *ref.get("views", {})]),
            "models": ", ".join(f"{role}: {s['name']}" for role, s in ref["models"].items()),
            "model_key": ref["encoder_key"], "dim": ref["dim"], "encode_seconds": ref["encode_seconds"],
            "path": dg.MetadataValue.path(ref["path"])})
        health = ref["health"]
        bad = [f"{view}: {why}" for view, why in health["problems"].items()]
        yield check_result("embeddings_finite_normalized", not bad, one_line(
            bad, f"{ref['rows']} rows x {len(health['views'])} views: finite, unit length (max deviation "
                 f"{health['max_norm_deviation']:.1e})"),
            {"tenant": tenant, "rows": ref["rows"], "views": len(health["views"]),
             "max_norm_deviation": float(health["max_norm_deviation"])})

    @dg.asset(key=keys.index_candidate, ins={"dataset": dg.AssetIn(keys.upstream_of_embeddings),
                                             "vectors": dg.AssetIn(keys.embeddings)},
              kinds={"faiss"}, **common, **cpu_step,
              check_specs=[
                  tenant_check_spec("index_rows_match_dataset", asset=keys.index_candidate, blocking=True,
                                    description="The index holds one vector per valid dataset row in every view, "
                                                "and its row map agrees."),
                  tenant_check_spec("tenant_isolation_canary", asset=keys.index_candidate, blocking=True,
                                    description="Other tenants' queries sent to this tenant's candidate return only "
                                                "this tenant's rows (0 leaks), and every file of the version lies "
                                                "inside the tenant's folder.")],
              description=f"An immutable Faiss index version of the tenant's {m.name} (folder named by content and "
                          "models) with its row map, views and manifest, built beside the live one.")
    def index_candidate(context: dg.AssetExecutionContext, dataset: dict, vectors: dict, platform: PlatformResource,
                        quality: QualityResource):
        layout = platform.layout()
        tenant = context.partition_key
        ref = pipeline.build_index(layout, tenant, m, dataset, vectors, quality.index_type)
        yield dg.Output(ref, metadata={
            "tenant": tenant, "index_version": ref["version"], "rows": ref["rows"], "dims": ref["dims"],
            "index_type": ref["index_type"], "encoder": ref["encoder"]["name"], "views": len(ref.get("views", {})),
            "reused_existing_version": ref["reused"], "build_seconds": ref["build_seconds"],
            "path": dg.MetadataValue.path(ref["path"])})
        counts = {"dataset_rows": dataset["rows"], "index_vectors": ref["ntotal"], "manifest_rows": ref["rows"]}
        yield check_result("index_rows_match_dataset", len(set(counts.values())) == 1, one_line(
            [] if len(set(counts.values())) == 1 else [f"counts disagree: {counts}"],
            f"{ref['rows']} rows in the dataset, the index and the manifest"), {"tenant": tenant, **counts})
        others = [t for t in layout.discover_tenants()[0] if t != tenant]
        canary = pipeline.isolation_canary(layout, tenant, m, ref, others)
        leaks = canary["leaks"] + len(canary["paths_outside_tenant"])
        yield check_result("tenant_isolation_canary", leaks == 0, one_line(
            [f"{canary['leaks']} foreign rows returned ({', '.join(canary['leaked_ids'])})"] if canary["leaks"] else []
            + [f"{len(canary['paths_outside_tenant'])} files outside the tenant's folder"] * bool(
                canary["paths_outside_tenant"]),
            f"{canary['probes']} probes from {len(others)} other tenant(s): 0 leaks"),
            {"tenant": tenant, "probes": canary["probes"], "leaks": canary["leaks"],
             "paths_outside_tenant": len(canary["paths_outside_tenant"]), "other_tenants": len(others)})

    @dg.asset(key=keys.evaluation, ins={"dataset": dg.AssetIn(keys.upstream_of_embeddings),
                                        "index": dg.AssetIn(keys.index_candidate)},
              kinds={"python"} | heavy, **common, **model_step,
              check_specs=[tenant_check_spec(
                  "evaluation_gates", asset=keys.evaluation,
                  description="Every cell (language, or `any` for photos and clips) meets the bounds on its "
                              "interval's low end with at least min_n queries (or is excused), CPU latency, error "
                              "rate, WER/CER, and no paired regression against the live version. A failure refuses "
                              "the swap: live_index keeps what is live.")],
              description=f"Evaluation of the {m.name} candidate per cell, before any swap: n, recall@1 and macro F1 "
                          "with 95 % intervals, recall@5, MRR, CPU and wall latency of the whole query path, error "
                          "rate (and WER/CER), paired against the live version on the same queries; the retrieval "
                          "strategy chosen on one fold and reported on the others. An unchanged version is not "
                          "evaluated again.")
    def evaluation(context: dg.AssetExecutionContext, dataset: dict, index: dict, platform: PlatformResource,
                   quality: QualityResource):
        tenant = context.partition_key
        report = pipeline.evaluate(platform.layout(), tenant, m, dataset, index, quality.gate_config(),
                                   context.run.run_id,
                                   progress=lambda cell, n: context.log.info(f"evaluated {n} {cell} queries"),
                                   settings=quality.evaluation_settings())
        if report.get("unchanged"):
            context.log.info(f"{m.name} {report['index_version']}: {report['note']} (no new evaluation record)")
        rows = report["rows"]
        metadata: dict = {
            "tenant": tenant, "index_version": report["index_version"],
            "models": rows[0].get("model", "") if rows else "", "gate_passed": report["gate_passed"],
            "unchanged": bool(report.get("unchanged")), "note": report.get("note", "evaluated now"),
            "strategy": (report.get("strategy") or {}).get("id", "plain search"),
            "compared_to_live": report["compared_to_live"] or "none",
            "results": md_table(
                ["cell", "verdict", "n", "recall@1 [95% CI]", "F1 [95% CI]", "MRR", "CPU p95 ms", "wall p95 ms",
                 "errors", "WER", "CER"],
                [[r["language"], r.get("verdict", "-"), r.get("n_queries", 0), with_ci(r, "recall_at_1"),
                  with_ci(r, "f1_macro"), r.get("mrr", "-"), r.get("latency_cpu_p95_ms", "-"),
                  r.get("latency_p95_ms", "-"), r.get("error_rate", "-"), r.get("wer", "-"), r.get("cer", "-")]
                 for r in rows]),
        }
        for row in rows:  # numeric, named by tenant and cell: one plotted line per tenant
            if row.get("n_queries"):
                metadata.update(tenant_series(tenant, row["language"], {k: row.get(k) for k in EVAL_METRICS}))
        push_evaluation_metrics(report, gateway_from_env())  # no-op without MM_PUSHGATEWAY_URL
        yield dg.Output(report, metadata=metadata)
        verdicts = [r.get("verdict") for r in rows]
        yield check_result("evaluation_gates", report["gate_passed"], one_line(
            report["gate_failures"],
            f"{sum(v == 'pass' for v in verdicts)} cell(s) pass, {sum(v == 'excused' for v in verdicts)} excused"),
            {"tenant": tenant, "cells": len(rows), "failing_cells": sum(v not in ("pass", "excused") for v in verdicts),
             **{f"{r['language']}/f1_low": float(r["f1_macro_ci"][0]) for r in rows if r.get("f1_macro_ci")},
             **{f"{r['language']}/n": int(r.get("n_queries", 0)) for r in rows}})

    @dg.asset(key=keys.live_index, ins={"report": dg.AssetIn(keys.evaluation)}, kinds={"python"}, **common,
              **cpu_step,
              check_specs=[tenant_check_spec(
                  "swap", asset=keys.live_index,
                  description="The candidate went live (or already was); a warning when its gates refused it and "
                              "the previous version stays live.")],
              description=f"The tenant's {m.name} serving pointer: an atomic swap to the evaluated candidate and its "
                          "strategy, done only when its gates passed (re-checked against what is live now); "
                          "audit-logged. A refused candidate leaves the live version in place, recorded as kept.")
    def live_index(context: dg.AssetExecutionContext, report: dict, platform: PlatformResource,
                   quality: QualityResource):
        tenant = context.partition_key
        layout = platform.layout()
        try:
            result = pipeline.promote(layout, tenant, m, report, quality.gate_config(), context.run.run_id)
            refused = None
        except pipeline.GateFailed as exc:
            refused = str(exc)
            live = pipeline.index_store(layout, tenant, m.name).live() or {}
            result = {"live_version": live.get("version"), "previous_version": live.get("version"), "swapped": False,
                      "strategy": (live.get("strategy") or {}).get("id")}
        live_version = result["live_version"]
        state = ("swapped to" if result["swapped"] else "kept" if refused else "already live:")
        context.log.info(f"{tenant}/{m.name}: {state} {live_version or 'nothing'}")
        yield dg.Output(result, metadata={
            "tenant": tenant, "live_version": live_version or "none", "state": f"{state} {live_version or 'nothing'}",
            "kept": bool(refused), "refused_candidate": report["index_version"] if refused else "none",
            "previous_version": result.get("previous_version") or "none", "swapped": result["swapped"],
            "strategy": result.get("strategy") or "plain search",
            "models": ", ".join(sorted({s["name"] for s in report.get("encoder", {}).get("models", {}).values()})),
        })
        yield check_result("swap", not refused, one_line(
            [f"kept {live_version or 'nothing live'}: {refused}"] if refused else [],
            f"{'swapped to' if result['swapped'] else 'already live:'} {live_version}"),
            {"tenant": tenant, "live_version": live_version or "none"}, severity=dg.AssetCheckSeverity.WARN)

    assets += [embeddings, index_candidate, evaluation, live_index]
    job = dg.define_asset_job(
        f"index_{m.name}", selection=dg.AssetSelection.assets(*keys.all),
        config=tenant_run_config(f"index_{m.name}"),
        description=f"Re-index one tenant's {m.name} only: validate, embed, index, evaluate, swap if the gates pass.")
    return dg.Definitions(assets=assets, jobs=[job])
