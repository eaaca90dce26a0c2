"""Load benchmark of the Dify External Knowledge API (`mm serve`) on 127.0.0.1.

Starts the server (uvicorn, the same entry point as `mm serve`) in a subprocess on a free local
port over a working copy of the live FAQ indexes (the source storage is never modified), then
an async httpx client sends mixed queries (every tenant, every language; the tenants' own
evaluation queries, a third of them with a `language` metadata_condition) at each concurrency
level, bounded in count and time per level. Records p50/p95/p99 latency, queries/s and error
rate per level and the first level whose p95 passes 500 ms. Finally one run at concurrency 32
while one tenant's live pointer is promoted to a second version and rolled back mid-run: errors,
responses that mix versions (must be 0) and how long the service took to follow each swap.

    python benchmarks/load_dify.py                       # storage/ as left by `make demo`
    python benchmarks/load_dify.py --build-demo          # build the demo tenants in a temp folder
    python benchmarks/load_dify.py --build-demo --queries 2000 --levels 1,8,32

By default the server's query cache is off (`--cache-size 0`), so every request pays the
encoder and the search (repeated evaluation queries would otherwise be answered from memory).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mm_platform import settings  # noqa: E402

settings.configure_offline()

import httpx  # noqa: E402

from mm_platform.atomic import read_jsonl  # noqa: E402
from mm_platform.indexing.store import IndexStore  # noqa: E402
from mm_platform.indexing.versions import IndexHandle, build_index_version  # noqa: E402
from mm_platform.inputs.tenancy import TENANT_ID_PATTERN, Layout  # noqa: E402

HOST = "127.0.0.1"
P95_LIMIT_MS = 500.0
V2_SUFFIX = " [bench-v2]"


# --- storage ----------------------------------------------------------------------------------

def build_demo(root: Path, profile: str) -> Layout:
    from mm_platform.demo.faq import write_faq_demo
    from mm_platform.encoders.models import ModelSet
    from mm_platform.evaluation.gates import GateConfig
    from mm_platform.modalities.faq import FaqModality
    from mm_platform.pipeline import GateFailed, build_index, embed, evaluate, index_store, promote, validate

    layout = Layout(root / "data", root / "storage")
    counts = write_faq_demo(layout.data_dir, profile=profile)
    modality, models, gates = FaqModality(), ModelSet(), GateConfig()
    for tenant in counts:
        started = time.perf_counter()
        dataset = validate(layout, tenant, modality)
        embeddings = embed(layout, tenant, modality, dataset, models)
        index_ref = build_index(layout, tenant, modality, dataset, embeddings)
        report = evaluate(layout, tenant, modality, dataset, index_ref, gates, "bench-build")
        try:
            live = promote(layout, tenant, modality, report, gates, "bench-build")["live_version"]
            note = "gates passed"
        except GateFailed as err:
            # a load test needs something live; the quality gate is not what it measures
            index_store(layout, tenant).promote(report["index_version"], "bench-build")
            live, note = report["index_version"], f"gates failed, made live for the benchmark only: {err}"
        print(f"built {tenant}: {counts[tenant]['faq']} rows, live {live} ({note}; "
              f"{time.perf_counter() - started:.1f} s)", flush=True)
    return layout


def live_tenants(storage: Path) -> list[str]:
    if not storage.is_dir():
        return []
    return sorted(p.name for p in storage.iterdir()
                  if TENANT_ID_PATTERN.fullmatch(p.name) and (p / "indexes" / "faq" / "LIVE.json").is_file())


def copy_live(source: Path, work: Path, tenants: list[str]) -> None:
    """LIVE.json and the live version folder of every tenant's FAQ, nothing else."""
    for tenant in tenants:
        src = source / tenant / "indexes" / "faq"
        dst = work / tenant / "indexes" / "faq"
        pointer = json.loads((src / "LIVE.json").read_text("utf-8"))
        shutil.copytree(src / "versions" / pointer["version"], dst / "versions" / pointer["version"])
        (dst / "LIVE.json").write_text(json.dumps({**pointer, "previous": []}), "utf-8")


