"""Command-line output conventions shared by every subcommand.

- Files go to `-o/--output`; an existing file is never replaced unless `--force` is given, and
  the refusal says what the file holds (`fixed.h5 exists: 100 reviewed, 9 edited frames; use
  --force to replace it`), checked before any work starts so a long run cannot end in a refusal.
- `-` as an output means standard output where the output is text (JSON).
- `--json` means JSON on stdout; prose then goes to stderr.
- `-q/--quiet` silences progress bars and prose; progress bars only show on a terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from core.errors import VidihandError

STDOUT = "-"


class OutputExistsError(VidihandError):
    """An output file exists and --force was not given."""

    title = "Output exists"


def add_force(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force", action="store_true", help="replace output files that already exist"
    )


def add_quiet(parser: argparse.ArgumentParser, help: str = "print nothing but errors") -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help=help)


def add_output(
    parser: argparse.ArgumentParser,
    help: str,
    *,
    legacy: str | None = None,
    metavar: str | None = None,
) -> None:
    """`-o/--output`, plus a hidden deprecated alias (e.g. "--out") that still works; check it
    with `require_output` (argparse cannot require one of two spellings)."""
    parser.add_argument("-o", "--output", dest="output", help=help, metavar=metavar)
    if legacy:
        parser.add_argument(legacy, dest="output", help=argparse.SUPPRESS)


def require_output(args: argparse.Namespace, parser_name: str) -> str:
    """The output path; a usage error naming -o when none was given (argparse cannot mark an
    option with an alias as required)."""
    out = getattr(args, "output", None)
    if not out:
        raise VidihandError(
            f"{parser_name}: the output is missing.", hint="Give it with -o/--output."
        )
    return str(out)


def check_outputs(
    paths: Iterable[str | os.PathLike[str] | None], force: bool, *, folder_ok: bool = False
) -> None:
    """Refuse outputs that exist (without `force`) or that are folders where a file is due.

    Call before doing the work. `folder_ok`: the outputs are folders (an existing one is fine,
    its files are checked by the caller)."""
    for p in paths:
        if p is None or str(p) == STDOUT:
            continue
        path = Path(p)
        if path.is_dir() and not folder_ok:
            raise OutputExistsError(
                f"{path} is a folder; the output must be a file.",
                hint="Give a file name with -o, e.g. -o " + str(path / "out"),
            )
        if folder_ok and path.is_dir():
            continue
        if path.exists() and not force:
            from core.io.labels_h5 import describe_existing

            raise OutputExistsError(
                f"{path.name} {describe_existing(path)}; use --force to replace it.",
                hint=f"Nothing was written; {path} is unchanged.",
            )


def write_text(out: str | os.PathLike[str], text: str) -> str:
    """Write `text` to a file atomically, or to stdout when `out` is "-"; returns where."""
    if str(out) == STDOUT:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
        return "stdout"
    from core.io.atomic import atomic_path

    with atomic_path(Path(out)) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return str(out)


def show_progress(quiet: bool) -> bool:
    """Progress bars only on an interactive terminal, and not with --quiet."""
    return not quiet and sys.stderr.isatty()
