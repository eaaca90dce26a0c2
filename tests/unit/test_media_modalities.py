"""Image, speech and video inputs: good rows normalised, every bad row quarantined with file, row, field, reason."""

import json
import os

import pytest

from mm_platform.inputs.validation import InputFileError
from mm_platform.modalities.faq import FaqModality
from mm_platform.modalities.image import ImageModality
from mm_platform.modalities.registry import query_fields, registered_modalities
from mm_platform.modalities.speech import SpeechModality
from mm_platform.modalities.video import VideoModality
from tests.conftest import write_json
from tests.media_factory import write_image, write_mp4, write_wav

HEADER = "image_path,description,language,annotation\n"


def _reasons(parsed):
    return {(q.row, q.field): q.reason for q in parsed.quarantine}


def test_builtin_modalities_register_through_entry_points():
    assert list(registered_modalities()) == ["faq", "image", "speech", "video"]
    assert query_fields() == ("query", "image_path", "audio_path", "video_path")


def test_images_csv_good_and_bad_rows(tmp_path):
    write_image(tmp_path / "img" / "ok.jpg")
    write_image(tmp_path / "img" / "ok.png", fmt="PNG", size=(640, 480))
    write_image(tmp_path / "img" / "anim.gif", fmt="GIF")
    (tmp_path / "img" / "empty.jpg").write_bytes(b"")
    good = (tmp_path / "img" / "ok.jpg").read_bytes()
    (tmp_path / "img" / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (tmp_path / "img" / "notes.jpg").write_text("not an image")
    outside = write_image(tmp_path.parent / f"{tmp_path.name}-outside.jpg")
    os.symlink(outside, tmp_path / "img" / "link.jpg")
    rows = [
        "img/ok.jpg,a red ball,en,red ball",
        "img/ok.jpg,一个红球,zh,红球",
        "img/ok.png,a big red ball,en,big ball",
        "/etc/passwd,x,en,x",
        "../escape.jpg,x,en,x",
        "img/link.jpg,x,en,x",
        "img/missing.jpg,x,en,x",
        "img/empty.jpg,x,en,x",
        "img/truncated.jpg,x,en,x",
        "img/anim.gif,x,en,x",
        "img/notes.jpg,x,en,x",
        "img/ok.jpg,,en,x",
        "img/ok.jpg,x,fr,x",
        "img/ok.jpg,x,en,x,extra",
    ]
    (tmp_path / "images.csv").write_text(HEADER + "\n".join(rows) + "\n", "utf-8")
    parsed = ImageModality().parse(tmp_path, "acme")
    assert [r["annotation"] for r in parsed.rows] == ["red ball", "红球", "big ball"]
    assert parsed.rows[0]["content_hash"] == parsed.rows[1]["content_hash"]  # one picture, two languages
    assert (parsed.rows[2]["original_width"], parsed.rows[2]["format"]) == (640, "PNG")
    reasons = _reasons(parsed)
    assert "absolute path" in reasons[(5, "image_path")]
    assert "climbs out" in reasons[(6, "image_path")]
    assert "outside the tenant folder" in reasons[(7, "image_path")]
    assert "not found" in reasons[(8, "image_path")]
    assert "empty" in reasons[(9, "image_path")]
    assert "corrupt or truncated" in reasons[(10, "image_path")]
    assert "GIF" in reasons[(11, "image_path")]
    assert "not a JPEG or PNG" in reasons[(12, "image_path")]
    assert reasons[(13, "description")] == "empty value"
    assert "unknown language 'fr'" in reasons[(14, "language")]
    assert "more cell" in reasons[(15, None)]
    assert all(q.file == "images.csv" for q in parsed.quarantine)


def test_images_csv_without_required_columns_fails_whole_file(tmp_path):
    (tmp_path / "images.csv").write_text("path,text\nx,y\n")
    with pytest.raises(InputFileError, match="lacks column"):
        ImageModality().parse(tmp_path, "acme")


def test_speech_rows_are_normalised_or_quarantined(tmp_path):
    write_wav(tmp_path / "a" / "stereo44k.wav", rate=44100, channels=2)
    write_wav(tmp_path / "a" / "silent.wav", amplitude=0.0)
    write_wav(tmp_path / "a" / "long.wav", seconds=31, rate=8000, channels=1)
    (tmp_path / "a" / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    base = {"text": "hello", "language": "en", "annotation": "greeting"}
    write_json(tmp_path / "speech.json", [
        {**base, "audio_path": "a/stereo44k.wav"},
        {**base, "audio_path": "a/silent.wav"},
        {**base, "audio_path": "a/long.wav"},
        {**base, "audio_path": "a/corrupt.wav"},
        {**base, "audio_path": 5},
    ])
    parsed = SpeechModality().parse(tmp_path, "acme")
    (row,) = parsed.rows
    assert (row["original_rate"], row["channels"], row["duration_s"]) == (44100, 2, 1.0)
    reasons = _reasons(parsed)
    assert "silent" in reasons[(2, "audio_path")]
    assert "too long" in reasons[(3, "audio_path")]
    assert "corrupt" in reasons[(4, "audio_path")]
    assert "wrong type" in reasons[(5, "audio_path")]


def test_video_rows_expand_to_keyframes_and_bad_videos_are_quarantined(tmp_path):
    write_mp4(tmp_path / "v" / "clip.mp4")
    (tmp_path / "v" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    base = {"description": "a red box", "language": "en", "annotation": "red box"}
    write_json(tmp_path / "video.json", [{**base, "video_path": "v/clip.mp4"}, {**base, "video_path": "v/broken.mp4"}])
    parsed = VideoModality().parse(tmp_path, "acme")
    assert len(parsed.rows) >= 3  # one per second plus the cut between the two colours
    assert {r["video_id"] for r in parsed.rows} == {parsed.rows[0]["video_id"]}
    assert parsed.rows[0]["timestamp"] == 0.0 and (parsed.rows[0]["width"], parsed.rows[0]["height"]) == (320, 240)
    assert len({r["content_hash"] for r in parsed.rows}) == len(parsed.rows)
    (record,) = parsed.quarantine
    assert (record.row, record.field) == (2, "video_path")


def test_eval_queries_are_routed_to_their_modality(tmp_path):
    write_image(tmp_path / "q.jpg")
    write_wav(tmp_path / "q.wav")
    write_mp4(tmp_path / "q.mp4")
    write_json(tmp_path / "eval_queries.json", [
        {"query": "hi", "language": "en", "annotation": "a"},
        {"image_path": "q.jpg", "language": "en", "annotation": "b"},
        {"audio_path": "q.wav", "text": "hello", "language": "en", "annotation": "c"},
        {"video_path": "q.mp4", "language": "zh", "annotation": "d"},
        {"image_path": "../q.jpg", "language": "en", "annotation": "b"},
        {"language": "en", "annotation": "orphan"},
        {"joint": {"query": "hi", "image_path": "q.jpg"}, "language": "en", "annotation": "a"},
    ])
    fields = query_fields()
    faq = FaqModality().parse_queries(tmp_path, "acme", fields)
    assert [q["query"] for q in faq.rows] == ["hi"]
    assert [(q.row, q.field, q.reason) for q in faq.quarantine] == [(6, "query", "missing field")]
    image = ImageModality().parse_queries(tmp_path, "acme", fields)
    assert [q["annotation"] for q in image.rows] == ["b"] and image.quarantine[0].row == 5
    speech = SpeechModality().parse_queries(tmp_path, "acme", fields)
    assert speech.rows[0]["text"] == "hello"
    assert VideoModality().parse_queries(tmp_path, "acme", fields).rows[0]["language"] == "zh"
    assert json.loads((tmp_path / "eval_queries.json").read_text())  # the file itself is never rewritten


def test_an_image_cut_inside_its_header_is_a_bad_row(tmp_path):
    (tmp_path / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (tmp_path / "images.csv").write_text(HEADER + "cut.jpg,x,en,x\n", "utf-8")
    parsed = ImageModality().parse(tmp_path, "acme")
    assert parsed.rows == [] and "corrupt or truncated" in parsed.quarantine[0].reason
