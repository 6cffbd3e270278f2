"""Failure detectors on the project's own sample: faults injected into its exact ground truth are
found, and the clean ground truth raises nothing.

Precision and recall (stated here, used below): an injected fault is a (kind, hands, first
frame, last frame). A detected segment *matches* a fault when it is on one of the fault's hands,
its kind is the detector kind for that fault (swap -> lr_swap, jump -> accel_spike, stretched
bones -> bone_length, dropout -> dropout), and its frames overlap the fault's frames widened by
2 on each side (a jump shows as spikes on the frame before it starts and the frame after it
ends). Recall = injected faults with at least one matching segment / injected faults.
Precision = detected segments (context kinds excluded: a hand does leave the frame in the clean
ground truth too) that match some fault / detected segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from core.analysis import CONTEXT_KINDS, detect
from core.analysis.detectors import border_distance, describe_segment
from core.analysis.thresholds import Thresholds
from core.camera import project
from core.io.labels_h5 import load_labels
from core.labels.document import POSE_FIELDS, LabelDocument

DETECTOR_FOR = {"swap": "lr_swap", "jump": "accel_spike", "stretch": "bone_length",
                "dropout": "dropout"}  # fmt: skip
MARGIN = 2


@dataclass(frozen=True)
class Fault:
    kind: str
    hands: tuple[int, ...]
    start: int
    end: int


# ----------------------------------------------------------------------------- fault injection
def inject_swap(doc: LabelDocument, a: int, b: int) -> Fault:
    f = np.arange(a, b + 1)
    left, right = doc.read(0, f, POSE_FIELDS).values, doc.read(1, f, POSE_FIELDS).values
    doc.write(0, f, right)
    doc.write(1, f, left)
    return Fault("swap", (0, 1), a, b)


def inject_jump(doc: LabelDocument, h: int, a: int, b: int, offset: list[float]) -> Fault:
    """The whole hand displaced by `offset` (metres) on frames a..b, 2D following the 3D."""
    f = np.arange(a, b + 1)
    j = doc.hands[h].joints_3d[f].astype(np.float64) + np.asarray(offset)
    doc.write(h, f, {"joints_3d": j, "joints_2d": project(j, doc.K)})
    return Fault("jump", (h,), a, b)


def inject_stretch(doc: LabelDocument, h: int, a: int, b: int, factor: float) -> Fault:
    """Every bone scaled by `factor` about the wrist on frames a..b, 2D following the 3D."""
    f = np.arange(a, b + 1)
    j = doc.hands[h].joints_3d[f].astype(np.float64)
    j = j[:, :1] + factor * (j - j[:, :1])
    doc.write(h, f, {"joints_3d": j, "joints_2d": project(j, doc.K)})
    return Fault("stretch", (h,), a, b)


def inject_dropout(doc: LabelDocument, h: int, a: int, b: int) -> Fault:
    doc.write(h, np.arange(a, b + 1), {"present": False, "confidence": 0.0,
                                       "joints_3d": np.nan, "joints_2d": np.nan})  # fmt: skip
    return Fault("dropout", (h,), a, b)


def inject_all(doc: LabelDocument) -> list[Fault]:
    """Eleven faults on the 180-frame sample, apart from each other and from the right hand's
    exit from the frame (absent on frames 106-120)."""
    for h in (0, 1):
        assert doc.hands[h].present[np.r_[0:100, 125:180]].all(), "sample changed: revise ranges"
    return [
        inject_jump(doc, 1, 5, 12, [0.0, -0.03, 0.02]),
        inject_swap(doc, 20, 34),
        inject_jump(doc, 0, 45, 54, [0.04, 0.0, 0.0]),
        inject_stretch(doc, 0, 62, 74, 1.25),
        inject_dropout(doc, 0, 82, 84),
        inject_stretch(doc, 1, 88, 97, 0.8),
        inject_dropout(doc, 0, 112, 114),
        inject_jump(doc, 0, 125, 134, [-0.03, 0.0, -0.03]),
        inject_swap(doc, 140, 150),
        inject_dropout(doc, 1, 158, 159),
        inject_stretch(doc, 1, 166, 174, 1.3),
    ]


def matches(seg, fault: Fault) -> bool:
    return (
        seg.hand in fault.hands
        and seg.kind == DETECTOR_FOR[fault.kind]
        and seg.overlaps(fault.start, fault.end, margin=MARGIN)
    )


def precision_recall(segments, faults: list[Fault]) -> tuple[float, float, list, list]:
    errors = [s for s in segments if s.kind not in CONTEXT_KINDS]
    false_pos = [s for s in errors if not any(matches(s, f) for f in faults)]
    missed = [f for f in faults if not any(matches(s, f) for s in errors)]
    precision = 1.0 - len(false_pos) / len(errors) if errors else 0.0
    recall = 1.0 - len(missed) / len(faults)
    return precision, recall, false_pos, missed


# -------------------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def gt(sample) -> LabelDocument:
    return load_labels(sample[1])


def test_clean_ground_truth_raises_no_error_segment(gt: LabelDocument) -> None:
    det = detect(gt)
    errors = [describe_segment(s) for s in det.segments if s.kind not in CONTEXT_KINDS]
    assert errors == []
    # the context segments it does report are real: the hand is at the border, then gone
    th = Thresholds()
    leaving = [s for s in det.segments if s.kind == "leaving_frame"]
    assert leaving, "the sample's right hand leaves the frame: that should be reported"
    for s in leaving:
        track = gt.hands[s.hand]
        assert not track.present[s.end + 1]
        d = border_distance(track, gt.K, gt.meta.width, gt.meta.height)
        assert d[s.start] <= th.border_px
    # every error score stays clearly below threshold on exact labels
    for kind, scores in det.scores.items():
        if kind not in CONTEXT_KINDS and kind != "low_confidence":
            assert np.nanmax(np.nan_to_num(scores, nan=0.0)) < 0.7, kind


def test_injected_faults_found_with_precision_and_recall_over_0_9(gt: LabelDocument) -> None:
    doc = gt.copy()
    faults = inject_all(doc)
    det = detect(doc)
    precision, recall, false_pos, missed = precision_recall(det.segments, faults)
    report = "\n".join(describe_segment(s) for s in det.ranked())
    assert recall >= 0.9, f"missed {missed}\n{report}"
    assert precision >= 0.9, f"false positives {false_pos}\n{report}"
    # each kind of fault is found at least once
    for kind, detector in DETECTOR_FOR.items():
        assert any(s.kind == detector for s in det.segments), kind


def test_swap_segment_spans_the_swapped_frames(gt: LabelDocument) -> None:
    doc = gt.copy()
    inject_swap(doc, 30, 49)
    swaps = [s for s in detect(doc).segments if s.kind == "lr_swap"]
    assert sorted((s.hand, s.start, s.end) for s in swaps) == [(0, 30, 49), (1, 30, 49)]


def test_stricter_thresholds_hide_the_faults(gt: LabelDocument) -> None:
    """The thresholds are what decides: raise them far enough and the same faults vanish."""
    doc = gt.copy()
    inject_stretch(doc, 0, 62, 74, 1.25)
    inject_jump(doc, 0, 45, 54, [0.04, 0.0, 0.0])
    kinds = {s.kind for s in detect(doc).segments}
    assert {"bone_length", "accel_spike"} <= kinds
    loose = Thresholds.from_json({"bone_rel": 0.5, "spike_mm": 100.0})
    kinds = {s.kind for s in detect(doc, loose).segments}
    assert not {"bone_length", "accel_spike"} & kinds
