"""The service's Prometheus metrics (its own registry: requests, latency, errors, live versions, batches)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
