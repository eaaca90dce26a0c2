"""What a run costs when little or nothing changed, side by side with a peer and with `dagster dev`.

One tenant, the seed profile's ecommerce FAQ (4,998 rows) and 300 of its evaluation queries (100
per language). For each configuration (the platform's default ensemble, and USE alone: the peer's
encoder), on a fresh storage:

- full run, then the same input with 1 % of the answers changed (50 rows), then nothing changed;
- for each: the in-process run span (run start to end, from the instance) of `mm run`'s job, the
  whole `mm run` process wall time, and the steps the run executed;
- a LlamaIndex `IngestionPipeline` (docstore, `DocstoreStrategy.UPSERTS`) over a Faiss map store,
  the same rows (question + answer) and the same encoder (USE), in its own virtual environment
  (`benchmarks/peers/`), full and 1 % changed;
- a run of the same tenant launched through `dagster dev` (webserver + daemon, the queued run
  coordinator and the default run launcher), against `mm run` on the same fresh input.

Writes benchmarks/results/incremental_runs.json. Targets: 1 % changed <= 0.10 of the full run's
span, nothing changed <= 0.05, `dagster dev` within 2x of `mm run`.

    python benchmarks/incremental_runs.py [--skip-ensemble] [--skip-dagster-dev] [--skip-peer]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "incremental_runs.json"
PEER_DIR = ROOT / "benchmarks" / "peers"
PEER_VENV = PEER_DIR / ".venv-llamaindex"
MM = str(Path(sys.executable).parent / "mm")
TENANT = "ecommerce"
CHANGED_SHARE = 0.01


def write_tenant(data: Path, use_only: bool) -> None:
    from mm_platform.atomic import atomic_write_json
    from mm_platform.demo.faq import build_faq_rows

    rows, queries = build_faq_rows(TENANT, "seed")
    rng = random.Random(7)
    picked = [q for lang in ("zh", "en", "ja") for q in rng.sample([q for q in queries if q["language"] == lang], 100)]
    folder = data / TENANT
    atomic_write_json(folder / "faq.json", rows)
    atomic_write_json(folder / "eval_queries.json", picked)
    if use_only:
        (folder / "tenant.yaml").write_text("models:\n  text2: none\n", "utf-8")


def change_answers(data: Path) -> int:
    path = data / TENANT / "faq.json"
    rows = json.loads(path.read_text("utf-8"))
    rng = random.Random(11)
    idx = rng.sample(range(len(rows)), int(len(rows) * CHANGED_SHARE))
    for i in idx:
        rows[i]["answer"] += " (updated)"
    path.write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
    return len(idx)


def env_for(root: Path) -> dict:
    return {**os.environ, "MM_DATA_DIR": str(root / "data"), "MM_STORAGE_DIR": str(root / "storage"),
            "DAGSTER_HOME": str(root / "dagster_home"), "HF_HUB_OFFLINE": "1"}


def last_run(env: dict, run_id: str | None = None) -> dict:
    """Span and steps of a run (default: the newest) in the instance at DAGSTER_HOME."""
    pick = f"inst.get_run_by_id({run_id!r})" if run_id else "inst.get_runs(limit=1)[0]"
    code = (f"import dagster as dg, json; inst = dg.DagsterInstance.get(); r = {pick}; "
            "st = inst.get_run_stats(r.run_id); steps = inst.get_run_step_stats(r.run_id); "
            "print(json.dumps({'run_id': r.run_id, 'status': r.status.value, 'span_s': st.end_time - st.start_time, "
            "'steps': len(steps), 'step_seconds': {s.step_key: round(s.end_time - s.start_time, 3) for s in steps}}))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def mm_run(env: dict) -> dict:
    started = time.perf_counter()
    result = subprocess.run([MM, "run"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise RuntimeError(f"mm run failed ({result.returncode}): {result.stderr[-2000:]}")
    return {**last_run(env), "process_wall_s": round(wall, 3), "exit_code": result.returncode}


def platform_runs(root: Path, use_only: bool) -> dict:
    write_tenant(root / "data", use_only)
    env = env_for(root)
    full = mm_run(env)
    changed = change_answers(root / "data")
    one_percent = mm_run(env)
    unchanged = mm_run(env)
    span = full["span_s"]
    return {"full": full, "changed_rows": changed, "one_percent": one_percent, "nothing_changed": unchanged,
            "ratios": {"one_percent_over_full": round(one_percent["span_s"] / span, 4),
                       "nothing_changed_over_full": round(unchanged["span_s"] / span, 4),
                       "one_percent_process": round(one_percent["process_wall_s"] / full["process_wall_s"], 4),
                       "nothing_changed_process": round(unchanged["process_wall_s"] / full["process_wall_s"], 4)}}


# --- the peer ---------------------------------------------------------------------------------

def peer_python() -> str:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(PEER_DIR / "requirements-llamaindex.txt")],
                       check=True, stderr=subprocess.DEVNULL)
    return str(python)


def peer_runs(root: Path) -> dict:
    write_tenant(root / "data", use_only=True)
    rows_path = root / "data" / TENANT / "faq.json"
    first = rows_path.read_text("utf-8")
    changed_path = root / "changed.json"
    change_answers(root / "data")
    changed_path.write_text(rows_path.read_text("utf-8"), "utf-8")
    rows_path.write_text(first, "utf-8")
    out = subprocess.run([peer_python(), str(PEER_DIR / "llamaindex_ingest.py"), str(rows_path), str(changed_path),
                          str(root / "peer_store")], capture_output=True, text=True, timeout=3600,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- dagster dev --------------------------------------------------------------------------------

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
STATUS = """query Status($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str, variables: dict) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps(
        {"query": query, "variables": variables}).encode(), headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=60).read())["data"]


