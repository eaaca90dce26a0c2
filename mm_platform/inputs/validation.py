"""Row-level input validation shared by every modality: bad rows are quarantined, never dropped."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

LANGUAGES = ("zh", "en", "ja")


@dataclass(frozen=True)
class QuarantineRecord:
    """One rejected input row: which file, which row (1-based), which field, and why."""

    file: str
    row: int | None
    field: str | None
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        where = self.file + (f" row {self.row}" if self.row is not None else "")
        return f"{where}" + (f" field '{self.field}'" if self.field else "") + f": {self.reason}"


class InputFileError(Exception):
    """A whole input file cannot be read: the tenant's asset fails, nothing live changes."""

    def __init__(self, file: Path | str, reason: str):
        self.file = str(file)
        self.reason = reason
        super().__init__(f"{file}: {reason}")


class RowError(Exception):
    """Raised inside row parsing to turn into a quarantine record."""

    def __init__(self, field: str | None, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(reason)


def load_records(path: Path) -> list[tuple[int, Any]]:
    """Read a `.json` list or a `.jsonl` file into (1-based row, raw record) pairs.

    Text is decoded with `surrogateescape`, so bytes that are not UTF-8 survive as lone
    surrogates and are reported per row and field instead of failing the whole file.
    A `.jsonl` line that is not valid JSON is one bad row; a `.json` file that is not a
    JSON list is a whole-file error.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputFileError(path, f"cannot be read ({exc.strerror or exc})") from exc
    text = raw.decode("utf-8", errors="surrogateescape").lstrip("\ufeff")
    if path.suffix == ".jsonl":
        out: list[tuple[int, Any]] = []
        for lineno, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                out.append((lineno, json.loads(line)))
            except json.JSONDecodeError as exc:
                out.append((lineno, _MalformedLine(f"malformed JSON: {exc.msg} at column {exc.colno}")))
            except RecursionError:
                out.append((lineno, _MalformedLine("JSON nested too deeply")))
        return out
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(path, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError:
        raise InputFileError(path, "JSON nested too deeply to be a list of rows") from None
    if not isinstance(data, list):
        raise InputFileError(path, f"expected a JSON list of objects, got {type(data).__name__}")
    return list(enumerate(data, start=1))


@dataclass(frozen=True)
class _MalformedLine:
    reason: str


def require_object(record: Any) -> dict:
    if isinstance(record, _MalformedLine):
        raise RowError(None, record.reason)
    if not isinstance(record, dict):
        raise RowError(None, f"row is not a JSON object (got {type(record).__name__})")
    return record


def text_field(record: dict, field: str, *, required: bool = True) -> str | None:
    """A non-empty UTF-8 string field, stripped; raises RowError naming the field."""
    if field not in record or record[field] is None:
        if required:
            raise RowError(field, "missing field")
        return None
    value = record[field]
    if not isinstance(value, str):
        raise RowError(field, f"wrong type: expected string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RowError(field, "text is not valid UTF-8") from None
    value = value.strip()
    if not value:
        if required:
            raise RowError(field, "empty value")
        return None
    return value


def check_text_values(row: dict) -> None:
    """Every string of a parsed row must be valid UTF-8: bytes that were not (kept as lone
    surrogates by `surrogateescape`) or a lone surrogate escape (`"\\ud800"`) would fail later,
    when the row is hashed or written, and take the whole file with them."""
    for name, value in row.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise RowError(name, f"text is not valid UTF-8 (undecodable byte or lone surrogate at character "
                                     f"{exc.start})") from None


def language_field(record: dict, field: str = "language", allowed: Iterable[str] = LANGUAGES) -> str:
    value = text_field(record, field)
    allowed = tuple(allowed)
    if value not in allowed:
        raise RowError(field, f"unknown language {value!r} (expected one of {', '.join(allowed)})")
    return value


def content_hash(*parts: str) -> str:
    """Stable hash of text parts (unit separator between them)."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def quarantine_rate(n_good: int, n_bad: int) -> float:
    total = n_good + n_bad
    return n_bad / total if total else 0.0
