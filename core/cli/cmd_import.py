"""`vidihand import FORMAT INPUT -o LABELS.h5`: dataset labels to a schema-v1 label file."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from core.cli.output import add_force, add_quiet, check_outputs

if TYPE_CHECKING:
    from core.labels.document import LabelDocument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import", help="import HOT3D, ARCTIC-style or CVAT for video hand labels as a label file"
    )
    p.add_argument("format", choices=("hot3d", "arctic", "cvat"), help="input format")
    p.add_argument(
        "input",
        help="HOT3D mano_hand_pose_trajectory.jsonl, an ARCTIC-style <seq>.mano.npy, or a CVAT "
        "for video 1.1 .xml",
    )
    p.add_argument("-o", "--output", required=True, help="label file to write (.h5)")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate for timestamps (30)")
    p.add_argument(
        "--camera",
        default=None,
        help="hot3d: put labels in this camera's frame (stream id of camera_models.json, e.g. "
        "1201-1; needs MANO files); default: HOT3D world coordinates",
    )
    p.add_argument(
        "--video",
        default=None,
        help="cvat (required): the video the CVAT task was made from (frame count, size, hash)",
    )
    add_force(p)
    add_quiet(p, help="print nothing on success")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.io.labels_h5 import describe, save_labels

    check_outputs([args.output], args.force)
    if args.format == "hot3d":
        from core.io.hot3d import import_hot3d

        doc = import_hot3d(args.input, fps=args.fps, camera=args.camera)
    elif args.format == "cvat":
        doc = _import_cvat(args)
    else:
        from core.io.arctic import import_arctic

        doc = import_arctic(args.input, fps=args.fps)
    out = save_labels(doc, args.output)
    info = describe(doc)
    if args.quiet:
        return 0
    print(f"wrote {out}: {info['frames']} frames, present {info['present']}")
    if args.format == "hot3d" and not doc.extras["hot3d"]["pose_known"]:
        print("note: no MANO files configured, so hand_pose is unknown (PCA kept in extras)")
    if args.format == "cvat":
        print("note: CVAT holds 2D only: 3D joints and MANO are unknown in this file")
    return 0


def _import_cvat(args: argparse.Namespace) -> LabelDocument:
    from core.errors import VidihandError
    from core.io.cvat import import_cvat
    from core.recon.base import meta_for
    from core.video.hashing import video_sha256
    from core.video.reader import open_video

    if not args.video:
        raise VidihandError(
            "import cvat needs the video the CVAT task was made from.",
            hint="Add --video VIDEO (it gives the frame count, size and the video's hash).",
        )
    video = open_video(args.video, fps=args.fps)
    try:
        meta = meta_for(video, video_sha256(args.video))
    finally:
        video.close()
    return import_cvat(args.input, meta)
