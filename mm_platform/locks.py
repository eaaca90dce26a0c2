"""One writer per tenant: a lease on `<storage>/<tenant>/.writer.lock`, taken around every change of
the tenant's live pointers and audit logs (data runs, model promotion, rollback) and by `mm run`
for its whole run.

The lease is filelock's `SoftFileLease`: a marker file created exclusively (which NFS-like
volumes honour, unlike `flock`), refreshed by a heartbeat. A holder killed on this host is
reclaimed at once (its pid is gone); one on another host after `lease_duration` without a
heartbeat. Who holds it (run, purpose, since) is written beside it, so a waiter can say whom it
waits for. Waiting is a sleep with back-off, never a busy loop, and ends in `TenantBusy` naming
the holder after `timeout` seconds.

Re-entrant within a process: `mm run` holds the lease while the promotion inside its run takes it
again.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

from mm_platform.atomic import atomic_write_json
from mm_platform.indexing.versions import now_iso

LOCK_FILE = ".writer.lock"
HOLDER_FILE = ".writer.json"
#: seconds without a heartbeat after which another host may take the lease
LEASE_SECONDS = 60.0
#: how long a writer waits for the lease by default (`MM_LOCK_TIMEOUT` overrides)
DEFAULT_TIMEOUT = 600.0


class TenantBusy(RuntimeError):
    """The tenant's writer lease is held by someone else past the wait's timeout."""

    def __init__(self, tenant: str, holder: dict, waited: float):
        self.tenant, self.holder, self.waited = tenant, holder, waited
        super().__init__(f"tenant {tenant} is busy: {describe(holder)}; gave up after {waited:.0f} s "
                         f"(MM_LOCK_TIMEOUT sets how long to wait)")


def describe(holder: dict) -> str:
    if not holder:
        return "held by a writer that recorded nothing (still starting, or from an older version)"
    return (f"held by {holder.get('purpose', 'a writer')} (run {holder.get('run_id', '?')}, pid {holder.get('pid')} "
            f"on {holder.get('host')}, since {holder.get('since')})")


def default_timeout() -> float:
    return float(os.environ.get("MM_LOCK_TIMEOUT", DEFAULT_TIMEOUT))


class _Held:
    """Depth of each lease this process holds: process-wide, not per thread, because the lease
    belongs to the process (a step running on another thread of the same `mm run` is inside it)."""

    def __init__(self):
        self.depth: dict[str, int] = {}


_held = _Held()
_leases: dict[str, filelock.SoftFileLease] = {}
_leases_guard = threading.Lock()


def _lease(path: Path) -> filelock.SoftFileLease:
    key = str(path)
    with _leases_guard:
        if key not in _leases:
            _leases[key] = filelock.SoftFileLease(key, lease_duration=LEASE_SECONDS, thread_local=False)
        return _leases[key]


def holder(tenant_storage: Path) -> dict:
    path = Path(tenant_storage) / HOLDER_FILE
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}


@contextmanager
def tenant_writer(tenant_storage: Path, tenant: str, *, purpose: str, run_id: str = "",
                  timeout: float | None = None, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the tenant's writer lease for the block (re-entrant in this process)."""
    folder = Path(tenant_storage)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    key = str(path)
    with _leases_guard:
        nested = bool(_held.depth.get(key))
        if nested:
            _held.depth[key] += 1
    if nested:
        try:
            yield
        finally:
            with _leases_guard:
                _held.depth[key] -= 1
        return
    lease = _lease(path)
    limit = default_timeout() if timeout is None else timeout
    started, pause, told = time.monotonic(), 0.1, None
    while True:
        try:
            lease.acquire(timeout=0)
            break
        except filelock.Timeout:
            waited = time.monotonic() - started
            current = holder(folder)
            if waited >= limit:
                raise TenantBusy(tenant, current, waited) from None
            message = f"waiting for tenant {tenant}'s writer lease, {describe(current)}"
            if on_wait and message != told:
                on_wait(message)
                told = message
            time.sleep(min(pause, max(0.0, limit - waited)))
            pause = min(pause * 2, 5.0)  # back-off: a long wait costs a wake-up every 5 s
    _held.depth[key] = 1
    try:
        atomic_write_json(folder / HOLDER_FILE, {"tenant": tenant, "purpose": purpose, "run_id": run_id,
                                                 "pid": os.getpid(), "host": socket.gethostname(), "since": now_iso()})
        yield
    finally:
        _held.depth[key] = 0
        try:
            (folder / HOLDER_FILE).unlink(missing_ok=True)
        finally:
            lease.release()
