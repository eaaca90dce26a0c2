"""Quantization benchmark (not a test: it measures, it does not assert).

Text: fp32 all-MiniLM-L6-v2 (sentence-transformers) against int8 ONNX (per-channel weight
scales; per-token activation scales, the default, vs plain onnxruntime per-tensor activation
scales batched and one text at a time), bitsandbytes 4-bit NF4 and 8-bit,
on a few hundred real English FAQ questions (ecommerce tenant, seed profile): size on disk,
sentences/s (same texts, same batches, median of repeats), cosine to the fp32 vectors.

Speech: faster-whisper tiny.en with float32 vs int8 compute on espeak-ng English clips: WER
and speed.

    python benchmarks/quantization.py --out benchmarks/results/quantization.json

The machine is shared: absolute sentences/s move a lot with background load (2-3x on a busy
2-core box). Each candidate is timed against the fp32 model in the same call, runs alternating,
and its speed ratio is the median of the paired ratios: read the ratios, not the absolutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mm_platform import settings  # noqa: E402

settings.configure_offline()

from mm_platform.demo.faq import build_faq_rows  # noqa: E402
from mm_platform.encoders.onnx_int8 import OnnxInt8SentenceEncoder  # noqa: E402
from mm_platform.encoders.quantization import measure, measure_asr, quantize_bnb, quantize_int8_onnx  # noqa: E402
from mm_platform.encoders.text import SentenceTransformerEncoder, bundled_minilm_path  # noqa: E402

CLIPS = [
    "Can I return the wireless earbuds I bought last week",
    "How long does shipping take to my address",
    "I want to cancel my order before it ships",
    "Where can I find the warranty for my smart watch",
    "Please send me a refund for the damaged blender",
    "Does the store deliver on weekends",
]


def english_questions(limit: int) -> list[str]:
    rows, _ = build_faq_rows("ecommerce", "seed")
    seen, texts = set(), []
    for row in rows:
        if row["language"] == "en" and row["question"] not in seen:
            seen.add(row["question"])
            texts.append(row["question"])
    return texts[:limit]


def text_benchmark(texts: list[str], work: Path, repeats: int, threads: int) -> list[dict]:
    reference = SentenceTransformerEncoder(threads=threads)
    timings = {}
    started = time.perf_counter()
    onnx_dir = quantize_int8_onnx(bundled_minilm_path(), work / "minilm-int8-onnx")
    timings["per-token"] = time.perf_counter() - started
    started = time.perf_counter()
    plain_dir = quantize_int8_onnx(bundled_minilm_path(), work / "minilm-int8-onnx-plain", per_token=False)
    timings["per-tensor"] = time.perf_counter() - started
    candidates = {
        "int8-onnx per-token act. (default)": ("per-token", lambda: OnnxInt8SentenceEncoder(onnx_dir, threads=threads)),
        "int8-onnx per-tensor act., batched": ("per-tensor", lambda: OnnxInt8SentenceEncoder(plain_dir, threads=threads, per_text=False)),
        "int8-onnx per-tensor act., 1 by 1": ("per-tensor", lambda: OnnxInt8SentenceEncoder(plain_dir, threads=threads)),
        "bnb-4bit-nf4": ("", lambda: quantize_bnb(bundled_minilm_path(), work / "minilm-bnb4", bits=4, threads=threads)),
        "bnb-8bit": ("", lambda: quantize_bnb(bundled_minilm_path(), work / "minilm-bnb8", bits=8, threads=threads)),
    }
    results = []
    for label, (prebuilt, build) in candidates.items():
        started = time.perf_counter()
        candidate = build()
        # quantization (for ONNX the export done above, shared by both loading modes) + load
        build_s = timings.get(prebuilt, 0.0) + time.perf_counter() - started
        report = measure(reference, candidate, texts, repeats=repeats, batch_size=64)
        report["label"] = label
        report["build_seconds"] = round(build_s, 2)
        results.append(report)
        print(f"  measured {label}", flush=True)
        del candidate
    return results


def synthesise(text: str, path: Path) -> None:
    subprocess.run(["espeak-ng", "-v", "en", "-g", "6", "-w", str(path), text], check=True, capture_output=True)


def asr_benchmark(work: Path, repeats: int, threads: int) -> dict | None:
    if shutil.which("espeak-ng") is None:
        print("espeak-ng is not installed: skipping the speech benchmark")
        return None
    from mm_platform.encoders.asr import FasterWhisperRecognizer
    from mm_platform.inputs.media import load_audio

    clips = []
    for i, text in enumerate(CLIPS):
        wav = work / f"clip{i}.wav"
        synthesise(text, wav)
        clips.append((load_audio(wav)[0], text))
    fp32 = FasterWhisperRecognizer(compute_type="float32", threads=threads)
    int8 = FasterWhisperRecognizer(compute_type="int8", threads=threads)
    report = measure_asr(fp32, int8, clips, repeats=repeats)
    report["reference_compute_type"], report["candidate_compute_type"] = "float32", "int8"
    report["texts"] = CLIPS
    return report


def mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e6:.1f}"


def print_tables(text: list[dict], asr: dict | None) -> None:
    header = f"{'model':36} {'size MB':>8} {'size x':>7} {'sent/s':>8} {'speed x':>8} {'cos mean':>9} {'cos min':>8}"
    print("\nText encoders (ratios against fp32 measured in the same call)")
    print(header)
    print("-" * len(header))
    ref = text[0]["reference"]
    print(f"{'fp32 MiniLM (sentence-transformers)':36} {mb(ref['size_bytes']):>8} {'1.00':>7} "
          f"{ref['sentences_per_s']:>8.1f} {'1.00':>8} {'1.0000':>9} {'1.0000':>8}")
    for r in text:
        c = r["candidate"]
        print(f"{r['label']:36} {mb(c['size_bytes']):>8} {r['size_ratio']:>7.2f} {c['sentences_per_s']:>8.1f} "
              f"{r['speed_ratio']:>8.2f} {r['fidelity']['mean_cosine']:>9.4f} {r['fidelity']['min_cosine']:>8.4f}")
    print("  (fp32 sentences/s of each call: " + ", ".join(f"{r['reference']['sentences_per_s']:.0f}" for r in text) + ")")
    if asr:
        print(f"\nfaster-whisper tiny.en, {asr['clips']} espeak-ng clips ({asr['audio_seconds']} s audio)")
        header = f"{'compute type':14} {'WER':>6} {'seconds':>8} {'s/clip':>7} {'RTF':>7}"
        print(header)
        print("-" * len(header))
        for role, label in (("reference", "float32"), ("candidate", "int8")):
            s = asr["speed"][role]
            print(f"{label:14} {asr[f'wer_{role}']:>6.3f} {s['seconds']:>8.2f} {s['seconds_per_clip']:>7.3f} {s['realtime_factor']:>7.3f}")
        print(f"WER delta (int8 - float32): {asr['wer_delta']:+.3f}; speed ratio (int8 vs float32): {asr['speed']['speed_ratio']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "quantization.json")
    args = parser.parse_args()

    texts = english_questions(args.texts)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="quant-bench-") as tmp:
        work = Path(tmp)
        print(f"text benchmark: {len(texts)} English FAQ questions, {args.repeats} repeats, {args.threads} threads", flush=True)
        text = text_benchmark(texts, work, args.repeats, args.threads)
        print("speech benchmark", flush=True)
        asr = asr_benchmark(work, 3, args.threads)
    result = {
        "machine": {"cpus": os.cpu_count(), "threads": args.threads, "platform": platform.platform(),
                    "python": platform.python_version(), "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "text": {"texts": len(texts), "source": "build_faq_rows('ecommerce', 'seed') English questions",
                 "reference": "sentence-transformers/all-MiniLM-L6-v2 fp32", "results": text},
        "asr": asr,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False), "utf-8")
    print_tables(text, asr)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
