"""Settings of the refinement stage, with the documented defaults (docs/reconstructors.md).

One frozen dataclass: the driver, the CLI, the remote and batch paths and the app all take the
same object, and `as_dict()` is what the label file's history records as provenance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

#: the version of the method, written with the settings into a refined file's history
REFINE_VERSION = "3"


@dataclass(frozen=True)
class RefineSettings:
    """Weights and limits of the two-hand fit. Units: millimetres, radians; a 2D error
    is measured as millimetres at the hand (pixels x the hand's depth / the focal length)."""

    #: short gaps (frames) filled by the fit and marked interpolated; longer gaps stay empty
    max_gap: int = 8
    #: a hand lost as it crosses the image border (leaving or entering the picture) is continued
    #: by the fit at most this many frames past its last (before its first) frame, while the
    #: continued hand is still partly in the image; marked interpolated (0: never)
    edge_frames: int = 3
    #: confidence of a filled frame, as a fraction of the lower of its two neighbours'
    gap_confidence: float = 0.5
    #: robust 2D term: Geman-McClure scale (millimetres at the hand: pixels x depth / focal)
    robust_mm: float = 10.0
    #: stage 1: Levenberg-Marquardt iterations of the per-frame fits
    frame_iterations: int = 8
    #: stage 2: expected 2D noise of the detector (millimetres at the hand)
    obs_mm: float = 2.5
    #: stage 2: expected wrist acceleration (mm/frame^2): how much the track may bend
    accel_mm: float = 2.0
    #: stage 2: noise and acceleration of the rotation (quaternion units ~ half radians)
    rot_obs: float = 0.05
    rot_accel: float = 0.02
    #: stage 2: noise and acceleration of the finger angles (radians)
    angle_obs: float = 0.15
    angle_accel: float = 0.05
    #: stage 2: Levenberg-Marquardt iterations fitting the smoothed poses back onto the 2D
    #: joints, anchored to the smooth track (0: keep the smoothed poses)
    refit_iterations: int = 3
    #: stage 3: weight of the acceleration of the 3D joints (per mm^2, against 1 per mm^2 of 2D error)
    w_accel: float = 1.0
    #: weight of the acceleration of the hand's rotation (per squared Frobenius norm)
    w_rot_accel: float = 2000.0
    #: weight of the joint-angle limits (per squared radian beyond a limit)
    w_limits: float = 400.0
    #: weight of the twist of middle and end finger joints (they are hinges; per squared radian)
    w_hinge: float = 20.0
    #: weight of the two-hand interpenetration penalty (per mm^2 of sphere overlap)
    w_penetration: float = 10.0
    #: frames solved together; memory is bounded by this, not by the video's length
    chunk: int = 192
    #: frames of context on each side of a chunk (solved but not kept, or fixed from before)
    overlap: int = 16
    #: stage 3: L-BFGS iterations per chunk (0: stop after stage 2)
    iterations: int = 15
    #: fix left/right swaps by continuity and 3D chirality
    fix_handedness: bool = True
    #: with a video: look again for hands lost in gaps of at most this many frames (0: never);
    #: a hand entering the picture is looked for at most `max_gap` frames before it appears
    redetect_max_gap: int = 16
    #: with a video: crops around the predicted hand are upscaled to this many pixels
    redetect_crop_px: int = 384
    #: with a video: a hand near the frame's edge is tracked on the frame with a black border
    #: of this many hand sizes on that side, so it is still followed partly out of the picture
    redetect_pad: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_options(self, **options: Any) -> RefineSettings:
        """A copy with `options` changed; unknown names raise ValueError naming the known ones."""
        known = {f.name for f in fields(self)}
        bad = sorted(set(options) - known)
        if bad:
            raise ValueError(
                f"unknown refine option(s) {', '.join(bad)}; known: {', '.join(sorted(known))}"
            )
        return replace(self, **options)
