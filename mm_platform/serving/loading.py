"""The served unit: one live version of a tenant x modality with its exact models (and retrieval
strategy), loaded from a `LIVE.json` pointer, and the registry that keeps every pair in step with
its pointer (the hot swap: one reference assignment)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mm_platform.encoders.models import ModelSet
from mm_platform.encoders.text import load_text_encoder
from mm_platform.indexing.versions import LIVE_FILE, IndexHandle
from mm_platform.inputs.tenancy import TENANT_ID_PATTERN, Layout
from mm_platform.pipeline import version_models
from mm_platform.retrieval.retriever import Retriever
from mm_platform.retrieval.strategy import Strategy
from mm_platform.serving.limits import SERVED_MODALITIES
from mm_platform.serving.metrics import Metrics

log = logging.getLogger("mm_platform.serving")


@dataclass(frozen=True, eq=False)
class ServedIndex:
    """One live version of a tenant x modality with the exact text model that built it: the
    unit a request holds from start to end and the unit a swap replaces."""

    tenant: str
    modality: str
    handle: IndexHandle
    models: ModelSet
    encoder: Any
    pointer: dict
    loaded_at: float = field(default_factory=time.time)
    #: the FAQ's evaluated retrieval strategy over this version (None: plain vector search)
    retriever: Any = None

    @property
    def version(self) -> str:
        return self.handle.version

    @property
    def batch_key(self) -> tuple[str, str, str, str]:
        strategy = self.retriever.strategy.id if self.retriever is not None else ""
        return (self.tenant, self.modality, self.version, strategy)

    @property
    def encoder_key(self) -> tuple:
        """Requests whose text model is this same loaded object share encoder calls (a strategy's
        ensemble: the same models in the same roles)."""
        if self.retriever is not None:
            return ("ensemble", *(id(self.models.get(r)) for r in self.retriever.strategy.roles))
        return ("encoder", id(self.encoder))

    @property
    def ntotal(self) -> int:
        return int(self.handle.index.ntotal)

    def encode(self, texts: list[str]):
        if self.retriever is not None:
            return self.retriever.encode(texts, self.retriever.strategy.roles)
        return self.encoder.encode_queries(texts) if hasattr(self.encoder, "encode_queries") else self.encoder.encode(texts)

    def search(self, vectors, k: int, language: str | None, texts: list[str] | None = None) -> list[list]:
        if self.retriever is not None:
            # the strategy the version was evaluated and made live with; Hit.score is calibrated
            return self.retriever.search(texts, k=k, language=language, vectors=vectors)
        return self.handle.search(vectors, k=k, language=language)

    @property
    def calibrated(self) -> bool:
        """Scores are already the probability that a hit is relevant (no cosine mapping)."""
        return self.retriever is not None


def pointer_path(layout: Layout, tenant: str, modality: str) -> Path:
    return layout.artifact(tenant, "indexes", modality, LIVE_FILE)


def read_pointer(path: Path) -> dict | None:
    try:
        pointer = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    return pointer if isinstance(pointer, dict) and isinstance(pointer.get("version"), str) else None


def load_text_model(models: ModelSet, threads: int | None):
    """The exact `text` model of an index's model set. With `threads`, the copy used for serving
    runs its BLAS with that many threads per call (concurrency comes from parallel batches; many
    BLAS threads per small query oversubscribe the CPUs and cost 10-50x under load). The version
    must equal the manifest's, as `ModelSet.get` insists."""
    spec = models.choices["text"]
    if threads is None:
        return models.get("text")
    name = spec["name"]
    backend = "sentence-transformers" if name.startswith("sentence-transformers/") else name
    args = {k: v for k, v in spec.items() if k not in ("name", "version", "dim", "languages") and v not in (None, "")}
    try:
        encoder = load_text_encoder(backend, threads=threads, **args)
    except TypeError:  # a backend without a threads argument
        return models.get("text")
    if "version" in spec and encoder.version != spec["version"]:
        raise RuntimeError(f"text model {name} on disk is version {encoder.version}, the index was built with "
                           f"{spec['version']}")
    return encoder


def load_served(layout: Layout, tenant: str, modality: str, pointer: dict,
                encoder_threads: int | None = None) -> ServedIndex:
    """Load the version a pointer names and its exact text model (blocking: run in a thread)."""
    folder = layout.artifact(tenant, "indexes", modality, "versions", pointer["version"])
    handle = IndexHandle(folder)
    if handle.version != pointer["version"]:
        raise RuntimeError(f"{folder} holds version {handle.version}, the pointer names {pointer['version']}")
    models = version_models(handle)
    if "text" not in models.choices:
        raise RuntimeError(f"index {handle.version} has no text model: not text-searchable")
    encoder = load_text_model(models, encoder_threads)  # exact: refuses another version than the manifest's
    if int(getattr(encoder, "dim", handle.manifest["dims"])) != int(handle.manifest["dims"]):
        raise RuntimeError(f"text model dim {encoder.dim} != index dim {handle.manifest['dims']}")
    retriever = None
    if modality == "faq" or pointer.get("strategy"):  # the FAQ and the spoken-query transcripts
        strategy = Strategy.from_dict(pointer["strategy"]) if pointer.get("strategy") else Strategy()
        retriever = Retriever(handle, models, strategy)
        retriever.search(["warm-up"], k=1, language=retriever.languages[0])  # loads every view and model
    else:
        encoder.encode(["warm-up"])  # first call pays lazy initialisation, not the first request
    return ServedIndex(tenant, modality, handle, models, encoder, pointer, retriever=retriever)


