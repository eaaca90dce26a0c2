"""A deterministic stand-in encoder that counts what it encodes (unit tests only)."""

import hashlib

import numpy as np

from mm_platform.encoders.base import TextEncoder


class CountingEncoder(TextEncoder):
    name = "counting-test-encoder"
    version = "1"
    dim = 16

    def __init__(self):
        self.encoded: list[str] = []

    def _encode_batch(self, texts):
        self.encoded.extend(texts)
        seeds = [int(hashlib.sha256(t.encode()).hexdigest()[:8], 16) for t in texts]
        return np.stack([np.random.default_rng(s).standard_normal(self.dim) for s in seeds]).astype(np.float32)
