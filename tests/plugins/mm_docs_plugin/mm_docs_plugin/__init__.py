"""Plain-text documents (`documents.json` lists UTF-8 .txt files) as a knowledge modality."""

from pathlib import Path

import numpy as np

from mm_platform.encoders.models import ModelSet
from mm_platform.inputs.validation import RowError, content_hash, language_field, text_field
from mm_platform.modalities.base import Modality, media_path


class DocumentModality(Modality):
    name = "docs"
    input_files = ("documents.json",)
    query_field = "doc_query"
    roles = ("text",)

    def parse_row(self, obj: dict, tenant_dir: Path) -> dict:
        path = media_path(obj, "path", tenant_dir)
        language = language_field(obj)
        annotation = text_field(obj, "annotation")
        try:
            text = path.read_text("utf-8").strip()
        except UnicodeDecodeError:
            raise RowError("path", "document is not UTF-8 text") from None
        if not text:
            raise RowError("path", "document has no text")
        return {"path": obj["path"], "language": language, "annotation": annotation,
                "title": text.splitlines()[0][:80], "content": text, "content_hash": content_hash(language, text)}

    def parse_query(self, obj: dict, tenant_dir: Path) -> dict:
        return {"doc_query": text_field(obj, "doc_query")}

    def encode_rows(self, rows: list[dict], models: ModelSet, tenant_dir: Path) -> np.ndarray:
        return models.text.encode([r["content"] for r in rows])

    def encode_queries(self, queries: list[dict], models: ModelSet, tenant_dir: Path) -> np.ndarray:
        return models.text.encode([q["doc_query"] for q in queries])
