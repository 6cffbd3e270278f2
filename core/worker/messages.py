"""Typed messages a reconstruction worker streams back to whoever started it.

Plain dataclasses holding numbers, strings and numpy arrays, so they cross a process boundary
(multiprocessing queue) and can be encoded for a socket (`to_dict` / `from_dict`: only builtin
types and arrays, no pickle needed) by a remote worker. Order of a run:

    Started -> (Progress | Batch)* -> Refined* -> Done | Cancelled | Error

A child process that dies without sending one of the last three is reported by the parent as an
`Error` (see core/worker/process.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from core.labels.document import FrameBatch
from core.recon.base import Progress as RunProgress


@dataclass
class Message:
    """Base of every worker message."""

    kind: ClassVar[str] = "message"
    job_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Builtin types and numpy arrays only: safe to encode with msgpack/JSON + arrays."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            out[f.name] = getattr(self, f.name)
        return out

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Message:
        kind = data.get("kind")
        cls = MESSAGE_TYPES.get(str(kind))
        if cls is None:
            raise ValueError(f"unknown worker message kind {kind!r}")
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Started(Message):
    """The job is running: the backend is created and the video is open."""

    kind: ClassVar[str] = "started"
    backend: str = ""
    backend_version: str = ""
    total: int = 0  #: frames asked for
    start: int = 0
    stop: int = 0


@dataclass
class Progress(Message, RunProgress):
    """Where the run stands (`core.recon.base.Progress`: frames done, total, seconds, speed;
    `eta` and `fraction` computed from them), as a message of the job."""

    kind: ClassVar[str] = "progress"


@dataclass
class Batch(Message):
    """Results for some frames: the arrays of a `FrameBatch` (frames, present, confidence,
    joints_3d, joints_2d and MANO fields), as plain arrays."""

    kind: ClassVar[str] = "batch"
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_frame_batch(cls, batch: FrameBatch, job_id: str = "") -> Batch:
        return cls(
            job_id=job_id, arrays={k: np.ascontiguousarray(v) for k, v in batch.to_dict().items()}
        )

    def to_frame_batch(self) -> FrameBatch:
        return FrameBatch(**self.arrays)

    @property
    def n_frames(self) -> int:
        frames = self.arrays.get("frames")
        return 0 if frames is None else int(len(frames))


@dataclass
class Refined(Message):
    """Refined frames of the run (core/recon/refine/stage.py, `WorkerRefinement.chunks`), sent
    after the last Batch when the job refines: `frames` (n,) and per-hand fields (n, 2, ...),
    `source` included (filled gaps are interpolated); `provenance` (doc.extras["refine"]) comes
    with the last one."""

    kind: ClassVar[str] = "refined"
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass
class Error(Message):
    """The job failed. `title`, `message` and `hint` are written for people (from a
    VidihandError where there was one); `traceback` is the technical detail."""

    kind: ClassVar[str] = "error"
    title: str = "Error"
    message: str = ""
    hint: str = ""
    traceback: str = ""
    error_type: str = ""  #: class name of the original exception
    done: int = 0  #: frames finished (and sent) before the failure


@dataclass
class Done(Message):
    """Every frame asked for was processed."""

    kind: ClassVar[str] = "done"
    done: int = 0
    total: int = 0
    elapsed: float = 0.0
    #: the backend's version at the end (a remote backend learns the server's while it runs)
    backend_version: str = ""


@dataclass
class Cancelled(Message):
    """The job stopped on request; the frames sent before this message are finished."""

    kind: ClassVar[str] = "cancelled"
    done: int = 0
    total: int = 0
    elapsed: float = 0.0
    backend_version: str = ""  #: as in Done


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.kind: cls for cls in (Started, Progress, Batch, Refined, Error, Done, Cancelled)
}

#: messages after which a job sends nothing more
FINAL_KINDS = frozenset({"done", "cancelled", "error"})


def is_final(message: Message) -> bool:
    return message.kind in FINAL_KINDS
