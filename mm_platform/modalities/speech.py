"""Speech modality: spoken customer queries (`speech.json`), transcribed, embedded and searched.

The corpus rows are transcribed by the configured ASR model (a derived `transcripts` asset with
WER for English and CER for Chinese and Japanese against the given text); the transcript is what
gets embedded with the text encoder into the tenant's index of spoken queries, and each row's
`content` is the FAQ answer its intent resolves to (what an LLM should read when the index is
served as `<tenant>/speech`). The speech index is evaluated on its own: a spoken evaluation query
is transcribed, embedded and searched in this index, exactly as a query to `<tenant>/speech` is.
Rows in a language the ASR model does not support are marked so and embedded from their given
text; audio queries in such a language are reported as unsupported, never scored as silent
failures (and a cell with nothing scored fails unless tenant.yaml excuses it).
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path

import numpy as np

from mm_platform.atomic import atomic_write_json
from mm_platform.encoders.models import ModelSet
from mm_platform.evaluation.metrics import char_error_rate, word_error_rate
from mm_platform.inputs.media import SAMPLE_RATE, MediaError, load_audio
from mm_platform.inputs.validation import InputFileError, RowError, content_hash, language_field, text_field
from mm_platform.modalities.base import Modality, file_hash, media_path

#: languages scored by word error rate; the others (zh, ja: no spaces) by character error rate
WER_LANGUAGES = ("en",)


def error_rate(language: str, reference: str, hypothesis: str) -> tuple[str, float]:
    if language in WER_LANGUAGES:
        return "wer", word_error_rate(_words(reference), _words(hypothesis))
    return "cer", char_error_rate(_chars(reference), _chars(hypothesis))


def _words(text: str) -> str:
    return " ".join("".join(c for c in w if c.isalnum() or c == "'") for w in text.lower().split()).strip()


def _chars(text: str) -> str:
    return "".join(c for c in text if c.isalnum())


def vocabulary_prompt(tenant_dir: Path, language: str) -> str | None:
    """Domain vocabulary that biases transcription: the tenant's catalogue (the `entity` names of
    its FAQ rows in that language) plus `asr_vocabulary` from tenant.yaml. None when empty.

    Every spoken query needs it, so it is read once per version of those files, not per query."""
    from mm_platform.inputs.tenant_config import TENANT_FILE
    from mm_platform.modalities.faq import FAQ_FILES

    stamps = tuple((name, p.stat().st_mtime_ns, p.stat().st_size) for name in (*FAQ_FILES, TENANT_FILE)
                   if (p := Path(tenant_dir) / name).is_file())
    return _vocabulary_prompt(str(tenant_dir), language, stamps)


@lru_cache(maxsize=256)
def _vocabulary_prompt(tenant_dir: str, language: str, _stamps: tuple) -> str | None:
    from mm_platform.inputs.tenant_config import load_tenant_config
    from mm_platform.modalities.faq import FaqModality

    tenant_dir = Path(tenant_dir)
    words = list(load_tenant_config(tenant_dir).asr_vocabulary)
    try:
        words += sorted({r["entity"] for r in FaqModality().parse(tenant_dir, "").rows
                         if r["language"] == language and r["entity"]})
    except InputFileError:
        pass
    return ("Customer questions about: " + ", ".join(dict.fromkeys(words)) + ".") if words else None


def resolved_answers(tenant_dir: Path, rows: list[dict]) -> dict[str, str]:
    """Per spoken row, the answer of the tenant's FAQ entry of the same language and intent whose
    question shares the most characters with what was said (none: the row keeps its transcript)."""
    from mm_platform.modalities.faq import FaqModality

    try:
        faq_rows = FaqModality().parse(Path(tenant_dir), "").rows
    except InputFileError:
        return {}
    by_label = defaultdict(list)
    for r in faq_rows:
        by_label[(r["language"], r["annotation"])].append(r)
    out = {}
    for row in rows:
        candidates = by_label.get((row["language"], row["annotation"]))
        if candidates:
            said = set(_chars(row["text"].lower()))
            best = max(candidates, key=lambda r: (len(said & set(_chars(r["question"].lower()))), r["id"]))
            out[row["id"]] = best["answer"]
    return out


class SpeechModality(Modality):
    """Spoken queries (16 kHz mono after normalisation) with their text and intent label."""

    name = "speech"
    input_files = ("speech.json", "speech.jsonl")
    query_field = "audio_path"
    roles = ("asr", "text")
    gpu = True
    derived_name = "transcripts"
    #: a spoken query costs about a second of CPU on the embedded models, and its answer inherits the
    #: transcription's errors: on espeak-ng English with tiny.en (WER 0.08-0.12) the speech index
    #: scored 0.66-0.88 F1 where the same index answered the typed texts at 0.78-0.95, so its quality
    #: bounds sit lower than the FAQ's (still on the interval's low end)
    default_gates = {"max_latency_p95_ms": 5000.0, "min_f1": 0.4, "min_recall_at_1": 0.4}
    #: transcription dominates: throughput is measured on the sequential per-query path
    batched_throughput = False
    #: CTranslate2 decodes on threads of its own; the calling thread only waits
    latency_clock = "process"
    #: answered like the FAQ, by a retrieval strategy over what was said and the answer it resolved to
    strategies = True
    row_texts = {
        "q": lambda row: row["embed_text"],
        "a": lambda row: row["content"],
        "qa": lambda row: row["embed_text"] + "\n" + row["content"],
    }

    def __init__(self):
        self._transcripts: dict[tuple, str] = {}
    derived_description = ("Transcripts of the tenant's speech clips by the configured ASR model, with WER (en) and "
                           "CER (zh, ja) against the given text; rows in languages the model does not support are "
                           "marked unsupported and keep their given text. Only new audio is transcribed.")

    def parse_row(self, obj: dict, tenant_dir: Path) -> dict:
        path = media_path(obj, "audio_path", tenant_dir)
        text = text_field(obj, "text")
        language = language_field(obj)
        annotation = text_field(obj, "annotation")
        try:
            _, info = load_audio(path)
        except MediaError as err:
            raise RowError("audio_path", err.reason) from None
        audio_hash = file_hash(path)
        return {
            "audio_path": obj["audio_path"].strip(),
            "text": text,
            "language": language,
            "annotation": annotation,
            "title": text,
            "content": annotation,
            "duration_s": info["duration_s"],
            "original_rate": info["original_rate"],
            "channels": info["channels"],
            "audio_hash": audio_hash,
            "content_hash": content_hash(audio_hash, language, text),
        }

    def parse_query(self, obj: dict, tenant_dir: Path) -> dict:
        path = media_path(obj, "audio_path", tenant_dir)
        try:
            load_audio(path)
        except MediaError as err:
            raise RowError("audio_path", err.reason) from None
        text = text_field(obj, "text", required=False)
        return {"audio_path": obj["audio_path"].strip(), **({"text": text} if text else {})}

    # --- derived transcripts ------------------------------------------------------------------

    def derive(self, rows: list[dict], models: ModelSet, tenant_dir: Path, cache_root: Path, progress=None):
        asr = models.asr
        prompts = {lang: vocabulary_prompt(tenant_dir, lang) for lang in {r["language"] for r in rows}}
        # a transcript depends on the audio, the model and the vocabulary prompt
        keys = {r["id"]: content_hash(r["audio_hash"], prompts[r["language"]] or "") for r in rows}
        cache_path = cache_root / asr.key / "transcripts.json"
        cache = json.loads(cache_path.read_text("utf-8")) if cache_path.exists() else {}
        todo = [r for r in rows if asr.supports(r["language"]) and keys[r["id"]] not in cache]
        started = time.perf_counter()
        for i, row in enumerate(todo, 1):
            audio, _ = load_audio(Path(tenant_dir) / row["audio_path"])
            cache[keys[row["id"]]] = asr.transcribe(audio, row["language"], prompts[row["language"]])
            if progress and (i % 25 == 0 or i == len(todo)):
                progress(i, len(todo))
        seconds = time.perf_counter() - started
        if todo:
            atomic_write_json(cache_path, cache)
        answers = resolved_answers(tenant_dir, rows)
        out, by_language = [], defaultdict(list)
        for row in rows:
            row = {**row, "content": answers.get(row["id"]) or row["text"]}
            if asr.supports(row["language"]):
                transcript = cache[keys[row["id"]]]
                metric, value = error_rate(row["language"], row["text"], transcript)
                by_language[(row["language"], metric)].append(value)
                out.append({**row, "transcript": transcript, "transcript_status": "transcribed",
                            "embed_text": transcript or row["text"], "error_metric": metric, "error_rate": round(value, 4)})
            else:
                out.append({**row, "transcript": "", "transcript_status": f"unsupported language ({asr.name})",
                            "embed_text": row["text"], "error_metric": None, "error_rate": None})
        summary = {
            "asr_model": asr.name, "asr_languages": ", ".join(asr.languages), "transcribed_now": len(todo),
            "reused_transcripts": sum(1 for r in rows if asr.supports(r["language"])) - len(todo),
            "unsupported_rows": sum(1 for r in rows if not asr.supports(r["language"])),
            "empty_transcripts": sum(1 for r in out if r["transcript_status"] == "transcribed" and not r["transcript"]),
            "transcribe_seconds": round(seconds, 3),
            "audio_seconds_transcribed": round(sum(r["duration_s"] for r in todo), 2),
            **{f"{lang}/{metric}": round(float(np.mean(v)), 4) for (lang, metric), v in sorted(by_language.items())},
        }
        return out, summary

    # --- vectors -------------------------------------------------------------------------------

    def encode_rows(self, rows: list[dict], models: ModelSet, tenant_dir: Path) -> np.ndarray:
        return models.text.encode([r["embed_text"] for r in rows])

    def transcribe_query(self, query: dict, models: ModelSet, tenant_dir: Path) -> str:
        """Always transcribes (this is the measured query path); remembers the last transcripts so
        WER/CER of the same queries needs no second pass."""
        path = Path(tenant_dir) / query["audio_path"]
        audio, _ = load_audio(path)
        prompt = vocabulary_prompt(tenant_dir, query["language"])
        text = models.asr.transcribe(audio, query["language"], prompt)
        if len(self._transcripts) > 10_000:
            self._transcripts.clear()
        self._transcripts[(str(path), models.asr.key, prompt)] = text
        return text

    def transcript_of(self, query: dict, models: ModelSet, tenant_dir: Path) -> str:
        """The transcript of a query the timed path already transcribed (else transcribe it now)."""
        key = (str(Path(tenant_dir) / query["audio_path"]), models.asr.key, vocabulary_prompt(tenant_dir, query["language"]))
        return self._transcripts.get(key) or self.transcribe_query(query, models, tenant_dir)

    def encode_queries(self, queries: list[dict], models: ModelSet, tenant_dir: Path) -> np.ndarray:
        return models.text.encode_queries([self.transcribe_query(q, models, tenant_dir) for q in queries])

    def query_unsupported(self, query: dict, models: ModelSet) -> str | None:
        asr = models.asr
        if not asr.supports(query["language"]):
            return f"ASR model {asr.name} does not support {query['language']}"
        return None

    def extra_metrics(self, queries: list[dict], models: ModelSet, tenant_dir: Path) -> dict[str, dict]:
        """WER (en) / CER (zh, ja) of the audio queries that carry their text."""
        scores = defaultdict(list)
        for q in queries:
            if q.get("text") and not self.query_unsupported(q, models):
                transcript = self.transcript_of(q, models, tenant_dir)
                metric, value = error_rate(q["language"], q["text"], transcript)
                scores[(q["language"], metric)].append(value)
        return {lang: {metric: round(float(np.mean(v)), 4)} for (lang, metric), v in scores.items()}

    def describe_media(self, rows: list[dict]) -> dict:
        return {"clips": len(rows), "normalized_to": f"{SAMPLE_RATE} Hz mono",
                "total_seconds": round(sum(r["duration_s"] for r in rows), 1),
                "original_rates": dict(Counter(r["original_rate"] for r in rows)),
                "channels": dict(Counter(r["channels"] for r in rows))}

    def extra_checks(self):
        def non_empty(ref: dict, gates) -> tuple[bool, dict]:
            rows = json.loads(Path(ref["derived_path"]).read_text("utf-8"))
            empty = [r["id"] for r in rows if r["transcript_status"] == "transcribed" and not r["transcript"].strip()]
            return not empty, {"transcribed": sum(r["transcript_status"] == "transcribed" for r in rows),
                               "empty": len(empty), "empty_ids": ", ".join(empty[:10]) or "none"}

        def bounded(ref: dict, gates) -> tuple[bool, dict]:
            figures = {k: v for k, v in ref["derived"].items() if k.endswith(("/wer", "/cer"))}
            over = [f"{k} {v:.3f} > {gates.max_wer if k.endswith('wer') else gates.max_cer:.3f}"
                    for k, v in figures.items() if v > (gates.max_wer if k.endswith("wer") else gates.max_cer)]
            return not over, {**figures, "over_bound": "; ".join(over) or "none",
                              "max_wer": gates.max_wer, "max_cer": gates.max_cer}

        return [("transcripts", "transcripts_non_empty",
                 "Every clip in a language the ASR model supports got a non-empty transcript.", non_empty),
                ("transcripts", "error_rate_within_bounds",
                 "Mean WER (en) / CER (zh, ja) of the transcripts stays within the configured bound for every "
                 "language the ASR model supports.", bounded)]
