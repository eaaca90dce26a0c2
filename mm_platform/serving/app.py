"""Dify External Knowledge API over every tenant's live indexes, with hot swap.

Contract (Dify, "External Knowledge API": docs.dify.ai/en/use-dify/knowledge/external-knowledge-api,
source langgenius/dify-docs ``en/use-dify/knowledge/external-knowledge-api.mdx``)::

    POST /retrieval
    Authorization: Bearer <key>
    {"knowledge_id": "ecommerce", "query": "...",
     "retrieval_setting": {"top_k": 5, "score_threshold": 0.5},
     "metadata_condition": {"logical_operator": "and",
                            "conditions": [{"name": ["language"], "comparison_operator": "is", "value": "en"}]}}

    200 {"records": [{"content": "...", "score": 0.93, "title": "...", "metadata": {...}}]}

knowledge_id scheme
    ``<tenant>``            the tenant's FAQ index (same as ``<tenant>/faq``)
    ``<tenant>/faq``        FAQ: content = answer, title = question
    ``<tenant>/speech``     the speech transcripts index; it is text-embedded, so the text query is
                            encoded with the ``text`` model of that index's own model set
    Only these text-searchable modalities are served. ``<tenant>/image``, ``<tenant>/video`` (not
    text-searchable with the default weight-free image encoder) and anything else answer 2001.

Records: sorted by score (descending), at most ``top_k``, only ``score >= score_threshold``,
``{"records": []}`` when nothing matches. ``score`` maps the inner product ``s`` of L2-normalised
vectors to ``(s + 1) / 2`` clipped to [0, 1]. ``metadata`` is always an object: ``id``,
``language``, ``annotation``, ``index_version``, ``modality``, ``knowledge_id``, ``tenant``,
``source_file``, ``source_row`` and, for the FAQ, ``question`` and ``entity`` (speech:
``text``, ``transcript``, ``audio_path``, ...).

metadata_condition: applied after the search to the record metadata (the index is over-fetched,
``top_k * 10`` capped at the index size, and searched fully when the filter leaves fewer than
``top_k``). ``name`` is a string or a list of strings (Dify's docs show both); a condition over
several names holds when it holds for any of them, and a negated operator is the negation of its
positive form. Operators: ``contains``, ``not contains``, ``start with``, ``end with``, ``is``,
``is not``, ``in``, ``not in`` (value: list or comma-separated string), ``empty``, ``not empty``
(also ``null``/``not null``), ``=``, ``≠`` (``!=``), ``>``, ``<``, ``≥`` (``>=``), ``≤`` (``<=``),
``before``, ``after``. A condition ``language is X`` (or ``in [X]``) under ``and`` is pushed
down into the index as a language id range.

Errors: JSON ``{"error_code": int, "error_msg": str}``.

    ====  ====  ==================================================================
    code  HTTP  meaning
    ====  ====  ==================================================================
    1001  403   Authorization header missing or not ``Bearer <key>`` (Dify)
    1002  403   authorization failed: unknown key, or a key of another tenant (Dify)
    2001  404   the knowledge does not exist: unknown modality or nothing live (Dify)
    3001  400   malformed request: body not JSON, missing/invalid fields, top_k outside
                1..100, score_threshold outside [0, 1], query too long, bad condition
    3002  413   request body larger than the limit (64 KiB by default)
    5001  500   internal error while searching, or the live version cannot be loaded
    5002  504   the search did not finish within the per-request timeout
    ====  ====  ==================================================================

Dify's docs name 1001/1002/2001 and give HTTP 403 for access denied (AccessDeniedException)
and 500 for internal errors (InternalServerException); they give no status for 2001, so it is
404, and the codes 3001/3002/5001/5002 are this service's own (Dify treats any non-200 as an
error and shows error_msg). Checks run in this order: Authorization (1001, 1002 for an unknown
key), body size (3002), body (3001), knowledge_id (1002 when its tenant is not the key's -- so a
key never learns whether another tenant exists --, 2001), search (2001, 5001, 5002).

Other endpoints, unauthenticated and meant for the internal network (they name tenants and
versions): ``GET /healthz`` (process up), ``GET /readyz`` (200 once every live index that exists
has been loaded, else 503; lists what is served and load failures), ``GET /metrics``
(Prometheus text from the app's own registry: requests by tenant/status, latency by tenant,
errors by tenant/code, ``mm_live_index_info{tenant,modality,version} 1``, micro-batch sizes,
index loads, cache lookups).

Hot swap: a background task re-reads every ``LIVE.json`` (content, not just its mtime: the
pointer is tiny) each ``watch_interval`` seconds; when the pointer names another version
(promotion or rollback) it loads the version and its exact models in a thread and replaces the
(index, models) pair with one reference assignment. A request takes the pair once at its start
and uses only it (encoding, search, the cache key and the records' ``index_version``), so
in-flight requests finish on the old pair, which Python keeps alive while they hold it, and no
response mixes versions. A failed load keeps the old pair (logged, metered, shown by /readyz and
retried after ``retry_failed_s``); a tenant whose first load fails answers 5001.

Encoding: see `batching` (micro-batches shared by concurrent requests, LRU cache of hits). The
serving copy of a text model runs ``encoder_threads`` BLAS threads per call (default 1) and up to
``max_inflight_batches`` batches in parallel: per-call multithreading of small batches
oversubscribes the CPUs under load.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..encoders.text import load_text_encoder
from ..index import LIVE_FILE, IndexHandle
from ..models import ModelSet
from ..pipeline import version_models
from ..retrieval.retriever import Retriever
from ..retrieval.strategy import Strategy
from ..tenancy import TENANT_ID_PATTERN, Layout
from .batching import HitCache, MicroBatcher
from .keys import KeyRing

log = logging.getLogger("mm_platform.serving")

#: modalities answerable with a text query (their index vectors come from the `text` role model)
SERVED_MODALITIES = ("faq", "speech")
DEFAULT_MODALITY = "faq"
MAX_BODY_BYTES = 64 * 1024
MAX_QUERY_CHARS = 2000
MAX_TOP_K = 100
OVERFETCH = 10
MAX_FULL_FETCH = 10_000
#: metadata fields never returned (they are the record's content/title or internal)
HIDDEN_FIELDS = frozenset({"content", "title", "answer", "content_hash", "embed_text", "audio_hash"})


# --- errors -----------------------------------------------------------------------------------

class ApiError(Exception):
    def __init__(self, code: int, status: int, msg: str):
        super().__init__(msg)
        self.code, self.status, self.msg = code, status, msg


def bad_request(msg: str) -> ApiError:
    return ApiError(3001, 400, msg)


def error_response(err: ApiError) -> JSONResponse:
    return JSONResponse({"error_code": err.code, "error_msg": err.msg}, status_code=err.status)


# --- served indexes ---------------------------------------------------------------------------

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


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("mm_retrieval_requests", "Retrieval requests by tenant and HTTP status",
                                ["tenant", "status"], registry=r)
        self.latency = Histogram("mm_retrieval_latency_seconds", "Retrieval request latency by tenant", ["tenant"],
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10), registry=r)
        self.errors = Counter("mm_retrieval_errors", "Retrieval errors by tenant and error_code", ["tenant", "code"],
                              registry=r)
        self.live_info = Gauge("mm_live_index_info", "The index version served per tenant and modality (1)",
                               ["tenant", "modality", "version"], registry=r)
        self.batch_size = Histogram("mm_batch_size", "Queries per encoder call (micro-batch size)",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=r)
        self.loads = Counter("mm_index_loads", "Index version loads by tenant, modality and result",
                             ["tenant", "modality", "result"], registry=r)
        self.cache = Counter("mm_query_cache", "Query cache lookups by result", ["result"], registry=r)


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


# --- request parsing --------------------------------------------------------------------------

def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_float(value: Any) -> float | None:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _as_time(value: Any) -> float | None:
    number = _as_float(value)
    if number is not None:
        return number
    if isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    return None


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _equal(actual: Any, expected: Any) -> bool:
    if _is_number(actual) and _as_float(expected) is not None:
        return float(actual) == _as_float(expected)
    return str(actual) == str(expected) if actual is not None else False


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, list):
        return any(_equal(item, expected) for item in actual)
    return actual is not None and str(expected) in str(actual)


def _value_list(value: Any) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [value]


def _compare(op: Callable[[float, float], bool], convert: Callable[[Any], float | None]):
    def test(actual: Any, expected: Any) -> bool:
        a, b = convert(actual), convert(expected)
        return a is not None and b is not None and op(a, b)
    return test


# operator -> (negated, positive test, needs a value)
_POSITIVE: dict[str, tuple[Callable[[Any, Any], bool], bool]] = {
    "contains": (_contains, True),
    "start with": (lambda a, e: a is not None and str(a).startswith(str(e)), True),
    "end with": (lambda a, e: a is not None and str(a).endswith(str(e)), True),
    "is": (_equal, True),
    "in": (lambda a, e: any(_equal(a, item) for item in _value_list(e)), True),
    "empty": (lambda a, e: _is_empty(a), False),
    "=": (lambda a, e: (_compare(lambda x, y: x == y, _as_float)(a, e)
                        if _as_float(e) is not None and _as_float(a) is not None else _equal(a, e)), True),
    ">": (_compare(lambda x, y: x > y, _as_float), True),
    "<": (_compare(lambda x, y: x < y, _as_float), True),
    "≥": (_compare(lambda x, y: x >= y, _as_float), True),
    "≤": (_compare(lambda x, y: x <= y, _as_float), True),
    "before": (_compare(lambda x, y: x < y, _as_time), True),
    "after": (_compare(lambda x, y: x > y, _as_time), True),
}
_OPERATORS: dict[str, tuple[bool, str]] = {
    **{name: (False, name) for name in _POSITIVE},
    "not contains": (True, "contains"), "is not": (True, "is"), "not in": (True, "in"),
    "not empty": (True, "empty"), "≠": (True, "="),
    # other spellings seen in Dify's docs and clients
    "null": (False, "empty"), "not null": (True, "empty"), "!=": (True, "="), ">=": (False, "≥"),
    "<=": (False, "≤"), "starts with": (False, "start with"), "ends with": (False, "end with"),
    "is empty": (False, "empty"), "is not empty": (True, "empty"),
}
SUPPORTED_OPERATORS = tuple(_OPERATORS)


@dataclass(frozen=True)
class Condition:
    names: tuple[str, ...]
    negated: bool
    positive: str
    value: Any

    def __call__(self, metadata: dict) -> bool:
        test = _POSITIVE[self.positive][0]
        holds = any(test(metadata.get(name), self.value) for name in self.names)
        return not holds if self.negated else holds


@dataclass(frozen=True)
class MetadataFilter:
    conditions: tuple[Condition, ...]
    any_of: bool
    language: str | None  # pushed down into the index search

    def __call__(self, metadata: dict) -> bool:
        results = (c(metadata) for c in self.conditions)
        return any(results) if self.any_of else all(results)


def parse_metadata_condition(raw: Any) -> MetadataFilter | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise bad_request("metadata_condition must be an object")
    logical = raw.get("logical_operator") or "and"
    if not isinstance(logical, str) or logical.lower() not in ("and", "or"):
        raise bad_request("metadata_condition.logical_operator must be 'and' or 'or'")
    items = raw.get("conditions")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise bad_request("metadata_condition.conditions must be a list")
    if len(items) > 32:
        raise bad_request("metadata_condition.conditions: at most 32 conditions")
    conditions = []
    for i, item in enumerate(items):
        where = f"metadata_condition.conditions[{i}]"
        if not isinstance(item, dict):
            raise bad_request(f"{where} must be an object")
        names = item.get("name")
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise bad_request(f"{where}.name must be a non-empty string or list of strings")
        operator = item.get("comparison_operator")
        if not isinstance(operator, str) or operator.strip().lower() not in _OPERATORS:
            raise bad_request(f"{where}.comparison_operator {operator!r} is not supported; "
                              f"supported: {', '.join(SUPPORTED_OPERATORS)}")
        negated, positive = _OPERATORS[operator.strip().lower()]
        value = item.get("value")
        if _POSITIVE[positive][1]:
            if value is None:
                raise bad_request(f"{where}.value is required for {operator!r}")
            if not isinstance(value, (str, int, float, list)) or isinstance(value, bool) or (
                    isinstance(value, list) and not all(isinstance(v, (str, int, float)) for v in value)):
                raise bad_request(f"{where}.value must be a string, a number or a list of strings")
        conditions.append(Condition(tuple(names), negated, positive, value))
    any_of = logical.lower() == "or" and len(conditions) > 1
    language = None
    if not any_of:
        for c in conditions:
            if c.names == ("language",) and not c.negated:
                if c.positive in ("is", "=") and isinstance(c.value, str):
                    language = c.value
                elif c.positive == "in" and len(_value_list(c.value)) == 1 and isinstance(_value_list(c.value)[0], str):
                    language = _value_list(c.value)[0]
    return MetadataFilter(tuple(conditions), any_of, language)


@dataclass(frozen=True)
class RetrievalRequest:
    tenant: str
    modality: str
    knowledge_id: str
    query: str
    top_k: int
    score_threshold: float
    filter: MetadataFilter | None


def parse_body(body: bytes, max_query_chars: int, max_top_k: int) -> dict:
    try:
        data = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise bad_request(f"request body is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise bad_request("request body must be a JSON object")
    knowledge_id = data.get("knowledge_id")
    if not isinstance(knowledge_id, str) or not knowledge_id.strip():
        raise bad_request("knowledge_id is required (a non-empty string)")
    if len(knowledge_id) > 200:
        raise bad_request("knowledge_id is too long")
    query = data.get("query")
    if not isinstance(query, str) or not query.strip():
        raise bad_request("query is required (a non-empty string)")
    if len(query) > max_query_chars:
        raise bad_request(f"query is {len(query)} characters; at most {max_query_chars}")
    setting = data.get("retrieval_setting")
    if not isinstance(setting, dict):
        raise bad_request("retrieval_setting is required (an object with top_k and score_threshold)")
    top_k = setting.get("top_k")
    if isinstance(top_k, float) and top_k.is_integer():
        top_k = int(top_k)
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= max_top_k:
        raise bad_request(f"retrieval_setting.top_k must be an integer from 1 to {max_top_k}")
    threshold = setting.get("score_threshold")
    if not _is_number(threshold) or not math.isfinite(threshold) or not 0.0 <= float(threshold) <= 1.0:
        raise bad_request("retrieval_setting.score_threshold must be a number from 0 to 1")
    return {"knowledge_id": knowledge_id.strip(), "query": query, "top_k": top_k,
            "score_threshold": float(threshold), "filter": parse_metadata_condition(data.get("metadata_condition"))}


def resolve_knowledge_id(knowledge_id: str, key_tenant: str, modalities: tuple[str, ...]) -> tuple[str, str]:
    """(tenant, modality) of a knowledge id; 1002 for another tenant's id, 2001 for what is not served."""
    tenant, _, modality = knowledge_id.partition("/")
    if tenant != key_tenant:
        raise ApiError(1002, 403, "Authorization failed: this key cannot access that knowledge")
    modality = modality or DEFAULT_MODALITY
    if modality not in modalities:
        raise ApiError(2001, 404, f"The knowledge does not exist: {knowledge_id!r} "
                                  f"(served: <tenant>, " + ", ".join(f"<tenant>/{m}" for m in modalities) + ")")
    return tenant, modality


