"""Hot swap under load: the live pointer moves back and forth (promote / rollback) while hundreds
of concurrent requests run; no request fails, no response mixes versions, and the service
follows the last swap within a bounded time."""

from __future__ import annotations

import asyncio
import itertools
import time

import httpx
import pytest

from mm_platform.atomic import atomic_write_json
from mm_platform.inputs.tenancy import Layout
from mm_platform.pipeline import index_store
from mm_platform.serving import KeyRing, create_app
from tests.serving import EVAL, build_and_promote, retrieval_body, write_tenant

KEY = "hot-swap-key-0123456789"
HEADERS = {"Authorization": f"Bearer {KEY}"}
V2_SUFFIX = " [v2]"


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory) -> dict:
    """acme built twice: v2 has the same questions and different answers (content differs)."""
    root = tmp_path_factory.mktemp("hot_swap")
    layout = Layout(root / "data", root / "storage")
    write_tenant(layout, "acme")
    v1 = build_and_promote(layout, "acme", "build-v1")
    write_tenant(layout, "acme", answer_suffix=V2_SUFFIX)
    v2 = build_and_promote(layout, "acme", "build-v2")
    assert v1 != v2
    return {"layout": layout, "v1": v1, "v2": v2}


def served_version(response: httpx.Response, versions: dict) -> str:
    """The one version a response came from; fails on a mixed or inconsistent response."""
    assert response.status_code == 200, response.text
    records = response.json()["records"]
    assert records
    seen = {r["metadata"]["index_version"] for r in records}
    assert len(seen) == 1, f"one response mixed versions {seen}"
    [version] = seen
    assert version in (versions["v1"], versions["v2"])
    # the content must be that version's content too (never new metadata over old rows)
    has_suffix = {r["content"].endswith(V2_SUFFIX) for r in records}
    assert has_suffix == {version == versions["v2"]}, f"content of {version} does not match its rows"
    return version


async def _lifespan_client(app):
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30)


def test_swaps_under_concurrent_load(two_versions):
    layout, v1, v2 = two_versions["layout"], two_versions["v1"], two_versions["v2"]
    store = index_store(layout, "acme")
    assert store.live_version() == v2
    app = create_app(layout, KeyRing.from_plain({"acme": KEY}), watch_interval=0.05, batch_wait_ms=3)
    service = app.state.service
    queries = [(q, lang) for lang, _, q in EVAL["acme"]]

    def body(i: int) -> dict:
        query, language = queries[i % len(queries)]
        condition = None
        if i % 3 == 0:
            condition = {"conditions": [{"name": ["language"], "comparison_operator": "is", "value": language}]}
        # a varying suffix keeps most requests out of the cache, so batches really run
        return retrieval_body("acme", f"{query} {i % 7}" if i % 2 else query, top_k=3,
                              metadata_condition=condition)

    async def scenario():
        async with app.router.lifespan_context(app):
            async with await _lifespan_client(app) as client:
                for _ in range(100):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                    await asyncio.sleep(0.05)
                swaps: list[str] = []
                follow: list[float] = []
                done = asyncio.Event()

                async def swapper():
                    for n in range(6):
                        await asyncio.sleep(0.15)
                        if n % 2 == 0:
                            entry = await asyncio.to_thread(store.rollback, f"swap-{n}", "test rollback")
                        else:
                            entry = await asyncio.to_thread(store.promote, v2, f"swap-{n}")
                        swaps.append(entry["to"])
                        started = time.monotonic()  # the service follows each swap, under load
                        while service.registry.current("acme", "faq").version != entry["to"]:
                            assert time.monotonic() - started < 3.0, f"swap {n} not followed within 3 s"
                            await asyncio.sleep(0.01)
                        follow.append(time.monotonic() - started)
                    done.set()

                counter = itertools.count()
                responses: list[httpx.Response] = []
                failures: list[str] = []
                swap_task = asyncio.create_task(swapper())
                waves = 0
                while not done.is_set() or len(responses) < 300:
                    results = await asyncio.gather(
                        *(client.post("/retrieval", headers=HEADERS, json=body(next(counter))) for _ in range(40)),
                        return_exceptions=True)
                    waves += 1
                    for result in results:
                        if isinstance(result, BaseException):
                            failures.append(repr(result))
                        else:
                            responses.append(result)
                    if waves > 200:
                        break
                await swap_task

                # after the last swap the service serves its target within a bounded time
                target = swaps[-1]
                started = time.monotonic()
                while True:
                    r = await client.post("/retrieval", headers=HEADERS, json=retrieval_body("acme", "after the swaps"))
                    if served_version(r, two_versions) == target:
                        break
                    assert time.monotonic() - started < 3.0, "the last swap was not picked up within 3 s"
                    await asyncio.sleep(0.02)
                follow_s = time.monotonic() - started
                metrics = (await client.get("/metrics")).text
                return responses, failures, swaps, max(follow + [follow_s]), metrics

    responses, failures, swaps, follow_s, metrics = asyncio.run(scenario())
    assert not failures
    assert len(responses) >= 300
    assert swaps == [v1, v2, v1, v2, v1, v2]
    versions = [served_version(r, two_versions) for r in responses]  # zero failures, one version each
    assert {v1, v2} <= set(versions), "requests ran across the swaps"
    assert follow_s < 3.0
    assert service.registry.swaps == 6
    info = [line for line in metrics.splitlines() if line.startswith("mm_live_index_info{")]
    assert info == [f'mm_live_index_info{{modality="faq",tenant="acme",version="{v2}"}} 1.0']


