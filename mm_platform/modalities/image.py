"""Image modality: product pictures listed in `images.csv`, found again from a photo of them."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from mm_platform.encoders.models import ModelSet
from mm_platform.inputs.media import IMAGE_SIZE, MediaError, image_info, load_image
from mm_platform.inputs.validation import InputFileError, RowError, language_field, text_field
from mm_platform.modalities.base import Modality, file_hash, media_path

CSV_COLUMNS = ("image_path", "description", "language", "annotation")


#: a longer cell is a bad row (the csv module's own limit, 131,072, would abort the whole file)
MAX_CELL_CHARS = 65_536
MAX_LINE_CHARS = 8 * MAX_CELL_CHARS


def read_csv_records(path: Path, columns: tuple[str, ...]) -> list[tuple[int, Any]]:
    """(line number, row dict) pairs of a UTF-8 CSV with a header naming `columns`.

    One record per physical line (the contract's cells are paths, labels and one-line
    descriptions): a line with an unterminated quote is one bad row, not a record that swallows
    the lines after it; an over-long cell is one bad row, not a reader error that loses the file."""
    try:
        text = path.read_bytes().decode("utf-8", errors="surrogateescape").lstrip("\ufeff")
    except OSError as exc:
        raise InputFileError(path, f"cannot be read ({exc.strerror or exc})") from exc
    # the csv module's cap (131,072) would raise for the whole reader; lines up to MAX_LINE_CHARS
    # are read and judged cell by cell instead (raising the cap only widens what can be read)
    if csv.field_size_limit() < MAX_LINE_CHARS:
        csv.field_size_limit(MAX_LINE_CHARS)
    lines = text.split("\n")
    header = _cells(lines[0].rstrip("\r")) if lines else []
    if isinstance(header, str):
        raise InputFileError(path, f"CSV header: {header}")
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputFileError(path, f"CSV header lacks column(s) {', '.join(missing)} "
                                   f"(expected {','.join(columns)})")
    records: list[tuple[int, Any]] = []
    for line_no, line in enumerate(lines[1:], start=2):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        cells = _cells(line)
        if isinstance(cells, str):
            records.append((line_no, _BadLine(cells)))
        elif len(cells) > len(header):
            records.append((line_no, _TooManyCells(len(cells) - len(header))))
        else:
            records.append((line_no, dict(zip(header, cells + [None] * (len(header) - len(cells))))))
    return records


def _cells(line: str) -> list[str] | str:
    """The cells of one CSV line, or why it cannot be read."""
    if len(line) > MAX_LINE_CHARS:
        return f"line of {len(line):,} characters is too long"
    try:
        cells = next(csv.reader([line], strict=True))
    except csv.Error as exc:
        reason = str(exc)
        return "unterminated quote" if "end of data" in reason or "EOF" in reason else f"malformed CSV ({reason})"
    long = [i for i, c in enumerate(cells) if len(c) > MAX_CELL_CHARS]
    if long:
        return f"cell {long[0] + 1} has {len(cells[long[0]]):,} characters (at most {MAX_CELL_CHARS:,})"
    return cells


class _BadLine(dict):
    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason


class _TooManyCells(dict):
    def __init__(self, extra: int):
        super().__init__()
        self.extra = extra


class ImageModality(Modality):
    """512 x 512 RGB product pictures with a description and label per language."""

    name = "image"
    input_files = ("images.csv",)
    query_field = "image_path"
    roles = ("image",)
    gpu = True
    language_free_queries = True

    def item_key(self, row: dict) -> str:
        return row["image_path"]

    def read_records(self, path: Path):
        return read_csv_records(path, CSV_COLUMNS)

    def parse_row(self, obj: dict, tenant_dir: Path) -> dict:
        if isinstance(obj, _BadLine):
            raise RowError(None, obj.reason)
        if isinstance(obj, _TooManyCells):
            raise RowError(None, f"{obj.extra} more cell(s) than the header has columns")
        path = media_path(obj, "image_path", tenant_dir)
        description = text_field(obj, "description")
        language = language_field(obj)
        annotation = text_field(obj, "annotation")
        try:
            load_image(path)
            info = image_info(path)
        except MediaError as err:
            raise RowError("image_path", err.reason) from None
        return {
            "image_path": obj["image_path"].strip(),
            "description": description,
            "language": language,
            "annotation": annotation,
            "title": annotation,
            "content": description,
            "original_width": info["width"],
            "original_height": info["height"],
            "format": info["format"],
            # The visual content is what gets embedded: the same picture in three languages is one vector.
            "content_hash": file_hash(path),
        }

    def parse_query(self, obj: dict, tenant_dir: Path) -> dict:
        path = media_path(obj, "image_path", tenant_dir)
        try:
            load_image(path)
        except MediaError as err:
            raise RowError("image_path", err.reason) from None
        return {"image_path": obj["image_path"].strip()}

    def encode_rows(self, rows: list[dict], models: ModelSet, tenant_dir: Path) -> np.ndarray:
        return models.image.encode_images([load_image(Path(tenant_dir) / r["image_path"]) for r in rows])

    def encode_queries(self, queries: list[dict], models: ModelSet, tenant_dir: Path) -> np.ndarray:
        return models.image.encode_images([load_image(Path(tenant_dir) / q["image_path"]) for q in queries])

    def describe_media(self, rows: list[dict]) -> dict:
        return {"distinct_images": len({r["content_hash"] for r in rows}), "normalized_to": f"{IMAGE_SIZE}x{IMAGE_SIZE} RGB",
                "formats": dict(Counter(r["format"] for r in rows)),
                "original_sizes": dict(Counter(f"{r['original_width']}x{r['original_height']}" for r in rows).most_common(5))}

    def extra_checks(self):
        def normalized(ref: dict, gates) -> tuple[bool, dict]:
            from mm_platform.pipeline import load_rows

            rows = load_rows(ref["path"])
            sample = rows[:: max(1, len(rows) // 20)][:20]
            shapes = {tuple(load_image(Path(ref["tenant_dir"]) / r["image_path"]).shape) for r in sample}
            return shapes == {(IMAGE_SIZE, IMAGE_SIZE, 3)}, {"sampled": len(sample), "shapes": str(sorted(shapes))}

        return [("validated_dataset", "media_normalized",
                 "Sampled images decode and normalise to 512 x 512 RGB as promised.", normalized)]
