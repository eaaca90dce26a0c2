"""Decoding and normalisation of images, audio and video, with one error type and a readable reason."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

IMAGE_SIZE = 512
SAMPLE_RATE = 16000
IMAGE_FORMATS = ("JPEG", "PNG")

# joint HSV histogram used for scene-change detection: any change of hue, saturation or
# brightness between two flat frames moves the mass to another bin
_HSV_BINS = [16, 8, 8]
_HSV_RANGES = [0, 180, 0, 256, 0, 256]
_SCENE_PROBE_WIDTH = 160


class MediaError(Exception):
    """A media file that cannot be used; `reason` is short and meant for people."""

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def _require_content(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "file not found")
    if path.stat().st_size == 0:
        raise MediaError(path, "empty file")
    return path


# --- images ---


def _open_image(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path)
    except UnidentifiedImageError:
        raise MediaError(path, "not a JPEG or PNG image (unrecognised data)") from None
    except Image.DecompressionBombError:
        raise MediaError(path, "image too large") from None
    except (OSError, SyntaxError, ValueError):  # a header cut short fails while being read
        raise MediaError(path, "corrupt or truncated image") from None


def image_info(path: str | os.PathLike) -> dict:
    """Size as stored (before EXIF rotation), format and mode, read from the header only."""
    path = _require_content(path)
    with _open_image(path) as image:
        return {"width": image.width, "height": image.height, "format": image.format, "mode": image.mode}


def load_image(path: str | os.PathLike) -> np.ndarray:
    """A JPEG or PNG as upright RGB uint8, resized to IMAGE_SIZE x IMAGE_SIZE (aspect not kept)."""
    from PIL import Image, ImageOps

    path = _require_content(path)
    with _open_image(path) as probe:
        if probe.format not in IMAGE_FORMATS:
            raise MediaError(path, f"not a JPEG or PNG image ({probe.format})")
        try:
            probe.verify()
        except Exception:  # noqa: BLE001 - Pillow raises many types for broken files
            raise MediaError(path, "corrupt or truncated image") from None
    # verify() leaves the image unusable: decode every pixel from a fresh handle
    with _open_image(path) as decoded:
        try:
            decoded.load()
            image = ImageOps.exif_transpose(decoded)
        except Exception:  # noqa: BLE001
            raise MediaError(path, "corrupt or truncated image") from None
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            image = Image.new("RGB", rgba.size, (255, 255, 255))
            image.paste(rgba, mask=rgba.getchannel("A"))
        resized = image.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC)
    return np.asarray(resized, dtype=np.uint8)


# --- audio ---


def load_audio(
    path: str | os.PathLike, max_seconds: float = 30.0, silence_dbfs: float = -50.0
) -> tuple[np.ndarray, dict]:
    """Float32 mono samples at SAMPLE_RATE in [-1, 1], plus what the file was like.

    Reads anything libsndfile reads (WAV, FLAC, OGG, ...); channels are averaged.
    """
    import soundfile as sf
    import soxr

    path = _require_content(path)
    try:
        header = sf.info(str(path))
        if header.frames == 0 or header.samplerate <= 0:
            raise MediaError(path, "zero-length audio")
        duration = header.frames / header.samplerate
        if duration > max_seconds:
            raise MediaError(path, f"audio too long ({duration:.1f} s > {max_seconds:.1f} s)")
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except sf.LibsndfileError:
        raise MediaError(path, "corrupt or unsupported audio") from None
    if samples.shape[0] == 0:
        raise MediaError(path, "zero-length audio")
    if not np.isfinite(samples).all():
        raise MediaError(path, "corrupt audio (non-finite samples)")

    mono = samples.mean(axis=1)
    peak = float(np.abs(mono).max())
    peak_dbfs = 20 * math.log10(peak) if peak > 0 else -math.inf
    if peak_dbfs < silence_dbfs:
        raise MediaError(path, f"silent audio (peak {peak_dbfs:.1f} dBFS)")
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE)
    audio = np.clip(mono, -1.0, 1.0).astype(np.float32, copy=False)
    info = {"original_rate": int(rate), "channels": int(samples.shape[1]),
            "duration_s": round(samples.shape[0] / rate, 3), "peak_dbfs": round(peak_dbfs, 1)}
    return audio, info


# --- video ---


def _open_video(path: Path):
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise MediaError(path, "cannot open video")
    return capture


def probe_video(path: str | os.PathLike) -> dict:
    """Width, height, frame rate, frame count and duration from the container header."""
    import cv2

    path = _require_content(path)
    capture = _open_video(path)
    try:
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    if frames <= 0:
        raise MediaError(path, "video has no frames")
    duration = frames / fps if fps > 0 else 0.0
    return {"width": width, "height": height, "fps": fps, "frames": frames, "duration_s": round(duration, 3)}


def _hsv_histogram(frame_bgr: np.ndarray) -> np.ndarray:
    import cv2

    height, width = frame_bgr.shape[:2]
    if width > _SCENE_PROBE_WIDTH:
        small_size = (_SCENE_PROBE_WIDTH, max(1, round(height * _SCENE_PROBE_WIDTH / width)))
        frame_bgr = cv2.resize(frame_bgr, small_size, interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2HSV)
    histogram = cv2.calcHist([hsv], [0, 1, 2], None, _HSV_BINS, _HSV_RANGES)
    return cv2.normalize(histogram, histogram).flatten()


def sample_keyframes(
    path: str | os.PathLike, every_seconds: float = 1.0, scene_threshold: float = 0.4, max_frames: int = 64
) -> list[tuple[float, np.ndarray]]:
    """(timestamp in seconds, RGB uint8 IMAGE_SIZE x IMAGE_SIZE frame) pairs, in time order.

    Keeps the first frame, one frame every `every_seconds`, and every frame whose HSV
    histogram correlation distance to the previous frame exceeds `scene_threshold`.
    When the fixed rate alone would exceed `max_frames`, the interval widens so the
    samples still span the whole video; decoding stops once `max_frames` are kept.
    """
    import cv2

    if every_seconds <= 0 or max_frames <= 0:
        raise ValueError("every_seconds and max_frames must be positive")
    path = _require_content(path)
    capture = _open_video(path)
    keyframes: list[tuple[float, np.ndarray]] = []
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        interval = every_seconds
        if fps > 0 and frame_count > 0:
            interval = max(every_seconds, frame_count / fps / max_frames)
        previous_histogram, last_slot, index = None, -1, 0
        while len(keyframes) < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            timestamp = index / fps if fps > 0 else capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            index += 1
            histogram = _hsv_histogram(frame)
            slot = int(timestamp / interval + 1e-6)
            scene_change = (
                previous_histogram is not None
                and 1.0 - cv2.compareHist(previous_histogram, histogram, cv2.HISTCMP_CORREL) > scene_threshold
            )
            previous_histogram = histogram
            if slot == last_slot and not scene_change:
                continue
            last_slot = slot
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            keyframes.append((round(timestamp, 3), cv2.resize(rgb, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)))
    finally:
        capture.release()
    if not keyframes:
        raise MediaError(path, "no frames could be decoded")
    return keyframes
