"""Random exact seek latency of core.video against OpenCV's frame-position seek.

Clips: the real demo3.mp4 (720p, GOP 250) and human_hand_video.mp4 (720p, GOP 207) from
../shared/data, a 1080p phone-like clip generated here (B-frames, one keyframe every 2 s: GOP 60),
and a 720p and a 1080p camera-like clip (one keyframe every 10 s: GOP 300). For the same random
frame indices:
  - ours, no cache:   open_video(cache_bytes=1): every access seeks (or continues) and decodes
  - ours, cached:     the same indices visited a second time with the default cache
  - OpenCV:           cap.set(cv2.CAP_PROP_POS_FRAMES, i); cap.read()
Ours and OpenCV take turns frame by frame, so a load change on the machine hits both alike.
Every returned frame is compared with a sequential decode of the whole clip (the ground truth):
"wrong" counts mismatches.

    .venv/bin/python bench/bench_seek.py [--quick] [--frames 600] [--gop 300] [--seeks 60]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.video.reader import open_video  # noqa: E402
from core.video.synth import decode_all_hashes, write_clip  # noqa: E402

SHARED = Path(os.environ.get("VIDIHAND_SHARED_DATA", ROOT.parent / "shared" / "data"))
REAL = (SHARED / "dyn-hamr" / "demo3.mp4", SHARED / "dex-retargeting" / "human_hand_video.mp4")


def sha(img: np.ndarray) -> bytes:
    return hashlib.sha1(np.ascontiguousarray(img).tobytes()).digest()


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000.0, q))


def info_bytes(path: Path) -> int:
    with open_video(path) as video:
        return video.info.frame_bytes


def bench_pair(path: Path, picks: list[int], truth: list[bytes]) -> tuple[dict, dict]:
    """Ours (no cache) and OpenCV on the same picks, taking turns frame by frame."""
    import cv2

    cv2.setNumThreads(2)
    t_open = time.perf_counter()
    video = open_video(path, cache_bytes=1)
    t_open = time.perf_counter() - t_open
    cap = cv2.VideoCapture(str(path))
    cv_truth = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        cv_truth.append(sha(img))
    cap.release()
    cap = cv2.VideoCapture(str(path))
    ours_t, cv_t, ours_wrong, cv_wrong = [], [], 0, 0
    ours_cpu = cv_cpu = 0.0  # CPU seconds of this process (FFmpeg's threads included)
    try:
        for i in picks:
            t, c = time.perf_counter(), time.process_time()
            img = video.frame(i)
            ours_t.append(time.perf_counter() - t)
            ours_cpu += time.process_time() - c
            ours_wrong += sha(img) != truth[i]
            t, c = time.perf_counter(), time.process_time()
            cap.set(cv2.CAP_PROP_POS_FRAMES, i)
            ok, img = cap.read()
            cv_t.append(time.perf_counter() - t)
            cv_cpu += time.process_time() - c
            cv_wrong += not ok or i >= len(cv_truth) or sha(img) != cv_truth[i]
    finally:
        video.close()
        cap.release()
    # a cache big enough for the visited frames and the neighbours kept around them
    with open_video(path, cache_bytes=4 * len(picks) * info_bytes(path)) as video:
        for i in picks:  # first visit fills the cache (not timed)
            video.frame(i)
        cached = []
        for i in picks:
            t = time.perf_counter()
            video.frame(i)
            cached.append(time.perf_counter() - t)
    ours = {
        "open_ms": t_open * 1000,
        "p50": pct(ours_t, 50),
        "p95": pct(ours_t, 95),
        "wrong": ours_wrong,
        "cpu": ours_cpu,
        "cached_p50": pct(cached, 50),
        "cached_p95": pct(cached, 95),
    }
    cv = {"p50": pct(cv_t, 50), "p95": pct(cv_t, 95), "wrong": cv_wrong, "cpu": cv_cpu}
    return ours, cv


def gop_of(path: Path) -> int:
    with open_video(path) as video:
        return int(video.info.gop_summary()["gop_max"])


def clips(d: Path, args: argparse.Namespace) -> list[tuple[str, Path]]:
    out = [(p.stem, p) for p in REAL if p.exists()]
    # x264's adaptive B-frames pick few on this synthetic motion: a fixed pattern (b-adapt=0),
    # as hardware encoders write, gives the B-frames the clip is meant to have
    made = [("1080p-gop60", 1920, 1080, 60, args.frames60, "veryfast", 23)]
    if not args.no_long_gop:
        made += [
            ("720p-gop300", 1280, 720, args.gop, args.frames, "ultrafast", 28),
            ("1080p-gop300", 1920, 1080, args.gop, args.frames, "ultrafast", 28),
        ]
    for name, w, h, gop, n, preset, crf in made:
        path = d / f"seek_{name}.mp4"
        t = time.perf_counter()
        if not path.exists():
            write_clip(
                path,
                n_frames=n,
                width=w,
                height=h,
                gop=gop,
                bframes=3,
                preset=preset,
                crf=crf,
                x264_params="b-adapt=0",
            )
        print(
            f"{name}: {n} frames, GOP {gop}, 3 B-frames (fixed pattern), {preset}, "
            f"{path.stat().st_size / 1e6:.1f} MB (made in {time.perf_counter() - t:.1f} s)",
            flush=True,
        )
        out.append((name, path))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="300-frame clips, GOP 150, 30 seeks")
    ap.add_argument("--frames", type=int, default=600, help="frames of the GOP-300 clips")
    ap.add_argument("--frames60", type=int, default=360, help="frames of the GOP-60 clip")
    ap.add_argument("--gop", type=int, default=300)
    ap.add_argument("--seeks", type=int, default=100)
    ap.add_argument("--no-long-gop", action="store_true", help="skip the GOP-300 clips")
    ap.add_argument("--keep", type=Path, help="write the clips here instead of a temp dir")
    args = ap.parse_args()
    if args.quick:
        args.frames, args.frames60, args.gop, args.seeks = 300, 240, 150, 30
    print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = args.keep or Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        for name, path in clips(d, args):
            truth = decode_all_hashes(path)
            picks = random.Random(0).sample(range(len(truth)), min(args.seeks, len(truth)))
            ours, cv = bench_pair(path, picks, truth)
            rows.append((name, gop_of(path), len(picks), ours, cv))
            print(f"{name}: done, load {os.getloadavg()[0]:.2f}", flush=True)
    print()
    print(f"{'clip':22} {'GOP':>4} {'method':22} {'p50 ms':>8} {'p95 ms':>8} {'wrong':>7}")
    for name, gop, n, ours, cv in rows:
        print(
            f"{name:22} {gop:4} {'ours (no cache)':22} {ours['p50']:8.1f} {ours['p95']:8.1f} "
            f"{ours['wrong']:>4}/{n}"
        )
        print(
            f"{name:22} {gop:4} {'ours (cached revisit)':22} {ours['cached_p50']:8.3f} "
            f"{ours['cached_p95']:8.3f}"
        )
        print(
            f"{name:22} {gop:4} {'OpenCV POS_FRAMES':22} {cv['p50']:8.1f} {cv['p95']:8.1f} "
            f"{cv['wrong']:>4}/{n}"
        )
        print(
            f"{name:22} ratio OpenCV/ours (no cache): p50 {cv['p50'] / ours['p50']:.2f}x, "
            f"p95 {cv['p95'] / ours['p95']:.2f}x, CPU time {cv['cpu'] / ours['cpu']:.2f}x; "
            f"open+index {ours['open_ms']:.0f} ms"
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
