"""Demo media generator: files, formats, manifests, eval queries and determinism (small profile)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mm_platform.demo.faq import LANGUAGES, write_faq_demo
from mm_platform.demo.media import write_media_demo

TENANT = "ecommerce"
HAS_ESPEAK = shutil.which("espeak-ng") is not None
needs_espeak = pytest.mark.skipif(
    not HAS_ESPEAK, reason="espeak-ng is not installed: the demo media generator synthesises its speech with it"
)


def _generate(root: Path) -> tuple[Path, dict, list[dict]]:
    write_faq_demo(root, profile="small", tenants=(TENANT,))
    text_queries = json.loads((root / TENANT / "eval_queries.json").read_text("utf-8"))
    counts = write_media_demo(root, profile="small", tenants=(TENANT,))
    return root / TENANT, counts, text_queries


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict, list[dict]]:
    if not HAS_ESPEAK:
        pytest.skip("espeak-ng is not installed: the demo media generator synthesises its speech with it")
    return _generate(tmp_path_factory.mktemp("media-a"))


def _inside(tenant_dir: Path, rel: str) -> Path:
    assert not Path(rel).is_absolute(), rel
    path = (tenant_dir / rel).resolve()
    assert path.is_relative_to(tenant_dir.resolve()), rel
    assert path.is_file(), rel
    return path


def _read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@needs_espeak
def test_images_and_csv(generated):
    from PIL import Image

    tenant_dir, counts, _ = generated
    rows = _read_csv(tenant_dir / "images.csv")
    assert list(rows[0]) == ["image_path", "description", "language", "annotation"]
    assert len(rows) == counts[TENANT]["images"] == 3 * counts[TENANT]["products"]
    assert {r["language"] for r in rows} == set(LANGUAGES)
    for row in rows:
        assert row["description"] and row["annotation"]
        with Image.open(_inside(tenant_dir, row["image_path"])) as image:
            assert image.format == "JPEG" and image.size == (512, 512)
    # one picture per product and its name differs per product in every language
    for language in LANGUAGES:
        names = [r["annotation"] for r in rows if r["language"] == language]
        assert len(set(names)) == len(names) == counts[TENANT]["products"]


@needs_espeak
def test_speech_is_16k_mono_and_not_silent(generated):
    import soundfile as sf

    tenant_dir, counts, text_queries = generated
    rows = json.loads((tenant_dir / "speech.json").read_text("utf-8"))
    assert len(rows) == counts[TENANT]["speech"] > 0
    texts = {q["query"]: q["annotation"] for q in text_queries}
    for row in rows:
        assert set(row) == {"audio_path", "text", "language", "annotation"}
        assert texts[row["text"]] == row["annotation"]
        info = sf.info(str(_inside(tenant_dir, row["audio_path"])))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        audio, _ = sf.read(str(tenant_dir / row["audio_path"]), dtype="float32")
        assert info.duration > 0.3 and float(np.sqrt(np.mean(audio**2))) > 0.01
    assert {r["language"] for r in rows} == set(LANGUAGES)


@needs_espeak
def test_video_opens_at_720p(generated):
    import cv2

    tenant_dir, counts, _ = generated
    rows = json.loads((tenant_dir / "video.json").read_text("utf-8"))
    assert len(rows) == counts[TENANT]["videos"] > 0
    for row in rows:
        assert set(row) == {"video_path", "description", "language", "annotation"}
        capture = cv2.VideoCapture(str(_inside(tenant_dir, row["video_path"])))
        try:
            assert capture.isOpened()
            assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (1280, 720)
            ok, frame = capture.read()
            assert ok and frame.shape == (720, 1280, 3)
        finally:
            capture.release()


@needs_espeak
def test_eval_queries_keep_text_and_gain_media(generated):
    tenant_dir, counts, text_queries = generated
    queries = json.loads((tenant_dir / "eval_queries.json").read_text("utf-8"))
    assert queries[: len(text_queries)] == text_queries
    media = queries[len(text_queries) :]
    by_kind = {k: [q for q in media if k in q] for k in ("image_path", "audio_path", "video_path", "joint")}
    assert len(by_kind["image_path"]) == counts[TENANT]["image_queries"] > 0
    assert len(by_kind["audio_path"]) == counts[TENANT]["audio_queries"] > 0
    assert len(by_kind["video_path"]) == counts[TENANT]["video_queries"] > 0
    assert sum(map(len, by_kind.values())) == len(media)
    assert len(by_kind["joint"]) == counts[TENANT]["joint_requests"] > 0
    for q in by_kind["joint"]:  # a question about a product, its photo, and more where one exists
        assert {"query", "image_path"} <= set(q["joint"]) and q["entity"] in q["joint"]["query"]

    image_names = {(r["language"], r["annotation"]) for r in _read_csv(tenant_dir / "images.csv")}
    for q in by_kind["image_path"]:
        assert set(q) == {"image_path", "language", "annotation"}
        assert q["image_path"].startswith("queries/images/")
        _inside(tenant_dir, q["image_path"])
        assert (q["language"], q["annotation"]) in image_names
    assert {q["language"] for q in by_kind["image_path"]} == set(LANGUAGES)

    spoken = {r["text"] for r in json.loads((tenant_dir / "speech.json").read_text("utf-8"))}
    for q in by_kind["audio_path"]:
        assert set(q) == {"audio_path", "text", "language", "annotation"}
        assert q["audio_path"].startswith("queries/speech/")
        _inside(tenant_dir, q["audio_path"])
        assert q["text"] not in spoken  # disjoint from the spoken corpus

    video_names = {(r["language"], r["annotation"]) for r in json.loads((tenant_dir / "video.json").read_text("utf-8"))}
    for q in by_kind["video_path"]:
        assert set(q) == {"video_path", "language", "annotation"}
        assert q["video_path"].startswith("queries/video/")
        _inside(tenant_dir, q["video_path"])
        assert (q["language"], q["annotation"]) in video_names


@needs_espeak
def test_rerun_in_place_replaces_media_queries(generated, tmp_path):
    tenant_dir, _, text_queries = generated
    copy = tmp_path / TENANT
    shutil.copytree(tenant_dir, copy)
    before = json.loads((copy / "eval_queries.json").read_text("utf-8"))
    write_media_demo(tmp_path, profile="small", tenants=(TENANT,))
    assert json.loads((copy / "eval_queries.json").read_text("utf-8")) == before


@needs_espeak
def test_deterministic(generated, tmp_path):
    tenant_a, _, _ = generated
    tenant_b, _, _ = _generate(tmp_path)
    for name in ("images.csv", "speech.json", "video.json", "eval_queries.json"):
        assert (tenant_a / name).read_bytes() == (tenant_b / name).read_bytes(), name
    files_a = sorted(p.relative_to(tenant_a).as_posix() for p in tenant_a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tenant_b).as_posix() for p in tenant_b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        if rel.endswith((".jpg", ".wav")):
            assert (tenant_a / rel).read_bytes() == (tenant_b / rel).read_bytes(), rel
        elif rel.endswith(".mp4"):
            frames_a, frames_b = _decoded(tenant_a / rel), _decoded(tenant_b / rel)
            assert len(frames_a) == len(frames_b) > 0, rel
            assert all(np.array_equal(a, b) for a, b in zip(frames_a, frames_b)), rel


def _decoded(path: Path) -> list[np.ndarray]:
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def test_missing_espeak_is_a_clear_error(tmp_path, monkeypatch):
    import mm_platform.demo.media as media

    monkeypatch.setattr(media.shutil, "which", lambda _name: None)
    with pytest.raises(RuntimeError, match="espeak-ng"):
        write_media_demo(tmp_path, profile="small", tenants=(TENANT,))
