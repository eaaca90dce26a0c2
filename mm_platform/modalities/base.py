"""The small interface every modality plugin implements.

A modality turns a tenant's input files into index rows (`parse`), turns evaluation queries of
its kind into query rows (`parse_queries`), and turns both into vectors with the models of the
roles it declares (`encode_rows`, `encode_queries`). The platform does everything else the same
way for every modality: quarantine, datasets, content-hash caching, immutable index versions,
evaluation, gates, the live pointer, and the Dagster assets and checks.

Register a modality under the entry-point group `mm_platform.modalities`:

    [project.entry-points."mm_platform.modalities"]
    my_modality = "my_package.module:MyModality"
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import numpy as np

from mm_platform.encoders.models import ModelSet
from mm_platform.inputs.tenancy import TenantError, confine
from mm_platform.inputs.validation import (
    InputFileError,
    QuarantineRecord,
    RowError,
    check_text_values,
    language_field,
    load_records,
    require_object,
    text_field,
)

EVAL_FILES = ("eval_queries.json", "eval_queries.jsonl")
#: evaluation rows with this key are joint requests (mm_platform.retrieval.joint), no single modality's
JOINT_KEY = "joint"


@dataclass(frozen=True)
class View:
    """An extra vector per row: one text of the row (an FAQ answer...) embedded by one model role.
    Retrieval strategies combine the scores of a modality's views (`mm_platform.retrieval`)."""

    name: str
    role: str
    text: Callable[[dict], str]


@dataclass
class ParsedInput:
    """Good rows plus a quarantine record for every rejected row."""

    rows: list[dict] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    #: records answered from the parse cache (unchanged since the last run)
    reused: int = 0


