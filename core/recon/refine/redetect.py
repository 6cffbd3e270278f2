"""Looking again for hands the tracker lost (needs the video): only over the gaps.

For every gap of a hand (absent on at most `redetect_max_gap` frames, present just before and
just after; no constraint frame inside), decoding only that gap:

1. **Backward tracking** (also into the frames before a hand enters the picture, at most
   `max_gap` of them). A fresh MediaPipe tracker is started on the frame where the hand was
   found again and run backwards through the gap. Tracking mode follows a hand from where it
   is known, which the forward pass could not do once it had lost it. It continues while a
   detection stays close (mean joint distance under half the hand's size) to the hand on the
   previous frame it processed.
2. **Upscaled crops** (gaps of at most `max_gap` frames). On frames still missing, the hand's 2D joints are interpolated between
   the gap's ends, a square crop twice the hand's size around them is upscaled to
   `redetect_crop_px` and MediaPipe runs on it in image mode (the palm detector sees small
   hands at a workable size). The detection nearest the prediction is kept if it is close.

Detections are merged by continuity, not by MediaPipe's left/right label, are refused when
they sit on the other hand, lifted to metric camera space like the forward pass
(core.recon.lifting) and written as predicted frames.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from core.labels.document import LabelDocument, Source
from core.recon.lifting import lift_hand
from core.recon.refine.problem import constraint_mask
from core.recon.refine.settings import RefineSettings
from core.recon.refine.temporal import runs

os.environ.setdefault("GLOG_minloglevel", "2")

#: a detection continues a hand when its mean joint distance is under this fraction of the size
_CONTINUE = 0.5


def _size(uv: np.ndarray) -> float:
    return max(float(np.linalg.norm(uv.max(0) - uv.min(0))), 8.0)


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b, axis=-1).mean())


def find_gaps(
    doc: LabelDocument, frames: range, max_gap: int, reach: int
) -> list[tuple[int, int, int, bool]]:
    """(hand, first, stop, two_sided) of the gaps to look into (absolute frame indices).

    A gap ends where the hand is found again. Two-sided gaps (the hand was there just before,
    at most `max_gap` frames) get both passes; otherwise (the hand entering the picture, or a
    long absence) only the backward pass runs, over at most `reach` frames."""
    idx = np.arange(frames.start, frames.stop)
    out = []
    for h, tr in enumerate(doc.hands):
        has = tr.present[idx] & np.isfinite(tr.joints_2d[idx]).all(axis=(1, 2))
        con = constraint_mask(tr, idx)
        for a, b in runs(~has):
            if b == len(idx):
                continue
            two_sided = a > 0 and b - a <= max_gap
            a = max(a, b - (max_gap if two_sided else reach))
            last = np.flatnonzero(con[a:b])
            if last.size:  # never look past a constraint frame
                a, two_sided = a + int(last[-1]) + 1, False
            if a < b:
                out.append((h, int(idx[a]), int(idx[b]), two_sided))
    return out


class _Detector:
    """MediaPipe Hands in tracking (backward passes) and image (crops) mode, made on first use."""

    def __init__(self) -> None:
        from mediapipe.python.solutions import hands as mp_hands

        self._mp = mp_hands
        self._image: Any = None
        self._tracker: Any = None

    def tracker(self) -> Any:
        """One tracking graph for all gaps (a graph costs ~0.1 s to start); each backward pass
        primes it twice on its first frame, so what it tracked in the last gap is dropped."""
        if self._tracker is None:
            self._tracker = self._mp.Hands(static_image_mode=False, max_num_hands=2,
                                           model_complexity=1, min_detection_confidence=0.5,
                                           min_tracking_confidence=0.5)  # fmt: skip
        return self._tracker

    def image_mode(self) -> Any:
        if self._image is None:
            self._image = self._mp.Hands(static_image_mode=True, max_num_hands=2,
                                         model_complexity=1, min_detection_confidence=0.4)  # fmt: skip
        return self._image

    def close(self) -> None:
        for graph in (self._image, self._tracker):
            if graph is not None:
                graph.close()


def _detect(hands: Any, image: np.ndarray) -> list[tuple[float, np.ndarray, np.ndarray]]:
    from core.recon.mediapipe_backend import _detections

    h, w = image.shape[:2]
    return [(score, uv, world) for _, score, uv, world in _detections(hands.process(image), w, h)]


#: one detection: score, (21, 2) image joints, (21, 3) world joints
_Det = tuple[float, np.ndarray, np.ndarray]


def _nearest(dets: list[_Det], target: np.ndarray, avoid: np.ndarray | None) -> _Det | None:
    """The detection continuing `target` (and not sitting on `avoid`), or None."""
    size = _size(target)
    best, best_d = None, _CONTINUE * size
    for det in dets:
        d = _dist(det[1], target)
        if avoid is not None and _dist(det[1], avoid) < _CONTINUE * size:
            continue
        if d < best_d:
            best, best_d = det, d
    return best


def _crop_detect(
    detector: _Detector, image: np.ndarray, predicted: np.ndarray, crop_px: int
) -> list[_Det]:
    import cv2

    H, W = image.shape[:2]
    centre = predicted.mean(0)
    side = max(2.0 * _size(predicted), 96.0)
    x0 = int(np.clip(round(centre[0] - side / 2), 0, max(W - 1, 0)))
    y0 = int(np.clip(round(centre[1] - side / 2), 0, max(H - 1, 0)))
    x1, y1 = int(min(W, x0 + side)), int(min(H, y0 + side))
    if x1 - x0 < 16 or y1 - y0 < 16:
        return []
    crop = image[y0:y1, x0:x1]
    scale = crop_px / max(x1 - x0, y1 - y0)
    big = cv2.resize(crop, (round((x1 - x0) * scale), round((y1 - y0) * scale)),
                     interpolation=cv2.INTER_LINEAR)  # fmt: skip
    out: list[_Det] = []
    for score, uv, world in _detect(detector.image_mode(), np.ascontiguousarray(big)):
        uv_full = (uv + 0.5) / scale - 0.5 + np.array([x0, y0])
        out.append((score, uv_full, world))
    return out


def redetect_gaps(doc: LabelDocument, video: Any, frames: range, settings: RefineSettings) -> int:
    """Look into every gap; write what is found. Returns the number of hand-frames found."""
    gaps = find_gaps(doc, frames, settings.redetect_max_gap, max(settings.max_gap, 1))
    if not gaps:
        return 0
    detector = _Detector()
    reader = _GapFrames(video)
    found = 0
    try:
        for h, a, b, two_sided in sorted(gaps, key=lambda g: g[1]):
            found += _one_gap(doc, reader.get(a, b), detector, h, a, b, two_sided, settings)
    finally:
        detector.close()
        reader.close()
    return found


class _GapFrames:
    """Decodes the frames of gaps in order, going on from the last gap when that is cheaper
    than seeking (a seek decodes from the keyframe before the gap)."""

    def __init__(self, video: Any) -> None:
        self.video = video
        self._it: Any = None
        self._pos = -1

    def get(self, a: int, b: int) -> dict[int, np.ndarray]:
        """Frames a..b (inclusive)."""
        if self._it is None or a < self._pos or a - self._pos > self._seek_cost(a):
            self.close()
            self._it, self._pos = self.video.iter_frames(a, None), a
        out: dict[int, np.ndarray] = {}
        for index, image in self._it:
            self._pos = index + 1
            if index >= a:
                out[index] = image
            if index >= b:
                break
        return out

    def _seek_cost(self, index: int) -> int:
        cost = getattr(self.video, "decode_cost", None)
        return int(cost(index)) if cost is not None else 0

    def close(self) -> None:
        if self._it is not None and hasattr(self._it, "close"):
            self._it.close()
        self._it = None


def _one_gap(doc: LabelDocument, images: dict[int, np.ndarray], detector: _Detector, h: int,
             a: int, b: int, two_sided: bool, settings: RefineSettings) -> int:  # fmt: skip
    track, other = doc.hands[h], doc.hands[1 - h]
    got: dict[int, tuple[float, np.ndarray, np.ndarray]] = {}
    target = track.joints_2d[b].astype(np.float64)
    hands = detector.tracker()  # backwards from where the hand was found again
    if b in images:
        _detect(hands, images[b])  # primes the tracker on the known frame (twice: see tracker)
    for f in range(b, a - 1, -1):
        if f not in images:
            break
        avoid = other.joints_2d[f].astype(np.float64) if other.present[f] else None
        det = _nearest(_detect(hands, images[f]), target, avoid)
        if f == b:
            continue
        if det is None:
            break
        got[f], target = det, det[1]
    after_f = min(got) if got else b
    if not two_sided or b - a > settings.max_gap:  # crops only where the fit could fill anyway
        return _write(doc, h, got)
    before = track.joints_2d[a - 1].astype(np.float64)
    after = got[after_f][1] if got else track.joints_2d[b].astype(np.float64)
    for f in range(a, after_f):
        if f not in images:
            continue
        s = (f - (a - 1)) / (after_f - (a - 1))
        predicted = (1 - s) * before + s * after
        avoid = other.joints_2d[f].astype(np.float64) if other.present[f] else None
        det = _nearest(_crop_detect(detector, images[f], predicted, settings.redetect_crop_px),
                       predicted, avoid)  # fmt: skip
        if det is not None:
            got[f] = det
    return _write(doc, h, got)


def _write(doc: LabelDocument, h: int, got: dict[int, tuple[float, np.ndarray, np.ndarray]]) -> int:
    for f, (score, uv, world) in got.items():
        lift = lift_hand(world, uv, doc.K)
        doc.write(h, f, {
            "present": True, "confidence": score, "joints_3d": lift.joints_3d,
            "joints_2d": lift.joints_2d, "global_orient": np.nan, "hand_pose": np.nan,
            "betas": np.nan, "transl": np.nan, "source": int(Source.PREDICTED),
        })  # fmt: skip
    return len(got)
