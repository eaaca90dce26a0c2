"""bitsandbytes 4-bit NF4 and 8-bit checkpoints (encoders and causal LMs) through transformers'
`BitsAndBytesConfig`, saved as safetensors, and the text encoder that loads them."""


import json
import os
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from mm_platform.encoders.base import TextEncoder, fingerprint_model_dir
from mm_platform.encoders.onnx_int8 import pool
from mm_platform.encoders.quantization.layout import (
    TOKENIZER_FILES,
    QuantizationError,
    _bundled_languages,
    _copy_sentence_modules,
    _copy_tokenizer,
    _publish,
    _read_json,
    _read_json_list,
    _staging,
    describe_sentence_model,
)
from mm_platform.encoders.text import _threads


def _device_map() -> str:
    import torch

    return "auto" if torch.cuda.is_available() else "cpu"


def bnb_config(bits: int):
    import torch
    from transformers import BitsAndBytesConfig

    if bits == 4:
        compute = torch.float16 if torch.cuda.is_available() else torch.float32
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute)
    if bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    raise ValueError(f"bits must be 4 or 8, not {bits!r}")


def _guard_cpu_4bit_packing(model) -> int:
    """bitsandbytes 0.50 repacks 4-bit weights for AVX512-BF16 CPUs on the first no-grad forward,
    and that repacking fails for layers whose input width is not a multiple of the quantization
    block (64) or whose output width is not a multiple of 32 (tiny models). Those layers keep the
    generic 4-bit kernel; returns how many were switched."""
    try:
        from bitsandbytes.nn import Linear4bit
    except ImportError:
        return 0
    switched = 0
    for module in model.modules():
        if not isinstance(module, Linear4bit) or not getattr(module, "support_avx512bf16_for_cpu", False):
            continue
        state = getattr(module.weight, "quant_state", None)
        block = int(getattr(state, "blocksize", 64) or 64)
        if module.in_features % block or module.in_features < block or module.out_features % 32 or module.in_features % 2:
            module.support_avx512bf16_for_cpu = False
            switched += 1
    return switched


def _auto_class(kind: str):
    from transformers import AutoModel, AutoModelForCausalLM

    if kind == "encoder":
        return AutoModel
    if kind == "causal_lm":
        return AutoModelForCausalLM
    raise ValueError(f"kind must be 'encoder' or 'causal_lm', not {kind!r}")


class BnbTextEncoder(TextEncoder):
    """A bitsandbytes-quantized transformer encoder scored like a sentence-transformers model
    (pooling with the attention mask, then L2 normalisation). Not a registered backend."""

    def __init__(self, model_path: str | os.PathLike, model=None, batch_size: int = 64, threads: int | None = None, **_: object):
        import torch
        from transformers import AutoTokenizer

        path = Path(model_path)
        torch.set_num_threads(_threads(threads))
        info = describe_sentence_model(path)
        self.model_path = str(path.resolve())
        self.batch_size = batch_size
        self.pooling = info["pooling"]
        self.max_seq_length = info["max_seq_length"]
        if model is None:
            model = _auto_class("encoder").from_pretrained(str(info["transformer_dir"]), device_map=_device_map(),
                                                           local_files_only=True, trust_remote_code=False)
        _guard_cpu_4bit_packing(model)
        self._model = model.eval()
        self._tokenizer = AutoTokenizer.from_pretrained(str(info["transformer_dir"]), local_files_only=True,
                                                        trust_remote_code=False)
        quant = (info["config"].get("quantization_config") or {})
        bits = 4 if quant.get("load_in_4bit") or quant.get("_load_in_4bit") else 8 if quant else 32
        self.name = f"bnb-{bits}bit/{path.resolve().name}"
        self.version = fingerprint_model_dir(path)
        self.dim = int(info["config"]["hidden_size"])
        langs = _read_json(path / "quantization.json").get("languages")
        self.languages = tuple(langs) if langs else None

    def _encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        tokens = self._tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_seq_length,
                                 return_tensors="pt")
        device = next(self._model.parameters()).device
        with torch.no_grad():
            hidden = self._model(**{k: v.to(device) for k, v in tokens.items()}).last_hidden_state
        return pool(hidden.float().cpu().numpy(), tokens["attention_mask"].numpy(), self.pooling)

    def load_args(self) -> dict:
        return {"model_path": self.model_path}


def load_bnb(model_dir: str | os.PathLike, kind: str = "encoder", threads: int | None = None):
    """Load a folder `quantize_bnb` wrote (its config carries the quantization): a
    `BnbTextEncoder` for encoders, the transformers model for causal LMs."""
    import torch

    torch.set_num_threads(_threads(threads))
    if kind == "encoder":
        return BnbTextEncoder(model_dir, threads=threads)
    model = _auto_class(kind).from_pretrained(str(model_dir), device_map=_device_map(), local_files_only=True,
                                              trust_remote_code=False)
    _guard_cpu_4bit_packing(model)
    return model.eval()


def quantize_bnb(model_dir: str | os.PathLike, out_dir: str | os.PathLike, bits: int = 4, kind: str = "encoder",
                 threads: int | None = None, languages: Sequence[str] | None = None):
    """Quantize with bitsandbytes (4-bit NF4, or 8-bit LLM.int8) via transformers, save as
    safetensors into `out_dir` (with tokenizer and sentence-transformers module files), reload
    it through `load_bnb` and return the reloaded model."""
    import torch

    torch.set_num_threads(_threads(threads))
    config = bnb_config(bits)
    source = Path(model_dir)
    if kind == "encoder":
        info = describe_sentence_model(source)
        transformer_dir, root = info["transformer_dir"], info["root"]
    else:
        transformer_dir = root = source
        if "auto_map" in _read_json(source / "config.json"):
            raise QuantizationError(f"{source}: config.json has auto_map (custom code); refusing to load it")
    model = _auto_class(kind).from_pretrained(str(transformer_dir), quantization_config=config,
                                              device_map=_device_map(), local_files_only=True, trust_remote_code=False)
    out_dir = Path(out_dir)
    staging = _staging(out_dir)
    try:
        model.save_pretrained(str(staging), safe_serialization=True)
        del model
        if any((transformer_dir / f).is_file() for f in TOKENIZER_FILES):
            _copy_tokenizer(transformer_dir, staging)
        if kind == "encoder":
            _copy_sentence_modules(root, staging)
            if transformer_dir != root:  # the transformer now sits at the root of out_dir
                modules = _read_json_list(staging / "modules.json")
                for module in modules:
                    if module.get("type", "").endswith(".Transformer"):
                        module["path"] = ""
                (staging / "modules.json").write_text(json.dumps(modules, indent=2), "utf-8")
                if (transformer_dir / "sentence_bert_config.json").is_file():
                    shutil.copy2(transformer_dir / "sentence_bert_config.json", staging / "sentence_bert_config.json")
        method = "bitsandbytes-nf4" if bits == 4 else "bitsandbytes-int8"
        meta = {"method": method, "bits": bits, "kind": kind, "source_fingerprint": fingerprint_model_dir(source),
                "languages": list(languages) if languages else _bundled_languages(source)}
        (staging / "quantization.json").write_text(json.dumps(meta, indent=1), "utf-8")
        _publish(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return load_bnb(out_dir, kind, threads=threads)
