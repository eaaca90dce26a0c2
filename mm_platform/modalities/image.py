"""Image modality: product pictures listed in `images.csv`, found again from a photo of them."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from mm_platform.encoders.models import ModelSet
from mm_platform.inputs.media import IMAGE_SIZE, MediaError, image_info, load_image
from mm_platform.inputs.validation import InputFileError, RowError, language_field, text_field
from mm_platform.modalities.base import Modality, file_hash, media_path

CSV_COLUMNS = ("image_path", "description", "language", "annotation")


def read_csv_records(path: Path, columns: tuple[str, ...]) -> list[tuple[int, Any]]:
    """(line number, row dict) pairs of a UTF-8 CSV with a header naming `columns`."""
    try:
        text = path.read_bytes().decode("utf-8", errors="surrogateescape").lstrip("\ufeff")
    except OSError as exc:
        raise InputFileError(path, f"cannot be read ({exc.strerror or exc})") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise InputFileError(path, f"CSV header lacks column(s) {', '.join(missing)} "
                                   f"(expected {','.join(columns)})")
    records = []
    for row in reader:
        if None in row:  # more cells than header columns
            records.append((reader.line_num, _TooManyCells(len(row[None]))))
        else:
            records.append((reader.line_num, dict(row)))
    return records


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
