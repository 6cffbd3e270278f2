"""The Qt-free owner of the open work: video, document, history, journal, paths, reference.

"Unsaved" is the document's change counter against its value at the last save or load, so
whatever changed the document (an edit, its undo, a reconstruction batch) leaves it unsaved.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.errors import EditError, LabelMismatchError
from core.io.journal import Journal
from core.io.labels_h5 import load_labels
from core.labels.document import FrameBatch, apply_batch
from core.workspace import Workspace


@pytest.fixture
def opened(sample, tmp_path):
    video, gt = sample
    labels = tmp_path / "labels.h5"
    shutil.copy(gt, labels)
    ws = Workspace()
    events: list[str] = []
    for name in ("video_changed", "document_replaced", "paths_changed", "history_changed"):
        ws.subscribe(name, lambda *_a, n=name: events.append(n))
    ws.open_video(video)
    ws.load_labels(labels)
    yield ws, labels, events
    ws.close()


def test_open_emits_events_and_owns_paths(opened):
    ws, labels, events = opened
    assert events[:2] == ["video_changed", "document_replaced"]
    assert events.count("document_replaced") == 2  # the empty document, then the labels
    assert ws.labels_path == labels.resolve() and ws.edit is not None
    assert ws.history is ws.edit.history and not ws.unsaved and ws.recovery is None


def test_every_change_counts_as_unsaved(opened):
    ws, labels, _ = opened
    doc = ws.doc
    edited: list = []
    ws.subscribe("document_edited", edited.append)
    ws.history.apply("set_reviewed", hand="both", frame=3, reviewed=True)
    assert ws.unsaved and edited
    ws.save()
    assert not ws.unsaved
    # undo after the save: the file holds the edit, the document does not
    rev = ws.revision
    ws.history.undo()
    assert ws.revision > rev and ws.unsaved
    ws.save()
    # a reconstruction batch is not in the undo history, and still unsaved
    batch = FrameBatch.empty(np.arange(5, 8))
    apply_batch(doc, batch, keep_edited=False)
    assert ws.unsaved
    ws.history.apply("set_reviewed", hand="both", frame=40, reviewed=True)
    ws.history.undo()
    assert ws.unsaved  # the batch's frames are still not on disk
    ws.save()
    assert not ws.unsaved and not load_labels(labels).hands[0].present[5]


def test_save_without_a_path_and_as_copy(sample, tmp_path):
    video, gt = sample
    ws = Workspace()
    ws.open_video(video)
    ws.load_labels(gt, as_copy=True)  # the sample's truth: Save must ask for a new file
    assert ws.labels_path is None
    with pytest.raises(EditError):
        ws.save()
    out = ws.save(tmp_path / "mine.h5")
    assert ws.labels_path == out.resolve() and load_labels(out).equals(ws.doc)
    ws.close()


def test_restore_replaces_the_document(opened, sample):
    ws, labels, events = opened
    ws.history.apply("set_reviewed", hand="both", frame=7, reviewed=True)
    expected = ws.doc.copy()
    ws.edit.history.journal = None  # what a crash leaves: the journal, no clean close
    ws.edit = None
    ws2 = Workspace()
    ws2.open_video(sample[0])
    ws2.load_labels(labels)
    assert ws2.recovery is not None and ws2.recovery["changes"] == 1
    replaced: list[int] = []
    ws2.subscribe("document_replaced", lambda: replaced.append(1))
    doc = ws2.restore()
    assert replaced == [1] and ws2.doc is doc and doc.equals(expected) and ws2.unsaved
    assert ws2.recovery is None
    ws2.save()
    assert not Journal.open_for(labels).has_recovery()
    ws2.close()


def test_reference_labels(opened, sample, tmp_path):
    ws, _, _ = opened
    changed: list[int] = []
    ws.subscribe("reference_changed", lambda: changed.append(1))
    ref = ws.open_reference(sample[1])
    assert ws.reference is ref and ws.reference_path == sample[1].resolve() and changed == [1]
    doc = load_labels(sample[1])
    doc.meta.n_frames -= 1
    for t in doc.hands:
        for name, arr in t.arrays().items():
            setattr(t, name, arr[:-1])
    from core.io.labels_h5 import save_labels

    short = save_labels(doc, tmp_path / "short.h5")
    with pytest.raises(LabelMismatchError):
        ws.open_reference(short)
    assert ws.reference is ref  # a refused reference leaves the open one
    ws.open_video(sample[0])  # another video: no reference
    assert ws.reference is None and changed == [1, 1]


def test_autosave_failure_is_reported_once_then_its_recovery(opened, monkeypatch):
    """A full disk under the journal: the workspace's "error" event carries the failure once
    (not at every edit), "autosave_restored" follows when a later edit catches up, and no
    edit is lost."""
    import errno
    import os

    from core.io.journal import JournalWriteError

    ws, labels, _ = opened
    errors: list = []
    restored: list = []
    ws.subscribe("error", errors.append)
    ws.subscribe("autosave_restored", lambda: restored.append(True))
    full = {"on": True}
    real_write = Journal._write_bytes

    def disk(fd: int, view: memoryview) -> int:
        if full["on"]:
            os.write(fd, view[: len(view) // 2])  # half a record, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, view)

    monkeypatch.setattr(Journal, "_write_bytes", staticmethod(disk))
    ws.history.apply("set_reviewed", hand="both", frame=3, reviewed=True)
    ws.history.apply("set_reviewed", hand="both", frame=4, reviewed=True)
    assert len(errors) == 1 and isinstance(errors[0], JournalWriteError)
    assert errors[0].title == "Autosave is failing" and not restored
    full["on"] = False
    ws.history.apply("set_reviewed", hand="both", frame=5, reviewed=True)
    assert restored == [True] and len(errors) == 1
    recovered = Journal.open_for(labels).recover(load_labels(labels))
    assert all(recovered.hands[0].reviewed[f] for f in (3, 4, 5))