def test_in_flight_request_finishes_on_the_old_pair(two_versions):
    """A request that took the pair before a swap answers from that pair, entirely."""
    layout, v1, v2 = two_versions["layout"], two_versions["v1"], two_versions["v2"]
    store = index_store(layout, "acme")
    if store.live_version() != v2:
        store.promote(v2, "reset")
    app = create_app(layout, KeyRing.from_plain({"acme": KEY}), watch_interval=30, batch_wait_ms=400)
    service = app.state.service

    async def scenario():
        async with app.router.lifespan_context(app):
            async with await _lifespan_client(app) as client:
                await service.registry.refresh("acme", "faq")
                assert service.registry.current("acme", "faq").version == v2
                slow = asyncio.create_task(client.post("/retrieval", headers=HEADERS,
                                                       json=retrieval_body("acme", "in flight during the swap")))
                await asyncio.sleep(0.1)  # the request holds the v2 pair and waits in its batch
                await asyncio.to_thread(store.rollback, "swap", "test")
                assert await service.registry.refresh("acme", "faq")
                assert service.registry.current("acme", "faq").version == v1
                after = await client.post("/retrieval", headers=HEADERS, json=retrieval_body("acme", "after the swap"))
                return await slow, after

    slow, after = asyncio.run(scenario())
    assert served_version(slow, two_versions) == v2
    assert served_version(after, two_versions) == v1
    store.promote(v2, "reset")


def test_failed_load_keeps_the_old_pair(two_versions):
    layout, v1, v2 = two_versions["layout"], two_versions["v1"], two_versions["v2"]
    store = index_store(layout, "acme")
    if store.live_version() != v2:
        store.promote(v2, "reset")
    good_pointer = store.live()
    broken = store.version_dir("brokenversion0001")
    broken.mkdir(parents=True, exist_ok=True)
    (broken / "manifest.json").write_text("{ not json", "utf-8")
    app = create_app(layout, KeyRing.from_plain({"acme": KEY}), watch_interval=0.05)

    async def scenario():
        async with app.router.lifespan_context(app):
            async with await _lifespan_client(app) as client:
                first = await client.post("/retrieval", headers=HEADERS, json=retrieval_body("acme", "return"))
                atomic_write_json(store.root / "LIVE.json", {**good_pointer, "version": "brokenversion0001"})
                await asyncio.sleep(0.3)
                during = await client.post("/retrieval", headers=HEADERS, json=retrieval_body("acme", "shipping"))
                ready = await client.get("/readyz")
                metrics = (await client.get("/metrics")).text
                atomic_write_json(store.root / "LIVE.json", good_pointer)
                return first, during, ready, metrics

    try:
        first, during, ready, metrics = asyncio.run(scenario())
    finally:
        atomic_write_json(store.root / "LIVE.json", good_pointer)
    assert served_version(first, two_versions) == v2
    assert served_version(during, two_versions) == v2  # still the old pair
    assert ready.status_code == 200 and "acme/faq" in ready.json()["load_failures"]
    assert 'mm_index_loads_total{modality="faq",result="failed",tenant="acme"}' in metrics
    assert v1  # the rollback target stays untouched


