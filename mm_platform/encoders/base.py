"""The text encoder interface every backend implements."""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Sequence

import numpy as np


class TextEncoder(ABC):
    """Maps texts to L2-normalised float32 vectors of a fixed dimension.

    `name` and `version` identify the exact model: they key the embedding cache and are
    written into every index manifest, so the query path always loads the encoder that
    built the live index.
    """

    name: str
    version: str
    dim: int
    #: languages the model handles well; None means "not declared"
    languages: tuple[str, ...] | None = None

    @abstractmethod
    def _encode_batch(self, texts: Sequence[str]) -> np.ndarray: ...

    batch_size: int = 128

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [self._encode_batch(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        return normalize(np.concatenate(parts).astype(np.float32, copy=False))

    def spec(self) -> dict:
        """What the index manifest records to load this encoder again."""
        return {"name": self.name, "version": self.version, "dim": self.dim, **self.load_args()}

    def load_args(self) -> dict:
        return {}

    @property
    def key(self) -> str:
        """File-system safe identifier of (name, version): the cache and index namespace."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{self.name}@{self.version}")


def normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


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
