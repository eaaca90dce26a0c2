"""Top-1 product retrieval of the weight-free visual descriptor on the demo media.

Images: every perturbed query photo (`queries/images/`) is embedded with
`VisualDescriptorEncoder` and matched by inner product against the tenant's product
pictures; a hit is the picture of the query's product. Video: keyframes of every demo
video (one every 0.5 s, read with OpenCV, resized to 512x512 RGB) are the index; every
frame of a query clip votes for the video of its nearest keyframe and the majority
(ties: highest summed score) is the answer.

    python benchmarks/visual_quality.py --profile seed          # generate into a temp dir
    python benchmarks/visual_quality.py --data data/tenants     # measure existing media
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from mm_platform.atomic import atomic_write_json  # noqa: E402
from mm_platform.demo.faq import PROFILES, TENANTS, write_faq_demo  # noqa: E402

ACCEPTANCE_TOP1 = 0.95
KEYFRAME_INTERVAL_S = 0.5
SIZE = 512


def read_rgb(path: Path) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path}")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if rgb.shape[:2] != (SIZE, SIZE):
        rgb = cv2.resize(rgb, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    return rgb


def video_frames(path: Path, every_s: float | None) -> list[np.ndarray]:
    """RGB 512x512 frames of a video: one every `every_s` seconds, or all when None."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"cannot open video {path}")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    step = max(1, int(round(every_s * fps))) if every_s else 1
    frames, index = [], 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        if index % step == 0:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            frames.append(cv2.resize(rgb, (SIZE, SIZE), interpolation=cv2.INTER_AREA))
        index += 1
    capture.release()
    return frames


