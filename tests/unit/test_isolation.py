"""The isolation canary finds a foreign row or a path outside the tenant's folder."""

import os

import numpy as np

from mm_platform import pipeline
from mm_platform.index import build_index_version

from ..conftest import TINY_FAQ, write_json
from ..fakes import CountingEncoder


def _index(layout, rows):
    encoder = CountingEncoder()
    vectors = encoder.encode([r["question"] for r in rows])
    return build_index_version(pipeline.index_store(layout, "acme").versions_root, rows, vectors, encoder.spec(),
                               encoder.key, tenant="acme", modality="faq", dataset_fingerprint="x"), encoder


def test_clean_index_has_no_leaks(layout):
    write_json(layout.tenant_data("other") / "faq.json", TINY_FAQ)
    ref, encoder = _index(layout, [{**r, "id": f"a{i}", "tenant": "acme"} for i, r in enumerate(TINY_FAQ)])
    result = pipeline.isolation_canary(layout, "acme", ref, encoder, ["other"])
    assert result == {"probes": 6, "leaks": 0, "leaked_ids": [], "paths_outside_tenant": []}


def test_foreign_row_and_escaping_link_are_reported(layout):
    write_json(layout.tenant_data("other") / "faq.json", TINY_FAQ)
    rows = [{**r, "id": f"a{i}", "tenant": "acme"} for i, r in enumerate(TINY_FAQ)]
    rows[2]["tenant"] = "other"
    ref, encoder = _index(layout, rows)
    outside = layout.storage_dir / "other" / "secret"
    outside.parent.mkdir(parents=True)
    outside.write_text("x")
    os.symlink(outside, os.path.join(ref["path"], "link"))
    result = pipeline.isolation_canary(layout, "acme", ref, encoder, ["other"])
    assert result["leaks"] >= 1 and "a2" in result["leaked_ids"]
    assert result["paths_outside_tenant"] == [os.path.join(ref["path"], "link")]
    assert np.isfinite(result["probes"])
