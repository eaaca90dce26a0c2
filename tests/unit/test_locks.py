"""One writer per tenant: the lease serializes pointer changes across processes, names its holder,
waits without spinning and is reclaimed from a killed holder at once."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mm_platform.indexing.store import IndexStore
from mm_platform.indexing.versions import MANIFEST_FILE
from mm_platform.locks import TenantBusy, tenant_writer
from tests.conftest import ROOT

HOLD = """
import sys, time
from pathlib import Path
from mm_platform.locks import tenant_writer
with tenant_writer(Path(sys.argv[1]), "acme", purpose="test holder", run_id="run-holder"):
    Path(sys.argv[2]).write_text("held")
    time.sleep(float(sys.argv[3]))
"""


def _holder(folder: Path, marker: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), str(marker), str(seconds)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "holder did not take the lease"
        time.sleep(0.05)
    return proc


def test_a_held_lease_is_waited_for_with_the_holder_named_then_refused(tmp_path):
    proc = _holder(tmp_path, tmp_path / "marker", 30)
    try:
        said = []
        started = time.monotonic()
        with pytest.raises(TenantBusy) as info:
            with tenant_writer(tmp_path, "acme", purpose="second writer", timeout=1.5, on_wait=said.append):
                pass
        assert 1.4 < time.monotonic() - started < 10
        assert "test holder" in str(info.value) and "run-holder" in str(info.value) and f"pid {proc.pid}" in str(info.value)
        assert said and "waiting for tenant acme's writer lease" in said[0] and "test holder" in said[0]
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_holder_is_reclaimed_at_once(tmp_path):
    proc = _holder(tmp_path, tmp_path / "marker", 300)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    started = time.monotonic()
    with tenant_writer(tmp_path, "acme", purpose="after the crash", timeout=5):
        assert json.loads((tmp_path / ".writer.json").read_text())["purpose"] == "after the crash"
    assert time.monotonic() - started < 3


def test_waiting_sleeps_instead_of_spinning(tmp_path):
    proc = _holder(tmp_path, tmp_path / "marker", 30)
    try:
        cpu_before, wall_before = time.thread_time(), time.monotonic()
        with pytest.raises(TenantBusy):
            with tenant_writer(tmp_path, "acme", purpose="waiter", timeout=4):
                pass
        cpu = time.thread_time() - cpu_before
        assert cpu / (time.monotonic() - wall_before) < 0.05, f"{cpu:.3f} s CPU while waiting"
    finally:
        proc.kill()
        proc.wait()


def test_the_lease_is_reentrant_in_one_process(tmp_path):
    with tenant_writer(tmp_path, "acme", purpose="outer", timeout=1):
        with tenant_writer(tmp_path, "acme", purpose="inner", timeout=1):
            pass
        assert json.loads((tmp_path / ".writer.json").read_text())["purpose"] == "outer"
    assert not (tmp_path / ".writer.json").exists()


PROMOTE = """
import sys
from pathlib import Path
from mm_platform.indexing.store import IndexStore
store = IndexStore(Path(sys.argv[1]), "acme", "faq", writer_dir=Path(sys.argv[2]))
for i in range(int(sys.argv[4])):
    store.promote(f"{sys.argv[3]}{i % 3}", f"run-{sys.argv[3]}", keep=10)
"""


def test_concurrent_promotions_never_lose_or_duplicate_a_swap(tmp_path):
    """Two processes swapping the same pointer: every audit entry starts from the pointer the
    previous entry left (no read-modify-write race), and no entry appears twice."""
    root, writer = tmp_path / "indexes" / "faq", tmp_path
    for prefix in ("a", "b"):
        for i in range(3):
            (root / "versions" / f"{prefix}{i}").mkdir(parents=True)
            (root / "versions" / f"{prefix}{i}" / MANIFEST_FILE).write_text("{}")
    procs = [subprocess.Popen([sys.executable, "-c", PROMOTE, str(root), str(writer), prefix, "15"], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}) for prefix in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    history = IndexStore(root, "acme", "faq", writer_dir=writer).history()
    assert len(history) == 30
    for before, after in zip(history, history[1:]):
        assert after["from"] == before["to"], (before, after)


def test_threads_of_one_process_share_the_lease(tmp_path):
    errors = []

    def swap():
        try:
            with tenant_writer(tmp_path, "acme", purpose="thread", timeout=5):
                time.sleep(0.05)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    with tenant_writer(tmp_path, "acme", purpose="main", timeout=1):
        worker = threading.Thread(target=swap)
        worker.start()
        worker.join(timeout=10)
    assert not errors and not worker.is_alive()