def bearer_token(header: str | None) -> str:
    if not header:
        raise ApiError(1001, 403, "Invalid Authorization header format. Expected 'Bearer <api-key>' format.")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise ApiError(1001, 403, "Invalid Authorization header format. Expected 'Bearer <api-key>' format.")
    return token


async def read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None:
        try:
            if int(length) > limit:
                raise ApiError(3002, 413, f"request body is {int(length)} bytes; at most {limit}")
        except ValueError:
            raise bad_request("invalid Content-Length header") from None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(3002, 413, f"request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def dify_score(inner_product: float) -> float:
    """Inner product of L2-normalised vectors ([-1, 1]) -> Dify's relevance score in [0, 1]."""
    return round(min(1.0, max(0.0, (float(inner_product) + 1.0) / 2.0)), 6)


def served_score(hit: Any, served: ServedIndex) -> float:
    """The relevance score Dify filters on: the calibrated probability that the hit is relevant
    (a version answered by a retrieval strategy), else the cosine mapped to [0, 1]."""
    return round(min(1.0, max(0.0, float(hit.score))), 6) if served.calibrated else dify_score(hit.score)


def record_of(hit: Any, served: ServedIndex, knowledge_id: str) -> dict:
    row = hit.row
    metadata = {k: v for k, v in row.items() if k not in HIDDEN_FIELDS}
    metadata.update(index_version=served.version, modality=served.modality, knowledge_id=knowledge_id)
    score = served_score(hit, served)
    content = row.get("answer") if served.modality == "faq" else None
    title = row.get("question") if served.modality == "faq" else None
    return {"content": str(content if content is not None else row.get("content", "")),
            "score": score,
            "title": str(title if title is not None else row.get("title", "")),
            "metadata": metadata}


# --- the service ------------------------------------------------------------------------------

class RetrievalService:
    def __init__(self, layout: Layout, keys: KeyRing, *, watch_interval: float = 0.5, batch_wait_ms: float = 5.0,
                 max_batch: int = 64, cache_size: int = 10_000, request_timeout_s: float = 10.0,
                 max_body_bytes: int = MAX_BODY_BYTES, max_query_chars: int = MAX_QUERY_CHARS,
                 max_top_k: int = MAX_TOP_K, modalities: tuple[str, ...] = SERVED_MODALITIES,
                 max_inflight_batches: int | None = None, retry_failed_s: float = 30.0,
                 encoder_threads: int | None = 1):
        self.layout = layout
        self.keys = keys
        self.watch_interval = watch_interval
        self.request_timeout_s = request_timeout_s
        self.max_body_bytes = max_body_bytes
        self.max_query_chars = max_query_chars
        self.max_top_k = max_top_k
        self.modalities = tuple(modalities)
        self.metrics = Metrics()
        self.cache = HitCache(cache_size, on_lookup=lambda hit: self.metrics.cache.labels("hit" if hit else "miss").inc())
        self.batcher = MicroBatcher(max_wait_ms=batch_wait_ms, max_batch=max_batch, cache=self.cache,
                                    max_inflight=max_inflight_batches or max(1, min(8, os.cpu_count() or 1)),
                                    on_batch=lambda batch, n: self.metrics.batch_size.observe(n))
        self.registry = IndexRegistry(layout, self.metrics, self.modalities, retry_failed_s, on_swap=self._on_swap,
                                      encoder_threads=encoder_threads)
        self._watcher: asyncio.Task | None = None
        self.started_at = time.time()

    def _on_swap(self, fresh: ServedIndex, old: ServedIndex | None) -> None:
        if old is not None:
            stale = (old.tenant, old.modality, old.version)
            self.cache.drop(lambda key: key[:3] == stale)

    # lifecycle
    async def start(self) -> None:
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch(), name="mm-live-watcher")

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        await self.batcher.close()

    async def _watch(self) -> None:
        while True:
            try:
                await self.registry.scan()
            except Exception:  # noqa: BLE001 - the watcher must keep running
                log.exception("live pointer scan failed")
            await asyncio.sleep(self.watch_interval)

    # the endpoint
    async def retrieve(self, request: Request) -> JSONResponse:
        started = time.perf_counter()
        tenant_label = "unknown"
        try:
            try:
                token = bearer_token(request.headers.get("authorization"))
                tenant = self.keys.tenant_for(token)
                if tenant is None:
                    raise ApiError(1002, 403, "Authorization failed: unknown API key")
                tenant_label = tenant
                body = await read_body(request, self.max_body_bytes)
                parsed = parse_body(body, self.max_query_chars, self.max_top_k)
                _, modality = resolve_knowledge_id(parsed["knowledge_id"], tenant, self.modalities)
                try:
                    records = await asyncio.wait_for(self._search(tenant, modality, parsed), self.request_timeout_s)
                except asyncio.TimeoutError:
                    raise ApiError(5002, 504, f"the search did not finish within {self.request_timeout_s:g} s") from None
            except ApiError:
                raise
            except Exception as exc:  # noqa: BLE001 - always answer in Dify's error format
                log.exception("retrieval failed for tenant %s", tenant_label)
                raise ApiError(5001, 500, f"internal error: {type(exc).__name__}") from None
        except ApiError as err:
            self.metrics.errors.labels(tenant_label, str(err.code)).inc()
            response = error_response(err)
        else:
            response = JSONResponse({"records": records})
        self.metrics.requests.labels(tenant_label, str(response.status_code)).inc()
        self.metrics.latency.labels(tenant_label).observe(time.perf_counter() - started)
        return response

    async def _search(self, tenant: str, modality: str, parsed: dict) -> list[dict]:
        served = await self.registry.get(tenant, modality)  # the pair, taken once
        if served is None:
            if self.registry.failure(tenant, modality):
                raise ApiError(5001, 500, f"the live index of {parsed['knowledge_id']!r} could not be loaded")
            raise ApiError(2001, 404, f"The knowledge does not exist: nothing is live for {parsed['knowledge_id']!r}")
        top_k, threshold, flt = parsed["top_k"], parsed["score_threshold"], parsed["filter"]
        language = flt.language if flt else None
        size = served.ntotal
        fetch = min(size, top_k * OVERFETCH) if flt else min(size, top_k)
        while True:
            hits = await self._fetch(served, parsed["query"], fetch, language, flt)
            records = []
            for hit in hits:
                if served_score(hit, served) < threshold:
                    break  # hits come best first: the rest are below the threshold too
                record = record_of(hit, served, parsed["knowledge_id"])
                if flt is None or flt(record["metadata"]):
                    records.append(record)
            exhausted = len(hits) < fetch or fetch >= min(size, MAX_FULL_FETCH)
            below = bool(hits) and served_score(hits[-1], served) < threshold
            if len(records) >= top_k or exhausted or below or flt is None:
                break
            fetch = min(size, MAX_FULL_FETCH)  # the filter was selective: search everything once
        records.sort(key=lambda r: -r["score"])
        return records[:top_k]

    async def _fetch(self, served: ServedIndex, query: str, fetch: int, language: str | None, flt) -> list:
        """Hits best first. A strategy ranks within one language: the filter's language, else the
        language the query is written in; a filter that does not pin one language (e.g. `language
        is not en`, `annotation contains ...`) is answered from every language, merged by the
        calibrated score, which means the same in every language."""
        if served.retriever is None or language is not None or flt is None:
            return await self.batcher.search(served, query, fetch, language)
        merged = []
        for lang in served.retriever.languages:
            merged += await self.batcher.search(served, query, fetch, lang)
        merged.sort(key=lambda h: -h.score)
        return merged[:fetch]

    def readiness(self) -> tuple[bool, dict]:
        reg = self.registry
        body = {"ready": reg.ready, "served": reg.snapshot(), "pending": sorted(f"{t}/{m}" for t, m in reg.pending),
                "load_failures": reg.failures(), "scans": reg.scans}
        return reg.ready, body


