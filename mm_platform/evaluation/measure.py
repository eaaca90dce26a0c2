"""Retrieval evaluation of an index version on held-out queries, one row per cell.

A cell is a language, or `any` for modalities whose queries have no language (a photo, a clip:
they are scored on the product they show, across the rows of every language). Every figure comes
with its sample: n, a Wilson interval for recall@1 and a bootstrap interval for macro F1. Latency
is the CPU time of one query on the path a user's request takes, at least `latency_samples` of
them (cycling the queries), with wall-clock percentiles recorded beside it; where a live version
exists, both are answered on the same queries (a paired test) and timed interleaved (a ratio).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from mm_platform.encoders.models import ModelSet
from mm_platform.evaluation.gates import ANY_LANGUAGE
from mm_platform.evaluation.metrics import f1_macro, recall_at_k, reciprocal_ranks
from mm_platform.evaluation.stats import bootstrap_f1_interval, paired_comparison, query_key, wilson_interval
from mm_platform.evaluation.timing import Timings, interleaved, single_thread, timed
from mm_platform.indexing.versions import Hit, IndexHandle
from mm_platform.modalities.base import Modality

K = 5
DEFAULT_LATENCY_SAMPLES = 200


@dataclass
class QueryPath:
    """How one index version answers one modality's queries."""

    name: str
    #: batched quality pass: hits per query
    answer: Callable[[list[dict]], list[list[Hit]]]
    #: one user request (the timed path)
    answer_one: Callable[[dict], list[Hit]]
    label: Callable[[Hit], str]
    truth: Callable[[dict], str]
    cell: Callable[[dict], str]
    #: why a query cannot be answered by this path's models (None: it can)
    unsupported: Callable[[dict], str | None] = lambda q: None
    #: one query costs a second or more (speech): time the quality pass itself, once per query
    expensive: bool = False
    #: CPU clock of the timings: "thread", or "process" for models that compute on threads of their own
    clock: str = "thread"
    #: the FAQ retriever behind the path, if any (its token cache is saved after an evaluation)
    retriever: object = None


# --- query paths -----------------------------------------------------------------------------------

def product_components(rows: list[dict], item_key: Callable[[dict], str]) -> dict[tuple[str, str], str]:
    """(language, annotation) -> product id: rows showing the same item (picture, video) are one
    product, as are rows with the same label in one language. The id is the English label where
    there is one."""
    parent: dict = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for row in rows:
        a, b = find(("item", item_key(row))), find(("label", row["language"], row["annotation"]))
        if a != b:
            parent[a] = b
    groups: dict = defaultdict(list)
    for row in rows:
        groups[find(("label", row["language"], row["annotation"]))].append(row)
    out = {}
    for members in groups.values():
        english = sorted(r["annotation"] for r in members if r["language"] == "en")
        name = english[0] if english else sorted(f"{r['language']}:{r['annotation']}" for r in members)[0]
        for r in members:
            out[(r["language"], r["annotation"])] = name
    return out


def index_path(handle: IndexHandle, modality: Modality, models: ModelSet, tenant_dir: Path, name: str) -> QueryPath:
    """The plain path: encode the query with the version's models, search its main index (in the
    query's language, or every language for language-free modalities)."""
    language_free = getattr(modality, "language_free_queries", False)
    products = product_components(handle.rows, modality.item_key) if language_free else {}

    def search(queries: list[dict]) -> list[list[Hit]]:
        if not queries:
            return []
        vectors = modality.encode_queries(queries, models, tenant_dir)
        if language_free:
            return handle.search(vectors, k=K * 3)
        out: list[list[Hit]] = [[] for _ in queries]
        by_language = defaultdict(list)
        for i, q in enumerate(queries):
            by_language[q["language"]].append(i)
        for language, idx in by_language.items():
            for i, hits in zip(idx, handle.search(vectors[idx], k=K, language=language)):
                out[i] = hits
        return out

    def label(hit: Hit) -> str:
        return products.get((hit.row["language"], hit.row["annotation"]), hit.row["annotation"]) if language_free \
            else hit.row["annotation"]

    def truth(q: dict) -> str:
        return products.get((q["language"], q["annotation"]), f"{q['language']}:{q['annotation']}") if language_free \
            else q["annotation"]

    return QueryPath(
        name=name, answer=search, answer_one=lambda q: search([q])[0], label=label, truth=truth,
        cell=(lambda q: ANY_LANGUAGE) if language_free else (lambda q: q["language"]),
        unsupported=lambda q: modality.query_unsupported(q, models),
        expensive=not modality.batched_throughput, clock=modality.latency_clock)


def transcribing_path(retriever, modality: Modality, models: ModelSet, tenant_dir: Path, name: str) -> QueryPath:
    """A spoken query: transcribed by the version's ASR model, then answered by the version's
    retrieval strategy over its rows in the query's language (the `<tenant>/speech` path)."""

    def answer_one(q: dict) -> list[Hit]:
        text = modality.transcribe_query(q, models, tenant_dir)
        return retriever.search([text], k=K, language=q["language"])[0]

    return QueryPath(name=name, answer=lambda qs: [answer_one(q) for q in qs], answer_one=answer_one,
                     label=lambda hit: hit.row["annotation"], truth=lambda q: q["annotation"],
                     cell=lambda q: q["language"], unsupported=lambda q: modality.query_unsupported(q, models),
                     expensive=True, clock=modality.latency_clock)


