"""Contract tests of the Dify External Knowledge API (`POST /retrieval`) over real live indexes.

Dify's contract (docs.dify.ai "External Knowledge API"; langgenius/dify-docs
en/use-dify/knowledge/external-knowledge-api.mdx): request {knowledge_id, query,
retrieval_setting {top_k, score_threshold}, metadata_condition?}, response {"records": [{content,
score, title, metadata}]}, errors {"error_code", "error_msg"} with 1001/1002 (403) and 2001.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from mm_platform.encoders.models import ModelSet
from mm_platform.indexing.versions import IndexHandle
from mm_platform.inputs.tenancy import Layout
from mm_platform.pipeline import index_store
from mm_platform.serving import KeyRing, create_app
from mm_platform.serving.keys import (
    KeyConfigError,
    demo_keys_path,
    generate_demo_keys,
    hash_key,
    load_keys,
    load_keys_file,
)
from tests.serving import build_and_promote, build_speech_like_index, ready_client, retrieval_body, write_tenant

KEYS = {"acme": "key-acme-0123456789", "globex": "key-globex-0123456789", "initech": "key-initech-0123456789"}
ACME = {"Authorization": f"Bearer {KEYS['acme']}"}
GLOBEX = {"Authorization": f"Bearer {KEYS['globex']}"}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("serving")
    layout = Layout(root / "data", root / "storage")
    versions = {}
    for tenant in ("acme", "globex"):
        write_tenant(layout, tenant)
        versions[tenant] = build_and_promote(layout, tenant)
    versions["acme/speech"] = build_speech_like_index(layout, "acme")
    return {"layout": layout, "versions": versions}


@pytest.fixture(scope="module")
def client(built):
    # initech has a key but nothing live
    with ready_client(create_app(built["layout"], KeyRing.from_plain(KEYS), watch_interval=0.1)) as c:
        yield c


def post(client, body, headers=ACME):
    return client.post("/retrieval", headers=headers, json=body)


def assert_record_shape(record: dict) -> None:
    assert set(record) == {"content", "score", "title", "metadata"}
    assert isinstance(record["content"], str) and record["content"]
    assert isinstance(record["title"], str)
    assert isinstance(record["score"], float) and 0.0 <= record["score"] <= 1.0
    assert isinstance(record["metadata"], dict)  # never null


# --- the documented request and response ------------------------------------------------------

def test_docs_example_request(client, built):
    """The request syntax from Dify's docs, with our knowledge id."""
    raw = json.dumps({
        "knowledge_id": "acme",
        "query": "your question",
        "retrieval_setting": {"top_k": 2, "score_threshold": 0.5},
    })
    r = client.post("/retrieval", content=raw,
                    headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEYS['acme']}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"records"} and isinstance(body["records"], list)
    assert len(body["records"]) <= 2
    for record in body["records"]:
        assert_record_shape(record)
        assert record["score"] >= 0.5


def test_docs_example_knowledge_id_is_not_ours(client):
    r = post(client, {"knowledge_id": "AAA-BBB-CCC", "query": "What is Dify?",
                      "retrieval_setting": {"top_k": 5, "score_threshold": 0.5}})
    assert r.status_code == 403 and r.json()["error_code"] == 1002


def test_faq_record_fields(client, built):
    r = post(client, retrieval_body("acme", "How do I return the headphones I bought?", top_k=1))
    assert r.status_code == 200
    [record] = r.json()["records"]
    assert_record_shape(record)
    assert record["title"] == "How do I return the headphones I bought?"
    assert record["content"] == "You can return them within 30 days."
    meta = record["metadata"]
    assert meta["question"] == record["title"]
    assert meta["language"] == "en" and meta["annotation"] == "Return policy" and meta["id"] == "acme-en-0"
    assert meta["index_version"] == built["versions"]["acme"] and meta["modality"] == "faq"
    assert meta["tenant"] == "acme"
    assert record["score"] >= 0.9  # the stored question itself: a calibrated near-certainty


