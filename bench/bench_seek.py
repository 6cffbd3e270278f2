"""Random exact seek latency of core.video against OpenCV's frame-position seek.

Generates a 720p and a 1080p long-GOP clip with B-frames and a busy moving texture (camera-like:
one keyframe every 10 s by default) in a temp dir, then for the same random frame indices:
  - ours, no cache:   open_video(cache_bytes=1): every access seeks and decodes
  - ours, cached:     the same indices visited a second time with the default cache
  - OpenCV:           cap.set(cv2.CAP_PROP_POS_FRAMES, i); cap.read()
and counts frames that differ from the library's own sequential decode (the ground truth).

    /work/main/.venv/bin/python bench/bench_seek.py [--quick] [--frames 600] [--gop 300] [--seeks 60]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.video.reader import open_video  # noqa: E402
from core.video.synth import decode_all_hashes, write_clip  # noqa: E402


def sha(img: np.ndarray) -> bytes:
    return hashlib.sha1(np.ascontiguousarray(img).tobytes()).digest()


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000.0, q))


def info_bytes(path: Path) -> int:
    with open_video(path) as video:
        return video.info.frame_bytes


def bench_ours(path: Path, picks: list[int], truth: list[bytes]) -> dict[str, float]:
    t_open = time.perf_counter()
    with open_video(path, cache_bytes=1) as video:
        t_open = time.perf_counter() - t_open
        times, wrong = [], 0
        for i in picks:
            t = time.perf_counter()
            img = video.frame(i)
            times.append(time.perf_counter() - t)
            wrong += sha(img) != truth[i]
    # a cache big enough for the visited frames and the neighbours kept around them
    with open_video(path, cache_bytes=4 * len(picks) * info_bytes(path)) as video:
        for i in picks:  # first visit fills the cache (not timed)
            video.frame(i)
        cached = []
        for i in picks:
            t = time.perf_counter()
            video.frame(i)
            cached.append(time.perf_counter() - t)
    return {
        "open_ms": t_open * 1000,
        "p50": pct(times, 50),
        "p95": pct(times, 95),
        "wrong": wrong,
        "cached_p50": pct(cached, 50),
        "cached_p95": pct(cached, 95),
    }


def bench_opencv(path: Path, picks: list[int]) -> dict[str, float]:
    import cv2

    cv2.setNumThreads(2)
    cap = cv2.VideoCapture(str(path))
    truth = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        truth.append(sha(img))
    cap.release()
    cap = cv2.VideoCapture(str(path))
    times, wrong, failed = [], 0, 0
    for i in picks:
        t = time.perf_counter()
        cap.set(cv2.CAP_PROP_POS_FRAMES, i)
        ok, img = cap.read()
        times.append(time.perf_counter() - t)
        if not ok:
            failed += 1
        elif i >= len(truth) or sha(img) != truth[i]:
            wrong += 1
    cap.release()
    return {
        "p50": pct(times, 50),
        "p95": pct(times, 95),
        "wrong": wrong + failed,
        "n_seq": len(truth),
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="300 frames, GOP 150, 30 seeks")
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--gop", type=int, default=300)
    ap.add_argument("--seeks", type=int, default=60)
    ap.add_argument("--keep", type=Path, help="write the clips here instead of a temp dir")
    args = ap.parse_args()
    if args.quick:
        args.frames, args.gop, args.seeks = 300, 150, 30
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = args.keep or Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        for name, (w, h) in (("720p", (1280, 720)), ("1080p", (1920, 1080))):
            path = d / f"seek_{name}.mp4"
            t = time.perf_counter()
            if not path.exists():
                write_clip(
                    path,
                    n_frames=args.frames,
                    width=w,
                    height=h,
                    gop=args.gop,
                    bframes=3,
                    preset="ultrafast",
                    crf=28,
                )
            print(
                f"{name}: {args.frames} frames, GOP {args.gop}, 3 B-frames, "
                f"{path.stat().st_size / 1e6:.1f} MB (made in {time.perf_counter() - t:.1f} s)",
                flush=True,
            )
            truth = decode_all_hashes(path)
            picks = random.Random(0).sample(range(args.frames), min(args.seeks, args.frames))
            ours = bench_ours(path, picks, truth)
            cv = bench_opencv(path, picks)
            rows.append((name, ours, cv))
    print()
    print(f"{'clip':6} {'method':22} {'p50 ms':>8} {'p95 ms':>8} {'wrong':>6}")
    for name, ours, cv in rows:
        n = args.seeks
        print(
            f"{name:6} {'ours (no cache)':22} {ours['p50']:8.1f} {ours['p95']:8.1f} {ours['wrong']:>4}/{n}"
        )
        print(
            f"{name:6} {'ours (cached revisit)':22} {ours['cached_p50']:8.3f} {ours['cached_p95']:8.3f} {'':>6}"
        )
        print(
            f"{name:6} {'OpenCV POS_FRAMES':22} {cv['p50']:8.1f} {cv['p95']:8.1f} {cv['wrong']:>4}/{n}"
        )
        print(
            f"{name:6} ratio OpenCV/ours (no cache): p50 {cv['p50'] / ours['p50']:.2f}x, "
            f"p95 {cv['p95'] / ours['p95']:.2f}x; open+index {ours['open_ms']:.0f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
