"""ClipImageEncoder loads a real (tiny, random) transformers CLIP checkpoint from a local folder."""

import string
from pathlib import Path

import numpy as np
import pytest

from mm_platform.encoders.vision import ClipImageEncoder

IMAGE_SIZE, PROJECTION_DIM = 32, 16


def _tiny_tokenizer():
    from transformers import CLIPTokenizer

    specials = ["<|startoftext|>", "<|endoftext|>"]
    characters = list(string.ascii_lowercase + string.digits + string.punctuation)
    tokens = specials + characters + [c + "</w>" for c in characters]
    return CLIPTokenizer(vocab={token: i for i, token in enumerate(tokens)}, merges=[])


def _save_tiny_clip(folder: Path) -> None:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tokenizer = _tiny_tokenizer()
    layers = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37}
    config = CLIPConfig(
        text_config={**layers, "vocab_size": len(tokenizer), "max_position_embeddings": 32,
                     "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                     "pad_token_id": tokenizer.pad_token_id},
        vision_config={**layers, "image_size": IMAGE_SIZE, "patch_size": 8},
        projection_dim=PROJECTION_DIM,
    )
    CLIPModel(config).save_pretrained(folder)
    image_processor = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                                         crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> ClipImageEncoder:
    folder = tmp_path_factory.mktemp("models") / "tiny-clip"
    _save_tiny_clip(folder)
    return ClipImageEncoder(folder, batch_size=2, threads=1)


def _images(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (512, 512, 3), dtype=np.uint8) for _ in range(n)]


def test_images_become_unit_vectors_deterministically(encoder: ClipImageEncoder):
    images = _images(3)  # 3 images, batch size 2: two batches
    vectors = encoder.encode_images(images)
    assert vectors.shape == (3, PROJECTION_DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(encoder.encode_images(images), vectors, atol=1e-6)
    assert not np.allclose(vectors[0], vectors[1])


def test_texts_share_the_image_space(encoder: ClipImageEncoder):
    assert encoder.cross_modal and encoder.dim == PROJECTION_DIM
    texts = encoder.encode_texts(["a red phone case", "wireless earbuds", "refund"])
    assert texts.shape == (3, PROJECTION_DIM)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, rtol=1e-5)
    assert encoder.encode_texts([]).shape == (0, PROJECTION_DIM)


def test_identity_is_recorded_in_spec_and_key(encoder: ClipImageEncoder):
    spec = encoder.spec()
    assert encoder.name == "clip/tiny-clip" and len(encoder.version) == 12
    assert spec["version"] == encoder.version and spec["dim"] == PROJECTION_DIM
    assert Path(spec["model_path"]).is_absolute() and (Path(spec["model_path"]) / "config.json").is_file()
    assert encoder.version in encoder.key


def test_folder_without_config_is_refused(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="config.json missing"):
        ClipImageEncoder(tmp_path)
