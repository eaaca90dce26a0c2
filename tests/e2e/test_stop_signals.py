"""`mm run` stops when told and waits without burning a core.

A real `mm run` subprocess is sent SIGTERM, then another SIGINT, in the middle of a step: each
exits within 10 s with 143 / 130 and a one-line message, its run is marked failed in the
instance, its pool slots are free, no staging folder is left and the live version is unchanged.
A run blocked on a pool slot held by another run sleeps (under 5 % of a core), says which run
holds the slot, stops on SIGTERM, and fails naming the holder when `MM_SLOT_TIMEOUT` passes.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import TENANT
from tests.e2e.test_crash_recovery import live, mm_run, staging_left

pytestmark = pytest.mark.slow
MM = str(Path(sys.executable).parent / "mm")


def _instance_facts(env) -> dict:
    code = ("import dagster as dg, json; inst = dg.DagsterInstance.get(); runs = inst.get_runs(); "
            "info = inst.event_log_storage.get_concurrency_info('cpu_index'); "
            "print(json.dumps({'statuses': [r.status.value for r in runs], "
            "'claimed': [s.run_id for s in info.claimed_slots], 'pending': [p.run_id for p in info.pending_steps]}))")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_step_stops_the_run_cleanly(tiny_env, tmp_path, signum, code):
    env = tiny_env  # nothing live yet: a stopped first run must leave it so
    first = live(env)
    marker = tmp_path / "paused"
    proc = subprocess.Popen([MM, "run", "--tenant", TENANT], env={**env, "MM_PAUSE_AT": "index_build",
                                                                  "MM_PAUSE_MARKER": str(marker)},
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "never reached the index build"
        time.sleep(0.1)
    sent = time.monotonic()
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    stopped_in = time.monotonic() - sent
    assert proc.returncode == code, (proc.returncode, out, err)
    assert stopped_in < 10, f"took {stopped_in:.1f} s to stop"
    assert f"stopped by {signal.Signals(signum).name}" in err and "nothing live changed" in err
    assert live(env) == first
    facts = _instance_facts(env)
    assert facts["statuses"][0] == "FAILURE" and not facts["claimed"] and not facts["pending"], facts
    assert not staging_left(env)
    print(f"{signal.Signals(signum).name}: stopped in {stopped_in:.2f} s")  # docs/reliability.md quotes these


def test_a_run_blocked_on_a_held_slot_sleeps_names_the_holder_and_stops(tiny_env):
    env = tiny_env
    # another run holds the only `cpu_index` slot
    code = ("import dagster as dg; inst = dg.DagsterInstance.get(); s = inst.event_log_storage; "
            "s.set_concurrency_slots('cpu_index', 1); "
            "assert s.claim_concurrency_slot('cpu_index', 'holderrun-0000', 'faq__validated_dataset').is_claimed")
    from mm_platform.ui_events import dagster_home

    old = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
    try:
        dagster_home()  # the instance config `mm run` would write
    finally:
        if old is None:
            os.environ.pop("DAGSTER_HOME")
        else:
            os.environ["DAGSTER_HOME"] = old
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, timeout=120)

    proc = subprocess.Popen([MM, "run", "--tenant", TENANT], env={**env, "MM_SLOT_TIMEOUT": "25"}, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)  # start-up (imports, the sweep) and the first claim attempt
    assert proc.poll() is None, proc.communicate()
    cpu, wall = _cpu_seconds(proc.pid), time.monotonic()
    time.sleep(5)
    share = (_cpu_seconds(proc.pid) - cpu) / (time.monotonic() - wall)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert share < 0.05, f"{share:.1%} of a core while waiting"
    print(f"blocked on a slot: {share:.2%} of a core while waiting")  # docs/reliability.md quotes this
    assert "waiting for a `cpu_index` slot held by run holderru" in out, out
    assert proc.returncode == 143, (proc.returncode, out, err)
    facts = _instance_facts(env)
    assert facts["claimed"] == ["holderrun-0000"] and set(facts["pending"]) <= {"holderrun-0000"}, facts  # ours withdrawn

    timed_out = mm_run(env, expect=(1,), MM_SLOT_TIMEOUT="3")
    assert "gave up after 3 s waiting for a `cpu_index` slot held by run holderru" in timed_out.stdout


def test_mm_serve_drains_in_flight_requests_on_sigterm(tmp_path):
    """A rolling update: SIGTERM while requests are in flight; every request whose connection was
    accepted is answered 200, later ones are refused at connect (the next pod takes them)."""
    import socket
    import threading

    import httpx

    from mm_platform.inputs.tenancy import Layout
    from tests.serving import build_and_promote, retrieval_body, write_tenant

    layout = Layout(tmp_path / "data", tmp_path / "storage")
    write_tenant(layout, "acme")
    build_and_promote(layout, "acme")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = "key-acme-0123456789"
    env = {**os.environ, "MM_DATA_DIR": str(layout.data_dir), "MM_STORAGE_DIR": str(layout.storage_dir),
           "MM_API_KEYS": f"acme:{key}", "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen([MM, "serve", "--port", str(port), "--cache-size", "0", "--no-access-log"], env=env,
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "mm serve did not get ready"
            time.sleep(0.3)
        warm = httpx.post(f"{base}/retrieval", headers={"Authorization": f"Bearer {key}"}, timeout=60,
                          json=retrieval_body("acme", "warm up the lexical channel"))
        assert warm.status_code == 200, warm.text
        outcomes: list[str] = []
        stop = threading.Event()

        def client(n: int) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                try:  # a new connection per request: accepted before the SIGTERM or refused after it
                    r = httpx.post(f"{base}/retrieval", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                                   json=retrieval_body("acme", f"How long does shipping take {n}-{i}?"))
                    outcomes.append("ok" if r.status_code == 200 else f"status {r.status_code}")
                except httpx.ConnectError:
                    outcomes.append("refused")
                    return
                except httpx.HTTPError as exc:  # accepted, then dropped: what a drain must never do
                    outcomes.append(f"dropped: {type(exc).__name__}")

        threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
        for t in threads:
            t.start()
        time.sleep(3)
        answered_before = outcomes.count("ok")
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        stop.set()
        for t in threads:
            t.join(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    print(f"mm serve drain: {answered_before} answered before SIGTERM, {outcomes.count('ok')} in all, "
          f"{outcomes.count('refused')} refused after it")
    # requests were in flight when SIGTERM came, and every one of them was answered
    assert answered_before > 0 and outcomes.count("ok") > answered_before and outcomes.count("refused") > 0
    # uvicorn re-raises the signal after its graceful shutdown, so the exit status says SIGTERM
    assert server.returncode in (0, -signal.SIGTERM), server.returncode
    assert not [o for o in outcomes if o not in ("ok", "refused")], sorted(set(outcomes))
