"""`vidihand report PRED.h5 [--gt GT.h5] [--video VIDEO] -o REPORT.html [--json]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.cli.output import add_force, check_outputs, write_text
from core.errors import VidihandError
from core.io.labels_h5 import load_labels


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="failure-analysis report (HTML) of predicted labels, optionally against ground truth",
        description="Run the failure detectors on PRED (docs/failure-analysis.md), evaluate it "
        "against GT when given (docs/metrics.md), and write one self-contained HTML file with "
        "the metrics, failure counts, plots and (with --video) the worst frames.",
    )
    p.add_argument("pred", help="predicted label file (.h5)")
    p.add_argument("--gt", help="ground-truth label file (.h5) of the same video")
    p.add_argument("--video", help="the video, for thumbnails of the worst frames")
    p.add_argument("-o", "--output", required=True, help="HTML file to write")
    p.add_argument(
        "--json",
        action="store_true",
        help='also print {"segments": [...], "metrics": {...}} as JSON on stdout',
    )
    p.add_argument(
        "--thresholds", metavar="JSON", help="detector thresholds to override (JSON file)"
    )
    p.add_argument(
        "--overlap", action="store_true", help="evaluate only the frames both files have"
    )
    p.add_argument(
        "--mano-dir",
        metavar="DIR",
        help="folder with MANO_RIGHT.pkl / MANO_LEFT.pkl: interpenetration then uses the hand "
        "meshes where the labels have MANO parameters (default: the configured MANO folder)",
    )
    add_force(p)
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.analysis.report import build_report
    from core.analysis.thresholds import Thresholds

    if args.json and args.output == "-":
        raise VidihandError("-o - and --json both want stdout.", hint="Write the HTML to a file.")
    check_outputs([args.output], args.force)
    prose = sys.stderr if args.json else sys.stdout  # stdout carries the JSON when asked for
    pred = load_labels(args.pred)
    gt = load_labels(args.gt) if args.gt else None
    th = Thresholds.from_json(args.thresholds) if args.thresholds else None
    mano = None
    if any(t.has_mano().any() for t in pred.hands):
        from core.hands.mano import ManoModel, mano_available

        if args.mano_dir:
            mano = ManoModel(args.mano_dir)  # asked for: a broken folder is an error
        elif mano_available():
            try:
                mano = ManoModel()
            except VidihandError as exc:
                print(
                    f"note: MANO not used ({exc.message}); interpenetration uses capsules",
                    file=sys.stderr,
                )
    html, data = build_report(
        pred,
        gt,
        args.video,
        thresholds=th,
        title=Path(args.pred).name,
        overlap=args.overlap,
        mano=mano,
    )
    out = write_text(args.output, html)
    n_err = len(data["segments"])
    if not args.quiet and out != "stdout":
        print(
            f"wrote {out} ({len(html) / 1e6:.2f} MB): {n_err} segments above threshold", file=prose
        )
    if args.json:
        write_text("-", json.dumps(data, indent=2))
    return 0
