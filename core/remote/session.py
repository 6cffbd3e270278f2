"""One client connection on the server (`Connection`): the handshake, then one request at a time.

Every connection starts with `hello` carrying the token (compared in constant time); nothing
else is read before that. A frame that breaks the format closes the connection after an `error`
reply; a request that is merely invalid gets an `error` reply and the connection goes on. Other
connections never notice either. Message catalogue: docs/remote.md.
"""

from __future__ import annotations

import hmac
import logging
import socket
import time
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from core import __version__
from core.remote.blobs import Upload
from core.remote.jobs import FINAL_STATES, Job, JobSpec
from core.remote.limits import MAX_HELLO_BYTES
from core.remote.options import check_options
from core.remote.paths import check_sha256
from core.remote.protocol import (
    MAX_PAYLOAD_BYTES,
    PROTOCOL_VERSION,
    UPLOAD_CHUNK_BYTES,
    ConnectionLost,
    Packet,
    ProtocolError,
    error_packet,
    recv_packet,
    send_packet,
)

if TYPE_CHECKING:
    import threading

    from core.remote.blobs import BlobStore
    from core.remote.jobs import JobStore
    from core.remote.limits import Limits
    from core.remote.models import ServerModels
    from core.remote.runner import JobRunner


class ServerConfigLike(Protocol):
    @property
    def token(self) -> bytes: ...

    @property
    def max_upload_bytes(self) -> int: ...

    @property
    def max_jobs(self) -> int: ...

    @property
    def limits(self) -> Limits: ...


class Server(Protocol):
    """What a connection uses of its server (core/remote/server.py's `Server`, which makes the
    connections: typed here by what it offers, so this module does not import that one)."""

    closing: threading.Event
    blobs: BlobStore
    store: JobStore
    runner: JobRunner
    models: ServerModels

    @property
    def config(self) -> ServerConfigLike: ...

    def video_frames(self, sha: str) -> int: ...
    def authenticated(self, conn: socket.socket) -> None: ...


log = logging.getLogger("vidihand.remote")

HEARTBEAT_S = 2.0  #: a streaming client hears from the server at least this often
IDLE_TIMEOUT_S = 600.0  #: a connection that sends nothing for this long is closed


