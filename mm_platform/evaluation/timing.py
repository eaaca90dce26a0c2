"""Query latency that a busy machine cannot flip: CPU time, with wall time recorded beside it.

Wall-clock p95 of single queries moves 10x when other processes share the cores (measured: USE
1.5 -> 9.8 ms wall while its thread CPU time went 1.5 -> 1.8 ms). The gate therefore reads CPU
time. By default that is the CPU time of the thread that runs the query, with BLAS/OpenMP pools
held to that one thread while it is timed: a helper thread would do work the clock does not see,
and spin-wait on a loaded machine. Models that run on threads of their own (CTranslate2's
Whisper: the calling thread only waits) are timed with the process CPU clock instead.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from mm_platform.evaluation.metrics import latency_percentiles_ms


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """BLAS, OpenMP and Faiss pools limited to the calling thread for the duration."""
    import faiss
    from threadpoolctl import threadpool_limits

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        faiss.omp_set_num_threads(before)


@dataclass
class Timings:
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    errors: int = 0

    def add(self, cpu: float, wall: float) -> None:
        self.cpu.append(cpu)
        self.wall.append(wall)

    def summary(self) -> dict:
        return {**latency_percentiles_ms(self.cpu, "latency_cpu"), **latency_percentiles_ms(self.wall, "latency"),
                "latency_samples": len(self.cpu)}


CLOCKS = {"thread": time.thread_time, "process": time.process_time}


def timed(fn: Callable[[], object], timings: Timings, clock: str = "thread") -> object:
    """Run fn once, adding its CPU and wall seconds; an exception is counted and returned."""
    cpu_clock = CLOCKS[clock]
    wall0, cpu0 = time.perf_counter(), cpu_clock()
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001 - an error is a measured outcome
        timings.errors += 1
        result = exc
    timings.add(cpu_clock() - cpu0, time.perf_counter() - wall0)
    return result


def interleaved(paths: dict[str, Callable[[int], object]], n_items: int, samples: int, warmup: int = 5,
                clock: str = "thread") -> dict[str, Timings]:
    """Time every path on the same items, alternating which goes first, cycling the items until
    `samples` timings each; `warmup` untimed calls each first (lazy loads are not latency)."""
    out = {name: Timings() for name in paths}
    if n_items == 0:
        return out
    names = list(paths)
    with single_thread():
        for i in range(min(warmup, n_items)):
            for name in names:
                with contextlib.suppress(Exception):
                    paths[name](i)
        for i in range(samples):
            order = names if i % 2 == 0 else names[::-1]
            for name in order:
                timed(lambda: paths[name](i % n_items), out[name], clock)
    return out


def cpu_cost_ms(fn: Callable[[int], object], n: int = 7) -> float:
    """Median thread CPU milliseconds of fn(i) on one thread (after one warm-up call)."""
    timings = Timings()
    with single_thread():
        fn(0)
        for i in range(n):
            timed(lambda: fn(i), timings)
    return round(float(np.median(timings.cpu)) * 1000.0, 3)
