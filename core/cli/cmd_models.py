"""`vidihand models --remote HOST:PORT --token-file F`: the models a `vidihand serve --models`
server offers (name, configuration, parameters, content hash), to pick one with
`vidihand reconstruct --backend vidihand --checkpoint NAME --remote ...`."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list the models of a `vidihand serve --models` server",
        description="Lists the ViDiHand models a server offers (docs/remote.md).",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    from core.remote.cli_options import add_remote_arguments

    add_remote_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.errors import RemoteError
    from core.remote.cli_options import remote_backend, wants_remote

    if not wants_remote(args):
        raise RemoteError(
            "vidihand models asks a server: give --remote HOST:PORT or --ssh [USER@]HOST.",
            hint="e.g. vidihand models --ssh alice@gpu-box --token-file ~/.vidihand/token",
        )
    from core.remote.backend import RemoteReconstructor

    args.quiet = True
    backend = remote_backend(args, "vidihand")
    assert isinstance(backend, RemoteReconstructor)
    try:
        client = backend.connect(report=False)
        try:
            models = client.list_models()
        finally:
            client.close()
    finally:
        backend.close()
    if args.json:
        print(json.dumps({"models": models}, indent=2))
        return 0
    if not models:
        print("the server offers no models (start it with vidihand serve --models DIR)")
        return 0
    print(f"{'name':<24} {'config':<10} {'parameters':>15}  {'sha256':<12}  loaded")
    for m in models:
        print(
            f"{m['name']:<24} {m['config']:<10} {m['parameters']:>15,d}  {m['sha256'][:12]}  "
            f"{'yes' if m.get('loaded') else 'no'}"
        )
    return 0
