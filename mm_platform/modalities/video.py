"""Video modality: product clips (`video.json`) indexed by keyframes; a hit on a frame maps to
its video and timestamp. A query clip is answered by the mean of its keyframe vectors."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from mm_platform.encoders.base import normalize
from mm_platform.encoders.models import ModelSet
from mm_platform.inputs.media import MediaError, probe_video, sample_keyframes
from mm_platform.inputs.validation import RowError, content_hash, language_field, text_field
from mm_platform.modalities.base import Modality, file_hash, media_path

#: keyframe sampling: one frame per second plus scene changes, at most 32 per clip
KEYFRAME_EVERY_SECONDS = 1.0
MAX_KEYFRAMES = 32


def keyframes(path: Path) -> list[tuple[float, np.ndarray]]:
    return sample_keyframes(path, every_seconds=KEYFRAME_EVERY_SECONDS, max_frames=MAX_KEYFRAMES)


class VideoModality(Modality):
    """Product videos (MP4; 720p in the seed, other sizes recorded) described per language."""

    name = "video"
    input_files = ("video.json", "video.jsonl")
    query_field = "video_path"
    roles = ("image",)
    gpu = True
    language_free_queries = True

    def item_key(self, row: dict) -> str:
        return row["video_path"]

    def parse_row(self, obj: dict, tenant_dir: Path) -> dict:
        path = media_path(obj, "video_path", tenant_dir)
        description = text_field(obj, "description")
        language = language_field(obj)
        annotation = text_field(obj, "annotation")
        try:
            info = probe_video(path)
            timestamps = [t for t, _ in keyframes(path)]
        except MediaError as err:
            raise RowError("video_path", err.reason) from None
        return {
            "video_path": obj["video_path"].strip(),
            "description": description,
            "language": language,
            "annotation": annotation,
            "title": annotation,
            "content": description,
            "width": info["width"],
            "height": info["height"],
            "fps": round(float(info["fps"]), 3),
            "frames": info["frames"],
            "duration_s": info["duration_s"],
            "keyframes": timestamps,
            "video_hash": file_hash(path),
        }

    def expand(self, row: dict) -> list[dict]:
        keyframe_times = row.pop("keyframes")
        return [{**row, "id": f"{row['id']}#t{t:.3f}", "video_id": row["id"], "timestamp": float(t),
                 "content_hash": content_hash(row["video_hash"], f"{t:.3f}")} for t in keyframe_times]

    def parse_query(self, obj: dict, tenant_dir: Path) -> dict:
        path = media_path(obj, "video_path", tenant_dir)
        try:
            probe_video(path)
        except MediaError as err:
            raise RowError("video_path", err.reason) from None
        return {"video_path": obj["video_path"].strip()}

    def encode_rows(self, rows: list[dict], models: ModelSet, tenant_dir: Path) -> np.ndarray:
        by_video: dict[str, list[int]] = defaultdict(list)
        for i, row in enumerate(rows):
            by_video[row["video_path"]].append(i)
        vectors = np.zeros((len(rows), models.image.dim), dtype=np.float32)
        for video, indices in by_video.items():
            frames = dict(keyframes(Path(tenant_dir) / video))
            wanted = [frames[min(frames, key=lambda t: abs(t - rows[i]["timestamp"]))] for i in indices]
            vectors[indices] = models.image.encode_images(wanted)
        return vectors

    def encode_queries(self, queries: list[dict], models: ModelSet, tenant_dir: Path) -> np.ndarray:
        out = []
        for q in queries:
            frames = [f for _, f in keyframes(Path(tenant_dir) / q["video_path"])]
            out.append(models.image.encode_images(frames).mean(axis=0))
        return normalize(np.stack(out).astype(np.float32))

    def describe_media(self, rows: list[dict]) -> dict:
        videos = {r["video_id"]: r for r in rows}
        return {"videos": len(videos), "keyframes": len({r["content_hash"] for r in rows}),
                "sizes": dict(Counter(f"{v['width']}x{v['height']}" for v in videos.values())),
                "total_seconds": round(sum(v["duration_s"] for v in videos.values()), 1)}

    def extra_checks(self):
        def decoded(ref: dict, gates) -> tuple[bool, dict]:
            from mm_platform.pipeline import load_rows

            rows = load_rows(ref["path"])
            videos = {r["video_id"]: r for r in rows}
            bad = [v for v in videos.values() if v["frames"] <= 0 or v["width"] <= 0]
            per_video = Counter(r["video_id"] for r in rows)
            return not bad and min(per_video.values()) >= 1, {
                "videos": len(videos), "keyframes_min": min(per_video.values()), "keyframes_max": max(per_video.values()),
                "zero_frame_videos": len(bad)}

        return [("validated_dataset", "media_normalized",
                 "Every video decodes with frames and yields at least one keyframe.", decoded)]
