"""End to end: `dagster-webserver` loads the code location from `workspace.yaml`, and its
GraphQL API shows the FAQ assets (partitioned by the `tenants` dynamic partitions, with the
tenants registered in the instance), their blocking checks, the jobs, schedule and sensor."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKSPACE = REPO_ROOT / "workspace.yaml"
WEBSERVER = Path(sys.executable).parent / "dagster-webserver"
LOCATION = "mm_knowledge"
TENANTS = ("acme_shop", "globex_clinic")
STARTUP_TIMEOUT_S = 90.0

FAQ_ASSETS = ("validated_dataset", "embeddings", "index_candidate", "evaluation", "live_index")
EXPECTED_CHECKS = {
    "validated_dataset": {"schema_and_quarantine_rate", "all_languages_present"},
    "embeddings": {"embeddings_finite_normalized"},
    "index_candidate": {"index_rows_match_dataset", "tenant_isolation_canary"},
    "evaluation": {"evaluation_gates"},
    "live_index": {"swap"},
}
#: checks that report without holding anything back: the gates' verdict is enforced by live_index
#: itself (a refused candidate is kept out, recorded as "kept"), and the swap check only reports it
NON_BLOCKING = {"evaluation_gates", "swap"}

FAQ_ROWS = {
    "en": [("How do I reset my password?", "Use the 'Forgot password' link on the sign-in page.", "account"),
           ("How long does shipping take?", "Standard shipping takes 3 to 5 business days.", "shipping"),
           ("Can I return an item?", "Returns are accepted within 30 days of delivery.", "returns")],
    "zh": [("如何重置密码？", "请在登录页面点击“忘记密码”链接。", "account"),
           ("配送需要多长时间？", "标准配送需要3到5个工作日。", "shipping"),
           ("我可以退货吗？", "收货后30天内可以退货。", "returns")],
    "ja": [("パスワードをリセットするには？", "サインインページの「パスワードをお忘れの方」をご利用ください。", "account"),
           ("配送にはどのくらいかかりますか？", "通常配送は3〜5営業日です。", "shipping"),
           ("返品できますか？", "お届けから30日以内であれば返品できます。", "returns")],
}

ASSET_NODES_QUERY = """
query AssetNodes {
  assetNodes {
    assetKey { path }
    groupName
    jobNames
    isPartitioned
    partitionDefinition { type name }
    partitionKeysByDimension { name type partitionKeys }
    assetChecksOrError {
      __typename
      ... on AssetChecks {
        checks {
          name
          blocking
          jobNames
          partitionDefinition { type name }
        }
      }
    }
  }
}
"""

REPOSITORIES_QUERY = """
query Repositories {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        jobs { name isAssetJob }
        schedules { name pipelineName cronSchedule executionTimezone }
        sensors { name targets { pipelineName } }
      }
    }
    ... on PythonError { message stack }
  }
}
"""

LOCATION_STATUS_QUERY = """
query LocationStatus {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message stack } }
      }
    }
    ... on PythonError { message }
  }
}
"""


# -- helpers ---------------------------------------------------------------------------------


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_tenant(data_dir: Path, tenant: str) -> None:
    rows = [{"question": f"{question} ({tenant})", "answer": answer, "language": language, "annotation": annotation}
            for language, entries in FAQ_ROWS.items() for question, answer, annotation in entries]
    folder = data_dir / tenant
    folder.mkdir(parents=True)
    (folder / "faq.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1), "utf-8")


def _register_tenants(dagster_home: Path, tenants: tuple[str, ...]) -> None:
    from dagster import DagsterInstance

    from mm_assets.partitions import tenant_partitions

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.add_dynamic_partitions(tenant_partitions.name, list(tenants))
        assert set(instance.get_dynamic_partitions(tenant_partitions.name)) == set(tenants)


def _stop(proc: subprocess.Popen) -> None:
    """Terminate the server's whole process group (it spawns a code server), then kill if needed."""
    if proc.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


