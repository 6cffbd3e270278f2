"""`RemoteReconstructor`: a Reconstructor whose frames are computed by a `vidihand serve` server.

Used exactly like a local backend (`reconstruct(video, frames, K, cancel)` yields FrameBatches),
so run_reconstruction, the CLI and the app's worker need nothing special. Behind that call it
uploads the video (skipped when the server has its hash), starts the job (or re-attaches to an
identical one), and streams the batches. When the link drops it reconnects with bounded backoff,
re-opening the SSH tunnel if there is one, and asks for the frames after the last one it got:
the job kept running on the server meanwhile, and no frame is computed twice.

`on_message` receives core.worker.messages objects (Started, Progress) and `ConnectionState`
updates, so the app can show a remote run like a local one plus the state of the link.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from core.errors import CancelledError, ReconstructorError, RemoteError
from core.labels.document import FrameBatch
from core.recon.base import CancelToken, Reconstructor
from core.recon.base import Progress as RunProgress
from core.remote.client import RemoteClient
from core.remote.protocol import ConnectionLost
from core.remote.tunnel import Endpoint, TunnelError
from core.video.reader import VideoSource
from core.worker.messages import Message, Progress, Started

log = logging.getLogger("vidihand.remote")


@dataclass
class ConnectionState(Message):
    """The link to the server: connecting | uploading | connected | reconnecting | closed."""

    kind: ClassVar[str] = "connection"
    state: str = ""
    where: str = ""
    attempt: int = 0  #: reconnect attempt (0 when connected)
    detail: str = ""


@dataclass
class Backoff:
    """Reconnect delays: initial * factor**k, capped, for at most `attempts` tries in a row."""

    initial: float = 0.25
    factor: float = 2.0
    max_delay: float = 4.0
    attempts: int = 8

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.initial * self.factor ** max(0, attempt - 1))


class RemoteReconstructor(Reconstructor):
    """Runs backend `backend` on the server behind `endpoint`."""

    version = "remote"

    def __init__(
        self,
        endpoint: Endpoint,
        token: str,
        backend: str = "mediapipe",
        options: dict[str, Any] | None = None,
        *,
        reuse: bool = True,
        backoff: Backoff | None = None,
        on_message: Callable[[Message], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.token = token
        self.name = backend  # labels record the backend that computed them, not the transport
        self.options = dict(options or {})
        self.reuse = reuse
        self.backoff = backoff or Backoff()
        self.on_message = on_message
        self.job_id: str | None = None
        self.last_status: dict[str, Any] = {}
        self.reconnects = 0
        self._cancel_sent = False

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "remote": self.endpoint.describe(),
            "job": self.job_id,
        }

    def close(self) -> None:
        self.endpoint.close()

    # ----------------------------------------------------------------- events
    def _emit(self, message: Message) -> None:
        if self.on_message is not None:
            message.job_id = self.job_id or ""
            self.on_message(message)

    def _state(self, state: str, attempt: int = 0, detail: str = "") -> None:
        self._emit(
            ConnectionState(
                state=state, where=self.endpoint.describe(), attempt=attempt, detail=detail
            )
        )

    # ------------------------------------------------------------- connection
    def connect(self, report: bool = True) -> RemoteClient:
        """A fresh authenticated connection, retried with backoff while the link is down.
        `report=False` sends no ConnectionState (for the cancel watcher's own thread)."""
        state = self._state if report else (lambda *a, **k: None)
        last: Exception | None = None
        for attempt in range(1, self.backoff.attempts + 1):
            try:
                host, port = self.endpoint.address()
                client = RemoteClient(host, port, self.token, where=self.endpoint.describe())
                state("connected")
                return client
            except (ConnectionLost, TunnelError) as exc:
                # a refusal by the server (token, version) or by ssh (key) is not retried
                last = exc
                if isinstance(exc, TunnelError) and not exc.retriable:
                    break
            if attempt < self.backoff.attempts:
                delay = self.backoff.delay(attempt)
                state("reconnecting", attempt, f"{last}; retrying in {delay:.1f} s")
                time.sleep(delay)
        state("closed", detail=str(last))
        reason = getattr(last, "message", str(last))
        raise RemoteError(
            f"cannot reach the vidihand server {self.endpoint.describe()} after "
            f"{attempt} attempt{'s' if attempt > 1 else ''}: {reason}",
            hint=self.endpoint.hint() + ".",
        )

    def cancel_job(self) -> None:
        """Ask the server to stop the job after its current batch (own connection)."""
        if self.job_id is None:
            return
        client = self.connect(report=False)
        try:
            client.cancel(self.job_id)
            self._cancel_sent = True
        finally:
            client.close()

    # ---------------------------------------------------------------- running
    def reconstruct(
        self, video: VideoSource, frames: range, K: np.ndarray, cancel: CancelToken | None = None
    ) -> Iterator[FrameBatch]:
        info = video.info
        if info.is_image_folder:
            raise RemoteError(
                "remote runs need a video file, not an image folder.",
                hint="Encode the images into a video (e.g. ffmpeg -i %06d.jpg -crf 12 out.mp4).",
            )
        from core.video.hashing import video_sha256

        sha = video_sha256(info.path)
        cursor, t0 = frames.start, time.perf_counter()
        got = 0
        stop_watch = threading.Event()
        watcher = threading.Thread(
            target=self._watch_cancel, args=(cancel, stop_watch), daemon=True
        )
        watcher_started = False
        failures = 0
        finished = False
        self._cancel_sent = False
        self.job_id, self.last_status = None, {}  # each call is its own job
        try:
            while True:
                if cancel is not None and cancel.cancelled and self.job_id is None:
                    return
                self._state("connecting", failures)
                client = self.connect()
                try:
                    if self.job_id is None:
                        self._start_job(client, info.path, sha, frames, K)
                    if cancel is not None and not watcher_started:
                        watcher.start()
                        watcher_started = True
                    assert self.job_id is not None  # _start_job set it
                    for item in client.stream(self.job_id, cursor):
                        self._note_status(item.status)
                        failures = 0
                        if item.kind == "batch":
                            assert item.batch is not None
                            cursor = int(item.status["cursor"])
                            got += len(item.batch)
                            self._emit_progress(got, len(frames), time.perf_counter() - t0)
                            yield item.batch
                        elif item.kind == "end":
                            finished = True
                            self._finish(item.status, cancel)
                            return
                except ConnectionLost as exc:
                    failures += 1
                    self.reconnects += 1
                    if failures > self.backoff.attempts:
                        raise RemoteError(
                            f"the connection to the server {self.endpoint.describe()} keeps dropping: {exc.message}",
                            hint=self.endpoint.hint() + ".",
                        ) from None
                    log.info("connection lost at frame %d (%s); reconnecting", cursor, exc)
                    self._state("reconnecting", failures, str(exc))
                    time.sleep(self.backoff.delay(failures))
                finally:
                    client.close()
        finally:
            stop_watch.set()
            if watcher_started:
                watcher.join(5)
            if cancel is not None and cancel.cancelled and not self._cancel_sent and not finished:
                # the caller stopped iterating because of the cancel: stop the server job too
                try:
                    self.cancel_job()
                except RemoteError as exc:
                    log.warning("could not cancel the remote job: %s", exc)
            self._state("closed")

    def _start_job(
        self, client: RemoteClient, path: str, sha: str, frames: range, K: np.ndarray
    ) -> None:
        """Upload what the server lacks, then start (or re-attach to) the job."""
        self._state("uploading")
        client.upload(path, sha)
        options = self._upload_file_options(client)
        status = client.start_job(sha, self.name, frames, K, options, self.reuse)
        self.job_id = status["job"]
        self._emit(
            Started(
                backend=self.name,
                backend_version=self.version,
                total=len(frames),
                start=frames.start,
                stop=frames.stop,
            )
        )
        self._state("connected", detail=f"job {status.get('state', '')}")

    def _note_status(self, status: dict[str, Any]) -> None:
        """Keep the job's last status; report a change of its state (queued -> running)."""
        previous = self.last_status.get("state")
        self.last_status = status
        if status.get("backend_version"):
            self.version = f"{status['backend_version']} (remote)"
        if status.get("state") and status.get("state") != previous:
            self._state("connected", detail=f"job {status['state']}")

    def _emit_progress(self, done: int, total: int, elapsed: float) -> None:
        p = RunProgress.measure(done, total, elapsed)
        self._emit(Progress(done=p.done, total=p.total, fps=p.fps, elapsed=p.elapsed))

    def _upload_file_options(self, client: RemoteClient) -> dict[str, Any]:
        """Options naming a local file (e.g. groundtruth's labels=gt.h5) are uploaded and sent as
        {"blob": sha256}: the server never sees a client path."""
        from core.video.hashing import video_sha256

        out: dict[str, Any] = {}
        for key, value in self.options.items():
            if isinstance(value, str | os.PathLike) and Path(value).expanduser().is_file():
                path = Path(value).expanduser()
                digest = video_sha256(path)
                client.upload(path, digest)
                out[key] = {"blob": digest}
            else:
                out[key] = value
        return out

    def _finish(self, status: dict[str, Any], cancel: CancelToken | None) -> None:
        state = status.get("state")
        if state == "done":
            return
        if state == "cancelled":
            if cancel is not None and cancel.cancelled:
                return  # run_reconstruction reports the cancel with the frames kept
            raise CancelledError("The job was cancelled on the server; finished frames were kept.")
        err = status.get("error") or {}
        raise ReconstructorError(
            f"the remote job {status.get('job')} failed: {err.get('message') or state}",
            hint=err.get("hint") or "See the server's log.",
        )

    def _watch_cancel(self, cancel: CancelToken, stop: threading.Event) -> None:
        while not stop.wait(0.1):
            if cancel.cancelled:
                try:
                    self.cancel_job()
                except RemoteError as exc:
                    log.warning("could not cancel the remote job: %s", exc)
                return


def create_remote_backend(
    *,
    token_file: str,
    backend: str = "mediapipe",
    options: dict[str, Any] | None = None,
    remote: str | None = None,
    ssh: str | None = None,
    remote_port: int = 8765,
    identity_file: str | None = None,
    known_hosts: str | None = None,
    remote_command: str | None = None,
    remote_log: str = "~/.vidihand-serve.log",
    ssh_options: list[str] | tuple[str, ...] = (),
    reuse: bool = True,
    retries: int = 8,
    on_message: Callable[[Message], None] | None = None,
) -> RemoteReconstructor:
    """A RemoteReconstructor from plain (JSON-able, picklable) values: what the command line, the
    app's remote-host settings and a worker process's job spec can all carry. Give either
    `remote` ("HOST:PORT", direct) or `ssh` ("[user@]host[:port]", tunnel to `remote_port`)."""
    from core.remote.client import read_token
    from core.remote.tunnel import DirectEndpoint, SshTarget, SshTunnel

    if bool(remote) == bool(ssh):
        raise RemoteError(
            "give exactly one of a direct address (HOST:PORT) or an SSH host.",
            hint="Command line: --remote HOST:PORT or --ssh [user@]host[:port].",
        )
    token = read_token(token_file)
    endpoint: Endpoint
    if ssh:
        extra: list[str] = []
        for opt in ssh_options:
            extra += ["-o", opt]
        endpoint = SshTunnel(
            SshTarget.parse(ssh),
            int(remote_port),
            identity_file=identity_file or None,
            known_hosts=known_hosts or None,
            remote_command=remote_command or None,
            remote_log=remote_log,
            ssh_options=extra,
        )
    else:
        endpoint = DirectEndpoint.parse(str(remote))
    return RemoteReconstructor(
        endpoint,
        token,
        backend,
        options,
        reuse=reuse,
        backoff=Backoff(attempts=max(1, int(retries))),
        on_message=on_message,
    )


def host_options(host: Any, token_file: str) -> dict[str, Any]:
    """`create_remote_backend` keywords for a remote host from the settings (core.settings.RemoteHost:
    name, host, user, port, key_file, remote_command; remote_port/known_hosts when present)."""
    user = f"{host.user}@" if getattr(host, "user", "") else ""
    port = getattr(host, "port", 22) or 22
    return {
        "ssh": f"{user}{host.host}:{port}",
        "remote_port": int(getattr(host, "remote_port", 8765) or 8765),
        "identity_file": getattr(host, "key_file", "") or None,
        "known_hosts": getattr(host, "known_hosts", "") or None,
        "remote_command": getattr(host, "remote_command", "") or None,
        "token_file": token_file,
    }
