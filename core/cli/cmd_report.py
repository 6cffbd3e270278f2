"""`vidihand report PRED.h5 [--gt GT.h5] [--video VIDEO] -o REPORT.html [--json OUT.json]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.errors import VidihandError
from core.io.atomic import atomic_path
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
    p.add_argument("--json", metavar="OUT", help='also write {"segments": [...], "metrics": {...}}')
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.analysis.report import build_report
    from core.analysis.thresholds import Thresholds

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
                print(f"note: MANO not used ({exc.message}); interpenetration uses capsules")
    html, data = build_report(
        pred,
        gt,
        args.video,
        thresholds=th,
        title=Path(args.pred).name,
        overlap=args.overlap,
        mano=mano,
    )
    out = Path(args.output)
    with atomic_path(out) as tmp:
        tmp.write_text(html, encoding="utf-8")
    n_err = len(data["segments"])
    print(f"wrote {out} ({len(html) / 1e6:.2f} MB): {n_err} segments above threshold")
    if args.json:
        with atomic_path(Path(args.json)) as tmp:
            tmp.write_text(json.dumps(data, indent=2))
        print(f"wrote {args.json}")
    return 0