def test_knowledge_id_scheme(client, built):
    plain = post(client, retrieval_body("acme", "delivery time", top_k=3)).json()["records"]
    explicit = post(client, retrieval_body("acme/faq", "delivery time", top_k=3)).json()["records"]
    assert [r["metadata"]["id"] for r in plain] == [r["metadata"]["id"] for r in explicit]
    speech = post(client, retrieval_body("acme/speech", "I would like to return my headphones", top_k=2))
    assert speech.status_code == 200
    records = speech.json()["records"]
    assert records and records[0]["metadata"]["id"] == "speech-en-1"
    assert all(r["metadata"]["modality"] == "speech" for r in records)
    assert all(r["metadata"]["index_version"] == built["versions"]["acme/speech"] for r in records)
    for record in records:
        assert_record_shape(record)


def test_scores_are_the_live_strategys_calibrated_probabilities(client, built):
    """The score is P(relevant) from the calibration the evaluation fitted, over the rows of the
    language the question is written in, ranked by the strategy that was evaluated."""
    from mm_platform.pipeline import version_models
    from mm_platform.retrieval.retriever import Retriever
    from mm_platform.retrieval.strategy import Strategy

    store = index_store(built["layout"], "acme")
    handle = IndexHandle(store.version_dir(store.live_version()))
    strategy = Strategy.from_dict(store.live_strategy())
    assert strategy.calibration and strategy.calibration["fitted_on"] > 0
    query = "Can I pay with a credit card?"
    expected = {h.row["id"]: h.score for h in Retriever(handle, version_models(handle), strategy).search([query], k=9)[0]}
    records = post(client, retrieval_body("acme", query, top_k=9)).json()["records"]
    assert len(records) == 3 and {r["metadata"]["language"] for r in records} == {"en"}
    assert records[0]["metadata"]["annotation"] == "Payment methods" and records[0]["score"] > 0.5 > records[-1]["score"]
    for record in records:
        assert record["score"] == pytest.approx(expected[record["metadata"]["id"]], abs=1e-5)


def test_top_k_threshold_and_order(client):
    for top_k in (1, 2, 5, 9, 100):
        records = post(client, retrieval_body("acme", "when will my order arrive", top_k=top_k)).json()["records"]
        assert len(records) == min(top_k, 3)  # the English rows: the question is English
        scores = [r["score"] for r in records]
        assert scores == sorted(scores, reverse=True)
    all_records = post(client, retrieval_body("acme", "when will my order arrive", top_k=9)).json()["records"]
    middle = all_records[1]["score"]
    above = post(client, retrieval_body("acme", "when will my order arrive", top_k=9,
                                        score_threshold=middle)).json()["records"]
    assert above and all(r["score"] >= middle for r in above)
    assert [r["metadata"]["id"] for r in above] == [r["metadata"]["id"] for r in all_records if r["score"] >= middle]


def test_records_empty_when_nothing_passes(client):
    r = post(client, retrieval_body("acme", "quantum chromodynamics lattice gauge", score_threshold=0.99))
    assert r.status_code == 200 and r.json() == {"records": []}
    r = post(client, retrieval_body("acme", "return", metadata_condition={
        "logical_operator": "and", "conditions": [{"name": ["language"], "comparison_operator": "is", "value": "fr"}]}))
    assert r.status_code == 200 and r.json() == {"records": []}


# --- metadata_condition -----------------------------------------------------------------------

def _cond(name, op, value=None, logical="and"):
    item = {"name": name, "comparison_operator": op}
    if value is not None:
        item["value"] = value
    return {"logical_operator": logical, "conditions": [item]}


