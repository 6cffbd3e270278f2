"""The 3D view's wrist trail (app/widgets/view3d.py): it follows the wrist over the last frames
and breaks where the hand was absent, instead of a straight line across the dropout.

    xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/pytest tests/app/test_view3d_trail.py
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.labels.joints import WRIST

pytestmark = pytest.mark.gui


def _segments(window, hand: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The trail's drawn segments (two-point lines of non-zero length)."""
    pts = np.asarray(window.view3d._trail[hand].points)
    pairs = [(pts[k], pts[k + 1]) for k in range(0, len(pts), 2)]
    return [(a, b) for a, b in pairs if np.linalg.norm(a - b) > 1e-9]


def _as_steps(segments, wrist: np.ndarray, start: int) -> set[tuple[int, int]]:
    """Each segment as the pair of frames whose wrist positions it joins."""
    out = set()
    for a, b in segments:
        i = int(np.argmin(np.linalg.norm(wrist - a, axis=1)))
        j = int(np.argmin(np.linalg.norm(wrist - b, axis=1)))
        assert np.allclose(wrist[i], a, atol=1e-6) and np.allclose(wrist[j], b, atol=1e-6)
        out.add((start + i, start + j))
    return out


def test_the_wrist_trail_breaks_at_a_dropout(window, sample, qtbot, tmp_path):
    video, gt = sample
    labels = tmp_path / "labels.h5"  # edited below: a copy, so no other test sees its journal
    shutil.copy(gt, labels)
    assert window.open_video(video) and window.open_labels(labels)
    assert window.editing.recovery_dialog is None
    doc = window.session.doc
    n = window.view3d.trail_length
    track = doc.hands[0]
    runs = [f for f in range(n, doc.n_frames) if track.present[f - n + 1 : f + 1].all()]
    assert runs, "the sample has the left hand present for a whole trail"
    f = runs[0]
    a = f - n + 1
    window.goto(f)
    qtbot.waitUntil(lambda: window.view3d.shown_frame == f)
    wrist = track.joints_3d[a : f + 1, WRIST]
    assert _as_steps(_segments(window, 0), wrist, a) == {(i, i + 1) for i in range(a, f)}

    ed = window.editing
    ed.select(hand=0)
    ed.set_range((f - 6, f - 5))
    assert ed.set_present(False)
    ed.set_range(None)
    window.goto(f - 1)
    window.goto(f)
    qtbot.waitUntil(lambda: window.view3d.shown_frame == f)
    wrist = doc.hands[0].joints_3d[a : f + 1, WRIST]
    steps = _as_steps(_segments(window, 0), wrist, a)
    expected = {(i, i + 1) for i in range(a, f - 7)} | {(i, i + 1) for i in range(f - 4, f)}
    assert steps == expected  # nothing joins frame f - 7 to f - 4 across the dropout
