"""The `--remote` / `--ssh` options of `vidihand reconstruct`, kept here so the reconstruct
command only needs two calls: `add_remote_arguments(parser)` and `remote_backend(args, ...)`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.errors import RemoteError
from core.recon.base import Reconstructor

DEFAULT_REMOTE_PORT = 8765


def add_remote_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("remote worker (see docs/remote.md)")
    where = g.add_mutually_exclusive_group()
    where.add_argument(
        "--remote",
        metavar="HOST:PORT",
        help="run the backend on a `vidihand serve` server reached directly",
    )
    where.add_argument(
        "--ssh",
        metavar="[USER@]HOST[:PORT]",
        help="open an SSH tunnel to HOST and run the backend on its `vidihand serve`",
    )
    g.add_argument(
        "--token-file", metavar="FILE", help="the server's token (required with --remote/--ssh)"
    )
    g.add_argument(
        "--remote-port",
        type=int,
        default=DEFAULT_REMOTE_PORT,
        help=f"port `vidihand serve` listens on, on the SSH host (default {DEFAULT_REMOTE_PORT})",
    )
    g.add_argument(
        "--remote-command",
        metavar="CMD",
        help='start the server on the SSH host first, e.g. "vidihand serve --port 8765 '
        '--token-file ~/.vidihand/token"',
    )
    g.add_argument(
        "--remote-log",
        metavar="FILE",
        default="~/.vidihand-serve.log",
        help="on the SSH host: where --remote-command's output goes (default ~/.vidihand-serve.log)",
    )
    g.add_argument("--identity-file", metavar="KEY", help="SSH private key (ssh -i)")
    g.add_argument("--known-hosts", metavar="FILE", help="SSH known_hosts file checked strictly")
    g.add_argument(
        "--ssh-option",
        action="append",
        default=[],
        metavar="OPT",
        help="extra ssh -o option, e.g. ProxyJump=bastion (repeatable)",
    )
    g.add_argument(
        "--remote-retries",
        type=int,
        default=8,
        metavar="N",
        help="reconnect attempts in a row before giving up (default 8, backoff up to 4 s)",
    )
    g.add_argument(
        "--no-reuse",
        action="store_true",
        help="always start a new remote job (default: re-attach to an identical one)",
    )


def wants_remote(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "remote", None) or getattr(args, "ssh", None))


def remote_backend(
    args: argparse.Namespace, backend: str, options: dict[str, Any] | None = None, **kwargs: Any
) -> Reconstructor:
    """A RemoteReconstructor for `backend` built from the command-line options."""
    from core.remote.backend import ConnectionState, create_remote_backend

    def report(message: object) -> None:
        if isinstance(message, ConnectionState) and message.state in ("uploading", "reconnecting"):
            what = (
                "uploading the video"
                if message.state == "uploading"
                else f"reconnecting: {message.detail}"
            )
            print(f"remote {message.where}: {what}", file=sys.stderr, flush=True)

    if not getattr(args, "quiet", False):
        kwargs.setdefault("on_message", report)

    if not args.token_file:
        raise RemoteError(
            "--remote and --ssh need --token-file.",
            hint="Copy the token file the server was started with to this machine.",
        )
    return create_remote_backend(
        token_file=args.token_file,
        backend=backend,
        options=options,
        remote=args.remote,
        ssh=args.ssh,
        remote_port=args.remote_port,
        identity_file=args.identity_file,
        known_hosts=args.known_hosts,
        remote_command=args.remote_command,
        remote_log=args.remote_log,
        ssh_options=args.ssh_option,
        reuse=not args.no_reuse,
        retries=args.remote_retries,
        **kwargs,
    )
