"""Media decoding: the formats we take are normalised, everything else fails with a readable reason."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from mm_platform.inputs.media import (
    IMAGE_SIZE,
    SAMPLE_RATE,
    MediaError,
    image_info,
    load_audio,
    load_image,
    probe_video,
    sample_keyframes,
)


def _photo(width: int = 640, height: int = 480) -> Image.Image:
    gradient = np.linspace(0, 255, width, dtype=np.uint8)
    pixels = np.stack([np.tile(gradient, (height, 1))] * 3, axis=-1)
    pixels[..., 2] = 90
    return Image.fromarray(pixels)


def _reason(call, *args, **kwargs) -> str:
    with pytest.raises(MediaError) as caught:
        call(*args, **kwargs)
    return caught.value.reason


# --- images ---


@pytest.mark.parametrize("fmt, suffix", [("JPEG", ".jpg"), ("PNG", ".png")])
def test_jpeg_and_png_are_normalised_to_512_rgb(tmp_path: Path, fmt: str, suffix: str):
    path = tmp_path / f"photo{suffix}"
    _photo().save(path, fmt)
    pixels = load_image(path)
    assert pixels.shape == (IMAGE_SIZE, IMAGE_SIZE, 3) and pixels.dtype == np.uint8
    assert image_info(path) == {"width": 640, "height": 480, "format": fmt, "mode": "RGB"}


def test_exif_rotation_and_transparency_are_applied(tmp_path: Path):
    rotated = tmp_path / "rotated.jpg"
    image = Image.new("RGB", (200, 100), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 100, 100))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to display
    image.save(rotated, "JPEG", exif=exif)
    upright = load_image(rotated)
    assert upright[10, 256, 2] > 200 and upright[-10, 256, 0] > 200  # blue on top, red below

    clear = tmp_path / "clear.png"
    Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(clear)
    assert load_image(clear).min() == 255  # transparent pixels become white, not black


def test_truncated_empty_gif_and_fake_images_are_rejected(tmp_path: Path):
    full = tmp_path / "full.jpg"
    _photo().save(full, "JPEG", quality=95)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    empty = tmp_path / "empty.jpg"
    empty.touch()
    gif = tmp_path / "animated.jpg"  # the extension lies; the bytes decide
    _photo(64, 64).save(gif, "GIF")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image at all\n")

    assert _reason(load_image, truncated) == "corrupt or truncated image"
    assert _reason(load_image, empty) == "empty file"
    assert _reason(load_image, gif) == "not a JPEG or PNG image (GIF)"
    assert _reason(load_image, text) == "not a JPEG or PNG image (unrecognised data)"
    assert _reason(load_image, tmp_path / "missing.png") == "file not found"


# --- audio ---


def _tone(seconds: float, rate: int, amplitude: float = 0.5, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return np.stack([wave] * channels, axis=1)


def test_stereo_44k_wav_becomes_16k_mono(tmp_path: Path):
    path = tmp_path / "stereo.wav"
    sf.write(path, _tone(2.5, 44100, channels=2), 44100, subtype="PCM_16")
    audio, info = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 2.5 * SAMPLE_RATE) <= 2
    assert info["original_rate"] == 44100 and info["channels"] == 2 and info["duration_s"] == 2.5
    assert -7.0 < info["peak_dbfs"] < -5.0  # 0.5 full scale
    assert np.abs(audio).max() <= 1.0


def test_silent_empty_corrupt_and_long_audio_are_rejected(tmp_path: Path):
    silent = tmp_path / "silent.wav"
    sf.write(silent, _tone(1.0, 16000, amplitude=0.0005), 16000, subtype="FLOAT")
    empty = tmp_path / "empty.wav"
    empty.touch()
    no_samples = tmp_path / "no_samples.wav"
    sf.write(no_samples, np.zeros((0, 1), dtype=np.float32), 16000)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk" + bytes(range(64)))
    long = tmp_path / "long.wav"
    sf.write(long, _tone(31.0, 8000), 8000)

    assert _reason(load_audio, silent) == "silent audio (peak -66.0 dBFS)"
    assert _reason(load_audio, empty) == "empty file"
    assert _reason(load_audio, no_samples) == "zero-length audio"
    assert _reason(load_audio, corrupt) == "corrupt or unsupported audio"
    assert _reason(load_audio, long) == "audio too long (31.0 s > 30.0 s)"
    assert len(load_audio(long, max_seconds=60)[0]) == 31 * SAMPLE_RATE


# --- video ---

FPS, SECONDS, CUT_AT = 10, 3.0, 1.5


def _write_cut_video(path: Path, width: int = 320, height: int = 240) -> None:
    """Solid red, then a hard cut to solid blue at CUT_AT seconds."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("h264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(int(SECONDS * FPS)):
            colour = (220, 30, 30) if index / FPS < CUT_AT else (30, 30, 220)
            pixels = np.full((height, width, 3), colour, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="module")
def cut_video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "cut.mp4"
    _write_cut_video(path)
    return path


def test_probe_reports_the_stream(cut_video: Path):
    info = probe_video(cut_video)
    assert (info["width"], info["height"], info["frames"]) == (320, 240, 30)
    assert info["fps"] == pytest.approx(FPS) and info["duration_s"] == pytest.approx(SECONDS)


def test_keyframes_at_fixed_rate_plus_scene_cut(cut_video: Path):
    keyframes = sample_keyframes(cut_video, every_seconds=1.0)
    times = [t for t, _ in keyframes]
    assert times == [0.0, 1.0, CUT_AT, 2.0]  # 3 at the fixed rate, 1 at the cut
    for _, frame in keyframes:
        assert frame.shape == (IMAGE_SIZE, IMAGE_SIZE, 3) and frame.dtype == np.uint8
    assert keyframes[0][1][..., 0].mean() > 150  # red before the cut, as RGB
    assert keyframes[2][1][..., 2].mean() > 150  # blue from the cut on

    without_scenes = sample_keyframes(cut_video, every_seconds=1.0, scene_threshold=2.0)
    assert [t for t, _ in without_scenes] == [0.0, 1.0, 2.0]
    capped = sample_keyframes(cut_video, every_seconds=0.1, max_frames=5)
    assert [t for t, _ in capped] == [0.0, 0.6, 1.2, CUT_AT, 1.8]  # interval widened to span the clip


def test_non_video_files_are_rejected(tmp_path: Path):
    text = tmp_path / "clip.mp4"
    text.write_text("this is not a video\n" * 50)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    assert _reason(probe_video, text) == "cannot open video"
    assert _reason(sample_keyframes, text) == "cannot open video"
    assert _reason(probe_video, empty) == "empty file"