def retriever_path(retriever, name: str, vector_cache=None) -> QueryPath:
    """The FAQ path: the version's retrieval strategy (`mm_platform.retrieval`), the language
    resolved from the query's script as the service does for a Dify request. The batched quality
    pass may take the queries' vectors from `vector_cache`; the timed path always encodes."""

    def answer(queries: list[dict]) -> list[list[Hit]]:
        texts = [q["query"] for q in queries]
        vectors = vector_cache.vectors(retriever, texts, retriever.strategy.roles) if vector_cache is not None else None
        return retriever.search(texts, k=K, vectors=vectors)

    def answer_one(query: dict) -> list[Hit]:
        return retriever.search([query["query"]], k=K)[0]

    return QueryPath(name=name, answer=answer, answer_one=answer_one,
                     label=lambda hit: hit.row["annotation"], truth=lambda q: q["annotation"],
                     cell=lambda q: q["language"], retriever=retriever)


# --- evaluation ------------------------------------------------------------------------------------

def _outcomes(path: QueryPath, queries: list[dict], hits: list[list[Hit] | Exception]) -> list[dict]:
    out = []
    for q, h in zip(queries, hits):
        error = isinstance(h, Exception)
        labels = [] if error else [path.label(x) for x in h]
        out.append({"key": query_key(q), "cell": path.cell(q), "truth": path.truth(q),
                    "predicted": labels[0] if labels else None, "ranked": labels[:K], "error": error,
                    "hits": [] if error else [{"label": path.label(x), "score": round(float(x.score), 4),
                                               "fused": x.row.get("fused_score")} for x in h[:10]]})
    return out


def _answer_all(path: QueryPath, queries: list[dict]) -> tuple[list, float]:
    """Hits (or the exception) per query from the batched path, and its wall seconds."""
    started = time.perf_counter()
    try:
        hits: list = list(path.answer(queries))
    except Exception:  # noqa: BLE001 - fall back to one by one so one bad query is one error
        hits = []
        for q in queries:
            try:
                hits.append(path.answer_one(q))
            except Exception as exc:  # noqa: BLE001
                hits.append(exc)
    return hits, time.perf_counter() - started


def _figures(outcomes: list[dict]) -> dict:
    truth = [o["truth"] for o in outcomes]
    predicted = [o["predicted"] for o in outcomes]
    ranked = [o["ranked"] for o in outcomes]
    n = len(outcomes)
    top1 = sum(p == t for p, t in zip(predicted, truth))
    r1_lo, r1_hi = wilson_interval(top1, n)
    f1_lo, f1_hi = bootstrap_f1_interval(predicted, truth)
    return {
        "n_queries": n,
        "recall_at_1": round(top1 / n, 4) if n else 0.0,
        "recall_at_1_ci": [round(r1_lo, 4), round(r1_hi, 4)],
        "recall_at_5": round(recall_at_k(ranked, truth, 5), 4),
        "mrr": round(float(np.mean(reciprocal_ranks(ranked, truth))), 4) if n else 0.0,
        "f1_macro": round(f1_macro(predicted, truth), 4),
        "f1_macro_ci": [round(f1_lo, 4), round(f1_hi, 4)],
        "error_rate": round(sum(o["error"] for o in outcomes) / n, 5) if n else 0.0,
    }


