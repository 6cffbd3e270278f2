"""Review decisions on segments: stored in extras["failures"], saved and loaded with the labels."""

from __future__ import annotations

import pytest

from core.analysis.review import CATEGORIES, decision_for, decisions, set_decision
from core.analysis.segments import Segment
from core.errors import EditError
from core.io.labels_h5 import load_labels, save_labels
from core.labels.document import LabelDocument, VideoMeta


def test_decisions_round_trip_through_the_label_file(tmp_path) -> None:
    doc = LabelDocument(VideoMeta(n_frames=100, fps=30.0, width=64, height=48))
    changes = []
    doc.subscribe(changes.append)
    swap = Segment(0, 40, 60, "lr_swap", 12.0)
    spike = Segment(1, 10, 11, "accel_spike", 2.0)
    set_decision(doc, swap.key, "confirmed", "lr_swap")
    set_decision(doc, spike.key, "dismissed")
    # through the write path: extras set, the edits logged in doc.history, counted as changes
    assert {c.fields for c in changes} == {("extras",), ("history",)} and doc.dirty
    assert [e["op"] for e in doc.history] == ["set_extra", "set_extra", "set_extra"]
    save_labels(doc, tmp_path / "l.h5")
    back = load_labels(tmp_path / "l.h5")
    d = decisions(back)
    assert set(d) == {"lr_swap:left:40-60", "accel_spike:right:10-11"}
    assert d[swap.key].status == "confirmed" and d[swap.key].category == "lr_swap"
    assert (
        d[swap.key].hand == 0 and d[swap.key].frames == (40, 60) and d[swap.key].kind == "lr_swap"
    )
    assert d[spike.key].status == "dismissed" and d[spike.key].category is None
    # a re-detected segment with slightly other frames finds the decision by overlap
    assert decision_for(back, "lr_swap", 0, 41, 61) == d[swap.key]
    assert decision_for(back, "lr_swap", 1, 41, 61) is None
    # clearing
    set_decision(back, swap.key, None)
    assert set(decisions(back)) == {spike.key}


def test_bad_decisions_are_refused() -> None:
    doc = LabelDocument(VideoMeta(n_frames=10, fps=30.0, width=64, height=48))
    with pytest.raises(EditError, match="needs a category"):
        set_decision(doc, "jitter:left:1-2", "confirmed")
    with pytest.raises(EditError, match="Unknown review status"):
        set_decision(doc, "jitter:left:1-2", "maybe")
    with pytest.raises(EditError, match="not a segment key"):
        set_decision(doc, "jitter-left-1-2", "dismissed")
    with pytest.raises(EditError, match="ends after the last frame"):
        set_decision(doc, "jitter:left:5-10", "dismissed")
    assert "occlusion" in CATEGORIES
    assert decisions(doc) == {}


def test_decisions_are_undoable_journaled_edits(tmp_path) -> None:
    """Through the document's edit history a decision is one undo step, in the crash journal,
    and an unsaved change even when undone after a save."""
    from core.edits import EditSession

    doc = LabelDocument(VideoMeta(n_frames=100, fps=30.0, width=64, height=48))
    path = save_labels(doc, tmp_path / "l.h5")
    session = EditSession.open(path)
    h = session.history
    swap = Segment(0, 40, 60, "lr_swap", 12.0)
    set_decision(h, swap.key, "confirmed", "lr_swap", "hidden by the mug")
    assert len(h) == 1 and h.undo_label == "Confirm lr_swap left 40-60"
    assert decisions(session.doc)[swap.key].note == "hidden by the mug"
    session.save()
    assert not session.doc.dirty
    h.undo()
    assert decisions(session.doc) == {} and session.doc.dirty
    h.redo()
    set_decision(h, swap.key, None)
    # a crash now: the journal gives back exactly this state (the decision cleared)
    expected = session.doc.copy()
    from core.io.journal import Journal

    recovered = Journal.open_for(path).recover(load_labels(path))
    assert recovered.extras == expected.extras and recovered.history == expected.history
    assert decisions(recovered) == {}
    session.history.journal = None
