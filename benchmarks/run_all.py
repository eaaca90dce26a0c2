"""`make bench`: every benchmark in turn, each writing its JSON under benchmarks/results/.

Each benchmark is a subprocess (its own imports, its own memory), so one that fails is reported and
the rest still run; the exit code is 1 when any failed. A summary with each one's wall time and
exit code goes to benchmarks/results/run_all.json.

    python benchmarks/run_all.py [--profile small|seed] [--only NAME ...] [--list]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def benchmarks(profile: str) -> dict[str, list[str]]:
    """name -> arguments; the order runs the cheap ones first."""
    return {
        "query_difficulty": ["query_difficulty.py", "--profile", profile],
        "demo_faq_quality": ["demo_faq_quality.py", "--profile", profile],
        "retrieval_strategies": ["retrieval_strategies.py", "--profile", profile],
        "faq_pipeline": ["faq_pipeline.py", "--profile", profile],
        "modalities": ["modalities.py", "--profile", profile],
        "visual_quality": ["visual_quality.py", "--profile", profile],
        "quantization": ["quantization.py"],
        "incremental_runs": ["incremental_runs.py"],
        "latency_gate_stability": ["latency_gate_stability.py"],
        "load_dify": ["load_dify.py", "--build-demo", "--profile", "small"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="seed", choices=("small", "seed"))
    parser.add_argument("--only", nargs="*", help="run only these benchmarks (names from --list)")
    parser.add_argument("--list", action="store_true", help="print the benchmark names and exit")
    args = parser.parse_args()
    plan = benchmarks(args.profile)
    if args.list:
        print("\n".join(plan))
        return 0
    unknown = set(args.only or ()) - set(plan)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {', '.join(plan)}")
    summary = {}
    for name, command in plan.items():
        if args.only and name not in args.only:
            continue
        print(f"== {name}: {' '.join(command)}", flush=True)
        started = time.perf_counter()
        rc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / command[0]), *command[1:]], cwd=ROOT).returncode
        summary[name] = {"exit_code": rc, "wall_s": round(time.perf_counter() - started, 1)}
        print(f"== {name}: exit {rc} in {summary[name]['wall_s']} s", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "run_all.json").write_text(json.dumps({"profile": args.profile, "benchmarks": summary}, indent=1))
    failed = [n for n, s in summary.items() if s["exit_code"]]
    print("failed: " + ", ".join(failed) if failed else "every benchmark finished")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
