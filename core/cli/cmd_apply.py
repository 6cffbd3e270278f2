"""`vidihand apply LABELS.h5 EDITS.json -o OUT.h5`: replay a JSON list of edits on a label file.

The edits (docs/edits-format.md) are applied in order; the first bad one stops everything with a
message naming its index, and nothing is written. The output is written atomically and its
/meta/history holds the file's earlier history plus these edits, so it can be replayed again.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from core.cli.output import add_force, add_quiet, check_outputs
from core.errors import EditError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("apply", help="apply a JSON list of edits to a label file")
    p.add_argument("labels", help="input label file (.h5, schema v1)")
    p.add_argument("edits", help='JSON file: a list of edits, e.g. [{"op": "swap_hands", ...}]')
    p.add_argument("-o", "--output", required=True, help="output label file (.h5)")
    add_force(p)
    add_quiet(p, help="print nothing on success")
    p.set_defaults(func=run)


def read_edits(path: str | Path) -> list[dict[str, Any]]:
    """The list of edits in a JSON file (a list, or an object with an "edits" list)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EditError(f"edit file not found: {path}", hint="Check the path.") from None
    except IsADirectoryError:
        raise EditError(
            f"{path} is a folder, not an edit file.", hint="Give a .json file."
        ) from None
    except OSError as exc:
        raise EditError(f"cannot read {path}: {exc.strerror or exc}.") from None
    except RecursionError:
        raise EditError(
            f"{path.name} is nested too deeply to be an edit list.",
            hint="The file must hold a JSON list of edits (docs/edits-format.md).",
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EditError(
            f"{path.name} is not valid JSON: {exc}",
            hint="The file must hold a JSON list of edits (docs/edits-format.md).",
        ) from None
    if isinstance(data, dict) and isinstance(data.get("edits"), list):
        data = data["edits"]
    if not isinstance(data, list):
        raise EditError(
            f"{path.name} must hold a JSON list of edits, got {type(data).__name__}",
            hint='Write [{"op": "swap_hands", "start": 50, "end": 60}, ...].',
        )
    return data


def run(args: argparse.Namespace) -> int:
    from core.edits import apply_edits
    from core.io.labels_h5 import load_labels, save_labels

    check_outputs([args.output], args.force)
    edits = read_edits(args.edits)
    doc = load_labels(args.labels)
    apply_edits(doc, edits)
    out = save_labels(doc, args.output)
    if not args.quiet:
        print(f"applied {len(edits)} edit(s); wrote {out} ({len(doc.history)} in its history)")
    return 0
