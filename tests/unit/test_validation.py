"""Input contract of faq.json / eval_queries.json: every bad row quarantined with file, row, field, reason."""

import json

import pytest

from mm_platform.inputs.validation import InputFileError
from mm_platform.modalities.faq import parse_eval_queries, parse_faq
from tests.conftest import TINY_FAQ, write_json

GOOD = {"question": "q?", "answer": "a.", "language": "en", "annotation": "Intent"}


def _parse(tmp_path, rows):
    write_json(tmp_path / "faq.json", rows)
    return parse_faq(tmp_path, "acme")


@pytest.mark.parametrize(
    "row, field, reason",
    [
        ({**GOOD, "question": ""}, "question", "empty value"),
        ({**GOOD, "answer": "   "}, "answer", "empty value"),
        ({k: v for k, v in GOOD.items() if k != "annotation"}, "annotation", "missing field"),
        ({**GOOD, "language": "fr"}, "language", "unknown language 'fr'"),
        ({**GOOD, "question": 42}, "question", "wrong type: expected string, got int"),
        ({**GOOD, "annotation": ["x"]}, "annotation", "wrong type: expected string, got list"),
        ({**GOOD, "id": 7}, "id", "wrong type"),
        ("just a string", None, "row is not a JSON object"),
    ],
)
def test_bad_row_is_quarantined_and_good_rows_survive(tmp_path, row, field, reason):
    parsed = _parse(tmp_path, [GOOD, row, {**GOOD, "question": "other?"}])
    assert [r["question"] for r in parsed.rows] == ["q?", "other?"]
    (record,) = parsed.quarantine
    assert (record.file, record.row, record.field) == ("faq.json", 2, field)
    assert reason in record.reason


def test_duplicate_ids_quarantine_the_later_row(tmp_path):
    parsed = _parse(tmp_path, [{**GOOD, "id": "a"}, {**GOOD, "id": "a", "question": "x?"}])
    assert [r["id"] for r in parsed.rows] == ["a"]
    assert parsed.quarantine[0].field == "id" and "first seen at row 1" in parsed.quarantine[0].reason


def test_identical_content_without_id_is_a_duplicate(tmp_path):
    parsed = _parse(tmp_path, [GOOD, dict(GOOD)])
    assert len(parsed.rows) == 1 and "duplicate id" in parsed.quarantine[0].reason


def test_derived_ids_are_stable_and_content_based(tmp_path):
    first = _parse(tmp_path, TINY_FAQ).rows
    second = _parse(tmp_path, list(reversed(TINY_FAQ))).rows
    assert {r["id"] for r in first} == {r["id"] for r in second}
    assert all(r["id"].startswith("faq-") and r["tenant"] == "acme" for r in first)


def test_non_utf8_text_is_quarantined_per_field(tmp_path):
    good = json.dumps(GOOD).encode()
    bad = json.dumps({**GOOD, "answer": "PLACEHOLDER"}).encode().replace(b"PLACEHOLDER", b"caf\xe9")
    (tmp_path / "faq.json").write_bytes(b"[" + good + b"," + bad + b"]")
    parsed = parse_faq(tmp_path, "acme")
    assert len(parsed.rows) == 1
    assert parsed.quarantine[0].field == "answer" and "not valid UTF-8" in parsed.quarantine[0].reason


def test_jsonl_malformed_line_is_one_bad_row(tmp_path):
    (tmp_path / "faq.jsonl").write_text(json.dumps(GOOD) + "\n{not json\n" + json.dumps({**GOOD, "question": "b?"}) + "\n")
    parsed = parse_faq(tmp_path, "acme")
    assert len(parsed.rows) == 2
    assert parsed.quarantine[0].row == 2 and "malformed JSON" in parsed.quarantine[0].reason


@pytest.mark.parametrize("content, message", [(b"[{", "malformed JSON"), (b'{"a": 1}', "expected a JSON list")])
def test_unparseable_file_is_a_whole_file_error(tmp_path, content, message):
    (tmp_path / "faq.json").write_bytes(content)
    with pytest.raises(InputFileError, match=message) as info:
        parse_faq(tmp_path, "acme")
    assert info.value.file.endswith("faq.json")


def test_missing_faq_file_and_optional_eval_file(tmp_path):
    with pytest.raises(InputFileError, match="file not found"):
        parse_faq(tmp_path, "acme")
    assert parse_eval_queries(tmp_path).rows == []


def test_eval_queries_validation(tmp_path):
    write_json(tmp_path / "eval_queries.json", [{"query": "a", "language": "en", "annotation": "x"},
                                                {"query": "b", "language": "de", "annotation": "x"},
                                                {"language": "en", "annotation": "x"}])
    parsed = parse_eval_queries(tmp_path)
    assert len(parsed.rows) == 1
    assert [(q.file, q.row, q.field) for q in parsed.quarantine] == [("eval_queries.json", 2, "language"),
                                                                    ("eval_queries.json", 3, "query")]
