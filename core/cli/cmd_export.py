"""`vidihand export LABELS.h5 FORMAT -o OUT`: a label file to NPZ, ARCTIC-style arrays, or an
interchange format (COCO keypoints, CVAT for video, JSON, CSV, glTF, Rerun; docs/formats.md)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from core.cli.output import add_force, add_quiet, check_outputs

if TYPE_CHECKING:
    from core.labels.document import LabelDocument

#: interchange formats: name -> (what -o names, help)
INTERCHANGE = {
    "coco": "COCO keypoints .json",
    "cvat": "CVAT for video 1.1 .xml",
    "json": ".json, every value per frame and hand",
    "csv": ".csv, one row per frame and hand",
    "gltf": "binary glTF 2.0 .glb, animated hands and the camera",
    "rrd": "Rerun recording .rrd (needs the [rerun] extra)",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a label file as NPZ, ARCTIC-style MANO arrays, COCO, CVAT, JSON, CSV, "
        "glTF or a Rerun recording",
    )
    p.add_argument("labels", help="label file (.h5, schema v1)")
    p.add_argument(
        "format",
        choices=("npz", "arctic", *INTERCHANGE),
        help="output format: npz, arctic (folder), "
        + ", ".join(f"{k} ({v})" for k, v in INTERCHANGE.items()),
    )
    p.add_argument("-o", "--output", required=True, help="output file, or folder for arctic")
    p.add_argument(
        "--name", default=None, help="sequence name for arctic/coco/cvat (default: label stem)"
    )
    p.add_argument(
        "--cvat-shape",
        choices=("skeleton", "points"),
        default="skeleton",
        help="cvat: a 21-point skeleton per hand and frame (default) or one points shape",
    )
    p.add_argument(
        "--video",
        default=None,
        help="rrd: the labels' video, logged with the labels (default: the video_path the "
        "labels remember, when it still exists)",
    )
    p.add_argument(
        "--mesh",
        choices=("auto", "mano", "simple", "skeleton"),
        default="auto",
        help="gltf/rrd: hand geometry (auto: MANO when set up and the labels have MANO "
        "parameters, else the simple mesh)",
    )
    add_force(p)
    add_quiet(p, help="print nothing on success")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.io.labels_h5 import load_labels

    name = args.name or Path(args.labels).stem
    if args.format != "arctic":
        check_outputs([args.output], args.force)
    else:
        out = Path(args.output)
        if out.exists() and not out.is_dir():
            from core.cli.output import OutputExistsError

            raise OutputExistsError(f"{out} is a file; arctic export writes into a folder.")
        from core.io.arctic import output_names

        check_outputs([out / n for n in output_names(name)], args.force)
    doc = load_labels(args.labels)
    say = _say(args.quiet)
    if args.format in INTERCHANGE:
        return _run_interchange(args, doc, say)
    if args.format == "npz":
        from core.io.npz import save_npz

        say(f"wrote {save_npz(doc, args.output)}")
    else:
        from core.io.arctic import export_arctic

        for path in export_arctic(doc, args.output, name):
            say(f"wrote {path}")
    return 0


def _say(quiet: bool) -> Callable[[str], None]:
    return (lambda _line: None) if quiet else print


def _run_interchange(
    args: argparse.Namespace, doc: LabelDocument, say: Callable[[str], None]
) -> int:
    """Every interchange format writes the one file named by -o, atomically."""
    name = args.name or Path(args.labels).stem
    out = Path(args.output)
    fmt = args.format
    if fmt == "coco":
        from core.io.coco import export_coco

        export_coco(doc, out, name)
    elif fmt == "cvat":
        from core.io.cvat import export_cvat

        export_cvat(doc, out, name, shape=args.cvat_shape)
    elif fmt == "json":
        from core.io.tabular import export_json

        export_json(doc, out)
    elif fmt == "csv":
        from core.io.tabular import export_csv

        export_csv(doc, out)
    elif fmt == "gltf":
        from core.io.gltf import export_gltf

        kinds = export_gltf(doc, out, mesh=args.mesh)
        say(f"hands: {', '.join(f'{h} {k}' for h, k in kinds.items())}")
    else:
        from core.io.rerun_rrd import export_rrd

        export_rrd(doc, out, video=args.video, mesh=args.mesh)
    say(f"wrote {out}")
    return 0
