"""The service against Dify's own client behaviour, and under hostile input.

Dify's side, as langgenius/dify builds it (api/services/external_knowledge_service.py, Dify 1.x and
current main, checked against the main branch of 2026-11):

- saving an External Knowledge API calls `check_endpoint_and_api_key`: `POST {endpoint}/retrieval`
  with only `Authorization: Bearer <key>` and no body; the save is refused on 404, 403 or 502;
- a retrieval is `POST {endpoint}/retrieval` (the saved endpoint and "/retrieval" joined as
  strings: a trailing slash makes "//retrieval"), body `json.dumps` of {retrieval_setting: {top_k,
  score_threshold}, query, knowledge_id} with `score_threshold` 0.0 unless enabled, `top_k` as
  configured (null when unset), and `metadata_condition` (`MetadataCondition.model_dump()`) only
  when a filter is set (1.x before the fix of issue 21070 sent `"metadata_condition": null`);
- on 200 it reads `response.json().get("records", [])`; on any other status 1.x returns no
  records, and the retrying HTTP helper (`ssrf_proxy`) retries 500-504 before giving up.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from mm_platform.inputs.tenancy import Layout
from mm_platform.serving import KeyRing, create_app
from tests.serving import build_and_promote, ready_client, write_tenant

KEYS = {"acme": "key-acme-0123456789", "globex": "key-globex-0123456789"}
RETRIED = {500, 501, 502, 503, 504}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("contract")
    layout = Layout(root / "data", root / "storage")
    for tenant in KEYS:
        write_tenant(layout, tenant)
        build_and_promote(layout, tenant)
    return layout


@pytest.fixture(scope="module")
def client(built):
    with ready_client(create_app(built, KeyRing.from_plain(KEYS), watch_interval=0.1)) as c:
        yield c


def dify_params(knowledge_id: str, query: str, top_k: int | None = 4, threshold: float | None = None,
                metadata_condition: dict | None = None, legacy_null_condition: bool = False) -> dict:
    """`request_params` exactly as Dify's fetch_external_knowledge_retrieval builds them."""
    params = {"retrieval_setting": {"top_k": top_k, "score_threshold": threshold if threshold is not None else 0.0},
              "query": query, "knowledge_id": knowledge_id}
    if metadata_condition:
        params["metadata_condition"] = metadata_condition
    elif legacy_null_condition:
        params["metadata_condition"] = None
    return params


