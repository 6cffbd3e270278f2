"""Detector thresholds: one documented default per detector, overridable from JSON.

Every value here is described in docs/failure-analysis.md. A detector's per-frame score is its
measured value divided by its threshold (or the threshold divided by the value for detectors
where low is bad), so a score above 1 is a detection whatever the units.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from core.errors import SettingsError


@dataclass(frozen=True)
class Thresholds:
    """Detector thresholds. Distances in metres unless the name says mm or px."""

    #: jitter: rolling median (over `jitter_window` frames) of the high-frequency part of the
    #: acceleration, mm/frame^2 (see detectors.shake_mm)
    jitter_mm: float = 5.0
    jitter_window: int = 9
    #: acceleration spike: per-frame acceleration above max(spike_mm, spike_rel x local median)
    spike_mm: float = 15.0
    spike_rel: float = 6.0
    spike_window: int = 15
    #: bone length: relative change of any bone against the track's own median length
    bone_rel: float = 0.15
    #: left/right swap: both hands move more than this (each, on average) between two frames...
    swap_min_jump: float = 0.03
    #: ...and the swapped assignment explains the motion this many times better
    swap_ratio: float = 3.0
    #: interpenetration: depth of overlap of bone capsules of the two hands, mm
    penetration_mm: float = 10.0
    #: capsule radii of finger bones and palm bones, mm
    finger_radius_mm: float = 8.0
    palm_radius_mm: float = 12.0
    #: 3D vs 2D: mean reprojection error above max(reproj_px, reproj_rel x 2D hand size)
    reproj_px: float = 12.0
    reproj_rel: float = 0.15
    #: low confidence: present with confidence below this
    low_confidence: float = 0.5
    #: dropout: absent for at most this many frames between present frames
    dropout_max: int = 10
    #: leaving the frame: a joint within this many pixels of the border (or outside)...
    border_px: float = 12.0
    #: ...in the last this-many frames before the hand disappears
    leave_window: int = 5
    #: segments of the same kind and hand separated by at most this many frames are merged
    #: (one flickering failure is one segment, not many)
    merge_gap: int = 3
    #: acceleration spikes within this many frames of the start or end of a swap or bone-length
    #: segment of the same hand are explained by it and not reported separately
    explain_margin: int = 2

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def with_overrides(self, values: dict[str, Any]) -> Thresholds:
        """A copy with some values replaced; unknown names and wrong types are errors."""
        known = {f.name: f for f in fields(self)}
        clean: dict[str, Any] = {}
        for name, value in values.items():
            if name not in known:
                raise SettingsError(
                    f"Unknown detector threshold {name!r}.",
                    hint="Known thresholds: " + ", ".join(sorted(known)) + ".",
                )
            typ = int if known[name].type in ("int", int) else float
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SettingsError(
                    f"Threshold {name!r} must be a number, got {value!r}.",
                    hint="Use a plain JSON number.",
                )
            if value < 0:
                raise SettingsError(f"Threshold {name!r} must not be negative, got {value}.")
            clean[name] = typ(value)
        return replace(self, **clean)

    @classmethod
    def from_json(cls, source: str | os.PathLike[str] | dict[str, Any]) -> Thresholds:
        """Defaults overridden by a JSON object (a dict, or the path of a .json file)."""
        if isinstance(source, dict):
            return cls().with_overrides(source)
        path = Path(source)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise SettingsError(
                f"Thresholds file not found: {path}", hint="Check the path."
            ) from None
        except json.JSONDecodeError as exc:
            raise SettingsError(
                f"{path.name} is not valid JSON: {exc}.",
                hint='Write an object like {"bone_rel": 0.2}.',
            ) from None
        if not isinstance(data, dict):
            raise SettingsError(f"{path.name} must hold a JSON object of threshold values.")
        return cls().with_overrides(data)
