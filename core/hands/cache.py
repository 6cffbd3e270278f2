"""MANO evaluated over whole tracks, cached per frame, recomputed only where an edit touched.

`ManoTrackCache(model, doc)` answers joints and vertices of a hand on any frames from the
document's MANO fields. It evaluates missing frames in batches, listens to the document's
Change events and forgets exactly the frames whose MANO fields changed. As a guard against
writes made without notification, each cached frame also remembers the parameters it was
computed from and is recomputed when they differ. Joints are cached for the whole track (252
bytes a frame); vertices for the most recently used `max_vertex_frames` frames per hand.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from core.labels.document import MANO_FIELDS, Change, LabelDocument
from core.labels.joints import N_JOINTS, hand_index

_PARAM_DIM = 3 + 45 + 10 + 3


class ManoTrackCache:
    """Per-frame MANO results of both tracks of a document."""

    def __init__(self, model: Any, doc: LabelDocument, *, max_vertex_frames: int = 4096) -> None:
        self.model = model
        self.doc = doc
        n = doc.n_frames
        self._joints = [np.full((n, N_JOINTS, 3), np.nan, np.float32) for _ in range(2)]
        self._params = [np.full((n, _PARAM_DIM), np.nan, np.float32) for _ in range(2)]
        self._valid = [np.zeros(n, bool) for _ in range(2)]
        self._verts: list[OrderedDict[int, np.ndarray]] = [OrderedDict(), OrderedDict()]
        self.max_vertex_frames = max_vertex_frames
        #: frames evaluated through the model so far, per hand (for tests and profiling)
        self.evaluated = [0, 0]
        self._unsubscribe: Callable[[], None] | None = doc.subscribe(self._on_change)

    def close(self) -> None:
        """Stop listening to the document."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # ----------------------------------------------------------------- events
    def _on_change(self, change: Change) -> None:
        if change.hand is None or not set(change.fields) & set(MANO_FIELDS):
            return
        self.invalidate(change.hand, change.frames)

    def invalidate(self, hand: int | str, frames: Iterable[int] | None = None) -> None:
        """Forget cached results of `frames` (all frames when None)."""
        h = hand_index(hand)
        if frames is None:
            self._valid[h][:] = False
            self._verts[h].clear()
            return
        idx = np.asarray(list(frames) if not isinstance(frames, np.ndarray) else frames, int)
        self._valid[h][idx] = False
        for f in idx.tolist():
            self._verts[h].pop(f, None)

    # ---------------------------------------------------------------- queries
    def _current_params(self, h: int, idx: np.ndarray) -> np.ndarray:
        track = self.doc.hands[h]
        return np.concatenate([getattr(track, k)[idx] for k in MANO_FIELDS], axis=1)

    def _frames(self, frames: Iterable[int] | slice | None) -> np.ndarray:
        if frames is None:
            return np.arange(self.doc.n_frames)
        if isinstance(frames, slice):
            return np.arange(self.doc.n_frames)[frames]
        return np.atleast_1d(np.asarray(frames, dtype=np.int64))

    def joints(self, hand: int | str, frames: Iterable[int] | slice | None = None) -> np.ndarray:
        """(N, 21, 3) joints of `hand` on `frames` (all when None); NaN where MANO is unknown."""
        h = hand_index(hand)
        idx = self._frames(frames)
        current = self._current_params(h, idx)
        stale = ~self._valid[h][idx]
        cached = self._params[h][idx]
        same = (cached == current) | (np.isnan(cached) & np.isnan(current))
        stale |= ~same.all(axis=1)
        todo = np.unique(idx[stale])
        if todo.size:
            p = self._current_params(h, todo)
            params = {
                "global_orient": p[:, :3], "hand_pose": p[:, 3:48], "betas": p[:, 48:58],
                "transl": p[:, 58:],
            }  # fmt: skip
            known = np.isfinite(p).all(axis=1)
            self._joints[h][todo] = self.model.joints(h, params)
            self._params[h][todo] = p
            self._valid[h][todo] = True
            self.evaluated[h] += int(known.sum())
            for f in todo.tolist():
                self._verts[h].pop(f, None)
        return self._joints[h][idx].copy()

    def vertices(self, hand: int | str, frames: Iterable[int] | slice | None = None) -> np.ndarray:
        """(N, 778, 3) vertices of `hand` on `frames`; NaN where MANO is unknown."""
        h = hand_index(hand)
        idx = self._frames(frames)
        self.joints(h, idx)  # refreshes validity and drops stale vertices
        cache = self._verts[h]
        missing = np.array([f for f in np.unique(idx).tolist() if f not in cache], np.int64)
        if missing.size:
            p = self._current_params(h, missing)
            params = {
                "global_orient": p[:, :3], "hand_pose": p[:, 3:48], "betas": p[:, 48:58],
                "transl": p[:, 58:],
            }  # fmt: skip
            verts = self.model.vertices(h, params).astype(np.float32)
            for f, v in zip(missing.tolist(), verts, strict=True):
                cache[f] = v
        out = np.stack([cache[f] for f in idx.tolist()]) if idx.size else np.zeros((0, 778, 3))
        for f in idx.tolist():
            cache.move_to_end(f)
        while len(cache) > self.max_vertex_frames:
            cache.popitem(last=False)
        return out
