"""The Dagster UI, in a real headless Chromium, answers an operator's questions at a glance.

Two tenants' FAQ assets are materialized in-process into a temporary DAGSTER_HOME (configured
with deploy/dagster.yaml.local), the second twice: its second candidate is refused by stricter
gates, so its live index is *kept*. `mm models seed` reports the registry to the same instance.
`dagster-webserver -w workspace.yaml` serves it on 127.0.0.1; Chromium (Debian's `chromium`,
driven over the DevTools protocol with `websocket-client`, a dependency of the kubernetes client
already in the venv; no browser download) opens:

- the `faq` asset group graph: every FAQ asset is a node;
- `faq/evaluation` partitions (the tenant partition keys) and checks: the `evaluation_gates`
  result carries its reason as a one-line description;
- `faq/evaluation` metadata as Plots, one series per tenant (the keys name the tenant);
- `faq/live_index` for the refused tenant: "kept <version>", a warning, not a failed asset;
- the runs list: runs launched without tags (as the asset graph's Materialize button does) carry
  `mm/tenant`;
- the sensors: descriptions shown, the automation-condition sensor running by default;
- `models/registry`: materialized (by the CLI), not "Never materialized".

Screenshots go to docs/screenshots/ when missing or with MM_UPDATE_SCREENSHOTS=1 (else to a
temporary folder, so a test run leaves the tree clean).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
TENANTS = ("acme_shop", "globex_clinic")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars"]
VIEWPORT = (1440, 1000)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _stop(proc: subprocess.Popen) -> None:
    """Stop a process started here with start_new_session=True, and its children."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


class Browser:
    """Just enough of the Chrome DevTools protocol: navigate, evaluate, screenshot."""

    def __init__(self, executable: str, profile: Path):
        import websocket  # websocket-client, required by the kubernetes client

        self.proc = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 45
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode(errors="replace")[-1500:] if self.proc.poll() is not None else ""
                _stop(self.proc)
                pytest.skip(f"Chromium ({executable}) did not start: {err or 'no DevTools port after 45 s'}")
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], suppress_origin=True, timeout=60)
        self._id = 0
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=VIEWPORT[0], height=VIEWPORT[1],
                  deviceScaleFactor=1, mobile=False)

    def call(self, method: str, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")

    def open(self, url: str, texts: list[str], timeout: float = 90) -> str:
        """Navigate and wait until every text is on the page; returns the page text."""
        self.call("Page.navigate", url=url)
        return self.wait_for(texts, timeout)

    def wait_for(self, texts: list[str], timeout: float = 60) -> str:
        deadline, body = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            body = self.js("document.body ? document.body.innerText : ''") or ""
            if all(t in body for t in texts):
                return body
            time.sleep(0.5)
        missing = [t for t in texts if t not in body]
        raise AssertionError(f"not rendered: {missing}; page text: {body[:1500]!r}")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def click_text(self, text: str, tag: str = "button") -> bool:
        return bool(self.js(f"""(() => {{
            const b = [...document.querySelectorAll({tag!r})].find(e => e.innerText.trim() === {text!r});
            if (!b) return false; b.click(); return true; }})()"""))

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            _stop(self.proc)


@pytest.fixture(scope="module")
def materialized_home(tmp_path_factory):
    """A DAGSTER_HOME (deploy/dagster.yaml.local) holding the FAQ runs of two tenant partitions."""
    import dagster as dg

    from mm_assets.partitions import tenant_partitions
    from resources import QualityResource
    from tests.conftest import TINY_EVAL, TINY_FAQ, write_json
    from tests.deploy.test_postgres_instance import _faq_definitions, _resources

    tmp = tmp_path_factory.mktemp("ui")
    home, data, storage = tmp / "dagster_home", tmp / "data", tmp / "storage"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml.local", home / "dagster.yaml")
    for tenant in TENANTS:
        write_json(data / tenant / "faq.json", [{**r, "question": f"{r['question']} ({tenant})"} for r in TINY_FAQ])
        write_json(data / tenant / "eval_queries.json", TINY_EVAL)
    old_home = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            instance.add_dynamic_partitions(tenant_partitions.name, list(TENANTS))
            for tenant in TENANTS:  # no tags, as the asset graph's Materialize button launches
                result = dg.materialize(_faq_definitions(), instance=instance, partition_key=tenant,
                                        resources=_resources(data, storage), raise_on_error=False)
                assert result.success, tenant
            # the second tenant's next candidate meets gates it cannot pass: its live version is kept
            kept = TENANTS[1]
            write_json(data / kept / "faq.json", [{**r, "question": f"{r['question']} ({kept}, v2)"} for r in TINY_FAQ])
            strict = {**_resources(data, storage), "quality": QualityResource(min_n=1000)}
            result = dg.materialize(_faq_definitions(), instance=instance, partition_key=kept, resources=strict,
                                    raise_on_error=False)
            assert result.success, "a refused candidate is not a failed run"
    finally:
        if old_home is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = old_home
    seeded = subprocess.run([str(Path(sys.executable).parent / "mm"), "models", "seed"], cwd=ROOT, timeout=300,
                            capture_output=True, text=True, env={**os.environ, "DAGSTER_HOME": str(home),
                                                                 "MM_STORAGE_DIR": str(storage), "MM_DATA_DIR": str(data)})
    assert seeded.returncode == 0, seeded.stderr
    return home, data, storage


@pytest.fixture(scope="module")
def webserver(materialized_home):
    home, data, storage = materialized_home
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "MM_DATA_DIR": str(data), "MM_STORAGE_DIR": str(storage),
           "MM_EXECUTOR": "in_process"}
    log = open(home / "webserver.log", "wb")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "dagster-webserver"), "-w", str(ROOT / "workspace.yaml"),
                             "-h", "127.0.0.1", "-p", str(port)], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/server_info", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("dagster-webserver did not start: "
                                     + (home / "webserver.log").read_text(errors="replace")[-3000:])
            time.sleep(1)
        yield base
    finally:
        _stop(proc)
        log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    executable = _chromium()
    if not executable:
        pytest.skip("no Chromium: `apt-get install -y chromium` (deploy/ci-system-deps.sh)")
    pytest.importorskip("websocket", reason="websocket-client (a kubernetes client dependency) is missing")
    profile = Path(tempfile.mkdtemp(prefix="mm-chromium-"))
    instance = Browser(executable, profile)
    try:
        yield instance
    finally:
        instance.close()
        shutil.rmtree(profile, ignore_errors=True)


