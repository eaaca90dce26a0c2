"""The `mm` CLI end to end in subprocesses, on its own embedded instance and folders."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mm_platform.evaluation.reporting import REPORT_KEYS
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
MM = str(Path(sys.executable).parent / "mm")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    return {**os.environ, "MM_DATA_DIR": str(root / "data"), "MM_STORAGE_DIR": str(root / "storage"),
            "DAGSTER_HOME": str(root / "dagster_home"), "HF_HUB_OFFLINE": "1"}


def mm(env, *args, expect=0):
    result = subprocess.run([MM, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == expect, f"mm {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def demo(env):
    out = mm(env, "demo-data", "--profile", "small", "--text-only")
    assert "ecommerce" in out.stdout and (Path(env["MM_DATA_DIR"]) / "medical" / "faq.json").exists()
    # a fresh storage: `mm run` with no flags seeds the registry with the multilingual champion
    run = mm(env, "run", "--tenant", "ecommerce", "--tenant", "medical")
    seeded = mm(env, "models", "list").stdout
    assert "text_encoder-use-multilingual-v3-" in seeded
    return run.stdout


def test_run_prints_the_evaluation_table(demo):
    table = [line.split() for line in demo.splitlines() if line.startswith(("ecommerce ", "medical "))]
    assert len(table) == 6
    assert {(row[0], row[2], row[3], row[4]) for row in table} == {
        (t, lang, "live", "pass") for t in ("ecommerce", "medical") for lang in ("zh", "en", "ja")}
    for row in table:  # n, then recall@1 and F1 each with its 95 % interval
        assert int(row[5]) >= 30 and row[7].startswith("[") and row[9].startswith("[")


def test_query_answers_from_the_live_index(env, demo):
    queries = json.loads((Path(env["MM_DATA_DIR"]) / "ecommerce" / "eval_queries.json").read_text("utf-8"))
    for language in ("zh", "en", "ja"):
        query = next(q for q in queries if q["language"] == language)
        out = json.loads(mm(env, "query", "--tenant", "ecommerce", "--text", query["query"], "--language", language,
                            "-k", "3", "--json").stdout)
        hits = out["results"]["faq"]
        assert len(hits) == 3 and hits[0]["language"] == language and out["versions"]["faq"]
        assert hits[0]["score"] >= hits[1]["score"]


def test_report_json_has_the_documented_keys(env, demo):
    rows = json.loads(mm(env, "report", "--tenant", "medical", "--json").stdout)
    assert {r["language"] for r in rows} == {"zh", "en", "ja"}
    for row in rows:
        assert set(REPORT_KEYS) <= set(row)
        assert row["status"] == "live" and row["gate_passed"] is True and row["verdict"] == "pass"
        low, high = row["f1_macro_ci"]
        assert low <= row["f1_macro"] <= high and row["latency_cpu_p95_ms"] > 0 and row["strategy"]


def test_check_passes_then_fails_readably_on_a_broken_tenant(env, demo):
    assert "all checks passed" in mm(env, "check", "--tenant", "ecommerce").stdout
    faq_path = Path(env["MM_DATA_DIR"]) / "medical" / "faq.json"
    original = faq_path.read_text("utf-8")
    rows = [r for r in json.loads(original) if r["language"] != "ja"]
    faq_path.write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
    try:
        out = mm(env, "check", "--tenant", "medical", expect=1).stdout
        assert "FAIL  medical" in out and "all_languages_present" in out and "no valid ja rows" in out
    finally:
        faq_path.write_text(original, "utf-8")


def test_regressed_encoder_keeps_live_and_history_and_rollback(env, demo):
    live_before = {r["index_version"] for r in json.loads(mm(env, "report", "--tenant", "ecommerce", "--json").stdout)
                   if r["modality"] == "faq" and r["status"] == "live"}.pop()
    mm(env, "run", "--tenant", "ecommerce", "--encoder", "all-minilm-l6-v2", expect=1)
    report = json.loads(mm(env, "report", "--tenant", "ecommerce", "--json", "--full").stdout)[0]
    assert {r["index_version"] for r in report["rows"] if r["status"] == "live"} == {live_before}
    candidate_rows = [r for r in report["rows"] if r["status"] == "candidate"]
    assert candidate_rows and not candidate_rows[0]["gate_passed"]
    assert any("kept out of service" in n for n in report["notes"])
    history = json.loads(mm(env, "index", "history", "--tenant", "ecommerce", "--json").stdout)
    assert history[-1]["action"] == "promote" and history[-1]["to"] == live_before
    assert "no previous version" in mm(env, "index", "rollback", "--tenant", "ecommerce", expect=1).stderr


def test_tenant_with_nothing_live_is_said_plainly(env, demo):
    new_tenant = Path(env["MM_DATA_DIR"]) / "newshop"
    new_tenant.mkdir()
    (new_tenant / "faq.json").write_text("[]")
    out = mm(env, "query", "--tenant", "newshop", "--text", "hello", expect=2)
    assert "nothing is live yet" in out.stderr
    assert "invalid tenant id" in mm(env, "query", "--tenant", "../x", "--text", "q", expect=2).stderr


def _latest_event(env, key: str, partition: str | None = None, observation: bool = False) -> dict:
    """The newest materialization (or observation) of `key` in the CLI's instance, as plain metadata."""
    fetch = "fetch_observations" if observation else "fetch_materializations"
    attr = "asset_observation" if observation else "asset_materialization"
    code = (
        "import dagster as dg, json\n"
        "inst = dg.DagsterInstance.get()\n"
        f"flt = dg.AssetRecordsFilter(asset_key=dg.AssetKey({key.split('/')!r}), "
        f"asset_partitions={[partition] if partition else None!r})\n"
        f"records = inst.{fetch}(flt, limit=1).records\n"
        f"event = records[0].event_log_entry.{attr} if records else None\n"
        "print(json.dumps({k: v.value for k, v in event.metadata.items()} if event else None, default=str))\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cli_model_and_rollback_flows_show_in_the_dagster_ui(env, demo):
    """What the CLI changes outside a run is reported on the same asset keys the UI shows."""
    mm(env, "models", "seed")
    registry = _latest_event(env, "models/registry")
    assert registry["source"] == "mm cli" and registry["version_count"] >= 2
    assert registry["champions"]["text_encoder"].startswith("text_encoder-use-multilingual-v3-")

    faq_path = Path(env["MM_DATA_DIR"]) / "medical" / "faq.json"
    original = faq_path.read_text("utf-8")
    rows = json.loads(original)
    rows[0]["answer"] += " Updated this week."
    try:
        faq_path.write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
        mm(env, "run", "--tenant", "medical")
        out = mm(env, "index", "rollback", "--tenant", "medical", "--reason", "test").stdout
        assert "rolled back" in out
        event = _latest_event(env, "faq/live_index", partition="medical")
        history = json.loads(mm(env, "index", "history", "--tenant", "medical", "--json").stdout)
        assert event["source"] == "mm cli" and event["live_version"] == history[-1]["to"]
        assert event["state"].startswith("rolled back to") and event["tenant"] == "medical"
    finally:
        faq_path.write_text(original, "utf-8")


def test_run_errors_name_their_cause_not_dagsters_wrapper(env, demo):
    """A tenant's bad setting ends its run with the reason (file and value), not "Error occurred while
    executing op"; the other tenants are not involved."""
    folder = Path(env["MM_DATA_DIR"]) / "typo"
    folder.mkdir()
    (folder / "faq.json").write_text((Path(env["MM_DATA_DIR"]) / "medical" / "faq.json").read_text("utf-8"), "utf-8")
    (folder / "tenant.yaml").write_text("modalities: [fqa]\n", "utf-8")
    try:
        out = mm(env, "run", "--tenant", "typo", expect=1).stdout
        assert "tenant.yaml: modalities: unknown 'fqa'" in out and "Error occurred while executing" not in out
    finally:
        import shutil

        shutil.rmtree(folder)


def test_query_on_a_damaged_live_index_says_what_to_do(env, demo):
    live = json.loads((Path(env["MM_STORAGE_DIR"]) / "medical" / "indexes" / "faq" / "LIVE.json").read_text())
    index = Path(env["MM_STORAGE_DIR"]) / "medical" / "indexes" / "faq" / "versions" / live["version"] / "index.faiss"
    original = index.read_bytes()
    index.write_bytes(original[: len(original) // 3])  # truncated, as a full disk or a bad copy leaves it
    try:
        out = mm(env, "query", "--tenant", "medical", "--text", "Do you take my insurance?", expect=3)
        assert "Traceback" not in out.stderr and "live index cannot answer" in out.stderr
        assert "mm index rollback --tenant medical" in out.stderr
    finally:
        index.write_bytes(original)
