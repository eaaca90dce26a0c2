"""Waiting for a pool slot in an in-process run: a sleep with back-off that says whom it waits for,
stops on SIGINT/SIGTERM, and gives up after `MM_SLOT_TIMEOUT` seconds naming the holder.

Why a patch: in Dagster 1.13 the in-process executor's wait for a concurrency slot never sleeps
(`InstanceConcurrencyContext.interval_to_next_pending_claim_check` returns `min(0, ...)`, so
`ActiveExecution.sleep_til_ready` sleeps for 0 s) and never looks at the interrupt Dagster
captured: a blocked `mm run` spins a core at 100 % and ignores SIGTERM and Ctrl-C. `install()`
replaces that one wait, in this process only, for `mm run`'s in-process runs; runs launched by
the daemon use their own executors and are not touched. `tests/unit/test_slot_waits.py` fails
when an upgraded Dagster changes the patched methods, so the patch is looked at again then.
"""

from __future__ import annotations

import os
import sys
import time

#: seconds a run waits for a pool slot before it fails naming the holder (0: wait for ever)
DEFAULT_SLOT_TIMEOUT = 1800.0
_state = {"installed": False}


class SlotWaitTimeout(RuntimeError):
    pass


def slot_timeout() -> float:
    return float(os.environ.get("MM_SLOT_TIMEOUT", DEFAULT_SLOT_TIMEOUT))


def holders(instance, pools: list[str]) -> list[str]:
    """'<pool> slot held by run <id> (step <key>)' for every claimed slot of these pools."""
    out = []
    for pool in pools:
        try:
            info = instance.event_log_storage.get_concurrency_info(pool)
        except Exception:  # noqa: BLE001 - a description, never a reason to fail
            continue
        out += [f"a `{pool}` slot held by run {slot.run_id[:8]} (step {slot.step_key})" for slot in info.claimed_slots]
    return out


def install(log=lambda message: print(message, file=sys.stderr, flush=True)) -> None:
    """Replace the busy wait of Dagster's in-process executor (idempotent)."""
    if _state["installed"]:
        return
    from dagster._core.errors import DagsterExecutionInterruptedError
    from dagster._core.execution.plan.active import ActiveExecution
    from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
    from dagster._utils.interrupts import pop_captured_interrupt

    def interval_to_next_pending_claim_check(self) -> float:
        if not self._pending_claims:
            return 0.0
        now = time.time()
        return max(0.0, min(ready_at - now for ready_at in self._pending_timeouts.values()))

    def sleep_til_ready(self) -> None:
        context = self._instance_concurrency_context
        waiting = bool(context and context.has_pending_claims())
        if waiting:
            started = getattr(self, "_mm_wait_started", None) or time.monotonic()
            self._mm_wait_started = started
            steps = context.pending_claim_steps()
            pools = sorted({self._plan.get_step_by_key(key).pool for key in steps
                            if self._plan.get_step_by_key(key).pool})
            said = holders(context._instance, pools)
            message = (f"waiting for {', '.join(said) or 'a pool slot'} (since "
                       f"{time.strftime('%H:%M:%S', time.localtime(time.time() - (time.monotonic() - started)))})")
            if message != getattr(self, "_mm_wait_said", None):
                log(f"   {message}")
                self._mm_wait_said = message
            limit = slot_timeout()
            if limit and time.monotonic() - started > limit:
                raise SlotWaitTimeout(f"gave up after {limit:.0f} s {message} (MM_SLOT_TIMEOUT sets how long to wait)")
        else:
            self._mm_wait_started = None
        # a sleep, at least 50 ms and at most 2 s, waking for interrupts
        amount = self.sleep_interval()
        amount = min(2.0, max(0.05, amount)) if waiting else max(0.0, amount)
        deadline = time.monotonic() + amount
        while True:
            if pop_captured_interrupt():
                raise DagsterExecutionInterruptedError("interrupted while waiting for a pool slot")
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.2))

    InstanceConcurrencyContext.interval_to_next_pending_claim_check = interval_to_next_pending_claim_check
    ActiveExecution.sleep_til_ready = sleep_til_ready
    _state["installed"] = True
