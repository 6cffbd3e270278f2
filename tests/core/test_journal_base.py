"""Starting the journal is cheap: a document equal to its label file, or a new blank one, is not
snapshotted; recovery rebuilds it (re-reading the label file, only if unchanged) and replays."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_journal import make_doc, perform, script  # noqa: E402

from core.edits import EditHistory, EditSession, use_hand_model  # noqa: E402
from core.errors import LabelFileError  # noqa: E402
from core.io.journal import Journal  # noqa: E402
from core.io.labels_h5 import load_labels, save_labels  # noqa: E402
from core.labels.document import LabelDocument, VideoMeta  # noqa: E402


@pytest.fixture(autouse=True)
def _no_hand_model():
    use_hand_model(None)


def _crash(session: EditSession) -> None:
    """What a killed process leaves: the journal file as written, nothing closed or cleared."""
    session.journal.close()


def test_opening_labels_writes_no_snapshot_and_a_crash_after_edits_recovers_exactly(tmp_path):
    labels = save_labels(make_doc(), tmp_path / "clip.h5")
    session = EditSession.open(labels)
    kinds = [r.kind for r in session.journal.records()]
    assert kinds == ["header"] and session.journal.path.stat().st_size < 1000
    for action in script(30):
        perform(session.history, action)
    expected = session.doc.copy()
    _crash(session)

    again = EditSession.open(labels)
    assert again.recovery is not None and not again.recovery["has_snapshot"]
    assert "snapshot" not in [r.kind for r in again.journal.records()]
    doc = again.restore()
    assert doc.equals(expected) and doc.history == expected.history and doc.dirty
    again.close()


def test_recovery_refuses_a_label_file_changed_since_and_keeps_the_changes(tmp_path):
    labels = save_labels(make_doc(), tmp_path / "clip.h5")
    session = EditSession.open(labels)
    for action in script(12):
        perform(session.history, action)
    expected = session.doc.copy()
    _crash(session)
    journal_bytes = session.journal.path.read_bytes()

    backup = shutil.copy2(labels, tmp_path / "backup.h5")
    other = load_labels(labels)  # someone else edits and saves the file meanwhile
    other.write(1, [3], {"confidence": 0.25})
    save_labels(other, labels)

    journal = Journal.open_for(labels)
    with pytest.raises(LabelFileError, match="since the unsaved changes"):
        journal.recover(load_labels(labels))
    assert journal.path.read_bytes() == journal_bytes  # the journal itself refuses read-only

    again = EditSession.open(labels)
    assert again.recovery is not None
    with pytest.raises(LabelFileError, match="since the unsaved changes") as info:
        again.restore()
    kept = Path(str(info.value.hint).split("kept in ")[1].split(". ")[0])
    assert kept.read_bytes() == journal_bytes  # nothing lost: set aside, not deleted
    again.discard_recovery()  # what the app does next: starts afresh on the file as it is
    assert load_labels(labels).equals(other) and again.doc.equals(other)
    assert kept.exists()
    again.close()

    # the journal put back in place still refuses the file as it is now ...
    os.replace(kept, Journal.open_for(labels).path)
    with pytest.raises(LabelFileError):
        Journal.open_for(labels).recover(load_labels(labels))
    # ... and with the label file put back as it was, everything is recovered
    shutil.copy2(backup, labels)
    doc = Journal.open_for(labels).recover(load_labels(labels))
    assert doc.equals(expected) and doc.history == expected.history


def test_a_new_blank_document_is_journaled_without_its_arrays(tmp_path):
    meta = VideoMeta(20_000, 30.0, 1920, 1080, video_sha256="ef" * 32)
    doc = LabelDocument(meta)
    assert doc.blank
    doc.set_note(5, "start here")  # document-level data rides in the blank record
    session = EditSession.new(doc)
    try:
        assert session.journal.path.stat().st_size < 2000  # the arrays would be ~27 MB
        assert session.journal.describe()["changes"] == 0 and not session.journal.has_recovery()
        session.history.apply("delete_range", hand="left", start=0, end=9)
        session.history.apply("set_reviewed", hand="right", start=100, end=199)
        session.history.undo()
        session.history.apply("swap_hands", start=3, end=40)
        assert not doc.blank
        expected = doc.copy()
        _crash(session)
        again = EditSession.new(LabelDocument(meta))
        assert again.recovery is not None and again.recovery["changes"] == 4
        recovered = again.restore()
        assert recovered.equals(expected) and recovered.history == expected.history
        assert recovered.notes == {5: "start here"} and recovered.created == expected.created
    finally:
        Journal.open_for(video_sha256=meta.video_sha256).clear()


def test_reconstruction_batches_are_not_journaled_as_before(tmp_path):
    """Writes outside the undo history (a reconstructor's batches) are not journaled: recovery
    gives the blank document plus the edits, whether the journal began blank or as a
    snapshot, so the cheaper start changes nothing a user could see."""
    meta = VideoMeta(300, 30.0, 640, 480, video_sha256="ab" * 32)
    results = {}
    for mode in ("blank", "snapshot"):
        doc = LabelDocument(meta)
        journal = Journal.open_for(video_sha256=meta.video_sha256)
        journal.start(doc)
        if mode == "snapshot":  # what start wrote before: the whole (empty) document
            journal.snapshot(doc)
        history = EditHistory(doc, journal=journal)
        doc.write(0, np.arange(50), {"present": True, "confidence": 0.5})  # a "batch"
        history.apply("set_reviewed", hand="left", start=10, end=19)
        journal.close()
        results[mode] = Journal.open_for(video_sha256=meta.video_sha256).recover()
        journal.clear()
    assert results["blank"].equals(results["snapshot"])
    assert not results["blank"].hands[0].present.any()
    assert results["blank"].hands[0].reviewed[10:20].all()
