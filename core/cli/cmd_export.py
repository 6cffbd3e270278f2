"""`vidihand export LABELS.h5 FORMAT -o OUT`: label file to NPZ or ARCTIC-style arrays."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli.output import add_force, check_outputs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a label file as NPZ or ARCTIC-style MANO arrays")
    p.add_argument("labels", help="label file (.h5, schema v1)")
    p.add_argument("format", choices=("npz", "arctic"), help="output format")
    p.add_argument("-o", "--output", required=True, help="output .npz file, or folder for arctic")
    p.add_argument("--name", default=None, help="sequence name for arctic (default: label stem)")
    add_force(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.io.labels_h5 import load_labels

    name = args.name or Path(args.labels).stem
    if args.format == "npz":
        check_outputs([args.output], args.force)
    else:
        out = Path(args.output)
        if out.exists() and not out.is_dir():
            from core.cli.output import OutputExistsError

            raise OutputExistsError(f"{out} is a file; arctic export writes into a folder.")
        from core.io.arctic import output_names

        check_outputs([out / n for n in output_names(name)], args.force)
    doc = load_labels(args.labels)
    if args.format == "npz":
        from core.io.npz import save_npz

        print(f"wrote {save_npz(doc, args.output)}")
    else:
        from core.io.arctic import export_arctic

        for path in export_arctic(doc, args.output, name):
            print(f"wrote {path}")
    return 0
