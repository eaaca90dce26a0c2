"""Load-testing a deployed retrieval service with Locust: the seed's scenario.

Mixed tenants, the three languages, a third of the requests with a metadata filter, the request
shapes Dify sends (tests/serving/test_dify_contract.py). For the figures in the README the lean
in-repo benchmark (`benchmarks/load_dify.py`) is used: on one 2-core machine Locust's own client
would take the cores it measures. Use this one against a deployment, from other machines:

    pip install '.[load]'
    MM_LOAD_KEYS=keys.json locust -f benchmarks/locustfile.py --host http://retrieval:8000 \\
        --users 64 --spawn-rate 16 --run-time 5m --headless --csv results/locust

`MM_LOAD_KEYS` is a JSON object {tenant: api key} (`mm api-keys --json` prints the demo's);
`MM_LOAD_QUERIES` optionally a JSON list of {tenant, query, language} (default: the demo's
evaluation queries under MM_DATA_DIR).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from locust import FastHttpUser, between, task

FILTER_SHARE = 1 / 3


def _keys() -> dict[str, str]:
    path = os.environ.get("MM_LOAD_KEYS")
    if not path:
        raise SystemExit("set MM_LOAD_KEYS to a JSON file {tenant: api key}")
    return json.loads(Path(path).read_text("utf-8"))


def _queries(tenants: list[str]) -> list[dict]:
    path = os.environ.get("MM_LOAD_QUERIES")
    if path:
        return json.loads(Path(path).read_text("utf-8"))
    data = Path(os.environ.get("MM_DATA_DIR", "data/tenants"))
    out = []
    for tenant in tenants:
        file = data / tenant / "eval_queries.json"
        if file.exists():
            out += [{"tenant": tenant, "query": q["query"], "language": q["language"]}
                    for q in json.loads(file.read_text("utf-8")) if "query" in q]
    if not out:
        raise SystemExit(f"no queries: set MM_LOAD_QUERIES or MM_DATA_DIR (looked in {data})")
    return out


KEYS = _keys()
QUERIES = _queries(sorted(KEYS))


class DifyClient(FastHttpUser):
    """One Dify workflow asking its knowledge base, as Dify builds the request."""

    wait_time = between(0.0, 0.05)

    @task
    def retrieve(self) -> None:
        q = random.choice(QUERIES)
        body = {"retrieval_setting": {"top_k": 5, "score_threshold": 0.5}, "query": q["query"],
                "knowledge_id": q["tenant"]}
        if random.random() < FILTER_SHARE:
            body["metadata_condition"] = {"logical_operator": "and", "conditions": [
                {"name": ["language"], "comparison_operator": "is", "value": q["language"]}]}
        with self.client.post("/retrieval", data=json.dumps(body), name=f"/retrieval [{q['language']}]",
                              headers={"Content-Type": "application/json",
                                       "Authorization": f"Bearer {KEYS[q['tenant']]}"},
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
            elif not isinstance(response.json().get("records"), list):
                response.failure("no records list")
            elif any(r["metadata"].get("tenant") not in (None, q["tenant"]) for r in response.json()["records"]):
                response.failure("a record of another tenant")  # isolation, checked on every answer
