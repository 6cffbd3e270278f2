""" "Unsaved" is whatever changed the document since the last save, not a position in the undo
stack: a reconstruction's frames (never in the undo history), an edit and its undo all leave the
window unsaved, and closing it asks.

    xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/pytest tests/app/test_unsaved.py
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.io.labels_h5 import load_labels, save_labels

pytestmark = pytest.mark.gui


def _reconstruct(window, qtbot, replay, start: int, stop: int) -> None:
    with qtbot.waitSignal(window.recon.finished, timeout=60_000) as blocker:
        window.recon.start("groundtruth", start, stop, {"labels": str(replay), "decode": "false"})
    assert blocker.args == ["done"]


def test_save_reconstruct_edit_undo_stays_unsaved_and_close_asks(window, qtbot, sample, tmp_path):
    video, gt = sample
    labels = tmp_path / "labels.h5"
    shutil.copy(gt, labels)
    # another file to replay: the truth moved 2 cm, so the run really changes the frames
    other = load_labels(gt)
    for h in (0, 1):
        other.write(h, slice(None), {"joints_3d": other.hands[h].joints_3d + 0.02})
    replay = save_labels(other, tmp_path / "replay.h5")

    assert window.open_video(video) and window.open_labels(labels)
    assert window.save()
    assert not window.session.dirty and not window.windowTitle().startswith("*")

    _reconstruct(window, qtbot, replay, 0, 16)
    doc = window.session.doc
    assert np.allclose(doc.hands[1].joints_3d[:16], other.hands[1].joints_3d[:16], equal_nan=True)
    assert window.session.dirty and window.windowTitle().startswith("*")

    ed = window.editing
    assert ed.apply("Mark reviewed", {"op": "set_reviewed", "hand": "both", "frame": 40})
    window.editing.undo()
    assert not doc.hands[0].reviewed[40]
    # the run's frames are still not on disk: unsaved, and the title and status say so
    assert window.session.dirty and window.windowTitle().startswith("*")
    assert "unsaved" in window.status_line.doc.text()

    asked: list[int] = []

    def cancel() -> str:
        asked.append(1)
        return "cancel"

    window.confirm_discard = cancel
    window.close()
    assert asked == [1] and window.isVisible()  # closing asked, and Cancel kept the window
    window.confirm_discard = lambda: "discard"


def test_edit_then_undo_after_save_stays_unsaved(window, sample, tmp_path):
    """The counter moved (twice): the file on disk is not what an undo stack position says."""
    video, gt = sample
    labels = tmp_path / "labels.h5"
    shutil.copy(gt, labels)
    assert window.open_video(video) and window.open_labels(labels)
    assert not window.session.dirty
    assert window.editing.apply("Mark reviewed", {"op": "set_reviewed", "hand": "both", "frame": 3})
    assert window.save() and not window.session.dirty
    window.editing.undo()
    assert window.session.dirty and window.windowTitle().startswith("*")
    assert window.save() and not window.windowTitle().startswith("*")
    assert not load_labels(labels).hands[0].reviewed[3]
