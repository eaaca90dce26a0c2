"""`mm serve`: run the Dify External Knowledge API with uvicorn.

    mm serve [--host 127.0.0.1] [--port 8000] [--keys-file F] [--demo-keys] [--storage-dir DIR]
             [--watch-interval S] [--batch-wait-ms MS] [--max-batch N] [--request-timeout S]
             [--encoder-threads N] [--max-inflight-batches N] [--search-threads N] [--cache-size N]

Keys come from `--keys-file` (or MM_API_KEYS_FILE) and MM_API_KEYS="tenant:key,..."; without
any, from `<storage>/_service/api_keys.json` when it exists. `--demo-keys` first writes a fresh
key per tenant there and prints the plaintext keys once. The server refuses to start with no key
(exit status 2). One process serves every tenant (the hot-swap state lives in it): run one
uvicorn worker per process and scale with processes behind a load balancer.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from mm_platform import settings
from mm_platform.inputs.tenancy import Layout
from mm_platform.serving.keys import (
    KEYS_ENV,
    KEYS_FILE_ENV,
    KeyConfigError,
    demo_keys_path,
    generate_demo_keys,
    load_keys,
    load_keys_file,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mm serve", description="Dify External Knowledge API over the live indexes")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--keys-file", default=None, help="JSON/YAML {keys: [{tenant, sha256}]} (or MM_API_KEYS_FILE)")
    p.add_argument("--demo-keys", action="store_true",
                   help="generate a key per tenant into <storage>/_service/api_keys.json and print them")
    p.add_argument("--storage-dir", default=None, help="storage root (default MM_STORAGE_DIR or storage/)")
    p.add_argument("--watch-interval", type=float, default=0.5, help="seconds between LIVE.json checks")
    p.add_argument("--batch-wait-ms", type=float, default=5.0, help="micro-batch gathering window")
    p.add_argument("--max-batch", type=int, default=64, help="queries per encoder call at most")
    p.add_argument("--request-timeout", type=float, default=10.0, help="per-request timeout in seconds")
    p.add_argument("--encoder-threads", type=int, default=1,
                   help="BLAS threads per encoder call (0: the model's default); batches run in parallel")
    p.add_argument("--max-inflight-batches", type=int, default=0,
                   help="encoder batches running in parallel per model (0: min(8, CPU count))")
    p.add_argument("--search-threads", type=int, default=1,
                   help="Faiss OpenMP threads per search (0: Faiss default); batches run in parallel")
    p.add_argument("--cache-size", type=int, default=10_000, help="query cache entries (0 disables the cache)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--no-access-log", action="store_true", help="do not log every request")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings.configure_offline()
    layout = Layout.from_env()
    if args.storage_dir:
        layout = Layout(layout.data_dir, os.path.abspath(args.storage_dir))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.demo_keys:
        keys = generate_demo_keys(layout)
        print(f"demo API keys (hashes written to {demo_keys_path(layout)}; shown once):")
        for tenant, key in keys.items():
            print(f"  {tenant}: {key}")
    try:
        ring = load_keys(args.keys_file, layout=layout)
        if args.demo_keys and (args.keys_file or os.environ.get(KEYS_FILE_ENV) or os.environ.get(KEYS_ENV)):
            ring = ring.merged(load_keys_file(demo_keys_path(layout)))  # the demo keys serve too
    except KeyConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not len(ring):
        print("error: no API keys: pass --keys-file, set MM_API_KEYS_FILE or MM_API_KEYS, or use --demo-keys",
              file=sys.stderr)
        return 2

    import uvicorn

    from mm_platform.serving.app import create_app

    if args.search_threads > 0:
        import faiss

        faiss.omp_set_num_threads(args.search_threads)

    app = create_app(layout, ring, watch_interval=args.watch_interval, batch_wait_ms=args.batch_wait_ms,
                     max_batch=args.max_batch, request_timeout_s=args.request_timeout, cache_size=args.cache_size,
                     encoder_threads=args.encoder_threads or None,
                     max_inflight_batches=args.max_inflight_batches or None)
    print(f"serving {layout.storage_dir} for tenants {', '.join(ring.tenants)} on http://{args.host}:{args.port}",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                access_log=not args.no_access_log, timeout_graceful_shutdown=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
