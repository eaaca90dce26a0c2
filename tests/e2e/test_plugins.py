"""A modality plugin arrives through an entry point and gets its whole pipeline with no edit to
the platform; a broken plugin is reported by name and does not take the others down.

The plugin (tests/plugins/mm_docs_plugin) is registered the way an installed package is: its
package and a `*.dist-info` with `entry_points.txt` on the path of a fresh interpreter, so the
test does not change this environment for other tests.
"""

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_EVAL, TINY_FAQ, write_json

pytestmark = pytest.mark.slow
PLUGIN = ROOT / "tests" / "plugins" / "mm_docs_plugin"

DOCS = {
    "en": ("Warranty terms\nEvery product is covered for two years against defects.", "Warranty"),
    "zh": ("保修条款\n所有产品享受两年质保。", "保修"),
    "ja": ("保証規定\nすべての製品は二年間保証されます。", "保証"),
}
RETURNS = {
    "en": ("Returns\nYou may send any item back within thirty days for a refund.", "Returns"),
    "zh": ("退货说明\n三十天内可以退货并退款。", "退货"),
    "ja": ("返品について\n三十日以内なら返品と返金ができます。", "返品"),
}
QUERIES = [
    {"doc_query": "How long is the guarantee?", "language": "en", "annotation": "Warranty"},
    {"doc_query": "Can I get my money back?", "language": "en", "annotation": "Returns"},
    {"doc_query": "质保多长时间？", "language": "zh", "annotation": "保修"},
    {"doc_query": "怎么退款？", "language": "zh", "annotation": "退货"},
    {"doc_query": "保証期間は？", "language": "ja", "annotation": "保証"},
    {"doc_query": "返金してもらえますか", "language": "ja", "annotation": "返品"},
]

SCRIPT = textwrap.dedent("""
    import json, sys
    import dagster as dg
    from mm_platform import plugins
    from mm_assets.definitions import MODALITY_DEFINITIONS, defs
    from mm_assets.partitions import tenant_partitions
    from resources import ModelsResource, PlatformResource, QualityResource
    from mm_platform.inputs.tenancy import Layout

    layout = Layout.from_env()
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(tenant_partitions.name, ["acme"])
    everything = [a for d in MODALITY_DEFINITIONS.values() for a in (*d.assets, *(d.asset_checks or ()))]
    result = dg.materialize(everything, instance=instance, partition_key="acme", raise_on_error=False, resources={
        "platform": PlatformResource(data_dir=str(layout.data_dir), storage_dir=str(layout.storage_dir)),
        "models": ModelsResource(text_encoder="use-multilingual-v3", text2_encoder="none"),
        "quality": QualityResource(min_n=1, min_f1=0.0, min_recall_at_1=0.0),
        "io_manager": dg.FilesystemIOManager(base_dir=str(layout.storage_dir / ".dagster_io"))})
    print(json.dumps({
        "modalities": list(MODALITY_DEFINITIONS),
        "asset_keys": sorted(k.to_user_string() for k in defs.get_repository_def().asset_graph.get_all_asset_keys()),
        "checks": {f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed for e in result.get_asset_check_evaluations()},
        "success": result.success,
        "docs_report": result.output_for_node("docs__evaluation"),
        "plugin_errors": [e.__dict__ for e in plugins.plugin_errors()],
    }, default=str))
""")


def _register(site: Path) -> None:
    """What `pip install` leaves behind for the plugin: its metadata with the entry points."""
    dist = site / "mm_docs_plugin-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mm-docs-plugin\nVersion: 0.1.0\n")
    declared = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]["entry-points"]
    (dist / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in points.items())
        for group, points in declared.items()))


def test_plugin_modality_gets_assets_checks_and_evaluation_and_broken_one_is_reported(tmp_path):
    data = tmp_path / "data" / "acme"
    write_json(data / "faq.json", TINY_FAQ)
    for language in ("en", "zh", "ja"):
        for name, (text, _) in (("warranty", DOCS[language]), ("returns", RETURNS[language])):
            (data / "docs").mkdir(parents=True, exist_ok=True)
            (data / "docs" / f"{name}-{language}.txt").write_text(text, "utf-8")
    write_json(data / "documents.json", [
        {"path": f"docs/{name}-{language}.txt", "language": language, "annotation": table[language][1]}
        for language in ("en", "zh", "ja") for name, table in (("warranty", DOCS), ("returns", RETURNS))])
    write_json(data / "eval_queries.json", TINY_EVAL + QUERIES)
    site = tmp_path / "site"
    _register(site)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(PLUGIN), str(ROOT)]),
           "MM_DATA_DIR": str(tmp_path / "data"), "MM_STORAGE_DIR": str(tmp_path / "storage"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])

    assert out["modalities"] == ["faq", "docs", "image", "speech", "video"]
    assert {f"docs/{a}" for a in ("validated_dataset", "embeddings", "index_candidate", "evaluation", "live_index")} \
        <= set(out["asset_keys"])
    docs_checks = {k.split(":")[1]: v for k, v in out["checks"].items() if k.startswith("docs/")}
    assert docs_checks == {name: True for name in ("schema_and_quarantine_rate", "all_languages_present",
                                                   "embeddings_finite_normalized", "index_rows_match_dataset",
                                                   "tenant_isolation_canary", "evaluation_gates", "swap")}
    report = out["docs_report"]
    assert report["gate_passed"] and {r["language"] for r in report["rows"]} == {"en", "zh", "ja"}
    assert all(r["modality"] == "docs" and r["f1_macro"] == 1.0 for r in report["rows"])
    assert out["success"]
    (error,) = out["plugin_errors"]
    assert error["name"] == "broken_example" and "broken on purpose" in error["error"]
