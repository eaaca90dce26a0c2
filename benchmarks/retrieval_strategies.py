"""Retrieval strategies side by side, per tenant x language, with the platform's own selection.

For each tenant (the demo tenants of a profile, and/or tenant folders given with --tenant-dir),
builds the FAQ index version the pipeline builds (every view, both encoders of the ensemble),
then on the same queries reports:

- the lexical baseline (character n-gram TF-IDF, top-1 row; question and question + answer),
- each single strategy (question vector alone, question + answer, + BM25, + cross-lingual pooling,
  the two-encoder ensemble...), on the report folds,
- the strategy the platform chooses on fold 0 and its figures on the report folds (the figures the
  gates read), with the 95 % interval,

and writes it all to benchmarks/results/retrieval_strategies.json. Nothing here is a test.

    python benchmarks/retrieval_strategies.py                       # demo small profile
    python benchmarks/retrieval_strategies.py --tenant-dir tests/data/unseen/telecom --no-demo
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mm_platform import settings  # noqa: E402

settings.configure_offline()

from mm_platform.atomic import atomic_write_json  # noqa: E402
from mm_platform.evaluation.metrics import f1_macro  # noqa: E402
from mm_platform.evaluation.stats import bootstrap_f1_interval  # noqa: E402
from mm_platform.retrieval.baseline import baseline_f1_by_language  # noqa: E402
from mm_platform.retrieval.strategy import Strategy  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "retrieval_strategies.json"

SINGLE = {
    "question vector (the old default)": Strategy(texts=("q",)),
    "question + answer vectors": Strategy(texts=("q", "a", "qa")),
    "q+a + BM25": Strategy(texts=("q", "a", "qa"), lexical=0.2),
    "q+a + cross-lingual pooling": Strategy(texts=("q", "a", "qa"), pooling=1.0),
    "q+a + BM25 + pooling": Strategy(texts=("q", "a", "qa"), lexical=0.2, pooling=1.0),
    "q+a + BM25 + pooling + label mean": Strategy(texts=("q", "a", "qa"), lexical=0.2, pooling=1.0, label_mean=0.5),
    "ensemble USE + e5: question vector": Strategy(texts=("q",), roles=("text", "text2")),
    "ensemble USE + e5: q+a + pooling": Strategy(texts=("q", "a", "qa"), roles=("text", "text2"), pooling=1.0),
    "ensemble USE + e5: q+a + BM25 + pooling": Strategy(texts=("q", "a", "qa"), roles=("text", "text2"),
                                                        lexical=0.2, pooling=1.0),
}


def build(layout, tenant: str):
    from mm_platform import pipeline
    from mm_platform.encoders.models import ModelSet
    from mm_platform.indexing.versions import IndexHandle
    from mm_platform.modalities.faq import FaqModality

    modality = FaqModality()
    dataset = pipeline.validate(layout, tenant, modality)
    embeddings = pipeline.embed(layout, tenant, modality, dataset, ModelSet())
    ref = pipeline.build_index(layout, tenant, modality, dataset, embeddings)
    handle = IndexHandle(Path(ref["path"]))
    return handle, pipeline.version_models(handle), pipeline.load_queries(dataset["path"]), pipeline.rows_of(dataset)


def cell_figures(predicted: list, queries: list[dict]) -> dict:
    out = {}
    for language in sorted({q["language"] for q in queries}):
        idx = [i for i, q in enumerate(queries) if q["language"] == language]
        p, t = [predicted[i] for i in idx], [queries[i]["annotation"] for i in idx]
        lo, hi = bootstrap_f1_interval(p, t)
        out[language] = {"n": len(idx), "f1_macro": round(f1_macro(p, t), 4), "f1_ci": [round(lo, 4), round(hi, 4)]}
    return out


def measure_tenant(layout, tenant: str, folds: int) -> dict:
    from mm_platform.retrieval.retriever import Retriever
    from mm_platform.retrieval.selection import SelectionSettings, choose

    started = time.perf_counter()
    handle, models, queries, rows = build(layout, tenant)
    build_s = time.perf_counter() - started
    retriever = Retriever(handle, models)
    selection = choose(retriever, queries, SelectionSettings(folds=folds))
    report = selection.report_queries
    faq_rows = [r for r in rows]
    out = {"tenant": tenant, "rows": len(rows), "queries": len(queries), "report_queries": len(report),
           "choice_queries": len(selection.choice_queries), "build_seconds": round(build_s, 1),
           "encoder_cpu_ms": selection.encoder_cost_ms, "selection_note": selection.note,
           "lexical_baseline": {"question": baseline_f1_by_language(faq_rows, report),
                                "question+answer": baseline_f1_by_language(faq_rows, report, "question+answer")},
           "strategies": {}}
    available = retriever.available_views()
    texts = [q["query"] for q in report]
    languages = [retriever.resolve_language(t, None) or q["language"] for t, q in zip(texts, report)]
    usable = {name: s for name, s in SINGLE.items() if set(s.views) <= available}
    channels = retriever.channels(texts, languages, [*usable.values(), selection.strategy])
    for name, strategy in [*usable.items(), ("live: " + selection.strategy.id, selection.strategy)]:
        predicted = [handle.rows[int(ids[scores.argmax()])]["annotation"] if len(ids) else None
                     for ids, scores in retriever.fused(channels, strategy)]
        out["strategies"][name] = cell_figures(predicted, report)
    out["live_strategy"] = selection.strategy.to_dict()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="small", choices=("small", "seed"))
    parser.add_argument("--tenant-dir", action="append", type=Path, default=[], help="an extra tenant folder")
    parser.add_argument("--no-demo", action="store_true", help="only the --tenant-dir tenants")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    from mm_platform.demo.faq import TENANTS, write_faq_demo
    from mm_platform.inputs.tenancy import Layout

    results = {"machine": platform.platform(), "profile": args.profile, "tenants": []}
    with tempfile.TemporaryDirectory(prefix="mm-strategies-") as tmp:
        layout = Layout(Path(tmp) / "data", Path(tmp) / "storage")
        tenants = []
        if not args.no_demo:
            write_faq_demo(layout.data_dir, profile=args.profile)
            tenants += list(TENANTS)
        for folder in args.tenant_dir:
            target = layout.data_dir / folder.name
            target.mkdir(parents=True)
            for name in ("faq.json", "eval_queries.json"):
                (target / name).write_bytes((folder / name).read_bytes())
            tenants.append(folder.name)
        for tenant in tenants:
            figures = measure_tenant(layout, tenant, args.folds)
            results["tenants"].append(figures)
            live = next(k for k in figures["strategies"] if k.startswith("live: "))
            print(f"\n{tenant}: {figures['rows']} rows, {figures['report_queries']} report queries "
                  f"({figures['selection_note']})")
            print(f"  {'':<46}" + "".join(f"{lang:>8}" for lang in sorted(figures["strategies"][live])))
            base = figures["lexical_baseline"]["question"]
            print(f"  {'lexical baseline (char n-gram TF-IDF)':<46}" + "".join(f"{base[lang]['f1_macro']:>8.3f}" for lang in sorted(base)))
            for name, cells in figures["strategies"].items():
                print(f"  {name[:46]:<46}" + "".join(f"{cells[lang]['f1_macro']:>8.3f}" for lang in sorted(cells)))
    atomic_write_json(args.out, results)
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
