"""`vidihand refine LABELS.h5 -o OUT.h5 [--video VIDEO] [--frames A:B]`: refine a label file's
predicted hands (docs/reconstructors.md, "Refinement"); constraint frames are never changed."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from core.cli.output import add_force, add_quiet, check_outputs

if TYPE_CHECKING:
    from core.labels.document import LabelDocument
    from core.video.reader import VideoSource


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "refine",
        help="refine the predicted hands of a label file (one skeleton per hand, temporal fit)",
        description="Edited, imported and reviewed frames and keyframes are kept bit for bit; "
        "predicted frames are refitted, short gaps filled (marked interpolated) and left/right "
        "made consistent. With --video, hands the detector lost are looked for again.",
    )
    p.add_argument("labels", help="label file (.h5) to refine")
    p.add_argument("-o", "--output", required=True, help="refined label file to write (.h5)")
    p.add_argument("--video", help="the labels' video: lets lost hands be detected again")
    p.add_argument("--frames", metavar="A:B", help="frame range (B exclusive); default: all")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="refinement setting (repeatable), e.g. max_gap=12 (docs/reconstructors.md)",
    )
    add_force(p)
    add_quiet(p, help="print nothing on success")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.cli.cmd_reconstruct import UsageError, _option_value, parse_frames
    from core.io.labels_h5 import load_labels, save_labels
    from core.recon.refine import RefineSettings, refine_document

    options = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option must look like KEY=VALUE, got {item!r}.",
                             hint="Example: --option max_gap=12")  # fmt: skip
        options[key.strip().replace("-", "_")] = _option_value(value.strip())
    try:
        settings = RefineSettings().with_options(**options)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--option: {exc}.") from None
    check_outputs([args.output], args.force)
    doc = load_labels(args.labels)
    frames = parse_frames(args.frames, doc.n_frames)
    t0 = time.perf_counter()
    if args.video:
        from core.video.reader import open_video

        with open_video(args.video) as video:
            _check_video(video, doc)
            plan = refine_document(doc, settings, frames=frames, video=video)
    else:
        plan = refine_document(doc, settings, frames=frames)
    save_labels(doc, Path(args.output))
    seconds = time.perf_counter() - t0
    if args.quiet:
        return 0
    print(f"refined labels written to {args.output} in {seconds:.1f} s")
    print(plan.describe())
    print(json.dumps({"frames": [frames.start, frames.stop], "written": plan.n_written,
                      "present": doc.present_counts()}), file=sys.stdout)  # fmt: skip
    return 0


def _check_video(video: VideoSource, doc: LabelDocument) -> None:
    from core.cli.cmd_reconstruct import UsageError

    info = video.info
    if info.n_frames != doc.n_frames or (info.width, info.height) != (
        doc.meta.width,
        doc.meta.height,
    ):
        raise UsageError(
            f"--video has {info.n_frames} frames of {info.width}x{info.height}, the labels "
            f"{doc.n_frames} of {doc.meta.width}x{doc.meta.height}.",
            hint="Give the video the labels were made from.",
        )
