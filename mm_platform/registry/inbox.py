"""The registry's drop-folder inbox: a folder with a READY file is checked, registered and parked."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mm_platform.registry.common import (
    INBOX_META_FILES,
    MANIFEST_FILE,
    READY_FILE,
    REJECTED_FILE,
    RegistryError,
    _validate_family,
)
from mm_platform.registry.safety import guess_backend


class InboxMixin:
    """Inbox handling of a registry (`VersionStore.register` does the registering)."""

    # -- inbox --

    def inbox_dir(self, family: str | None = None) -> Path:
        return self.root / "inbox" / family if family else self.root / "inbox"

    def _inbox_meta(self, folder: Path) -> dict:
        for name in (MANIFEST_FILE, READY_FILE):
            file = folder / name
            if file.is_file():
                text = file.read_text("utf-8").strip()
                if text:
                    try:
                        meta = json.loads(text)
                    except ValueError as exc:
                        raise RegistryError(f"{name} is not valid JSON ({exc})") from None
                    if not isinstance(meta, dict):
                        raise RegistryError(f"{name} must hold a JSON object")
                    return meta
        return {}

    @staticmethod
    def _park(folder: Path, target_root: Path) -> Path:
        target_root.mkdir(parents=True, exist_ok=True)
        target = target_root / folder.name
        if target.exists():
            target = target_root / f"{folder.name}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S%f')}"
        os.rename(folder, target)
        return target

    def scan_inbox(self) -> list[dict]:
        """Register every complete drop in `inbox/<family>/` (complete: holds READY or
        manifest.json; anything else may still be copying and is left alone). Registered drops
        move to inbox/.done/<family>/, refused ones to inbox/.rejected/<family>/ with REJECTED.txt."""
        results: list[dict] = []
        inbox = self.inbox_dir()
        if not inbox.is_dir():
            return results
        for family_dir in sorted(p for p in inbox.iterdir() if p.is_dir() and not p.name.startswith(".")):
            family = family_dir.name
            for folder in sorted(p for p in family_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
                record: dict[str, Any] = {"family": family, "folder": folder.name}
                if not ((folder / READY_FILE).is_file() or (folder / MANIFEST_FILE).is_file()):
                    results.append({**record, "status": "waiting", "reason": f"no {READY_FILE} or {MANIFEST_FILE} yet"})
                    continue
                try:
                    _validate_family(family)
                    meta = self._inbox_meta(folder)
                    backend = meta.get("backend") or guess_backend(family, folder)
                    mv = self.register(
                        family, backend, folder, source=meta.get("source") or f"inbox:{family}/{folder.name}",
                        languages=meta.get("languages"), parameter_count=meta.get("parameter_count"),
                        quantization=meta.get("quantization"), load_args=meta.get("load_args"),
                        exclude=INBOX_META_FILES,
                    )
                except RegistryError as exc:
                    moved = self._park(folder, inbox / ".rejected" / family)
                    (moved / REJECTED_FILE).write_text(f"{type(exc).__name__}: {exc}\n", "utf-8")
                    results.append({**record, "status": "rejected", "reason": str(exc), "moved_to": str(moved)})
                    continue
                moved = self._park(folder, inbox / ".done" / family)
                results.append({**record, "status": "existing" if mv.existing else "registered",
                                "version": mv.version_id, "backend": mv.backend, "moved_to": str(moved)})
        return results


