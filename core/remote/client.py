"""One authenticated connection to a `vidihand serve` server, with a method per request.

`RemoteClient` is the thin synchronous layer; reconnection, tunnels and the Reconstructor
interface are in core/remote/backend.py. Every failure is a RemoteError: `ServerError` when the
server refused (with its code and hint), `ConnectionLost` when the link broke (retriable).
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core import __version__
from core.errors import RemoteError
from core.labels.document import FrameBatch
from core.remote.protocol import (
    UPLOAD_CHUNK_BYTES,
    ConnectionLost,
    Packet,
    ProtocolError,
    ServerError,
    raise_if_error,
    recv_packet,
    send_packet,
)

#: seconds without any frame from the server before a streaming client gives the link up
READ_TIMEOUT_S = 30.0
#: the first model listing of a server describes every model (its configuration built on the
#: meta device, its weights hashed): minutes for large checkpoints on a busy server
LIST_MODELS_TIMEOUT_S = 300.0


def read_token(path: str | os.PathLike[str]) -> str:
    """The shared secret in `path` (surrounding whitespace ignored). A file its owner's group or
    other users can read or write is refused, on the client as on the server (OpenSSH refuses
    such keys): whoever reads the token can run jobs and read results on the server."""
    from core.remote.exposure import check_token_file_private

    p = Path(path).expanduser()
    check_token_file_private(p)
    try:
        token = p.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise RemoteError(
            f"cannot read the token file {p}: {exc.strerror or exc}.",
            hint="Copy the server's token file to this machine, or give its path with --token-file.",
        ) from None
    if not token:
        raise RemoteError(f"the token file {p} is empty.", hint="Put the server's token in it.")
    return token


def ensure_token_file(path: str | os.PathLike[str]) -> tuple[str, bool]:
    """Read the token in `path`, creating the file (mode 0600, random token) when missing.
    Returns (token, created)."""
    p = Path(path).expanduser()
    if p.exists():
        return read_token(p), False
    p.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token, True


@dataclass
class StreamItem:
    """What `RemoteClient.stream` yields: a batch, a progress heartbeat, or the final `end`."""

    kind: str  #: "batch" | "progress" | "end"
    status: dict[str, Any]  #: job fields: state, done, total, frames_computed, cursor, ...
    batch: FrameBatch | None = None


class RemoteClient:
    """A connection that has passed `hello`. Not thread-safe: one request at a time."""

    def __init__(
        self,
        host: str,
        port: int,
        token: str,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = READ_TIMEOUT_S,
        where: str = "",
    ) -> None:
        self.where = where or f"at {host}:{port}"
        try:
            self.sock = socket.create_connection((host, port), timeout=connect_timeout)
        except OSError as exc:
            raise ConnectionLost(
                f"cannot reach the vidihand server {self.where}: {exc.strerror or exc}.",
                hint="Check that `vidihand serve` runs there and the host and port are right.",
            ) from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(read_timeout)
        try:
            send_packet(
                self.sock,
                Packet("hello", {"token": token, "client": f"vidihand-studio {__version__}"}),
            )
            self.welcome = self._reply("welcome").fields
        except BaseException:
            self.close()
            raise

    # ---------------------------------------------------------------- plumbing
    def _reply(self, expected: str | tuple[str, ...]) -> Packet:
        return raise_if_error(recv_packet(self.sock), expected)

    def request(
        self, packet: Packet, expected: str | tuple[str, ...], timeout: float | None = None
    ) -> Packet:
        """Send `packet` and read its reply; `timeout` replaces the read timeout for this reply."""
        send_packet(self.sock, packet)
        if timeout is None:
            return self._reply(expected)
        before = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            return self._reply(expected)
        finally:
            self.sock.settimeout(before)

    def close(self) -> None:
        try:
            send_packet(self.sock, Packet("bye"))
        except (RemoteError, OSError):
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- requests
    def upload(
        self,
        path: str | os.PathLike[str],
        sha256: str,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> bool:
        """Make sure the server has the file; returns False when it had it already. Resumes a
        partial upload at the offset the server reports."""
        size = os.path.getsize(path)
        ready = self.request(
            Packet(
                "upload_begin", {"sha256": sha256, "size": size, "name": os.path.basename(path)}
            ),
            "upload_ready",
        )
        if ready.fields.get("have"):
            return False
        offset = int(ready.fields.get("offset", 0))
        chunk = min(int(self.welcome.get("chunk_bytes", UPLOAD_CHUNK_BYTES)), UPLOAD_CHUNK_BYTES)
        with open(path, "rb") as fh:
            fh.seek(offset)
            try:
                while data := fh.read(chunk):
                    arr = np.frombuffer(data, np.uint8)
                    send_packet(
                        self.sock, Packet("upload_chunk", {"offset": offset}, {"data": arr})
                    )
                    offset += len(data)
                    if on_progress is not None:
                        on_progress(offset, size)
                send_packet(self.sock, Packet("upload_end"))
            except ConnectionLost:
                self._raise_pending_error()
                raise
        self._reply("uploaded")
        return True

    def _raise_pending_error(self) -> None:
        """After a failed send, the server may have said why before it closed: raise that."""
        try:
            self.sock.settimeout(2.0)
            packet = recv_packet(self.sock)
        except (RemoteError, OSError):
            return
        raise_if_error(packet, "error")

    def start_job(
        self,
        video_sha256: str,
        backend: str,
        frames: range,
        K: np.ndarray,
        options: dict[str, Any] | None = None,
        reuse: bool = True,
    ) -> dict[str, Any]:
        """Start (or, with `reuse`, re-attach to an identical) job; returns its status."""
        fields = {
            "video_sha256": video_sha256,
            "backend": backend,
            "options": options or {},
            "start": frames.start,
            "stop": frames.stop,
            "reuse": reuse,
        }
        K = np.asarray(K, np.float64).reshape(3, 3)
        return self.request(Packet("start_job", fields, {"K": K}), "job").fields

    def status(self, job: str) -> dict[str, Any]:
        return self.request(Packet("job_status", {"job": job}), "job").fields

    def list_jobs(self) -> list[dict[str, Any]]:
        return list(self.request(Packet("list_jobs"), "jobs").fields.get("jobs", []))

    def list_models(self) -> list[dict[str, Any]]:
        """The server's named models: name, backend, config, parameters, sha256, loaded, loads."""
        reply = self.request(Packet("list_models"), "models", timeout=LIST_MODELS_TIMEOUT_S)
        return list(reply.fields.get("models", []))

    def cancel(self, job: str) -> dict[str, Any]:
        return self.request(Packet("cancel", {"job": job}), "job").fields

    def stream(self, job: str, cursor: int) -> Iterator[StreamItem]:
        """Batches of `job` from frame `cursor` on, as the server finishes them, then `end`."""
        send_packet(self.sock, Packet("stream", {"job": job, "cursor": int(cursor)}))
        while True:
            packet = self._reply(("batch", "progress", "end"))
            if packet.type == "batch":
                try:
                    batch = FrameBatch(**{k: np.array(v) for k, v in packet.arrays.items()})
                except TypeError as exc:
                    raise ProtocolError(f"a result batch has unexpected arrays: {exc}.") from None
                yield StreamItem("batch", packet.fields, batch)
            elif packet.type == "progress":
                yield StreamItem("progress", packet.fields)
            else:
                yield StreamItem("end", packet.fields)
                return


__all__ = [
    "RemoteClient",
    "StreamItem",
    "ServerError",
    "ConnectionLost",
    "read_token",
    "ensure_token_file",
]
