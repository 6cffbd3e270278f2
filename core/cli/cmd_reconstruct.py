"""`vidihand reconstruct INPUT -o OUT.h5`: run a backend over a video and write schema-v1 labels."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import VidihandError
from core.labels.document import intrinsics_from_values

if TYPE_CHECKING:
    from core.recon.base import Progress, Reconstructor


class UsageError(VidihandError):
    """A command-line value is malformed."""

    title = "Invalid argument"


def register(sub: argparse._SubParsersAction) -> None:
    from core.recon.registry import DEFAULT_BACKEND, available_backends

    backends = available_backends()
    p = sub.add_parser(
        "reconstruct",
        help="reconstruct both hands in a video and write an HDF5 label file",
        description="Backends: " + "; ".join(f"{k}: {v}" for k, v in backends.items()),
    )
    p.add_argument("input", help="video file or folder of images")
    p.add_argument("-o", "--output", required=True, help="label file to write (.h5)")
    p.add_argument("--backend", default=DEFAULT_BACKEND, choices=sorted(backends))
    p.add_argument(
        "--frames",
        metavar="A:B",
        help="frame range A:B (B exclusive, either side optional, negative counts from the end); "
        "default: all frames. Frames outside the range are written as 'no hand, source none'.",
    )
    p.add_argument(
        "--intrinsics",
        metavar="FX,FY,CX,CY",
        help="camera intrinsics in pixels, pixel-centre convention (default: focal = larger image "
        "side, principal point at the image centre)",
    )
    p.add_argument("--checkpoint", help="model checkpoint folder (vidihand backend)")
    p.add_argument(
        "--backend-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="option passed to the backend (repeatable), e.g. labels=gt.h5 for groundtruth, "
        "model_complexity=0 for mediapipe",
    )
    p.add_argument(
        "--no-refine",
        dest="refine",
        action="store_false",
        default=None,
        help="write the backend's raw per-frame output (default: mediapipe output is refined: "
        "one skeleton per hand, a temporal two-hand fit, lost hands looked for again; "
        "docs/reconstructors.md)",
    )
    p.add_argument("--npz", help="also write an .npz export here")
    from core.cli.output import add_force, add_quiet

    add_force(p)
    add_quiet(p, help="no progress bar, no summary (errors and warnings still go to stderr)")
    from core.remote.cli_options import add_remote_arguments  # --remote / --ssh (docs/remote.md)

    add_remote_arguments(p)
    p.set_defaults(func=run)


def parse_intrinsics(text: str) -> np.ndarray:
    """ "FX,FY,CX,CY" (pixels) -> K; raises UsageError with an example when malformed."""
    parts = [v.strip() for v in text.split(",")]
    example = "Example: --intrinsics 900,900,639.5,359.5 (fx, fy, cx, cy in pixels)."
    if len(parts) != 4:
        raise UsageError(
            f"--intrinsics needs four numbers FX,FY,CX,CY, got {len(parts)} value(s) in {text!r}.",
            hint=example,
        )
    try:
        fx, fy, cx, cy = (float(v) for v in parts)
    except ValueError:
        raise UsageError(
            f"--intrinsics must be four numbers FX,FY,CX,CY, got {text!r}.", hint=example
        ) from None
    if not all(math.isfinite(v) for v in (fx, fy, cx, cy)):
        raise UsageError(f"--intrinsics values must be finite, got {text!r}.", hint=example)
    if fx <= 0 or fy <= 0:
        raise UsageError(
            f"Focal lengths in --intrinsics must be positive, got fx={fx:g}, fy={fy:g}.",
            hint=example,
        )
    return intrinsics_from_values(fx, fy, cx, cy)


def parse_frames(spec: str | None, n_frames: int) -> range:
    from core.recon.base import frames_range

    try:
        return frames_range(spec, n_frames)
    except ValueError as exc:
        raise UsageError(
            f"--frames: {exc}.",
            hint=f"Use A:B with 0 <= A < B <= {n_frames} (B exclusive), e.g. --frames 0:{min(n_frames, 300)}.",
        ) from None


def _option_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def backend_options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    for item in getattr(args, "backend_option", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"--backend-option must look like KEY=VALUE, got {item!r}.",
                hint="Example: --backend-option labels=sample_gt.h5",
            )
        opts[key.strip().replace("-", "_")] = _option_value(value.strip())
    if getattr(args, "checkpoint", None):
        opts["checkpoint"] = args.checkpoint
    return opts


def check_remote_checkpoint(name: str | None) -> None:
    """Remotely, --checkpoint names one of the server's models, never a path."""
    if name and any(c in name for c in "/\\") or (name or "").startswith(("~", ".")):
        raise UsageError(
            f"with --remote/--ssh, --checkpoint names a model on the server, not a path: {name!r}.",
            hint="List the server's models with `vidihand models --remote HOST:PORT --token-file F` "
            "(or --ssh); the server is started with `vidihand serve --models DIR`.",
        )


