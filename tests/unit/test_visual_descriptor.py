"""The weight-free visual descriptor: shape of its vectors, determinism, robustness to photo perturbations."""

from __future__ import annotations

import random

import numpy as np
import pytest

from mm_platform.demo.faq_content import CONTENT
from mm_platform.demo.media import _product, draw_product, perturb_photo
from mm_platform.encoders.base import ImageEncoder
from mm_platform.encoders.vision import VisualDescriptorEncoder


@pytest.fixture(scope="module")
def encoder() -> VisualDescriptorEncoder:
    return VisualDescriptorEncoder()


@pytest.fixture(scope="module")
def pictures() -> list[np.ndarray]:
    """Eight products of one entity family plus others: same label, different variants."""
    rng = random.Random("visual-descriptor-test")
    entities = CONTENT["ecommerce"].entities
    variants = [
        ("red", "circle", "dots"), ("red", "circle", "stripes"), ("blue", "circle", "dots"),
        ("green", "star", "checks"), ("yellow", "hexagon", "gradient"), ("navy", "square", "waves"),
        ("pink", "triangle", "plain"), ("red", "capsule", "dots"),
    ]
    return [draw_product(_product(rng, entities[i % 3], *v)) for i, v in enumerate(variants)]


def test_identity_and_vectors(encoder, pictures):
    assert isinstance(encoder, ImageEncoder)
    assert encoder.name == "visual-descriptor"
    assert encoder.version.startswith("v1-") and len(encoder.version) > 3
    assert encoder.cross_modal is False
    assert encoder.spec() == {"name": "visual-descriptor", "version": encoder.version, "dim": encoder.dim}
    vectors = encoder.encode_images(pictures)
    assert vectors.shape == (len(pictures), encoder.dim) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.encode_images([]).shape == (0, encoder.dim)
    with pytest.raises(NotImplementedError):
        encoder.encode_texts(["a red phone"])


def test_deterministic(encoder, pictures):
    a = encoder.encode_images(pictures)
    b = VisualDescriptorEncoder().encode_images([p.copy() for p in pictures])
    assert np.array_equal(a, b)
    assert VisualDescriptorEncoder().version == encoder.version


def test_perturbed_photo_is_nearest_to_its_product(encoder, pictures):
    index = encoder.encode_images(pictures)
    rng = random.Random(7)
    nrng = np.random.default_rng(7)
    for trial in range(3):
        photos = [perturb_photo(p, rng, nrng)[0] for p in pictures]
        scores = encoder.encode_images(photos) @ index.T
        assert list(np.argmax(scores, axis=1)) == list(range(len(pictures))), f"trial {trial}: {scores.round(3)}"


def test_brightness_changes_little(encoder, pictures):
    picture = pictures[0]
    brighter = np.clip(picture.astype(np.float32) * 1.25, 0, 255).astype(np.uint8)
    darker = (picture.astype(np.float32) * 0.75).astype(np.uint8)
    v = encoder.encode_images([picture, brighter, darker, pictures[1]])
    assert v[0] @ v[1] > v[0] @ v[3] and v[0] @ v[2] > v[0] @ v[3]


def test_accepts_other_sizes_and_grey(encoder):
    rgb = np.zeros((300, 400, 3), np.uint8)
    rgb[:, :200] = (200, 30, 30)
    grey = np.full((512, 512), 128, np.uint8)
    vectors = encoder.encode_images([rgb, grey])
    assert vectors.shape == (2, encoder.dim) and np.all(np.isfinite(vectors))
