"""The Dagster UI, in a real headless Chromium, shows what operators look at.

Two tenants' FAQ assets are materialized in-process into a temporary DAGSTER_HOME (configured
with deploy/dagster.yaml.local); `dagster-webserver -w workspace.yaml` serves it on 127.0.0.1;
Chromium (Debian's `chromium`, driven over the DevTools protocol with `websocket-client`, a
dependency of the kubernetes client already in the venv; no browser download) opens:

- the `faq` asset group graph: every FAQ asset is a node;
- `faq/evaluation` partitions: the tenant partition keys, materialized;
- `faq/evaluation` checks: the blocking `evaluation_gates` check and its result;
- `faq/evaluation` overview, metadata as Plots: numeric F1 / recall / latency per language are
  plotted (canvas charts titled with the metadata keys); the screenshot is saved to
  docs/screenshots/evaluation.png when that file is missing or MM_UPDATE_SCREENSHOTS=1 (else to a
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
SCREENSHOT = ROOT / "docs" / "screenshots" / "evaluation.png"
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
            for tenant in TENANTS:
                result = dg.materialize(_faq_definitions(), instance=instance, partition_key=tenant,
                                        resources=_resources(data, storage), raise_on_error=False)
                assert result.success, tenant
    finally:
        if old_home is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = old_home
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


def test_asset_graph_shows_the_faq_pipeline(webserver, browser):
    body = browser.open(f"{webserver}/locations/mm_knowledge/asset-groups/faq",
                        ["validated_dataset", "embeddings", "index_candidate", "evaluation", "live_index"])
    assert "mm_knowledge" in body


def test_evaluation_partitions_and_checks(webserver, browser):
    body = browser.open(f"{webserver}/assets/faq/evaluation?view=partitions", [*TENANTS, "Materialized"])
    assert "Missing (0)" in body and "Failed (0)" in body
    body = browser.open(f"{webserver}/assets/faq/evaluation?view=checks", ["evaluation_gates", "Passed"])
    assert "blocking asset check" in body


def test_evaluation_metadata_is_plotted(webserver, browser, tmp_path):
    body = browser.open(f"{webserver}/assets/faq/evaluation",
                        ["Latest materialization", "Latest check results", "en/f1_macro", "zh/latency_p95_ms"])
    assert any(t in body for t in TENANTS)
    clicked = browser.js("""(() => {
        const b = [...document.querySelectorAll('button')].find(e => e.innerText.trim() === 'Plots');
        if (!b) return false; b.click(); return true; })()""")
    assert clicked, "no Plots toggle on the metadata section"
    body = browser.wait_for(["When graphing values by partition"])
    for key in ("en/f1_macro", "ja/recall_at_1", "zh/latency_p95_ms", "all/f1_macro", "all/latency_p95_ms"):
        assert key in body, key
    deadline = time.monotonic() + 30
    while browser.js("document.querySelectorAll('canvas').length") < 10 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert browser.js("document.querySelectorAll('canvas').length") >= 10, "metadata plots did not draw"
    browser.js("""(() => { const b = [...document.querySelectorAll('button')].find(e => e.innerText.trim() === 'Plots');
                          b.scrollIntoView({block: 'start'}); })()""")
    time.sleep(1.5)  # charts animate in
    # the committed screenshot is written when missing or on request, so `make test` leaves the tree clean
    target = SCREENSHOT if (not SCREENSHOT.exists() or os.environ.get("MM_UPDATE_SCREENSHOTS") == "1") \
        else tmp_path / "evaluation.png"
    browser.screenshot(target)
    png = target.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and 20_000 < len(png) < 600_000