def make_second_version(work: Path, tenant: str) -> tuple[str, str]:
    """(live version, a second version with the same vectors and changed answers)."""
    store = IndexStore(work / tenant / "indexes" / "faq", tenant, "faq")
    v1 = store.live_version()
    handle = IndexHandle(store.version_dir(v1))
    vectors = handle.index.reconstruct_n(0, handle.index.ntotal)
    rows = [{**row, "answer": str(row.get("answer", "")) + V2_SUFFIX, "content": str(row.get("content", "")) + V2_SUFFIX}
            for row in handle.rows]
    m = handle.manifest
    ref = build_index_version(store.versions_root, rows, np.asarray(vectors), m["encoder"], m["encoder_key"],
                              tenant=tenant, modality="faq", dataset_fingerprint=m["dataset_fingerprint"] + "-v2",
                              index_type=m.get("requested_index_type", "flat"))
    return v1, ref["version"]


def eval_queries(data_dir: Path, storage: Path, tenant: str) -> list[dict]:
    candidates = [data_dir / tenant / "eval_queries.json"]
    datasets = storage / tenant / "datasets" / "faq"
    if datasets.is_dir():
        candidates += sorted(datasets.glob("*/eval_queries.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in candidates:
        if path.is_file():
            text = path.read_text("utf-8")
            items = read_jsonl(path) if path.suffix == ".jsonl" else json.loads(text)
            out = [q for q in items if isinstance(q, dict) and isinstance(q.get("query"), str) and q["query"].strip()]
            if out:
                return out
    return []


# --- the server ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(storage: Path, keys: dict[str, str], port: int, args) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("MM_API_KEYS_FILE", "MM_API_KEYS")}
    env["MM_API_KEYS"] = ",".join(f"{t}:{k}" for t, k in keys.items())
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "mm_platform.serving.server", "--host", HOST, "--port", str(port),
           "--storage-dir", str(storage), "--log-level", "warning", "--no-access-log",
           "--watch-interval", str(args.watch_interval), "--cache-size", str(args.cache_size),
           "--batch-wait-ms", str(args.batch_wait_ms), "--max-inflight-batches", str(args.max_inflight_batches)]
    log = open(storage.parent / "server.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT))


async def wait_ready(base: str, proc: subprocess.Popen, timeout: float = 180.0) -> float:
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        while time.perf_counter() - started < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"server not ready within {timeout:.0f} s")


# --- load ---------------------------------------------------------------------------------------

def request_mix(queries: dict[str, list[dict]], n: int, seed: int) -> list[tuple[str, dict]]:
    """n (tenant, body) pairs, round-robin over tenants, each tenant's languages interleaved."""
    rng = random.Random(seed)
    per_tenant = {}
    for tenant, items in queries.items():
        by_language: dict[str, list[dict]] = {}
        for q in items:
            by_language.setdefault(q.get("language", ""), []).append(q)
        for group in by_language.values():
            rng.shuffle(group)
        order = []
        for i in range(max(len(g) for g in by_language.values())):
            for language in sorted(by_language):
                group = by_language[language]
                order.append(group[i % len(group)])
        per_tenant[tenant] = order
    tenants = sorted(per_tenant)
    mix = []
    for i in range(n):
        tenant = tenants[i % len(tenants)]
        q = per_tenant[tenant][(i // len(tenants)) % len(per_tenant[tenant])]
        body = {"knowledge_id": tenant, "query": q["query"],
                "retrieval_setting": {"top_k": 5, "score_threshold": 0.0}}
        if i % 3 == 0 and q.get("language"):
            body["metadata_condition"] = {"logical_operator": "and", "conditions": [
                {"name": ["language"], "comparison_operator": "is", "value": q["language"]}]}
        mix.append((tenant, body))
    return mix


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def summarize(latencies: list[float], errors: int, sent: int, elapsed: float) -> dict:
    lat = np.asarray(latencies) * 1000 if latencies else np.asarray([0.0])
    return {"requests": sent, "ok": sent - errors, "errors": errors,
            "error_rate": round(errors / sent, 5) if sent else 0.0,
            "p50_ms": round(float(np.percentile(lat, 50)), 2), "p95_ms": round(float(np.percentile(lat, 95)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2), "max_ms": round(float(lat.max()), 2),
            "qps": round(sent / elapsed, 1) if elapsed > 0 else 0.0, "seconds": round(elapsed, 2)}


async def run_level(base: str, keys: dict[str, str], mix: list[tuple[str, dict]], concurrency: int,
                    max_seconds: float, on_response=None, on_progress=None, server_pid: int | None = None) -> dict:
    latencies: list[float] = []
    load_before = load_average()
    server_cpu = cpu_seconds(server_pid) if server_pid else None
    client_cpu = os.times()
    errors = 0
    sent = 0
    next_index = 0
    deadline = time.perf_counter() + max_seconds
    # httpx's pool costs CPU that grows with its connection count: clients of at most 8
    # connections keep the load generator from becoming the bottleneck at high concurrency
    per_client = 8
    limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=30, limits=limits))
                   for _ in range(-(-concurrency // per_client))]

        async def worker(client: httpx.AsyncClient):
            nonlocal errors, sent, next_index
            while next_index < len(mix) and time.perf_counter() < deadline:
                tenant, body = mix[next_index]
                next_index += 1
                started = time.perf_counter()
                try:
                    response = await client.post("/retrieval", json=body,
                                                 headers={"Authorization": f"Bearer {keys[tenant]}"})
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    response, ok = None, False
                latencies.append(time.perf_counter() - started)
                sent += 1
                errors += not ok
                if on_response is not None and response is not None and ok:
                    on_response(tenant, response.json())
                if on_progress is not None:
                    await on_progress(sent)

        started = time.perf_counter()
        await asyncio.gather(*(worker(clients[i // per_client]) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    result = summarize(latencies, errors, sent, elapsed)
    result.update(concurrency=concurrency, stopped_by_time=sent < len(mix))
    # the machine's state: on a shared box the other processes' load shows up in latency
    after = os.times()
    result["client_cpu_s"] = round(after.user - client_cpu.user + after.system - client_cpu.system, 2)
    if server_cpu is not None and cpu_seconds(server_pid) is not None:
        result["server_cpu_s"] = round(cpu_seconds(server_pid) - server_cpu, 2)
        result["server_cpu_ms_per_request"] = round(result["server_cpu_s"] * 1000 / max(1, sent), 2)
    result["load_average_1m"] = [load_before, load_average()]
    return result


async def swap_run(base: str, keys: dict[str, str], mix: list[tuple[str, dict]], work: Path, tenant: str,
                   v1: str, v2: str, max_seconds: float, server_pid: int | None = None) -> dict:
    store = IndexStore(work / tenant / "indexes" / "faq", tenant, "faq")
    seen: dict[str, int] = {}
    mixed = 0
    inconsistent = 0
    first_seen: dict[str, float] = {}
    events: list[dict] = []
    state = {"phase": 0}

    def on_response(t: str, payload: dict) -> None:
        nonlocal mixed, inconsistent
        if t != tenant or not payload["records"]:
            return
        versions = {r["metadata"]["index_version"] for r in payload["records"]}
        if len(versions) != 1:
            mixed += 1
            return
        [version] = versions
        seen[version] = seen.get(version, 0) + 1
        if {r["content"].endswith(V2_SUFFIX) for r in payload["records"]} != {version == v2}:
            inconsistent += 1
        key = f"{version}@{state['phase']}"
        first_seen.setdefault(key, time.perf_counter())

    async def on_progress(done: int) -> None:
        if state["phase"] == 0 and done >= len(mix) // 3:
            state["phase"] = 1
            await asyncio.to_thread(store.promote, v2, "bench-swap")
            events.append({"action": "promote", "to": v2, "at": time.perf_counter()})
        elif state["phase"] == 1 and done >= 2 * len(mix) // 3:
            state["phase"] = 2
            await asyncio.to_thread(store.rollback, "bench-swap", "benchmark rollback")
            events.append({"action": "rollback", "to": v1, "at": time.perf_counter()})

    result = await run_level(base, keys, mix, 32, max_seconds, on_response, on_progress, server_pid)
    for phase, event in enumerate(events, 1):
        first = first_seen.get(f"{event['to']}@{phase}")
        event["followed_after_ms"] = round((first - event["at"]) * 1000, 1) if first else None
        del event["at"]
    result.update(swapped_tenant=tenant, versions={v1: "v1", v2: "v2"}, responses_by_version=seen,
                  mixed_version_responses=mixed, content_version_mismatches=inconsistent, swaps=events)
    return result


# --- main ---------------------------------------------------------------------------------------

def print_table(results: dict) -> None:
    head = (f"{'concurrency':>11} {'requests':>8} {'qps':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7} "
            f"{'srv cpu ms/req':>14} {'load avg':>12}")
    print("\n" + head + "\n" + "-" * len(head))
    for row in results["levels"] + ([{**results["swap_run"], "concurrency": "32+swap"}] if results.get("swap_run") else []):
        print(f"{row['concurrency']!s:>11} {row['requests']:>8} {row['qps']:>8} {row['p50_ms']:>8} {row['p95_ms']:>8} "
              f"{row['p99_ms']:>8} {row['error_rate']:>7.2%} {row.get('server_cpu_ms_per_request', '-')!s:>14} "
              f"{'/'.join(str(x) for x in row['load_average_1m']):>12}")
    crossing = results["p95_over_500ms_at_concurrency"]
    print(f"\np95 passes {P95_LIMIT_MS:.0f} ms at concurrency: {crossing if crossing is not None else 'none of the levels'}")
    swap = results.get("swap_run")
    if swap:
        print(f"swap run: {swap['errors']} errors, {swap['mixed_version_responses']} mixed-version responses, "
              f"{swap['content_version_mismatches']} content/version mismatches, by version {swap['responses_by_version']}, "
              f"followed after {[s['followed_after_ms'] for s in swap['swaps']]} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage", default=None, help="storage folder with live indexes (default MM_STORAGE_DIR or storage/)")
    parser.add_argument("--data", default=None, help="tenant input folder for eval queries (default MM_DATA_DIR)")
    parser.add_argument("--build-demo", action="store_true", help="build the demo tenants into a temp folder first")
    parser.add_argument("--profile", default="small", choices=["small", "seed"], help="demo profile with --build-demo")
    parser.add_argument("--queries", type=int, default=10_000, help="requests per concurrency level")
    parser.add_argument("--levels", default="1,8,32,128", help="comma-separated concurrency levels")
    parser.add_argument("--max-seconds-per-level", type=float, default=90.0, help="time bound per level")
    parser.add_argument("--swap-queries", type=int, default=None, help="requests in the swap run (default --queries)")
    parser.add_argument("--no-swap", action="store_true", help="skip the run with a promotion and rollback")
    parser.add_argument("--cache-size", type=int, default=0, help="server query cache entries (default 0: off)")
    parser.add_argument("--batch-wait-ms", type=float, default=5.0)
    parser.add_argument("--watch-interval", type=float, default=0.25)
    parser.add_argument("--max-inflight-batches", type=int, default=0, help="server option (0: its default)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "load_dify.json"))
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    if any(c < 1 or c > 1024 for c in levels):
        parser.error("--levels must be between 1 and 1024")

    with tempfile.TemporaryDirectory(prefix="mm-load-dify-") as tmp:
        tmp_path = Path(tmp)
        if args.build_demo:
            layout = build_demo(tmp_path / "demo", args.profile)
            source, data_dir = Path(layout.storage_dir), Path(layout.data_dir)
        else:
            source = Path(args.storage).absolute() if args.storage else settings.storage_dir()
            data_dir = Path(args.data).absolute() if args.data else settings.data_dir()
        tenants = live_tenants(source)
        if not tenants:
            print(f"no live FAQ index under {source}: run `make demo` or pass --build-demo", file=sys.stderr)
            return 2
        queries = {t: eval_queries(data_dir, source, t) for t in tenants}
        queries = {t: q for t, q in queries.items() if q}
        if not queries:
            print("no evaluation queries found for the live tenants", file=sys.stderr)
            return 2
        work = tmp_path / "serve" / "storage"
        copy_live(source, work, list(queries))
        swap_tenant = sorted(queries)[0]
        v1, v2 = make_second_version(work, swap_tenant)
        keys = {t: f"bench-{t}-{os.urandom(8).hex()}" for t in queries}
        port = free_port()
        base = f"http://{HOST}:{port}"
        proc = start_server(work, keys, port, args)
        try:
            ready_s = asyncio.run(wait_ready(base, proc))
            print(f"server ready on {base} after {ready_s:.1f} s; tenants {', '.join(sorted(queries))}", flush=True)
            asyncio.run(run_level(base, keys, request_mix(queries, 60, seed=99), 4, 30))  # warm-up
            results = {
                "benchmark": "load_dify",
                "source_storage": str(source) if not args.build_demo else f"--build-demo ({args.profile})",
                "tenants": {t: len(q) for t, q in queries.items()},
                "languages": sorted({q.get("language") for qs in queries.values() for q in qs if q.get("language")}),
                "server": {"cache_size": args.cache_size, "batch_wait_ms": args.batch_wait_ms,
                           "max_inflight_batches": args.max_inflight_batches or "default",
                           "watch_interval_s": args.watch_interval, "host": HOST},
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                            "load_average_1m_at_start": load_average()},
                "queries_per_level": args.queries,
                "levels": [],
            }
            for i, concurrency in enumerate(levels):
                mix = request_mix(queries, args.queries, seed=i)
                row = asyncio.run(run_level(base, keys, mix, concurrency, args.max_seconds_per_level,
                                            server_pid=proc.pid))
                results["levels"].append(row)
                print(f"concurrency {concurrency}: {row['requests']} requests, {row['qps']} q/s, "
                      f"p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms, p99 {row['p99_ms']} ms, "
                      f"errors {row['errors']}, load avg {row['load_average_1m']}", flush=True)
            crossing = next((r["concurrency"] for r in results["levels"] if r["p95_ms"] > P95_LIMIT_MS), None)
            results["p95_over_500ms_at_concurrency"] = crossing
            if not args.no_swap:
                mix = request_mix(queries, args.swap_queries or args.queries, seed=1000)
                results["swap_run"] = asyncio.run(swap_run(base, keys, mix, work, swap_tenant, v1, v2,
                                                           args.max_seconds_per_level, proc.pid))
            with httpx.Client(base_url=base, timeout=10) as client:
                metrics = client.get("/metrics").text
            results["server_batch_size"] = {
                line.split(" ")[0]: float(line.split(" ")[1]) for line in metrics.splitlines()
                if line.startswith(("mm_batch_size_count", "mm_batch_size_sum"))}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    bs = results["server_batch_size"]
    if bs.get("mm_batch_size_count"):
        results["server_batch_size"]["mean"] = round(bs["mm_batch_size_sum"] / bs["mm_batch_size_count"], 2)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(results, indent=1, ensure_ascii=False), "utf-8")
    os.replace(tmp_out, out)
    print_table(results)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
