"""Image encoder backends."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from mm_platform.encoders.base import ImageEncoder, fingerprint_model_dir, normalize
from mm_platform.encoders.text import _threads

# --- CLIP (production: local checkpoint path) ---


class ClipImageEncoder(ImageEncoder):
    """A transformers CLIP checkpoint from a local folder: images and texts share one space."""

    cross_modal = True

    def __init__(self, model_path: str | os.PathLike, batch_size: int = 16, threads: int | None = None, **_: object):
        import torch
        from transformers import CLIPModel, CLIPProcessor

        path = Path(model_path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"no CLIP model at {path} (config.json missing)")
        torch.set_num_threads(_threads(threads))
        self.model_path = str(path.resolve())
        self.batch_size = batch_size
        self._model = CLIPModel.from_pretrained(self.model_path, local_files_only=True, trust_remote_code=False).eval()
        self._processor = CLIPProcessor.from_pretrained(self.model_path, local_files_only=True, trust_remote_code=False)
        self.name = "clip/" + Path(self.model_path).name
        self.version = fingerprint_model_dir(path)
        self.dim = int(self._model.config.projection_dim)
        self._max_text_tokens = int(self._model.config.text_config.max_position_embeddings)

    @staticmethod
    def _features(output) -> np.ndarray:
        # transformers 5 returns a model output with the projection in `pooler_output`; 4.x a tensor
        tensor = output if hasattr(output, "detach") else output.pooler_output
        return tensor.detach().float().numpy()

    def _encode_image_batch(self, images: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        inputs = self._processor(images=list(images), return_tensors="pt")
        with torch.no_grad():
            return self._features(self._model.get_image_features(pixel_values=inputs["pixel_values"]))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        for start in range(0, len(texts), self.batch_size):
            tokens = self._processor.tokenizer(
                texts[start : start + self.batch_size], padding=True, truncation=True,
                max_length=self._max_text_tokens, return_tensors="pt",
            )
            with torch.no_grad():
                output = self._model.get_text_features(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
            parts.append(self._features(output))
        return normalize(np.concatenate(parts).astype(np.float32, copy=False))

    def load_args(self) -> dict:
        return {"model_path": self.model_path}


# --- weight-free visual descriptor (embedded default) ---


class VisualDescriptorEncoder(ImageEncoder):
    """Hand-made image descriptor with OpenCV and numpy only: no weights, fast on CPU.

    Five blocks, each L2-normalised, weighted and concatenated (the base class normalises
    the result):

    * global colour: soft hue x saturation histogram of the chromatic pixels plus a
      brightness histogram of the grey ones, after a global gain normalisation (so a
      brighter or darker photo of the same thing keeps its histogram);
    * colour layout: coarser histograms of a 2x2 grid and a centre region;
    * fine structure: gradient-orientation histograms (HOG-like, soft-binned, unsigned)
      on a 4x4 grid of a 128 px greyscale;
    * coarse structure: the same on a 2x2 grid of a 64 px greyscale (shape outlines);
    * layout hash: the low 8x8 DCT coefficients of a 32 px greyscale (a real-valued
      perceptual hash), robust to blur and recompression.

    Histograms are power-normalised (square root) so a large flat background does not
    drown the object. Rotation of a few degrees, crops of ~10 %, blur, JPEG artefacts
    and +-25 % brightness move a photo far less than the gap between two products.
    Not cross-modal: text queries cannot search it.
    """

    name = "visual-descriptor"
    cross_modal = False

    PARAMS = {
        "size": 128,
        "hue_bins": 18,
        "sat_bins": 3,
        "gray_bins": 4,
        "layout_hue_bins": 8,
        "layout_sat_bins": 2,
        "layout_gray_bins": 3,
        "orient_bins": 9,
        "fine_grid": 4,
        "coarse_grid": 2,
        "dct": 8,
        "gain_percentile": 95,
        "weights": {"colour": 1.0, "layout": 1.0, "fine": 1.0, "coarse": 0.6, "dct": 0.6},
    }

    def __init__(self, batch_size: int = 64, **_: object):
        p = self.PARAMS
        self.batch_size = batch_size
        self._colour_dim = p["hue_bins"] * p["sat_bins"] + p["gray_bins"]
        self._layout_dim = 5 * (p["layout_hue_bins"] * p["layout_sat_bins"] + p["layout_gray_bins"])
        self._fine_dim = p["fine_grid"] ** 2 * p["orient_bins"]
        self._coarse_dim = p["coarse_grid"] ** 2 * p["orient_bins"]
        self._dct_dim = p["dct"] ** 2 - 1
        self.dim = self._colour_dim + self._layout_dim + self._fine_dim + self._coarse_dim + self._dct_dim
        digest = hashlib.sha256(json.dumps(p, sort_keys=True).encode()).hexdigest()[:8]
        self.version = f"v1-{digest}"

    def load_args(self) -> dict:
        return {}

    def _encode_image_batch(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([self.describe(image) for image in images]).astype(np.float32)

    # -- one image --

    def describe(self, image: np.ndarray) -> np.ndarray:
        """Weighted concatenation of the L2-normalised blocks (not yet normalised as a whole)."""
        import cv2

        p = self.PARAMS
        image = np.asarray(image)
        if image.ndim == 2:
            image = image[:, :, None]
        if image.ndim == 3 and image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        if image.ndim != 3 or image.shape[2] < 3:
            raise ValueError(f"expected an RGB image, got shape {image.shape}")
        image = np.ascontiguousarray(image[:, :, :3])
        if image.dtype != np.uint8:
            image = np.clip(image, 0, 255).astype(np.uint8)
        size = p["size"]
        small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        luma = small @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        # global gain normalisation: undoes exposure changes (clipped highlights aside)
        gain = 0.85 / max(float(np.percentile(luma, p["gain_percentile"])), 0.05)
        small = np.clip(small * gain, 0.0, 1.0)
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)  # H in [0, 360), S and V in [0, 1]
        gray = np.clip(luma * gain, 0.0, 1.0)
        half = cv2.resize(gray, (size // 2, size // 2), interpolation=cv2.INTER_AREA)
        w = p["weights"]
        blocks = [
            w["colour"] * self._l2(np.sqrt(self._colour_hist(hsv, p["hue_bins"], p["sat_bins"], p["gray_bins"]))),
            w["layout"] * self._l2(np.sqrt(self._layout(hsv))),
            w["fine"] * self._l2(np.sqrt(self._orientation_grid(gray, p["fine_grid"], p["orient_bins"]))),
            w["coarse"] * self._l2(np.sqrt(self._orientation_grid(half, p["coarse_grid"], p["orient_bins"]))),
            w["dct"] * self._l2(self._dct(gray)),
        ]
        return np.concatenate(blocks)

    @staticmethod
    def _colour_hist(hsv: np.ndarray, hue_bins: int, sat_bins: int, gray_bins: int) -> np.ndarray:
        """Soft-binned hue x saturation histogram of chromatic pixels + value histogram of grey ones."""
        h = hsv[..., 0].ravel() / 360.0
        s = hsv[..., 1].ravel()
        v = hsv[..., 2].ravel()
        chroma = np.clip((s - 0.12) / 0.16, 0, 1) * np.clip((v - 0.10) / 0.12, 0, 1)
        # hue: circular linear interpolation between bin centres
        hpos = h * hue_bins - 0.5
        h0 = np.floor(hpos)
        hf = hpos - h0
        h0 = h0.astype(np.int64) % hue_bins
        h1 = (h0 + 1) % hue_bins
        # saturation: clamped linear interpolation over [0.15, 1]
        spos = np.clip((s - 0.15) / 0.85, 0, 1) * sat_bins - 0.5
        spos = np.clip(spos, 0, sat_bins - 1)
        s0 = np.floor(spos).astype(np.int64)
        sf = spos - s0
        s1 = np.minimum(s0 + 1, sat_bins - 1)
        hist = np.zeros(hue_bins * sat_bins, dtype=np.float64)
        for hb, hw in ((h0, 1 - hf), (h1, hf)):
            for sb, sw in ((s0, 1 - sf), (s1, sf)):
                hist += np.bincount(hb * sat_bins + sb, weights=chroma * hw * sw, minlength=hue_bins * sat_bins)
        vpos = np.clip(v * gray_bins - 0.5, 0, gray_bins - 1)
        v0 = np.floor(vpos).astype(np.int64)
        vf = vpos - v0
        v1 = np.minimum(v0 + 1, gray_bins - 1)
        grey = 1 - chroma
        ghist = np.bincount(v0, weights=grey * (1 - vf), minlength=gray_bins) + np.bincount(
            v1, weights=grey * vf, minlength=gray_bins
        )
        out = np.concatenate([hist, ghist])
        return out / max(out.sum(), 1e-9)

    def _layout(self, hsv: np.ndarray) -> np.ndarray:
        p = self.PARAMS
        n = hsv.shape[0]
        half, quarter = n // 2, n // 4
        regions = [
            hsv[:half, :half], hsv[:half, half:], hsv[half:, :half], hsv[half:, half:],
            hsv[quarter : n - quarter, quarter : n - quarter],
        ]
        return np.concatenate(
            [self._colour_hist(r, p["layout_hue_bins"], p["layout_sat_bins"], p["layout_gray_bins"]) for r in regions]
        )

    def _dct(self, gray: np.ndarray) -> np.ndarray:
        import cv2

        k = self.PARAMS["dct"]
        tiny = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA)
        coeffs = cv2.dct(tiny.astype(np.float32))[:k, :k].ravel()
        return coeffs[1:]

    @staticmethod
    def _l2(vector: np.ndarray) -> np.ndarray:
        vector = np.asarray(vector, dtype=np.float64)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector


    @staticmethod
    def _orientation_grid(gray: np.ndarray, grid: int, bins: int) -> np.ndarray:
        """Magnitude-weighted, soft-binned unsigned gradient orientations per grid cell."""
        import cv2

        smooth = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 1.0)
        gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
        mag = np.sqrt(gx * gx + gy * gy)
        angle = (np.arctan2(gy, gx) % np.pi) / np.pi * bins - 0.5
        a0 = np.floor(angle)
        af = angle - a0
        a0 = a0.astype(np.int64) % bins
        a1 = (a0 + 1) % bins
        n = gray.shape[0]
        cell = np.minimum(np.arange(n) * grid // n, grid - 1)
        cell_index = (cell[:, None] * grid + cell[None, :]).astype(np.int64)
        hist = np.bincount((cell_index * bins + a0).ravel(), weights=(mag * (1 - af)).ravel(), minlength=grid * grid * bins)
        hist += np.bincount((cell_index * bins + a1).ravel(), weights=(mag * af).ravel(), minlength=grid * grid * bins)
        return hist / max(hist.sum(), 1e-9)
