"""Model registry driven promotion: challenger vs champion on every tenant, blocking gates,
shadow migration with a tenant that keeps its old pair, and the sensors that drive it."""

import shutil

import dagster as dg
import pytest

from mm_assets.models import challenger_evaluation, champion, model_registry, promotion_gates
from mm_platform import pipeline
from mm_platform.demo.faq import write_faq_demo
from mm_platform.encoders.text import bundled_minilm_path
from mm_platform.evaluation.gates import GateConfig
from mm_platform.inputs.tenancy import Layout
from mm_platform.registry import ModelRegistry, promotion, seed_bundled
from resources import ModelsResource, PlatformResource, QualityResource, RegistryResource
from sensors import promotion_sensor, registry_inbox_sensor

TENANTS = ("ecommerce", "medical")
# the promotion machinery on the demo tenants with one text encoder (no ensemble: a second encoder
# would take part in both sides alike and only cost time) and bounds suited to one encoder alone
ONE_ENCODER = "models:\n  text2: none\n"
GATES = {"min_f1": 0.4, "min_recall_at_1": 0.4}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two demo tenants (FAQ only) and a registry seeded with the bundled models, its champion moved
    back to MiniLM (a storage from before the multilingual default), so USE can challenge it."""
    root = tmp_path_factory.mktemp("models")
    layout = Layout(root / "data", root / "storage")
    write_faq_demo(layout.data_dir, profile="small", tenants=TENANTS)
    for tenant in TENANTS:
        (layout.tenant_data(tenant) / "tenant.yaml").write_text(ONE_ENCODER)
    registry = ModelRegistry(layout.storage_dir)
    seed_bundled(registry, include_quantized=False)
    use = registry.resolve("text_encoder")
    minilm = registry.resolve("text_encoder", "challenger")
    registry.set_alias("text_encoder", "champion", minilm, run_id="t-legacy", reason="a storage seeded before USE")
    return layout, registry, use, minilm


def _resources(layout):
    return {"platform": PlatformResource(data_dir=str(layout.data_dir), storage_dir=str(layout.storage_dir)),
            "quality": QualityResource(**GATES), "models": ModelsResource(),
            "io_manager": dg.FilesystemIOManager(base_dir=str(layout.storage_dir / ".dagster_io"))}


def test_seeded_registry_has_the_multilingual_champion_and_minilm_challenger(tmp_path):
    registry = ModelRegistry(tmp_path / "storage")
    seed_bundled(registry, include_quantized=False)
    assert registry.get(registry.resolve("text_encoder")).backend == "use-multilingual-v3"
    assert registry.get(registry.resolve("text_encoder", "challenger")).backend == "sentence-transformers"
    assert registry.resolve("asr").startswith("asr-faster-whisper")


def test_minilm_challenging_itself_does_not_pass(world):
    layout, registry, _, minilm = world
    report = promotion.challenge(layout, registry, "text_encoder", minilm, list(TENANTS), GateConfig(**GATES), "t-self")
    assert not report["gate_passed"]
    with pytest.raises(pipeline.GateFailed):
        promotion.promote(layout, registry, report, "t-self")
    assert registry.resolve("text_encoder") == minilm


def test_multilingual_challenger_is_evaluated_side_by_side_and_promoted_with_shadow_swap(world):
    layout, registry, use, minilm = world
    # medical demands the impossible, so its shadow fails and it must keep MiniLM and its index
    (layout.tenant_data("medical") / "tenant.yaml").write_text(ONE_ENCODER + "gates:\n  min_n: 100000\n")
    medical_live = pipeline.index_store(layout, "medical").live()
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([model_registry, challenger_evaluation, promotion_gates, champion], instance=instance,
                            resources=_resources(layout), run_config={"ops": {"models__challenger_evaluation": {
                                "config": {"family": "text_encoder", "challenger": use}}}})
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and "medical" in check.metadata["tenants_kept_on_champion"].value
    report = result.output_for_node("models__challenger_evaluation")
    cells = {(c["tenant"], c["language"]): c for c in report["cells"]}
    assert set(cells) == {(t, lang) for t in TENANTS for lang in ("zh", "en", "ja")}
    for tenant in TENANTS:  # the expected, real result: USE beats MiniLM on Chinese and Japanese
        for language in ("zh", "ja"):
            assert cells[(tenant, language)]["challenger"]["f1_macro"] > cells[(tenant, language)]["champion"]["f1_macro"]
    assert report["tenants"]["ecommerce"]["passed"] and not report["tenants"]["medical"]["passed"]

    assert registry.resolve("text_encoder") == use
    assert registry.resolve("text_encoder", tenant="medical") == minilm  # kept its old encoder...
    assert pipeline.index_store(layout, "medical").live() == medical_live  # ...and its old index
    ecommerce_live = pipeline.index_store(layout, "ecommerce").live_version()
    assert ecommerce_live == report["tenants"]["ecommerce"]["shadow_version"]
    manifest = pipeline.index_store(layout, "ecommerce").evaluation(ecommerce_live)["encoder"]
    assert manifest["name"] == "use-multilingual-v3"  # the live index and the encoder that built it

    history = registry.history("text_encoder")
    move = next(e for e in reversed(history) if e["to"] == use and e["tenant"] is None and e["alias"] == "champion")
    assert move["metrics"]["challenger_f1"] > move["metrics"]["champion_f1"]
    after = history[-1]["time"]  # the promotion's last move (medical's override)
    assert history[-1]["tenant"] == "medical" and "shadow failed" in history[-1]["reason"]
    assert registry.served_at("text_encoder", "ecommerce", after) == use
    assert registry.served_at("text_encoder", "medical", after) == minilm
    legacy = next(e for e in history if e["run_id"] == "t-legacy")["time"]
    assert registry.served_at("text_encoder", "ecommerce", legacy) == minilm

    # the next tenant run follows the aliases: ecommerce builds with USE, medical with MiniLM
    models = ModelsResource()
    assert models.for_tenant(layout, "ecommerce").choices["text"]["name"] == "use-multilingual-v3"
    assert models.for_tenant(layout, "medical").choices["text"]["name"] == "sentence-transformers"
    (layout.tenant_data("medical") / "tenant.yaml").write_text(ONE_ENCODER)


def test_inbox_sensor_registers_and_requests_one_evaluation(world):
    layout, registry, _, _ = world
    drop = registry.inbox_dir() / "text_encoder" / "minilm-copy"
    shutil.copytree(bundled_minilm_path(), drop)
    (registry.inbox_dir() / "text_encoder" / "half-copied").mkdir()
    (drop / "READY").write_text('{"backend": "sentence-transformers", "languages": ["en"]}')
    (registry.inbox_dir() / "text_encoder" / "pickled").mkdir()
    (registry.inbox_dir() / "text_encoder" / "pickled" / "pytorch_model.bin").write_bytes(b"\x80\x04\x95 pickle")
    (registry.inbox_dir() / "text_encoder" / "pickled" / "READY").write_text("{}")
    instance = dg.DagsterInstance.local_temp()
    result = registry_inbox_sensor(dg.build_sensor_context(
        instance=instance, resources={"registry": RegistryResource(storage_dir=str(layout.storage_dir))}))
    # the copy has the same content as the seeded MiniLM: registered already, nothing new to evaluate
    assert isinstance(result, dg.SkipReason)
    assert (registry.inbox_dir() / ".rejected" / "text_encoder" / "pickled" / "REJECTED.txt").exists()
    assert (registry.inbox_dir() / "text_encoder" / "half-copied").exists()  # left alone until READY


def test_promotion_sensor_only_fires_for_passed_evaluations(world):
    layout, _, _, minilm = world
    instance = dg.DagsterInstance.local_temp()
    # MiniLM against the multilingual champion: its gates fail, so no promotion run is requested
    failed = dg.materialize([challenger_evaluation], instance=instance, resources=_resources(layout), run_config={
        "ops": {"models__challenger_evaluation": {"config": {"family": "text_encoder", "challenger": minilm}}}})
    assert failed.output_for_node("models__challenger_evaluation")["gate_passed"] is False
    context = dg.build_sensor_context(instance=instance)
    skipped = list(promotion_sensor(context))
    assert len(skipped) == 1 and isinstance(skipped[0], dg.SkipReason)

    @dg.asset(key=["models", "challenger_evaluation"])
    def passed_evaluation() -> dg.MaterializeResult:  # stands in for a run whose gates passed
        return dg.MaterializeResult(metadata={"gate_passed": True, "challenger": "text_encoder-x"})

    run = dg.materialize([passed_evaluation], instance=instance)
    (request,) = list(promotion_sensor(dg.build_sensor_context(instance=instance, cursor=context.cursor)))
    assert isinstance(request, dg.RunRequest) and request.run_key == f"promote-{run.run_id}"
    assert request.tags["mm/challenger"] == "text_encoder-x"
