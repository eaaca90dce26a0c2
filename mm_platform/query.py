"""The query path over a tenant's live indexes: each modality's query is encoded with the exact
models that built that modality's live index; several inputs at once are fused by reciprocal
rank fusion over the annotation of the hits."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from .index import IndexHandle
from .models import ModelSet
from .modalities.base import Modality
from .pipeline import index_store
from .tenancy import Layout

RRF_K = 60


@dataclass
class LiveIndex:
    """A live index version with the models that built it (always used together)."""

    handle: IndexHandle
    models: ModelSet
    modality: Modality

    @classmethod
    def load(cls, layout: Layout, tenant: str, modality: Modality) -> "LiveIndex | None":
        store = index_store(layout, tenant, modality.name)
        version = store.live_version()
        if not version:
            return None
        handle = IndexHandle(store.version_dir(version))
        return cls(handle, ModelSet.from_specs(handle.manifest["encoder"]["models"]), modality)

    def search(self, query: dict, tenant_dir, k: int, language: str | None) -> list[dict]:
        reason = self.modality.query_unsupported({"language": language or "", **query}, self.models) if language else None
        if reason:
            raise ValueError(reason)
        vector = self.modality.encode_queries([{"language": language, **query}], self.models, tenant_dir)
        return [{"score": round(h.score, 4), **h.row} for h in self.handle.search(vector, k=k, language=language)[0]]


@dataclass
class QueryResult:
    by_modality: dict[str, list[dict]] = field(default_factory=dict)
    fused: list[dict] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def fuse(results: dict[str, list[dict]], k: int) -> list[dict]:
    """Reciprocal rank fusion of the per-modality rankings, by annotation."""
    scores: dict[str, float] = defaultdict(float)
    best: dict[str, dict] = {}
    for hits in results.values():
        seen = set()
        for rank, hit in enumerate(hits):
            label = hit["annotation"]
            if label in seen:
                continue
            seen.add(label)
            scores[label] += 1.0 / (RRF_K + rank + 1)
            best.setdefault(label, hit)
    order = sorted(scores, key=lambda label: -scores[label])[:k]
    return [{"annotation": label, "fused_score": round(scores[label], 5), "top_hit": best[label]} for label in order]


def run_query(layout: Layout, tenant: str, modalities: dict[str, Modality], inputs: dict[str, dict], k: int = 5,
              language: str | None = None) -> QueryResult:
    """`inputs` maps a modality name to its query fields (e.g. {"faq": {"query": "..."}})."""
    started = time.perf_counter()
    out = QueryResult()
    tenant_dir = layout.tenant_data(tenant)
    for name, query in inputs.items():
        live = LiveIndex.load(layout, tenant, modalities[name])
        if live is None:
            raise LookupError(f"{tenant}/{name}: nothing is live")
        out.versions[name] = live.handle.version
        out.by_modality[name] = live.search(query, tenant_dir, k, language)
    out.fused = fuse(out.by_modality, k) if len(out.by_modality) > 1 else []
    out.seconds = round(time.perf_counter() - started, 4)
    return out
