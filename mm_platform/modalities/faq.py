"""FAQ (text) modality: `faq.json` / `faq.jsonl` and `eval_queries.json` of a tenant."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..validation import (
    InputFileError,
    QuarantineRecord,
    RowError,
    content_hash,
    language_field,
    load_records,
    require_object,
    text_field,
)

FAQ_FILES = ("faq.json", "faq.jsonl")
EVAL_FILES = ("eval_queries.json", "eval_queries.jsonl")


@dataclass
class ParsedInput:
    """Good rows plus a quarantine record for every rejected row."""

    rows: list[dict] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)


def _find(tenant_dir: Path, names: tuple[str, ...]) -> Path | None:
    present = [tenant_dir / n for n in names if (tenant_dir / n).is_file()]
    if len(present) > 1:
        raise InputFileError(present[1], f"both {present[0].name} and {present[1].name} exist; keep one")
    return present[0] if present else None


def parse_faq(tenant_dir: Path, tenant: str) -> ParsedInput:
    """Validate a tenant's FAQ file. Raises InputFileError when the file is absent or unparseable."""
    path = _find(tenant_dir, FAQ_FILES)
    if path is None:
        raise InputFileError(tenant_dir / FAQ_FILES[0], "file not found")
    out = ParsedInput()
    first_seen: dict[str, int] = {}
    for row_no, record in load_records(path):
        try:
            obj = require_object(record)
            question = text_field(obj, "question")
            answer = text_field(obj, "answer")
            language = language_field(obj)
            annotation = text_field(obj, "annotation")
            row_id = text_field(obj, "id", required=False)
            if "id" in obj and obj["id"] is not None and row_id is None:
                raise RowError("id", "empty value")
            row_id = row_id or "faq-" + content_hash(language, question, answer, annotation)[:16]
            if row_id in first_seen:
                raise RowError("id", f"duplicate id {row_id!r} (first seen at row {first_seen[row_id]})")
            first_seen[row_id] = row_no
        except RowError as err:
            out.quarantine.append(QuarantineRecord(path.name, row_no, err.field, err.reason))
            continue
        out.rows.append(
            {
                "id": row_id,
                "question": question,
                "answer": answer,
                "language": language,
                "annotation": annotation,
                "entity": (obj.get("entity") if isinstance(obj.get("entity"), str) else "") or "",
                "tenant": tenant,
                "source_file": path.name,
                "source_row": row_no,
                # The embedded text is the question; its hash keys the embedding cache.
                "content_hash": content_hash(language, question),
            }
        )
    return out


def parse_eval_queries(tenant_dir: Path) -> ParsedInput:
    """Validate held-out evaluation queries (optional file: absent means no rows)."""
    path = _find(tenant_dir, EVAL_FILES)
    out = ParsedInput()
    if path is None:
        return out
    for row_no, record in load_records(path):
        try:
            obj = require_object(record)
            query = text_field(obj, "query")
            language = language_field(obj)
            annotation = text_field(obj, "annotation")
        except RowError as err:
            out.quarantine.append(QuarantineRecord(path.name, row_no, err.field, err.reason))
            continue
        out.rows.append({"query": query, "language": language, "annotation": annotation, "source_row": row_no})
    return out
