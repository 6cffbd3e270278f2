"""`vidihand` command line: one module per subcommand in this folder.

Each subcommand module defines `register(subparsers)`, which adds its parser and sets
`func=run` on it. Errors from `core` (VidihandError) are printed as a message and a hint, never
as a traceback, and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from core import __version__
from core.errors import CancelledError, VidihandError

#: subcommand modules, in the order `vidihand --help` lists them
COMMAND_MODULES: tuple[str, ...] = (
    "core.cli.cmd_reconstruct",
    "core.cli.cmd_refine",
    "core.cli.cmd_check",
    "core.cli.cmd_info",
    "core.cli.cmd_sample",
    "core.cli.cmd_review",
    "core.cli.cmd_apply",
    "core.cli.cmd_import",
    "core.cli.cmd_export",
    "core.cli.cmd_eval",
    "core.cli.cmd_train",
    "core.cli.cmd_model_info",
    "core.cli.cmd_report",
    "core.cli.cmd_serve",
    "core.cli.cmd_models",
    "core.cli.cmd_batch",
    "core.cli.cmd_install_desktop",
    "core.cli.cmd_completion",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidihand",
        description="ViDiHand Studio: reconstruct, review, correct and export 3D two-hand labels.",
    )
    parser.add_argument("--version", action="version", version=f"vidihand-studio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    if argv is None:
        _complete(parser)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return status
    except BrokenPipeError:
        return _closed_pipe()
    except CancelledError as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except VidihandError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 2


def _closed_pipe() -> int:
    """The reader of stdout went away (`vidihand check L --json | head -c 1`): stop quietly,
    as a Unix tool killed by SIGPIPE would, without a traceback at interpreter exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 141  # 128 + SIGPIPE, what a shell reports for a tool stopped by a closed pipe


def _complete(parser: argparse.ArgumentParser) -> None:
    """When the shell asks for completions (`vidihand completion bash` installed), print them
    and exit; otherwise return at once (argcomplete checks one environment variable)."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    import argcomplete

    argcomplete.autocomplete(parser)


if __name__ == "__main__":
    sys.exit(main())
