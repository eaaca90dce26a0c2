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

Errors: JSON ``{"error_code": int, "error_msg": str}``, on every path (an unknown path or method
too, never FastAPI's ``{"detail": ...}``). ``/retrieval``, ``/retrieval/`` and ``//retrieval``
(what Dify calls for an endpoint saved with a trailing slash) are the same endpoint.

    ====  ====  ==================================================================
    code  HTTP  meaning
    ====  ====  ==================================================================
    1001  403   Authorization header missing or not ``Bearer <key>`` (Dify)
    1002  403   authorization failed: unknown key, or a key of another tenant (Dify)
    2001  404   the knowledge does not exist: unknown modality, nothing live, or its
                live version cannot be loaded (the reason is in error_msg); an
                unknown path
    3001  400   malformed request: body not JSON, nested too deeply, invalid Unicode
                (a lone surrogate), missing/invalid fields, top_k outside 1..100,
                score_threshold outside [0, 1], a bad condition; a query the encoder
                cannot take (it fails alone, the rest of its micro-batch is answered);
                405 for a method other than POST
    3002  413   request body larger than the limit (1 MiB by default)
    5001  500   an internal error while searching (a bug, never caused by input)
    5002  504   the search did not finish within the per-request timeout (transient)
    ====  ====  ==================================================================

Dify retries 500-504 three times and then hides the reason, so only what is really transient or
a bug is a 5xx; everything a user can act on is a 4xx whose error_msg Dify shows. A query has no
length limit below the body's (Dify sets none): the encoders read its first ``max_query_chars``
characters (2,000), and the truncation is logged. ``top_k`` null (Dify sends it when unset) means 5,
``score_threshold`` null or absent means 0. Checks run in this order: Authorization (1001, 1002
for an unknown key), body size (3002), body (3001), knowledge_id (1002 when its tenant is not the
key's -- so a key never learns whether another tenant exists --, 2001), search (2001, 3001, 5001,
5002).

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
import logging
import os
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from mm_platform.inputs.tenancy import Layout
from mm_platform.serving.batching import HitCache, MicroBatcher, QueryNotEncodable
from mm_platform.serving.errors import ApiError, error_response
from mm_platform.serving.keys import KeyRing
from mm_platform.serving.limits import (
    MAX_BODY_BYTES,
    MAX_FULL_FETCH,
    MAX_QUERY_CHARS,
    MAX_TOP_K,
    OVERFETCH,
    SERVED_MODALITIES,
)
from mm_platform.serving.loading import IndexRegistry, ServedIndex
from mm_platform.serving.metrics import Metrics
from mm_platform.serving.records import record_of, served_score
from mm_platform.serving.requests import bearer_token, parse_body, read_body, resolve_knowledge_id

log = logging.getLogger("mm_platform.serving")


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
                if self.max_query_chars and len(parsed["query"]) > self.max_query_chars:
                    log.info("tenant %s: query of %d characters answered from its first %d", tenant,
                             len(parsed["query"]), self.max_query_chars)
                    parsed["query"] = parsed["query"][: self.max_query_chars]
                _, modality = resolve_knowledge_id(parsed["knowledge_id"], tenant, self.modalities)
                try:
                    records = await asyncio.wait_for(self._search(tenant, modality, parsed), self.request_timeout_s)
                except asyncio.TimeoutError:
                    raise ApiError(5002, 504, f"the search did not finish within {self.request_timeout_s:g} s") from None
                except QueryNotEncodable as exc:
                    raise ApiError(3001, 400, f"the query cannot be encoded: {exc}") from None
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
            failure = self.registry.failure(tenant, modality)
            if failure:
                # not transient: a 5xx would only make Dify retry three times and then hide the reason
                raise ApiError(2001, 404, f"The knowledge cannot be served: the live index of "
                                          f"{parsed['knowledge_id']!r} could not be loaded ({failure})")
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

    # Dify joins the saved endpoint and "/retrieval" as strings: an endpoint saved with a trailing
    # slash calls "//retrieval"; both spellings (and a trailing slash) are the same endpoint
    for path in ("/retrieval", "/retrieval/", "//retrieval", "//retrieval/"):
        app.add_api_route(path, service.retrieve, methods=["POST"], include_in_schema=False)

    @app.exception_handler(StarletteHTTPException)
    async def dify_shaped_http_errors(request: Request, exc: StarletteHTTPException) -> Response:
        """Unknown paths and methods answer Dify's error shape too, never FastAPI's {"detail": ...}."""
        if exc.status_code == 404:
            err = ApiError(2001, 404, f"no such endpoint: {request.method} {request.url.path} "
                                      "(the External Knowledge API is POST /retrieval)")
        elif exc.status_code == 405:
            err = ApiError(3001, 405, f"{request.method} is not allowed on {request.url.path}; use POST")
        else:
            err = ApiError(3001 if exc.status_code < 500 else 5001, exc.status_code, str(exc.detail))
        return error_response(err)

    @app.exception_handler(RequestValidationError)
    async def dify_shaped_validation_errors(request: Request, exc: RequestValidationError) -> Response:
        return error_response(ApiError(3001, 400, f"malformed request: {exc.errors()[:1]}"))

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
