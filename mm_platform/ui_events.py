"""What the CLI changed, told to the Dagster instance, so the UI shows it beside the runs.

`mm models seed|register|evaluate|promote|rollback` and `mm index rollback` change models and live
pointers outside a Dagster run; each reports a runless `AssetMaterialization` (something new is in
place: the registry, a champion, a live pointer) or `AssetObservation` (something was looked at: a
challenger evaluation) on the same asset key the Dagster assets use. Dagster is imported only here
and only when an event is reported, so the core stays importable without it.

An evaluation is an observation on purpose: a *materialization* of `models/challenger_evaluation`
is what the promotion sensor promotes, and a CLI evaluation run with `--no-promote` must not be
promoted behind the user's back.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path


def dagster_home() -> Path:
    """The embedded instance: `DAGSTER_HOME` or `.dagster/` (SQLite), created on first use."""
    home = Path(os.environ.get("DAGSTER_HOME") or Path(".dagster").absolute())
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        # queued runs, one run per tenant at a time and pool limits (deploy/dagster.yaml.local)
        template = Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml.local"
        config.write_text(template.read_text("utf-8") if template.exists() else "telemetry:\n  enabled: false\n", "utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _clean(metadata: Mapping) -> dict:
    """Dagster metadata takes str/int/float/bool and lists or dicts as JSON; drop the rest."""
    out = {}
    for key, value in metadata.items():
        if value is None:
            continue
        out[key] = value if isinstance(value, (str, int, float, bool, list, dict)) else str(value)
    return out


def report(asset_path: list[str], metadata: Mapping, *, partition: str | None = None,
           observation: bool = False, description: str | None = None) -> bool:
    """Record the event on the instance at `DAGSTER_HOME`; never fails the command it describes
    (the change is done and audit-logged already): a failure to report is a warning line."""
    try:
        import dagster as dg

        from mm_platform.settings import TENANT_PARTITIONS

        dagster_home()
        event_cls = dg.AssetObservation if observation else dg.AssetMaterialization
        event = event_cls(asset_key=dg.AssetKey(asset_path), partition=partition, description=description,
                          metadata={"source": "mm cli", **_clean(metadata)})
        instance = dg.DagsterInstance.get()
        if partition is not None:
            if partition not in instance.get_dynamic_partitions(TENANT_PARTITIONS):
                instance.add_dynamic_partitions(TENANT_PARTITIONS, [partition])
        instance.report_runless_asset_event(event)
        return True
    except Exception as exc:  # noqa: BLE001 - reporting is a courtesy to the UI, the change stands
        print(f"warning: could not report {'/'.join(asset_path)} to the Dagster instance: {exc}", file=sys.stderr)
        return False
