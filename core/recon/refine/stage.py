"""The refinement stage as every reconstruction path runs it (CLI, app, batch, remote client):
one policy, one call, so all of them refine the same way with the same defaults.

The app reconstructs in a worker process (core/worker/process.py); `WorkerRefinement` runs the
stage there, where the video is open, on the run's frames laid over what the app's document
holds around and inside the range (`worker_context`), and `apply_refined` writes the result
into the app's document like the run's batches, keeping the frames a person made."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from core.labels.document import (
    FrameBatch,
    HandTrack,
    LabelDocument,
    Source,
    VideoMeta,
    apply_batch,
)
from core.recon.refine.settings import RefineSettings

if TYPE_CHECKING:  # the fit imports torch: only when a refinement runs (the app starts fast)
    from core.recon.refine.driver import RefinePlan

#: backends whose output is refined unless the user says otherwise: the per-frame CPU detector.
#: (The ViDiHand model is temporal and gives MANO parameters the fit would drop; a replayed
#: label file is what it is.)
REFINED_BY_DEFAULT = frozenset({"mediapipe"})


def refines_by_default(backend: str) -> bool:
    return backend in REFINED_BY_DEFAULT


def refine_after_reconstruction(
    doc: LabelDocument,
    backend: str,
    *,
    refine: bool | None = None,
    frames: range | None = None,
    video: Any | None = None,
    settings: RefineSettings | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> RefinePlan | None:
    """Refine `frames` of a freshly reconstructed `doc` when `refine` (None: the backend's
    default) says so; with `video` lost hands are looked for again. Returns the plan or None."""
    if refine is None:
        refine = refines_by_default(backend)
    if not refine:
        return None
    from core.recon.refine.driver import refine_document

    return refine_document(doc, settings, frames=frames, video=video, on_progress=on_progress)


# ------------------------------------------------------------------ a worker's run (the app)
#: per-hand fields a worker's refined frames carry back
_SENT = ("present", "confidence", "joints_3d", "joints_2d", "global_orient", "hand_pose",
         "betas", "transl", "source")  # fmt: skip
#: refined frames per message back from a worker (bounded messages on a long video)
CHUNK_FRAMES = 2048


def kept_mask(track: HandTrack, frames: np.ndarray) -> np.ndarray:
    """Frames a reconstruction run leaves as they are (`apply_batch`'s rule: edited,
    interpolated, reviewed) and those refinement never changes (imported, keyframes: the rest
    of problem.constraint_mask)."""
    s = track.source[frames]
    person = (s == Source.EDITED) | (s == Source.INTERPOLATED) | (s == Source.IMPORTED)
    return person | track.reviewed[frames] | track.keyframe[frames]


def worker_context(doc: LabelDocument, frames: range, settings: RefineSettings | None = None
                   ) -> list[dict[str, np.ndarray]]:  # fmt: skip
    """What a worker refining `frames` of a run needs from the app's document, per hand: the
    frames the run keeps inside the range and the fit's context just outside it (all fields,
    so the worker's document agrees with the app's there). Small: it does not grow with the
    range."""
    ctx = max(2, (settings or RefineSettings()).overlap)
    idx = np.arange(frames.start, frames.stop)
    before = np.arange(max(0, frames.start - ctx), frames.start)
    around = np.r_[before, np.arange(frames.stop, min(doc.n_frames, frames.stop + ctx))]
    out = []
    for track in doc.hands:
        sel = np.union1d(idx[kept_mask(track, idx)], around).astype(np.int64)
        out.append({"frames": sel, **{k: v[sel].copy() for k, v in track.arrays().items()}})
    return out


class WorkerRefinement:
    """The refinement stage of one worker run (core/worker/process.py), for the app: the run's
    batches go into a document of the worker's own, laid over the app's `context`
    (worker_context), so it holds what the app's document will; at the end it is refined with
    the video, like `vidihand reconstruct` does, and the refined range goes back in chunks
    (`chunks`) that `apply_refined` writes into the app's document."""

    def __init__(self, meta: VideoMeta, K: np.ndarray, frames: range,
                 context: list[dict[str, np.ndarray]] | None = None) -> None:  # fmt: skip
        self.frames = frames
        self.doc = LabelDocument(meta, np.asarray(K, np.float64))
        for h, hand in enumerate(context or []):
            sel = np.asarray(hand["frames"], np.int64)
            if sel.size:
                self.doc.write(h, sel, {k: v for k, v in hand.items() if k != "frames"},
                               notify=False)  # fmt: skip

    def add(self, batch: FrameBatch) -> None:
        apply_batch(self.doc, batch)

    def run(self, backend: str, version: str, video: Any, settings: RefineSettings | None = None,
            on_progress: Callable[[int, int], None] | None = None) -> RefinePlan:  # fmt: skip
        from core.recon.refine.driver import refine_document

        self.doc.set_backend(backend, version)
        return refine_document(self.doc, settings, frames=self.frames, video=video,
                               on_progress=on_progress)  # fmt: skip

    def chunks(self, plan: RefinePlan, settings: RefineSettings | None = None
               ) -> Iterator[tuple[dict[str, np.ndarray], dict[str, Any]]]:  # fmt: skip
        """(arrays, provenance) per chunk of the range: `frames` (n,) and each sent field as
        (n, 2, ...) for both hands; the provenance comes with the last chunk only."""
        from core.recon.refine.driver import provenance

        prov = provenance(self.doc, plan, settings or RefineSettings())
        starts = range(self.frames.start, self.frames.stop, CHUNK_FRAMES)
        for i, a in enumerate(starts):
            idx = np.arange(a, min(a + CHUNK_FRAMES, self.frames.stop))
            arrays = {"frames": idx}
            for name in _SENT:
                arrays[name] = np.stack([getattr(t, name)[idx] for t in self.doc.hands], 1)
            yield arrays, (prov if i == len(starts) - 1 else {})


def apply_refined(doc: LabelDocument, arrays: dict[str, np.ndarray],
                  provenance: dict[str, Any] | None = None) -> np.ndarray:  # fmt: skip
    """Write a worker's refined frames into `doc`, leaving the frames the run kept (and every
    constraint frame) as they are; with `provenance`, record it as `doc.extras["refine"]`.
    Returns the frames written."""
    frames = np.asarray(arrays["frames"], np.int64)
    written = []
    for h, track in enumerate(doc.hands):
        sel = ~kept_mask(track, frames)
        if sel.any():
            doc.write(h, frames[sel], {k: np.asarray(arrays[k])[sel, h] for k in _SENT})
            written.append(frames[sel])
    if provenance:
        doc.set_extra("refine", dict(provenance))
    return np.unique(np.concatenate(written)) if written else np.empty(0, np.int64)
