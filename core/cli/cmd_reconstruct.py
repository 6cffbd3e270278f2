"""`vidihand reconstruct INPUT -o OUT.h5`: run a backend over a video and write schema-v1 labels."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.errors import VidihandError
from core.io.labels_h5 import describe, save_labels
from core.labels.document import LabelDocument, intrinsics_from_values
from core.recon.base import CancelToken, frames_range, meta_for, run_reconstruction
from core.recon.registry import DEFAULT_BACKEND, available_backends, create_backend
from core.video.hashing import video_sha256
from core.video.reader import open_video


def register(sub: argparse._SubParsersAction) -> None:
    backends = available_backends()
    p = sub.add_parser(
        "reconstruct",
        help="reconstruct both hands in a video and write an HDF5 label file",
        description="Backends: " + "; ".join(f"{k}: {v}" for k, v in backends.items()),
    )
    p.add_argument("input", help="video file or folder of images")
    p.add_argument("-o", "--output", required=True, help="label file to write (.h5)")
    p.add_argument("--backend", default=DEFAULT_BACKEND, choices=sorted(backends))
    p.add_argument("--frames", help="frame range A:B (B exclusive), default: all")
    p.add_argument(
        "--intrinsics",
        metavar="FX,FY,CX,CY",
        help="camera intrinsics in pixels (default: focal = larger image side, centred)",
    )
    p.add_argument("--checkpoint", help="model checkpoint folder (vidihand backend)")
    p.add_argument("--npz", help="also write an .npz export here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def parse_intrinsics(text: str):
    try:
        fx, fy, cx, cy = (float(v) for v in text.split(","))
    except ValueError:
        raise VidihandError(
            f"--intrinsics must be four numbers FX,FY,CX,CY, got {text!r}.",
            hint="Example: --intrinsics 900,900,639.5,359.5",
        ) from None
    if fx <= 0 or fy <= 0:
        raise VidihandError("Focal lengths in --intrinsics must be positive.")
    return intrinsics_from_values(fx, fy, cx, cy)


def backend_options(args: argparse.Namespace) -> dict:
    opts = {}
    if getattr(args, "checkpoint", None):
        opts["checkpoint"] = args.checkpoint
    return opts


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    out = Path(args.output)
    with open_video(args.input) as video:
        frames = _frames(args.frames, video.info.n_frames)
        K = parse_intrinsics(args.intrinsics) if args.intrinsics else None
        doc = LabelDocument(meta_for(video, video_sha256(args.input)), K)
        backend = create_backend(args.backend, **backend_options(args))
        bar = tqdm(total=len(frames), unit="frame", disable=args.quiet, file=sys.stderr)
        cancel = CancelToken()

        def on_progress(p):
            bar.n = p.done
            bar.refresh()

        try:
            with backend:
                run_reconstruction(backend, video, doc, frames, cancel=cancel, on_progress=on_progress)
        except KeyboardInterrupt:
            cancel.cancel()
            bar.close()
            save_labels(doc, out)
            print(f"interrupted: kept the finished frames in {out}", file=sys.stderr)
            return 130
        finally:
            bar.close()
    save_labels(doc, out)
    if args.npz:
        from core.io.npz import save_npz

        save_npz(doc, args.npz)
    summary = describe(doc)
    print(f"labels written to {out}")
    print(json.dumps({k: summary[k] for k in ("frames", "backend", "present")}, indent=None))
    return 0


def _frames(spec, n):
    try:
        return frames_range(spec, n)
    except ValueError as exc:
        raise VidihandError(str(exc)) from None
