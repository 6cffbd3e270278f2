"""`vidihand train --config NAME_OR_FILE --stage {1a,1b,2} -o DIR`: train the ViDiHand model.

Stage 1a/1b adapt the VACE branch with the hand-overlay objective; stage 2 trains the decoder
(start it from the stage-1 folder with --init). Data come from the configuration's train.data
list or from the flags (--labels/--video pairs, --hot3d, --arctic).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.cli.output import OutputExistsError, add_force, add_output, add_quiet, require_output
from core.errors import VidihandError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the ViDiHand reconstructor (stage 1a/1b backbone adaptation, stage 2 decoder)",
        description="Train ViDiHand. Built-in configurations: tiny (CPU), full (Wan2.1-VACE-1.3B).",
    )
    p.add_argument("--config", default="tiny", help="built-in name (tiny, full) or a JSON file")
    p.add_argument("--stage", default="2", choices=("1a", "1b", "2"))
    add_output(p, "run folder: checkpoint, log.jsonl", legacy="--out", metavar="DIR")
    p.add_argument("--init", help="start from this checkpoint folder (e.g. the stage-1 run)")
    p.add_argument("--resume", action="store_true", help="continue the run in -o DIR")
    add_force(p)
    p.add_argument("--steps", type=int, help="number of steps (default: from the configuration)")
    p.add_argument("--lr", type=float, help="learning rate (default: from the configuration)")
    p.add_argument("--batch", type=int, help="windows per step (default: from the configuration)")
    p.add_argument(
        "--labels", action="append", default=[], help="project label file (.h5); pair with --video"
    )
    p.add_argument(
        "--video", action="append", default=[], help="the video of the matching --labels"
    )
    p.add_argument("--frames", help="train on frames A:B of each --labels/--video pair only")
    p.add_argument("--hot3d", action="append", default=[], metavar="SEQ_DIR[:STREAM]:IMAGES",
                   help="HOT3D recording folder, stream id and exported images folder")  # fmt: skip
    p.add_argument("--arctic", action="append", default=[], metavar="MANO.npy:CAMERA.npy:IMAGES",
                   help="ARCTIC sequence files and its ego images folder")  # fmt: skip
    p.add_argument("--base-weights", help="Wan2.1-VACE-1.3B diffusers folder (transformer/, vae/)")
    p.add_argument("--mano-dir", help="MANO model folder (enables the MANO hand layer)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")
    add_quiet(p, help="no progress bar")
    p.set_defaults(func=run)


def data_specs(args: argparse.Namespace) -> list[dict] | None:
    """Training data from the flags (None: use the configuration's train.data)."""
    if len(args.labels) != len(args.video):
        raise VidihandError(
            f"{len(args.labels)} --labels but {len(args.video)} --video.",
            hint="Give one --video per --labels, in the same order.",
        )
    specs: list[dict] = []
    span = None
    if args.frames:
        try:
            a, b = (int(v) for v in args.frames.split(":"))
        except ValueError:
            raise VidihandError(f"--frames must look like A:B, got {args.frames!r}.") from None
        span = [a, b]
    for lab, vid in zip(args.labels, args.video, strict=True):
        specs.append({"kind": "labels", "labels": lab, "video": vid, "frames": span})
    for item in args.hot3d:
        parts = item.split(":")
        if len(parts) != 3:
            raise VidihandError(f"--hot3d wants SEQ_DIR:STREAM:IMAGES, got {item!r}.")
        specs.append(
            {"kind": "hot3d", "sequence": parts[0], "stream": parts[1], "images": parts[2]}
        )
    for item in args.arctic:
        parts = item.split(":")
        if len(parts) != 3:
            raise VidihandError(f"--arctic wants MANO.npy:CAMERA.npy:IMAGES, got {item!r}.")
        specs.append({"kind": "arctic", "mano": parts[0], "camera": parts[1], "images": parts[2]})
    return specs or None


def run(args: argparse.Namespace) -> int:
    from core.cli.output import show_progress
    from core.recon.vidihand.config import load_config, set_path
    from core.recon.vidihand.train import run_training

    out = require_output(args, "train")
    if not args.resume and not args.force and (Path(out) / "state.json").exists():
        raise OutputExistsError(
            f"{out} holds a training run already; use --resume to continue it or --force to "
            "start a new one over it.",
            hint="Nothing was written.",
        )
    cfg = load_config(args.config)
    skey = "stage1" if args.stage.startswith("1") else "stage2"
    if args.lr is not None:
        set_path(cfg, f"train.{skey}.lr", args.lr)
    if args.batch is not None:
        set_path(cfg, f"train.{skey}.batch", args.batch)
    if args.mano_dir:
        set_path(cfg, "hand_model.kind", "mano")
        set_path(cfg, "hand_model.mano_dir", args.mano_dir)
    cfg.validate()
    result = run_training(
        cfg,
        out,
        stage=args.stage,
        data=data_specs(args),
        steps=args.steps,
        init=args.init,
        resume=args.resume,
        base_weights=args.base_weights,
        device=args.device,
        progress=show_progress(args.quiet),
    )
    first, last = result["first"] or {}, result["last"] or {}
    print(f"stage {args.stage}: {result['steps']} steps, checkpoint in {out}", file=sys.stderr)
    print(
        json.dumps(
            {"first_loss": first.get("total"), "last_loss": last.get("total"), "out": str(out)}
        )
    )
    return 0
