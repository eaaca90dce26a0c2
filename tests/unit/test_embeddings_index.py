"""Incremental embeddings, immutable index versions, the live pointer and its audit log."""

import json

import numpy as np
import pytest

from mm_platform.atomic import publish_dir
from mm_platform.indexing.embeddings import embed_incremental, load_embeddings
from mm_platform.indexing.store import IndexStore
from mm_platform.indexing.versions import IndexHandle, build_index_version
from tests.fakes import CountingEncoder


def _embed(texts, encoder, root):
    return embed_incremental(texts, lambda idx: encoder.encode([texts[i] for i in idx]), dim=encoder.dim,
                             key=encoder.key, spec=encoder.spec(), encoder_root=root)


def test_only_new_content_is_encoded(tmp_path):
    encoder = CountingEncoder()
    texts = [f"question {i}" for i in range(10)]
    first = _embed(texts, encoder, tmp_path)
    assert (first["computed"], first["reused"]) == (10, 0)
    changed = texts[:3] + ["a changed question"] + texts[4:]
    encoder.encoded.clear()
    second = _embed(changed, encoder, tmp_path)
    assert (second["computed"], second["reused"]) == (1, 9)
    assert encoder.encoded == ["a changed question"]
    hashes, vectors = load_embeddings(second["path"])
    assert hashes == changed and vectors.shape == (10, 16)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    _, old = load_embeddings(first["path"])
    np.testing.assert_array_equal(old[:3], vectors[:3])


def test_a_different_encoder_version_does_not_reuse(tmp_path):
    texts = ["a", "b"]
    _embed(texts, CountingEncoder(), tmp_path / "v1")
    other = CountingEncoder()
    other.version = "2"
    assert _embed(texts, other, tmp_path / other.key)["computed"] == 2


def _rows(n, tenant="acme"):
    langs = ["zh", "en", "ja"]
    return [{"id": f"r{i}", "question": f"q{i}", "answer": f"a{i}", "language": langs[i % 3], "annotation": f"x{i % 4}",
             "tenant": tenant} for i in range(n)]


def _build(root, rows, seed=0, index_type="flat"):
    vectors = np.random.default_rng(seed).standard_normal((len(rows), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ref = build_index_version(root, rows, vectors, {"name": "t", "version": "1", "dim": 8}, "t@1",
                              tenant="acme", modality="faq", dataset_fingerprint="fp", index_type=index_type)
    return ref, vectors


def test_index_version_is_immutable_and_content_addressed(tmp_path):
    rows = _rows(30)
    ref, vectors = _build(tmp_path, rows)
    again, _ = _build(tmp_path, rows)
    assert again["version"] == ref["version"] and again["reused"]
    other, _ = _build(tmp_path, rows, seed=1)
    assert other["version"] != ref["version"]
    handle = IndexHandle(ref["path"])
    assert handle.index.ntotal == 30 and handle.manifest["encoder_key"] == "t@1"
    # a row's own vector finds itself first; a language filter only returns that language
    row_of = {r["id"]: i for i, r in enumerate(rows)}
    hits = handle.search(vectors[[row_of["r4"]]], k=3)[0]
    assert hits[0].row["id"] == "r4" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    ja_hits = handle.search(vectors[:5], k=5, language="ja")
    assert all(h.row["language"] == "ja" for hits in ja_hits for h in hits)
    assert handle.search(vectors[:1], k=5, language="ko") == [[]]


def test_approximate_index_is_kept_only_when_recall_passes(tmp_path):
    ref, _ = _build(tmp_path, _rows(300), index_type="hnsw")
    assert ref["requested_index_type"] == "hnsw"
    assert ref["approx_recall_at_10"] is not None
    assert ref["index_type"] == ("hnsw" if ref["approx_recall_at_10"] >= 0.99 else "flat")


def test_failed_publish_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with publish_dir(tmp_path / "v1") as staging:
            (staging / "partial").write_text("x")
            raise RuntimeError("killed mid-build")
    assert list(tmp_path.iterdir()) == []


def test_promote_rollback_prune_and_audit(tmp_path):
    store = IndexStore(tmp_path / "indexes", "acme", "faq")
    versions = [_build(store.versions_root, _rows(9), seed=s)[0]["version"] for s in range(4)]
    assert store.live() is None
    store.promote(versions[0], "run-a", {"f1_macro": 0.9})
    assert store.promote(versions[0], "run-a2") is None  # already live: no swap, no log entry
    store.promote(versions[1], "run-b", {"f1_macro": 0.95})
    assert store.live_version() == versions[1] and store.live()["previous"] == [versions[0]]
    entry = store.rollback("run-c", reason="bad answers reported")
    assert (entry["from"], entry["to"], store.live_version()) == (versions[1], versions[0], versions[0])
    with pytest.raises(RuntimeError, match="no previous version"):
        store.rollback("run-d")
    history = store.history()
    assert [(h["action"], h["to"]) for h in history] == [("promote", versions[0]), ("promote", versions[1]),
                                                         ("rollback", versions[0])]
    assert history[1]["metrics"] == {"f1_macro": 0.95} and history[2]["reason"] == "bad answers reported"
    store.promote(versions[2], "run-e")
    store.promote(versions[3], "run-f", keep=2)
    remaining = sorted(p.name for p in store.versions_root.iterdir())
    assert versions[3] in remaining and versions[2] in remaining and len(remaining) == 2
    assert json.loads((store.root / "LIVE.json").read_text())["version"] == versions[3]


def test_promote_unknown_version_changes_nothing(tmp_path):
    store = IndexStore(tmp_path / "indexes", "acme", "faq")
    with pytest.raises(FileNotFoundError):
        store.promote("doesnotexist", "run")
    assert store.live() is None and store.history() == []