def dagster_dev_run(root: Path) -> dict:
    """A fresh tenant (USE alone) built once by `mm run` and once through `dagster dev`."""
    write_tenant(root / "data", use_only=True)
    env = env_for(root / "cli")
    (root / "cli").mkdir()
    shutil.copytree(root / "data", root / "cli" / "data")
    cli = mm_run(env)
    dev_root = root / "dev"
    dev_root.mkdir()
    shutil.copytree(root / "data", dev_root / "data")
    env = env_for(dev_root)
    home = Path(env["DAGSTER_HOME"])
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml.local", home / "dagster.yaml")
    subprocess.run([sys.executable, "-c", "import dagster as dg; dg.DagsterInstance.get().add_dynamic_partitions("
                    f"'tenants', ['{TENANT}'])"], env=env, check=True)
    port = _free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "dagster"), "dev", "-w", str(ROOT / "workspace.yaml"),
                             "-p", str(port)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("dagster dev did not start")
                time.sleep(1)
        from mm_assets.selection import modality_asset_keys
        from mm_platform.modalities.faq import FaqModality

        selection = [{"path": key.path} for key in modality_asset_keys(FaqModality())]
        params = {"selector": {"repositoryLocationName": "mm_knowledge", "repositoryName": "__repository__",
                               "jobName": "index_tenant", "assetSelection": selection},
                  "executionMetadata": {"tags": [{"key": "dagster/partition", "value": TENANT}]}}
        submitted = time.perf_counter()
        launched = _graphql(port, LAUNCH, {"params": params})["launchRun"]
        if launched["__typename"] != "LaunchRunSuccess":
            raise RuntimeError(f"launch failed: {launched}")
        run_id = launched["run"]["runId"]
        while True:
            status = _graphql(port, STATUS, {"runId": run_id})["runOrError"]["status"]
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            time.sleep(1)
        wall = time.perf_counter() - submitted
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # the daemon's workers can outlive a SIGTERM: not what is measured
            os.killpg(proc.pid, 9)
            proc.wait(timeout=30)
    # the launched run, not the newest: the data sensor may queue a (cheap, unchanged) run after it
    dev = {**last_run(env, run_id), "submit_to_done_s": round(wall, 3), "status": status}
    return {"mm_run": cli, "dagster_dev": dev,
            "span_ratio_dev_over_cli": round(dev["span_s"] / cli["span_s"], 4),
            "wall_ratio_dev_over_cli": round(dev["submit_to_done_s"] / cli["process_wall_s"], 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-ensemble", action="store_true", help="only the USE-alone configuration")
    parser.add_argument("--skip-dagster-dev", action="store_true")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    results: dict = {"machine": platform.platform(), "cpus": os.cpu_count(), "tenant": TENANT,
                     "input": "seed ecommerce FAQ (4,998 rows) + 300 eval queries", "targets": {
                         "one_percent_over_full": 0.10, "nothing_changed_over_full": 0.05, "dagster_dev_over_mm_run": 2.0}}
    from mm_platform.atomic import atomic_write_json

    def save() -> None:  # after every section: a failure later keeps what was measured
        atomic_write_json(args.out, results)

    with tempfile.TemporaryDirectory(prefix="mm-incremental-") as tmp:
        tmp = Path(tmp)
        configs = [("use_alone", True)] + ([] if args.skip_ensemble else [("ensemble_default", False)])
        for name, use_only in configs:
            print(f"== platform, {name}", flush=True)
            results[name] = platform_runs(tmp / name, use_only)
            print(json.dumps(results[name]["ratios"]), "steps:", results[name]["full"]["steps"], flush=True)
            save()
        if not args.skip_peer:
            print("== LlamaIndex IngestionPipeline (UPSERTS) + Faiss, USE", flush=True)
            peer = peer_runs(tmp / "peer")
            peer["one_percent_over_full"] = round(peer["one_percent_s"] / peer["full_s"], 4)
            results["llamaindex"] = peer
            print(json.dumps(peer), flush=True)
            save()
        if not args.skip_dagster_dev:
            print("== dagster dev vs mm run (USE alone, fresh input)", flush=True)
            results["dagster_dev"] = dagster_dev_run(tmp / "dev")
            print(json.dumps({k: v for k, v in results["dagster_dev"].items() if "ratio" in k}), flush=True)
    save()
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
