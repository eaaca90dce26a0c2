"""The query path over a tenant's live indexes: each modality's query is encoded with the exact
models that built that modality's live index."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from mm_platform.encoders.models import ModelSet
from mm_platform.indexing.versions import IndexHandle
from mm_platform.inputs.tenancy import Layout
from mm_platform.modalities.base import Modality
from mm_platform.pipeline import index_store


@dataclass
class LiveIndex:
    """A live index version with the models that built it (always used together) and, for a
    modality answered by a retrieval strategy, the strategy it was evaluated and made live with."""

    handle: IndexHandle
    models: ModelSet
    modality: Modality
    retriever: object | None = None

    @classmethod
    def load(cls, layout: Layout, tenant: str, modality: Modality) -> "LiveIndex | None":
        from mm_platform.pipeline import version_models
        from mm_platform.retrieval.retriever import Retriever
        from mm_platform.retrieval.strategy import Strategy

        store = index_store(layout, tenant, modality.name)
        live = store.live()
        if not live:
            return None
        handle = IndexHandle(store.version_dir(live["version"]))
        models = version_models(handle)
        retriever = None
        if modality.strategies:
            strategy = Strategy.from_dict(live["strategy"]) if live.get("strategy") else Strategy()
            retriever = Retriever(handle, models, strategy)
        return cls(handle, models, modality, retriever)

    @property
    def strategy_id(self) -> str | None:
        return self.retriever.strategy.id if self.retriever is not None else None

    def search(self, query: dict, tenant_dir, k: int, language: str | None) -> list[dict]:
        if self.retriever is not None and "asr" not in self.modality.roles:
            hits = self.retriever.search([query[self.modality.query_field]], k=k, language=language)[0]
            return [{"score": round(h.score, 4), **h.row} for h in hits]
        if language is None and "asr" in self.modality.roles:
            languages = self.models.asr.languages
            if len(languages) != 1:
                raise ValueError("give the language of the audio: the ASR model supports " + ", ".join(languages))
            language = languages[0]  # a single-language ASR model hears only its language
        reason = self.modality.query_unsupported({"language": language, **query}, self.models) if language else None
        if reason:
            raise ValueError(reason)
        if self.retriever is not None:  # spoken: transcribe, then the evaluated strategy
            text = self.modality.transcribe_query({"language": language, **query}, self.models, tenant_dir)
            hits = self.retriever.search([text], k=k, language=language)[0]
            return [{"score": round(h.score, 4), "transcript": text, **h.row} for h in hits]
        vector = self.modality.encode_queries([{"language": language, **query}], self.models, tenant_dir)
        search_language = None if self.modality.language_free_queries else language
        return [{"score": round(h.score, 4), **h.row} for h in self.handle.search(vector, k=k, language=search_language)[0]]


@dataclass
class QueryResult:
    by_modality: dict[str, list[dict]] = field(default_factory=dict)
    fused: list[dict] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def run_query(layout: Layout, tenant: str, modalities: dict[str, Modality], inputs: dict[str, dict], k: int = 5,
              language: str | None = None) -> QueryResult:
    """`inputs` maps a modality name to its query fields (e.g. {"faq": {"query": "..."}}). Several
    inputs at once are also answered jointly from the FAQ (see `mm_platform.retrieval.joint`)."""
    from mm_platform.retrieval.joint import JointAnswerer

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
