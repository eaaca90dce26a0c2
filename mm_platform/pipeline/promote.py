"""Step 6: the live pointer swapped to a candidate whose recorded verdict passed."""

from __future__ import annotations

import logging
from typing import Callable

from mm_platform.evaluation.gates import GateConfig
from mm_platform.faults import pause_point
from mm_platform.inputs.tenancy import Layout
from mm_platform.inputs.tenant_config import load_tenant_config
from mm_platform.modalities.base import Modality
from mm_platform.pipeline.inputs import absent
from mm_platform.pipeline.tenant import DEFAULT_KEEP_VERSIONS, index_store

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


# --- 6. live pointer ------------------------------------------------------------------------------

class GateFailed(RuntimeError):
    """The candidate did not pass its gates; the live pointer was left alone."""


def promote(layout: Layout, tenant: str, modality: Modality, report: dict, gates: GateConfig, run_id: str) -> dict:
    """Swap the live pointer to the evaluated version and strategy. The record's verdict must be a
    pass and, when the live version changed since the evaluation, the candidate must have been
    compared with what is live now. Raises GateFailed and changes nothing otherwise."""
    if absent(report):
        return {"present": False, "reason": report.get("reason"), "swapped": False, "live_version": None}
    store = index_store(layout, tenant, modality.name)
    # the re-check and the swap under the tenant's writer lease: what is live cannot change between
    with store.writer(f"promotion of {modality.name}", run_id):
        return _promote_locked(layout, tenant, modality, report, store, run_id)


def _promote_locked(layout: Layout, tenant: str, modality: Modality, report: dict, store, run_id: str) -> dict:
    tenant_cfg = load_tenant_config(layout.tenant_data(tenant))
    live_version = store.live_version()
    failures = list(report["gate_failures"])
    if not failures and live_version not in (None, report["index_version"], report.get("compared_to_live")):
        failures.append(f"the live version changed to {live_version} after this candidate was evaluated against "
                        f"{report.get('compared_to_live') or 'nothing'}; evaluate it again")
    if failures:
        raise GateFailed(f"{tenant}/{modality.name} candidate {report['index_version']} not promoted: " + "; ".join(failures))
    pause_point("before_swap")
    entry = store.promote(report["index_version"], run_id, report["summary"],
                          keep=tenant_cfg.keep_versions or DEFAULT_KEEP_VERSIONS, strategy=report.get("strategy"))
    return {"present": True, "live_version": report["index_version"], "previous_version": live_version,
            "swapped": entry is not None, "audit": entry, "strategy": (report.get("strategy") or {}).get("id")}
