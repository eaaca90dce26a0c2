"""The versions of one tenant x modality and the pointer that serves one of them: `LIVE.json` (swapped
atomically, with the rollback chain and the strategy it serves with), the last evaluated candidate,
the append-only evaluation records of each version and the audit log of every swap."""

from __future__ import annotations

import json
from pathlib import Path

from mm_platform.atomic import append_jsonl, atomic_write_json, read_jsonl
from mm_platform.indexing.versions import (
    AUDIT_FILE,
    CANDIDATE_FILE,
    EVALUATION_FILE,
    EVALUATIONS_DIR,
    LIVE_FILE,
    MANIFEST_FILE,
    now_iso,
    prune_folders,
)


class IndexStore:
    """Versions, the live pointer, the last evaluated candidate and the audit log of one
    tenant x modality."""

    def __init__(self, root: Path, tenant: str, modality: str, writer_dir: Path | None = None):
        self.root = Path(root)
        self.tenant = tenant
        self.modality = modality
        self.versions_root = self.root / "versions"
        #: where the tenant's writer lease lives (every pointer change of the tenant takes it)
        self.writer_dir = Path(writer_dir) if writer_dir else self.root

    def writer(self, purpose: str, run_id: str = ""):
        """The tenant's writer lease (re-entrant: a run holding it may swap inside it)."""
        from mm_platform.locks import tenant_writer

        return tenant_writer(self.writer_dir, self.tenant, purpose=purpose, run_id=run_id)

    def version_dir(self, version: str) -> Path:
        return self.versions_root / version

    def live(self) -> dict | None:
        path = self.root / LIVE_FILE
        return json.loads(path.read_text("utf-8")) if path.exists() else None

    def live_version(self) -> str | None:
        live = self.live()
        return live["version"] if live else None

    def candidate(self) -> dict | None:
        path = self.root / CANDIDATE_FILE
        return json.loads(path.read_text("utf-8")) if path.exists() else None

    def record_candidate(self, record: dict) -> None:
        atomic_write_json(self.root / CANDIDATE_FILE, record)

    def evaluations(self, version: str) -> list[dict]:
        """Every evaluation record of a version, oldest first (one per evaluating run; never rewritten)."""
        folder = self.version_dir(version) / EVALUATIONS_DIR
        records = [json.loads(p.read_text("utf-8")) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
        legacy = self.version_dir(version) / EVALUATION_FILE
        if legacy.exists():  # written by versions of the platform before append-only records
            records.insert(0, json.loads(legacy.read_text("utf-8")))
        return records

    def evaluation(self, version: str) -> dict | None:
        """The latest evaluation record of a version."""
        records = self.evaluations(version)
        return records[-1] if records else None

    def append_evaluation(self, version: str, record: dict) -> Path:
        """Add a record (a new file named by time and run; an existing record is never replaced)."""
        folder = self.version_dir(version) / EVALUATIONS_DIR
        stamp = record["evaluated_at"].replace(":", "").replace("-", "").replace("+0000", "Z")
        base = f"{stamp}-{record.get('run_id', 'run')[:12]}"
        path, n = folder / f"{base}.json", 1
        while path.exists():
            path, n = folder / f"{base}-{n}.json", n + 1
        atomic_write_json(path, record)
        return path

    def history(self) -> list[dict]:
        return read_jsonl(self.root / AUDIT_FILE)

    def _swap(self, action: str, to: str, previous: list[str], run_id: str, metrics: dict | None, reason: str | None = None,
              strategy: dict | None = None) -> dict:
        if not (self.version_dir(to) / MANIFEST_FILE).exists():
            raise FileNotFoundError(f"index version {to} of {self.tenant}/{self.modality} does not exist")
        before = self.live_version()
        pointer = {"version": to, "previous": previous, "since": now_iso(), "run_id": run_id}
        if strategy:
            pointer["strategy"] = strategy
        atomic_write_json(self.root / LIVE_FILE, pointer)
        entry = {"time": pointer["since"], "tenant": self.tenant, "modality": self.modality, "action": action,
                 "run_id": run_id, "from": before, "to": to, "metrics": metrics or {}}
        if reason:
            entry["reason"] = reason
        if strategy:
            entry["strategy"] = strategy.get("id")
        append_jsonl(self.root / AUDIT_FILE, entry)
        return entry

    def live_strategy(self) -> dict | None:
        """The retrieval strategy the live version serves with (None: the version's plain search)."""
        live = self.live()
        return (live or {}).get("strategy")

    def promote(self, version: str, run_id: str, metrics: dict | None = None, keep: int = 5,
                strategy: dict | None = None) -> dict | None:
        """Make `version` live with `strategy`; a no-op (None) when both already are. The read of
        the pointer and its swap happen under the tenant's writer lease, so two writers can never
        both swap from the same pointer (or both append the same audit entry)."""
        with self.writer(f"swap of {self.modality}", run_id):
            return self._promote(version, run_id, metrics, keep, strategy)

    def _promote(self, version: str, run_id: str, metrics: dict | None, keep: int, strategy: dict | None) -> dict | None:
        live = self.live()
        if live and live["version"] == version and (live.get("strategy") or None) == (strategy or None):
            return None
        previous = ([live["version"]] + live.get("previous", [])) if live and live["version"] != version else \
            (live.get("previous", []) if live else [])
        entry = self._swap("promote", version, previous[: max(0, keep - 1)], run_id, metrics, strategy=strategy)
        self.prune(keep)
        return entry

    def rollback(self, run_id: str, reason: str = "manual rollback") -> dict:
        with self.writer(f"rollback of {self.modality}", run_id):
            return self._rollback(run_id, reason)

    def _rollback(self, run_id: str, reason: str) -> dict:
        live = self.live()
        if not live or not live.get("previous"):
            raise RuntimeError(f"{self.tenant}/{self.modality}: no previous version to roll back to")
        target, rest = live["previous"][0], live["previous"][1:]
        record = self.evaluation(target) or {}
        return self._swap("rollback", target, rest, run_id, record.get("summary"), reason,
                          strategy=record.get("strategy"))

    def prune(self, keep: int) -> list[str]:
        """Delete old versions beyond `keep`, never the live one, its rollback chain or the candidate."""
        live = self.live() or {}
        protected = {live.get("version"), *live.get("previous", []), (self.candidate() or {}).get("version")}
        return prune_folders(self.versions_root, keep, protected)
