"""Query vectors kept between evaluations: an unchanged evaluation query is not encoded again.

Only the batched passes of an evaluation (choosing a strategy, answering the report queries) read
it; the timed path always encodes, since encoding is most of what a query costs. One file per
encoder (its key names the exact model and version), so a new model never meets stale vectors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mm_platform.atomic import atomic_write_bytes


class QueryVectorCache:
    def __init__(self, root: Path, max_entries: int = 50_000):
        self.root = Path(root)
        self.max_entries = max_entries
        self._by_key: dict[str, dict[str, np.ndarray]] = {}
        self._dirty: set[str] = set()

    def _load(self, key: str) -> dict[str, np.ndarray]:
        if key not in self._by_key:
            path = self.root / f"{key}.npz"
            entries: dict[str, np.ndarray] = {}
            if path.is_file():
                try:
                    with np.load(path, allow_pickle=False) as data:
                        entries = dict(zip(data["texts"].tolist(), data["vectors"]))
                except (OSError, ValueError, KeyError):
                    entries = {}  # unreadable: encode again
            self._by_key[key] = entries
        return self._by_key[key]

    def vectors(self, retriever, texts: list[str], roles: tuple[str, ...]) -> dict[str, np.ndarray]:
        """{role: vectors of `texts`}, encoding only the texts this model has not seen."""
        out = {}
        for role in roles:
            encoder = retriever.models.get(role)
            entries = self._load(encoder.key)
            missing = list(dict.fromkeys(t for t in texts if t not in entries))
            if missing:
                for text, vector in zip(missing, retriever.encode(missing, (role,))[role]):
                    entries[text] = vector
                self._dirty.add(encoder.key)
            out[role] = np.stack([entries[t] for t in texts]).astype(np.float32) if texts else \
                np.zeros((0, encoder.dim), dtype=np.float32)
        return out

    def save(self) -> None:
        import io

        for key in self._dirty:
            entries = self._by_key[key]
            if len(entries) > self.max_entries:  # keep the most recent
                entries = dict(list(entries.items())[-self.max_entries:])
            buffer = io.BytesIO()
            np.savez(buffer, texts=np.array(list(entries), dtype=str), vectors=np.stack(list(entries.values())))
            atomic_write_bytes(self.root / f"{key}.npz", buffer.getvalue())
        self._dirty.clear()
