"""`vidihand eval PRED.h5 GT.h5 [--json OUT]`: paper-protocol metrics of labels against ground truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.io.atomic import atomic_path
from core.io.labels_h5 import load_labels
from core.metrics import evaluate


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="compare predicted labels with ground truth (FAcc, MPJPE-p, PA-MPJPE-p, EPE-p, ...)",
        description="Paper-protocol metrics of PRED against GT, with and without the penalty "
        "for missed hands (docs/metrics.md). Prints a table; --json writes every metric with "
        "its unit, definition and sample count.",
    )
    p.add_argument("pred", help="predicted label file (.h5)")
    p.add_argument("gt", help="ground-truth label file (.h5) of the same video")
    p.add_argument("--json", metavar="OUT", help="write the metrics as JSON to OUT")
    p.add_argument(
        "--per-frame", action="store_true", help="also write per-frame error arrays into the JSON"
    )
    p.add_argument(
        "--overlap",
        action="store_true",
        help="when frame counts differ, evaluate the frames both files have (from frame 0)",
    )
    p.add_argument(
        "--force", action="store_true", help="evaluate even if the files name different videos"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    pred = load_labels(args.pred)
    gt = load_labels(args.gt)
    ev = evaluate(pred, gt, overlap=args.overlap, force=args.force)
    for note in ev.notes:
        print(f"note: {note}")
    print(f"{Path(args.pred).name} against {Path(args.gt).name}: {ev.n_frames} frames")
    print(ev.table())
    print("-p: penalty protocol (a missed hand scores as the canonical hand at the camera origin)")
    if args.json:
        data = ev.to_json(per_frame=args.per_frame)
        data["pred"] = str(args.pred)
        data["gt"] = str(args.gt)
        out = Path(args.json)
        with atomic_path(out) as tmp:
            tmp.write_text(json.dumps(data, indent=2))
        print(f"wrote {out}")
    return 0
