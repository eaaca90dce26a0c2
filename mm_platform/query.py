"""The query path over a tenant's live indexes: each modality's query is encoded with the exact
models that built that modality's live index."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .index import IndexHandle
from .models import ModelSet
from .modalities.base import Modality
from .pipeline import index_store
from .tenancy import Layout



@dataclass
class LiveIndex:
    """A live index version with the models that built it (always used together)."""

    handle: IndexHandle
    models: ModelSet
    modality: Modality

    @classmethod
    def load(cls, layout: Layout, tenant: str, modality: Modality) -> "LiveIndex | None":
        """The index a modality's queries are answered from: its own live one, or for a modality
        with a `search_target` (speech -> FAQ) the target's, with the query-side models of its own."""
        own = index_store(layout, tenant, modality.name).live_version()
        if not own:
            return None
        own_handle = IndexHandle(index_store(layout, tenant, modality.name).version_dir(own))
        if not modality.search_target:
            return cls(own_handle, ModelSet.from_specs(own_handle.manifest["encoder"]["models"]), modality)
        target = index_store(layout, tenant, modality.search_target).live_version()
        if not target:
            return None
        handle = IndexHandle(index_store(layout, tenant, modality.search_target).version_dir(target))
        return cls(handle, target_models(own_handle, handle), modality)

    def search(self, query: dict, tenant_dir, k: int, language: str | None) -> list[dict]:
        if language is None and "asr" in self.modality.roles:
            languages = self.models.asr.languages
            if len(languages) != 1:
                raise ValueError("give the language of the audio: the ASR model supports " + ", ".join(languages))
            language = languages[0]  # a single-language ASR model hears only its language
        reason = self.modality.query_unsupported({"language": language, **query}, self.models) if language else None
        if reason:
            raise ValueError(reason)
        vector = self.modality.encode_queries([{"language": language, **query}], self.models, tenant_dir)
        return [{"score": round(h.score, 4), **h.row} for h in self.handle.search(vector, k=k, language=language)[0]]


def target_models(own: IndexHandle, target: IndexHandle) -> ModelSet:
    """Query-side models of a modality searching another modality's index: the target's models
    for the vector space (never a mixed pair), the modality's own for the rest (e.g. its ASR)."""
    own_models = own.manifest["encoder"]["models"]
    target_specs = target.manifest["encoder"]["models"]
    return ModelSet.from_specs({**{r: s for r, s in own_models.items() if r not in target_specs}, **target_specs})


@dataclass
class QueryResult:
    by_modality: dict[str, list[dict]] = field(default_factory=dict)
    fused: list[dict] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def run_query(layout: Layout, tenant: str, modalities: dict[str, Modality], inputs: dict[str, dict], k: int = 5,
              language: str | None = None) -> QueryResult:
    """`inputs` maps a modality name to its query fields (e.g. {"faq": {"query": "..."}}). Several
    inputs at once are also answered jointly from the FAQ (see `mm_platform.joint`)."""
    from .joint import JointAnswerer

    started = time.perf_counter()
    out = QueryResult()
    tenant_dir = layout.tenant_data(tenant)
    for name, query in inputs.items():
        live = LiveIndex.load(layout, tenant, modalities[name])
        if live is None:
            raise LookupError(f"{tenant}/{name}: nothing is live")
        out.versions[name] = live.handle.version
        out.by_modality[name] = live.search(query, tenant_dir, k, language)
    if len(inputs) > 1:
        if language is None:
            raise ValueError("a joint query needs --language (the FAQ answers are searched in that language)")
        parts = {field: value for query in inputs.values() for field, value in query.items()}
        out.fused = JointAnswerer(layout, tenant, modalities).answer(parts, language, k)
    out.seconds = round(time.perf_counter() - started, 4)
    return out