def test_first_load_failure_is_a_reason_dify_shows_and_not_ready(tmp_path):
    """A version that cannot be loaded is not transient: a 4xx with the reason (a 5xx would be
    retried three times by Dify and then hidden)."""
    layout = Layout(tmp_path / "data", tmp_path / "storage")
    store = index_store(layout, "acme")
    (store.version_dir("brokenversion0001")).mkdir(parents=True)
    (store.version_dir("brokenversion0001") / "manifest.json").write_text("{ not json", "utf-8")
    atomic_write_json(store.root / "LIVE.json", {"version": "brokenversion0001", "previous": []})
    app = create_app(layout, KeyRing.from_plain({"acme": KEY}), watch_interval=0.05)

    async def scenario():
        async with app.router.lifespan_context(app):
            async with await _lifespan_client(app) as client:
                await asyncio.sleep(0.2)
                r = await client.post("/retrieval", headers=HEADERS, json=retrieval_body("acme", "return"))
                return r, await client.get("/readyz")

    r, ready = asyncio.run(scenario())
    assert r.status_code == 404 and r.json()["error_code"] == 2001
    assert "could not be loaded" in r.json()["error_msg"] and "brokenversion0001" in r.json()["error_msg"]
    assert ready.status_code == 503 and "acme/faq" in ready.json()["load_failures"]


class _FakeTarget:
    """A served index stand-in: shares an encoder with others, answers with its own version."""

    def __init__(self, version: str, calls: list):
        self.version, self.calls = version, calls

    batch_key = property(lambda self: ("acme", "faq", self.version))
    encoder_key = ("encoder", 1)
    ntotal = 100

    def encode(self, texts):
        import numpy as np

        self.calls.append(("encode", tuple(texts)))
        return np.ones((len(texts), 4), dtype="float32")

    def search(self, vectors, k, language):
        self.calls.append(("search", self.version, len(vectors), language))
        return [[(self.version, i) for i in range(k)] for _ in range(len(vectors))]


def test_one_batch_spanning_a_swap_searches_each_version_separately():
    from mm_platform.serving.batching import MicroBatcher

    calls: list = []
    old, new = _FakeTarget("v1", calls), _FakeTarget("v2", calls)

    async def scenario():
        batcher = MicroBatcher(max_wait_ms=20, cache=None)
        jobs = [batcher.search(old if i % 2 else new, f"q{i % 3}", 2, "en" if i % 4 == 0 else None) for i in range(12)]
        results = await asyncio.gather(*jobs)
        await batcher.close()
        return results

    results = asyncio.run(scenario())
    for i, hits in enumerate(results):
        assert {version for version, _ in hits} == {"v1" if i % 2 else "v2"} and len(hits) == 2
    # adaptive batching: the first query ran at once (nothing was being encoded); the eleven that
    # arrived while it ran formed one batch: one encoder call over their distinct texts
    encodes = [c for c in calls if c[0] == "encode"]
    assert len(encodes) == 2 and encodes[0][1] == ("q0",) and sorted(encodes[1][1]) == ["q0", "q1", "q2"]
    searches = [c for c in calls if c[0] == "search"]
    assert searches[0][1:] == ("v2", 1, "en")  # the first, alone
    assert sorted((s[1], s[3] or "") for s in searches[1:]) == [("v1", ""), ("v2", ""), ("v2", "en")]
