"""`vidihand sample -o DIR`: write the project's own sample video and its exact ground truth."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from core.cli.output import add_force, check_outputs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample",
        help="write the project's sample video (two moving hands) and its exact ground truth",
    )
    p.add_argument("-o", "--output", required=True, help="folder for sample.mp4 and sample_gt.h5")
    p.add_argument("--seconds", type=float, default=6.0, help="length (default 6)")
    p.add_argument("--fps", type=int, default=30, help="frame rate (default 30)")
    p.add_argument("--size", default="640x480", help="WIDTHxHEIGHT, even numbers (default 640x480)")
    p.add_argument("--seed", type=int, default=0, help="motion and background seed (default 0)")
    add_force(p)
    p.set_defaults(func=run)


def _size(text: str) -> tuple[int, int]:
    from core.errors import VidihandError

    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise VidihandError(
            f"--size {text!r} is not WIDTHxHEIGHT.", hint="Use e.g. --size 640x480."
        ) from None
    if w < 64 or h < 64 or w % 2 or h % 2:
        raise VidihandError(
            f"--size {w}x{h} is not usable.", hint="Use even sizes of at least 64x64."
        )
    return w, h


def run(args: argparse.Namespace) -> int:
    from core.errors import VidihandError
    from core.io.labels_h5 import load_labels
    from core.sample import make_sample

    if args.seconds <= 0 or args.fps <= 0:
        raise VidihandError(
            "--seconds and --fps must be positive.", hint="E.g. --seconds 6 --fps 30."
        )
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise VidihandError(f"{out} is a file; -o names the folder for the sample.")
    from core.sample.generate import GT_NAME, VIDEO_NAME

    check_outputs([out / VIDEO_NAME, out / GT_NAME], args.force)
    t0 = time.perf_counter()
    video, gt = make_sample(
        args.output, seconds=args.seconds, fps=args.fps, size=_size(args.size), seed=args.seed
    )
    doc = load_labels(gt)
    counts = doc.present_counts()
    print(f"video:        {video}")
    print(f"ground truth: {gt}")
    print(
        f"{doc.n_frames} frames at {doc.meta.fps:g} fps, {doc.meta.width}x{doc.meta.height}; "
        f"left present on {counts['left']}, right on {counts['right']}, both on {counts['both']} "
        f"frames ({time.perf_counter() - t0:.1f} s)"
    )
    return 0
