"""Named points of a run where a crash test can stop the process, to kill it there for real.

With `MM_PAUSE_AT=<point>` the process writes `MM_PAUSE_MARKER` (a file path) when it reaches that
point and then sleeps, so a test knows the moment and sends SIGKILL. Unset (always, outside the
crash tests) a point costs one environment lookup. The points:

- `embedding`: vectors of the first batch computed, the snapshot not yet published;
- `index_build`: the index version's staging folder written, not yet renamed into place;
- `before_swap`: the candidate evaluated and its gates passed, the live pointer not yet swapped.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

POINTS = ("embedding", "index_build", "before_swap")


def pause_point(name: str) -> None:
    if os.environ.get("MM_PAUSE_AT") != name:
        return
    marker = os.environ.get("MM_PAUSE_MARKER")
    if marker:
        Path(marker).write_text(f"{os.getpid()} {name}\n", "utf-8")
    time.sleep(3600)
