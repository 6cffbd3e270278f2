"""Frame steps change the status line's and the inspector's texts without laying the status bar
or the inspector out again (app/widgets/steady_label.py): on a 1080p step that layout pass and
the status bar's repaint cost ~1.4 ms of the GUI thread."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QLabel

from app.widgets import steady_label


class _Events(QObject):
    """Paint and LayoutRequest events, by the receiver's type name."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str]] = []
        #: the status bar's painted regions (bounding rects)
        self.bar_rects: list = []

    def eventFilter(self, obj, event):  # noqa: N802 - Qt API
        kind = {QEvent.Type.Paint: "paint", QEvent.Type.LayoutRequest: "layout"}.get(event.type())
        if kind is not None:
            self.seen.append((kind, type(obj).__name__))
            if kind == "paint" and type(obj).__name__ == "QStatusBar":
                self.bar_rects.append(event.rect())
        return False


def test_steps_do_not_lay_out_the_status_bar_or_the_inspector(window, sample, qtbot, wait_quiet):
    video, labels = sample
    assert window.open_video(video) and window.open_labels(labels)
    clock, status = window.session.clock, window.status_line
    clock.set_frame(5)
    qtbot.waitUntil(lambda: window.video_view.shown_frame == 5)
    window.statusBar().clearMessage()  # a message hides the labels (and their layout)
    qtbot.waitUntil(lambda: not window.analysis.failures.busy, timeout=60000)
    wait_quiet()  # the window's layout settles after opening
    spy = _Events()
    QApplication.instance().installEventFilter(spy)
    texts = set()
    try:
        # frames with 1, 2 and 3 digits, hands present and absent, several sources
        for f in (6, 7, 9, 10, 11, 57, 99, 100, 101, 150, window.session.doc.n_frames - 1):
            clock.set_frame(f)
            qtbot.waitUntil(lambda f=f: window.video_view.shown_frame == f)
            texts.add((status.frame.text(), status.hands.text()))
        qtbot.wait(100)  # posted layout requests would be delivered by now
    finally:
        QApplication.instance().removeEventFilter(spy)
    assert len(texts) == 11  # the texts did change on every step
    assert f"Frame {window.session.doc.n_frames - 1} /" in status.frame.text()
    assert ("layout", "QStatusBar") not in spy.seen, spy.seen
    # the bar is painted only under the labels whose text changed, not across its whole width
    labels = status.frame.geometry().united(status.hands.geometry())
    assert all(labels.contains(r) for r in spy.bar_rects), (labels, spy.bar_rects)
    assert ("layout", "Inspector") not in spy.seen, spy.seen
    for label in (status.frame, status.hands):  # every text shown whole
        assert steady_label.fits(label, label.text())


def test_reserve_fits_wider_digits_and_grows_for_a_longer_text(qtbot):
    label = QLabel("Frame 1 / 9")
    qtbot.addWidget(label)
    width = steady_label.reserve(label, ["Frame 9 / 9"])
    assert label.minimumWidth() == label.maximumWidth() == width
    assert label.text() == "Frame 1 / 9"  # the text shown is kept
    digits = label.fontMetrics().horizontalAdvance
    widest = steady_label.widest_digit(label)
    assert all(digits(widest) >= digits(d) for d in "0123456789")
    assert all(steady_label.fits(label, f"Frame {d} / {d}") for d in "0123456789")
    longer = "Frame 1 / 9 and a much longer note"
    assert not steady_label.fits(label, longer)
    steady_label.set_text(label, longer)
    assert label.text() == longer and steady_label.fits(label, longer)
    assert label.maximumWidth() > width
    steady_label.set_text(label, "Frame 2 / 9")  # shorter again: the room stays, no relayout
    assert label.maximumWidth() == label.minimumWidth() > width
