"""FAQ (text) assets per tenant: validated dataset -> embeddings -> candidate index ->
evaluation -> live index. Each asset is a call into `mm_platform.pipeline` plus metadata."""


import dagster as dg

from mm_platform import pipeline
from mm_platform.encoders.text import load_from_spec
from mm_platform.validation import InputFileError
from resources import QualityResource, PlatformResource, TextEncoderResource

from .partitions import tenant_partitions

GROUP = "faq"
PREFIX = ["faq"]
VALIDATED = dg.AssetKey(PREFIX + ["validated_dataset"])
EMBEDDINGS = dg.AssetKey(PREFIX + ["embeddings"])
INDEX_CANDIDATE = dg.AssetKey(PREFIX + ["index_candidate"])
EVALUATION = dg.AssetKey(PREFIX + ["evaluation"])
LIVE_INDEX = dg.AssetKey(PREFIX + ["live_index"])

_common = dict(partitions_def=tenant_partitions, group_name=GROUP, key_prefix=PREFIX)


def _md_table(header: list[str], rows: list[list]) -> dg.MetadataValue:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))


@dg.asset(kinds={"python", "huggingface"}, **_common)
def validated_dataset(context: dg.AssetExecutionContext, platform: PlatformResource) -> dict:
    """The tenant's FAQ and evaluation queries, validated into a Hugging Face dataset saved to
    disk (annotation class-encoded). Rejected rows are in `storage/<tenant>/quarantine/faq.jsonl`,
    each with file, row, field and reason."""
    try:
        ref = pipeline.validate_faq(platform.layout(), context.partition_key)
    except InputFileError as exc:
        # A whole unusable file: fail this tenant only, with the file and reason up front.
        raise dg.Failure(description=str(exc), metadata={"file": exc.file, "reason": exc.reason}) from exc
    for record in ref["quarantine_sample"]:
        context.log.warning(f"quarantined {record['file']} row {record['row']} field {record['field']}: {record['reason']}")
    context.add_output_metadata({
        "rows": ref["rows"],
        "quarantined": ref["quarantined"],
        "quarantine_rate": ref["quarantine_rate"],
        "quarantined_eval_queries": ref["quarantined_eval_queries"],
        "fingerprint": ref["fingerprint"],
        "path": dg.MetadataValue.path(ref["path"]),
        "quarantine_path": dg.MetadataValue.path(ref["quarantine_path"]),
        "rows_per_language": dg.MetadataValue.json(ref["languages"]),
        "eval_queries_per_language": dg.MetadataValue.json(ref["eval_queries"]),
        "distribution": _md_table(["language/annotation", "rows"], [[k, v] for k, v in ref["annotations"].items()]),
        "quarantine_sample": _md_table(["file", "row", "field", "reason"],
                                       [[q["file"], q["row"], q["field"], q["reason"]] for q in ref["quarantine_sample"]]),
    })
    return ref


@dg.asset(ins={"dataset": dg.AssetIn(VALIDATED)}, kinds={"python", "numpy"}, **_common)
def embeddings(context: dg.AssetExecutionContext, dataset: dict, text_encoder: TextEncoderResource,
               platform: PlatformResource) -> dict:
    """Question embeddings of the validated FAQ, aligned with its rows. Only rows whose
    (content hash, encoder id and version) is new are encoded; the rest is reused."""
    encoder = text_encoder.load()
    context.log.info(f"embedding {dataset['rows']} rows with {encoder.name} ({encoder.version})")
    ref = pipeline.embed_faq(platform.layout(), context.partition_key, dataset, encoder,
                             progress=lambda done, total: context.log.info(f"encoded {done}/{total} new rows"))
    context.add_output_metadata({
        "rows": ref["rows"],
        "computed": ref["computed"],
        "reused": ref["reused"],
        "encoder": ref["encoder"]["name"],
        "encoder_version": ref["encoder"]["version"],
        "dim": ref["encoder"]["dim"],
        "encode_seconds": ref["encode_seconds"],
        "encoded_rows_per_second": round(ref["computed"] / ref["encode_seconds"], 1) if ref["encode_seconds"] else 0.0,
        "path": dg.MetadataValue.path(ref["path"]),
    })
    return ref


