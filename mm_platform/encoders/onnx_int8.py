"""Text encoder backend `sentence-transformers-onnx-int8`: a sentence-transformers model exported
to ONNX and quantized to int8 (`mm_platform.encoders.quantization.quantize_int8_onnx` writes the folder).

Tokenizer (`tokenizers`, no torch) -> onnxruntime session -> pooling with the attention mask
(mean for all-MiniLM-L6-v2) -> L2 normalisation: the same recipe as the fp32 model, so its
vectors are comparable (cosine about 0.99 to fp32 for MiniLM with per-channel weight scales).

Plain onnxruntime dynamic quantization computes ONE activation scale per tensor, i.e. over the
whole batch, padding included: a text's vector then depends on its batch-mates (cosine about
0.985 between a text encoded alone and inside a padded batch), so incremental embedding would
differ from a full rebuild and a query from the same text in the index. `quantize_int8_onnx`
therefore rewrites the graph to per-token activation scales (`activation_scales: per-token` in
the config): batching is then exact and the default. For a per-tensor model the loader runs one
text at a time (`per_text`, about half the batched throughput) unless told `per_text=False`.
Texts are sorted by length before batching to limit padding.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from mm_platform.encoders.base import TextEncoder, fingerprint_model_dir
from mm_platform.encoders.text import _threads

#: written by quantize_int8_onnx next to model.onnx; describes inputs, pooling and tokenizer
CONFIG_FILE = "onnx_sentence_encoder.json"
ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"


def pool(hidden: np.ndarray, attention_mask: np.ndarray, mode: str) -> np.ndarray:
    """Sentence vectors from token vectors (batch x tokens x dim), padding excluded."""
    mask = attention_mask.astype(np.float32)[:, :, None]
    if mode == "mean":
        return (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "max":
        return np.where(mask > 0, hidden, -1e9).max(axis=1)
    raise ValueError(f"unsupported pooling {mode!r} (mean, cls, max)")


class OnnxInt8SentenceEncoder(TextEncoder):
    """An int8 ONNX sentence encoder from a local folder (model.onnx, tokenizer.json and
    onnx_sentence_encoder.json)."""

    name = "sentence-transformers-onnx-int8"

    def __init__(self, model_path: str | os.PathLike, batch_size: int = 64, threads: int | None = None,
                 per_text: bool | None = None, **_: object):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = Path(model_path)
        missing = [f for f in (CONFIG_FILE, ONNX_FILE, TOKENIZER_FILE) if not (path / f).is_file()]
        if missing:
            raise FileNotFoundError(f"no int8 ONNX sentence encoder at {path} ({', '.join(missing)} missing)")
        self.model_path = str(path.resolve())
        self.batch_size = batch_size
        self.config = json.loads((path / CONFIG_FILE).read_text("utf-8"))
        per_token = (self.config.get("quantization") or {}).get("activation_scales") == "per-token"
        #: batch-mates cannot change a vector when activations are scaled per token
        self._per_text_default = not per_token
        self.per_text = self._per_text_default if per_text is None else bool(per_text)
        self.pooling = self.config.get("pooling", "mean")
        self.dim = int(self.config["dim"])
        languages = self.config.get("languages")
        self.languages = tuple(languages) if languages else None
        self.name = "sentence-transformers-onnx-int8/" + path.resolve().name
        self.version = fingerprint_model_dir(path)

        self._tokenizer = Tokenizer.from_file(str(path / TOKENIZER_FILE))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=int(self.config.get("max_seq_length", 256)))
        self._tokenizer.enable_padding(pad_id=int(self.config.get("pad_id", 0)), pad_token=self.config.get("pad_token", "[PAD]"))

        options = ort.SessionOptions()
        # threads <= cores: more oversubscribes small machines
        options.intra_op_num_threads = _threads(threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(path / ONNX_FILE), sess_options=options, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs()]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        if self.per_text or len(texts) <= 1:
            return super().encode(texts)
        # shortest first: batches of similar lengths carry little padding
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = super().encode([texts[i] for i in order])
        restored = np.empty_like(vectors)
        restored[order] = vectors
        return restored

    def _encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        if self.per_text and len(texts) > 1:
            return np.concatenate([self._run([text]) for text in texts])
        return self._run(texts)

    def _run(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch([str(t) for t in texts])
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.asarray([e.type_ids for e in encodings], dtype=np.int64)
        (hidden,) = self._session.run(["last_hidden_state"], {k: v for k, v in feeds.items() if k in self._inputs})
        return pool(hidden, mask, self.pooling)  # TextEncoder.encode L2-normalises

    def load_args(self) -> dict:
        if self.per_text == self._per_text_default:
            return {"model_path": self.model_path}
        return {"model_path": self.model_path, "per_text": self.per_text}
