"""Micro-batching of concurrent text queries, and a bounded LRU cache of their hits.

Queries that arrive within `max_wait_ms` of each other and use the same text model are
gathered (at most `max_batch`), their distinct texts encoded in ONE encoder call in a worker
thread, and searched with one Faiss call per (tenant, modality, index version, language filter)
present in the batch (a language filter is an id range of the version). Each request gets its
own slice of the hits. So all concurrent queries of one (tenant, modality, index version) share
one encoder call and one Faiss call; queries of other tenants whose indexes were built by the
same model share the encoder call too (the model is a pure function of the text: vectors are
returned per request and every search runs on the request's own index, so nothing crosses
tenants). Searches are keyed by the index version held by each request, so a batch that spans a
swap searches each version separately and no request ever sees another version's rows.

At most `max_inflight` batches per model run at once; queries that arrive meanwhile wait and
form the next batch, so batches grow with load instead of queueing up as many small ones.

The cache is keyed by (tenant, modality, index version, query text, language filter) and holds
the top hits of the deepest search done for that key; an entry answers any request that needs
no more hits than it holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Protocol

import numpy as np

log = logging.getLogger(__name__)


class Searchable(Protocol):
    """What the batcher needs of a served index (see `app.ServedIndex`)."""

    @property
    def batch_key(self) -> Hashable: ...

    @property
    def ntotal(self) -> int: ...

    def encode(self, texts: list[str]) -> np.ndarray: ...

    def search(self, vectors: np.ndarray, k: int, language: str | None) -> list[list[Any]]: ...


class HitCache:
    """Bounded LRU: key -> (fetched k, hits). Used from the event loop thread only."""

    def __init__(self, max_entries: int = 10_000, on_lookup: Callable[[bool], None] | None = None):
        self.max_entries = max(0, int(max_entries))
        self._data: OrderedDict[Hashable, tuple[int, list]] = OrderedDict()
        self.on_lookup = on_lookup
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Hashable, k: int) -> list | None:
        entry = self._data.get(key)
        if entry is not None:
            fetched, hits = entry
            # enough hits, or the search already returned everything there is
            if fetched >= k or len(hits) < fetched:
                self._data.move_to_end(key)
                self.hits += 1
                if self.on_lookup is not None:
                    self.on_lookup(True)
                return hits[:k]
        self.misses += 1
        if self.on_lookup is not None:
            self.on_lookup(False)
        return None

    def put(self, key: Hashable, k: int, hits: list) -> None:
        if self.max_entries == 0:
            return
        old = self._data.get(key)
        if old is not None and old[0] >= k:
            self._data.move_to_end(key)
            return
        self._data[key] = (k, list(hits))
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    def drop(self, predicate: Callable[[Hashable], bool]) -> int:
        """Remove entries whose key matches (e.g. versions no longer live)."""
        stale = [key for key in self._data if predicate(key)]
        for key in stale:
            del self._data[key]
        return len(stale)

    def clear(self) -> None:
        self._data.clear()


@dataclass
class _Item:
    target: Any
    query: str
    k: int
    language: str | None
    future: asyncio.Future


@dataclass
class _Group:
    items: list[_Item] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    inflight: int = 0


def run_batch(items: list[_Item]) -> list[list]:
    """Encode the distinct texts once, search once per (index version, language filter), slice
    per request. Runs in a worker thread."""
    queries = [item.query for item in items]
    unique = list(dict.fromkeys(queries))
    position = {text: i for i, text in enumerate(unique)}
    vectors = items[0].target.encode(unique)
    if not isinstance(vectors, dict):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    results: list[list] = [[] for _ in items]
    searches: dict[tuple, list[int]] = {}
    for i, item in enumerate(items):
        searches.setdefault((item.target.batch_key, item.language), []).append(i)
    for (_, language), members in searches.items():
        target = items[members[0]].target
        rows = list(dict.fromkeys(position[queries[i]] for i in members))
        k = max(items[i].k for i in members)
        if isinstance(vectors, dict):  # one matrix per encoder of a retrieval strategy
            hits = target.search({role: v[rows] for role, v in vectors.items()}, k, language,
                                 texts=[unique[r] for r in rows])
        else:
            hits = target.search(vectors[rows], k, language)
        found = {row: hits[j] for j, row in enumerate(rows)}
        for i in members:
            results[i] = found[position[queries[i]]][: items[i].k]
    return results


class QueryNotEncodable(ValueError):
    """The encoder could not take this query (it failed alone, outside any batch)."""


def run_alone(items: list[_Item]) -> list[list | BaseException]:
    """After a failed batch: each query on its own, so only the query that breaks the encoder
    fails (with `QueryNotEncodable`), and the others of the batch, other tenants' included, are
    answered."""
    out: list[list | BaseException] = []
    for item in items:
        try:
            out.append(run_batch([item])[0])
        except Exception as exc:  # noqa: BLE001 - this query's own failure, reported to it alone
            log.warning("query of %s could not be answered: %s", item.target.batch_key, exc)
            failure = QueryNotEncodable(f"{type(exc).__name__}: {exc}")
            failure.__cause__ = exc
            out.append(failure)
    return out


class MicroBatcher:
    """Gathers concurrent searches that share a text model and runs them as one batch in a
    worker thread; at most `max_inflight` batches per model run at once, and whatever arrives
    meanwhile waits and forms the next batch."""

    def __init__(self, *, max_wait_ms: float = 5.0, max_batch: int = 64, cache: HitCache | None = None,
                 max_inflight: int = 2, on_batch: Callable[[list, int], None] | None = None):
        self.max_wait = max(0.0, float(max_wait_ms)) / 1000.0
        self.max_batch = max(1, int(max_batch))
        self.max_inflight = max(1, int(max_inflight))
        self.cache = cache if cache is not None else HitCache()
        self.on_batch = on_batch
        self._groups: dict[Hashable, _Group] = {}
        self._tasks: set[asyncio.Task] = set()
        self.batches = 0
        self.batched_queries = 0

    @staticmethod
    def cache_key(target: Searchable, query: str, language: str | None) -> tuple:
        key = target.batch_key
        return (*(key if isinstance(key, tuple) else (key,)), query, language)

    @staticmethod
    def group_key(target: Searchable) -> Hashable:
        return getattr(target, "encoder_key", None) or target.batch_key

    async def search(self, target: Searchable, query: str, k: int, language: str | None = None) -> list:
        """Top-k hits of `query` in `target` (a list of `Hit`), through the cache and a batch."""
        k = max(1, min(int(k), max(1, target.ntotal)))
        cache_key = self.cache_key(target, query, language)
        cached = self.cache.get(cache_key, k)
        if cached is not None:
            return cached
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        key = self.group_key(target)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group()
        group.items.append(_Item(target, query, k, language, future))
        if group.inflight < self.max_inflight:
            if len(group.items) >= self.max_batch or group.inflight == 0:
                # adaptive: nothing is being encoded, so waiting would only delay this query; under
                # load the queries that arrive while batches run gather into the next batch
                self._flush(key)
            elif group.timer is None:
                group.timer = loop.call_later(self.max_wait, self._flush, key)
        hits = await future
        self.cache.put(cache_key, k, hits)
        return hits

    def _flush(self, key: Hashable) -> None:
        group = self._groups.get(key)
        if group is None:
            return
        if group.timer is not None:
            group.timer.cancel()
            group.timer = None
        if group.inflight >= self.max_inflight:
            return  # a running batch flushes again when it completes
        live = [item for item in group.items if not item.future.done()]  # drop timed-out requests
        batch, group.items = live[: self.max_batch], live[self.max_batch:]
        if not batch:
            if not group.items and not group.inflight:
                self._groups.pop(key, None)
            return
        group.inflight += 1
        task = asyncio.get_running_loop().create_task(self._run(key, group, batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if group.items:  # more than one batch waiting: start the next one too if a slot is free
            self._flush(key)

    async def _run(self, key: Hashable, group: _Group, batch: list[_Item]) -> None:
        try:
            try:
                results = await asyncio.to_thread(run_batch, batch)
            except Exception:  # noqa: BLE001 - one bad query must not fail the others of its batch
                log.warning("batch of %d queries for %s failed; answering them one by one", len(batch), key)
                results = await asyncio.to_thread(run_alone, batch)
            self.batches += 1
            self.batched_queries += len(batch)
            if self.on_batch is not None:
                try:
                    self.on_batch(batch, len(batch))
                except Exception:  # noqa: BLE001 - metrics must never fail a request
                    log.exception("batch callback failed")
            for item, hits in zip(batch, results):
                if item.future.done():
                    continue
                if isinstance(hits, BaseException):
                    item.future.set_exception(hits)
                else:
                    item.future.set_result(hits)
        except Exception as exc:  # noqa: BLE001 - never leave a request waiting
            log.exception("batch of %d queries for %s failed", len(batch), key)
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
        finally:
            group.inflight -= 1
            if group.items:
                # whatever arrived meanwhile has waited at least one batch: run it now
                self._flush(key)
            elif not group.inflight and group.timer is None and self._groups.get(key) is group:
                del self._groups[key]

    async def close(self) -> None:
        for group in self._groups.values():
            if group.timer is not None:
                group.timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._groups.clear()
