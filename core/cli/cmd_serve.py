"""`vidihand serve`: run reconstructions for remote clients (see docs/remote.md)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from core.errors import VidihandError
from core.remote.limits import add_limit_arguments, limits_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve reconstructions to remote clients (bind to loopback, reach through SSH)",
        description="Listens on HOST:PORT (loopback by default: reach it through an SSH tunnel). "
        "Every request needs the token in --token-file (created with a random token if missing).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--allow-remote-bind",
        action="store_true",
        help="allow a --host other machines can reach (unencrypted: prefer an SSH tunnel)",
    )
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--token-file", required=True, help="file holding the shared token")
    p.add_argument("--jobs-dir", help="where uploads and jobs are kept (default: <data dir>/serve)")
    p.add_argument(
        "--max-upload-mb", type=float, default=2048, help="largest upload (default 2048)"
    )
    p.add_argument("--max-jobs", type=int, default=1, help="jobs running at once (default 1)")
    p.add_argument(
        "--max-queued", type=int, default=32, help="jobs waiting beyond those (default 32)"
    )
    p.add_argument(
        "--backend-option",
        action="append",
        default=[],
        metavar="BACKEND.KEY=VALUE",
        help="server-side backend option, e.g. vidihand.checkpoint=/models/ckpt (repeatable)",
    )
    p.add_argument(
        "--models",
        metavar="DIR",
        help="folder of ViDiHand checkpoints, one sub-folder per model; clients pick one by its "
        "folder name (vidihand reconstruct --checkpoint NAME --remote ...)",
    )
    p.add_argument(
        "--model-memory-gb",
        type=float,
        metavar="GB",
        help="loaded models each worker keeps between jobs, least recently used dropped first "
        "(default: 80%% of the GPU's memory, or half the RAM)",
    )
    p.add_argument(
        "--preload",
        action="append",
        default=[],
        metavar="NAME",
        help="load a model of --models (or a backend) at start so the first job starts sooner "
        "(repeatable)",
    )
    p.add_argument(
        "--isolation",
        choices=("process", "thread"),
        default="process",
        help="run each job's backend in a child process (default: a crash fails only that job) "
        "or in a server thread (no start-up cost per job)",
    )
    add_limit_arguments(p)
    p.add_argument("--test-batch-delay", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="store_true", help="log every connection")
    p.set_defaults(func=run)


def parse_backend_options(items: list[str]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        backend, dot, key = name.partition(".")
        if not sep or not dot or not backend or not key:
            raise VidihandError(
                f"--backend-option must be BACKEND.KEY=VALUE, got {item!r}.",
                hint="Example: --backend-option vidihand.checkpoint=/models/vidihand",
            )
        out.setdefault(backend, {})[key] = value
    return out


def _models_dir(text: str | None) -> Path | None:
    if text is None:
        return None
    path = Path(text).expanduser()
    if not path.is_dir():
        raise VidihandError(
            f"--models {text}: no such folder.",
            hint="Give a folder with one sub-folder per checkpoint (written by vidihand train).",
        )
    return path


def run(args: argparse.Namespace) -> int:
    from core.paths import data_dir
    from core.remote.client import ensure_token_file
    from core.remote.exposure import check_bind_host, check_token_file_private, is_loopback
    from core.remote.server import Server, ServerConfig

    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    # jobs and refusals always; every connection with -v
    logging.getLogger("vidihand.remote").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    limits = limits_from_args(args)
    check_bind_host(args.host, args.allow_remote_bind)
    check_token_file_private(args.token_file)
    token, created = ensure_token_file(args.token_file)
    if created:
        print(
            f"created a new token in {args.token_file}: copy it to the client machines",
            file=sys.stderr,
        )
    if not is_loopback(args.host):  # allowed by --allow-remote-bind
        print(
            f"warning: binding to {args.host} exposes the server beyond this machine; "
            "the protocol is not encrypted: prefer 127.0.0.1 and an SSH tunnel",
            file=sys.stderr,
        )
    jobs_dir = Path(args.jobs_dir).expanduser() if args.jobs_dir else data_dir() / "serve"
    config = ServerConfig(
        token=token.encode(),
        jobs_dir=jobs_dir,
        host=args.host,
        port=args.port,
        max_upload_bytes=int(args.max_upload_mb * (1 << 20)),
        max_jobs=max(1, args.max_jobs),
        max_queued=max(0, args.max_queued),
        backend_options=parse_backend_options(args.backend_option),
        test_batch_delay=args.test_batch_delay,
        preload=tuple(args.preload),
        isolation=args.isolation,
        limits=limits,
        models_dir=_models_dir(args.models),
        model_budget=None if args.model_memory_gb is None else int(args.model_memory_gb * 1e9),
    )
    try:
        server = Server(config)
    except OSError as exc:
        raise VidihandError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}.",
            hint="Is another server running on that port? Pick another with --port.",
        ) from None
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    host, port = server.address
    print(
        f"vidihand serve: listening on {host}:{port}, jobs in {jobs_dir}",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