def dify_retrieve(client, endpoint: str, params: dict, key: str = KEYS["acme"]):
    """Dify's request (data=json.dumps(params), its headers) and its parsing of the answer."""
    # a full URL: a path starting "//" would otherwise be read as a host by the test client
    response = client.post(f"http://testserver{endpoint}/retrieval", content=json.dumps(params),
                           headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    records = response.json().get("records", []) if response.status_code == 200 else []
    return response, records


@pytest.mark.parametrize("endpoint", ["", "/"])  # saved as http://host:port and http://host:port/
def test_check_endpoint_call_dify_makes_when_an_api_is_saved(client, endpoint):
    ok = client.post(f"http://testserver{endpoint}/retrieval", headers={"Authorization": f"Bearer {KEYS['acme']}"})
    assert ok.status_code not in (404, 403, 502), ok.text  # Dify saves the API
    assert set(ok.json()) == {"error_code", "error_msg"}  # no body: a 400 Dify accepts as reachable
    bad = client.post(f"http://testserver{endpoint}/retrieval", headers={"Authorization": "Bearer wrong-key-000000"})
    assert bad.status_code == 403 and bad.json()["error_code"] == 1002  # Dify refuses a wrong key


@pytest.mark.parametrize("endpoint", ["", "/"])
@pytest.mark.parametrize("shape", ["no-condition", "legacy-null", "condition", "top-k-null", "threshold-on"])
def test_dify_request_shapes_are_answered(client, endpoint, shape):
    condition = {"logical_operator": "and", "conditions": [
        {"name": ["language"], "comparison_operator": "is", "value": "en"}]}
    params = {
        "no-condition": dify_params("acme", "How do I return the headphones?"),
        "legacy-null": dify_params("acme", "How do I return the headphones?", legacy_null_condition=True),
        "condition": dify_params("acme", "How do I return the headphones?", metadata_condition=condition),
        "top-k-null": dify_params("acme", "How do I return the headphones?", top_k=None),
        "threshold-on": dify_params("acme", "How do I return the headphones?", threshold=0.3),
    }[shape]
    response, records = dify_retrieve(client, endpoint, params)
    assert response.status_code == 200, response.text
    assert records and all(set(r) == {"content", "score", "title", "metadata"} for r in records)
    if shape == "condition":
        assert {r["metadata"]["language"] for r in records} == {"en"}
    if shape == "threshold-on":
        assert all(r["score"] >= 0.3 for r in records)


def test_a_long_query_is_answered_not_refused(client):
    long = "How do I return the headphones? " + "I bought them last week and they do not fit. " * 200
    response, records = dify_retrieve(client, "", dify_params("acme", long))
    assert response.status_code == 200 and records


@pytest.mark.parametrize("path, method", [("/nope", "post"), ("/", "get"), ("/retrieval", "get"),
                                          ("/v1/retrieval", "post")])
def test_every_path_answers_difys_error_shape(client, path, method):
    response = getattr(client, method)(path, headers={"Authorization": f"Bearer {KEYS['acme']}"})
    assert response.status_code in (404, 405) and set(response.json()) == {"error_code", "error_msg"}


HOSTILE = [
    ("deep-body", '{"knowledge_id": "acme", "query": "x", "retrieval_setting": ' + "[" * 20_000 + "]" * 20_000 + "}"),
    ("deep-condition", '{"knowledge_id": "acme", "query": "x", "retrieval_setting": {"top_k": 2, '
                       '"score_threshold": 0}, "metadata_condition": ' + '{"a": ' * 20_000 + "1" + "}" * 20_000 + "}"),
    ("lone-surrogate", json.dumps({"knowledge_id": "acme", "query": "return \ud800 policy",
                                   "retrieval_setting": {"top_k": 2, "score_threshold": 0}})),
    ("surrogate-id", json.dumps({"knowledge_id": "acme\udfff", "query": "x",
                                 "retrieval_setting": {"top_k": 2, "score_threshold": 0}})),
    ("invalid-utf8", b'{"knowledge_id": "acme", "query": "\xff\xfe", "retrieval_setting": {"top_k": 2}}'),
    ("wrong-types", json.dumps({"knowledge_id": ["acme"], "query": {"q": 1}, "retrieval_setting": "all"})),
    ("top-k-string", json.dumps({"knowledge_id": "acme", "query": "x", "retrieval_setting": {"top_k": "5"}})),
]


@pytest.mark.parametrize("name, body", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_malformed_bodies_are_4xx_in_difys_shape_never_5xx(client, name, body):
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    response = client.post("/retrieval", content=raw, headers={"Content-Type": "application/json",
                                                                "Authorization": f"Bearer {KEYS['acme']}"})
    assert response.status_code == 400 and response.status_code not in RETRIED, response.text
    assert response.json()["error_code"] == 3001 and response.json()["error_msg"]


def test_a_query_that_breaks_the_encoder_fails_alone_in_its_batch(built):
    """A poisoned request in a shared micro-batch: it gets 3001, every other request of the batch
    (another tenant's included) is answered."""
    import httpx

    app = create_app(built, KeyRing.from_plain(KEYS), watch_interval=0.1, batch_wait_ms=50.0, cache_size=0)
    served_encode = {}

    async def scenario():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                for _ in range(200):
                    if (await http.get("/readyz")).status_code == 200:
                        break
                    await asyncio.sleep(0.05)
                # make the shared encoder refuse one text, as a tokenizer does with input it cannot read
                for served in list(app.state.service.registry._live.values()):
                    original = served.encode

                    def encode(texts, original=original):
                        if any("POISON" in t for t in texts):
                            raise UnicodeEncodeError("utf-8", "POISON", 0, 1, "surrogates not allowed")
                        return original(texts)

                    served_encode[served.tenant] = original
                    object.__setattr__(served, "encode", encode)  # the served pair is a frozen dataclass

                async def ask(tenant: str, query: str):
                    return await http.post("/retrieval", json=dify_params(tenant, query),
                                           headers={"Authorization": f"Bearer {KEYS[tenant]}"})

                # the first request runs alone; the rest arrive while it runs and share one batch
                return await asyncio.gather(ask("acme", "first"), *(
                    ask(tenant, f"How long does shipping take {i}") for i in range(8) for tenant in KEYS),
                    ask("acme", "POISON query"))

    responses = asyncio.run(scenario())
    *good, poisoned = responses
    assert poisoned.status_code == 400 and poisoned.json()["error_code"] == 3001
    assert all(r.status_code == 200 and r.json()["records"] for r in good), [r.text for r in good if r.status_code != 200]
    assert app.state.service.batcher.batches < len(responses)  # they really were batched together
