"""The label document: one per video, shared by the GUI, the editors, the workers and the exporters.

A `LabelDocument` holds two `HandTrack`s (left = 0, right = 1), each a set of arrays over frames,
plus the camera intrinsics, video metadata, per-frame notes and the edit history.

All changes go through `LabelDocument.write`, which records what it replaced and tells observers
which hand, frames and fields changed. Undo (core/edits) and views (app/) are built on that one
path; nothing else mutates the arrays.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Any

import numpy as np

from core.labels.joints import HAND_NAMES, N_JOINTS, hand_index


class Source(IntEnum):
    """Where a hand's value on a frame came from."""

    NONE = 0  #: nothing known
    PREDICTED = 1  #: a reconstructor's output
    EDITED = 2  #: set by a person
    INTERPOLATED = 3  #: filled between keyframes
    IMPORTED = 4  #: read from another dataset's labels


class Flag(IntFlag):
    """Per hand and frame flags an annotator can set (bits of `HandTrack.flags`)."""

    NONE = 0
    OCCLUDED = 1
    TRUNCATED = 2
    MOTION_BLUR = 4
    INTERACTION = 8
    LR_SWAP = 16
    WRONG_POSE = 32


FLAG_NAMES: dict[str, Flag] = {
    "occluded": Flag.OCCLUDED,
    "truncated": Flag.TRUNCATED,
    "motion_blur": Flag.MOTION_BLUR,
    "interaction": Flag.INTERACTION,
    "lr_swap": Flag.LR_SWAP,
    "wrong_pose": Flag.WRONG_POSE,
}

#: Per-frame fields of a hand track: name -> (trailing shape, dtype, fill value for "unknown").
TRACK_FIELDS: dict[str, tuple[tuple[int, ...], Any, Any]] = {
    "present": ((), np.bool_, False),
    "confidence": ((), np.float32, 0.0),
    "joints_3d": ((N_JOINTS, 3), np.float32, np.nan),
    "joints_2d": ((N_JOINTS, 2), np.float32, np.nan),
    "global_orient": ((3,), np.float32, np.nan),
    "hand_pose": ((45,), np.float32, np.nan),
    "betas": ((10,), np.float32, np.nan),
    "transl": ((3,), np.float32, np.nan),
    "source": ((), np.uint8, Source.NONE),
    "reviewed": ((), np.bool_, False),
    "keyframe": ((), np.bool_, False),
    "flags": ((), np.uint16, 0),
}

MANO_FIELDS = ("global_orient", "hand_pose", "betas", "transl")
#: Document-level data a `Change` with hand None names (what `set_note`, `set_extra`,
#: `set_history` and `set_backend` change): none of it is drawn per frame.
DOCUMENT_FIELDS = ("notes", "extras", "history", "backend")
#: Fields that describe the hand itself (what swap, copy and interpolation move around).
POSE_FIELDS = ("present", "confidence", "joints_3d", "joints_2d", *MANO_FIELDS)


@dataclass
class HandTrack:
    """Arrays over the frames of one hand. Unknown values are NaN, never fake zeros."""

    present: np.ndarray
    confidence: np.ndarray
    joints_3d: np.ndarray
    joints_2d: np.ndarray
    global_orient: np.ndarray
    hand_pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    source: np.ndarray
    reviewed: np.ndarray
    keyframe: np.ndarray
    flags: np.ndarray

    @classmethod
    def empty(cls, n_frames: int) -> HandTrack:
        arrays = {
            name: np.full((n_frames, *shape), fill, dtype=dtype)
            for name, (shape, dtype, fill) in TRACK_FIELDS.items()
        }
        return cls(**arrays)

    @property
    def n_frames(self) -> int:
        return int(self.present.shape[0])

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in TRACK_FIELDS}

    def has_mano(self) -> np.ndarray:
        """(T,) bool: frames whose MANO parameters are all known."""
        known: np.ndarray = ~(
            np.isnan(self.global_orient).any(1)
            | np.isnan(self.hand_pose).any(1)
            | np.isnan(self.betas).any(1)
            | np.isnan(self.transl).any(1)
        )
        return known

    def copy(self) -> HandTrack:
        return HandTrack(**{k: v.copy() for k, v in self.arrays().items()})

    def validate(self, n_frames: int) -> None:
        """Raise ValueError if an array has the wrong shape or dtype."""
        for name, (shape, dtype, _) in TRACK_FIELDS.items():
            arr = getattr(self, name)
            if arr.shape != (n_frames, *shape):
                raise ValueError(f"{name} has shape {arr.shape}, expected {(n_frames, *shape)}")
            if arr.dtype != np.dtype(dtype):
                raise ValueError(f"{name} has dtype {arr.dtype}, expected {np.dtype(dtype)}")


