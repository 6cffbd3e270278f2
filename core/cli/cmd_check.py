"""`vidihand check LABELS.h5 [--video VIDEO]`: validate a label file and print a summary."""

from __future__ import annotations

import argparse
import json

import numpy as np

from core.errors import LabelFileError
from core.io.labels_h5 import check_matches, describe, load_labels
from core.labels.document import LabelDocument, Source
from core.recon.base import meta_for
from core.video.hashing import video_sha256
from core.video.reader import open_video


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="validate a label file (and that it fits a video)")
    p.add_argument("labels", help="label file (.h5)")
    p.add_argument("--video", help="the video the labels should belong to")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def two_d_only(doc: LabelDocument) -> list[str]:
    """Hands with 2D joints on every present frame and 3D joints on none: what a 2D pass gives
    (`vidihand import cvat`, docs/formats.md), a documented state rather than damage."""
    out = []
    for name, t in zip(("left", "right"), doc.hands, strict=True):
        p = t.present
        has_3d = ~np.isnan(t.joints_3d).any(axis=(1, 2))
        has_2d = ~np.isnan(t.joints_2d).all(axis=(1, 2))  # a joint left out is still a hand
        if p.any() and not (p & has_3d).any() and has_2d[p].all():
            out.append(name)
    return out


def consistency_problems(doc: LabelDocument) -> list[str]:
    """Problems a valid-looking file can still have: present hands without joints (3D missing
    on some present frames, a 2D-only hand is fine; no 2D joint at all, one joint left out
    unknown is fine), sources out of range, non-positive depths."""
    problems = []
    flat = two_d_only(doc)
    for name, t in zip(("left", "right"), doc.hands, strict=True):
        p = t.present
        missing = p & np.isnan(t.joints_3d).any(axis=(1, 2))
        if missing.any() and name not in flat:
            problems.append(f"{name}: {int(missing.sum())} present frames have no 3D joints")
        missing_2d = p & np.isnan(t.joints_2d).all(axis=(1, 2))
        if missing_2d.any():
            problems.append(f"{name}: {int(missing_2d.sum())} present frames have no 2D joints")
        bad_src = t.source > max(Source)
        if bad_src.any():
            problems.append(f"{name}: {int(bad_src.sum())} frames have an unknown source code")
        z = t.joints_3d[p][..., 2]
        z = z[np.isfinite(z)]
        if z.size and z.min() <= 0:
            problems.append(f"{name}: joints behind the camera (z <= 0) on present frames")
        c = t.confidence
        if ((c < 0) | (c > 1)).any():
            problems.append(f"{name}: confidence outside [0, 1]")
    return problems


def projection_rms(doc: LabelDocument) -> dict[str, float | None]:
    """Per hand: RMS distance (px) between the projection of joints_3d and joints_2d over
    present frames (None when no frame has both). Informative: backends whose 2D joints come
    from a separate detector may legitimately differ by a few pixels."""
    K = doc.K
    out: dict[str, float | None] = {}
    for name, t in zip(("left", "right"), doc.hands, strict=True):
        j = t.joints_3d[t.present].astype(np.float64)
        uv = t.joints_2d[t.present].astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(j[..., 2] > 0, j[..., 2], np.nan)
            proj = np.stack(
                [
                    K[0, 0] * j[..., 0] / z + K[0, 1] * j[..., 1] / z + K[0, 2],
                    K[1, 1] * j[..., 1] / z + K[1, 2],
                ],
                axis=-1,
            )
            d2 = np.sum((proj - uv) ** 2, axis=-1)
        d2 = d2[np.isfinite(d2)]
        out[name] = float(np.sqrt(d2.mean())) if d2.size else None
    return out


def run(args: argparse.Namespace) -> int:
    doc = load_labels(args.labels)
    if args.video:
        with open_video(args.video) as video:
            check_matches(doc, meta_for(video, video_sha256(args.video)), path=args.labels)
    problems = consistency_problems(doc)
    summary = describe(doc)
    summary["problems"] = problems
    summary["two_d_only"] = two_d_only(doc)
    summary["projection_rms_px"] = projection_rms(doc)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"{args.labels}: schema v1, {summary['frames']} frames at {summary['fps']:.3f} fps, "
            f"{summary['size'][0]}x{summary['size'][1]}, backend {summary['backend'] or '-'}"
        )
        pres = summary["present"]
        n = max(summary["frames"], 1)
        print(
            f"  hands present: left {pres['left']} ({100 * pres['left'] / n:.1f}%), right "
            f"{pres['right']} ({100 * pres['right'] / n:.1f}%), both {pres['both']}, any {pres['any']}"
        )
        for hand, counts in summary["sources"].items():
            nz = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
            print(f"  {hand} sources: {nz}; reviewed {summary['reviewed'][hand]}")
        rms = ", ".join(
            f"{k} {v:.2f} px" if v is not None else f"{k} -"
            for k, v in summary["projection_rms_px"].items()
        )
        print(f"  3D-to-2D projection RMS: {rms}")
        if summary["two_d_only"]:
            print(f"  2D only (no 3D joints): {', '.join(summary['two_d_only'])}")
        if args.video:
            print(f"  matches {args.video}")
        for prob in problems:
            print(f"  PROBLEM: {prob}")
    if problems:
        raise LabelFileError(
            f"{args.labels} has {len(problems)} problem(s): " + "; ".join(problems)
        )
    return 0
