"""`vidihand batch INPUTS... -o DIR`: reconstruct many videos on Ray (local or a cluster)."""

from __future__ import annotations

import argparse
import sys

from core.cli.output import add_force, add_output, add_quiet, require_output


def register(sub: argparse._SubParsersAction) -> None:
    from core.recon.registry import DEFAULT_BACKEND, available_backends

    p = sub.add_parser(
        "batch",
        help="reconstruct many videos with Ray (resumable; writes DIR/summary.json)",
        description="One Ray task per video (long videos in chunks). Videos whose finished "
        "labels are already in DIR (same video hash, frames and backend) are skipped, so a "
        "rerun resumes. A video that fails is reported and the others finish. See docs/batch.md.",
    )
    p.add_argument("inputs", nargs="+", help="video files, folders of videos, or image folders")
    add_output(
        p, "output folder for the .h5 labels and summary.json", legacy="--out", metavar="DIR"
    )
    add_force(p)
    p.add_argument("--backend", default=DEFAULT_BACKEND, choices=sorted(available_backends()))
    p.add_argument(
        "--backend-option", action="append", default=[], metavar="KEY=VALUE",
        help="option passed to the backend (repeatable)",
    )  # fmt: skip
    p.add_argument("--checkpoint", help="model checkpoint folder (vidihand backend)")
    p.add_argument(
        "--address", help="Ray address of an existing cluster (default: start a local one)"
    )
    p.add_argument("--workers", type=int, help="parallel tasks (default: all CPU cores)")
    p.add_argument(
        "--gpus-per-task", type=float, default=0.0, metavar="N", help="GPUs per task (default 0)"
    )
    p.add_argument(
        "--chunk-frames", type=int, default=3000, metavar="N",
        help="split videos longer than N frames into chunks processed in parallel (default 3000)",
    )  # fmt: skip
    p.add_argument(
        "--overlap", type=int, default=30, metavar="N",
        help="warm-up frames each chunk runs before its own frames (default 30)",
    )  # fmt: skip
    p.add_argument(
        "--max-frames", type=int, metavar="N", help="only the first N frames of each video"
    )
    p.add_argument(
        "--intrinsics", metavar="FX,FY,CX,CY", help="intrinsics for every video (pixels)"
    )
    p.add_argument(
        "--no-refine",
        dest="refine",
        action="store_false",
        default=None,
        help="write the backend's raw output (default: refined like `vidihand reconstruct`)",
    )
    add_quiet(p, help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.batch.runner import BatchOptions, run_batch, summary_counts
    from core.cli.cmd_reconstruct import UsageError, backend_options, parse_intrinsics
    from core.cli.output import show_progress

    out = require_output(args, "batch")

    for name in ("workers", "chunk_frames", "max_frames"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {value}.")
    if args.overlap < 0 or args.gpus_per_task < 0:
        raise UsageError("--overlap and --gpus-per-task cannot be negative.")
    options = BatchOptions(
        out_dir=Path(out),
        backend=args.backend,
        backend_options=backend_options(args),
        address=args.address,
        workers=args.workers,
        gpus_per_task=args.gpus_per_task,
        chunk_frames=args.chunk_frames,
        overlap=args.overlap,
        max_frames=args.max_frames,
        K=parse_intrinsics(args.intrinsics) if args.intrinsics else None,
        progress=show_progress(args.quiet),
        force=args.force,
        refine=args.refine,
    )

    def on_event(entry: dict) -> None:
        if entry["status"] == "failed":
            print(f"FAILED {entry['path']}: {entry['error']}", file=sys.stderr)

    summary = run_batch(args.inputs, options, on_event=on_event)
    counts = summary_counts(summary)
    for entry in summary:
        extra = f"  {entry['error'].splitlines()[0]}" if entry["error"] else ""
        print(f"{entry['status']:<8} {entry['frames']:>7} frames {entry['seconds']:>8.1f} s  "
              f"{entry['path']}{extra}")  # fmt: skip
    print(
        f"{len(summary)} videos: {counts['done']} done, {counts['skipped']} skipped, "
        f"{counts['failed']} failed; summary in {Path(out) / 'summary.json'}"
    )
    return 1 if counts["failed"] else 0
