"""`vidihand export LABELS.h5 FORMAT -o OUT`: label file to NPZ or ARCTIC-style arrays."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a label file as NPZ or ARCTIC-style MANO arrays")
    p.add_argument("labels", help="label file (.h5, schema v1)")
    p.add_argument("format", choices=("npz", "arctic"), help="output format")
    p.add_argument("-o", "--output", required=True, help="output .npz file, or folder for arctic")
    p.add_argument("--name", default=None, help="sequence name for arctic (default: label stem)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.io.labels_h5 import load_labels

    doc = load_labels(args.labels)
    if args.format == "npz":
        from core.io.npz import save_npz

        print(f"wrote {save_npz(doc, args.output)}")
    else:
        from core.io.arctic import export_arctic

        name = args.name or Path(args.labels).stem
        for path in export_arctic(doc, args.output, name):
            print(f"wrote {path}")
    return 0
