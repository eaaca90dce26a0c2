"""Parsing a retrieval request: the Authorization header, the body (size-bounded), its fields and the
knowledge id."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from fastapi import Request

from mm_platform.serving.errors import ApiError, bad_request
from mm_platform.serving.filters import MetadataFilter, _is_number, parse_metadata_condition
from mm_platform.serving.limits import DEFAULT_MODALITY, DEFAULT_TOP_K


@dataclass(frozen=True)
class RetrievalRequest:
    tenant: str
    modality: str
    knowledge_id: str
    query: str
    top_k: int
    score_threshold: float
    filter: MetadataFilter | None


def parse_body(body: bytes, max_query_chars: int | None, max_top_k: int) -> dict:
    """The request's fields, validated; anything malformed (any nesting depth, invalid Unicode,
    wrong types) is a 3001, never an exception that would answer 500. A long query is accepted
    (Dify sets no limit): the service encodes its first `max_query_chars` characters."""
    try:
        return _parse_body(body, max_top_k)
    except RecursionError:
        raise bad_request("request body is nested too deeply") from None


def _parse_body(body: bytes, max_top_k: int) -> dict:
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
    for field, text in (("query", query), ("knowledge_id", knowledge_id)):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate escape ("\ud800"): no encoder can read it
            raise bad_request(f"{field} is not valid Unicode (a lone surrogate at character {exc.start})") from None
    setting = data.get("retrieval_setting")
    if not isinstance(setting, dict):
        raise bad_request("retrieval_setting is required (an object with top_k and score_threshold)")
    top_k = setting.get("top_k")
    if top_k is None:  # Dify sends null when the knowledge base's top_k was never set
        top_k = DEFAULT_TOP_K
    if isinstance(top_k, float) and top_k.is_integer():
        top_k = int(top_k)
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= max_top_k:
        raise bad_request(f"retrieval_setting.top_k must be an integer from 1 to {max_top_k}")
    threshold = setting.get("score_threshold")
    if threshold is None:  # absent or null: no threshold (Dify sends 0.0 when it is disabled)
        threshold = 0.0
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