def create(name: str, options: dict[str, Any]) -> Reconstructor:
    """create_backend, turning unknown options into a clear error."""
    from core.errors import ReconstructorError
    from core.recon.registry import create_backend

    try:
        return create_backend(name, **options)
    except TypeError as exc:
        raise ReconstructorError(
            f"Backend {name!r} does not accept these options ({exc}).",
            hint="See docs/reconstructors.md for each backend's options.",
        ) from None


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.cli.output import check_outputs, show_progress
    from core.io.labels_h5 import describe, save_labels
    from core.labels.document import LabelDocument
    from core.recon.base import CancelToken, meta_for, run_reconstruction
    from core.video.hashing import video_sha256
    from core.video.reader import open_video

    out = Path(args.output)
    K = parse_intrinsics(args.intrinsics) if args.intrinsics else None
    options = backend_options(args)
    check_outputs([out, args.npz], args.force)  # before the work: never replace without --force
    t0 = time.perf_counter()
    with open_video(args.input) as video:
        frames = parse_frames(args.frames, video.info.n_frames)
        if video.info.truncated:
            print(
                f"warning: {Path(args.input).name} is truncated: only its first "
                f"{video.info.n_frames} frames can be read; re-export or re-download it for more",
                file=sys.stderr,
            )
        from core.remote.cli_options import remote_backend, wants_remote

        if wants_remote(args):  # same backend, computed by a `vidihand serve` server
            check_remote_checkpoint(args.checkpoint)
            backend = remote_backend(args, args.backend, options)
        else:
            backend = create(args.backend, options)
        if K is None and hasattr(backend, "intrinsics"):
            K = backend.intrinsics()
        doc = LabelDocument(meta_for(video, video_sha256(args.input)), K)
        bar = tqdm(
            total=len(frames),
            unit="frame",
            disable=not show_progress(args.quiet),
            file=sys.stderr,
            dynamic_ncols=True,
        )
        cancel = CancelToken()

        def on_progress(p: Progress) -> None:
            bar.update(p.done - bar.n)

        try:
            with backend:
                run_reconstruction(
                    backend, video, doc, frames, cancel=cancel, on_progress=on_progress
                )
        except KeyboardInterrupt:
            cancel.cancel()
            bar.close()
            save_labels(doc, out)
            print(f"interrupted: kept the finished frames in {out}", file=sys.stderr)
            return 130
        finally:
            bar.close()
        refined = _refine(args, doc, frames, video)
    save_labels(doc, out)
    if args.npz:
        from core.io.npz import save_npz

        save_npz(doc, args.npz)
    seconds = time.perf_counter() - t0
    summary = describe(doc)
    pres = summary["present"]
    n = max(len(frames), 1)

    def say(line: str) -> None:  # prose to stderr, the JSON summary to stdout
        if not args.quiet:
            print(line, file=sys.stderr)

    say(f"labels written to {out}" + (f" (and {args.npz})" if args.npz else ""))
    say(
        f"{len(frames)} of {doc.n_frames} frames ({frames.start}:{frames.stop}) with {summary['backend']} "
        f"in {seconds:.1f} s ({len(frames) / max(seconds, 1e-9):.1f} frames/s)"
    )
    say(
        f"hands present: left {pres['left']} ({100 * pres['left'] / n:.1f}%), right {pres['right']} "
        f"({100 * pres['right'] / n:.1f}%), both {pres['both']} ({100 * pres['both'] / n:.1f}%), "
        f"any {pres['any']} ({100 * pres['any'] / n:.1f}%)"
    )
    timing = getattr(backend, "last_status", {}).get("timing") or {}
    if "first_frame_s" in timing:  # a remote run: how long the server took to the first frame
        model = "already loaded" if timing.get("warm") else "loaded"
        print(
            f"server: first frame after {timing['first_frame_s']:.2f} s (model {model}"
            + (f" in {timing['model_load_s']:.2f} s)" if not timing.get("warm") else ")"),
            file=sys.stderr,
        )
    if refined is not None:
        say(f"refined: {refined}")
    print(json.dumps({k: summary[k] for k in ("frames", "backend", "present")}))
    return 0


def _refine(args: argparse.Namespace, doc: Any, frames: range, video: Any) -> str | None:
    """The refinement stage (docs/reconstructors.md); a one-line summary, or None if skipped."""
    from core.recon.refine.stage import refine_after_reconstruction

    plan = refine_after_reconstruction(
        doc, args.backend, refine=getattr(args, "refine", None), frames=frames, video=video
    )
    return None if plan is None else plan.describe()
