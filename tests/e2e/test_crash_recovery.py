"""A real `mm run` SIGKILLed at three moments (while embedding, while building the index, between
the build and the swap): what is live stays live, and the next run recovers without hands (the
killed runs marked failed with their pool slots freed, orphaned staging folders removed, the
tenant's writer lease reclaimed) and completes. A second `mm run` of the tenant while the first
holds it waits, naming the holder, and is refused after its timeout."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_FAQ, write_json
from tests.e2e.conftest import TENANT

pytestmark = pytest.mark.slow
MM = str(Path(sys.executable).parent / "mm")


def mm_run(env, expect=(0,), timeout=300, **extra) -> subprocess.CompletedProcess:
    result = subprocess.run([MM, "run", "--tenant", TENANT], env={**env, **extra}, cwd=ROOT, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode in expect, f"rc {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def live(env) -> str | None:
    path = Path(env["MM_STORAGE_DIR"]) / TENANT / "indexes" / "faq" / "LIVE.json"
    return json.loads(path.read_text())["version"] if path.exists() else None


def change_a_row(env, n: int) -> None:
    rows = [dict(r) for r in TINY_FAQ]
    rows[0]["question"] = f"How do I return the headphones (revision {n})?"
    write_json(Path(env["MM_DATA_DIR"]) / TENANT / "faq.json", rows)


def kill_at(env, point: str, tmp: Path, while_paused=None) -> int:
    marker = tmp / f"paused-{point}"
    proc = subprocess.Popen([MM, "run", "--tenant", TENANT], env={**env, "MM_PAUSE_AT": point,
                                                                  "MM_PAUSE_MARKER": str(marker)},
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert proc.poll() is None, f"mm run ended ({proc.returncode}) before reaching {point}"
        assert time.monotonic() < deadline, f"mm run never reached {point}"
        time.sleep(0.1)
    try:
        if while_paused:
            while_paused(proc.pid)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc.pid


def runs(env) -> list[dict]:
    code = ("import dagster as dg, json; inst = dg.DagsterInstance.get(); "
            "print(json.dumps([{'id': r.run_id, 'status': r.status.value, 'pid': r.tags.get('mm/pid')} "
            "for r in inst.get_runs()]))")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def staging_left(env) -> list[str]:
    return [str(p) for p in Path(env["MM_STORAGE_DIR"]).rglob(".staging-*")]


def test_sigkill_at_three_moments_then_the_next_run_recovers(tiny_env, tmp_path):
    env = tiny_env
    mm_run(env)
    first = live(env)
    assert first
    killed, left = [], {}

    def second_run_is_refused(holder_pid: int) -> None:
        """Two `mm run`s of one tenant serialize: the second waits, naming the first, then gives up."""
        second = mm_run(env, expect=(1,), MM_LOCK_TIMEOUT="3")
        assert "waiting for tenant acme's writer lease" in second.stdout
        assert "mm run (index_tenant)" in second.stdout and f"pid {holder_pid}" in second.stdout
        assert "tenant acme is busy" in second.stdout

    for n, point in enumerate(("embedding", "index_build", "before_swap"), start=1):
        change_a_row(env, n)
        killed.append(str(kill_at(env, point, tmp_path,
                                  while_paused=second_run_is_refused if point == "before_swap" else None)))
        assert live(env) == first, f"killed at {point}: the live pointer moved"
        left[point] = staging_left(env)
    # the build killed with its staging folder written; the next run that builds removed it
    assert left["index_build"] and not set(left["index_build"]) & set(left["before_swap"])
    out = mm_run(env).stdout
    assert live(env) not in (None, first), "the recovery run did not complete its swap"
    assert "recovered run" in out and "pool slots freed" in out
    by_pid = {r["pid"]: r["status"] for r in runs(env)}
    assert all(by_pid[pid] == "FAILURE" for pid in killed), by_pid
    assert not staging_left(env), staging_left(env)
    history = json.loads(subprocess.run([MM, "index", "history", "--tenant", TENANT, "--json"], env=env, cwd=ROOT,
                                        capture_output=True, text=True, timeout=120).stdout)
    assert [h["to"] for h in history] == [first, live(env)]  # one swap per completed run, no duplicates
