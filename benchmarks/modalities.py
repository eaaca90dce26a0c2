"""Per-modality throughput of the embedding assets against the bare model call on the same
inputs, and query latency per modality (not a test: it measures, it does not assert).

    python benchmarks/modalities.py --profile seed --speech-clips 120 --out benchmarks/results/modalities.json

The pipeline side is the code the Dagster assets run (`mm_platform.pipeline`): validation
already done, then `derive` (speech transcripts) / `embed` on an empty cache, so every row is
computed. The bare side loads the same media and calls the model directly.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mm_platform import pipeline, settings  # noqa: E402
from mm_platform.demo.faq import write_faq_demo  # noqa: E402
from mm_platform.demo.media import write_media_demo  # noqa: E402
from mm_platform.encoders.models import ModelSet  # noqa: E402
from mm_platform.evaluation.gates import GateConfig  # noqa: E402
from mm_platform.inputs.media import load_audio, load_image  # noqa: E402
from mm_platform.inputs.tenancy import Layout  # noqa: E402
from mm_platform.modalities.registry import registered_modalities  # noqa: E402
from mm_platform.modalities.speech import vocabulary_prompt  # noqa: E402
from mm_platform.modalities.video import keyframes  # noqa: E402

TENANT = "ecommerce"


def _timed(fn):
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def bench(layout: Layout, speech_clips: int) -> dict:
    modalities = registered_modalities()
    models = ModelSet(choices={"text": {"name": "use-multilingual-v3"}, "image": {"name": "visual-descriptor"},
                               "asr": {"name": "faster-whisper"}})
    tenant_dir = layout.tenant_data(TENANT)
    if speech_clips:  # keep the spoken corpus to a bounded number of clips (transcription dominates)
        rows = json.loads((tenant_dir / "speech.json").read_text("utf-8"))
        (tenant_dir / "speech.json").write_text(json.dumps([r for r in rows if r["language"] == "en"][:speech_clips]
                                                           + [r for r in rows if r["language"] != "en"][:speech_clips]))
    results = {}
    for name in ("faq", "image", "speech", "video"):
        modality = modalities[name]
        dataset = pipeline.validate(layout, TENANT, modality)
        rows = pipeline.load_rows(dataset["path"])
        entry = {"rows": len(rows)}
        if name == "image":
            distinct = list({r["content_hash"]: r for r in rows}.values())
            _, bare = _timed(lambda: models.image.encode_images([load_image(tenant_dir / r["image_path"]) for r in distinct]))
            entry.update(unit="images", units=len(distinct), bare_seconds=round(bare, 3))
        elif name == "video":
            videos = sorted({r["video_path"] for r in rows})
            frames = sum(len({r["timestamp"] for r in rows if r["video_path"] == v}) for v in videos)
            _, bare = _timed(lambda: [models.image.encode_images([f for _, f in keyframes(tenant_dir / v)]) for v in videos])
            entry.update(unit="keyframes", units=frames, videos=len(videos), bare_seconds=round(bare, 3))
        elif name == "speech":
            supported = [r for r in rows if models.asr.supports(r["language"])]
            prompt = vocabulary_prompt(tenant_dir, "en")
            _, bare = _timed(lambda: [models.asr.transcribe(load_audio(tenant_dir / r["audio_path"])[0], r["language"], prompt)
                                      for r in supported])
            entry.update(unit="clips", units=len(supported), bare_seconds=round(bare, 3),
                         audio_seconds=round(sum(r["duration_s"] for r in supported), 1))
        else:
            texts = [r["question"] for r in rows]
            _, bare = _timed(lambda: models.text.encode(texts))
            entry.update(unit="questions", units=len(texts), bare_seconds=round(bare, 3))
        ref, seconds = _timed(lambda: pipeline.embed(layout, TENANT, modality,
                                                     pipeline.derive(layout, TENANT, modality, dataset, models)
                                                     if hasattr(modality, "derive") else dataset, models))
        entry.update(pipeline_seconds=round(seconds, 3), computed=ref["computed"],
                     bare_per_s=round(entry["units"] / entry["bare_seconds"], 2),
                     pipeline_per_s=round(entry["units"] / seconds, 2),
                     pipeline_vs_bare=round(entry["bare_seconds"] / seconds, 3))
        index = pipeline.build_index(layout, TENANT, modality, dataset if name != "speech" else pipeline.derive(
            layout, TENANT, modality, dataset, models), ref)
        report = pipeline.evaluate(layout, TENANT, modality, dataset, index, GateConfig(), "bench")
        entry["query"] = [{k: r[k] for k in ("language", "n_queries", "f1_macro", "recall_at_1", "latency_p50_ms",
                                             "latency_p95_ms", "throughput_qps")} for r in report["rows"]]
        if name == "faq":
            pipeline.promote(layout, TENANT, modality, report, GateConfig(), "bench")
        results[name] = entry
        print(json.dumps({name: entry}), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="seed", choices=("small", "seed"))
    parser.add_argument("--data", help="an existing data folder with the tenant (default: generate into a temp folder)")
    parser.add_argument("--speech-clips", type=int, default=120, help="spoken rows per language group (0: all)")
    parser.add_argument("--out", default="benchmarks/results/modalities.json")
    args = parser.parse_args()
    settings.configure_offline()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        if args.data:
            shutil.copytree(Path(args.data) / TENANT, data / TENANT)
        else:
            write_faq_demo(data, profile=args.profile, tenants=(TENANT,))
            write_media_demo(data, profile=args.profile, tenants=(TENANT,))
        results = bench(Layout(data, Path(tmp) / "storage"), args.speech_clips)
    out = {"benchmark": "modalities", "profile": args.profile, "tenant": TENANT,
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_1m": os.getloadavg()[0]},
           "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1, ensure_ascii=False), "utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
