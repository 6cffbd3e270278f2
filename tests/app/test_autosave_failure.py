"""A full disk under the crash journal, in the real window: the user is told once that autosave
is failing and to save elsewhere; the edit stays; a later edit catches the journal up and the
status bar says so; Save still works (issue 14)."""

from __future__ import annotations

import errno
import os
import shutil

import pytest

pytestmark = pytest.mark.gui


def test_autosave_failure_is_reported_and_work_is_kept(window, qtbot, sample, tmp_path):
    from core.io.journal import Journal
    from core.io.labels_h5 import load_labels

    video, gt = sample
    labels = tmp_path / "labels.h5"
    shutil.copy(gt, labels)
    assert window.open_video(video) and window.open_labels(labels)
    ed = window.editing
    full = {"on": True}
    real_write = Journal._write_bytes

    def disk(fd: int, view: memoryview) -> int:
        if full["on"]:
            os.write(fd, view[: len(view) // 2])  # half a record, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, view)

    orig = Journal.__dict__["_write_bytes"]
    Journal._write_bytes = staticmethod(disk)
    try:
        assert ed.apply("Mark reviewed", {"op": "set_reviewed", "hand": "both", "frame": 3})
        info = window.errors.last
        assert info is not None and info.title == "Autosave is failing"
        assert "crash" in info.message and "Save As" in info.hint
        assert window.errors.current_dialog is not None  # shown, non-blocking
        window.errors.close_dialog()
        assert window.session.doc.hands[0].reviewed[3]  # the edit is kept
        n_errors = len(window.errors.history)
        assert ed.apply("Mark reviewed", {"op": "set_reviewed", "hand": "both", "frame": 4})
        assert len(window.errors.history) == n_errors  # told once, not at every edit
        full["on"] = False
        assert ed.apply("Mark reviewed", {"op": "set_reviewed", "hand": "both", "frame": 5})
        bar = window.statusBar()
        qtbot.waitUntil(lambda: "Autosave works again" in bar.currentMessage(), timeout=5000)
    finally:
        Journal._write_bytes = orig
    # the journal caught up: all three edits are in it
    journal = Journal.open_for(labels)
    recovered = journal.recover(load_labels(labels))
    assert all(recovered.hands[0].reviewed[f] for f in (3, 4, 5))
    assert window.save()
    assert load_labels(labels).hands[1].reviewed[[3, 4, 5]].all()
