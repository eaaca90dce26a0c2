"""The records Dify receives: content, score, title and metadata of a hit."""

from __future__ import annotations

from typing import Any

from mm_platform.serving.limits import HIDDEN_FIELDS
from mm_platform.serving.loading import ServedIndex


def dify_score(inner_product: float) -> float:
    """Inner product of L2-normalised vectors ([-1, 1]) -> Dify's relevance score in [0, 1]."""
    return round(min(1.0, max(0.0, (float(inner_product) + 1.0) / 2.0)), 6)


def served_score(hit: Any, served: ServedIndex) -> float:
    """The relevance score Dify filters on: the calibrated probability that the hit is relevant
    (a version answered by a retrieval strategy), else the cosine mapped to [0, 1]."""
    return round(min(1.0, max(0.0, float(hit.score))), 6) if served.calibrated else dify_score(hit.score)


def record_of(hit: Any, served: ServedIndex, knowledge_id: str) -> dict:
    row = hit.row
    metadata = {k: v for k, v in row.items() if k not in HIDDEN_FIELDS}
    metadata.update(index_version=served.version, modality=served.modality, knowledge_id=knowledge_id)
    score = served_score(hit, served)
    content = row.get("answer") if served.modality == "faq" else None
    title = row.get("question") if served.modality == "faq" else None
    if served.modality == "speech":
        # what an LLM should read is what was said (the transcript, else the script), not the
        # label, which stays in metadata["annotation"]
        content = row.get("transcript") or row.get("text") or ""
        title = row.get("annotation") or row.get("title")
    return {"content": str(content if content is not None else row.get("content", "")),
            "score": score,
            "title": str(title if title is not None else row.get("title", "")),
            "metadata": metadata}