class Webserver:
    def __init__(self, proc: subprocess.Popen, base_url: str, log_path: Path):
        self.proc = proc
        self.base_url = base_url
        self.log_path = log_path
        self.client = httpx.Client(base_url=base_url, timeout=30.0, trust_env=False)

    def output(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")[-8000:]

    def graphql(self, query: str) -> dict:
        response = self.client.post("/graphql", json={"query": query})
        assert response.status_code == 200, f"/graphql answered {response.status_code}: {response.text[:2000]}"
        body = response.json()
        assert not body.get("errors"), f"GraphQL errors: {json.dumps(body['errors'], indent=1)[:4000]}"
        return body["data"]

    def wait_until_ready(self, timeout_s: float) -> None:
        """`/server_info` answers, then the code location has finished loading without error."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"dagster-webserver exited with {self.proc.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"dagster-webserver not ready after {timeout_s:.0f} s:\n{self.output()}")
            try:
                if self.client.get("/server_info", timeout=2.0).status_code == 200 and self._location_loaded():
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)

    def _location_loaded(self) -> bool:
        workspace = self.graphql(LOCATION_STATUS_QUERY)["workspaceOrError"]
        assert workspace["__typename"] == "Workspace", workspace
        entries = {e["name"]: e for e in workspace["locationEntries"]}
        assert LOCATION in entries, f"code location {LOCATION!r} missing from the workspace: {sorted(entries)}"
        entry = entries[LOCATION]
        if entry["loadStatus"] != "LOADED":
            return False
        loaded = entry["locationOrLoadError"]
        assert loaded and loaded["__typename"] == "RepositoryLocation", \
            f"code location failed to load: {json.dumps(loaded, indent=1)[:6000]}"
        return True


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Webserver:
    root = tmp_path_factory.mktemp("webserver")
    dagster_home, data_dir, storage_dir = root / "dagster_home", root / "data", root / "storage"
    for folder in (dagster_home, data_dir, storage_dir):
        folder.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", "utf-8")
    for tenant in TENANTS:
        _write_tenant(data_dir, tenant)
    _register_tenants(dagster_home, TENANTS)

    port = _free_loopback_port()
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "MM_DATA_DIR": str(data_dir),
           "MM_STORAGE_DIR": str(storage_dir), "HF_HUB_OFFLINE": "1"}
    log_path = root / "webserver.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(WEBSERVER), "-w", str(WORKSPACE), "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    server = Webserver(proc, f"http://127.0.0.1:{port}", log_path)

    def finalize() -> None:
        server.client.close()
        _stop(proc)

    request.addfinalizer(finalize)
    server.wait_until_ready(STARTUP_TIMEOUT_S)
    return server


@pytest.fixture(scope="module")
def faq_nodes(webserver: Webserver) -> dict[str, dict]:
    nodes = webserver.graphql(ASSET_NODES_QUERY)["assetNodes"]
    return {node["assetKey"]["path"][1]: node for node in nodes
            if len(node["assetKey"]["path"]) == 2 and node["assetKey"]["path"][0] == "faq"}


@pytest.fixture(scope="module")
def repository(webserver: Webserver) -> dict:
    result = webserver.graphql(REPOSITORIES_QUERY)["repositoriesOrError"]
    assert result["__typename"] == "RepositoryConnection", result
    repos = [r for r in result["nodes"] if r["location"]["name"] == LOCATION]
    assert len(repos) == 1, f"expected one repository in {LOCATION!r}: {[r['name'] for r in result['nodes']]}"
    return repos[0]


# -- tests -----------------------------------------------------------------------------------


def test_server_info_answers(webserver: Webserver) -> None:
    info = webserver.client.get("/server_info").json()
    assert info.get("dagster_version") == "1.13.27", info


def test_all_faq_assets_are_listed_in_their_group(faq_nodes: dict[str, dict]) -> None:
    assert set(faq_nodes) == set(FAQ_ASSETS)
    assert {node["groupName"] for node in faq_nodes.values()} == {"faq"}


@pytest.mark.parametrize("asset", FAQ_ASSETS)
def test_asset_is_partitioned_by_tenants_with_registered_tenants(faq_nodes: dict[str, dict], asset: str) -> None:
    node = faq_nodes[asset]
    assert node["isPartitioned"] is True
    assert node["partitionDefinition"] == {"type": "DYNAMIC", "name": "tenants"}
    (dimension,) = node["partitionKeysByDimension"]
    assert dimension["type"] == "DYNAMIC"
    assert sorted(dimension["partitionKeys"]) == sorted(TENANTS)


@pytest.mark.parametrize("asset", FAQ_ASSETS)
def test_asset_checks_are_blocking_and_partitioned(faq_nodes: dict[str, dict], asset: str) -> None:
    result = faq_nodes[asset]["assetChecksOrError"]
    assert result["__typename"] == "AssetChecks", result
    checks = {check["name"]: check for check in result["checks"]}
    assert set(checks) == EXPECTED_CHECKS[asset]
    for name, check in checks.items():
        assert check["blocking"] is (name not in NON_BLOCKING), f"{asset}/{name}: blocking={check['blocking']}"
        assert check["partitionDefinition"] == {"type": "DYNAMIC", "name": "tenants"}, name
        # Every check runs in CI as well as in the indexing job (the swap's only where swaps happen).
        jobs = {"index_tenant"} if asset == "live_index" else {"index_tenant", "ci_checks"}
        assert jobs <= set(check["jobNames"]), (name, check["jobNames"])


def test_every_expected_check_is_listed(faq_nodes: dict[str, dict]) -> None:
    listed = {check["name"] for node in faq_nodes.values() for check in node["assetChecksOrError"]["checks"]}
    assert listed == set().union(*EXPECTED_CHECKS.values())


def test_only_index_tenant_touches_the_live_index(faq_nodes: dict[str, dict]) -> None:
    for asset, node in faq_nodes.items():
        assert "index_tenant" in node["jobNames"], (asset, node["jobNames"])
        assert ("ci_checks" in node["jobNames"]) == (asset != "live_index"), (asset, node["jobNames"])


def test_jobs_schedule_and_sensor_are_visible(repository: dict) -> None:
    jobs = {job["name"]: job for job in repository["jobs"]}
    assert {"index_tenant", "ci_checks"} <= set(jobs), sorted(jobs)
    assert jobs["index_tenant"]["isAssetJob"] and jobs["ci_checks"]["isAssetJob"]

    schedules = {s["name"]: s for s in repository["schedules"]}
    assert "nightly_reindex_schedule" in schedules, sorted(schedules)
    nightly = schedules["nightly_reindex_schedule"]
    assert (nightly["pipelineName"], nightly["cronSchedule"], nightly["executionTimezone"]) == \
        ("index_tenant", "0 2 * * *", "UTC")

    sensors = {s["name"]: s for s in repository["sensors"]}
    assert "tenant_data_sensor" in sensors, sorted(sensors)
    assert [t["pipelineName"] for t in sensors["tenant_data_sensor"]["targets"]] == ["index_tenant"]
