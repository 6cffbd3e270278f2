"""`vidihand check LABELS.h5 [--video VIDEO]`: validate a label file and print a summary."""

from __future__ import annotations

import argparse
import json

import numpy as np

from core.errors import LabelFileError
from core.io.labels_h5 import check_matches, describe, load_labels
from core.labels.document import Source
from core.recon.base import meta_for
from core.video.hashing import video_sha256
from core.video.reader import open_video


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="validate a label file (and that it fits a video)")
    p.add_argument("labels", help="label file (.h5)")
    p.add_argument("--video", help="the video the labels should belong to")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def consistency_problems(doc) -> list[str]:
    """Problems a valid-looking file can still have: present hands without joints, joints on
    absent hands, sources out of range, non-positive depths."""
    problems = []
    for name, t in zip(("left", "right"), doc.hands, strict=True):
        p = t.present
        missing = p & np.isnan(t.joints_3d).any(axis=(1, 2))
        if missing.any():
            problems.append(f"{name}: {int(missing.sum())} present frames have no 3D joints")
        bad_src = t.source > max(Source)
        if bad_src.any():
            problems.append(f"{name}: {int(bad_src.sum())} frames have an unknown source code")
        z = t.joints_3d[p][..., 2]
        if z.size and np.nanmin(z) <= 0:
            problems.append(f"{name}: joints behind the camera (z <= 0) on present frames")
        c = t.confidence
        if ((c < 0) | (c > 1)).any():
            problems.append(f"{name}: confidence outside [0, 1]")
    return problems


def run(args: argparse.Namespace) -> int:
    doc = load_labels(args.labels)
    if args.video:
        with open_video(args.video) as video:
            check_matches(doc, meta_for(video, video_sha256(args.video)), path=args.labels)
    problems = consistency_problems(doc)
    summary = describe(doc)
    summary["problems"] = problems
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{args.labels}: schema v1, {summary['frames']} frames at {summary['fps']:.3f} fps, "
              f"{summary['size'][0]}x{summary['size'][1]}, backend {summary['backend'] or '-'}")
        pres = summary["present"]
        n = max(summary["frames"], 1)
        print(f"  hands present: left {pres['left']} ({100 * pres['left'] / n:.1f}%), right "
              f"{pres['right']} ({100 * pres['right'] / n:.1f}%), both {pres['both']}, any {pres['any']}")
        for hand, counts in summary["sources"].items():
            nz = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
            print(f"  {hand} sources: {nz}; reviewed {summary['reviewed'][hand]}")
        if args.video:
            print(f"  matches {args.video}")
        for prob in problems:
            print(f"  PROBLEM: {prob}")
    if problems:
        raise LabelFileError(f"{args.labels} has {len(problems)} problem(s): " + "; ".join(problems))
    return 0
