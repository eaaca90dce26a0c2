"""The lexical baseline an evaluation set must defeat: character n-gram TF-IDF, top-1 row.

If keyword overlap alone answers an evaluation set, the set measures nothing a user needs; the
demo's held-out queries are kept at or below `MAX_BASELINE_F1` with this baseline (a test checks
every tenant x language), so a platform that passes its gates has to retrieve better than it.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

#: the demo's evaluation sets must keep this baseline at or below this macro F1 in every cell
MAX_BASELINE_F1 = 0.60


def char_ngram_tfidf_predictions(faq_rows: list[dict], queries: list[dict], field: str = "question",
                                 ngram_range: tuple[int, int] = (1, 3)) -> list[str | None]:
    """Annotation of the most similar FAQ row (same language) for every query, by cosine over
    character n-gram TF-IDF of `field` ("question" or "question+answer")."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    def text(row: dict) -> str:
        return row["question"] + " " + row["answer"] if field == "question+answer" else row[field]

    by_language: dict[str, list[dict]] = defaultdict(list)
    for row in faq_rows:
        by_language[row["language"]].append(row)
    predictions: list[str | None] = [None] * len(queries)
    for language, rows in by_language.items():
        idx = [i for i, q in enumerate(queries) if q["language"] == language]
        if not idx:
            continue
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=ngram_range, sublinear_tf=True, lowercase=True)
        matrix = vectorizer.fit_transform([text(r) for r in rows])
        scores = (vectorizer.transform([queries[i]["query"] for i in idx]) @ matrix.T).toarray()
        for i, best in zip(idx, np.argmax(scores, axis=1)):
            predictions[i] = rows[int(best)]["annotation"]
    return predictions


def baseline_f1_by_language(faq_rows: list[dict], queries: list[dict], field: str = "question") -> dict[str, dict]:
    """{language: {"n": queries, "f1_macro": ...}} of the baseline."""
    from mm_platform.evaluation.metrics import f1_macro

    predictions = char_ngram_tfidf_predictions(faq_rows, queries, field)
    out = {}
    for language in sorted({q["language"] for q in queries}):
        idx = [i for i, q in enumerate(queries) if q["language"] == language]
        out[language] = {"n": len(idx), "f1_macro": round(f1_macro([predictions[i] for i in idx],
                                                                    [queries[i]["annotation"] for i in idx]), 4)}
    return out
