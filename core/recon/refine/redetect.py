"""Looking again for hands the tracker lost (needs the video): only over the gaps.

`find_gaps` lists where to look, per hand: a gap of at most `redetect_max_gap` frames with the
hand on both sides; otherwise at most `max_gap` frames before the hand is found again (it
enters the picture, or comes back after a long absence). Nothing is looked for past a
constraint frame. Only those frames are decoded, in order (going on from the previous gap when
that is cheaper than a seek).

1. **Backward tracking.** A MediaPipe tracker, emptied of what it followed in the previous
   pass, is primed on the frame where the hand was found again and run backwards through the
   gap: tracking mode follows a hand from where it is known, which the forward pass could not
   do once it had lost it. It goes on while a detection continues the hand of the frame before
   (mean joint distance under half the hand's size) and is not on the other hand. A hand near
   the frame's edge is tracked on frames with a black border on that side (`edge_pad`): a hand
   entering the picture is followed back out of it.
2. **Upscaled crops** (gaps of at most `max_gap` frames, the hand on both sides). On frames
   still missing, the hand's 2D joints are interpolated between the nearest frames that have
   it; a square of twice its size around them (black where it leaves the frame) is upscaled
   to `redetect_crop_px` and MediaPipe runs on it in image mode (the palm detector sees small
   hands at a workable size). The detection nearest the prediction is kept if it is close.

Detections are merged by continuity, not by MediaPipe's left/right label; a hand with under a
fifth of its joints in the image is dropped (a tracker on a bordered frame can follow a hand
out of view). What is found is lifted to metric camera space like the forward pass
(core.recon.lifting) and written as predicted frames.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import VideoReadError
from core.labels.document import LabelDocument, Source
from core.recon.lifting import lift_hand
from core.recon.refine.problem import constraint_mask
from core.recon.refine.settings import RefineSettings
from core.recon.refine.temporal import runs

os.environ.setdefault("GLOG_minloglevel", "2")

#: a detection continues a hand when its mean joint distance is under this fraction of the size
_CONTINUE = 0.5

#: what empties the tracker between passes
_BLANK = np.zeros((64, 64, 3), np.uint8)

#: the side of a crop, in hand sizes (the bounding box's diagonal)
_CROP_SIZES = 2.0

#: a found hand counts when at least this fraction of its joints are in the image
_MIN_IN_VIEW = 0.2

#: one detection: score, (21, 2) image joints, (21, 3) world joints
_Det = tuple[float, np.ndarray, np.ndarray]


def _size(uv: np.ndarray) -> float:
    return max(float(np.linalg.norm(uv.max(0) - uv.min(0))), 8.0)


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b, axis=-1).mean())


@dataclass(frozen=True)
class Gap:
    """Frames first..stop-1 of `hand` to look into (absolute indices); the hand is known on
    `stop` and is tracked backwards from there. `crops`: it is known on first-1 too and the fit
    could fill the gap, so frames still missing get a crop around the interpolated hand."""

    hand: int
    first: int
    stop: int
    crops: bool


def find_gaps(doc: LabelDocument, frames: range, max_gap: int, reach: int) -> list[Gap]:
    """The gaps to look into.

    A hand absent on at most `max_gap` frames between two frames that have it is looked for over
    the whole gap. Otherwise (the hand entering the picture, or back after a long absence) it is
    looked for at most `reach` frames before it was found again. Nothing is looked for past a
    constraint frame (a person's frame is never overwritten and bounds what a track may
    continue)."""
    idx = np.arange(frames.start, frames.stop)
    out = []
    for h, tr in enumerate(doc.hands):
        has = tr.present[idx] & np.isfinite(tr.joints_2d[idx]).all(axis=(1, 2))
        con = constraint_mask(tr, idx)
        for a, b in runs(~has):
            seen_before, seen_after = a > 0, b < len(idx)
            blocked = np.flatnonzero(con[a:b])
            if seen_before and seen_after and b - a <= max_gap and not blocked.size:
                out.append(Gap(h, int(idx[a]), int(idx[b]), True))
                continue
            if seen_after:  # before it was found again, after the last constraint
                lo = max(a, b - reach, a + int(blocked[-1]) + 1 if blocked.size else a)
                if lo < b:
                    out.append(Gap(h, int(idx[lo]), int(idx[b]), False))
    return out


class _Detector:
    """MediaPipe Hands in tracking (backward passes) and image (crops) mode, made on first use."""

    def __init__(self) -> None:
        from mediapipe.python.solutions import hands as mp_hands

        self._mp = mp_hands
        self._image: Any = None
        self._tracker: Any = None
        #: the tracker may still follow a hand from the last pass
        self.tracking = False

    def tracker(self) -> Any:
        """One tracking graph for all passes (a graph costs ~0.1 s to start), emptied first:
        a small black frame drops what it tracked in the last pass (else a pass could begin by
        following an old hand, and what it finds would depend on the passes before it). A pass
        whose last frame had no hand left it empty already."""
        if self._tracker is None:
            self._tracker = self._mp.Hands(static_image_mode=False, max_num_hands=2,
                                           model_complexity=1, min_detection_confidence=0.5,
                                           min_tracking_confidence=0.5)  # fmt: skip
        if self.tracking:
            self._tracker.process(_BLANK)
            self.tracking = False
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


#: (top, bottom, left, right) black border around a frame, pixels
_Pad = tuple[int, int, int, int]


def _detect(hands: Any, image: np.ndarray, pad: _Pad = (0, 0, 0, 0)) -> list[_Det]:
    """MediaPipe's detections on `image`, in its pixel coordinates. With `pad`, the image gets
    a black border first (see `edge_pad`)."""
    from core.recon.mediapipe_backend import _detections

    top, bottom, left, right = pad
    if any(pad):
        image = np.pad(image, ((top, bottom), (left, right), (0, 0)))
    h, w = image.shape[:2]
    found = _detections(hands.process(image), w, h)
    return [(score, uv - (left, top), world) for _, score, uv, world in found]


def edge_pad(uv: np.ndarray, width: int, height: int, hands: float) -> _Pad:
    """The border to track a hand near the frame's edge with: `hands` hand sizes on each side
    the hand (2D joints `uv`) is within one hand size of, none elsewhere. MediaPipe's landmark
    crop around a hand at the edge reaches out of the picture, where it is filled with the
    edge's pixels smeared outwards and the hand is lost; with a black border the crop lies
    inside the image it is given, so a hand partly out of view is still followed (its joints
    beyond the edge come out there). Only the near sides are padded: a larger image makes the
    palm detector see every hand smaller."""
    size = _size(uv)
    lo, hi = uv.min(0), uv.max(0)
    border = int(np.ceil(hands * size))
    near = (lo[1] < size, height - hi[1] < size, lo[0] < size, width - hi[0] < size)
    top, bottom, left, right = (border if n else 0 for n in near)
    return top, bottom, left, right


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
    """MediaPipe in image mode on a square of twice the predicted hand's size around it,
    upscaled to `crop_px`. The square may reach out of the frame (black there): a hand at the
    edge stays in the middle of its crop."""
    import cv2

    H, W = image.shape[:2]
    centre = predicted.mean(0)
    side = int(round(max(_CROP_SIZES * _size(predicted), 96.0)))
    x0, y0 = int(round(centre[0] - side / 2)), int(round(centre[1] - side / 2))
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + side, W), min(y0 + side, H)
    if cx1 - cx0 < 16 or cy1 - cy0 < 16:
        return []
    crop = np.zeros((side, side, 3), image.dtype)
    crop[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = image[cy0:cy1, cx0:cx1]
    scale = crop_px / side
    big = cv2.resize(crop, (crop_px, crop_px), interpolation=cv2.INTER_LINEAR)
    out: list[_Det] = []
    for score, uv, world in _detect(detector.image_mode(), big):
        out.append((score, (uv + 0.5) / scale - 0.5 + np.array([x0, y0]), world))
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
        for gap in sorted(gaps, key=lambda g: g.first):
            lo = gap.first - 1 if gap.crops else gap.first
            found += _one_gap(doc, reader.window(lo, gap.stop), detector, gap, settings)
    finally:
        detector.close()
        reader.close()
    return found


class _GapFrames:
    """Decodes the frames of gaps in order, going on from the last gap when that is cheaper
    than seeking (a seek decodes from the keyframe before the gap).

    On a video with exact random access (`fork()` and `frame(i)`: PyAVVideo) each wanted frame
    is asked for by index on a private fork: its decoder goes on when that is cheaper, skips
    the non-reference frames before the wanted one (core.video.packets) and converts only the
    wanted frames to pictures; reading on with `iter_frames` decoded and converted every frame
    between two gaps (demo3: ~470 frames for ~100 wanted)."""

    def __init__(self, video: Any) -> None:
        self.video = video
        self._it: Any = None
        self._pos = -1
        self._fork: Any = video.fork() if hasattr(video, "fork") else None

    def window(self, a: int, b: int) -> _Window:
        """Frames a..b (inclusive), decoded when first asked for."""
        return _Window(self, a, b)

    def read(self, a: int, upto: int) -> dict[int, np.ndarray]:
        """Frames a..upto (inclusive); a frame the decoder cannot give is left out."""
        if self._fork is not None:
            out: dict[int, np.ndarray] = {}
            for index in range(a, upto + 1):
                try:
                    out[index] = self._fork.frame(index)
                except VideoReadError:
                    continue
            return out
        if self._it is None or a < self._pos or a - self._pos > self._seek_cost(a):
            self.close()
            self._it, self._pos = self.video.iter_frames(a, None), a
        out = {}
        for index, image in self._it:
            self._pos = index + 1
            if index >= a:
                out[index] = image
            if index >= upto:
                break
        return out

    def _seek_cost(self, index: int) -> int:
        cost = getattr(self.video, "decode_cost", None)
        return int(cost(index)) if cost is not None else 0

    def close(self) -> None:
        if self._it is not None and hasattr(self._it, "close"):
            self._it.close()
        self._it = None
        if self._fork is not None:
            self._fork.close()
            self._fork = None


class _Window:
    """The frames a..b of one gap: `f in window`, `window[f]`. Decoding stops at the last frame
    asked for, so a track that ends early costs no more decoding (a backward pass asks for its
    last frame first and so decodes the window at once)."""

    def __init__(self, reader: _GapFrames, a: int, b: int) -> None:
        self.reader, self.a, self.b = reader, a, b
        self._frames: dict[int, np.ndarray] = {}
        self._next = a  # frames before this were read (or could not be)

    def _load(self, f: int) -> np.ndarray | None:
        if not self.a <= f <= self.b:
            return None
        if f >= self._next:
            self._frames.update(self.reader.read(self._next, f))
            self._next = f + 1
        return self._frames.get(f)

    def __contains__(self, f: object) -> bool:
        return isinstance(f, int) and self._load(f) is not None

    def __getitem__(self, f: int) -> np.ndarray:
        image = self._load(f)
        if image is None:
            raise KeyError(f)
        return image


def _track(doc: LabelDocument, images: _Window, detector: _Detector, h: int,
           known: int, order: range, pad_hands: float) -> dict[int, _Det]:  # fmt: skip
    """Track hand `h` from frame `known` (where the document has it) through `order`, while
    each detection continues the hand of the frame before and is not on the other hand."""
    got: dict[int, _Det] = {}
    if known not in images:
        return got
    other = doc.hands[1 - h]
    target = doc.hands[h].joints_2d[known].astype(np.float64)
    pad = edge_pad(target, doc.meta.width, doc.meta.height, pad_hands)
    hands = detector.tracker()
    # primed twice on the frame that has the hand: palm detection finds it, then the landmarks
    # are refined from its own landmarks, as on every tracked frame
    _detect(hands, images[known], pad)
    _detect(hands, images[known], pad)
    detector.tracking = True
    for f in order:
        if f not in images:
            break
        avoid = other.joints_2d[f].astype(np.float64) if other.present[f] else None
        dets = _detect(hands, images[f], pad)
        detector.tracking = bool(dets)
        det = _nearest(dets, target, avoid)
        if det is None:
            break
        got[f], target = det, det[1]
    return got


def _one_gap(doc: LabelDocument, images: _Window, detector: _Detector, gap: Gap,
             settings: RefineSettings) -> int:  # fmt: skip
    h, a, b = gap.hand, gap.first, gap.stop
    got = _track(doc, images, detector, h, b, range(b - 1, a - 1, -1), settings.redetect_pad)
    if gap.crops:
        _crops(doc, images, detector, h, a, b, got, settings)
    return _write(doc, h, _in_view(got, doc.meta.width, doc.meta.height))


def _crops(doc: LabelDocument, images: _Window, detector: _Detector, h: int,
           a: int, b: int, got: dict[int, _Det], settings: RefineSettings) -> None:  # fmt: skip
    """Frames of a short gap still missing: a crop around the hand interpolated between the
    nearest frames that have it, upscaled, in image mode."""
    track, other = doc.hands[h], doc.hands[1 - h]
    known = {a - 1: track.joints_2d[a - 1], b: track.joints_2d[b]}
    known.update({f: det[1] for f, det in got.items()})
    for f in range(a, b):
        if f in got or f not in images:
            continue
        before = max(k for k in known if k < f)
        after = min(k for k in known if k > f)
        s = (f - before) / (after - before)
        predicted = (1 - s) * known[before].astype(np.float64) + s * known[after]
        avoid = other.joints_2d[f].astype(np.float64) if other.present[f] else None
        det = _nearest(_crop_detect(detector, images[f], predicted, settings.redetect_crop_px),
                       predicted, avoid)  # fmt: skip
        if det is not None:
            got[f] = det


def _in_view(got: dict[int, _Det], width: int, height: int) -> dict[int, _Det]:
    """Detections with at least `_MIN_IN_VIEW` of their joints in the image: a tracker fed a
    padded frame may follow a hand that has left the picture, which is then not there."""
    out = {}
    for f, det in got.items():
        uv = det[1]
        inside = (
            (uv[:, 0] > -0.5)
            & (uv[:, 0] < width - 0.5)
            & (uv[:, 1] > -0.5)
            & (uv[:, 1] < height - 0.5)
        )
        if inside.mean() >= _MIN_IN_VIEW:
            out[f] = det
    return out


def _write(doc: LabelDocument, h: int, got: dict[int, _Det]) -> int:
    for f, (score, uv, world) in got.items():
        lift = lift_hand(world, uv, doc.K)
        doc.write(h, f, {
            "present": True, "confidence": score, "joints_3d": lift.joints_3d,
            "joints_2d": lift.joints_2d, "global_orient": np.nan, "hand_pose": np.nan,
            "betas": np.nan, "transl": np.nan, "source": int(Source.PREDICTED),
        })  # fmt: skip
    return len(got)
