"""FAQ pipeline benchmark on the seed profile (not a test: it measures, it does not assert).

1. embedding asset throughput vs a bare `encode` of the same texts in the same process;
2. re-materialization after changing 1 % of one tenant's FAQ vs the full build;
3. query latency (p50/p95, single query: encode + search) and batched queries/s per encoder.

    python benchmarks/faq_pipeline.py --profile seed --out benchmarks/results/faq_pipeline.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mm_platform import settings  # noqa: E402

settings.configure_offline()

import dagster as dg  # noqa: E402

from mm_assets.definitions import MODALITY_DEFINITIONS  # noqa: E402
from mm_assets.partitions import tenant_partitions  # noqa: E402
from mm_platform.demo.faq import write_faq_demo  # noqa: E402
from mm_platform.encoders.text import load_text_encoder  # noqa: E402
from mm_platform.evaluation.metrics import latency_percentiles_ms  # noqa: E402
from mm_platform.indexing.versions import IndexHandle  # noqa: E402
from mm_platform.inputs.tenancy import Layout  # noqa: E402
from mm_platform.pipeline import load_rows  # noqa: E402
from resources import ModelsResource, PlatformResource, QualityResource  # noqa: E402

FAQ_DEFINITIONS = [*MODALITY_DEFINITIONS["faq"].assets, *(MODALITY_DEFINITIONS["faq"].asset_checks or ())]

TENANT = "ecommerce"


def step_seconds(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> dict[str, float]:
    """Wall seconds of each step, from the run's event log timestamps."""
    starts, out = {}, {}
    for entry in instance.all_logs(result.run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type_value == "STEP_START":
            starts[entry.step_key] = entry.timestamp
        elif event.event_type_value == "STEP_SUCCESS" and entry.step_key in starts:
            out[entry.step_key] = round(entry.timestamp - starts[entry.step_key], 3)
    return out


def materialize(layout: Layout, instance, encoder: str, selection=None) -> tuple[dg.ExecuteInProcessResult, float]:
    resources = {
        "platform": PlatformResource(data_dir=str(layout.data_dir), storage_dir=str(layout.storage_dir)),
        "models": ModelsResource(text_encoder=encoder),
        "quality": QualityResource(),
        "io_manager": dg.FilesystemIOManager(base_dir=str(layout.storage_dir / ".dagster_io")),
    }
    started = time.perf_counter()
    result = dg.materialize(FAQ_DEFINITIONS, instance=instance, partition_key=TENANT, resources=resources,
                            raise_on_error=False, selection=selection)
    return result, time.perf_counter() - started


def change_one_percent(layout: Layout, seed: int = 1) -> int:
    path = layout.tenant_data(TENANT) / "faq.json"
    rows = json.loads(path.read_text("utf-8"))
    picked = random.Random(seed).sample(range(len(rows)), k=max(1, len(rows) // 100))
    for i in picked:
        rows[i]["question"] = rows[i]["question"] + " (updated)"
    path.write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
    return len(picked)


def bench_encoder(encoder_name: str, profile: str, workdir: Path) -> dict:
    layout = Layout(workdir / encoder_name / "data", workdir / encoder_name / "storage")
    write_faq_demo(layout.data_dir, profile=profile, tenants=("ecommerce", "medical"))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(tenant_partitions.name, [TENANT])
    encoder = load_text_encoder(encoder_name)
    # both sides run warm: the model is loaded (USE loads its weights on the first call) before
    # either is timed, as in a long-lived code server; a cold step pays that load once more
    encoder.encode(["warm-up"])

    full, full_wall = materialize(layout, instance, encoder_name)
    steps_full = step_seconds(instance, full)
    texts = [r["question"] for r in load_rows(full.output_for_node("faq__validated_dataset")["path"])]
    encoder.encode(texts[:64])
    started = time.perf_counter()
    encoder.encode(texts)
    bare = time.perf_counter() - started

    changed = change_one_percent(layout)
    incremental, incremental_wall = materialize(layout, instance, encoder_name)
    steps_incr = step_seconds(instance, incremental)
    embed_meta = {k: v.value for k, v in next(m for m in incremental.get_asset_materialization_events()
                                               if m.asset_key.path[-1] == "embeddings").materialization.metadata.items()}

    # the candidate of the last run: MiniLM's fails its zh/ja gates and is never live
    handle = IndexHandle(incremental.output_for_node("faq__index_candidate")["path"])
    queries = json.loads((layout.tenant_data(TENANT) / "eval_queries.json").read_text("utf-8"))
    latencies = []
    for q in queries:
        t0 = time.perf_counter()
        handle.search(encoder.encode([q["query"]]), k=5, language=q["language"])
        latencies.append(time.perf_counter() - t0)
    started = time.perf_counter()
    handle.search(encoder.encode([q["query"] for q in queries]), k=5)
    batched = time.perf_counter() - started

    embed_step_full = steps_full["faq__embeddings"]
    return {
        "encoder": encoder.name,
        "rows": len(texts),
        "full_run_success": full.success,
        "embedding": {
            "bare_encode_seconds": round(bare, 3),
            "bare_rows_per_second": round(len(texts) / bare, 1),
            "asset_step_seconds": embed_step_full,
            "asset_rows_per_second": round(len(texts) / embed_step_full, 1),
            "asset_vs_bare_throughput_ratio": round(bare / embed_step_full, 3),
        },
        "incremental": {
            "changed_rows": changed,
            "computed": embed_meta["computed"],
            "reused": embed_meta["reused"],
            "embedding_step_seconds_full": embed_step_full,
            "embedding_step_seconds_incremental": steps_incr["faq__embeddings"],
            "embedding_step_ratio": round(steps_incr["faq__embeddings"] / embed_step_full, 4),
            "whole_run_seconds_full": round(full_wall, 2),
            "whole_run_seconds_incremental": round(incremental_wall, 2),
            "whole_run_ratio": round(incremental_wall / full_wall, 4),
            "steps_full": steps_full,
            "steps_incremental": steps_incr,
        },
        "query": {
            "n_queries": len(queries),
            **latency_percentiles_ms(latencies),
            "batched_queries_per_second": round(len(queries) / batched, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="seed", choices=("small", "seed"))
    parser.add_argument("--encoders", default="use-multilingual-v3,all-minilm-l6-v2")
    parser.add_argument("--out", default="benchmarks/results/faq_pipeline.json")
    args = parser.parse_args()
    results = {"benchmark": "faq_pipeline", "profile": args.profile, "machine": {
        "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}, "encoders": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.encoders.split(","):
            print(f"benchmarking {name} ...", flush=True)
            results["encoders"].append(bench_encoder(name, args.profile, Path(tmp)))
            print(json.dumps(results["encoders"][-1], indent=1), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1, ensure_ascii=False), "utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