@dataclass
class VideoMeta:
    """What the labels know about their video."""

    n_frames: int
    fps: float
    width: int
    height: int
    video_sha256: str = ""
    video_path: str = ""  #: where the video was when the labels were made (informative only)


@dataclass
class Change:
    """What a write changed: observers use it to redraw only what is needed."""

    hand: int | None  #: None when document-level data (K, notes, meta) changed
    frames: np.ndarray  #: sorted frame indices (empty for document-level changes)
    fields: tuple[str, ...]


@dataclass
class Patch:
    """Values of some fields of one hand on some frames: what a write put or replaced."""

    hand: int
    frames: np.ndarray
    values: dict[str, np.ndarray]


def default_intrinsics(width: int, height: int) -> np.ndarray:
    """The documented default K when the user gives none.

    Focal length = the larger image side (about a 53 degree horizontal field of view for a
    landscape frame, typical of phone and head-mounted cameras), principal point at the image
    centre in the pixel-centre convention: ((W - 1) / 2, (H - 1) / 2).
    """
    f = float(max(width, height))
    return np.array(
        [[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]],
        dtype=np.float64,
    )


def intrinsics_from_values(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)


class LabelDocument:
    """Two hand tracks over the frames of one video, with camera, metadata, notes and history."""

    def __init__(
        self,
        meta: VideoMeta,
        K: np.ndarray | None = None,
        hands: tuple[HandTrack, HandTrack] | None = None,
    ) -> None:
        self.meta = meta
        self.K = (
            default_intrinsics(meta.width, meta.height)
            if K is None
            else np.asarray(K, dtype=np.float64).reshape(3, 3).copy()
        )
        n = meta.n_frames
        self.hands: list[HandTrack] = (
            [HandTrack.empty(n), HandTrack.empty(n)] if hands is None else list(hands)
        )
        for track in self.hands:
            track.validate(n)
        #: backend name and version of the last reconstruction ("" when none)
        self.backend = ""
        self.backend_version = ""
        self.created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        #: free-text notes per frame
        self.notes: dict[int, str] = {}
        #: the edits applied to this document, as JSON-able dicts (see docs/edits-format.md)
        self.history: list[dict[str, Any]] = []
        #: named extra JSON-able state saved with the labels (e.g. failure review decisions)
        self.extras: dict[str, Any] = {}
        self._observers: list[Callable[[Change], None]] = []
        #: the change counter: bumped by every change of the document, whatever made it (a write,
        #: an undo, a reconstruction batch, a note, extras, history). "Unsaved" (`dirty`) means it
        #: moved since the last save or load (`mark_saved`), never an undo-stack position.
        self.revision = 0
        self._saved_revision = 0
        #: True while the tracks are still the empty ones made here (no `write` since): the crash
        #: journal then records "a blank document" instead of a snapshot of every array
        self.blank = hands is None

    # ----------------------------------------------------------------- basics
    @property
    def n_frames(self) -> int:
        return self.meta.n_frames

    def hand(self, hand: int | str) -> HandTrack:
        return self.hands[hand_index(hand)]

    def __repr__(self) -> str:
        pres = [int(t.present.sum()) for t in self.hands]
        return (
            f"LabelDocument({self.n_frames} frames, {self.meta.width}x{self.meta.height}, "
            f"present left={pres[0]} right={pres[1]}, backend={self.backend or '-'})"
        )

    # ------------------------------------------------------------ saved state
    @property
    def dirty(self) -> bool:
        """True when the document changed since it was last saved or loaded."""
        return self.revision != self._saved_revision

    @dirty.setter
    def dirty(self, value: bool) -> None:
        if not value:
            self.mark_saved()
        elif not self.dirty:
            self.revision += 1

    def mark_saved(self) -> None:
        """What the document holds now is on disk (a save or a load)."""
        self._saved_revision = self.revision

    # -------------------------------------------------------------- observers
    def subscribe(self, callback: Callable[[Change], None]) -> Callable[[], None]:
        """Call `callback(change)` after every write; returns a function that unsubscribes."""
        self._observers.append(callback)

        def unsubscribe() -> None:
            if callback in self._observers:
                self._observers.remove(callback)

        return unsubscribe

    def _notify(self, change: Change) -> None:
        self.revision += 1
        for callback in list(self._observers):
            callback(change)

    def notify_document_changed(self, fields: tuple[str, ...]) -> None:
        """Tell observers that document-level data (K, notes, meta, extras) changed."""
        self._notify(Change(None, np.empty(0, np.int64), fields))

    # ------------------------------------------------------------------ writes
    def _frames(self, frames: Iterable[int] | slice | int) -> np.ndarray:
        if isinstance(frames, slice):
            idx = np.arange(self.n_frames)[frames]
        else:
            idx = np.atleast_1d(np.asarray(frames, dtype=np.int64))
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_frames):
            raise IndexError(
                f"frames {int(idx.min())}..{int(idx.max())} outside the video's "
                f"0..{self.n_frames - 1}"
            )
        return idx.astype(np.int64)

    def read(
        self, hand: int | str, frames: Iterable[int] | slice | int, fields: Iterable[str]
    ) -> Patch:
        """Copy the current values of `fields` of one hand on `frames`."""
        h = hand_index(hand)
        idx = self._frames(frames)
        track = self.hands[h]
        return Patch(h, idx, {f: getattr(track, f)[idx].copy() for f in fields})

    def write(
        self,
        hand: int | str,
        frames: Iterable[int] | slice | int,
        values: Mapping[str, Any],
        *,
        notify: bool = True,
    ) -> Patch:
        """Set fields of one hand on frames; return the replaced values as a Patch.

        `values` maps a field name (see TRACK_FIELDS) to an array broadcastable to the frames'
        shape for that field. This is the one mutation path of the document.
        """
        h = hand_index(hand)
        idx = self._frames(frames)
        track = self.hands[h]
        old: dict[str, np.ndarray] = {}
        for name, value in values.items():
            if name not in TRACK_FIELDS:
                raise KeyError(f"unknown track field {name!r}")
            arr = getattr(track, name)
            old[name] = arr[idx].copy()
            if idx.size:
                self.blank = False
            arr[idx] = np.asarray(value, dtype=arr.dtype)
        if notify and idx.size:
            self._notify(Change(h, np.unique(idx), tuple(values)))
        return Patch(h, idx, old)

    def apply_patch(self, patch: Patch, *, notify: bool = True) -> Patch:
        """Write a Patch back (used by undo); returns the values it replaced."""
        return self.write(patch.hand, patch.frames, patch.values, notify=notify)

    def set_note(self, frame: int, text: str) -> None:
        """Set the note of `frame` (blank text removes it)."""
        self._frames(frame)
        if text.strip():
            self.notes[int(frame)] = text
        else:
            self.notes.pop(int(frame), None)
        self.notify_document_changed(("notes",))

    def set_extra(self, key: str, value: Any) -> Any:
        """Set the named extra JSON state (None removes it); returns the value it replaced
        (None when absent). The one write path of `extras` (failure decisions, imports...)."""
        old = self.extras.get(key)
        if value is None:
            self.extras.pop(key, None)
        else:
            self.extras[key] = _deep_copy_json(value)
        self.notify_document_changed(("extras",))
        return old

    def set_history(self, length: int, append: Iterable[Mapping[str, Any]] = ()) -> None:
        """Cut the edit log (`history`) to `length` entries, then append `append`: the one
        write path of the log (an applied edit, its undo and redo)."""
        del self.history[int(length) :]
        self.history.extend(dict(e) for e in append)
        self.notify_document_changed(("history",))

    def set_backend(self, backend: str | None = None, version: str | None = None) -> None:
        """Record which reconstructor (and version) made the predictions."""
        if backend is not None:
            self.backend = backend
        if version is not None:
            self.backend_version = version
        self.notify_document_changed(("backend",))

    # ----------------------------------------------------------------- queries
    def present_counts(self) -> dict[str, int]:
        both = self.hands[0].present & self.hands[1].present
        either = self.hands[0].present | self.hands[1].present
        return {
            "left": int(self.hands[0].present.sum()),
            "right": int(self.hands[1].present.sum()),
            "both": int(both.sum()),
            "any": int(either.sum()),
        }

    def source_counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for name, track in zip(HAND_NAMES, self.hands, strict=True):
            out[name] = {s.name.lower(): int((track.source == s).sum()) for s in Source}
        return out

    def copy(self) -> LabelDocument:
        doc = LabelDocument(
            VideoMeta(**vars(self.meta)),
            self.K.copy(),
            (self.hands[0].copy(), self.hands[1].copy()),
        )
        doc.backend, doc.backend_version, doc.created = (
            self.backend,
            self.backend_version,
            self.created,
        )
        doc.notes = dict(self.notes)
        doc.history = [dict(e) for e in self.history]
        doc.extras = _deep_copy_json(self.extras)
        return doc

    def equals(self, other: LabelDocument, *, atol: float = 0.0) -> bool:
        """True when every track array, K, notes and meta match (NaN equals NaN)."""
        if vars(self.meta) != vars(other.meta) or self.notes != other.notes:
            return False
        if not np.allclose(self.K, other.K, atol=atol):
            return False
        for a, b in zip(self.hands, other.hands, strict=True):
            for name in TRACK_FIELDS:
                x, y = getattr(a, name), getattr(b, name)
                if x.dtype.kind == "f":
                    if not np.allclose(x, y, atol=atol, equal_nan=True):
                        return False
                elif not np.array_equal(x, y):
                    return False
        return True


