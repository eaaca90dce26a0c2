"""Choosing a tenant's retrieval strategy by measurement, on queries that never report.

The evaluation queries are split into `folds` by a hash of each query (the same query lands in
the same fold in every run). Fold 0 chooses: every candidate strategy is scored on it (macro F1,
mean over the languages). The default strategy (the prior, `strategy.default_strategy`) stays
unless a candidate beats it by `switch_margin`: with a few dozen choice queries most differences
are noise, and a winner picked from many candidates on noise is worse than the prior on new
queries. A strategy whose encoders cost more CPU per query than the tenant's budget is not a
candidate. The calibration of the chosen strategy is fitted on the same fold. The other folds report: their figures are
the ones the gates read, so the number that gates is never the number that chose. With too few
queries to spare a fold, the default strategy is evaluated on all of them instead.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from mm_platform.evaluation.metrics import f1_macro
from mm_platform.evaluation.stats import fold_of
from mm_platform.evaluation.timing import cpu_cost_ms
from mm_platform.retrieval.strategy import Strategy, candidates, default_strategy

PROBE_QUERIES = ("How long does delivery take?", "退货需要多久到账？", "支払い方法を教えてください。")


@dataclass(frozen=True)
class SelectionSettings:
    folds: int = 3
    #: per-query CPU budget of the encoders a strategy uses (ms, measured on one thread)
    max_query_cpu_ms: float = 50.0
    #: choice-fold F1 a candidate must gain over the default strategy to replace it
    switch_margin: float = 0.03
    #: fewer report-fold queries per language than this and no fold is spared for choosing
    min_report_n: int = 30

    def to_dict(self) -> dict:
        return {"folds": self.folds, "max_query_cpu_ms": self.max_query_cpu_ms, "switch_margin": self.switch_margin,
                "min_report_n": self.min_report_n}


@dataclass
class Selection:
    strategy: Strategy
    choice_queries: list[dict]
    report_queries: list[dict]
    table: list[dict] = field(default_factory=list)
    encoder_cost_ms: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict:
        return {"chosen": self.strategy.id, "n_choice": len(self.choice_queries), "n_report": len(self.report_queries),
                "encoder_cpu_ms": self.encoder_cost_ms, "candidates": self.table, "note": self.note}


def encoder_costs(retriever, roles: tuple[str, ...]) -> dict[str, float]:
    """Median CPU ms of encoding one query, per encoder role (one thread)."""
    out = {}
    for role in roles:
        encoder = retriever.models.get(role)
        out[role] = cpu_cost_ms(lambda i, e=encoder: e.encode_queries([PROBE_QUERIES[i % len(PROBE_QUERIES)]]))
    return out


def _macro_by_language(predicted: list, truth: list, languages: list[str]) -> float:
    scores = []
    for language in sorted(set(languages)):
        idx = [i for i, lang in enumerate(languages) if lang == language]
        scores.append(f1_macro([predicted[i] for i in idx], [truth[i] for i in idx]))
    return float(np.mean(scores)) if scores else 0.0


def fit_calibration(retriever, strategy: Strategy, queries: list[dict], depth: int = 10,
                    vector_cache=None) -> dict | None:
    """Logistic regression (scikit-learn) of "this hit has the query's label" on the fused score
    and its gap to the query's best, over the top `depth` hits of `queries`."""
    from sklearn.linear_model import LogisticRegression

    texts = [q["query"] for q in queries]
    vectors = vector_cache.vectors(retriever, texts, strategy.roles) if vector_cache is not None else None
    channels = retriever.channels(texts, [q["language"] for q in queries], [strategy], vectors=vectors)
    features, labels = [], []
    for q, (ids, scores) in zip(queries, retriever.fused(channels, strategy)):
        if not len(ids):
            continue
        top = np.argsort(-scores, kind="stable")[:depth]
        best = float(scores[top[0]])
        for t in top:
            features.append([float(scores[t]), float(scores[t]) - best])
            labels.append(int(retriever.handle.rows[int(ids[t])]["annotation"] == q["annotation"]))
    if len(set(labels)) < 2:
        return None
    features, labels = np.asarray(features), np.asarray(labels)
    model = LogisticRegression(C=1.0).fit(features, labels)
    coef, method = [float(c) for c in model.coef_[0]], "logistic regression on (fused score, gap to best)"
    if coef[0] + coef[1] <= 0 or coef[0] < 0:
        # the probability must rise with the score within a query (hits stay in rank order, and a
        # threshold cuts a ranking's tail); a fit that says otherwise falls back to the score alone
        model = LogisticRegression(C=1.0).fit(features[:, :1], labels)
        coef, method = [max(float(model.coef_[0][0]), 1e-3), 0.0], "logistic regression on the fused score"
    return {"coef": [round(c, 5) for c in coef], "intercept": round(float(model.intercept_[0]), 5),
            "fitted_on": int(len(labels)), "relevant": int(labels.sum()), "method": method}


