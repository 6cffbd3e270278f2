"""Edit commands without a screen: the span an interpolation fills and the copy-pose fan-out
(what the window's I and Ctrl+Left / Ctrl+Right do, reachable from scripts)."""

from __future__ import annotations

import numpy as np
import pytest

from core.edits import EditHistory
from core.edits.commands import copy_pose_edits, interpolation_span
from core.errors import EditError
from core.labels.document import LabelDocument, VideoMeta


def _doc() -> LabelDocument:
    doc = LabelDocument(VideoMeta(n_frames=30, fps=30.0, width=64, height=48))
    rng = np.random.default_rng(0)
    for f in (5, 12, 20):
        j3 = rng.normal(size=(21, 3)).astype(np.float32) * 0.02 + [0, 0, 0.5]
        doc.write(1, f, {"present": True, "joints_3d": j3, "keyframe": True, "confidence": 1.0})
    return doc


def test_interpolation_span_choices() -> None:
    doc = _doc()
    assert interpolation_span(doc, 1, 8) == (5, 12)  # between the keyframes around the frame
    assert interpolation_span(doc, 1, 12) == (12, 20)  # on a keyframe: up to the next one
    assert interpolation_span(doc, 1, 8, (2, 9)) == (2, 9)  # a selected range wins
    assert interpolation_span(doc, 1, 8, (7, 8)) == (5, 12)  # ... when it has 3 frames or more
    with pytest.raises(EditError, match="keyframes of the right hand"):
        interpolation_span(doc, 1, 25)  # none after frame 20
    with pytest.raises(EditError):
        interpolation_span(doc, 0, 8)  # the left hand has no keyframes


def test_copy_pose_fan_out_fills_the_range_from_one_side() -> None:
    doc = _doc()
    edits = copy_pose_edits(1, 6, 9, "prev")
    assert [e["frame"] for e in edits] == [6, 7, 8, 9]
    assert [e["frame"] for e in copy_pose_edits(1, 6, 9, "next")] == [9, 8, 7, 6]
    EditHistory(doc).apply_all(edits, "copy pose")
    for f in range(6, 10):  # every frame got frame 5's pose, the nearest one on that side
        assert np.array_equal(doc.hands[1].joints_3d[f], doc.hands[1].joints_3d[5])
    with pytest.raises(EditError):
        copy_pose_edits(1, 6, 9, "sideways")
