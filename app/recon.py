"""Runs a reconstruction for the window: a `core.worker` job whose batches land in the document.

The controller starts a `LocalWorker` (child process), polls its queue on a QTimer in the GUI
thread and applies every `Batch` to the session's document with `apply_batch`, so results show
up in every view as they arrive (through the document's observers). Errors, including a crashed
child, go to the window's ErrorPresenter. With refinement on (the default for the per-frame
detector, as in the CLI), the worker refines the run's frames at the end and sends them back
(`Refined`), written with `apply_refined` over the raw frames, keeping what a person made.
A run on a remote host is the same worker running the
"remote" backend (core/remote/hosts.py): same messages, plus `ConnectionState` for the link,
re-emitted as `connectionChanged`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from app.errors import ErrorInfo, ErrorPresenter
from app.session import Session
from core.errors import VidihandError
from core.labels.document import LabelDocument, Source, apply_batch
from core.recon.refine.stage import apply_refined, refines_by_default, worker_context
from core.remote.backend import ConnectionState
from core.remote.hosts import remote_job
from core.settings import RemoteHost
from core.worker.messages import (
    Batch,
    Cancelled,
    Done,
    Error,
    Message,
    Progress,
    Refined,
    Started,
)
from core.worker.process import JobSpec, LocalWorker

POLL_MS = 30
#: at most this many ms of batch application per poll, so the GUI keeps ticking
_APPLY_BUDGET_MESSAGES = 64


@dataclass
class RunState:
    done: int = 0
    total: int = 0
    fps: float = 0.0
    eta: float = float("inf")
    backend: str = ""
    start: int = 0
    stop: int = 0
    host: str = ""  #: the remote host's name; "" on this computer
    refine: bool = False  #: the worker refines the frames after the run


class ReconController(QObject):
    started = Signal(object)  #: RunState
    progressed = Signal(object)  #: RunState
    batchApplied = Signal(object)  #: frames written (np.ndarray)
    finished = Signal(str)  #: "done" | "cancelled" | "error"
    connectionChanged = Signal(object)  #: core.remote.backend.ConnectionState (remote runs)

    def __init__(
        self, session: Session, errors: ErrorPresenter, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.errors = errors
        self.worker: LocalWorker | None = None
        self.state = RunState()
        self.last_outcome = ""
        self._doc: LabelDocument | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        session.documentReplaced.connect(self._on_document_replaced)

    @property
    def running(self) -> bool:
        return self.worker is not None and not self.worker.finished

    def start(
        self,
        backend: str,
        start: int = 0,
        stop: int | None = None,
        options: dict | None = None,
        host: RemoteHost | None = None,
        refine: bool | None = None,
    ) -> None:
        """Reconstruct frames [start, stop) of the open video with `backend` (on `host`, a
        remote host from the settings, when given). `refine`: run the refinement stage on the
        result (core/recon/refine, in the worker, with the video); None: the backend's default,
        as `vidihand reconstruct` (mediapipe output is refined)."""
        s = self.session
        if s.video_path is None or s.doc is None:
            self.errors.report(
                ErrorInfo(
                    "Nothing to reconstruct", "Open a video first.", "File > Open Video (Ctrl+O)."
                )
            )
            return
        if self.running:
            self.errors.report(
                ErrorInfo(
                    "Reconstruction running",
                    "A reconstruction is already running.",
                    "Cancel it first.",
                )
            )
            return
        n = s.doc.n_frames
        stop = n if stop is None else min(int(stop), n)
        job_backend, job_options = backend, dict(options or {})
        if host is not None:
            try:
                job_backend, job_options = remote_job(host, backend, job_options)
            except VidihandError as exc:
                self.errors.report(exc)
                return
        if refine is None:
            refine = refines_by_default(backend)
        frames = range(int(start), stop)
        spec = JobSpec(
            video_path=str(s.video_path),
            backend=job_backend,
            options=job_options,
            start=int(start),
            stop=int(stop),
            K=np.asarray(s.doc.K, np.float64).copy(),
            refine=bool(refine) and len(frames) > 0,
            refine_context=worker_context(s.doc, frames) if refine and len(frames) else None,
        )
        self._doc = s.doc
        self.state = RunState(
            total=max(0, stop - int(start)), backend=backend, start=int(start), stop=stop
        )
        self.state.host = host.name if host is not None else ""
        self.state.refine = spec.refine
        self.last_outcome = ""
        self.worker = LocalWorker(spec)
        self.worker.start()
        self._timer.start()
        self.started.emit(self.state)

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def shutdown(self) -> None:
        """Window closing (or another video opening): stop the child now."""
        self._timer.stop()
        if self.worker is not None and not self.worker.finished:
            self.worker.kill()
            if self.last_outcome == "":
                self._finish("cancelled")  # the panel and status bar leave their running state

    def _on_document_replaced(self) -> None:
        # results of a run belong to the document it started on
        if self.running and self.session.doc is not self._doc:
            self.worker.kill()  # type: ignore[union-attr]
            self._finish("cancelled")

    # ------------------------------------------------------------------ poll
    def _poll(self) -> None:
        if self.worker is None:
            self._timer.stop()
            return
        for msg in self.worker.poll(max_messages=_APPLY_BUDGET_MESSAGES):
            self._handle(msg)
        if self.worker is not None and self.worker.finished and self.last_outcome == "":
            self._finish("error")

    def _handle(self, msg: Message) -> None:
        if isinstance(msg, Started):
            self.state.backend = msg.backend
            if self._doc is not None:
                self._doc.set_backend(msg.backend, msg.backend_version)
        elif isinstance(msg, Batch):
            if self._doc is not None and msg.n_frames:
                written = apply_batch(self._doc, msg.to_frame_batch(), source=Source.PREDICTED)
                self.batchApplied.emit(written)
        elif isinstance(msg, Refined):
            if self._doc is not None:
                self.batchApplied.emit(apply_refined(self._doc, msg.arrays, msg.provenance))
        elif isinstance(msg, Progress):
            self.state.done, self.state.fps, self.state.eta = msg.done, msg.fps, msg.eta
            self.progressed.emit(self.state)
        elif isinstance(msg, ConnectionState):
            self.connectionChanged.emit(msg)
        elif isinstance(msg, Done):
            self.state.done = msg.done
            self._final_version(msg.backend_version)
            self._finish("done")
        elif isinstance(msg, Cancelled):
            self._final_version(msg.backend_version)
            self._finish("cancelled")
        elif isinstance(msg, Error):
            self.errors.report(ErrorInfo(msg.title, msg.message, msg.hint, msg.traceback))
            self._finish("error")

    def _final_version(self, version: str) -> None:
        # a remote backend learns the server's version while it runs: "<version> (remote)"
        if version and self._doc is not None:
            self._doc.set_backend(version=version)

    def _finish(self, outcome: str) -> None:
        self._timer.stop()
        self.last_outcome = outcome
        self.finished.emit(outcome)
