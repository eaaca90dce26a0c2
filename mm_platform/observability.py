"""Run metrics for Prometheus, pushed to a Pushgateway (Dagster-free).

Batch runs end before any scraper could see them, so their numbers go to a Pushgateway that
Prometheus scrapes (`deploy/prometheus/scrape.yaml`, job `mm-pushgateway`, `honor_labels: true`).
Every push uses a fresh `CollectorRegistry`, so nothing leaks between tenants or calls.

Grouping keys (a push replaces exactly the metrics of its own group):

- evaluation metrics: ``job=<job>/tenant=<tenant>/modality=<modality>``, replaced as a whole
  (PUT), so a language that disappeared from the report disappears from the gateway;
- run outcomes: ``job=<job>/tenant=<tenant>/modality=<modality or "all">/kind=run_outcome``,
  ``pushadd`` (POST), so the success and failure series of one group live side by side.

Metric names (all gauges; labels ``tenant``, ``modality`` and, for evaluation, ``language``):

- ``mm_eval_f1_macro``, ``mm_eval_recall_at_1``, ``mm_eval_latency_p95_ms``,
  ``mm_eval_throughput_qps``, ``mm_eval_error_rate``, ``mm_eval_gate_passed`` (1/0, per row's
  report), ``mm_eval_queries`` and ``mm_eval_last_push_timestamp_seconds``;
- ``mm_run_success_total`` / ``mm_run_failure_total``: runs seen by this process per outcome since
  it started (a gauge pushed with the running count; the gateway keeps the last value), plus
  ``mm_run_last_success_timestamp_seconds`` / ``mm_run_last_failure_timestamp_seconds`` and
  ``mm_run_last_outcome`` (1 success, 0 failure), which are what dashboards and alerts should use:
  they survive process restarts.

Everything is a no-op when ``gateway`` is empty (``MM_PUSHGATEWAY_URL`` unset), and a gateway
that cannot be reached raises nothing unless ``raise_on_error=True``: metrics never fail a run.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import Counter as _Tally
from typing import Any, Mapping

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, pushadd_to_gateway

log = logging.getLogger(__name__)

PUSHGATEWAY_ENV = "MM_PUSHGATEWAY_URL"
DEFAULT_JOB = "mm_platform"

#: report row field -> (metric name, help)
EVALUATION_METRICS: dict[str, tuple[str, str]] = {
    "f1_macro": ("mm_eval_f1_macro", "Macro F1 on annotations of the evaluated candidate"),
    "recall_at_1": ("mm_eval_recall_at_1", "Recall@1 of the evaluated candidate"),
    "latency_p95_ms": ("mm_eval_latency_p95_ms", "p95 latency of the whole query path in milliseconds"),
    "throughput_qps": ("mm_eval_throughput_qps", "Batched queries per second"),
    "error_rate": ("mm_eval_error_rate", "Share of evaluation queries that errored"),
}

_LABELS = ("tenant", "modality", "language")
_RUN_LABELS = ("tenant", "modality")
_run_counts: _Tally = _Tally()
_run_counts_lock = threading.Lock()


def gateway_from_env() -> str:
    """The Pushgateway address from `MM_PUSHGATEWAY_URL` ('' when unset)."""
    return os.environ.get(PUSHGATEWAY_ENV, "").strip()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def evaluation_registry(report: Mapping[str, Any]) -> CollectorRegistry:
    """A fresh registry with the gauges of one evaluation report (tenant x modality x language)."""
    registry = CollectorRegistry()
    tenant, modality = str(report["tenant"]), str(report["modality"])
    gauges = {field: Gauge(name, doc, _LABELS, registry=registry) for field, (name, doc) in EVALUATION_METRICS.items()}
    queries = Gauge("mm_eval_queries", "Evaluation queries scored per language", _LABELS, registry=registry)
    passed = Gauge("mm_eval_gate_passed", "1 when the candidate passed every blocking gate, else 0",
                   ("tenant", "modality"), registry=registry)
    pushed = Gauge("mm_eval_last_push_timestamp_seconds", "When these evaluation metrics were pushed",
                   ("tenant", "modality"), registry=registry)
    for row in report.get("rows", []):
        language = str(row.get("language", "all"))
        for field, gauge in gauges.items():
            value = _number(row.get(field))
            if value is not None:
                gauge.labels(tenant, modality, language).set(value)
        n = _number(row.get("n_queries"))
        if n is not None:
            queries.labels(tenant, modality, language).set(n)
    if "gate_passed" in report:
        passed.labels(tenant, modality).set(1.0 if report["gate_passed"] else 0.0)
    pushed.labels(tenant, modality).set(time.time())
    return registry


def push_evaluation_metrics(report: Mapping[str, Any], gateway: str, job: str = DEFAULT_JOB, *,
                            timeout: float = 5.0, raise_on_error: bool = False) -> bool:
    """Push one evaluation report's gauges; grouping key tenant + modality. Returns whether it pushed.

    A report without rows (an absent modality: ``present: False``) pushes nothing."""
    if not gateway or not report.get("present", True) or not report.get("rows"):
        return False
    registry = evaluation_registry(report)
    grouping = {"tenant": str(report["tenant"]), "modality": str(report["modality"])}
    return _send(push_to_gateway, gateway, job, registry, grouping, timeout, raise_on_error)


def run_outcome_registry(tenant: str, modality: str | None, success: bool) -> CollectorRegistry:
    """A fresh registry with the run-outcome series of one tenant [x modality]."""
    modality = modality or "all"
    with _run_counts_lock:
        _run_counts[(tenant, modality, success)] += 1
        successes = _run_counts[(tenant, modality, True)]
        failures = _run_counts[(tenant, modality, False)]
    registry = CollectorRegistry()
    now = time.time()
    Gauge("mm_run_success_total", "Successful runs counted by the pushing process", _RUN_LABELS,
          registry=registry).labels(tenant, modality).set(successes)
    Gauge("mm_run_failure_total", "Failed runs counted by the pushing process", _RUN_LABELS,
          registry=registry).labels(tenant, modality).set(failures)
    Gauge("mm_run_last_outcome", "1 when the last run succeeded, 0 when it failed", _RUN_LABELS,
          registry=registry).labels(tenant, modality).set(1.0 if success else 0.0)
    name = "mm_run_last_success_timestamp_seconds" if success else "mm_run_last_failure_timestamp_seconds"
    Gauge(name, f"Unix time of the last {'successful' if success else 'failed'} run", _RUN_LABELS,
          registry=registry).labels(tenant, modality).set(now)
    return registry


def push_run_outcome(tenant: str, modality: str | None, success: bool, gateway: str, job: str = DEFAULT_JOB, *,
                     timeout: float = 5.0, raise_on_error: bool = False) -> bool:
    """Record a run outcome for a tenant (and modality, or "all"); pushadd, so the other outcome's
    last timestamp in the same group is kept. Returns whether it pushed."""
    if not gateway:
        return False
    registry = run_outcome_registry(tenant, modality, success)
    grouping = {"tenant": tenant, "modality": modality or "all", "kind": "run_outcome"}
    return _send(pushadd_to_gateway, gateway, job, registry, grouping, timeout, raise_on_error)


def _send(fn, gateway: str, job: str, registry: CollectorRegistry, grouping: dict, timeout: float,
          raise_on_error: bool) -> bool:
    try:
        fn(gateway, job=job, registry=registry, grouping_key=grouping, timeout=timeout)
        return True
    except Exception as exc:  # noqa: BLE001 - metrics must never fail a run
        if raise_on_error:
            raise
        log.warning("could not push metrics to %s (%s): %s", gateway, grouping, exc)
        return False
