"""FAQ (text) modality: `faq.json` / `faq.jsonl` and text queries of `eval_queries.json`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mm_platform.encoders.models import ModelSet
from mm_platform.inputs.validation import RowError, content_hash, language_field, text_field
from mm_platform.modalities.base import Modality, ParsedInput

FAQ_FILES = ("faq.json", "faq.jsonl")


class FaqModality(Modality):
    """Question/answer pairs in zh, en and ja; the question is embedded with the text encoder."""

    name = "faq"
    input_files = FAQ_FILES
    query_field = "query"
    roles = ("text",)
    claims_unmatched = True
    strategies = True
    row_texts = {
        "q": lambda row: row["question"],
        "a": lambda row: row["answer"],
        "qa": lambda row: row["question"] + "\n" + row["answer"],
    }

    def parse_row(self, obj: dict, tenant_dir: Path) -> dict:
        question = text_field(obj, "question")
        answer = text_field(obj, "answer")
        language = language_field(obj)
        annotation = text_field(obj, "annotation")
        row_id = text_field(obj, "id", required=False)
        if "id" in obj and obj["id"] is not None and row_id is None:
            raise RowError("id", "empty value")
        intent = text_field(obj, "intent", required=False)
        return {
            "id": row_id or "faq-" + content_hash(language, question, answer, annotation)[:16],
            "question": question,
            "answer": answer,
            "language": language,
            "annotation": annotation,
            "entity": text_field(obj, "entity", required=False) or "",
            # optional language-independent intent key: links this label to the same intent's
            # labels in the other languages (otherwise the encoder aligns them)
            "intent": intent or "",
            "title": question,
            "content": answer,
            # The embedded text is the question; its hash keys the embedding cache.
            "content_hash": content_hash(language, question),
        }

    def parse_query(self, obj: dict, tenant_dir: Path) -> dict:
        return {"query": text_field(obj, "query")}

    def encode_rows(self, rows: list[dict], models: ModelSet, tenant_dir: Path) -> np.ndarray:
        return models.text.encode([r["question"] for r in rows])

    def encode_queries(self, queries: list[dict], models: ModelSet, tenant_dir: Path) -> np.ndarray:
        return models.text.encode_queries([q["query"] for q in queries])


_FAQ = FaqModality()


def parse_faq(tenant_dir: Path, tenant: str) -> ParsedInput:
    return _FAQ.parse(tenant_dir, tenant)


def parse_eval_queries(tenant_dir: Path) -> ParsedInput:
    return _FAQ.parse_queries(tenant_dir, "")