class IndexRegistry:
    """The served (index, models) pair of every tenant x modality, kept in step with LIVE.json."""

    def __init__(self, layout: Layout, metrics: Metrics, modalities: tuple[str, ...] = SERVED_MODALITIES,
                 retry_failed_s: float = 30.0, on_swap: Callable[[ServedIndex, ServedIndex | None], None] | None = None,
                 encoder_threads: int | None = 1):
        self.layout = layout
        self.encoder_threads = encoder_threads
        self.metrics = metrics
        self.modalities = modalities
        self.retry_failed_s = retry_failed_s
        self.on_swap = on_swap
        self._live: dict[tuple[str, str], ServedIndex] = {}
        self._failed: dict[tuple[str, str], tuple[str, float, str]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.pending: set[tuple[str, str]] = set()  # pointers that exist but are not served yet
        self.ready = False
        self.scans = 0
        self.swaps = 0

    def current(self, tenant: str, modality: str) -> ServedIndex | None:
        return self._live.get((tenant, modality))

    def snapshot(self) -> dict[str, dict]:
        return {f"{t}/{m}": {"version": s.version, "since": s.pointer.get("since"), "rows": s.ntotal}
                for (t, m), s in sorted(self._live.items())}

    def discover(self) -> list[tuple[str, str]]:
        root = Path(self.layout.storage_dir)
        if not root.is_dir():
            return []
        found = []
        for entry in sorted(root.iterdir()):
            if entry.is_dir() and TENANT_ID_PATTERN.fullmatch(entry.name):
                for modality in self.modalities:
                    if (entry / "indexes" / modality / LIVE_FILE).is_file():
                        found.append((entry.name, modality))
        return found

    def _lock(self, key: tuple[str, str]) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def get(self, tenant: str, modality: str) -> ServedIndex | None:
        """The pair to use for one request; loads it on demand before the watcher has."""
        served = self._live.get((tenant, modality))
        if served is not None:
            return served
        if not pointer_path(self.layout, tenant, modality).is_file():
            return None
        await self.refresh(tenant, modality)
        return self._live.get((tenant, modality))

    async def refresh(self, tenant: str, modality: str, force: bool = False) -> bool:
        """Serve what LIVE.json names now; True when the served pair changed."""
        key = (tenant, modality)
        async with self._lock(key):
            pointer = read_pointer(pointer_path(self.layout, tenant, modality))
            served = self._live.get(key)
            if pointer is None:
                if served is not None:  # nothing is live any more
                    del self._live[key]
                    self._set_info(None, served)
                    log.warning("%s/%s: LIVE.json is gone; no longer served", tenant, modality)
                    return True
                return False
            if served is not None and served.version == pointer["version"] and \
                    (served.pointer.get("strategy") or None) == (pointer.get("strategy") or None):
                self.pending.discard(key)
                return False
            failed = self._failed.get(key)
            if (not force and failed and failed[0] == pointer["version"]
                    and time.monotonic() - failed[1] < self.retry_failed_s):
                return False
            started = time.perf_counter()
            try:
                fresh = await asyncio.to_thread(load_served, self.layout, tenant, modality, pointer,
                                                self.encoder_threads)
            except Exception as exc:  # noqa: BLE001 - keep serving the old pair
                self._failed[key] = (pointer["version"], time.monotonic(), f"{type(exc).__name__}: {exc}")
                self.metrics.loads.labels(tenant, modality, "failed").inc()
                log.error("%s/%s: loading version %s failed (%s); keeping %s", tenant, modality,
                          pointer["version"], exc, served.version if served else "nothing")
                return False
            self._failed.pop(key, None)
            self._live[key] = fresh  # the swap: one reference assignment
            self.pending.discard(key)
            self.swaps += served is not None
            self.metrics.loads.labels(tenant, modality, "ok").inc()
            self._set_info(fresh, served)
            log.info("%s/%s: serving %s (was %s, loaded in %.3f s)", tenant, modality, fresh.version,
                     served.version if served else "nothing", time.perf_counter() - started)
            if self.on_swap is not None:
                self.on_swap(fresh, served)
            return True

    def _set_info(self, fresh: ServedIndex | None, old: ServedIndex | None) -> None:
        if old is not None and (fresh is None or old.version != fresh.version):
            with contextlib.suppress(KeyError):
                self.metrics.live_info.remove(old.tenant, old.modality, old.version)
        if fresh is not None:
            self.metrics.live_info.labels(fresh.tenant, fresh.modality, fresh.version).set(1)

    async def scan(self) -> None:
        """One pass over every pointer; readiness once every existing pointer is served."""
        found = self.discover()
        for tenant, modality in found:
            try:
                await self.refresh(tenant, modality)
            except Exception:  # noqa: BLE001 - one tenant never stops the watcher
                log.exception("%s/%s: refresh failed", tenant, modality)
        for key in [k for k in self._live if k not in set(found)]:
            await self.refresh(*key)  # pointer removed
        self.pending = {key for key in found if key not in self._live}
        self.scans += 1
        if not self.pending:
            self.ready = True

    def failure(self, tenant: str, modality: str) -> str | None:
        """Why the version LIVE.json names could not be loaded (None: no failure recorded)."""
        failed = self._failed.get((tenant, modality))
        return f"version {failed[0]}: {failed[2]}" if failed else None

    def failures(self) -> dict[str, str]:
        return {f"{t}/{m}": f"version {v}: {why}" for (t, m), (v, _, why) in self._failed.items()}
