"""The sentence-transformers folder a quantized checkpoint is written as: tokenizer and modules copied,
staged and published atomically."""


import json
import os
import shutil
import tempfile
from pathlib import Path

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
    from mm_platform.encoders.text import bundled_minilm_path

    try:
        return ["en"] if Path(model_dir).resolve() == bundled_minilm_path().resolve() else None
    except Exception:  # noqa: BLE001 - the bundled package is optional here
        return None
