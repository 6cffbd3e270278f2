"""Batch throughput on a local Ray instance: one worker against two, same inputs, same run.

Each configuration starts its own local Ray instance (timed separately: start-up is not
throughput), then runs core.batch.run_batch over the same videos into a fresh output folder
(so nothing is skipped). Reported: frames per second of the batch itself and the speed-up of two
workers over one. Long videos are split into chunks, so even a single video keeps both workers
busy.

    python bench/bench_batch.py [--max-frames 150] [--chunk-frames 75] [--quick] [VIDEOS...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GLOG_minloglevel", "2")

from core.batch.runner import BatchOptions, run_batch, summary_counts  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DEFAULT_VIDEOS = [
    DATA / "dyn-hamr" / "demo3.mp4",
    DATA / "mediapipe-samples" / "hand_landmarker" / "test_video.mp4",
    DATA / "dex-retargeting" / "human_hand_video.mp4",
]


def run(
    workers: int, videos: list[Path], max_frames: int, chunk_frames: int
) -> tuple[float, float, int]:
    """(ray start-up seconds, batch seconds, frames) for `workers` local workers."""
    import ray

    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=workers, num_gpus=0, include_dashboard=False, log_to_driver=False,
             configure_logging=False, object_store_memory=256 * 1024 * 1024)  # fmt: skip
    startup = time.perf_counter() - t0
    try:
        with tempfile.TemporaryDirectory() as out:
            options = BatchOptions(out_dir=Path(out), workers=workers, max_frames=max_frames,
                                   chunk_frames=chunk_frames, overlap=15, progress=False)  # fmt: skip
            t1 = time.perf_counter()
            summary = run_batch(list(videos), options)
            seconds = time.perf_counter() - t1
    finally:
        ray.shutdown()
    counts = summary_counts(summary)
    if counts["failed"]:
        raise SystemExit(f"batch failed: {[e['error'] for e in summary if e['error']]}")
    return startup, seconds, sum(e["frames"] for e in summary)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("videos", nargs="*", type=Path, default=DEFAULT_VIDEOS)
    ap.add_argument("--max-frames", type=int, default=150)
    ap.add_argument("--chunk-frames", type=int, default=75)
    ap.add_argument("--quick", action="store_true", help="60 frames per video, chunks of 30")
    args = ap.parse_args()
    if args.quick:
        args.max_frames, args.chunk_frames = 60, 30
    print(f"{len(args.videos)} videos x {args.max_frames} frames, chunks of {args.chunk_frames}; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")  # fmt: skip
    results = {}
    for workers in (1, 2):
        startup, seconds, frames = run(workers, args.videos, args.max_frames, args.chunk_frames)
        results[workers] = frames / seconds
        print(f"{workers} worker{'s' if workers > 1 else ' '}: {frames} frames in {seconds:6.1f} s = "
              f"{frames / seconds:5.1f} frames/s  (Ray start-up {startup:.1f} s, not counted)")  # fmt: skip
    print(
        f"speed-up of 2 workers over 1: {results[2] / results[1]:.2f}x "
        f"(ideal 2x on 2 free cores; MediaPipe also uses threads of its own)"
    )


if __name__ == "__main__":
    main()
