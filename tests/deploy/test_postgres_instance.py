"""The PostgreSQL instance template works against a real PostgreSQL server.

A throwaway server (initdb + pg_ctl, bound to 127.0.0.1 on a free port, run as the `postgres`
user when the tests run as root) gets a database; `deploy/dagster.yaml.postgres` is copied
verbatim into a DAGSTER_HOME with DAGSTER_PG_URL pointing at it; one small tenant's FAQ assets
are materialized through `DagsterInstance.from_config`; then psycopg2 finds the run, its
ASSET_MATERIALIZATION and ASSET_CHECK_EVALUATION events, and the tenant partition in the
database. `deploy/dagster.yaml.local` is loaded too (SQLite, no server).
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TENANT = "acme"


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))  # Debian's `postgresql` package
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self):
        self.initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not (self.initdb and self.pg_ctl):
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; deploy/ci-system-deps.sh installs them")
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # the server refuses to run as root
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no `postgres` user to run the server as")
            runuser = shutil.which("runuser")
            self.as_user = [runuser, "-u", "postgres", "--"] if runuser else ["su", "postgres", "-s", "/bin/sh", "-c"]
        # under /tmp itself: pytest's tmp dirs are 0700 and would not be reachable by `postgres`
        self.root = Path(tempfile.mkdtemp(prefix="mm-pg-"))
        self.data, self.log = self.root / "data", self.root / "server.log"
        self.port = _free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.started = False

    def _run(self, *args: str, timeout: float = 60) -> None:
        cmd = [*self.as_user, *args] if self.as_user[:1] != ["su"] else [*self.as_user, shlex.join(args)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}\n{log}")

    def start(self) -> None:
        self._run(self.initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-sync", "--no-instructions")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
        self._run(self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
        self.started = True

    def stop(self) -> None:
        try:
            if self.started:
                self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=30)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, db: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{db}"

    def connect(self, db: str):
        import psycopg2

        return psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=db, connect_timeout=10)


@pytest.fixture(scope="module")
def pg_server(request):
    server = PgServer()
    request.addfinalizer(server.stop)
    server.start()
    conn = server.connect("postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE dagster_mm")
    conn.close()
    return server


def _tenant(tmp_path: Path) -> tuple[Path, Path]:
    from tests.conftest import TINY_EVAL, TINY_FAQ, write_json

    data, storage = tmp_path / "data", tmp_path / "storage"
    write_json(data / TENANT / "faq.json", TINY_FAQ)             # zh / en / ja rows
    write_json(data / TENANT / "eval_queries.json", TINY_EVAL)
    return data, storage


def _faq_definitions() -> list:
    from mm_assets.definitions import MODALITY_DEFINITIONS

    faq = MODALITY_DEFINITIONS["faq"]
    return [*faq.assets, *(faq.asset_checks or ())]


def _resources(data: Path, storage: Path) -> dict:
    import dagster as dg

    from resources import ModelsResource, PlatformResource, QualityResource

    # hand-written tenants with two queries per cell: the sample-size bound is lifted (see
    # tests/dagster/conftest.py), the second encoder left out (the instance is what is tested)
    return {"platform": PlatformResource(data_dir=str(data), storage_dir=str(storage)),
            "models": ModelsResource(text_encoder="use-multilingual-v3", text2_encoder="none"),
            "quality": QualityResource(min_n=1, min_f1=0.0, min_recall_at_1=0.0),
            "io_manager": dg.FilesystemIOManager(base_dir=str(storage / ".dagster_io"))}


def test_faq_materialization_is_stored_in_postgres(pg_server, tmp_path, monkeypatch):
    import dagster as dg
    from dagster import DagsterEventType

    from mm_assets.partitions import tenant_partitions

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml.postgres", home / "dagster.yaml")  # the template, verbatim
    monkeypatch.setenv("DAGSTER_PG_URL", pg_server.url("dagster_mm"))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    data, storage = _tenant(tmp_path)

    started = time.monotonic()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        config = instance.get_concurrency_config()
        assert config.pool_config.pool_granularity.value == "op"
        assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in \
            config.run_queue_config.tag_concurrency_limits
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        instance.add_dynamic_partitions(tenant_partitions.name, [TENANT])
        result = dg.materialize(_faq_definitions(), instance=instance, partition_key=TENANT,
                                resources=_resources(data, storage), raise_on_error=False)
        run_id = result.run_id
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    elapsed = time.monotonic() - started

    conn = pg_server.connect("dagster_mm")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status, run_body FROM runs WHERE run_id = %s", (run_id,))
            (status, body), = cur.fetchall()
            assert status == "SUCCESS"
            assert json.loads(body)["tags"]["dagster/partition"] == TENANT
            cur.execute("SELECT dagster_event_type, asset_key, partition FROM event_logs WHERE run_id = %s", (run_id,))
            events = cur.fetchall()
            cur.execute("SELECT partition FROM dynamic_partitions WHERE partitions_def_name = %s",
                        (tenant_partitions.name,))
            partitions = [r[0] for r in cur.fetchall()]
    finally:
        conn.close()
    by_type: dict[str, list] = {}
    for event_type, asset_key, partition in events:
        by_type.setdefault(event_type, []).append((asset_key, partition))
    materialized = {"/".join(json.loads(k)) for k, p in by_type.get("ASSET_MATERIALIZATION", []) if p == TENANT}
    assert materialized == {f"faq/{name}" for name in
                            ("validated_dataset", "embeddings", "index_candidate", "evaluation", "live_index")}
    assert len(by_type.get("ASSET_CHECK_EVALUATION", [])) == 7  # the FAQ's checks, the swap's included
    assert {t.value for t in (DagsterEventType.RUN_START, DagsterEventType.RUN_SUCCESS,  # stored as PIPELINE_*
                              DagsterEventType.STEP_SUCCESS)} <= set(by_type)
    assert {DagsterEventType.ASSET_MATERIALIZATION.value, DagsterEventType.ASSET_CHECK_EVALUATION.value} <= set(by_type)
    assert partitions == [TENANT]
    assert elapsed < 120, f"materialization took {elapsed:.0f}s"


def test_local_template_loads(tmp_path, monkeypatch):
    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml.local", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit >= 1 and config.pool_config.pool_granularity.value == "op"
        assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in \
            config.run_queue_config.tag_concurrency_limits
        assert not instance.telemetry_enabled
    assert any(home.rglob("*.db")), "SQLite files live under DAGSTER_HOME"
