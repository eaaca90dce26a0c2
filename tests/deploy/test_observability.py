"""Run metrics reach a Pushgateway with the right names, labels and grouping keys.

A tiny HTTP server on 127.0.0.1 stands in for the Pushgateway and records every request. The
Grafana dashboard and the Prometheus scrape config are checked against the metric names the
retrieval service and mm_platform.observability actually export."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from mm_platform import observability

REPORT = {
    "present": True, "tenant": "ecommerce", "modality": "faq", "gate_passed": True,
    "rows": [
        {"language": "en", "n_queries": 20, "f1_macro": 0.95, "recall_at_1": 0.9, "latency_p95_ms": 12.5,
         "throughput_qps": 410.0, "error_rate": 0.0},
        {"language": "zh", "n_queries": 18, "f1_macro": 0.91, "recall_at_1": 0.88, "latency_p95_ms": 14.0,
         "throughput_qps": 390.0, "error_rate": 0.001},
        {"language": "ja", "n_queries": 0, "f1_macro": None, "recall_at_1": float("nan"), "latency_p95_ms": 0.0,
         "throughput_qps": 0.0, "error_rate": 0.0},
    ],
}


class _Recorder(BaseHTTPRequestHandler):
    requests: list[tuple[str, str, str]] = []

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8")
        type(self).requests.append((self.command, self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_POST = do_DELETE = _record  # noqa: N815

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def gateway():
    _Recorder.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.requests
    finally:
        server.shutdown()
        server.server_close()


def _grouping(path: str) -> dict[str, str]:
    """`/metrics/job/J/k1/v1/k2/v2` -> {"job": J, "k1": v1, ...} (the order of the pairs is free)."""
    parts = path.split("/")
    assert parts[:2] == ["", "metrics"], path
    pairs = parts[2:]
    return dict(zip(pairs[::2], pairs[1::2]))


def _samples(body: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_evaluation_metrics_per_tenant_modality_language(gateway):
    url, requests = gateway
    assert observability.push_evaluation_metrics(REPORT, url, raise_on_error=True)
    (method, path, body), = requests
    assert method == "PUT"  # the group is replaced as a whole
    assert _grouping(path) == {"job": "mm_platform", "tenant": "ecommerce", "modality": "faq"}
    samples = _samples(body)
    en = (("language", "en"), ("modality", "faq"), ("tenant", "ecommerce"))
    zh = (("language", "zh"), ("modality", "faq"), ("tenant", "ecommerce"))
    assert samples[("mm_eval_f1_macro", en)] == pytest.approx(0.95)
    assert samples[("mm_eval_recall_at_1", zh)] == pytest.approx(0.88)
    assert samples[("mm_eval_latency_p95_ms", en)] == pytest.approx(12.5)
    assert samples[("mm_eval_throughput_qps", zh)] == pytest.approx(390.0)
    assert samples[("mm_eval_error_rate", zh)] == pytest.approx(0.001)
    assert samples[("mm_eval_queries", en)] == 20
    assert samples[("mm_eval_gate_passed", (("modality", "faq"), ("tenant", "ecommerce")))] == 1
    # None / NaN are left out rather than pushed as garbage
    ja = (("language", "ja"), ("modality", "faq"), ("tenant", "ecommerce"))
    assert ("mm_eval_f1_macro", ja) not in samples and ("mm_eval_recall_at_1", ja) not in samples
    names = {name for name, _ in samples}
    assert set(observability.EVALUATION_METRICS[k][0] for k in observability.EVALUATION_METRICS) <= names


def test_run_outcomes_accumulate_per_group(gateway):
    url, requests = gateway
    assert observability.push_run_outcome("medical", "speech", True, url, raise_on_error=True)
    assert observability.push_run_outcome("medical", "speech", False, url, raise_on_error=True)
    assert observability.push_run_outcome("medical", None, True, url, job="nightly", raise_on_error=True)
    assert [m for m, _, _ in requests] == ["POST", "POST", "POST"]  # pushadd keeps the other outcome's series
    assert _grouping(requests[0][1]) == {"job": "mm_platform", "tenant": "medical", "modality": "speech",
                                         "kind": "run_outcome"}
    assert _grouping(requests[2][1]) == {"job": "nightly", "tenant": "medical", "modality": "all",
                                         "kind": "run_outcome"}
    group = (("modality", "speech"), ("tenant", "medical"))
    first, second = _samples(requests[0][2]), _samples(requests[1][2])
    assert first[("mm_run_last_outcome", group)] == 1 and second[("mm_run_last_outcome", group)] == 0
    assert second[("mm_run_success_total", group)] - first[("mm_run_success_total", group)] == 0
    assert second[("mm_run_failure_total", group)] - first[("mm_run_failure_total", group)] == 1
    assert ("mm_run_last_success_timestamp_seconds", group) in first
    assert ("mm_run_last_failure_timestamp_seconds", group) in second
    assert ("mm_run_last_outcome", (("modality", "all"), ("tenant", "medical"))) in _samples(requests[2][2])


def test_noop_without_gateway(gateway, monkeypatch):
    _, requests = gateway
    monkeypatch.delenv(observability.PUSHGATEWAY_ENV, raising=False)
    assert observability.gateway_from_env() == ""
    assert observability.push_evaluation_metrics(REPORT, "") is False
    assert observability.push_run_outcome("ecommerce", "faq", True, "") is False
    assert observability.push_evaluation_metrics({"present": False, "tenant": "t", "modality": "image",
                                                  "reason": "no input"}, "http://127.0.0.1:9") is False
    assert requests == []


def test_unreachable_gateway_never_fails_a_run():
    # port 9 (discard) on loopback: connection refused, swallowed and reported as not pushed
    assert observability.push_run_outcome("ecommerce", "faq", True, "http://127.0.0.1:9", timeout=1) is False


# -- the dashboard and the scrape config only name metrics that exist -----------------------------

ROOT = Path(__file__).resolve().parents[2]


def _exported_names(registry) -> set[str]:
    names = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def test_dashboard_queries_use_real_metric_names():
    from mm_platform.serving.metrics import Metrics

    service = Metrics()  # the retrieval service's own registry; touch the labelled series once
    service.requests.labels("t", "200").inc()
    service.latency.labels("t").observe(0.01)
    service.errors.labels("t", "2001").inc()
    service.live_info.labels("t", "faq", "v1").set(1)
    service.batch_size.observe(1)
    service.loads.labels("t", "faq", "ok").inc()
    service.cache.labels("hit").inc()
    known = _exported_names(service.registry)
    known |= _exported_names(observability.evaluation_registry(REPORT))
    known |= _exported_names(observability.run_outcome_registry("t", "faq", True))
    known |= _exported_names(observability.run_outcome_registry("t", "faq", False))

    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboard.json").read_text("utf-8"))
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    used = set()
    for panel in panels:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]) and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        for target in panel.get("targets", []):
            used |= set(re.findall(r"\b(mm_[a-z0-9_]+)", target["expr"]))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            used |= set(re.findall(r"\b(mm_[a-z0-9_]+)", variable["definition"]))
    assert used and used <= known, sorted(used - known)
    titles = " ".join(p["title"].lower() for p in panels)
    for needed in ("requests/s", "p50 / p95 / p99", "error rate", "live index version", "f1", "recall@1",
                   "latency p95", "throughput", "successes / failures"):
        assert needed in titles, needed
    quantiles = [t["expr"] for p in panels for t in p.get("targets", []) if "histogram_quantile" in t["expr"]]
    assert any("mm_retrieval_latency_seconds_bucket" in q and "le" in q for q in quantiles)


def test_scrape_config_targets_retrieval_pods_and_pushgateway():
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "scrape.yaml").read_text("utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    retrieval, gateway = jobs["mm-retrieval"], jobs["mm-pushgateway"]
    assert retrieval["kubernetes_sd_configs"][0]["role"] == "pod"
    keep = retrieval["relabel_configs"][0]
    assert keep["action"] == "keep" and re.fullmatch(keep["regex"], "mm-platform;retrieval")
    assert gateway["honor_labels"] is True  # keep the pushed tenant/modality/job labels
    # the pods opt in exactly the way the relabelling expects
    manifest = {d["kind"]: d for d in yaml.safe_load_all((ROOT / "deploy" / "k8s" / "retrieval-service.yaml").read_text())}
    template = manifest["Deployment"]["spec"]["template"]["metadata"]
    assert template["annotations"]["prometheus.io/scrape"] == "true"
    assert template["annotations"]["prometheus.io/path"] == "/metrics"
    assert (template["labels"]["app.kubernetes.io/part-of"], template["labels"]["app.kubernetes.io/component"]) == \
        ("mm-platform", "retrieval")
    port_rule = next(r for r in retrieval["relabel_configs"] if r.get("target_label") == "__address__")
    address = re.sub(port_rule["regex"], port_rule["replacement"].replace("$", "\\"),
                     "10.0.0.7:9999;" + template["annotations"]["prometheus.io/port"])
    assert address == "10.0.0.7:8000"
