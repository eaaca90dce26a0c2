"""Recovery without hands after a run was killed (SIGKILL, OOM, a lost node).

- Runs the CLI started in this host's processes carry `mm/pid` and `mm/host` tags. A run still
  marked STARTING/STARTED/CANCELING whose process is gone is marked failed, and the pool slots it
  held (or waited for) are freed, so the next run of the tenant does not wait for them forever.
  (Runs launched by the daemon are watched by Dagster's run monitoring: `run_monitoring` in
  `deploy/dagster.yaml.*`.)
- Staging folders (`.staging-<random>-<pid>-<host>`, where validation and index builds write
  before their atomic rename) whose writer is gone are removed.

Dagster is imported only by the run sweep, so the staging sweep stays usable from the core.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

#: a staging folder from another host (whose pid cannot be probed from here) is orphaned after this
FOREIGN_STAGING_MAX_AGE_S = 6 * 3600
PID_TAG, HOST_TAG = "mm/pid", "mm/host"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def process_tags() -> dict[str, str]:
    """The tags that let a later sweep tell whether this process is still alive."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def staging_name(prefix: str = ".staging") -> str:
    """`<prefix>-<random>-<pid>-<host>` (a host name may contain dashes: it goes last)."""
    return f"{prefix}-{os.urandom(4).hex()}-{os.getpid()}-{socket.gethostname()}"


def _staging_owner_gone(folder: Path) -> bool:
    parts = folder.name.split("-", 3)
    if len(parts) == 4 and parts[2].isdigit() and parts[3] == socket.gethostname():
        return not pid_alive(int(parts[2]))
    try:  # an older name, or another host's: judge by age
        return time.time() - folder.stat().st_mtime > FOREIGN_STAGING_MAX_AGE_S
    except OSError:
        return False


def sweep_staging(root: Path, prefix: str = ".staging") -> list[str]:
    """Remove the orphaned staging folders directly under `root`; returns their names."""
    removed = []
    if not Path(root).is_dir():
        return removed
    for entry in Path(root).iterdir():
        if entry.name.startswith(prefix + "-") and entry.is_dir() and _staging_owner_gone(entry):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed


def sweep_dead_runs(instance, log=print) -> list[str]:
    """Mark failed every run of this host whose process is gone, and free its pool slots."""
    import dagster as dg

    host = socket.gethostname()
    active = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
    swept = []
    for run in instance.get_runs(dg.RunsFilter(statuses=active)):
        pid = run.tags.get(PID_TAG, "")
        if run.tags.get(HOST_TAG) != host or not pid.isdigit() or pid_alive(int(pid)):
            continue
        instance.report_run_failed(run, message=f"process {pid} on {host} is gone (killed?): marked failed by the "
                                                f"next mm run, its pool slots freed")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        swept.append(run.run_id)
        log(f"recovered run {run.run_id[:8]} of {run.tags.get('mm/tenant', '?')}: its process {pid} is gone; "
            "marked failed, pool slots freed")
    return swept