def choose(retriever, queries: list[dict], settings: SelectionSettings = SelectionSettings(),
           vector_cache=None) -> Selection:
    """Pick the strategy for `retriever`'s version on fold 0 of `queries` (see the module doc)."""
    by_language = defaultdict(int)
    report_count = defaultdict(int)
    for q in queries:
        by_language[q["language"]] += 1
        report_count[q["language"]] += fold_of(q, settings.folds) != 0
    roles = retriever.available_roles
    costs = encoder_costs(retriever, roles)
    affordable = [s for s in candidates(roles) if sum(costs[r] for r in s.roles) <= settings.max_query_cpu_ms]
    affordable_roles = tuple(sorted({r for s in affordable for r in s.roles}, key=lambda r: (r != "text", r)))
    excluded = sorted(set(roles) - set(affordable_roles))
    prior = default_strategy(affordable_roles)
    if not queries or min(report_count.values()) < settings.min_report_n:
        # the calibration needs labelled hits: fitted on the same queries, it never changes a ranking
        strategy = prior.with_calibration(fit_calibration(retriever, prior, queries, vector_cache=vector_cache))
        return Selection(strategy, [], list(queries), encoder_cost_ms=costs,
                         note=f"too few queries to spare a fold for choosing (report folds would hold "
                              f"{dict(report_count)} < {settings.min_report_n} per language): the default "
                              f"strategy {prior.id} is evaluated on all {len(queries)}")
    choice = [q for q in queries if fold_of(q, settings.folds) == 0]
    report = [q for q in queries if fold_of(q, settings.folds) != 0]
    if prior not in affordable:
        affordable.append(prior)
    texts = [q["query"] for q in choice]
    languages = [retriever.resolve_language(t, None) or q["language"] for t, q in zip(texts, choice)]
    roles_needed = tuple(sorted({r for s in affordable for r in s.roles}))
    vectors = vector_cache.vectors(retriever, texts, roles_needed) if vector_cache is not None else None
    channels = retriever.channels(texts, languages, affordable, vectors=vectors)
    truth = [q["annotation"] for q in choice]
    declared = [q["language"] for q in choice]
    table = []
    for strategy in affordable:
        predicted = []
        for (ids, scores) in retriever.fused(channels, strategy):
            predicted.append(retriever.handle.rows[int(ids[int(np.argmax(scores))])]["annotation"] if len(ids) else None)
        table.append({"strategy": strategy.id, "encoders": len(strategy.roles),
                      "cost_ms": round(sum(costs[r] for r in strategy.roles), 3),
                      "choice_f1": round(_macro_by_language(predicted, truth, declared), 4), "_s": strategy})
    top = max(table, key=lambda r: (r["choice_f1"], -_complexity(r["_s"]), -r["encoders"]))
    base = next(r for r in table if r["_s"] == prior)
    best = top if top["choice_f1"] >= base["choice_f1"] + settings.switch_margin else base
    strategy = best["_s"].with_calibration(fit_calibration(retriever, best["_s"], choice, vector_cache=vector_cache))
    for row in table:
        row["default"] = row["_s"] == prior
        row.pop("_s")
    table.sort(key=lambda r: -r["choice_f1"])
    note = (f"{'kept the default' if best is base else 'replaced the default'} {prior.id} "
            f"({base['choice_f1']:.3f} on {len(choice)} fold-0 queries; best candidate {top['strategy']} "
            f"{top['choice_f1']:.3f}, switch margin {settings.switch_margin})")
    if excluded:
        note += f"; {', '.join(excluded)} over the {settings.max_query_cpu_ms:g} ms query budget " \
                f"({', '.join(f'{r} {costs[r]:.1f} ms' for r in excluded)})"
    return Selection(strategy, choice, report, table=table, encoder_cost_ms=costs, note=note)


def _complexity(strategy: Strategy) -> int:
    """Fewer moving parts first when two strategies tie."""
    return len(strategy.texts) + sum(1 for v in (strategy.lexical, strategy.label_mean, strategy.pooling) if v)
