"""Speech recognition: the bundled faster-whisper tiny.en on synthesised speech, and the
transformers Whisper loading/generate path on a tiny random checkpoint built offline."""

import shutil
import string
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mm_platform.encoders.asr import FasterWhisperRecognizer, TransformersWhisperRecognizer
from mm_platform.evaluation.metrics import word_error_rate
from mm_platform.inputs.media import SAMPLE_RATE, load_audio

UTTERANCE = "Can I return the wireless earbuds I bought last week"


def _words(text: str) -> str:
    return " ".join(text.lower().translate(str.maketrans("", "", string.punctuation)).split())


@pytest.fixture(scope="module")
def spoken_clip(tmp_path_factory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: cannot synthesise the test utterance")
    path = tmp_path_factory.mktemp("speech") / "utterance.wav"
    # -g 6: 60 ms between words. Without it tiny.en hears "wireless earbuds I bought" in espeak's
    # default voice as "right lesson about my board" (WER 0.5); with gaps of 40-100 ms it is exact.
    subprocess.run(["espeak-ng", "-v", "en", "-g", "6", "-w", str(path), UTTERANCE], check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def faster_whisper() -> FasterWhisperRecognizer:
    return FasterWhisperRecognizer(threads=2)


def test_bundled_tiny_en_transcribes_english_speech(faster_whisper: FasterWhisperRecognizer, spoken_clip: Path):
    audio, info = load_audio(spoken_clip)
    assert info["original_rate"] != SAMPLE_RATE  # espeak-ng writes 22.05 kHz: the resampler ran
    transcript = faster_whisper.transcribe(audio, "en")
    assert word_error_rate(_words(UTTERANCE), _words(transcript)) <= 0.3, transcript
    assert faster_whisper.transcribe_batch([audio], "en") == [transcript]


def test_bundled_tiny_en_identity_and_languages(faster_whisper: FasterWhisperRecognizer):
    assert faster_whisper.name == "faster-whisper/tiny.en" and len(faster_whisper.version) == 12
    assert faster_whisper.languages == ("en",)
    assert faster_whisper.spec()["model_path"].endswith("model")
    with pytest.raises(ValueError, match="unsupported language 'zh'"):
        faster_whisper.transcribe(np.zeros(SAMPLE_RATE, dtype=np.float32), "zh")


# --- transformers Whisper, tiny and random ---

LANGUAGES = ("en", "zh", "ja")
SPECIAL_TOKENS = ["<|endoftext|>", "<|startoftranscript|>", *(f"<|{code}|>" for code in LANGUAGES),
                  "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
                  "<|notimestamps|>"]


def _save_tiny_whisper(folder: Path) -> None:
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    characters = [c for c in string.ascii_letters + string.digits + string.punctuation] + ["Ġ"]
    vocab = {token: i for i, token in enumerate(characters + SPECIAL_TOKENS)}
    tokenizer = WhisperTokenizer(vocab=vocab, merges=[])
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:]})
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}

    config = WhisperConfig(
        vocab_size=len(vocab), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=80,
        max_source_positions=1500, max_target_positions=64, pad_token_id=ids["<|endoftext|>"],
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|endoftext|>"],
        decoder_start_token_id=ids["<|startoftranscript|>"], suppress_tokens=None, begin_suppress_tokens=None,
    )
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"],
        no_timestamps_token_id=ids["<|notimestamps|>"], is_multilingual=True,
        lang_to_id={f"<|{code}|>": ids[f"<|{code}|>"] for code in LANGUAGES},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
    )
    model.save_pretrained(folder)
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(), tokenizer=tokenizer).save_pretrained(folder)


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory) -> TransformersWhisperRecognizer:
    folder = tmp_path_factory.mktemp("models") / "tiny-whisper"
    _save_tiny_whisper(folder)
    return TransformersWhisperRecognizer(folder, max_new_tokens=8, threads=1)


def test_transformers_whisper_loads_and_generates_offline(tiny_whisper: TransformersWhisperRecognizer):
    one_second = (0.1 * np.sin(2 * np.pi * 220 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    assert isinstance(tiny_whisper.transcribe(one_second, "en"), str)  # random weights: any text
    batch = tiny_whisper.transcribe_batch([one_second, one_second[: SAMPLE_RATE // 2]], "zh")
    assert len(batch) == 2 and all(isinstance(text, str) for text in batch)
    assert sorted(tiny_whisper.languages) == sorted(LANGUAGES)
    assert tiny_whisper.name == "transformers-whisper/tiny-whisper"
    assert tiny_whisper.spec()["version"] == tiny_whisper.version
    with pytest.raises(ValueError, match="unsupported language 'de'"):
        tiny_whisper.transcribe(one_second, "de")


def test_transformers_whisper_refuses_folder_without_config(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="config.json missing"):
        TransformersWhisperRecognizer(tmp_path)