class Modality(ABC):
    """One kind of tenant content (FAQ text, product images, speech, video...)."""

    #: asset key prefix and index folder name; lower-case identifier
    name: str
    #: files in the tenant folder this modality reads (the first present one is used)
    input_files: tuple[str, ...]
    #: the key that marks an evaluation query as this modality's (e.g. "query", "image_path")
    query_field: str
    #: model roles used to embed rows and queries ("text", "image", "asr")
    roles: tuple[str, ...]
    #: whether the embedding step wants a GPU in production
    gpu: bool = False
    #: gate defaults of this modality (platform config and tenant.yaml still override)
    default_gates: dict = {}
    #: measure throughput on the batched path (False: the sequential per-query path)
    batched_throughput: bool = True
    #: claim evaluation queries that carry no modality's query field (the text modality does,
    #: so such rows are quarantined with a clear reason instead of being skipped silently)
    claims_unmatched: bool = False
    #: CPU clock that times one query: "thread" (the default: pools held to the calling thread) or
    #: "process" for models that compute on threads of their own (mm_platform.evaluation.timing)
    latency_clock: str = "thread"
    #: answered by an evaluated retrieval strategy (`mm_platform.retrieval`) rather than plain search
    strategies: bool = False
    #: queries have no language (a photo, a clip): search every language's rows and score on the
    #: item shown (`item_key`), one evaluation cell per tenant
    language_free_queries: bool = False

    def item_key(self, row: dict) -> str:
        """What a row shows, for language-free queries (rows of one item in several languages)."""
        return row["id"]

    # --- input -------------------------------------------------------------------------------

    def input_path(self, tenant_dir: Path) -> Path | None:
        present = [confined_input(Path(tenant_dir) / n, tenant_dir) for n in self.input_files
                   if (Path(tenant_dir) / n).is_file() or (Path(tenant_dir) / n).is_symlink()]
        if len(present) > 1:
            raise InputFileError(present[1], f"both {present[0].name} and {present[1].name} exist; keep one")
        return present[0] if present else None

    def present(self, tenant_dir: Path) -> bool:
        return self.input_path(tenant_dir) is not None

    def parse(self, tenant_dir: Path, tenant: str, cache: dict | None = None) -> ParsedInput:
        """Validate the modality's input file into rows; raises InputFileError for a whole-file problem.

        `cache` maps a record's key (`record_key`) to what parsing it gave last time; a record seen
        before with the same content (and the same media files) is not parsed again, and `cache` is
        left holding exactly this file's records."""
        path = self.input_path(tenant_dir)
        if path is None:
            raise InputFileError(Path(tenant_dir) / self.input_files[0], "file not found")
        out = ParsedInput()
        seen: dict[str, int] = {}
        previous, fresh = (cache or {}), {}
        for row_no, record in self.read_records(path):
            key = self.record_key(record, Path(tenant_dir)) if cache is not None else None
            try:
                hit = previous.get(key) if key else None
                if hit is not None:
                    out.reused += 1
                    if hit[0] == "error":
                        raise RowError(hit[1], hit[2])
                    row = dict(hit[1])
                else:
                    try:
                        try:
                            row = self.parse_row(require_object(record), Path(tenant_dir))
                        except RecursionError:
                            raise RowError(None, "row nested too deeply") from None
                        check_text_values(row)
                    except RowError as err:
                        if key:
                            fresh[key] = ("error", err.field, err.reason)
                        raise
                if key:
                    fresh[key] = ("row", row)
                row_id = row.get("id") or f"{self.name}-" + hashlib.sha256(
                    repr(sorted((k, str(v)) for k, v in row.items())).encode()).hexdigest()[:16]
                if row_id in seen:
                    raise RowError("id", f"duplicate id {row_id!r} (first seen at row {seen[row_id]})")
                seen[row_id] = row_no
            except RowError as err:
                out.quarantine.append(QuarantineRecord(path.name, row_no, err.field, err.reason))
                continue
            for unit in self.expand({**row, "id": row_id, "tenant": tenant, "source_file": path.name,
                                     "source_row": row_no}):
                out.rows.append(unit)
        if cache is not None:
            cache.clear()
            cache.update(fresh)
        return out

    def record_key(self, record: Any, tenant_dir: Path) -> str | None:
        """What a record's parse depends on: its content and, for every media path it names, that
        file's size and modification time (None: never cached)."""
        if isinstance(record, dict) and type(record) is not dict:
            return None  # a reader's marker for a bad line (its content is not the record's)
        try:
            digest = hashlib.sha256(json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass"))
        except (TypeError, ValueError, RecursionError):
            return None
        if isinstance(record, dict):
            for name, value in sorted(record.items()):
                if name.endswith("_path") and isinstance(value, str):
                    try:
                        stat = (Path(tenant_dir) / value).stat()
                    except (OSError, ValueError):
                        return None  # missing or odd: parse it again, it will say why
                    digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
        return digest.hexdigest()

    def expand(self, row: dict) -> list[dict]:
        """Index rows of one input row (a video becomes one row per keyframe); default: itself."""
        return [row]

    def read_records(self, path: Path) -> list[tuple[int, Any]]:
        return load_records(path)

    @abstractmethod
    def parse_row(self, obj: dict, tenant_dir: Path) -> dict:
        """One validated row: at least `language`, `annotation`, `content_hash` (of what gets
        embedded) and `title`/`content` (what a search hit shows). Raise RowError otherwise."""

    def parse_queries(self, tenant_dir: Path, tenant: str, known_fields: tuple[str, ...] = ()) -> ParsedInput:
        """This modality's evaluation queries from eval_queries.json (absent file: none).

        `known_fields` are the query fields of every registered modality."""
        present = [confined_input(Path(tenant_dir) / n, tenant_dir) for n in EVAL_FILES
                   if (Path(tenant_dir) / n).is_file() or (Path(tenant_dir) / n).is_symlink()]
        out = ParsedInput()
        if not present:
            return out
        path = present[0]
        for row_no, record in load_records(path):
            if isinstance(record, dict):
                if JOINT_KEY in record:
                    continue  # validated and reported by the joint evaluation
                unmatched = not any(f in record for f in (*known_fields, self.query_field))
                if self.query_field not in record and not (self.claims_unmatched and unmatched):
                    continue  # another modality's query
            elif not self.claims_unmatched:
                continue  # a row that is not an object is reported once, by the claiming modality
            try:
                obj = require_object(record)
                query = {"language": language_field(obj), "annotation": text_field(obj, "annotation"),
                         **self.parse_query(obj, Path(tenant_dir))}
                check_text_values(query)
            except RowError as err:
                out.quarantine.append(QuarantineRecord(path.name, row_no, err.field, err.reason))
                continue
            out.rows.append({**query, "source_file": path.name, "source_row": row_no})
        return out

    @abstractmethod
    def parse_query(self, obj: dict, tenant_dir: Path) -> dict:
        """The modality-specific fields of one evaluation query."""

    # --- vectors -------------------------------------------------------------------------------

    def embedding_key(self, models: ModelSet) -> str:
        """Namespace of the embedding cache: the exact models that produce row vectors."""
        return "+".join(models.get(role).key for role in self.row_roles)

    @property
    def row_roles(self) -> tuple[str, ...]:
        """Roles used to embed rows (queries may use more, e.g. ASR before the text encoder)."""
        return self.roles

    def dim(self, models: ModelSet) -> int:
        return models.get(self.row_roles[-1]).dim

    #: for a strategy modality: the texts of a row strategies score ("q" is what the main vector
    #: embeds; "a" the answer a hit gives; "qa" both)
    row_texts: dict[str, Callable[[dict], str]] = {}

    def extra_views(self, models: ModelSet) -> list[View]:
        """Vectors beyond the main one (which `encode_rows` gives): for a strategy modality, every
        row text with the text encoder, and every one with the second encoder of the ensemble."""
        if not self.strategies:
            return []
        views = [View(f"{text}@text", "text", fn) for text, fn in self.row_texts.items() if text != "q"]
        if models.has("text2"):
            views += [View(f"{text}@text2", "text2", fn) for text, fn in self.row_texts.items()]
        return views

    def version_files(self, rows: list[dict], views: dict[str, np.ndarray]) -> dict[str, object]:
        """JSON files an index version carries beside its vectors: for a strategy modality, the
        cross-lingual links of its labels (aligned on the question + answer vectors)."""
        if not self.strategies:
            return {}
        from mm_platform.retrieval.links import build_links

        return {"links.json": build_links(rows, views["qa@text"])}

    @abstractmethod
    def encode_rows(self, rows: list[dict], models: ModelSet, tenant_dir: Path) -> np.ndarray:
        """Vectors for rows (only those missing from the cache are passed)."""

    @abstractmethod
    def encode_queries(self, queries: list[dict], models: ModelSet, tenant_dir: Path) -> np.ndarray:
        """One vector per query: the query path a user's request takes."""

    def query_unsupported(self, query: dict, models: ModelSet) -> str | None:
        """Why a query cannot be answered by the configured models (None: it can)."""
        return None

    def extra_metrics(self, queries: list[dict], models: ModelSet, tenant_dir: Path) -> dict[str, dict]:
        """Per-language extra evaluation figures (e.g. WER/CER for speech)."""
        return {}


# --- helpers shared by media modalities ------------------------------------------------------

def confined_input(path: Path, tenant_dir: Path) -> Path:
    """An input file of the tenant; a link that leads outside the tenant's folder (to another
    tenant's files, or anywhere on the host) is refused with the file named."""
    try:
        confine(path, tenant_dir)
    except TenantError:
        raise InputFileError(path, f"is a link to {Path(path).resolve()}, outside the tenant folder: refused "
                                   "(input files must lie inside the tenant's own folder)") from None
    if not Path(path).is_file():
        raise InputFileError(path, "is a link to nothing (its target is missing)")
    return Path(path)


def media_path(obj: dict, field: str, tenant_dir: Path) -> Path:
    """A media file named relative to the tenant folder; absolute paths, `..` and links that
    lead outside the tenant folder are rejected."""
    value = text_field(obj, field)
    pure = PurePosixPath(value.replace("\\", "/"))
    if pure.is_absolute() or value.startswith(("/", "\\")) or (len(value) > 1 and value[1] == ":"):
        raise RowError(field, f"absolute path {value!r} not allowed: paths are relative to the tenant folder")
    if ".." in pure.parts:
        raise RowError(field, f"path {value!r} climbs out of the tenant folder")
    path = Path(tenant_dir) / Path(*pure.parts)
    try:
        confine(path, tenant_dir)
    except TenantError:
        raise RowError(field, f"path {value!r} leads outside the tenant folder (link)") from None
    if not path.exists():
        raise RowError(field, f"file {value!r} not found")
    if not path.is_file():
        raise RowError(field, f"{value!r} is not a file")
    if os.path.getsize(path) == 0:
        raise RowError(field, f"file {value!r} is empty")
    return path


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
