"""The patch of Dagster's in-process slot wait (mm_platform/slot_waits.py) still fits Dagster."""

import inspect
import time
from types import SimpleNamespace

from dagster._core.execution.plan.active import ActiveExecution
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext


def test_the_patched_dagster_wait_is_still_the_busy_one():
    """When this fails, Dagster changed the wait: check whether the patch is still needed."""
    from mm_platform import slot_waits

    if slot_waits._state["installed"]:
        return  # patched in this process already: the originals are gone
    assert "min([0," in inspect.getsource(InstanceConcurrencyContext.interval_to_next_pending_claim_check)
    assert "time.sleep(sleep_amt)" in inspect.getsource(ActiveExecution.sleep_til_ready)


def test_the_patched_interval_is_the_time_to_the_next_claim():
    from mm_platform import slot_waits

    slot_waits.install(log=lambda m: None)
    context = SimpleNamespace(_pending_claims={"step"}, _pending_timeouts={"step": time.time() + 1.5})
    assert 1.0 < InstanceConcurrencyContext.interval_to_next_pending_claim_check(context) <= 1.5
    context = SimpleNamespace(_pending_claims={"step"}, _pending_timeouts={"step": time.time() - 3})
    assert InstanceConcurrencyContext.interval_to_next_pending_claim_check(context) == 0.0