def create_app(layout: Layout, keys: KeyRing, *, watch_interval: float = 0.5, batch_wait_ms: float = 5.0,
               max_batch: int = 64, cache_size: int = 10_000, request_timeout_s: float = 10.0,
               max_body_bytes: int = MAX_BODY_BYTES, max_query_chars: int = MAX_QUERY_CHARS,
               max_top_k: int = MAX_TOP_K, modalities: tuple[str, ...] = SERVED_MODALITIES,
               max_inflight_batches: int | None = None, retry_failed_s: float = 30.0,
               encoder_threads: int | None = 1) -> FastAPI:
    """The Dify External Knowledge API app over `layout.storage_dir`; the watcher runs in the
    app's lifespan (`async with app.router.lifespan_context(app)` in tests).

    `max_inflight_batches` (default: the CPU count) batches are encoded in parallel threads,
    each with `encoder_threads` BLAS threads (None: the model's own default)."""
    service = RetrievalService(
        layout, keys, watch_interval=watch_interval, batch_wait_ms=batch_wait_ms, max_batch=max_batch,
        cache_size=cache_size, request_timeout_s=request_timeout_s, max_body_bytes=max_body_bytes,
        max_query_chars=max_query_chars, max_top_k=max_top_k, modalities=modalities,
        max_inflight_batches=max_inflight_batches, retry_failed_s=retry_failed_s, encoder_threads=encoder_threads)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(title="mm knowledge: Dify External Knowledge API", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service

    @app.post("/retrieval")
    async def retrieval(request: Request) -> Response:
        return await service.retrieve(request)

    @app.get("/healthz")
    async def healthz() -> Response:
        return JSONResponse({"status": "ok", "uptime_s": round(time.time() - service.started_at, 3)})

    @app.get("/readyz")
    async def readyz() -> Response:
        ready, body = service.readiness()
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return PlainTextResponse(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