OPERATOR_CASES = [
    (_cond(["language"], "is", "en"), lambda m: m["language"] == "en"),
    (_cond(["language"], "is not", "en"), lambda m: m["language"] != "en"),
    (_cond(["language"], "≠", "en"), lambda m: m["language"] != "en"),
    (_cond(["language"], "in", ["zh", "ja"]), lambda m: m["language"] in ("zh", "ja")),
    (_cond(["language"], "in", "zh,ja"), lambda m: m["language"] in ("zh", "ja")),
    (_cond(["language"], "not in", ["zh", "ja"]), lambda m: m["language"] == "en"),
    (_cond(["language"], "contains", "j"), lambda m: "j" in m["language"]),
    (_cond(["language"], "not contains", "j"), lambda m: "j" not in m["language"]),
    (_cond(["language"], "not empty"), lambda m: bool(m["language"])),
    (_cond("language", "is", "zh"), lambda m: m["language"] == "zh"),  # name as a string (newer docs)
    (_cond(["annotation"], "is", "Return policy"), lambda m: m["annotation"] == "Return policy"),
    (_cond(["annotation"], "is not", "Return policy"), lambda m: m["annotation"] != "Return policy"),
    (_cond(["annotation"], "in", ["退货政策", "返品ポリシー"]), lambda m: m["annotation"] in ("退货政策", "返品ポリシー")),
    (_cond(["annotation"], "not in", ["退货政策", "返品ポリシー"]),
     lambda m: m["annotation"] not in ("退货政策", "返品ポリシー")),
    (_cond(["annotation"], "contains", "policy"), lambda m: "policy" in m["annotation"]),
    (_cond(["annotation"], "not contains", "policy"), lambda m: "policy" not in m["annotation"]),
    (_cond(["annotation"], "start with", "Ship"), lambda m: m["annotation"].startswith("Ship")),
    (_cond(["annotation"], "end with", "方式"), lambda m: m["annotation"].endswith("方式")),
    (_cond(["annotation"], "not empty"), lambda m: bool(m["annotation"])),
    (_cond(["category"], "empty"), lambda m: True),  # a field no record has is empty
    (_cond(["source_row"], ">", 6), lambda m: m["source_row"] > 6),
    (_cond(["source_row"], "≤", "2"), lambda m: m["source_row"] <= 2),
    (_cond(["language", "annotation"], "contains", "Ship"),
     lambda m: "Ship" in m["language"] or "Ship" in m["annotation"]),
    ({"logical_operator": "or", "conditions": [
        {"name": ["language"], "comparison_operator": "is", "value": "en"},
        {"name": ["annotation"], "comparison_operator": "is", "value": "退货政策"}]},
     lambda m: m["language"] == "en" or m["annotation"] == "退货政策"),
    ({"logical_operator": "and", "conditions": [
        {"name": ["language"], "comparison_operator": "is", "value": "ja"},
        {"name": ["annotation"], "comparison_operator": "not contains", "value": "配送"}]},
     lambda m: m["language"] == "ja" and "配送" not in m["annotation"]),
]


@pytest.mark.parametrize("condition,predicate", OPERATOR_CASES,
                         ids=[f"{c['conditions'][0]['name']}-{c['conditions'][0]['comparison_operator']}-{i}"
                              for i, (c, _) in enumerate(OPERATOR_CASES)])
def test_metadata_condition_operators(client, condition, predicate):
    r = post(client, retrieval_body("acme", "how long does shipping take", top_k=9, metadata_condition=condition))
    assert r.status_code == 200, r.text
    records = r.json()["records"]
    assert records, "each case matches some rows"
    assert all(predicate(rec["metadata"]) for rec in records)
    # and nothing that matches was dropped: compare with a listing of every language's rows
    everything = post(client, retrieval_body("acme", "how long does shipping take", top_k=9,
                                             metadata_condition=_cond(["language"], "not empty"))).json()["records"]
    assert len(everything) == 9
    assert {r["metadata"]["id"] for r in records} == {r["metadata"]["id"] for r in everything if predicate(r["metadata"])}


