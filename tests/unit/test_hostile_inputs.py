"""Hostile but honest input: every bad input named (file, row, field) while the good rows go on,
and nothing read from outside the tenant's own folder."""

import json
import os

import pytest

from mm_platform import pipeline
from mm_platform.inputs.tenancy import Layout, TenantError
from mm_platform.inputs.tenant_config import load_tenant_config
from mm_platform.inputs.validation import InputFileError
from mm_platform.modalities.faq import FaqModality
from mm_platform.modalities.image import ImageModality
from tests.conftest import TINY_EVAL, TINY_FAQ, write_json

FAQ = FaqModality()


def quarantined(layout: Layout, tenant: str, modality: str = "faq") -> list[dict]:
    path = layout.quarantine_dir(tenant) / f"{modality}.jsonl"
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()] if path.exists() else []


def test_input_files_linked_to_another_tenant_are_refused(layout):
    write_json(layout.tenant_data("victim") / "faq.json", TINY_FAQ)
    write_json(layout.tenant_data("victim") / "eval_queries.json", TINY_EVAL)
    thief = layout.tenant_data("thief")
    thief.mkdir(parents=True)
    (thief / "faq.json").symlink_to(layout.tenant_data("victim") / "faq.json")
    with pytest.raises(InputFileError, match="faq.json.*outside the tenant folder"):
        pipeline.validate(layout, "thief", FAQ)
    (thief / "faq.json").unlink()
    write_json(thief / "faq.json", TINY_FAQ)
    (thief / "eval_queries.json").symlink_to(layout.tenant_data("victim") / "eval_queries.json")
    with pytest.raises(InputFileError, match="eval_queries.json.*outside the tenant folder"):
        pipeline.validate(layout, "thief", FAQ)


def test_tenant_folder_linked_out_of_the_data_dir_is_refused(tmp_path):
    outside = tmp_path / "elsewhere" / "secrets"
    write_json(outside / "faq.json", TINY_FAQ)
    layout = Layout(tmp_path / "data", tmp_path / "storage")
    layout.data_dir.mkdir()
    (layout.data_dir / "sneaky").symlink_to(outside, target_is_directory=True)
    with pytest.raises(TenantError, match="outside the data folder"):
        layout.tenant_data("sneaky")
    with pytest.raises(TenantError):
        pipeline.validate(layout, "sneaky", FAQ)


def test_undecodable_bytes_and_lone_surrogates_quarantine_their_row_only(layout):
    rows = [dict(r) for r in TINY_FAQ]
    raw = json.dumps(rows, ensure_ascii=False).encode("utf-8")
    # row 1: an invalid byte inside the optional `entity`; row 2: a lone surrogate escape
    rows[0]["entity"] = "BADBYTE"
    rows[1]["entity"] = "\ud800"
    raw = json.dumps(rows, ensure_ascii=True).encode().replace(b"BADBYTE", b"x\xff\xfey")
    path = layout.tenant_data("acme") / "faq.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(raw)
    write_json(layout.tenant_data("acme") / "eval_queries.json", TINY_EVAL)
    ref = pipeline.validate(layout, "acme", FAQ)
    assert ref["rows"] == len(TINY_FAQ) - 2
    faq_records = [q for q in quarantined(layout, "acme") if q["file"] == "faq.json"]
    assert {(q["row"], q["field"]) for q in faq_records} == {(1, "entity"), (2, "entity")}
    assert all("UTF-8" in q["reason"] for q in faq_records)


def test_deeply_nested_json_is_a_named_error_not_a_crash(layout):
    folder = layout.tenant_data("acme")
    folder.mkdir(parents=True)
    (folder / "faq.json").write_text("[" * 100_000 + "]" * 100_000, "utf-8")
    with pytest.raises(InputFileError, match="nested too deeply"):
        pipeline.validate(layout, "acme", FAQ)
    (folder / "faq.json").unlink()
    lines = [json.dumps(r, ensure_ascii=False) for r in TINY_FAQ] + ['{"question": ' + "[" * 100_000 + "]" * 100_000 + "}"]
    (folder / "faq.jsonl").write_text("\n".join(lines), "utf-8")
    ref = pipeline.validate(layout, "acme", FAQ)
    assert ref["rows"] == len(TINY_FAQ)
    (record,) = quarantined(layout, "acme")
    assert record["row"] == len(TINY_FAQ) + 1 and "nested too deeply" in record["reason"]


