"""The code location loads and validates; schedule and sensor produce the right requests."""

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from mm_assets.definitions import defs
from mm_assets.partitions import tenant_partitions
from resources import PlatformResource
from tests.conftest import ROOT


def test_definitions_load_with_all_assets_checks_and_automation():
    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"faq/validated_dataset", "faq/embeddings", "faq/index_candidate", "faq/evaluation", "faq/live_index"} <= keys
    faq_checks = {k.name for k in repo.asset_graph.asset_check_keys if k.asset_key.path[0] == "faq"}
    assert faq_checks == {"schema_and_quarantine_rate", "all_languages_present", "embeddings_finite_normalized",
                          "index_rows_match_dataset", "tenant_isolation_canary", "evaluation_gates", "swap"}
    assert {j.name for j in repo.get_all_jobs()} >= {"index_tenant", "ci_checks", "index_faq", "index_image"}
    assert defs.resolve_schedule_def("nightly_reindex_schedule").cron_schedule == "0 2 * * *"
    for name in ("tenant_data_sensor", "tenant_run_failure_sensor", "automation_condition_sensor", "promotion_sensor"):
        sensor = defs.resolve_sensor_def(name)
        assert sensor.description, f"{name} has no description"
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING, name
    assert defs.resolve_schedule_def("nightly_reindex_schedule").description


def test_dagster_definitions_validate_cli(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}  # a clean clone has no .dagster/ yet
    result = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-m",
                             "mm_assets.definitions"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stderr + result.stdout


def test_data_sensor_discovers_tenants_and_runs_once_per_change(layout, monkeypatch):
    monkeypatch.setenv("MM_DATA_DIR", str(layout.data_dir))
    for name in ("ecommerce", "medical", "Not-A-Tenant"):
        (layout.data_dir / name).mkdir(parents=True)
        (layout.data_dir / name / "faq.json").write_text("[]")
    # A temp-dir instance, not `instance_for_test`: the latter leaves a stale defs-state storage
    # in a context variable that breaks later `materialize` calls in the same process.
    instance = dg.DagsterInstance.local_temp()

    def tick(cursor):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                          resources={"platform": _platform(layout)})
        return defs.resolve_sensor_def("tenant_data_sensor")(context)

    first = tick(None)
    assert [r.partition_key for r in first.run_requests] == ["ecommerce", "medical"]
    assert {r.tags["mm/trigger"] for r in first.run_requests} == {"new-tenant"}
    assert first.dynamic_partitions_requests[0].partition_keys == ["ecommerce", "medical"]
    instance.add_dynamic_partitions(tenant_partitions.name, ["ecommerce", "medical"])
    unchanged = tick(first.cursor)  # unchanged fingerprints: no duplicate runs
    assert not unchanged.run_requests and "no input changed" in unchanged.skip_reason.skip_message

    (layout.data_dir / "medical" / "faq.json").write_text('[{"question": "changed"}]')
    (layout.data_dir / "education").mkdir()
    changed = tick(first.cursor)
    assert [(r.partition_key, r.tags["mm/trigger"]) for r in changed.run_requests] == [
        ("education", "new-tenant"), ("medical", "data-change")]
    assert changed.dynamic_partitions_requests[0].partition_keys == ["education"]
    medical_keys = {r.run_key for r in first.run_requests + changed.run_requests if r.partition_key == "medical"}
    assert len(medical_keys) == 2  # one run key per distinct fingerprint


def _platform(layout) -> PlatformResource:
    return PlatformResource(data_dir=str(layout.data_dir), storage_dir=str(layout.storage_dir))


def _two_known_tenants(layout) -> dg.DagsterInstance:
    """Two FAQ tenant folders, both already partitions of a fresh instance."""
    for name in ("ecommerce", "medical"):
        (layout.data_dir / name).mkdir(parents=True)
        (layout.data_dir / name / "faq.json").write_text("[]")
    instance = dg.DagsterInstance.local_temp()
    instance.add_dynamic_partitions(tenant_partitions.name, ["ecommerce", "medical"])
    return instance


def test_nightly_schedule_requests_every_tenant(layout):
    instance = _two_known_tenants(layout)
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc),
        resources={"platform": _platform(layout)})
    requests = list(defs.resolve_schedule_def("nightly_reindex_schedule")(context))
    assert [r.partition_key for r in requests] == ["ecommerce", "medical"]
    assert all(r.run_key.startswith("nightly-") and r.tags["mm/trigger"] == "nightly" for r in requests)
    assert all(r.tags["mm/tenant"] == r.partition_key for r in requests)
    assert all({k.path[0] for k in r.asset_selection} == {"faq"} for r in requests)  # only what they have


def test_first_sensor_tick_skips_tenants_already_built_from_the_same_input(layout):
    """After `make demo` the daemon's first tick must not relaunch what the CLI already built."""
    from mm_platform.inputs.tenancy import tenant_fingerprint
    from mm_platform.pipeline.inputs import VALIDATION_SCHEMA

    instance = _two_known_tenants(layout)
    built = f"v{VALIDATION_SCHEMA}-{tenant_fingerprint(layout.tenant_data('ecommerce'))}"
    instance.report_runless_asset_event(dg.AssetMaterialization(
        dg.AssetKey(["faq", "validated_dataset"]), partition="ecommerce", metadata={"input_fingerprint": built}))
    context = dg.build_sensor_context(instance=instance, cursor=None, definitions=defs,
                                      resources={"platform": _platform(layout)})
    result = defs.resolve_sensor_def("tenant_data_sensor")(context)
    assert [r.partition_key for r in result.run_requests] == ["medical"]  # never built: it runs
    assert result.run_requests[0].tags["mm/tenant"] == "medical"
    assert [k.to_user_string() for k in result.run_requests[0].asset_selection] == [
        "faq/validated_dataset", "faq/embeddings", "faq/index_candidate", "faq/evaluation", "faq/live_index"]