def test_metadata_condition_empty_matches_nothing_and_null_is_no_filter(client):
    r = post(client, retrieval_body("acme", "refund", metadata_condition=_cond(["annotation"], "empty")))
    assert r.json() == {"records": []}
    r = post(client, {**retrieval_body("acme", "refund", top_k=3), "metadata_condition": None})
    assert r.status_code == 200 and len(r.json()["records"]) == 3
    r = post(client, retrieval_body("acme", "refund", top_k=3, metadata_condition={"conditions": []}))
    assert r.status_code == 200 and len(r.json()["records"]) == 3


def test_language_filter_reaches_past_the_top_hits(client):
    """top_k=1 with a filter whose rows rank low without it still finds them."""
    r = post(client, retrieval_body("acme", "How do I return the headphones I bought?", top_k=1,
                                    metadata_condition=_cond(["language"], "is", "ja")))
    [record] = r.json()["records"]
    assert record["metadata"]["language"] == "ja" and record["metadata"]["annotation"] == "返品ポリシー"
    r = post(client, retrieval_body("acme", "How do I return the headphones I bought?", top_k=1,
                                    metadata_condition=_cond(["id"], "is", "acme-ja-8")))
    assert [rec["metadata"]["id"] for rec in r.json()["records"]] == ["acme-ja-8"]


# --- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": ""}, {"Authorization": f"Basic {KEYS['acme']}"},
                                     {"Authorization": "Bearer"}, {"Authorization": "Bearer "},
                                     {"Authorization": f"Token {KEYS['acme']}"}, {"Authorization": "Bearer a b"}])
def test_1001_malformed_authorization(client, headers):
    r = client.post("/retrieval", headers=headers, json=retrieval_body("acme", "return"))
    assert r.status_code == 403
    assert r.json()["error_code"] == 1001 and isinstance(r.json()["error_msg"], str)
    assert "records" not in r.json()


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer not-a-key"},
                                     {"Authorization": f"Bearer {KEYS['acme']}x"},
                                     {"Authorization": f"Bearer {hash_key(KEYS['acme'])}"}])
def test_1002_unknown_key(client, headers):
    r = client.post("/retrieval", headers=headers, json=retrieval_body("acme", "return"))
    assert r.status_code == 403 and r.json()["error_code"] == 1002


@pytest.mark.parametrize("knowledge_id", ["globex", "globex/faq", "globex/speech", "globex/image", "nobody",
                                          "../globex", "", "ACME"])
def test_1002_key_isolation(client, knowledge_id):
    """A key of acme never reads another tenant's knowledge (nor learns whether it exists)."""
    body = retrieval_body(knowledge_id, "opening hours")
    r = post(client, body)
    if knowledge_id == "":
        assert r.status_code == 400 and r.json()["error_code"] == 3001
        return
    assert r.status_code == 403 and set(r.json()) == {"error_code", "error_msg"}
    assert r.json()["error_code"] == 1002


def test_key_of_b_reads_b_only(client, built):
    r = post(client, retrieval_body("globex", "opening hours", top_k=9), headers=GLOBEX)
    assert r.status_code == 200
    records = r.json()["records"]
    assert records and all(rec["metadata"]["tenant"] == "globex" for rec in records)
    assert all(rec["metadata"]["index_version"] == built["versions"]["globex"] for rec in records)
    assert post(client, retrieval_body("acme", "return"), headers=GLOBEX).json()["error_code"] == 1002


@pytest.mark.parametrize("knowledge_id,headers", [
    ("acme/image", ACME), ("acme/video", ACME), ("acme/nothing", ACME), ("acme/faq/extra", ACME),
    ("globex/speech", GLOBEX),  # a served modality with nothing live
    ("initech", {"Authorization": f"Bearer {KEYS['initech']}"}),  # a tenant with a key and no index
])
def test_2001_knowledge_does_not_exist(client, knowledge_id, headers):
    r = post(client, retrieval_body(knowledge_id, "return"), headers=headers)
    assert r.status_code == 404
    assert r.json()["error_code"] == 2001 and "does not exist" in r.json()["error_msg"]


