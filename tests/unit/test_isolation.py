"""The isolation canary finds a foreign row or a path outside the tenant's folder."""

import os

import numpy as np

from mm_platform import pipeline
from mm_platform.indexing.versions import build_index_version
from mm_platform.modalities.faq import FaqModality
from tests.conftest import TINY_EVAL, TINY_FAQ, write_json
from tests.fakes import CountingEncoder


def _index(layout, rows, monkeypatch):
    encoder = CountingEncoder()
    monkeypatch.setattr("mm_platform.encoders.models.load_exact", lambda role, spec: encoder)
    vectors = encoder.encode([r["question"] for r in rows])
    return build_index_version(pipeline.index_store(layout, "acme").versions_root, rows, vectors,
                               {**encoder.spec(), "models": {"text": encoder.spec()}}, encoder.key, tenant="acme",
                               modality="faq", dataset_fingerprint="x")


def test_clean_index_has_no_leaks(layout, monkeypatch):
    write_json(layout.tenant_data("other") / "eval_queries.json", TINY_EVAL)
    ref = _index(layout, [{**r, "id": f"a{i}", "tenant": "acme"} for i, r in enumerate(TINY_FAQ)], monkeypatch)
    result = pipeline.isolation_canary(layout, "acme", FaqModality(), ref, ["other"])
    assert result == {"probes": 6, "leaks": 0, "leaked_ids": [], "paths_outside_tenant": []}


def test_foreign_row_and_escaping_link_are_reported(layout, monkeypatch):
    write_json(layout.tenant_data("other") / "eval_queries.json", TINY_EVAL)
    rows = [{**r, "id": f"a{i}", "tenant": "acme"} for i, r in enumerate(TINY_FAQ)]
    rows[2]["tenant"] = "other"
    ref = _index(layout, rows, monkeypatch)
    outside = layout.storage_dir / "other" / "secret"
    outside.parent.mkdir(parents=True)
    outside.write_text("x")
    os.symlink(outside, os.path.join(ref["path"], "link"))
    result = pipeline.isolation_canary(layout, "acme", FaqModality(), ref, ["other"])
    assert result["leaks"] >= 1 and "a2" in result["leaked_ids"]
    assert result["paths_outside_tenant"] == [os.path.join(ref["path"], "link")]
    assert np.isfinite(result["probes"])
