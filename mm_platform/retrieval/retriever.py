"""One FAQ index version answered with one strategy: the path the evaluation measures and every
serving path (`mm query`, `mm serve`, joint requests) takes, so what is served is what was
evaluated.

Scores are exact: the vectors of each view are read back from its Faiss index and multiplied with
the query vectors (the same inner products a flat Faiss search computes, for every row, which
fusion needs: z-scores over a language's rows and the best row of every linked label).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from mm_platform.encoders.models import ModelSet
from mm_platform.indexing.versions import Hit, IndexHandle
from mm_platform.retrieval.language import detect_language
from mm_platform.retrieval.lexical import LexicalIndex, TokenCache
from mm_platform.retrieval.links import link_map
from mm_platform.retrieval.strategy import DEFAULT_STRATEGY, Strategy, fuse, language_blocks

MAIN_VIEW = "q@text"


@dataclass
class Channels:
    """Everything fusion needs for a batch of queries: cosines per view over all rows, and BM25
    over the rows of each query's language."""

    languages: list[str]
    dense: dict[str, np.ndarray] = field(default_factory=dict)
    lexical: list[np.ndarray | None] = field(default_factory=list)


def lexical_text(row: dict) -> str:
    """What BM25 reads of a row: the question (or what a caller said) and the answer it gives."""
    asked = row.get("question") or row.get("embed_text") or row.get("title") or ""
    answer = row.get("answer") or row.get("content") or ""
    return f"{asked} {answer}"


class Retriever:
    def __init__(self, handle: IndexHandle, models: ModelSet, strategy: Strategy | None = None):
        self.handle = handle
        self.models = models
        self.strategy = strategy or DEFAULT_STRATEGY
        self.blocks = language_blocks(handle.rows, handle.manifest["language_ranges"])
        self.links = link_map(handle.file("links.json"))
        self._matrices: dict[str, np.ndarray] = {}
        self._lexical: LexicalIndex | None = None

    def using(self, strategy: Strategy) -> "Retriever":
        """The same version (loaded vectors shared) answered with another strategy."""
        other = object.__new__(Retriever)
        other.__dict__.update(self.__dict__)
        other.strategy = strategy
        return other

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.blocks)

    @property
    def available_roles(self) -> tuple[str, ...]:
        roles = {"text"} | {meta["role"] for meta in self.handle.manifest.get("views", {}).values()}
        return tuple(sorted(roles, key=lambda r: (r != "text", r)))

    def available_views(self) -> set[str]:
        return {MAIN_VIEW, *self.handle.manifest.get("views", {})}

    # --- channels --------------------------------------------------------------------------------

    def _matrix(self, view: str) -> np.ndarray:
        if view not in self._matrices:
            index = self.handle.index if view == MAIN_VIEW else self.handle.view(view)
            self._matrices[view] = index.reconstruct_n(0, index.ntotal)
        return self._matrices[view]

    #: where a tenant x modality's token cache lives: beside its versions (versions/<v>/../..)
    TOKEN_CACHE = "lexical_tokens.json"

    def lexical_index(self) -> LexicalIndex:
        if self._lexical is None:
            rows = self.handle.rows
            cache = TokenCache(self.handle.folder.parent.parent / self.TOKEN_CACHE)
            self._lexical = LexicalIndex([lexical_text(r) for r in rows], [r["language"] for r in rows], cache)
        return self._lexical

    def save_token_cache(self) -> None:
        """Persist the tokens of this version's rows and of the queries it answered (the evaluation
        calls it; serving never does)."""
        if self._lexical is not None and self._lexical.cache:
            self._lexical.cache.save()

    def encode(self, texts: list[str], roles: tuple[str, ...]) -> dict[str, np.ndarray]:
        return {role: np.asarray(self.models.get(role).encode_queries(texts), dtype=np.float32) for role in roles}

    def channels(self, texts: list[str], languages: list[str], strategies: list[Strategy],
                 vectors: dict[str, np.ndarray] | None = None) -> Channels:
        """Channels for the queries, covering every view and lexical need of `strategies`."""
        views = sorted({v for s in strategies for v in s.views})
        missing = [v for v in views if v not in self.available_views()]
        if missing:
            raise KeyError(f"index {self.handle.version} lacks view(s) {', '.join(missing)}")
        roles = tuple(sorted({v.split("@")[1] for v in views}))
        vectors = vectors if vectors is not None else self.encode(texts, roles)
        out = Channels(languages=list(languages))
        for view in views:
            out.dense[view] = vectors[view.split("@")[1]] @ self._matrix(view).T
        if any(s.lexical for s in strategies):
            lexical = self.lexical_index()
            for text, language in zip(texts, languages):
                block = self.blocks.get(language)
                out.lexical.append(lexical.scores(text, language)[block.lo:block.hi] if block else None)
        else:
            out.lexical = [None] * len(texts)
        return out

    # --- ranking ---------------------------------------------------------------------------------

    def fused(self, channels: Channels, strategy: Strategy | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query: (row ids of its language, fused scores), from precomputed channels."""
        strategy = strategy or self.strategy
        groups: dict[str, list[int]] = defaultdict(list)
        for i, language in enumerate(channels.languages):
            groups[language].append(i)
        out: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0, np.int64), np.zeros(0))] * len(channels.languages)
        for language, idx in groups.items():
            if language not in self.blocks:
                continue
            block = self.blocks[language]
            dense = {view: m[idx] for view, m in channels.dense.items()}
            lexical = None
            if strategy.lexical:
                lexical = np.stack([channels.lexical[i] for i in idx])
            scores = fuse(strategy, dense, lexical, language, self.blocks, self.links)
            ids = np.arange(block.lo, block.hi)
            for j, i in enumerate(idx):
                out[i] = (ids, scores[j])
        return out

    def ranked(self, channels: Channels, k: int, strategy: Strategy | None = None) -> list[list[Hit]]:
        """Top-k hits per query; `Hit.score` is the calibrated relevance (0..1), the fused score
        is in `Hit.row['fused_score']`."""
        strategy = strategy or self.strategy
        results = []
        for ids, scores in self.fused(channels, strategy):
            if not len(ids):
                results.append([])
                continue
            top = np.argsort(-scores, kind="stable")[:k]
            best = float(scores[top[0]])
            probability = strategy.calibrated(scores[top], best)
            results.append([Hit({**self.handle.rows[int(ids[t])], "fused_score": round(float(scores[t]), 4)}, float(p))
                            for t, p in zip(top, probability)])
        return results

    def resolve_language(self, text: str, language: str | None) -> str | None:
        """The declared language if the index has it, else the one the query's script shows."""
        if language is not None:
            return language if language in self.blocks else None
        return detect_language(text, self.languages)

    def search(self, texts: list[str], k: int = 5, language: str | None = None,
               vectors: dict[str, np.ndarray] | None = None) -> list[list[Hit]]:
        """The serving path: encode, score every channel, fuse with the live strategy, rank."""
        languages = [self.resolve_language(t, language) for t in texts]
        known = [i for i, lang in enumerate(languages) if lang is not None]
        results: list[list[Hit]] = [[] for _ in texts]
        if not known:
            return results
        sub_vectors = {r: v[known] for r, v in vectors.items()} if vectors is not None else None
        channels = self.channels([texts[i] for i in known], [languages[i] for i in known], [self.strategy],
                                 vectors=sub_vectors)
        for i, hits in zip(known, self.ranked(channels, k)):
            results[i] = hits
        return results