BAD_BODIES = [
    b"not json",
    b"[1, 2]",
    b'"just a string"',
    json.dumps({"query": "x", "retrieval_setting": {"top_k": 1, "score_threshold": 0}}).encode(),
    json.dumps({"knowledge_id": "acme", "retrieval_setting": {"top_k": 1, "score_threshold": 0}}).encode(),
    json.dumps({"knowledge_id": "acme", "query": "   ", "retrieval_setting": {"top_k": 1, "score_threshold": 0}}).encode(),
    json.dumps({"knowledge_id": "acme", "query": "x"}).encode(),
    json.dumps(retrieval_body("acme", "x", top_k=0)).encode(),
    json.dumps(retrieval_body("acme", "x", top_k=101)).encode(),
    json.dumps({"knowledge_id": "acme", "query": "x", "retrieval_setting": {"top_k": "5", "score_threshold": 0}}).encode(),
    json.dumps({"knowledge_id": "acme", "query": "x", "retrieval_setting": {"top_k": True, "score_threshold": 0}}).encode(),
    json.dumps(retrieval_body("acme", "x", score_threshold=1.5)).encode(),
    json.dumps(retrieval_body("acme", "x", score_threshold=-0.1)).encode(),
    json.dumps(retrieval_body("acme", "x", metadata_condition=[])).encode(),
    json.dumps(retrieval_body("acme", "x", metadata_condition={"logical_operator": "xor", "conditions": []})).encode(),
    json.dumps(retrieval_body("acme", "x", metadata_condition=_cond(["language"], "resembles", "en"))).encode(),
    json.dumps(retrieval_body("acme", "x", metadata_condition=_cond(["language"], "is"))).encode(),
    json.dumps(retrieval_body("acme", "x", metadata_condition=_cond([], "is", "en"))).encode(),
    json.dumps(retrieval_body("acme", "x", metadata_condition={"conditions": "language"})).encode(),
]


