"""A retrieval strategy: how the scores of a query against a tenant's rows are combined.

Every channel is z-scored over the rows of the query's language (per query), so channels of
different scales add up meaningfully:

- dense: for each encoder of the ensemble (`roles`), the mean cosine over the row texts the
  strategy uses (`texts`: the question, the answer, both together); encoders are averaged;
- lexical: BM25 over question + answer (`mm_platform.retrieval.lexical`), weighted;
- label mean: a share of each row's score comes from the mean over its label's rows, so an intent
  asked about many products is not out-voted by one row that only shares the product;
- pooling: the same intent's labels in the tenant's other languages vote through the
  cross-lingual encoder (the best row of the linked label, z-scored in its language), weighted.

The fused score ranks the rows; a calibration fitted on the evaluation maps it to the probability
that a hit is relevant, which is what the service returns as `score`.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field, replace

import numpy as np

TEXTS = ("q", "a", "qa")


@dataclass(frozen=True)
class Strategy:
    texts: tuple[str, ...] = ("q",)
    roles: tuple[str, ...] = ("text",)
    lexical: float = 0.0
    label_mean: float = 0.0
    pooling: float = 0.0
    #: logistic calibration of the fused score: {"coef": [on score, on score - best], "intercept": b}
    calibration: dict | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        parts = ["+".join(self.texts), "+".join(self.roles)]
        parts += [f"{name}{value:g}" for name, value in (("lex", self.lexical), ("mean", self.label_mean),
                                                          ("pool", self.pooling)) if value]
        return "|".join(parts)

    @property
    def views(self) -> tuple[str, ...]:
        return tuple(f"{t}@{r}" for r in self.roles for t in self.texts)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["texts"], out["roles"] = list(self.texts), list(self.roles)
        out["id"] = self.id
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "Strategy":
        return cls(texts=tuple(data["texts"]), roles=tuple(data["roles"]), lexical=float(data.get("lexical", 0.0)),
                   label_mean=float(data.get("label_mean", 0.0)), pooling=float(data.get("pooling", 0.0)),
                   calibration=data.get("calibration"))

    def with_calibration(self, calibration: dict | None) -> "Strategy":
        return replace(self, calibration=calibration)

    def calibrated(self, fused: np.ndarray, best: float) -> np.ndarray:
        """P(relevant) of hits with fused scores `fused` in a query whose best score is `best`."""
        if not self.calibration:
            return 1.0 / (1.0 + np.exp(-np.asarray(fused)))
        a, b = self.calibration["coef"]
        logit = a * np.asarray(fused) + b * (np.asarray(fused) - best) + self.calibration["intercept"]
        return 1.0 / (1.0 + np.exp(-logit))


def default_strategy(roles: tuple[str, ...] = ("text",)) -> Strategy:
    """The prior: every text of a row, BM25 and cross-lingual pooling, with every encoder the
    version has. It measured best on average over the development tenants (README, quality table);
    a selection departs from it only on evidence (`SelectionSettings.switch_margin`)."""
    return Strategy(texts=TEXTS, roles=tuple(r for r in ("text", "text2") if r in roles) or ("text",),
                    lexical=0.2, pooling=1.0)


DEFAULT_STRATEGY = default_strategy()


def candidates(roles: tuple[str, ...]) -> list[Strategy]:
    """The strategies a selection compares, given the encoder roles the version has."""
    ensembles = [("text",)] + ([tuple(roles)] if len(roles) > 1 else [])
    out = []
    for ens, txt, lex, mean, pool in itertools.product(ensembles, [("q",), TEXTS], (0.0, 0.2), (0.0, 0.5), (0.0, 1.0)):
        out.append(Strategy(texts=txt, roles=ens, lexical=lex, label_mean=mean, pooling=pool))
    return out


def zscore(scores: np.ndarray) -> np.ndarray:
    """Per query (row of the matrix): (x - mean) / std over the candidate rows."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape[1] == 0:
        return scores
    std = scores.std(axis=1, keepdims=True)
    return np.divide(scores - scores.mean(axis=1, keepdims=True), std, out=np.zeros_like(scores), where=std > 1e-9)


@dataclass
class LanguageBlock:
    """Rows of one language in an index version: their id range and label groups."""

    lo: int
    hi: int
    labels: list[str]
    #: per label, the row positions (relative to lo) holding it
    members: list[np.ndarray]
    #: label of each row as a position in `labels`
    row_label: np.ndarray


def language_blocks(rows: list[dict], ranges: dict[str, list[int]]) -> dict[str, LanguageBlock]:
    out = {}
    for language, (lo, hi) in ranges.items():
        labels = sorted({rows[i]["annotation"] for i in range(lo, hi)})
        position = {label: j for j, label in enumerate(labels)}
        row_label = np.array([position[rows[i]["annotation"]] for i in range(lo, hi)], dtype=np.int64)
        members = [np.nonzero(row_label == j)[0] for j in range(len(labels))]
        out[language] = LanguageBlock(lo, hi, labels, members, row_label)
    return out


def _label_max(scores: np.ndarray, block: LanguageBlock) -> np.ndarray:
    return np.stack([scores[:, idx].max(axis=1) for idx in block.members], axis=1)


def _label_mean(scores: np.ndarray, block: LanguageBlock) -> np.ndarray:
    return np.stack([scores[:, idx].mean(axis=1) for idx in block.members], axis=1)


def fuse(strategy: Strategy, dense: dict[str, np.ndarray], lexical: np.ndarray | None, language: str,
         blocks: dict[str, LanguageBlock], links: dict) -> np.ndarray:
    """Fused scores of queries in `language` over that language's rows (queries x rows of the block).

    `dense[view]` holds cosines over all rows of the version (queries x rows); `lexical` the BM25
    scores over the block's rows (queries x block rows) or None."""
    own = blocks[language]

    def dense_z(block: LanguageBlock) -> np.ndarray:
        per_role = []
        for role in strategy.roles:
            mean_cos = np.mean([dense[f"{t}@{role}"][:, block.lo:block.hi] for t in strategy.texts], axis=0)
            per_role.append(zscore(mean_cos))
        return np.mean(per_role, axis=0)

    scores = dense_z(own)
    if strategy.lexical and lexical is not None:
        scores = scores + strategy.lexical * zscore(lexical)
    if strategy.label_mean:
        scores = (1 - strategy.label_mean) * scores + strategy.label_mean * _label_mean(scores, own)[:, own.row_label]
    if strategy.pooling and len(blocks) > 1:
        votes = np.zeros((scores.shape[0], len(own.labels)))
        others = [lang for lang in blocks if lang != language]
        for other in others:
            block = blocks[other]
            label_scores = _label_max(dense_z(block), block)
            floor = label_scores.min(axis=1)
            position = {label: j for j, label in enumerate(block.labels)}
            for j, label in enumerate(own.labels):
                linked = links.get((language, label), {}).get(other)
                votes[:, j] += label_scores[:, position[linked]] if linked in position else floor
        scores = scores + strategy.pooling * (votes / len(others))[:, own.row_label]
    return scores


def strategy_json(strategy: Strategy) -> str:
    return json.dumps(strategy.to_dict(), sort_keys=True, ensure_ascii=False)