def _deep_copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy_json(v) for v in value]
    return value


@dataclass
class FrameBatch:
    """Results of a reconstructor for some frames, for both hands (index 0 left, 1 right).

    Arrays are shaped (N, 2, ...) over `frames`. MANO fields are NaN where the backend does not
    produce them.
    """

    frames: np.ndarray  # (N,) int64
    present: np.ndarray  # (N, 2) bool
    confidence: np.ndarray  # (N, 2) float32
    joints_3d: np.ndarray  # (N, 2, 21, 3) float32
    joints_2d: np.ndarray  # (N, 2, 21, 2) float32
    global_orient: np.ndarray = None  # type: ignore[assignment]  # (N, 2, 3); NaN when None
    hand_pose: np.ndarray = None  # type: ignore[assignment]  # (N, 2, 45); NaN when None
    betas: np.ndarray = None  # type: ignore[assignment]  # (N, 2, 10); NaN when None
    transl: np.ndarray = None  # type: ignore[assignment]  # (N, 2, 3); NaN when None

    def __post_init__(self) -> None:
        n = len(self.frames)
        self.frames = np.asarray(self.frames, dtype=np.int64)
        for name in ("global_orient", "hand_pose", "betas", "transl"):
            if getattr(self, name) is None:
                dim = TRACK_FIELDS[name][0][0]
                setattr(self, name, np.full((n, 2, dim), np.nan, np.float32))

    @classmethod
    def empty(cls, frames: np.ndarray) -> FrameBatch:
        n = len(frames)
        return cls(
            frames=np.asarray(frames, np.int64),
            present=np.zeros((n, 2), bool),
            confidence=np.zeros((n, 2), np.float32),
            joints_3d=np.full((n, 2, N_JOINTS, 3), np.nan, np.float32),
            joints_2d=np.full((n, 2, N_JOINTS, 2), np.nan, np.float32),
        )

    def __len__(self) -> int:
        return len(self.frames)

    def to_dict(self) -> dict[str, np.ndarray]:
        return {
            name: getattr(self, name)
            for name in ("frames", "present", "confidence", "joints_3d", "joints_2d", *MANO_FIELDS)
        }

    @classmethod
    def concat(cls, batches: list[FrameBatch]) -> FrameBatch:
        keys = batches[0].to_dict().keys()
        return cls(**{k: np.concatenate([b.to_dict()[k] for b in batches]) for k in keys})