@pytest.mark.parametrize("raw", BAD_BODIES, ids=range(len(BAD_BODIES)))
def test_400_malformed_body(client, raw):
    r = client.post("/retrieval", content=raw, headers={**ACME, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == 3001 and r.json()["error_msg"]


def test_413_body_too_large(client):
    big = json.dumps(retrieval_body("acme", "x" * (1100 * 1024))).encode()
    r = client.post("/retrieval", content=big, headers={**ACME, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error_code"] == 3002

    def chunks():  # no Content-Length: the streamed body is cut off at the limit too
        for i in range(0, len(big), 8192):
            yield big[i:i + 8192]

    r = client.post("/retrieval", content=chunks(), headers={**ACME, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error_code"] == 3002


def test_504_timeout(built):
    """A search that exceeds the per-request timeout answers 504 in Dify's error format."""
    app = create_app(built["layout"], KeyRing.from_plain(KEYS), request_timeout_s=0.2)
    with TestClient(app) as c:
        post(c, retrieval_body("acme", "warm up the pair"))  # loads the index (timeout covers the search)
        for served in list(app.state.service.registry._live.values()):  # an encoder that hangs
            slow = served.encode
            object.__setattr__(served, "encode", lambda texts, slow=slow: (time.sleep(1.0), slow(texts))[1])
        r = post(c, retrieval_body("acme", "a query nobody asked before"))
    assert r.status_code == 504 and r.json()["error_code"] == 5002


# --- health, readiness, metrics ---------------------------------------------------------------

def test_healthz_readyz(client, built):
    assert client.get("/healthz").status_code == 200
    assert client.get("/healthz").json()["status"] == "ok"
    r = client.get("/readyz")
    assert r.status_code == 200
    served = r.json()["served"]
    assert served["acme/faq"]["version"] == built["versions"]["acme"]
    assert served["acme/speech"]["version"] == built["versions"]["acme/speech"]
    assert served["globex/faq"]["version"] == built["versions"]["globex"]


def test_readyz_503_before_the_indexes_are_loaded(built):
    app = create_app(built["layout"], KeyRing.from_plain(KEYS))
    c = TestClient(app)  # no lifespan: the watcher never ran
    assert c.get("/healthz").status_code == 200
    r = c.get("/readyz")
    assert r.status_code == 503 and r.json()["ready"] is False


def test_metrics(client, built):
    post(client, retrieval_body("acme", "metrics probe"))
    post(client, retrieval_body("globex", "metrics probe"))  # 1002 for acme's key
    client.post("/retrieval", json=retrieval_body("acme", "x"))  # 1001
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'mm_retrieval_requests_total{status="200",tenant="acme"}' in text
    assert 'mm_retrieval_requests_total{status="403",tenant="unknown"}' in text
    assert 'mm_retrieval_errors_total{code="1002",tenant="acme"}' in text
    assert 'mm_retrieval_errors_total{code="1001",tenant="unknown"}' in text
    assert 'mm_retrieval_latency_seconds_bucket{le="0.5",tenant="acme"}' in text
    for tenant, modality, key in (("acme", "faq", "acme"), ("acme", "speech", "acme/speech"), ("globex", "faq", "globex")):
        version = built["versions"][key]
        assert f'mm_live_index_info{{modality="{modality}",tenant="{tenant}",version="{version}"}} 1.0' in text
    assert "mm_batch_size_bucket" in text and "mm_batch_size_count" in text
    assert 'mm_index_loads_total{modality="faq",result="ok",tenant="acme"}' in text


# --- batching and the cache -------------------------------------------------------------------

def test_concurrent_queries_share_encoder_calls_and_cache(built):
    app = create_app(built["layout"], KeyRing.from_plain(KEYS), batch_wait_ms=30)
    service = app.state.service
    queries = [f"question number {i} about returns" for i in range(24)]

    async def scenario():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                await c.post("/retrieval", headers=ACME, json=retrieval_body("acme", "warm up"))
                before = service.batcher.batches
                responses = await asyncio.gather(*(c.post("/retrieval", headers=ACME, json=retrieval_body("acme", q, top_k=3))
                                                   for q in queries))
                batches = service.batcher.batches - before
                hits_before = service.cache.hits
                again = await c.post("/retrieval", headers=ACME, json=retrieval_body("acme", queries[0], top_k=3))
                return responses, batches, service.cache.hits - hits_before, again

    responses, batches, cache_hits, again = asyncio.run(scenario())
    assert all(r.status_code == 200 and len(r.json()["records"]) == 3 for r in responses)
    assert batches < len(queries) / 2, f"{len(queries)} concurrent queries took {batches} encoder calls"
    assert cache_hits == 1 and again.json() == responses[0].json()


# --- keys -------------------------------------------------------------------------------------

def test_keys_file_env_and_demo_keys(tmp_path, monkeypatch):
    layout = Layout(tmp_path / "data", tmp_path / "storage")
    for tenant in ("ecommerce", "medical"):
        (layout.tenant_data(tenant)).mkdir(parents=True)
    (layout.data_dir / "Not_A_Tenant").mkdir()
    keys = generate_demo_keys(layout)
    assert sorted(keys) == ["ecommerce", "medical"] and keys["ecommerce"] != keys["medical"]
    stored = demo_keys_path(layout).read_text("utf-8")
    assert keys["ecommerce"] not in stored and keys["medical"] not in stored  # hashes only
    assert json.loads(stored)["keys"][0]["sha256"] in (hash_key(keys["ecommerce"]), hash_key(keys["medical"]))
    ring = load_keys(env={}, layout=layout)  # falls back to the demo file
    assert ring.tenant_for(keys["medical"]) == "medical" and ring.tenant_for("nope") is None
    assert ring.tenant_for("") is None

    yaml_file = tmp_path / "keys.yaml"
    yaml_file.write_text(f"keys:\n  - tenant: acme\n    sha256: {hash_key('k1')}\n", "utf-8")
    ring = load_keys(env={"MM_API_KEYS_FILE": str(yaml_file), "MM_API_KEYS": "globex:k2, initech:k3"})
    assert [ring.tenant_for(k) for k in ("k1", "k2", "k3", "k4")] == ["acme", "globex", "initech", None]
    assert load_keys(str(yaml_file), env={}).tenants == ["acme"]

    for bad in ('{"keys": [{"tenant": "Bad-Id", "sha256": "' + "0" * 64 + '"}]}',
                '{"keys": [{"tenant": "acme", "sha256": "plaintext"}]}', '{"nokeys": []}', "{not json"):
        path = tmp_path / "bad.json"
        path.write_text(bad, "utf-8")
        with pytest.raises(KeyConfigError):
            load_keys_file(path)
    with pytest.raises(KeyConfigError):
        load_keys(env={"MM_API_KEYS": "acme"})
    with pytest.raises(KeyConfigError):
        load_keys(env={"MM_API_KEYS": "acme:a,globex:a"})  # one key, two tenants


def test_selective_filter_searches_past_the_overfetch(tmp_path):
    """Over-fetch is top_k * 10; when the filter leaves fewer than top_k, the whole index is searched."""
    import numpy as np

    from mm_platform.indexing.versions import build_index_version
    from mm_platform.pipeline import index_store

    layout = Layout(tmp_path / "data", tmp_path / "storage")
    text = ModelSet().text
    rows = [{"id": f"row-{i}", "question": f"question {i}", "answer": f"answer {i}", "language": "en",
             "annotation": f"intent {i}", "title": f"question {i}", "content": f"answer {i}", "tenant": "bigco"}
            for i in range(60)]
    vectors = np.random.default_rng(0).normal(size=(60, text.dim)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = index_store(layout, "bigco")
    ref = build_index_version(store.versions_root, rows, vectors, {**text.spec(), "models": {"text": text.spec()}},
                              text.key, tenant="bigco", modality="faq", dataset_fingerprint="synthetic")
    store.promote(ref["version"], "test")
    app = create_app(layout, KeyRing.from_plain({"bigco": "key-bigco"}))
    headers = {"Authorization": "Bearer key-bigco"}
    with TestClient(app) as c:
        everything = post(c, retrieval_body("bigco", "anything at all", top_k=60), headers).json()["records"]
        last = everything[-1]["metadata"]["id"]  # ranked last of 60: outside the first 10
        r = post(c, retrieval_body("bigco", "anything at all", top_k=1,
                                   metadata_condition=_cond(["id"], "is", last)), headers)
    assert [rec["metadata"]["id"] for rec in r.json()["records"]] == [last]


def test_server_cli(tmp_path, monkeypatch, capsys):
    from mm_platform.serving import server

    args = server.build_parser().parse_args([])
    assert (args.host, args.port, args.keys_file) == ("127.0.0.1", 8000, None)
    args = server.build_parser().parse_args(["--host", "127.0.0.1", "--port", "9000", "--keys-file", "k.json"])
    assert (args.port, args.keys_file) == (9000, "k.json")
    monkeypatch.delenv("MM_API_KEYS", raising=False)
    monkeypatch.delenv("MM_API_KEYS_FILE", raising=False)
    monkeypatch.setenv("MM_STORAGE_DIR", str(tmp_path / "storage"))
    monkeypatch.setenv("MM_DATA_DIR", str(tmp_path / "data"))
    assert server.main(["--port", "0"]) == 2
    assert "no API keys" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{}", "utf-8")
    assert server.main(["--keys-file", str(bad)]) == 2
