"""Quantized checkpoints and how they compare with the model they came from.

- `quantize_int8_onnx` (`int8_onnx`): ONNX + onnxruntime int8; the fast CPU path.
- `quantize_bnb` / `load_bnb` (`bnb`): bitsandbytes NF4 / 8-bit; the GPU path.
- `measure` / `measure_asr` (`measure`): size, speed and fidelity against the reference.

No Dagster here; nothing loads with `trust_remote_code`.
"""

from mm_platform.encoders.base import directory_size
from mm_platform.encoders.quantization.bnb import BnbTextEncoder, bnb_config, load_bnb, quantize_bnb
from mm_platform.encoders.quantization.int8_onnx import per_token_activation_scales, quantize_int8_onnx
from mm_platform.encoders.quantization.layout import QuantizationError, describe_sentence_model
from mm_platform.encoders.quantization.measure import measure, measure_asr, model_size

__all__ = ["BnbTextEncoder", "QuantizationError", "bnb_config", "describe_sentence_model", "directory_size",
           "load_bnb", "measure", "measure_asr", "model_size", "per_token_activation_scales", "quantize_bnb",
           "quantize_int8_onnx"]