class _Heard:
    """The connection as frames are read from it, noting when bytes last arrived: an upload
    whose chunks arrive slowly is alive, not stalled (see BlobStore.begin)."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.last = time.monotonic()

    def recv_into(self, buffer: memoryview, nbytes: int) -> int:
        k = self.conn.recv_into(buffer, nbytes)
        self.last = time.monotonic()
        return k

    def settimeout(self, value: float | None) -> None:
        self.conn.settimeout(value)


class Connection:
    """The state of one authenticated connection."""

    def __init__(self, server: Server, conn: socket.socket, peer: str) -> None:
        self.server, self.conn, self.peer = server, conn, peer
        self.heard = _Heard(conn)
        self.upload: Upload | None = None

    def run(self) -> None:
        conn = self.conn
        try:
            if not self._handshake():
                return
            conn.settimeout(IDLE_TIMEOUT_S)
            while not self.server.closing.is_set():
                try:
                    packet = recv_packet(self.heard, MAX_PAYLOAD_BYTES)
                except ProtocolError as exc:
                    self._refuse(exc, close=True)
                    return
                if packet.type == "bye":
                    return
                if packet.version != PROTOCOL_VERSION:
                    self._refuse(
                        ProtocolError(
                            f"message of protocol version {packet.version}, this "
                            f"connection speaks {PROTOCOL_VERSION}.",
                            code="version",
                        ),
                        close=True,
                    )
                    return
                try:
                    self._dispatch(packet)
                except ProtocolError as exc:
                    # a refused chunk leaves more chunks in flight: close rather than read them
                    in_flight = packet.type == "upload_chunk"
                    if in_flight:
                        self.cleanup()
                    self._refuse(exc, close=in_flight)
                    if in_flight:
                        return
        except ConnectionLost as exc:
            log.debug("%s: %s", self.peer, exc)
        except Exception as exc:
            log.exception("%s: internal error", self.peer)
            self._send_quiet(
                error_packet("internal", f"{type(exc).__name__}: {exc}", "See the server's log.")
            )

    def cleanup(self) -> None:
        if self.upload is not None:
            self.upload.abort()
            self.server.blobs.release(self.upload)
            self.upload = None

    def _handshake(self) -> bool:
        """Read `hello` and check the token: the whole frame within the handshake deadline, and
        small (docs/remote.md, "Limits and refusals"). Nothing else is read before."""
        deadline = time.monotonic() + self.server.config.limits.handshake_timeout_s
        try:
            hello = recv_packet(
                self.conn, max_payload=0, max_header=MAX_HELLO_BYTES, deadline=deadline
            )
        except ConnectionLost as exc:
            log.debug("%s: no complete hello: %s", self.peer, exc)
            return False
        except ProtocolError as exc:
            self._refuse(exc, close=True, before_auth=True)
            return False
        if hello.type != "hello":
            self._refuse(
                ProtocolError("the first message must be 'hello' with the token.", code="auth"),
                close=True,
                before_auth=True,
            )
            return False
        if hello.version != PROTOCOL_VERSION:
            self._refuse(
                ProtocolError(
                    f"protocol version {hello.version} is not supported (server speaks {PROTOCOL_VERSION}).",
                    code="version",
                    hint="Install the same vidihand release on both machines.",
                ),
                close=True,
                before_auth=True,
            )
            return False
        token = hello.fields.get("token")
        given = token.encode() if isinstance(token, str) else b""
        if not hmac.compare_digest(given, self.server.config.token):
            what = "no token" if not given else "a wrong token"
            self._refuse(
                ProtocolError(
                    f"authentication failed: the client sent {what}.",
                    code="auth",
                    hint="Use --token-file with the file the server was started with.",
                ),
                close=True,
                before_auth=True,
            )
            return False
        self.server.authenticated(self.conn)
        self.conn.settimeout(30.0)
        send_packet(
            self.conn,
            Packet(
                "welcome",
                {
                    "server": f"vidihand-studio {__version__}",
                    "max_upload_bytes": self.server.config.max_upload_bytes,
                    "chunk_bytes": UPLOAD_CHUNK_BYTES,
                    "max_jobs": self.server.config.max_jobs,
                },
            ),
        )
        log.debug("%s: authenticated (%s)", self.peer, hello.fields.get("client", "?"))
        return True

    def _refuse(self, exc: ProtocolError, close: bool, before_auth: bool = False) -> None:
        # before the token, only wrong tokens are worth a warning: anyone can send garbage,
        # and a flood of it must not flood the log (-v shows it)
        level = logging.DEBUG if before_auth and exc.code != "auth" else logging.WARNING
        log.log(level, "%s: refused (%s): %s", self.peer, exc.code, exc.message)
        self._send_quiet(error_packet(exc.code, exc.message, exc.hint))
        if close:
            _close_gracefully(self.conn)

    def _send_quiet(self, packet: Packet) -> None:
        try:
            send_packet(self.conn, packet)
        except ConnectionLost:
            pass

    # ---------------------------------------------------------------- requests
    def _dispatch(self, p: Packet) -> None:
        handler = getattr(self, "_on_" + p.type, None) if p.type.isidentifier() else None
        if handler is None:
            raise ProtocolError(f"unknown message type {p.type[:40]!r}.", code="malformed")
        handler(p)

    def _on_upload_begin(self, p: Packet) -> None:
        sha, size = check_sha256(p.get("sha256", str)), p.get("size", int)
        if self.upload is not None:
            raise ProtocolError(
                "an upload is already in progress on this connection.", code="bad_request"
            )
        self.server.blobs.remember_name(sha, p.fields.get("name"))
        self.upload = self.server.blobs.begin(sha, size, heard=lambda: self.heard.last)
        if self.upload is None:
            send_packet(self.conn, Packet("upload_ready", {"offset": size, "have": True}))
            return
        send_packet(
            self.conn, Packet("upload_ready", {"offset": self.upload.offset, "have": False})
        )

    def _on_upload_chunk(self, p: Packet) -> None:
        if self.upload is None:
            raise ProtocolError("upload_chunk without upload_begin.", code="bad_request")
        data = p.arrays.get("data")
        if data is None or data.dtype != np.uint8 or data.ndim != 1:
            raise ProtocolError("upload_chunk needs a 1-D uint8 array 'data'.")
        self.upload.write(p.get("offset", int), data.data)

    def _on_upload_end(self, p: Packet) -> None:
        if self.upload is None:
            raise ProtocolError("upload_end without upload_begin.", code="bad_request")
        upload, self.upload = self.upload, None
        try:
            upload.finish()
        finally:
            self.server.blobs.release(upload)
        log.info("%s: stored upload %s (%d bytes)", self.peer, upload.sha[:12], upload.size)
        send_packet(self.conn, Packet("uploaded", {"sha256": upload.sha, "size": upload.size}))

    def _on_start_job(self, p: Packet) -> None:
        sha = check_sha256(p.get("video_sha256", str))
        backend = p.get("backend", str)
        from core.recon.registry import BACKENDS, CLIENT_ONLY

        if backend not in BACKENDS or backend in CLIENT_ONLY:  # no server-to-server hops
            raise ProtocolError(
                f"unknown backend {backend[:40]!r}.",
                code="bad_request",
                hint=f"This server has: {', '.join(sorted(set(BACKENDS) - CLIENT_ONLY))}.",
            )
        options = check_options(backend, p.get("options", dict, {}))
        start, stop = p.get("start", int), p.get("stop", int)
        n = self.server.video_frames(sha)
        if not 0 <= start < stop <= n:
            raise ProtocolError(
                f"frames {start}:{stop} are not inside the {n}-frame video.", code="bad_request"
            )
        K = p.arrays.get("K")
        if K is None or K.shape != (3, 3) or not np.isfinite(K).all():
            raise ProtocolError("start_job needs a finite 3x3 array 'K'.", code="bad_request")
        identity = self.server.models.identity(backend, options)  # model hash, versions, ...
        spec = JobSpec(sha, backend, options, start, stop, K.astype(np.float64).tolist(), identity)
        job = self.server.store.find(spec) if p.get("reuse", bool, True) else None
        if job is None:
            self.server.runner.check_room()  # refuse before creating anything
            job = self.server.store.create(spec)
            self.server.runner.submit(job)
            log.info("%s: started job %s", self.peer, job.id)
        elif job.state in ("cancelled", "failed"):
            self.server.runner.submit(job)  # continue from its last finished batch
        send_packet(self.conn, Packet("job", job.status()))

    def _on_list_models(self, p: Packet) -> None:
        """The server's named models (core/remote/models.py); never a server path."""
        models = self.server.models.listing()
        send_packet(self.conn, Packet("models", {"models": models}))

    def _on_job_status(self, p: Packet) -> None:
        send_packet(self.conn, Packet("job", self.server.store.get(p.fields.get("job")).status()))

    def _on_list_jobs(self, p: Packet) -> None:
        send_packet(
            self.conn, Packet("jobs", {"jobs": [j.status() for j in self.server.store.all()]})
        )

    def _on_cancel(self, p: Packet) -> None:
        job = self.server.store.get(p.fields.get("job"))
        self.server.runner.cancel(job)
        send_packet(self.conn, Packet("job", job.status()))

    def _on_stream(self, p: Packet) -> None:
        """Send the job's batches from `cursor` (a frame index) on, as they finish, then `end`."""
        job: Job = self.server.store.get(p.fields.get("job"))
        cursor = max(p.get("cursor", int, job.spec.start), job.spec.start)
        while not self.server.closing.is_set():
            for entry in job.entries_after(cursor):
                batch = job.load(entry, cursor)
                cursor = entry.last + 1
                if len(batch):
                    fields = {"job": job.id, "cursor": cursor, **_progress(job)}
                    send_packet(self.conn, Packet("batch", fields, batch.to_dict()))
            with job.cond:
                pending = job.index and job.index[-1].last >= cursor
                if not pending:
                    if job.state in FINAL_STATES:
                        break
                    job.cond.wait(HEARTBEAT_S)
                    pending = job.index and job.index[-1].last >= cursor
            if not pending:
                send_packet(
                    self.conn,
                    Packet("progress", {"job": job.id, "cursor": cursor, **_progress(job)}),
                )
        send_packet(self.conn, Packet("end", {**job.status(), "cursor": cursor}))


def _progress(job: Job) -> dict[str, Any]:
    s = job.status()
    return {k: s[k] for k in ("state", "done", "total", "frames_computed", "backend_version")}


def _close_gracefully(conn: socket.socket) -> None:
    """Close after the peer has read our last reply: closing with unread input would reset the
    connection and could destroy the error message on its way."""
    deadline = time.monotonic() + 1.0  # in all: a peer that trickles bytes cannot hold us
    try:
        conn.shutdown(socket.SHUT_WR)
        for _ in range(64):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            conn.settimeout(left)
            if not conn.recv(1 << 16):
                break
    except OSError:
        pass
    conn.close()


def close_socket(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()