def _screenshot(browser: Browser, name: str, tmp_path: Path) -> None:
    """The committed screenshot is written when missing or on request, so `make test` leaves the tree clean."""
    committed = SCREENSHOTS / f"{name}.png"
    target = committed if (not committed.exists() or os.environ.get("MM_UPDATE_SCREENSHOTS") == "1") \
        else tmp_path / f"{name}.png"
    browser.screenshot(target)
    png = target.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and 20_000 < len(png) < 800_000, name


def test_asset_graph_shows_the_faq_pipeline(webserver, browser, tmp_path):
    body = browser.open(f"{webserver}/locations/mm_knowledge/asset-groups/faq",
                        ["validated_dataset", "embeddings", "index_candidate", "evaluation", "live_index"])
    assert "mm_knowledge" in body
    time.sleep(1.5)
    _screenshot(browser, "asset_graph", tmp_path)


def test_evaluation_partitions_and_check_reasons(webserver, browser, tmp_path):
    body = browser.open(f"{webserver}/assets/faq/evaluation?view=partitions", [*TENANTS, "Materialized"])
    assert "Missing (0)" in body and "Failed (0)" in body
    body = browser.open(f"{webserver}/assets/faq/evaluation?view=checks", ["evaluation_gates"])
    # the reason is on the page, not behind "[Show Markdown]": the passed tenant's cells, the
    # refused one's underpowered cells (the latest result shown is the refused candidate's)
    browser.wait_for(["underpowered"])
    _screenshot(browser, "check_reasons", tmp_path)


def test_evaluation_metadata_is_plotted_per_tenant(webserver, browser, tmp_path):
    body = browser.open(f"{webserver}/assets/faq/evaluation",
                        ["Latest materialization", "Latest check results", "tenant"])
    assert any(t in body for t in TENANTS)
    assert browser.click_text("Plots"), "no Plots toggle on the metadata section"
    body = browser.wait_for(["When graphing values by partition"])
    # one chart per tenant and cell: a tenant's points never join another's line
    for tenant in TENANTS:
        for key in (f"{tenant}/en/f1_macro", f"{tenant}/ja/recall_at_1", f"{tenant}/zh/latency_p95_ms"):
            assert key in body, key
    assert "\nen/f1_macro" not in body  # no tenant-less series mixing both
    deadline = time.monotonic() + 30
    while browser.js("document.querySelectorAll('canvas').length") < 6 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert browser.js("document.querySelectorAll('canvas').length") >= 6, "metadata plots did not draw"
    browser.js("""(() => { const b = [...document.querySelectorAll('button')].find(e => e.innerText.trim() === 'Plots');
                          b.scrollIntoView({block: 'start'}); })()""")
    time.sleep(1.5)  # charts animate in
    _screenshot(browser, "evaluation", tmp_path)


def test_refused_candidate_shows_as_kept_not_failed(webserver, browser, tmp_path):
    kept = TENANTS[1]
    body = browser.open(f"{webserver}/assets/faq/live_index?partition={kept}",
                        ["Latest materialization", "live_version", "kept"])
    assert "refused_candidate" in body and kept in body
    body = browser.open(f"{webserver}/assets/faq/live_index?view=checks", ["swap"])
    browser.wait_for(["kept"])
    _screenshot(browser, "live_index_kept", tmp_path)
    body = browser.open(f"{webserver}/assets/faq/live_index?view=partitions", [*TENANTS])
    assert "Failed (0)" in body


def test_runs_carry_the_tenant_tag_whoever_launched_them(webserver, browser, tmp_path):
    body = browser.open(f"{webserver}/runs", [*(f"mm/tenant: {t}" for t in TENANTS)], timeout=60)
    assert "mm/trigger: ui" in body
    _screenshot(browser, "runs", tmp_path)


def test_sensors_have_descriptions_and_automation_is_on(webserver, browser, tmp_path):
    browser.open(f"{webserver}/locations/mm_knowledge/sensors/tenant_data_sensor",
                        ["tenant_data_sensor", "Watches MM_DATA_DIR"])
    browser.open(f"{webserver}/automation", ["automation_condition_sensor", "tenant_data_sensor",
                                                     "nightly_reindex_schedule", "promotion_sensor"])
    _screenshot(browser, "automation", tmp_path)


def test_models_registry_is_materialized_by_the_cli(webserver, browser, tmp_path):
    body = browser.open(f"{webserver}/assets/models/registry", ["Latest materialization", "mm cli"])
    assert "Never materialized" not in body and "version_count" in body
    _screenshot(browser, "models_registry", tmp_path)
