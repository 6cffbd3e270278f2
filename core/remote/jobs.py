"""Reconstruction jobs on the server's disk: spec, state and results that survive restarts.

One folder per job, named by its server-generated id:

    jobs/<id>/spec.json     what to run (video digest, backend, options, frame range, K)
    jobs/<id>/state.json    queued | running | done | failed | cancelled, frames computed, error
    jobs/<id>/index.jsonl   one line per finished batch: {"file", "first", "last", "n"}, fsynced
    jobs/<id>/NNNNNN.npz    the batch's FrameBatch arrays (np.savez, read back without pickle)

A batch counts as finished once its index line is on disk; a restarted server resumes a job from
the frame after its last finished batch, and a reconnecting client is sent the batches after its
cursor (a frame index), so nothing finished is computed or sent twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import CancelledError
from core.io.atomic import atomic_path, atomic_write_bytes
from core.io.numpy_read import read_npz
from core.labels.document import FrameBatch
from core.recon.base import CancelToken
from core.remote.paths import JOB_ID, check_job_id, child, new_job_id
from core.remote.protocol import ProtocolError

STATES = ("queued", "running", "done", "failed", "cancelled")
FINAL_STATES = frozenset({"done", "failed", "cancelled"})


@dataclass
class JobSpec:
    """What a job computes. Two specs with the same `key()` give the same results."""

    video_sha256: str
    backend: str
    options: dict[str, Any]
    start: int
    stop: int
    K: list[list[float]]
    #: what the server adds that decides the frames: versions, the model's content hash,
    #: server-side options (core/remote/models.py: job_identity)
    server: dict[str, Any] = field(default_factory=dict)

    def key(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def total(self) -> int:
        return self.stop - self.start


@dataclass
class IndexEntry:
    file: str
    first: int
    last: int
    n: int


@dataclass
class JobError:
    title: str = ""
    message: str = ""
    hint: str = ""


class JobCancel(CancelToken):
    """A job's cancel token: set by a client's cancel, or (without changing the job's state) by
    the server shutting down."""

    def __init__(self, shutdown: threading.Event) -> None:
        super().__init__()
        self._shutdown = shutdown

    @property
    def cancelled(self) -> bool:
        return self._event.is_set() or self._shutdown.is_set()

    def reset(self) -> None:
        self._event.clear()

    @property
    def by_client(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise CancelledError("Reconstruction cancelled; finished frames were kept.")


class Job:
    """One job: its folder, spec, state and finished batches. Thread-safe."""

    def __init__(self, folder: Path, job_id: str, spec: JobSpec, shutdown: threading.Event) -> None:
        self.folder, self.id, self.spec = folder, job_id, spec
        self.state = "queued"
        self.frames_computed = 0  #: frames the backend produced for this job, over all runs
        self.backend_version = ""  #: as reported by the backend when it last ran
        #: of the last run: model_load_s, warm (model already loaded), first_frame_s
        self.timing: dict[str, Any] = {}
        self.error = JobError()
        self.created = time.time()
        self.updated = self.created
        self.index: list[IndexEntry] = []
        self.cond = threading.Condition()
        self.cancel = JobCancel(shutdown)

    # ---------------------------------------------------------------- progress
    @property
    def done(self) -> int:
        return sum(e.n for e in self.index)

    @property
    def next_frame(self) -> int:
        return self.index[-1].last + 1 if self.index else self.spec.start

    def status(self) -> dict[str, Any]:
        with self.cond:
            return {
                "job": self.id,
                "state": self.state,
                "backend": self.spec.backend,
                "video_sha256": self.spec.video_sha256,
                "start": self.spec.start,
                "stop": self.spec.stop,
                "total": self.spec.total,
                "done": self.done,
                "batches": len(self.index),
                "frames_computed": self.frames_computed,
                "backend_version": self.backend_version,
                "error": asdict(self.error),
                "created": self.created,
                "updated": self.updated,
                "model": self.spec.server.get("model", ""),
                "model_sha256": self.spec.server.get("model_sha256", ""),
                "timing": {k: v for k, v in self.timing.items() if k != "started"},
            }

    # ------------------------------------------------------------- persistence
    def save_state(self) -> None:
        with self.cond:
            self.updated = time.time()
            data = {
                "state": self.state,
                "frames_computed": self.frames_computed,
                "backend_version": self.backend_version,
                "error": asdict(self.error),
                "created": self.created,
                "updated": self.updated,
            }
        atomic_write_bytes(self.folder / "state.json", json.dumps(data).encode())

    def set_state(self, state: str, error: JobError | None = None) -> None:
        with self.cond:
            self.state = state
            if error is not None:
                self.error = error
            self.cond.notify_all()
        self.save_state()

    def append(self, batch: FrameBatch) -> None:
        """Store a finished batch durably, then make it visible to streaming clients."""
        frames = batch.frames
        if len(frames) == 0:
            return
        name = f"{len(self.index):06d}.npz"
        with atomic_path(self.folder / name) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, allow_pickle=False, **batch.to_dict())
        entry = IndexEntry(name, int(frames[0]), int(frames[-1]), int(len(frames)))
        with open(self.folder / "index.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(entry)) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        with self.cond:
            self.index.append(entry)
            self.cond.notify_all()

    def entries_after(self, cursor: int) -> list[IndexEntry]:
        with self.cond:
            return [e for e in self.index if e.last >= cursor]

    def load(self, entry: IndexEntry, cursor: int) -> FrameBatch:
        """A stored batch, without the frames before `cursor`."""
        path = child(self.folder, entry.file)
        arrays = read_npz(path)
        keep = arrays["frames"] >= cursor
        if not keep.all():
            arrays = {k: v[keep] for k, v in arrays.items()}
        return FrameBatch(**arrays)

    @classmethod
    def create(cls, jobs_root: Path, spec: JobSpec, shutdown: threading.Event) -> Job:
        job_id = new_job_id()
        folder = child(jobs_root, job_id)
        folder.mkdir(parents=True)
        atomic_write_bytes(folder / "spec.json", json.dumps(asdict(spec)).encode())
        job = cls(folder, job_id, spec, shutdown)
        job.save_state()
        return job

    @classmethod
    def load_folder(cls, folder: Path, shutdown: threading.Event) -> Job:
        spec = JobSpec(**json.loads((folder / "spec.json").read_text()))
        job = cls(folder, folder.name, spec, shutdown)
        try:
            state = json.loads((folder / "state.json").read_text())
        except (OSError, ValueError):
            state = {}
        job.state = state.get("state", "queued") if state.get("state") in STATES else "queued"
        job.frames_computed = int(state.get("frames_computed", 0))
        job.backend_version = str(state.get("backend_version", ""))
        job.error = JobError(**state.get("error", {}))
        job.created = float(state.get("created", job.created))
        job.updated = float(state.get("updated", job.updated))
        job.index = _read_index(folder)
        return job


def _read_index(folder: Path) -> list[IndexEntry]:
    """Finished batches; a torn last line (crash while appending) and anything after a missing
    batch file are dropped, and the index file is cut back to what is kept."""
    path = folder / "index.jsonl"
    if not path.exists():
        return []
    entries: list[IndexEntry] = []
    good_bytes = 0
    raw = path.read_bytes()
    for line in raw.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        try:
            entry = IndexEntry(**json.loads(line))
            child(folder, entry.file)
        except (ValueError, TypeError, ProtocolError):
            break
        if not (folder / entry.file).is_file():
            break
        if entries and entry.first <= entries[-1].last:
            break
        entries.append(entry)
        good_bytes += len(line)
    if good_bytes != len(raw):
        with open(path, "r+b") as fh:
            fh.truncate(good_bytes)
            os.fsync(fh.fileno())
    return entries


@dataclass
class JobStore:
    """All jobs under `root`, loaded from disk at start."""

    root: Path
    shutdown: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        for folder in sorted(self.root.iterdir()):
            if not JOB_ID.fullmatch(folder.name) or folder.is_symlink() or not folder.is_dir():
                continue
            try:
                self._jobs[folder.name] = Job.load_folder(folder, self.shutdown)
            except (OSError, ValueError, TypeError, KeyError):
                continue  # a half-created job folder: nothing finished in it

    def create(self, spec: JobSpec) -> Job:
        job = Job.create(self.root, spec, self.shutdown)
        with self._lock:
            self._jobs[job.id] = job
        return job

    def get(self, job_id: object) -> Job:
        check_job_id(job_id)
        with self._lock:
            job = self._jobs.get(str(job_id))
        if job is None:
            raise ProtocolError(
                f"no job {job_id} on this server.",
                code="not_found",
                hint="List the server's jobs with list_jobs, or start a new one.",
            )
        return job

    def find(self, spec: JobSpec) -> Job | None:
        key = spec.key()
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.spec.key() == key]
        return max(jobs, key=lambda j: j.done, default=None)

    def all(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created)

    def unfinished(self) -> list[Job]:
        return [j for j in self.all() if j.state not in FINAL_STATES]
