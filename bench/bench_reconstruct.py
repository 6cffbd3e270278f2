"""Reconstruction throughput of the MediaPipe backend against a bare MediaPipe loop.

Both decode the same frames of the same file with the same reader (core.video) and run the same
MediaPipe Hands graph (tracking mode, two hands, complexity 1). The bare loop does nothing else;
the backend also lifts every hand to metric camera space, builds FrameBatches and writes them
into a LabelDocument (through run_reconstruction, as `vidihand reconstruct` does). Runs alternate
(bare, backend, bare, backend, ...) so that load from other processes hits both alike; the
ratio uses the best run of each. Target: ratio >= 0.9.

    python bench/bench_reconstruct.py [--video PATH] [--frames 300] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GLOG_minloglevel", "2")

from core.labels.document import LabelDocument  # noqa: E402
from core.recon.base import meta_for, run_reconstruction  # noqa: E402
from core.recon.mediapipe_backend import MediaPipeReconstructor  # noqa: E402
from core.video.reader import open_video  # noqa: E402

DEFAULT_VIDEO = ROOT.parent / "shared" / "data" / "dyn-hamr" / "demo3.mp4"


def bare_loop(path: Path, n: int) -> float:
    """Frames per second of decode + hands.process and nothing else."""
    from mediapipe.python.solutions import hands as mp_hands

    with (
        open_video(path) as video,
        mp_hands.Hands(
            static_image_mode=False,
            max_num_hands=2,
            model_complexity=1,
            min_detection_confidence=0.5,
            min_tracking_confidence=0.5,
        ) as hands,
    ):
        t0 = time.perf_counter()
        count = 0
        for _, image in video.iter_frames(0, n):
            hands.process(image)
            count += 1
        return count / (time.perf_counter() - t0)


def backend_run(path: Path, n: int, prefetch_frames: int) -> tuple[float, float]:
    """Frames per second of the backend writing into a document; and its detection rate."""
    with open_video(path) as video:
        doc = LabelDocument(meta_for(video))
        backend = MediaPipeReconstructor(prefetch_frames=prefetch_frames)
        t0 = time.perf_counter()
        progress = run_reconstruction(backend, video, doc, range(n))
        fps = progress.done / (time.perf_counter() - t0)
    return fps, doc.present_counts()["any"] / n


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="120 frames, 2 repeats")
    args = ap.parse_args()
    if args.quick:
        args.frames, args.repeats = 120, 2
    with open_video(args.video) as v:
        n = min(args.frames, v.info.n_frames)
        size = f"{v.info.width}x{v.info.height}"
    print(
        f"video {args.video.name} ({size}), {n} frames, {args.repeats} alternating repeats, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
    )
    bare, ours, serial = [], [], []
    for r in range(args.repeats):
        bare.append(bare_loop(args.video, n))
        fps, rate = backend_run(args.video, n, prefetch_frames=4)
        ours.append(fps)
        fps_serial, _ = backend_run(args.video, n, prefetch_frames=0)
        serial.append(fps_serial)
        print(
            f"  run {r + 1}: bare {bare[-1]:6.1f} fps | backend {ours[-1]:6.1f} fps "
            f"(no prefetch {serial[-1]:6.1f}) | hand found in {100 * rate:.0f}% of frames"
        )
    print(
        f"bare MediaPipe loop      best {max(bare):6.1f} fps  median {statistics.median(bare):6.1f}"
    )
    print(
        f"backend (prefetch 4)     best {max(ours):6.1f} fps  median {statistics.median(ours):6.1f}"
    )
    print(
        f"backend (no prefetch)    best {max(serial):6.1f} fps  median {statistics.median(serial):6.1f}"
    )
    ratio = max(ours) / max(bare)
    print(
        f"ratio backend / bare (best runs): {ratio:.3f}  (target >= 0.9)  "
        f"median ratio {statistics.median(ours) / statistics.median(bare):.3f}; "
        f"without prefetch {max(serial) / max(bare):.3f}"
    )


if __name__ == "__main__":
    main()