def _image_tenant(layout: Layout, lines: list[str]) -> None:
    from tests.media_factory import write_image

    folder = layout.tenant_data("shop")
    (folder / "images").mkdir(parents=True)
    for i, name in enumerate(("a", "b", "c", "d")):
        write_image(folder / "images" / f"{name}.png", colour=(40 * i, 200 - 30 * i, 90), fmt="PNG")
    (folder / "images.csv").write_text("\n".join(["image_path,description,language,annotation", *lines]) + "\n", "utf-8")


def test_csv_with_a_huge_cell_and_an_unterminated_quote_loses_only_those_rows(layout):
    huge = "x" * 200_000
    _image_tenant(layout, [
        "images/a.png,red kettle,en,kettle",
        f"images/b.png,{huge},en,kettle",
        'images/c.png,"blue mug,en,mug',
        "images/c.png,blue mug,en,mug",
        "images/d.png,green lamp,en,lamp",
    ])
    parsed = ImageModality().parse(layout.tenant_data("shop"), "shop")
    assert sorted(r["image_path"] for r in parsed.rows) == ["images/a.png", "images/c.png", "images/d.png"]
    reasons = {q.row: q.reason for q in parsed.quarantine}
    assert set(reasons) == {3, 4}
    assert "200,000 characters" in reasons[3] and "unterminated quote" in reasons[4]


def test_eval_query_with_an_unknown_annotation_is_quarantined_by_name(layout, tiny_tenant):
    queries = TINY_EVAL + [{"query": "Do you sell gift cards?", "language": "en", "annotation": "Gift cards"}]
    write_json(layout.tenant_data(tiny_tenant) / "eval_queries.json", queries)
    ref = pipeline.validate(layout, tiny_tenant, FAQ)
    assert ref["quarantined_eval_queries"] == 1
    (record,) = [q for q in quarantined(layout, tiny_tenant) if q["file"] == "eval_queries.json"]
    assert record["row"] == len(queries) and record["field"] == "annotation" and "'Gift cards'" in record["reason"]


@pytest.mark.parametrize("text, message", [
    ("modalities: [fqa]\n", "unknown 'fqa'"),
    ("gates: {min_f1: 5}\n", "min_f1"),
    ("gates: {max_latency_p95_ms: -1}\n", "max_latency_p95_ms"),
    ("gates: {faq: {min_recall_at_1: 1.5}}\n", "min_recall_at_1"),
    ("gates: {min_n: 0}\n", "min_n"),
])
def test_impossible_tenant_settings_are_refused_by_name(tmp_path, text, message):
    (tmp_path / "tenant.yaml").write_text(text, "utf-8")
    with pytest.raises(InputFileError, match=message):
        load_tenant_config(tmp_path)


def test_a_deleted_input_file_is_a_warning_while_live_stays_live(layout, tiny_tenant):
    from mm_platform.indexing.versions import MANIFEST_FILE

    store = pipeline.index_store(layout, tiny_tenant)
    (store.version_dir("v1")).mkdir(parents=True)
    (store.version_dir("v1") / MANIFEST_FILE).write_text("{}", "utf-8")
    store.promote("v1", "run-1")
    os.remove(layout.tenant_data(tiny_tenant) / "faq.json")
    ref = pipeline.validate(layout, tiny_tenant, FAQ)
    assert pipeline.absent(ref) and ref["live_version"] == "v1"
    assert "faq.json" in ref["warning"] and "stays live" in ref["warning"]
    assert store.live_version() == "v1"


def test_tenant_model_path_gets_the_registry_safety_checks(layout, tiny_tenant, tmp_path):
    from mm_platform.registry.common import UnsafeModelError

    folder = tmp_path / "evil-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"auto_map": {"AutoModel": "x.Model"}}), "utf-8")
    (folder / "model.safetensors").write_bytes(b"\x00" * 16)
    (layout.tenant_data(tiny_tenant) / "tenant.yaml").write_text(
        f"models:\n  text: {{name: sentence-transformers, model_path: {folder}}}\n", "utf-8")
    with pytest.raises(UnsafeModelError, match="auto_map"):
        pipeline.tenant_models(layout, tiny_tenant)
    (layout.tenant_data(tiny_tenant) / "tenant.yaml").write_text(
        f"models:\n  text: {{name: sentence-transformers, model_path: {tmp_path / 'missing'}}}\n", "utf-8")
    with pytest.raises(Exception, match="does not exist"):
        pipeline.tenant_models(layout, tiny_tenant)


def test_picklescan_flags_a_dangerous_pickle(tmp_path):
    import pickle

    from mm_platform.registry.common import UnsafeModelError
    from mm_platform.registry.safety import check_model_folder

    class Boom:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    (tmp_path / "weights.pkl").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(UnsafeModelError) as info:
        check_model_folder(tmp_path, "sentence-transformers")
    assert "picklescan" in str(info.value) and "system" in str(info.value)
