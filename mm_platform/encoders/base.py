"""The text encoder interface every backend implements."""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Sequence

import numpy as np


class Encoder(ABC):
    """Common identity of every model that produces vectors.

    `name` and `version` identify the exact model: they key the embedding cache and are
    written into every index manifest, so the query path always loads the model that
    built the live index.
    """

    name: str
    version: str
    dim: int

    def spec(self) -> dict:
        """What the index manifest records to load this model again."""
        return {"name": self.name, "version": self.version, "dim": self.dim, **self.load_args()}

    def load_args(self) -> dict:
        return {}

    @property
    def key(self) -> str:
        """File-system safe identifier of (name, version): the cache and index namespace."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{self.name}@{self.version}")


class TextEncoder(Encoder):
    """Maps texts to L2-normalised float32 vectors of a fixed dimension."""

    #: languages the model handles well; None means "not declared"
    languages: tuple[str, ...] | None = None
    batch_size: int = 128

    @abstractmethod
    def _encode_batch(self, texts: Sequence[str]) -> np.ndarray: ...

    def _encode_query_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Query-side vectors; asymmetric models (e5: "query: " vs "passage: ") override it."""
        return self._encode_batch(texts)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of stored texts (FAQ questions, answers, transcripts)."""
        return self._batched(self._encode_batch, texts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of what users ask (the same as `encode` for symmetric models)."""
        return self._batched(self._encode_query_batch, texts)

    def _batched(self, fn, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [fn(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        return normalize(np.concatenate(parts).astype(np.float32, copy=False))


class ImageEncoder(Encoder):
    """Maps RGB images (uint8 H x W x 3, already normalised to 512 x 512) to L2-normalised vectors.

    `cross_modal` encoders (CLIP) also embed text into the same space (`encode_texts`), which
    enables text -> image search; the others raise NotImplementedError there.
    """

    cross_modal: bool = False
    batch_size: int = 32

    @abstractmethod
    def _encode_image_batch(self, images: Sequence[np.ndarray]) -> np.ndarray: ...

    def encode_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        images = list(images)
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [self._encode_image_batch(images[i : i + self.batch_size]) for i in range(0, len(images), self.batch_size)]
        return normalize(np.concatenate(parts).astype(np.float32, copy=False))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError(f"{self.name} does not embed text")


class SpeechRecognizer(ABC):
    """Speech to text. `languages` lists what the model supports; other languages are reported
    as unsupported, never transcribed into noise and scored as failures."""

    name: str
    version: str
    languages: tuple[str, ...]

    def supports(self, language: str) -> bool:
        return language in self.languages

    @abstractmethod
    def transcribe(self, audio: np.ndarray, language: str, prompt: str | None = None) -> str:
        """`audio`: float32 mono samples at 16 kHz in [-1, 1]; `prompt`: domain vocabulary
        (product names...) that biases decoding, where the backend supports it."""

    def spec(self) -> dict:
        return {"name": self.name, "version": self.version, "languages": list(self.languages), **self.load_args()}

    def load_args(self) -> dict:
        return {}

    @property
    def key(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{self.name}@{self.version}")


def normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


def directory_size(folder: Path) -> int:
    """Bytes of every file under a folder (a model's size on disk)."""
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())


def fingerprint_model_dir(path: Path, hash_limit: int = 256 * 1024 * 1024) -> str:
    """Short content hash of a model folder: names, sizes and bytes of its files."""
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(path).rglob("*") if p.is_file()):
        rel = file.relative_to(path).as_posix()
        if rel.startswith(".") or "/." in rel or rel.endswith(".md"):
            continue
        digest.update(f"{rel}:{file.stat().st_size}\n".encode())
        if file.stat().st_size <= hash_limit:
            with file.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()[:12]
