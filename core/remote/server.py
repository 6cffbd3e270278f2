"""`vidihand serve`: the remote worker. A listening socket, one thread per connection
(core/remote/session.py), uploads (blobs), jobs on disk (jobs) run by worker threads (runner).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import VidihandError
from core.remote.blobs import BlobStore
from core.remote.jobs import JobStore
from core.remote.limits import AcceptBackoff, Limits, PendingConnections, is_resource_error
from core.remote.models import ServerModels, preload
from core.remote.options import check_options
from core.remote.protocol import ProtocolError
from core.remote.runner import BackendFactory, JobRunner, default_backend_factory
from core.remote.session import Connection, close_socket

log = logging.getLogger("vidihand.remote")


@dataclass
class ServerConfig:
    token: bytes
    jobs_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    max_upload_bytes: int = 2048 << 20
    max_jobs: int = 1  #: jobs running at once
    max_queued: int = 32  #: jobs waiting beyond those
    #: options the server adds per backend (e.g. a checkpoint folder): {"vidihand": {"checkpoint": ...}}
    backend_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: backends whose modules are imported at start (in the background) for a faster first job
    preload: tuple[str, ...] = ()
    #: "process": every job's backend runs in a child process (a crash fails the job, not the
    #: server); "thread": in a worker thread of the server (no process start per job)
    isolation: str = "process"
    #: TEST ONLY: seconds slept after each batch, so tests can cut a connection mid-job
    test_batch_delay: float = 0.0
    #: handshake deadline, connections waiting for their handshake, unfinished uploads
    limits: Limits = field(default_factory=Limits)
    #: sub-folders holding checkpoints are models clients choose by name (core/remote/models.py)
    models_dir: Path | None = None
    #: bytes of loaded models each worker keeps between jobs (None: 80% of the GPU, or half RAM)
    model_budget: int | None = None


class Server:
    """A listening socket, its connections and the job runner."""

    def __init__(
        self, config: ServerConfig, backend_factory: BackendFactory = default_backend_factory
    ) -> None:
        if not config.token:
            raise ProtocolError("the server needs a non-empty token.", code="auth")
        self.config = config
        # bind first: a second server started on a busy port (clients may run their start
        # command before every run) fails here, before it reads or cuts the jobs on disk
        self._sock = socket.create_server((config.host, config.port), reuse_port=False)
        self._sock.settimeout(0.5)
        root = config.jobs_dir.resolve()
        self.blobs = BlobStore(root / "uploads", config.max_upload_bytes, config.limits)
        self.store = JobStore(root / "jobs")
        self.models = ServerModels(config.models_dir, config.backend_options)
        self.runner = JobRunner(
            self.store,
            self.blobs.path,
            readable=self.blobs.readable,
            max_jobs=config.max_jobs,
            max_queued=config.max_queued,
            backend_factory=backend_factory,
            resolve_options=self._resolve_options,
            test_batch_delay=config.test_batch_delay,
            isolation=config.isolation,
            verify=lambda job: self.models.verify(
                job.spec.backend, job.spec.options, job.spec.server
            ),
            model_budget=config.model_budget,
            on_event=self.models.on_event,
        )
        self.closing = threading.Event()
        self._conns: set[socket.socket] = set()
        #: connections that have not shown the token yet (limited; the oldest are shed first)
        self.pending = PendingConnections(
            config.limits.max_pending, config.limits.max_pending_per_address
        )
        self._conns_lock = threading.Lock()
        self._n_frames: dict[str, int] = {}
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._sock.getsockname()[:2]
        return host, port

    # --------------------------------------------------------------- lifecycle
    def start(self) -> Server:
        """Resume unfinished jobs and accept connections on a background thread."""
        self.runner.start()
        threading.Thread(target=self._warm_models, name="vidihand-models", daemon=True).start()
        self._thread = threading.Thread(
            target=self._accept_loop, name="vidihand-serve", daemon=True
        )
        self._thread.start()
        log.info("serving on %s:%d, jobs in %s", *self.address, self.config.jobs_dir)
        return self

    def _warm_models(self) -> None:
        """Describe the models folder's models (configuration, parameter count, content hash:
        cached) so that the first `list_models` does not pay for it, then `--preload`."""
        if self.models.registry.root is not None:
            t0 = time.perf_counter()
            try:
                n = len(self.models.registry.list())
            except Exception as exc:  # noqa: BLE001 - logged; a listing reports it properly
                log.warning("could not describe the models: %s", exc)
            else:
                log.info("described %d model(s) in %.1f s", n, time.perf_counter() - t0)
        if self.config.preload:
            preload(self)

    def serve_forever(self) -> None:
        self.start()
        try:
            while not self.closing.wait(1.0):
                pass
        finally:
            self.close()

    def stop(self) -> None:
        """Ask `serve_forever` to return (safe from a signal handler)."""
        self.closing.set()

    def close(self) -> None:
        """Stop accepting, drop connections, stop workers (unfinished jobs resume next start)."""
        self.closing.set()
        self._sock.close()
        with self._conns_lock:
            for conn in list(self._conns):
                close_socket(conn)
        self.runner.stop()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        """Accept until closed. No error ends the loop: out of file descriptors or threads, it
        sheds the oldest connection still in its handshake, waits (backoff) and goes on."""
        backoff = AcceptBackoff()
        while not self.closing.is_set():
            try:
                conn, addr = self._sock.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if self.closing.is_set():
                    return  # the listening socket was closed by close()
                self._accept_failed(backoff, "accept()", exc)
                continue
            try:
                self._start_conn(conn, addr)
            except Exception as exc:  # a thread that cannot start, ...: drop this one only
                self.pending.done(conn)
                close_socket(conn)
                self._accept_failed(backoff, "starting a connection thread", exc)
                continue
            backoff.succeeded()

    def _accept_failed(self, backoff: AcceptBackoff, what: str, exc: BaseException) -> None:
        delay = backoff.failed(what, exc)
        if is_resource_error(exc):
            self.pending.shed_oldest(f"{what} failed: {exc}")
        self.closing.wait(delay)

    def _start_conn(self, conn: socket.socket, addr: tuple) -> None:
        # replies are written as prefix + header (+ arrays): without NODELAY the second write
        # waits for the client's delayed ACK, about 40 ms per request
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # not TCP, or already reset by the peer: the session finds out
        self.pending.admit(conn, str(addr[0]))
        with self._conns_lock:
            self._conns.add(conn)
        try:
            threading.Thread(target=self._serve_conn, args=(conn, addr), daemon=True).start()
        except BaseException:
            with self._conns_lock:
                self._conns.discard(conn)
            raise

    # -------------------------------------------------------------- connection
    def _serve_conn(self, conn: socket.socket, addr: tuple) -> None:
        peer = f"{addr[0]}:{addr[1]}"
        session = Connection(self, conn, peer)
        try:
            session.run()
        finally:
            session.cleanup()
            self.pending.done(conn)
            with self._conns_lock:
                self._conns.discard(conn)
            close_socket(conn)

    def authenticated(self, conn: socket.socket) -> None:
        """`conn` has shown the token: it no longer counts against the handshake limits."""
        self.pending.done(conn)

    # ---------------------------------------------------------------- helpers
    def _resolve_options(self, backend: str, options: dict[str, Any]) -> dict[str, Any]:
        """Client options with upload references turned into server paths, plus server options.
        Checked again here: a job spec on disk may come from an older, laxer server."""
        out: dict[str, Any] = {}
        for key, value in check_options(backend, options).items():
            if isinstance(value, dict):
                path = self.blobs.path(value["blob"])
                if path is None:
                    raise ProtocolError(
                        f"option {key!r} names an upload the server does not have.",
                        code="not_found",
                    )
                out[key] = str(path)
            else:
                out[key] = value
        out.update(self.config.backend_options.get(backend, {}))
        return self.models.resolve(backend, options, out)  # a model name -> its folder here

    def video_frames(self, sha: str) -> int:
        if sha not in self._n_frames:
            from core.video.reader import open_video

            path = self.blobs.path(sha)
            if path is None:
                raise ProtocolError(
                    "the video has not been uploaded.",
                    code="not_found",
                    hint="Upload it first (upload_begin / upload_chunk / upload_end).",
                )
            try:
                with open_video(path) as video:
                    self._n_frames[sha] = video.info.n_frames
            except VidihandError as exc:
                raise ProtocolError(
                    f"the uploaded file is not a readable video: {exc.message}",
                    code="bad_request",
                    hint=exc.hint,
                ) from None
        return self._n_frames[sha]