def evaluate_paths(candidate: QueryPath, queries: list[dict], *, live: QueryPath | None = None,
                   live_outcomes: dict[str, dict] | None = None, latency_samples: int = DEFAULT_LATENCY_SAMPLES,
                   extra: Callable[[list[dict]], dict[str, dict]] | None = None,
                   progress: Callable[[str, int], None] | None = None,
                   latency_from: dict | None = None) -> tuple[list[dict], list[dict]]:
    """(rows per cell, per-query outcomes) of the candidate on `queries`, with the live version's
    figures on the same queries (answered now, or `live_outcomes` recorded earlier by query key).

    `latency_from` ({"version", "rows": {cell: row}}): a version whose queries cost what the
    candidate's do (same models and strategy, about the same rows); its measured latency is carried
    over instead of timing the same path again, and the rows say so."""
    scored = [q for q in queries if not candidate.unsupported(q)]
    unsupported: dict[str, list[str]] = defaultdict(list)
    for q in queries:
        reason = candidate.unsupported(q)
        if reason:
            unsupported[candidate.cell(q)].append(reason)
    paths = {"candidate": candidate, **({"live": live} if live else {})}
    timings: dict[str, Timings] = {}
    if candidate.expensive:
        # one timed call per query is the quality pass too (a transcription costs a second)
        hits = {name: [] for name in paths}
        timings = {name: Timings() for name in paths}
        with single_thread():
            for i, q in enumerate(scored):
                for name in (list(paths) if i % 2 == 0 else list(paths)[::-1]):
                    hits[name].append(timed(lambda: paths[name].answer_one(q), timings[name], candidate.clock))
        batch_seconds = {name: sum(t.wall) for name, t in timings.items()}
    else:
        hits, batch_seconds = {}, {}
        for name, path in paths.items():
            hits[name], batch_seconds[name] = _answer_all(path, scored)
        if latency_from is None:
            samples = max(latency_samples, len(scored))
            timings = interleaved({name: (lambda i, p=path: p.answer_one(scored[i])) for name, path in paths.items()},
                                  len(scored), samples, clock=candidate.clock)
    outcomes = {name: _outcomes(paths[name], scored, hits[name]) for name in paths}
    if live is None and live_outcomes:
        outcomes["live"] = [live_outcomes[o["key"]] for o in outcomes["candidate"] if o["key"] in live_outcomes]
    cells = sorted({candidate.cell(q) for q in queries})
    extra_figures = extra(scored) if extra else {}
    rows = []
    for cell in cells:
        mine = [o for o in outcomes["candidate"] if o["cell"] == cell]
        reasons = sorted(set(unsupported.get(cell, [])))
        row = {"language": cell, **(_figures(mine) if mine else {"n_queries": 0}),
               "n_unsupported": len(unsupported.get(cell, [])), "unsupported_reason": "; ".join(reasons) or None}
        carried = (latency_from or {}).get("rows", {}).get(cell) if latency_from else None
        if mine and latency_from is not None:
            if carried:
                row.update({k: v for k, v in carried.items() if k.startswith("latency_") or k == "throughput_qps"})
                row["latency_ratio_to_live"] = 1.0
            row["latency_carried_over_from"] = latency_from["version"]
        if mine and latency_from is None:
            cell_idx = [i for i, q in enumerate(scored) if candidate.cell(q) == cell]
            cand_t = timings["candidate"]
            if candidate.expensive:
                cpu = [cand_t.cpu[i] for i in cell_idx]
                wall = [cand_t.wall[i] for i in cell_idx]
            else:  # the cycled samples of this cell's queries
                n = len(scored)
                cpu = [c for j, c in enumerate(cand_t.cpu) if candidate.cell(scored[j % n]) == cell]
                wall = [w for j, w in enumerate(cand_t.wall) if candidate.cell(scored[j % n]) == cell]
            cell_timings = Timings(cpu=cpu, wall=wall)
            row.update(cell_timings.summary())
            seconds = sum(wall) if candidate.expensive else batch_seconds["candidate"] * len(mine) / max(1, len(scored))
            row["throughput_qps"] = round(len(mine) / seconds, 1) if seconds > 0 else 0.0
            if "live" in timings and timings["live"].cpu:
                live_t = timings["live"]
                if candidate.expensive:
                    live_cpu = [live_t.cpu[i] for i in cell_idx]
                else:
                    n = len(scored)
                    live_cpu = [c for j, c in enumerate(live_t.cpu) if candidate.cell(scored[j % n]) == cell]
                live_p95 = float(np.percentile(live_cpu, 95)) if live_cpu else 0.0
                row["live_latency_cpu_p95_ms"] = round(live_p95 * 1000, 3)
                row["latency_ratio_to_live"] = round(float(np.percentile(cpu, 95)) / live_p95, 3) if live_p95 > 0 else None
        live_rows = outcomes.get("live") if mine else None
        if live_rows:
            by_key = {o["key"]: o for o in live_rows}
            pairs = [(o, by_key[o["key"]]) for o in mine if o["key"] in by_key]
            if pairs:
                comparison = paired_comparison([a["predicted"] for a, _ in pairs], [b["predicted"] for _, b in pairs],
                                               [a["truth"] for a, _ in pairs])
                row["paired_vs_live"] = {**comparison.to_dict(),
                                         "live_f1_macro": round(f1_macro([b["predicted"] for _, b in pairs],
                                                                         [b["truth"] for _, b in pairs]), 4)}
        row.update(extra_figures.get(cell, {}))
        rows.append(row)
        if progress:
            progress(cell, len(mine))
    return rows, outcomes["candidate"]


def summarize(rows: list[dict]) -> dict:
    """Query-weighted means across cells (for plots and audit entries)."""
    scored = [r for r in rows if r.get("n_queries")]
    total = sum(r["n_queries"] for r in scored)
    if not total:
        return {"n_queries": 0}
    weights = [r["n_queries"] for r in scored]
    out = {m: round(float(np.average([r[m] for r in scored], weights=weights)), 4)
           for m in ("recall_at_1", "recall_at_5", "mrr", "f1_macro", "error_rate")}
    out["latency_p95_ms"] = max(r.get("latency_p95_ms", 0.0) for r in scored)
    out["latency_cpu_p95_ms"] = max(r.get("latency_cpu_p95_ms", 0.0) for r in scored)
    out["n_queries"] = total
    return out