def apply_batch(
    doc: LabelDocument,
    batch: FrameBatch,
    *,
    source: Source = Source.PREDICTED,
    keep_edited: bool = True,
) -> np.ndarray:
    """Write a reconstructor's batch into the document; returns the frames written.

    Frames a person edited, interpolated or reviewed are kept as they are unless
    `keep_edited` is False: re-running a reconstructor never silently destroys corrections.
    """
    written = []
    for h in range(2):
        track = doc.hands[h]
        frames = batch.frames
        keep = np.zeros(len(frames), bool)
        if keep_edited:
            s = track.source[frames]
            keep = (s == Source.EDITED) | (s == Source.INTERPOLATED) | track.reviewed[frames]
        sel = ~keep
        if not sel.any():
            continue
        f = frames[sel]
        present = batch.present[sel, h]
        values = {
            "present": present,
            "confidence": np.where(present, batch.confidence[sel, h], 0.0),
            "joints_3d": batch.joints_3d[sel, h],
            "joints_2d": batch.joints_2d[sel, h],
            "global_orient": batch.global_orient[sel, h],
            "hand_pose": batch.hand_pose[sel, h],
            "betas": batch.betas[sel, h],
            "transl": batch.transl[sel, h],
            "source": np.full(len(f), int(source), np.uint8),
        }
        doc.write(h, f, values)
        written.append(f)
    return np.unique(np.concatenate(written)) if written else np.empty(0, np.int64)
