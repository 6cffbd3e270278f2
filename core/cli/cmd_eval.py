"""`vidihand eval PRED.h5 GT.h5 [-o OUT.json] [--json]`: paper-protocol metrics against ground truth."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.cli.output import check_outputs, write_text
from core.io.labels_h5 import load_labels
from core.metrics import evaluate


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="compare predicted labels with ground truth (FAcc, MPJPE-p, PA-MPJPE-p, EPE-p, ...)",
        description="Paper-protocol metrics of PRED against GT, with and without the penalty "
        "for missed hands (docs/metrics.md). Prints a table; -o writes every metric with "
        "its unit, definition and sample count as JSON, --json prints that JSON on stdout.",
    )
    p.add_argument("pred", help="predicted label file (.h5)")
    p.add_argument("gt", help="ground-truth label file (.h5) of the same video")
    p.add_argument(
        "-o", "--output", metavar="OUT", help="write the metrics as JSON to OUT (- for stdout)"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the metrics as JSON on stdout (the table goes to stderr)",
    )
    p.add_argument(
        "--per-frame", action="store_true", help="also write per-frame error arrays into the JSON"
    )
    p.add_argument(
        "--overlap",
        action="store_true",
        help="when frame counts differ, evaluate the frames both files have (from frame 0)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="evaluate even if the files name different videos; replace OUT if it exists",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_outputs([args.output], args.force)
    pred = load_labels(args.pred)
    gt = load_labels(args.gt)
    ev = evaluate(pred, gt, overlap=args.overlap, force=args.force)
    # stdout carries the JSON when asked for; the table then goes to stderr
    to_stdout = args.json or args.output == "-"
    prose = sys.stderr if to_stdout else sys.stdout
    for note in ev.notes:
        print(f"note: {note}", file=sys.stderr)
    if not args.quiet:
        print(
            f"{Path(args.pred).name} against {Path(args.gt).name}: {ev.n_frames} frames", file=prose
        )
        print(ev.table(), file=prose)
        print(
            "-p: penalty protocol (a missed hand scores as the canonical hand at the camera origin)",
            file=prose,
        )
    if args.output or args.json:
        data = ev.to_json(per_frame=args.per_frame)
        data["pred"] = str(args.pred)
        data["gt"] = str(args.gt)
        text = json.dumps(data, indent=2)
        if to_stdout:
            write_text("-", text)
        if args.output and args.output != "-":
            write_text(args.output, text)
            if not args.quiet:
                print(f"wrote {args.output}", file=prose)
    return 0