def measure_images(encoder, tenant_dir: Path, queries: list[dict]) -> dict:
    with (tenant_dir / "images.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    paths = sorted({row["image_path"] for row in rows})
    product_of = {(row["language"], row["annotation"]): row["image_path"] for row in rows}
    image_queries = [q for q in queries if "image_path" in q]
    index = encoder.encode_images([read_rgb(tenant_dir / p) for p in paths])
    vectors = encoder.encode_images([read_rgb(tenant_dir / q["image_path"]) for q in image_queries])
    scores = vectors @ index.T
    hits, misses = 0, []
    for query, row in zip(image_queries, scores):
        truth = product_of[query["language"], query["annotation"]]
        best = paths[int(np.argmax(row))]
        if best == truth:
            hits += 1
        else:
            misses.append({"query": query["image_path"], "truth": truth, "top1": best})
    return {"index": len(paths), "queries": len(image_queries), "top1": hits / max(len(image_queries), 1), "misses": misses}


def measure_video(encoder, tenant_dir: Path, queries: list[dict]) -> dict:
    rows = json.loads((tenant_dir / "video.json").read_text("utf-8"))
    videos = sorted({row["video_path"] for row in rows})
    video_of = {(row["language"], row["annotation"]): row["video_path"] for row in rows}
    keyframes, owner = [], []
    for idx, path in enumerate(videos):
        frames = video_frames(tenant_dir / path, KEYFRAME_INTERVAL_S)
        keyframes += frames
        owner += [idx] * len(frames)
    index = encoder.encode_images(keyframes)
    owner_arr = np.array(owner)
    video_queries = [q for q in queries if "video_path" in q]
    hits, misses = 0, []
    for query in video_queries:
        vectors = encoder.encode_images(video_frames(tenant_dir / query["video_path"], None))
        scores = vectors @ index.T
        nearest = np.argmax(scores, axis=1)
        votes: dict[int, list[float]] = defaultdict(list)
        for frame_idx, key_idx in enumerate(nearest):
            votes[int(owner_arr[key_idx])].append(float(scores[frame_idx, key_idx]))
        best = max(votes, key=lambda v: (len(votes[v]), sum(votes[v])))
        truth = video_of[query["language"], query["annotation"]]
        if videos[best] == truth:
            hits += 1
        else:
            misses.append({"query": query["video_path"], "truth": truth, "top1": videos[best]})
    return {
        "videos": len(videos),
        "keyframes": len(keyframes),
        "queries": len(video_queries),
        "top1": hits / max(len(video_queries), 1),
        "misses": misses,
    }


def measure(data_dir: Path, tenants: list[str]) -> tuple[list[dict], dict]:
    from mm_platform.encoders.vision import VisualDescriptorEncoder

    encoder = VisualDescriptorEncoder()
    cells = []
    for tenant in tenants:
        tenant_dir = data_dir / tenant
        queries = json.loads((tenant_dir / "eval_queries.json").read_text("utf-8"))
        started = time.perf_counter()
        cells.append(
            {
                "tenant": tenant,
                "image": measure_images(encoder, tenant_dir, queries),
                "video": measure_video(encoder, tenant_dir, queries),
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    return cells, encoder.spec()


def print_table(cells: list[dict], show_misses: int) -> None:
    print(f"{'tenant':<10} {'products':>8} {'img q':>6} {'img top1':>8} {'videos':>6} {'vid q':>6} {'vid top1':>8}")
    for c in cells:
        i, v = c["image"], c["video"]
        print(
            f"{c['tenant']:<10} {i['index']:>8} {i['queries']:>6} {i['top1']:>8.3f} "
            f"{v['videos']:>6} {v['queries']:>6} {v['top1']:>8.3f}"
        )
    print(
        f"{'min':<10} {'':>8} {'':>6} {min(c['image']['top1'] for c in cells):>8.3f} "
        f"{'':>6} {'':>6} {min(c['video']['top1'] for c in cells):>8.3f}"
    )
    for c in cells:
        for kind in ("image", "video"):
            for miss in c[kind]["misses"][:show_misses]:
                print(f"  miss {c['tenant']}/{kind}: {miss['query']} (truth {miss['truth']}) -> {miss['top1']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=PROFILES, default="small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, help="existing demo data folder (default: generate into a temp dir)")
    parser.add_argument("--tenants", nargs="*", default=list(TENANTS))
    parser.add_argument("--out", type=Path, help="JSON output (default benchmarks/results/visual_quality_<profile>.json)")
    parser.add_argument("--show-misses", type=int, default=5, metavar="N", help="print up to N misses per cell")
    args = parser.parse_args(argv)

    from mm_platform.demo.media import write_media_demo

    started = time.perf_counter()
    generation_s = None
    with tempfile.TemporaryDirectory(prefix="mm-visual-") as tmp:
        data_dir = args.data
        if data_dir is None:
            data_dir = Path(tmp)
            write_faq_demo(data_dir, profile=args.profile, seed=args.seed, tenants=args.tenants)
            write_media_demo(data_dir, profile=args.profile, seed=args.seed, tenants=args.tenants)
            generation_s = round(time.perf_counter() - started, 1)
            print(f"generated {args.profile} media for {len(args.tenants)} tenants in {generation_s} s")
        cells, encoder_spec = measure(data_dir, args.tenants)
    print_table(cells, args.show_misses)
    passed = all(c["image"]["top1"] >= ACCEPTANCE_TOP1 and c["video"]["top1"] >= ACCEPTANCE_TOP1 for c in cells)
    out = args.out or REPO_ROOT / "benchmarks" / "results" / f"visual_quality_{args.profile}.json"
    atomic_write_json(
        out,
        {
            "profile": args.profile,
            "seed": args.seed,
            "data": str(args.data) if args.data else None,
            "encoder": encoder_spec,
            "acceptance_top1": ACCEPTANCE_TOP1,
            "passed": passed,
            "generation_seconds": generation_s,
            "seconds": round(time.perf_counter() - started, 1),
            "cells": cells,
        },
    )
    print(f"{'PASS' if passed else 'FAIL'} (top-1 >= {ACCEPTANCE_TOP1} for image and video queries of every tenant); wrote {out}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