@dg.asset(ins={"dataset": dg.AssetIn(VALIDATED), "vectors": dg.AssetIn(EMBEDDINGS)}, kinds={"faiss"}, **_common)
def index_candidate(context: dg.AssetExecutionContext, dataset: dict, vectors: dict, platform: PlatformResource,
                    quality: QualityResource) -> dict:
    """An immutable Faiss index version (folder named by content and encoder) with its row map
    and manifest. Built beside the live one; nothing serves it until it passes evaluation."""
    ref = pipeline.build_faq_index(platform.layout(), context.partition_key, dataset, vectors, quality.index_type)
    context.add_output_metadata({
        "index_version": ref["version"],
        "rows": ref["rows"],
        "dims": ref["dims"],
        "index_type": ref["index_type"],
        "encoder": ref["encoder"]["name"],
        "reused_existing_version": ref["reused"],
        "build_seconds": ref["build_seconds"],
        "path": dg.MetadataValue.path(ref["path"]),
    })
    return ref


@dg.asset(ins={"dataset": dg.AssetIn(VALIDATED), "index": dg.AssetIn(INDEX_CANDIDATE)}, kinds={"python"}, **_common)
def evaluation(context: dg.AssetExecutionContext, dataset: dict, index: dict, platform: PlatformResource,
               quality: QualityResource) -> dict:
    """Retrieval evaluation of the candidate index per language (recall@1/@5, MRR, macro F1,
    latency p50/p95/p99 of encode + search, batched throughput, error rate) and its gate
    verdict, measured before any swap. The JSON report lies beside the index version."""
    encoder = load_from_spec(index["encoder"])  # the encoder that built the candidate, never another
    report = pipeline.evaluate_faq_index(
        platform.layout(), context.partition_key, dataset, index, encoder, quality.gate_config(), context.run.run_id,
        progress=lambda lang, n: context.log.info(f"evaluated {n} {lang} queries"))
    metadata: dict = {
        "index_version": report["index_version"],
        "encoder": report["encoder"]["name"],
        "gate_passed": report["gate_passed"],
        "gate_failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in report["gate_failures"]) or "none"),
        "compared_to_live": report["compared_to_live"] or "none",
        "report": dg.MetadataValue.path(str(pipeline.index_store(platform.layout(), context.partition_key)
                                            .version_dir(report["index_version"]) / "evaluation.json")),
        "results": _md_table(
            ["language", "n", "recall@1", "recall@5", "MRR", "F1", "p50 ms", "p95 ms", "p99 ms", "q/s", "errors"],
            [[r["language"], r["n_queries"], r["recall_at_1"], r["recall_at_5"], r["mrr"], r["f1_macro"],
              r["latency_p50_ms"], r["latency_p95_ms"], r["latency_p99_ms"], r["throughput_qps"], r["error_rate"]]
             for r in report["rows"]]),
    }
    for key, value in report["summary"].items():
        metadata[f"all/{key}"] = value
    for row in report["rows"]:  # numeric metadata: the UI plots each over time
        for key in ("f1_macro", "recall_at_1", "recall_at_5", "mrr", "latency_p50_ms", "latency_p95_ms",
                    "latency_p99_ms", "throughput_qps", "error_rate"):
            metadata[f"{row['language']}/{key}"] = float(row[key])
    context.add_output_metadata(metadata)
    return report


@dg.asset(ins={"report": dg.AssetIn(EVALUATION)}, kinds={"python"}, **_common)
def live_index(context: dg.AssetExecutionContext, report: dict, platform: PlatformResource,
               quality: QualityResource) -> dict:
    """The tenant's serving pointer: an atomic swap to the evaluated candidate, done only when
    its gates pass (re-checked against whatever is live now). Every swap is in the audit log."""
    try:
        result = pipeline.promote_faq_index(platform.layout(), context.partition_key, report,
                                            quality.gate_config(), context.run.run_id)
    except pipeline.GateFailed as exc:
        raise dg.Failure(description=str(exc), metadata={"gate_failures": dg.MetadataValue.json(report["gate_failures"])}) from exc
    context.log.info(("swapped to " if result["swapped"] else "already live: ") + result["live_version"])
    context.add_output_metadata({
        "live_version": result["live_version"],
        "previous_version": result["previous_version"] or "none",
        "swapped": result["swapped"],
        "encoder": report["encoder"]["name"],
        **{f"all/{k}": v for k, v in report["summary"].items()},
    })
    return result


FAQ_ASSETS = [validated_dataset, embeddings, index_candidate, evaluation, live_index]
