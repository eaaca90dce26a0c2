"""`mm`: demo data, runs on the embedded Dagster instance, queries, reports, checks, index history."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from mm_platform import settings, ui_events
from mm_platform.inputs.tenancy import Layout, TenantError, validate_tenant_id


def _tenants(layout: Layout, requested: list[str] | None) -> list[str]:
    if requested:
        return [validate_tenant_id(t) for t in requested]
    valid, rejected = layout.discover_tenants()
    for name in rejected:
        print(f"warning: ignoring folder {name!r} under {layout.data_dir}: not a valid tenant id", file=sys.stderr)
    if not valid:
        raise SystemExit(f"no tenant folders under {layout.data_dir} (run `mm demo-data` or set MM_DATA_DIR)")
    return valid


def _execute(job_name: str, tenants: list[str], args: argparse.Namespace) -> list:
    """Run a job of the code location in-process, once per tenant partition, on the embedded instance."""
    if getattr(args, "encoder", None):
        os.environ["MM_TEXT_ENCODER"] = args.encoder
    if getattr(args, "model_path", None):
        os.environ["MM_TEXT_MODEL_PATH"] = args.model_path
    ui_events.dagster_home()
    import dagster as dg

    from mm_assets.definitions import MODALITIES, defs
    from mm_assets.partitions import tenant_partitions
    from mm_assets.selection import tenant_asset_keys
    from mm_platform import slot_waits
    from mm_platform.locks import TenantBusy, tenant_writer
    from mm_platform.recovery import process_tags, sweep_dead_runs

    slot_waits.install(log=lambda m: print(m, flush=True))  # a sleep that says whom it waits for
    instance = dg.DagsterInstance.get()
    # runs of this host whose process was killed: marked failed, their pool slots freed, so this
    # run does not wait for slots nobody will ever give back
    sweep_dead_runs(instance, log=lambda m: print(f"   {m}", flush=True))
    known = set(instance.get_dynamic_partitions(tenant_partitions.name))
    new = [t for t in tenants if t not in known]
    if new:
        instance.add_dynamic_partitions(tenant_partitions.name, new)
    job = defs.resolve_job_def(job_name)
    layout = Layout.from_env()
    results = []
    for tenant in tenants:
        keys = tenant_asset_keys(layout, tenant, MODALITIES)
        if job_name == "ci_checks":  # everything up to the gates, never a swap
            keys = [k for k in keys if k.path[-1] != "live_index" and k.path[0] != "joint"]
        print(f"== {job_name}: {tenant} ({', '.join(sorted({k.path[0] for k in keys}))})", flush=True)
        try:
            # one writer per tenant: a second `mm run` of the tenant waits (saying for whom), then gives up
            with tenant_writer(layout.tenant_storage(tenant), tenant, purpose=f"mm run ({job_name})",
                               run_id=f"cli-{os.getpid()}", on_wait=lambda m: print(f"   {m}", flush=True)):
                result = job.execute_in_process(
                    partition_key=tenant, instance=instance, raise_on_error=False, asset_selection=keys,
                    tags={"mm/tenant": tenant, "mm/trigger": "cli", **process_tags()},
                    # The run's events are all in the instance (and the UI); the console gets a summary.
                    run_config={"loggers": {"console": {"config": {"log_level": "INFO" if args.verbose else "CRITICAL"}}}})
        except TenantBusy as exc:
            print(f"   error: {exc}", flush=True)
            results.append((tenant, _NotRun(str(exc))))
            continue
        signum = _signals.received() if _signals else None
        if signum:  # Dagster stopped the run at the signal: marked failed, its slots freed
            raise SystemExit(_stopped(signum, f"the run of {tenant} ({result.run_id[:8]}) stopped and is marked "
                                              "failed in the instance, its pool slots freed, its staging removed"))
        results.append((tenant, result))
        failed_checks = [e for e in result.get_asset_check_evaluations() if not e.passed]
        for evaluation in failed_checks:
            kind = "warning" if evaluation.severity == dg.AssetCheckSeverity.WARN else "check failed"
            print(f"   {kind}: {evaluation.asset_key.to_user_string()} / {evaluation.check_name}: "
                  f"{_check_detail(evaluation)}", flush=True)
        if not result.success:
            step_failures = [e for e in result.all_events if e.is_step_failure]
            for event in step_failures:
                print(f"   step failed: {event.step_key}: {_root_cause(event.step_failure_data.error)}")
            for event in [] if step_failures else result.all_events:
                if event.event_type_value == "PIPELINE_FAILURE":  # the run itself, e.g. a slot wait gave up
                    data = event.job_failure_data
                    print(f"   run failed: {_root_cause(data.error) if data and data.error else event.message}")
    return results


class _NotRun:
    """A tenant whose run never started (its writer lease was held elsewhere)."""

    success = False

    def __init__(self, reason: str):
        self.reason = reason

    def get_asset_check_evaluations(self) -> list:
        return []


def _root_cause(error) -> str:
    """The reason under Dagster's "Error occurred while executing op": the innermost cause (a
    full disk, a read-only volume, a bad model path) is what the user can act on."""
    if error is None:
        return "no error recorded"
    while error.cause is not None:
        error = error.cause
    message = (error.message or "").strip().splitlines()
    return message[0] if message else error.cls_name or "unknown error"


def _check_detail(evaluation) -> str:
    if getattr(evaluation, "description", None):
        return evaluation.description
    metadata = evaluation.metadata or {}
    for key in ("failures", "problems", "missing", "leaked_ids"):
        if key in metadata:
            return f"{key}: {metadata[key].value}"
    return ", ".join(f"{k}={v.value}" for k, v in metadata.items())


def cmd_demo_data(args: argparse.Namespace) -> int:
    from mm_platform.demo.faq import write_faq_demo
    from mm_platform.demo.media import write_media_demo

    out = Path(args.out) if args.out else settings.data_dir()
    counts = write_faq_demo(out, profile=args.profile, seed=args.seed)
    if not args.text_only:
        for tenant, media in write_media_demo(out, profile=args.profile, seed=args.seed).items():
            counts[tenant].update(media)
    for tenant, c in counts.items():
        print(f"{tenant}: " + ", ".join(f"{k}={v}" for k, v in c.items()))
    print(f"demo data ({args.profile}) written to {out}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    layout = Layout.from_env()
    tenants = _tenants(layout, args.tenant)
    results = _execute("index_tenant", tenants, args)
    # a run that completed but kept a candidate out (its gates failed) did not publish what it
    # built: say so in the exit code too
    kept = [t for t, r in results if r.success and any(
        not e.passed and e.check_name in ("evaluation_gates", "swap") for e in r.get_asset_check_evaluations())]
    return _print_reports(layout, tenants, failed=[t for t, r in results if not r.success], kept=kept)


def _modalities() -> dict:
    from mm_platform.modalities.registry import registered_modalities

    return registered_modalities()


def _print_reports(layout: Layout, tenants: list[str], failed: list[str], kept: list[str] = ()) -> int:
    from mm_platform.evaluation.reporting import format_table, tenant_report

    rows, notes = [], []
    for tenant in tenants:
        report = tenant_report(layout, tenant, _modalities())
        rows += report["rows"]
        notes += report["notes"]
    print()
    print(format_table(rows) if rows else "no evaluation rows")
    for note in notes:
        print("note: " + note)
    if failed:
        print(f"runs that did not complete: {', '.join(failed)}")
    if kept:
        print(f"candidates kept out of service by their gates: {', '.join(kept)}")
    return 1 if failed or kept else 0


def cmd_check(args: argparse.Namespace) -> int:
    layout = Layout.from_env()
    tenants = _tenants(layout, args.tenant)
    results = _execute("ci_checks", tenants, args)
    print()
    failures = 0
    for tenant, result in results:
        for evaluation in sorted(result.get_asset_check_evaluations(), key=lambda e: e.check_name):
            status = "PASS" if evaluation.passed else "FAIL"
            failures += not evaluation.passed
            print(f"{status}  {tenant:<12} {evaluation.asset_key.to_user_string():<24} {evaluation.check_name:<32}"
                  + ("" if evaluation.passed else f"  {_check_detail(evaluation)}"))
        if not result.success and not any(not e.passed for e in result.get_asset_check_evaluations()):
            failures += 1
            print(f"FAIL  {tenant:<12} run failed before its checks could run (see the step errors above)")
    print(f"\n{failures} blocking failure(s)" if failures else "\nall checks passed")
    return 1 if failures else 0


def cmd_query(args: argparse.Namespace) -> int:
    from mm_platform.evaluation.reporting import report_rows
    from mm_platform.retrieval.live import run_query

    settings.configure_offline()
    layout = Layout.from_env()
    tenant = validate_tenant_id(args.tenant)
    modalities = _modalities()
    inputs = {"faq": {"query": args.text}} if args.text else {}
    for flag, field in (("image", "image_path"), ("audio", "audio_path"), ("video", "video_path")):
        value = getattr(args, flag, None)
        if value:
            name = next((m.name for m in modalities.values() if m.query_field == field), None)
            if name is None:
                print(f"error: no registered modality answers --{flag}", file=sys.stderr)
                return 2
            inputs[name] = {field: str(Path(value).absolute())}
    if not inputs:
        print("error: give --text and/or --image/--audio/--video", file=sys.stderr)
        return 2
    try:
        result = run_query(layout, tenant, modalities, inputs, k=args.k, language=args.language)
    except LookupError:
        for name in inputs:
            print("\n".join(report_rows(layout, tenant, name)["notes"]), file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a damaged live version: say which and what to do, no traceback
        print(f"error: {tenant}'s live index cannot answer: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}\n"
              f"  its files (or its models' files) are missing or damaged; rebuild with `mm run --tenant {tenant}` "
              f"or go back with `mm index rollback --tenant {tenant}`", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps({"tenant": tenant, "versions": result.versions, "results": result.by_modality,
                          "fused": result.fused, "seconds": result.seconds}, ensure_ascii=False, indent=1, default=str))
        return 0
    for name, hits in result.by_modality.items():
        print(f"{tenant}/{name} live index {result.versions[name]}")
        for i, hit in enumerate(hits, 1):
            where = f" @ {hit['timestamp']:.1f}s" if hit.get("timestamp") is not None else ""
            print(f"{i}. [{hit['score']:.3f}] ({hit['language']}, {hit['annotation']}) {hit['title']}{where}\n   -> {hit['content']}")
    if result.fused:
        print("joint answer (all inputs fused over the FAQ):")
        for i, hit in enumerate(result.fused, 1):
            print(f"{i}. [{hit['fused_score']:.4f}] ({hit['annotation']}) {hit['title']}\n   -> {hit['content']}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from mm_platform.evaluation.reporting import format_table, tenant_report

    layout = Layout.from_env()
    tenants = _tenants(layout, args.tenant)
    reports = [tenant_report(layout, t, _modalities()) for t in tenants]
    if args.json:
        print(json.dumps([r for rep in reports for r in rep["rows"]] if not args.full else reports,
                         ensure_ascii=False, indent=1))
    else:
        print(format_table([r for rep in reports for r in rep["rows"]]))
        for rep in reports:
            for note in rep["notes"]:
                print("note: " + note)
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from mm_platform.pipeline import index_store

    layout = Layout.from_env()
    store = index_store(layout, validate_tenant_id(args.tenant), args.modality)
    if args.index_command == "history":
        history = store.history()
        if args.json:
            print(json.dumps(history, ensure_ascii=False, indent=1))
        for entry in [] if args.json else history:
            metrics = entry.get("metrics") or {}
            print(f"{entry['time']}  {entry['action']:<8} {entry['from'] or '-':<16} -> {entry['to']:<16} "
                  f"run {entry['run_id'][:8]}  f1={metrics.get('f1_macro', '-')} r@1={metrics.get('recall_at_1', '-')}"
                  + (f"  ({entry['reason']})" if entry.get("reason") else ""))
        if not history and not args.json:
            print(f"{args.tenant}/{args.modality}: no swaps yet")
        return 0
    try:
        entry = store.rollback(run_id=f"cli-{os.getpid()}", reason=args.reason)
    except (RuntimeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.tenant}/{args.modality}: rolled back {entry['from']} -> {entry['to']}")
    live = store.live() or {}
    ui_events.report([args.modality, "live_index"], partition=args.tenant,
                     description=f"rolled back {entry['from']} -> {entry['to']} (mm index rollback)", metadata={
                         "tenant": args.tenant, "live_version": entry["to"], "previous_version": entry["from"] or "none",
                         "state": f"rolled back to {entry['to']}", "swapped": True, "kept": False,
                         "strategy": (live.get("strategy") or {}).get("id") or "plain search",
                         "reason": args.reason or ""})
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from mm_platform.registry import FAMILIES, ModelRegistry, RegistryError, seed_bundled

    layout = Layout.from_env()
    registry = ModelRegistry(layout.storage_dir)
    try:
        if args.models_command == "seed":
            summary = seed_bundled(registry)
            for family, info in summary.items():
                print(f"{family}: champion {info['champion']}; candidates {', '.join(info['candidates']) or '-'}")
            _report_registry(registry, "mm models seed")
        elif args.models_command == "list":
            for family in [args.family] if args.family else FAMILIES:
                aliases = registry.aliases(family)
                for version in registry.versions(family):
                    marks = [a for a, v in aliases.items() if v == version.version_id]
                    quant = version.quantization or {}
                    print(f"{family:<15} {version.version_id:<48} {version.backend:<32} "
                          f"{version.manifest.get('size_bytes', 0) / 1e6:8.1f} MB  {','.join(marks) or '-':<20}"
                          + (f" int{quant.get('bits')} of {quant.get('from_version')}" if quant else ""))
        elif args.models_command == "register":
            version = registry.register(args.family, args.backend, Path(args.path), source=args.source or str(args.path))
            print(("already registered: " if version.existing else "registered: ") + version.version_id)
            if args.challenger:
                registry.set_alias(args.family, "challenger", version, run_id=f"cli-{os.getpid()}", reason="mm models register")
                print(f"{version.version_id} is now the {args.family} challenger")
            _report_registry(registry, f"mm models register {version.version_id}")
        elif args.models_command == "history":
            for family in [args.family] if args.family else FAMILIES:
                for e in registry.history(family):
                    metrics = e.get("metrics") or {}
                    shown = ", ".join(f"{k}={v}" for k, v in metrics.items() if isinstance(v, (int, float)))
                    print(f"{e['time']}  {family:<14} {e['alias']:<10} {e.get('tenant') or '*':<10} "
                          f"{e.get('from') or '-'} -> {e.get('to') or '-'}  run {str(e['run_id'])[:12]}"
                          + ("  FORCED" if e.get("forced") else "") + (f"  [{shown}]" if shown else "")
                          + (f"  ({e['reason']})" if e.get("reason") else ""))
        elif args.models_command == "served":
            print(registry.served_at(args.family, args.tenant, args.at) or "nothing")
        elif args.models_command == "rollback":
            history = [e for e in registry.history(args.family) if e["alias"] == "champion" and not e.get("tenant")]
            if not history or not history[-1].get("from"):
                print(f"error: no previous {args.family} champion", file=sys.stderr)
                return 1
            registry.set_alias(args.family, "champion", history[-1]["from"], run_id=f"cli-{os.getpid()}",
                               reason=args.reason)
            print(f"{args.family} champion rolled back to {history[-1]['from']}")
            ui_events.report(["models", "champion"], description="mm models rollback", metadata={
                "family": args.family, "from": history[-1]["to"], "to": history[-1]["from"],
                "reason": args.reason or ""})
        elif args.models_command in ("evaluate", "promote"):
            return _challenge(layout, registry, args)
    except (RegistryError, LookupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _challenge(layout: Layout, registry, args: argparse.Namespace) -> int:
    """Challenger evaluation on every tenant, then (unless --no-promote) the gated promotion."""
    from mm_platform.evaluation.gates import GateConfig
    from mm_platform.registry import promotion

    challenger = args.version or registry.resolve(args.family, "challenger")
    by_backend = [v.version_id for v in registry.versions(args.family) if v.backend == challenger]
    challenger = by_backend[-1] if by_backend else challenger  # a backend name means its newest version
    run_id = f"cli-{os.getpid()}"
    report = promotion.challenge(layout, registry, args.family, challenger, layout.discover_tenants()[0], GateConfig(),
                                 run_id, log=lambda m: print("  " + m))
    print(f"\n{'tenant':<12} {'lang':<5} {'champion F1':>12} {'challenger F1':>14} {'delta':>7} {'p95 ms':>15}")
    for c in report["cells"]:
        print(f"{c['tenant']:<12} {c['language']:<5} {c['champion']['f1_macro']:>12.3f} {c['challenger']['f1_macro']:>14.3f} "
              f"{c['delta_f1']:>+7.3f} {c['champion']['latency_p95_ms']:>7.1f}->{c['challenger']['latency_p95_ms']:<7.1f}")
    for tenant, result in report["tenants"].items():
        print(f"{tenant}: {'passes' if result['passed'] else 'keeps its champion: ' + '; '.join(result['failures'])}")
    if report.get("fidelity"):
        f = report["fidelity"]
        print(f"fidelity to {f['reference']}: mean cosine {f['mean_cosine']:.4f}, min {f['min_cosine']:.4f} "
              f"on {f['texts']} questions")
    print("gates: " + ("passed" if report["gate_passed"] else "FAILED: " + "; ".join(report["gate_failures"])))
    ui_events.report(["models", "challenger_evaluation"], observation=True, description=f"mm models {args.models_command}",
                     metadata={"challenger": challenger, "family": args.family, "gate_passed": report["gate_passed"],
                               "gate_failures": report["gate_failures"],
                               "tenants": {t: r["passed"] for t, r in report["tenants"].items()}})
    if args.models_command == "evaluate" and args.no_promote:
        return 0 if report["gate_passed"] else 1
    force = getattr(args, "force", False)
    if force and not args.reason:
        print("error: --force needs --reason (it goes into the audit log)", file=sys.stderr)
        return 2
    try:
        result = promotion.promote(layout, registry, report, run_id, force_reason=args.reason if force else None)
    except promotion.pipeline.GateFailed as exc:
        print(f"not promoted: {exc}")
        return 1
    print(f"champion {result['from']} -> {result['to']}; swapped: {', '.join(result['swapped']) or 'none'}; "
          f"kept their old pair: {', '.join(result['kept_old_pair']) or 'none'}")
    ui_events.report(["models", "champion"], description="mm models promote", metadata={
        "family": args.family, "from": result["from"] or "none", "to": result["to"],
        "swapped": ", ".join(result["swapped"]) or "none", "kept_old_pair": ", ".join(result["kept_old_pair"]) or "none",
        "forced": bool(force)})
    return 0


def _report_registry(registry, description: str) -> None:
    from mm_platform.registry import FAMILIES

    ui_events.report(["models", "registry"], description=description, metadata={
        "version_count": sum(len(registry.versions(f)) for f in FAMILIES),
        "champions": {f: registry.aliases(f).get("champion") for f in FAMILIES}})


def cmd_serve(args: argparse.Namespace) -> int:
    from mm_platform.serving.server import main as serve_main

    return serve_main(args.serve_args)


def cmd_api_keys(args: argparse.Namespace) -> int:
    from mm_platform.serving.keys import demo_keys_path, generate_demo_keys

    layout = Layout.from_env()
    keys = generate_demo_keys(layout)
    print(f"demo API keys, one per tenant (only their hashes are stored, in {demo_keys_path(layout)}):")
    for tenant, key in keys.items():
        print(f"  {tenant}: {key}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo-data", help="write the deterministic demo tenants")
    p.add_argument("--profile", choices=("small", "seed"), default="small")
    p.add_argument("--out", help="output folder (default: MM_DATA_DIR)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--text-only", action="store_true", help="FAQ only (no images, speech, video)")
    p.set_defaults(func=cmd_demo_data)

    for name, func, text in (("run", cmd_run, "materialize every asset for tenants and print the evaluation table"),
                             ("check", cmd_check, "run every asset check up to the gates (never swaps); exit 1 on failure")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--tenant", action="append", help="tenant id (repeatable; default: every tenant folder)")
        p.add_argument("--encoder", help="text encoder (use-multilingual-v3, sentence-transformers, all-minilm-l6-v2)")
        p.add_argument("--model-path", help="local model folder for path-based encoders")
        p.add_argument("-v", "--verbose", action="store_true", help="stream the run's log to the console")
        p.set_defaults(func=func)

    p = sub.add_parser("query", help="answer a question from a tenant's live index")
    p.add_argument("--tenant", required=True)
    p.add_argument("--text", help="a text question (answered from the FAQ index)")
    p.add_argument("--image", help="a photo (answered from the image index)")
    p.add_argument("--audio", help="a spoken question, WAV (transcribed, answered from the speech index)")
    p.add_argument("--video", help="a short clip (answered from the video keyframe index)")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--language", choices=("zh", "en", "ja"), help="search only entries in this language")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("report", help="evaluation rows of the live version and latest candidate")
    p.add_argument("--tenant", action="append")
    p.add_argument("--json", action="store_true")
    p.add_argument("--full", action="store_true", help="with --json: per-tenant objects with notes")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("index", help="live pointer history and rollback")
    isub = p.add_subparsers(dest="index_command", required=True)
    for name in ("history", "rollback"):
        q = isub.add_parser(name)
        q.add_argument("--tenant", required=True)
        q.add_argument("--modality", default="faq")
        if name == "history":
            q.add_argument("--json", action="store_true")
        else:
            q.add_argument("--reason", default="manual rollback")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("models", help="the model registry: list, register, evaluate/promote, history, rollback")
    msub = p.add_subparsers(dest="models_command", required=True)
    msub.add_parser("seed", help="register the bundled models (first run)")
    q = msub.add_parser("list")
    q.add_argument("--family")
    q = msub.add_parser("register", help="register a model folder (refuses pickles and custom code)")
    q.add_argument("path")
    q.add_argument("--family", required=True)
    q.add_argument("--backend", required=True)
    q.add_argument("--source")
    q.add_argument("--challenger", action="store_true", help="make it the family's challenger")
    q = msub.add_parser("history")
    q.add_argument("--family")
    q = msub.add_parser("served", help="which version served a tenant at a time")
    q.add_argument("--family", default="text_encoder")
    q.add_argument("--tenant", required=True)
    q.add_argument("--at", required=True, help="ISO time, e.g. 2026-11-26T08:00:00+00:00")
    for name, text in (("evaluate", "challenger vs champion on every tenant, then promote if the gates pass"),
                       ("promote", "evaluate and promote (the gates still apply unless --force --reason)")):
        q = msub.add_parser(name, help=text)
        q.add_argument("--family", default="text_encoder")
        q.add_argument("--version", help="challenger version id or backend name (default: the challenger alias)")
        q.add_argument("--reason", help="recorded in the audit log")
        if name == "evaluate":
            q.add_argument("--no-promote", action="store_true")
        else:
            q.add_argument("--force", action="store_true", help="promote even if the gates fail (needs --reason)")
    q = msub.add_parser("rollback", help="point the champion back to the previous version")
    q.add_argument("--family", default="text_encoder")
    q.add_argument("--reason", default="manual rollback")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("serve", help="the Dify External Knowledge API over the live indexes (see `mm serve -h`)",
                       add_help=False)
    p.add_argument("serve_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("api-keys", help="generate a demo API key per tenant for `mm serve` and print them")
    p.set_defaults(func=cmd_api_keys)
    return parser


SIGNAL_EXIT = {2: 130, 15: 143}  # SIGINT, SIGTERM: 128 + the signal's number


class _Signals:
    """Which stop signal arrived, whatever handler Dagster had installed at the time: the signal's
    number is written to a wake-up pipe by the interpreter itself (`signal.set_wakeup_fd`)."""

    def __init__(self):
        import signal

        self.read_fd, write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(write_fd, False)
        try:
            signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        except ValueError:  # not the main thread (tests calling main()): nothing to watch
            self.read_fd = None
            return
        # outside a run (waiting for the lease, sweeping) SIGTERM stops the CLI as Ctrl-C does;
        # inside one Dagster maps it to its interrupt handling (the run is marked failed)
        signal.signal(signal.SIGTERM, signal.default_int_handler)

    def received(self) -> int | None:
        if self.read_fd is None:
            return None
        try:
            data = os.read(self.read_fd, 64)
        except BlockingIOError:
            return None
        self._last = next((b for b in reversed(data) if b in SIGNAL_EXIT), getattr(self, "_last", None))
        return self._last


_signals: _Signals | None = None


def _stopped(signum: int, what: str) -> int:
    name = {2: "SIGINT", 15: "SIGTERM"}[signum]
    print(f"stopped by {name}: {what}; nothing live changed", file=sys.stderr, flush=True)
    return SIGNAL_EXIT[signum]


def main(argv: list[str] | None = None) -> int:
    global _signals
    settings.configure_offline()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:  # the service parses its own options (`mm serve -h`)
        return cmd_serve(argparse.Namespace(serve_args=argv[1:]))
    args = build_parser().parse_args(argv)
    from mm_platform.inputs.validation import InputFileError

    if args.func in (cmd_run, cmd_check):
        _signals = _Signals()
    try:
        return args.func(args)
    except KeyboardInterrupt:
        signum = (_signals.received() if _signals else None) or 2
        return _stopped(signum, "the command was interrupted before its run started or between runs")
    except (TenantError, InputFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a read-only volume, a folder it may not write: say where
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
