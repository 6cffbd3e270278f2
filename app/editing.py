"""Editing in the review window: every change of the labels goes through one `EditSession`.

`install_editing(window)` adds editing to a built `MainWindow` through its public parts
(session, views, timeline, menus, error presenter):

- an `EditSession` (core/edits/session.py: document + undo history + crash journal) per open
  document, made when the session's document is replaced; a journal left by a crashed session
  is offered back ("Restore unsaved changes?", non-blocking, `answer_recovery` for tests);
  Save goes through it (atomic, the journal restarts beside the file);
- Edit menu: Undo / Redo naming the gesture, range operations on the selected hand over the
  edit range (timeline Ctrl+drag, [ and ], or Edit > Select Range...) or the current frame,
  review marks and jumps (core.edits.navigate);
- joint dragging in the video overlay (app/joint_drag.py), the inspector dock
  (app/widgets/inspector.py), keyframe and range lanes in the timeline, smoothing with a preview,
  MANO settings and the MANO mesh in the 3D view (app/mano_ui.py).

User input becomes `EditController.apply(label, edits)`: one undoable gesture through
`EditHistory`, whose document writes redraw every view via `Session.documentEdited`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDockWidget, QMenu, QMessageBox, QScrollArea

from app.errors import ErrorInfo
from app.hand_drag3d import HandDrag3D
from app.joint_drag import JointDrag, SelectionOverlay
from app.mano_ui import ManoUI
from app.widgets.colors import HAND_LABELS
from app.widgets.edit_lanes import keyframe_lane, range_lane
from app.widgets.inspector import Inspector
from app.widgets.preview3d import Preview3D
from app.widgets.range_dialog import RangeDialog, SmoothBar
from app.widgets.timeline import HEADER_W
from core.edits import (
    EditSession,
    keyframe_span,
    next_flagged,
    next_keyframe,
    next_unreviewed,
    prev_keyframe,
    preview_smooth,
)
from core.errors import VidihandError
from core.labels.document import Patch

if TYPE_CHECKING:
    from app.main_window import MainWindow

HAND_NAMES = ("left", "right")


class EditController(QObject):
    """The window's editing state: edit session, selected hand/joint, edit range, preview."""

    #: the selected hand or joint changed
    selectionChanged = Signal()
    #: the edit range changed (None or (start, end) inclusive)
    rangeChanged = Signal()
    #: undo/redo state changed (labels, enabled)
    historyChanged = Signal()
    #: the smoothing preview appeared, changed or went
    previewChanged = Signal()

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.edit: EditSession | None = None
        self.hand = 1  #: selected hand (0 left, 1 right)
        self.joint = 0  #: selected joint (label order)
        self.range: tuple[int, int] | None = None
        #: what a smoothing preview would write (None when no preview is shown)
        self.preview: Patch | None = None
        self.preview_params: tuple[int, int, int, float] | None = None
        #: the "restore unsaved changes?" box while it is open
        self.recovery_dialog: QMessageBox | None = None
        self._unsub_history = None
        self._replacing = False
        self._tl_select_from: int | None = None
        #: the autosave failure last shown to the user (None: autosave works)
        self._autosave_reported: object = None

        self.mano = ManoUI(self)
        self.drag = JointDrag(self)
        self.drag3d = HandDrag3D(self)  # Ctrl(+Shift)+drag in the 3D view
        self.preview3d = Preview3D(self)  # the smoothing preview in 3D
        self.selection_overlay = SelectionOverlay(self)
        window.video_view.overlay_painters.append(self.selection_overlay)
        self.smooth_bar = SmoothBar(self)
        self.inspector = Inspector(self)
        self.dock_inspector = QDockWidget("Inspector", window)
        self.dock_inspector.setObjectName("dockInspector")
        scroll = QScrollArea()  # scrolls rather than squeezing the 3D view above it
        scroll.setWidget(self.inspector)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.dock_inspector.setWidget(scroll)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock_inspector)
        recon = getattr(window, "dock_recon", None)
        if recon is not None:
            window.tabifyDockWidget(recon, self.dock_inspector)
        self.range_dialog: RangeDialog | None = None

        tl = window.timeline
        self.lanes = []
        for h in (0, 1):
            lane = keyframe_lane(h)
            tl.add_lane(lane, self._after_lane(h, "source"))
            self.lanes.append(lane)
        self.range_lane = range_lane(self)
        tl.add_lane(self.range_lane)  # last, in the "Review" group
        self.rangeChanged.connect(tl.refresh_lanes)
        tl.installEventFilter(self)

        self.session.documentReplaced.connect(self._on_document)
        self.session.documentEdited.connect(self._on_edit)
        self.session.pathsChanged.connect(self._on_paths)
        self._saved_step: object = None
        self._build_actions()
        if self.session.doc is not None:
            self._on_document()

    # ------------------------------------------------------------ documents
    @property
    def history(self):  # noqa: ANN201 - core EditHistory | None
        return None if self.edit is None else self.edit.history

    def _on_document(self) -> None:
        """A new document is open: edit it through a new EditSession (or keep the one whose
        restored document this is)."""
        doc = self.session.doc
        self.cancel_preview()
        self.drag.cancel()
        if self.edit is not None and self.edit.doc is doc:
            return  # our own restore
        self._close_edit()
        self.set_range(None)
        if doc is None:
            return
        path = self.session.labels_path
        self.edit = EditSession(doc, path) if path is not None else EditSession.new(doc)
        self.session.edit_session = self.edit
        self._watch_history()
        if self.edit.recovery is not None:
            if self.edit.recovery.get("changes", 0) > 0:
                self._offer_recovery(self.edit.recovery)
            else:  # only the starting snapshot of an unsaved document: nothing was edited
                self.edit.discard_recovery()

    def _close_edit(self) -> None:
        if self._unsub_history is not None:
            self._unsub_history()
            self._unsub_history = None
        if self.recovery_dialog is not None:
            self.recovery_dialog.close()
            self.recovery_dialog = None
        if self.edit is not None:
            try:
                self.edit.close()
            except VidihandError as exc:
                self.window.errors.report(exc)
            self.edit = None
            self.session.edit_session = None

    def _watch_history(self) -> None:
        if self._unsub_history is not None:
            self._unsub_history()
        self._unsub_history = self.edit.history.subscribe(self._history_changed)
        # the undo position that matches the file on disk (unreachable for unsaved work)
        self._saved_step = None if not self.edit.doc.dirty else object()
        self._history_changed()

    def _on_paths(self) -> None:
        """After a save (the document is clean again) remember the undo position."""
        doc, h = self.session.doc, self.history
        if h is not None and doc is not None and doc is self.edit.doc and not doc.dirty:
            self._saved_step = h.last_step

    def _history_changed(self) -> None:
        h = self.history
        doc = self.session.doc
        if h is not None and doc is not None and doc is self.edit.doc:
            at_saved = h.last_step is self._saved_step
            if at_saved == doc.dirty:  # undo/redo back to (or away from) the saved state
                doc.dirty = not at_saved
                self.session.pathsChanged.emit()  # the window's title marker
                update = getattr(self.window, "_update_doc_status", None)
                if update is not None:
                    update()
        self.act_undo.setEnabled(h is not None and h.can_undo)
        self.act_redo.setEnabled(h is not None and h.can_redo)
        self.act_undo.setText(f"&Undo {h.undo_label}" if h is not None and h.can_undo else "&Undo")
        self.act_redo.setText(f"&Redo {h.redo_label}" if h is not None and h.can_redo else "&Redo")
        self._check_autosave()
        self.historyChanged.emit()

    def _check_autosave(self) -> None:
        """Tell the user once when the crash journal cannot be written (disk full...), and
        when it works again: edits stay in memory, but only a save protects them."""
        error = self.edit.autosave_error if self.edit is not None else None
        if error is not None and self._autosave_reported is None:
            self.window.errors.report(error)
        elif error is None and self._autosave_reported is not None:
            bar = self.window.statusBar()  # after the edit's own status message
            QTimer.singleShot(0, lambda: bar.showMessage("Autosave works again", 8000))
        self._autosave_reported = error

    def _on_edit(self, change) -> None:  # noqa: ANN001 - core Change
        if self.preview is not None and change.hand is not None and not self.drag.active:
            # the document changed under the preview: recompute it on the same range
            self.update_preview()

    # ------------------------------------------------------------- recovery
    def _offer_recovery(self, info: Mapping[str, Any]) -> None:
        import datetime

        when = info.get("modified")
        stamp = datetime.datetime.fromtimestamp(when).strftime("%Y-%m-%d %H:%M:%S") if when else "?"
        n, last = info.get("changes", 0), info.get("last_change")
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Restore unsaved changes?",
            f"These labels have unsaved changes from a session that ended at {stamp}.",
            parent=self.window,
        )
        box.setObjectName("recoveryDialog")
        detail = f"{n} change{'s' if n != 1 else ''} after the last save"
        if last:
            detail += f" (the last: {last})"
        box.setInformativeText(detail + ". Restore them?")
        restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        restore.clicked.connect(lambda: self.answer_recovery(True))
        discard.clicked.connect(lambda: self.answer_recovery(False))
        self.recovery_dialog = box
        self.window.statusBar().showMessage("Unsaved changes of the last session found", 10000)
        box.open()

    def answer_recovery(self, restore: bool) -> None:
        """Restore the crashed session's work (True) or drop it (False)."""
        box, self.recovery_dialog = self.recovery_dialog, None
        if box is not None:
            box.close()
        edit = self.edit
        if edit is None or edit.recovery is None:
            return
        if not restore:
            edit.discard_recovery()
            self.window.statusBar().showMessage("Discarded the unsaved changes", 5000)
            return
        try:
            doc = edit.restore()
        except VidihandError as exc:
            self.window.errors.report(exc, title="Cannot restore the unsaved changes")
            edit.discard_recovery()
            return
        self._watch_history()
        frame = self.session.clock.frame
        self.session.set_document(doc, self.session.labels_path)
        self.session.clock.set_frame(frame)
        self.window.statusBar().showMessage("Restored the unsaved changes", 5000)

    # ---------------------------------------------------------------- edits
    def apply(self, label: str, edits: Mapping[str, Any] | list[Mapping[str, Any]]) -> bool:
        """Apply one edit or a list of edits as ONE undo step named `label`. Errors are shown;
        returns True when applied."""
        h = self.history
        if h is None:
            self.window.statusBar().showMessage("Open a video first", 5000)
            return False
        if self.edit.recovery is not None:
            self.window.statusBar().showMessage(
                "First answer whether to restore the unsaved changes of the last session", 8000
            )
            return False
        if self.drag.active:
            self.drag.finish()
        if self.drag3d.active:
            self.drag3d.finish()
        self.cancel_preview()
        items = [edits] if isinstance(edits, Mapping) else list(edits)
        try:
            with h.gesture(label):
                for e in items:
                    h.apply(e)
        except VidihandError as exc:
            self.window.errors.report(exc, title=f"Cannot {label.lower()}")
            return False
        self.window.statusBar().showMessage(label, 3000)
        return True

    def undo(self) -> None:
        h = self.history
        if h is None or h.in_gesture:
            return
        self.cancel_preview()
        step = h.undo()
        if step is not None:
            self.window.statusBar().showMessage(f"Undid {step.label}", 3000)

    def redo(self) -> None:
        h = self.history
        if h is None or h.in_gesture:
            return
        self.cancel_preview()
        step = h.redo()
        if step is not None:
            self.window.statusBar().showMessage(f"Redid {step.label}", 3000)

    # ------------------------------------------------------------ selection
    @property
    def frame(self) -> int:
        return self.session.clock.frame

    @property
    def hand_name(self) -> str:
        return HAND_NAMES[self.hand]

    def select(self, hand: int | None = None, joint: int | None = None) -> None:
        changed = False
        if hand is not None and hand != self.hand:
            self.hand, changed = int(hand), True
        if joint is not None and joint != self.joint:
            self.joint, changed = int(joint), True
        if changed:
            self.selectionChanged.emit()
            self.window.video_view.update()

    def toggle_hand(self) -> None:
        self.select(hand=1 - self.hand)

    def set_range(self, rng: tuple[int, int] | None) -> None:
        """The edit range (inclusive), clipped to the video; None clears it."""
        if rng is not None:
            doc = self.session.doc
            if doc is None:
                rng = None
            else:
                a, b = sorted((int(rng[0]), int(rng[1])))
                a, b = max(a, 0), min(b, doc.n_frames - 1)
                rng = (a, b) if a <= b else None
        if rng != self.range:
            self.range = rng
            self.rangeChanged.emit()

    def span(self) -> tuple[int, int]:
        """The edit range, or the current frame alone."""
        return self.range if self.range is not None else (self.frame, self.frame)

    def _span_text(self) -> str:
        a, b = self.span()
        return f"frame {a}" if a == b else f"frames {a}-{b}"

    def mark_start(self) -> None:
        end = self.range[1] if self.range else self.frame
        self.set_range((self.frame, max(end, self.frame)))

    def mark_end(self) -> None:
        start = self.range[0] if self.range else self.frame
        self.set_range((min(start, self.frame), self.frame))

    def open_range_dialog(self) -> RangeDialog | None:
        doc = self.session.doc
        if doc is None:
            return None
        dlg = RangeDialog(self.span(), doc.n_frames, self.window)
        dlg.accepted.connect(lambda d=dlg: self.set_range(d.value()))
        self.range_dialog = dlg
        dlg.open()
        return dlg

    def escape(self) -> None:
        """Escape: cancel a drag, else a smoothing preview, else clear the edit range."""
        if self.drag.active or self.drag3d.active:
            self.drag.cancel()
            self.drag3d.cancel()
        elif self.preview is not None:
            self.cancel_preview()
        else:
            self.set_range(None)

    # ---------------------------------------------------- timeline Ctrl+drag
    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802 - Qt API
        """Ctrl+drag on the timeline selects the edit range (plain drags still scrub)."""
        tl = self.window.timeline
        if obj is not tl:
            return False
        t = ev.type()
        if t == QEvent.Type.MouseButtonPress:
            if (
                ev.button() == Qt.MouseButton.LeftButton
                and ev.modifiers() & Qt.KeyboardModifier.ControlModifier
                and ev.position().x() >= HEADER_W
            ):
                f = self._tl_frame(ev.position().x())
                self._tl_select_from = f
                self.set_range((f, f))
                return True
        elif t == QEvent.Type.MouseMove and self._tl_select_from is not None:
            self.set_range((self._tl_select_from, self._tl_frame(ev.position().x())))
            return True
        elif t == QEvent.Type.MouseButtonRelease and self._tl_select_from is not None:
            self._tl_select_from = None
            return True
        return False

    def _tl_frame(self, x: float) -> int:
        tl = self.window.timeline
        n = max(self.session.clock.n_frames, 1)
        return int(np.clip(tl.frame_at(x), 0, n - 1))

    # ------------------------------------------------------------ range ops
    def set_present(self, present: bool | None = None) -> bool:
        """Selected hand present/absent on the range (None: toggle from the current frame)."""
        doc = self.session.doc
        if doc is None:
            return False
        if present is None:
            present = not bool(doc.hands[self.hand].present[self.frame])
        a, b = self.span()
        word = "present" if present else "absent"
        return self.apply(
            f"Set {HAND_LABELS[self.hand].lower()} {word} on {self._span_text()}",
            {"op": "set_present", "hand": self.hand_name, "start": a, "end": b,
             "present": present},
        )  # fmt: skip

    def swap_hands(self) -> bool:
        a, b = self.span()
        return self.apply(
            f"Swap hands on {self._span_text()}", {"op": "swap_hands", "start": a, "end": b}
        )

    def copy_pose(self, direction: str) -> bool:
        a, b = self.span()
        frames = range(a, b + 1) if direction == "prev" else range(b, a - 1, -1)
        # over a range, copying frame by frame from the side: every frame gets the pose of the
        # frame just outside the range (the nearest known one)
        edits = [
            {"op": "copy_pose", "hand": self.hand_name, "frame": f, "from": direction}
            for f in frames
        ]
        word = "previous" if direction == "prev" else "next"
        return self.apply(f"Copy {HAND_LABELS[self.hand].lower()} pose from {word} frame", edits)

    def delete_range(self) -> bool:
        a, b = self.span()
        return self.apply(
            f"Delete {HAND_LABELS[self.hand].lower()} on {self._span_text()}",
            {"op": "delete_range", "hand": self.hand_name, "start": a, "end": b},
        )

    def toggle_keyframe(self) -> bool:
        doc = self.session.doc
        if doc is None:
            return False
        on = not bool(doc.hands[self.hand].keyframe[self.frame])
        a, b = self.span()
        return self.apply(
            f"{'Mark' if on else 'Unmark'} keyframe",
            {"op": "set_keyframe", "hand": self.hand_name, "start": a, "end": b, "keyframe": on},
        )

    def interpolate(self) -> bool:
        """Interpolate the selected hand over the edit range, or between the keyframes around
        the current frame when there is no range."""
        doc = self.session.doc
        if doc is None:
            return False
        if self.range is not None and self.range[1] - self.range[0] >= 2:
            a, b = self.range
        else:
            f, h = self.frame, self.hand
            if doc.hands[h].keyframe[f]:
                # standing on a keyframe: fill up to the next one (never across this one)
                nxt = next_keyframe(doc, f, h)
                span = (f, nxt) if nxt is not None else None
            else:
                span = keyframe_span(doc, f, h)
            if span is None:
                self.window.errors.report(
                    ErrorInfo(
                        "No keyframes around this frame",
                        f"Interpolation fills the frames between two keyframes of the "
                        f"{HAND_LABELS[self.hand].lower()} hand; frame {self.frame} has none on "
                        "one side.",
                        "Edit or mark keyframes (Ctrl+K) on both sides, or select a range "
                        "(Ctrl+drag on the timeline, or [ and ]).",
                    )
                )
                return False
            a, b = span
        return self.apply(
            f"Interpolate {HAND_LABELS[self.hand].lower()} {a}-{b}",
            {"op": "interpolate", "hand": self.hand_name, "start": int(a), "end": int(b)},
        )

    # ------------------------------------------------------------- smoothing
    def start_smooth(self, sigma: float | None = None) -> bool:
        """Show what smoothing the range would do (overlay, 3D); Apply or Cancel in the bar."""
        a, b = self.span()
        if b - a < 2:
            self.window.errors.report(
                ErrorInfo(
                    "Select a range to smooth",
                    "Smoothing needs at least three frames.",
                    "Ctrl+drag on the timeline, or mark the start and end with [ and ].",
                )
            )
            return False
        self.preview_params = (self.hand, a, b, float(sigma or self.smooth_bar.sigma()))
        self.smooth_bar.show_for(self.preview_params)
        return self.update_preview()

    def update_preview(self, sigma: float | None = None) -> bool:
        if self.preview_params is None or self.session.doc is None:
            return False
        hand, a, b, s = self.preview_params
        if sigma is not None:
            s = float(sigma)
            self.preview_params = (hand, a, b, s)
        try:
            self.preview = preview_smooth(self.session.doc, hand, a, b, s)
        except VidihandError as exc:
            self.window.errors.report(exc, title="Cannot smooth")
            self.cancel_preview()
            return False
        self.previewChanged.emit()
        self.window.video_view.update()
        return True

    def apply_smooth(self) -> bool:
        if self.preview_params is None:
            return False
        hand, a, b, s = self.preview_params
        return self.apply(
            f"Smooth {HAND_LABELS[hand].lower()} {a}-{b}",
            {"op": "smooth", "hand": HAND_NAMES[hand], "start": a, "end": b, "sigma": s},
        )

    def cancel_preview(self) -> None:
        if self.preview is None and self.preview_params is None:
            return
        self.preview = None
        self.preview_params = None
        self.smooth_bar.hide()
        self.previewChanged.emit()
        self.window.video_view.update()

    # ---------------------------------------------------------------- review
    def mark_reviewed(self, reviewed: bool = True) -> bool:
        a, b = self.span()
        return self.apply(
            f"Mark {self._span_text()} {'reviewed' if reviewed else 'not reviewed'}",
            {"op": "set_reviewed", "hand": "both", "start": a, "end": b, "reviewed": reviewed},
        )

    def set_flag(self, name: str, on: bool) -> bool:
        a, b = self.span()
        return self.apply(
            f"{'Flag' if on else 'Unflag'} {name.replace('_', ' ')}",
            {"op": "set_flags", "hand": self.hand_name, "start": a, "end": b, "flags": [name],
             "on": on},
        )  # fmt: skip

    def set_note(self, text: str) -> bool:
        doc = self.session.doc
        if doc is None or doc.notes.get(self.frame, "") == text:
            return False
        return self.apply("Edit note", {"op": "set_note", "frame": self.frame, "text": text})

    def jump(self, kind: str, forward: bool = True) -> int | None:
        """Move the clock to the next (or previous) unreviewed / flagged / keyframe frame."""
        doc = self.session.doc
        if doc is None:
            return None
        f = self.frame
        if kind == "unreviewed":
            target = next_unreviewed(doc, f, forward=forward)
        elif kind == "flagged":
            target = next_flagged(doc, f, forward=forward)
        elif kind == "keyframe":
            target = next_keyframe(doc, f) if forward else prev_keyframe(doc, f)
        else:
            raise ValueError(kind)
        if target is None:
            self.window.statusBar().showMessage(
                f"No {kind} frame {'after' if forward else 'before'} frame {f}", 4000
            )
            return None
        self.session.clock.set_frame(target)
        return target

    # --------------------------------------------------------------- actions
    def _build_actions(self) -> None:
        A = self.window.action
        self.act_undo = A("&Undo", self.undo, "Ctrl+Z")
        self.act_redo = A("&Redo", self.redo, "Ctrl+Shift+Z")
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.act_escape = A("Cancel Drag / Preview / Range", self.escape, "Escape")
        self.act_range_start = A("Range Start Here", self.mark_start, "[")
        self.act_range_end = A("Range End Here", self.mark_end, "]")
        self.act_range_dialog = A("Select &Range...", self.open_range_dialog, "Ctrl+Shift+R")
        self.act_range_clear = A("Clear Range", lambda: self.set_range(None))
        self.act_hand = A("Select Other &Hand", self.toggle_hand, "H")
        self.act_present = A("Toggle Hand &Present", lambda: self.set_present(None), "P",
                             "Selected hand present/absent on the range or frame")  # fmt: skip
        self.act_set_present = A("Set Hand Present", lambda: self.set_present(True))
        self.act_set_absent = A("Set Hand Absent", lambda: self.set_present(False))
        self.act_swap = A("S&wap Left/Right", self.swap_hands, "W")
        self.act_copy_prev = A("Copy Pose from &Previous Frame", lambda: self.copy_pose("prev"),
                               "Ctrl+Left")  # fmt: skip
        self.act_copy_next = A("Copy Pose from &Next Frame", lambda: self.copy_pose("next"),
                               "Ctrl+Right")  # fmt: skip
        self.act_delete = A("&Delete Hand on Range", self.delete_range, "Delete")
        self.act_keyframe = A("Toggle &Keyframe", self.toggle_keyframe, "Ctrl+K")
        self.act_interpolate = A("&Interpolate Between Keyframes", self.interpolate, "I")
        self.act_smooth = A("S&mooth Range...", lambda: self.start_smooth(), "S",
                            "Preview smoothing of the range; Apply or Cancel")  # fmt: skip
        from app.refine_ui import RefineRange  # Edit > Refine Range... (its own module)

        self.refine_range = RefineRange(self)
        self.act_refine = A("Re&fine Range...", self.refine_range.start, "Ctrl+Shift+F",
                            "Refit the range to the detections and your keyframes; preview, "
                            "then Apply or Cancel")  # fmt: skip
        self.act_reviewed = A("Mark &Reviewed", lambda: self.mark_reviewed(True), "R")
        self.act_unreviewed = A("Mark Not Reviewed", lambda: self.mark_reviewed(False), "Shift+R")
        self.act_next_unrev = A("Next &Unreviewed", lambda: self.jump("unreviewed"), "N")
        self.act_prev_unrev = A("Previous Unreviewed", lambda: self.jump("unreviewed", False),
                                "Shift+N")  # fmt: skip
        self.act_next_flag = A("Next &Flagged", lambda: self.jump("flagged"), "G")
        self.act_prev_flag = A("Previous Flagged", lambda: self.jump("flagged", False), "Shift+G")
        self.act_next_key = A("Next Keyframe", lambda: self.jump("keyframe"), ".")
        self.act_prev_key = A("Previous Keyframe", lambda: self.jump("keyframe", False), ",")
        self._history_changed()

        bar = self.window.menuBar()
        menus = {a.text().replace("&", ""): a for a in bar.actions()}
        menu = QMenu("&Edit", bar)
        menu.addActions([self.act_undo, self.act_redo])
        menu.addSeparator()
        menu.addActions([self.act_range_start, self.act_range_end, self.act_range_dialog,
                         self.act_range_clear, self.act_hand])  # fmt: skip
        menu.addSeparator()
        menu.addActions([self.act_present, self.act_set_present, self.act_set_absent,
                         self.act_swap, self.act_copy_prev, self.act_copy_next,
                         self.act_delete])  # fmt: skip
        menu.addSeparator()
        menu.addActions([self.act_keyframe, self.act_interpolate, self.act_smooth,
                         self.act_refine])  # fmt: skip
        menu.addSeparator()
        menu.addAction(self.act_escape)
        after_file = None
        names = list(menus)
        if "File" in names and names.index("File") + 1 < len(names):
            after_file = menus[names[names.index("File") + 1]]
        if after_file is not None:
            bar.insertMenu(after_file, menu)
        else:
            bar.addMenu(menu)
        self.edit_menu = menu
        review = QMenu("Re&view", bar)
        review.addActions([self.act_reviewed, self.act_unreviewed])
        review.addSeparator()
        review.addActions([self.act_next_unrev, self.act_prev_unrev, self.act_next_flag,
                           self.act_prev_flag, self.act_next_key, self.act_prev_key])  # fmt: skip
        bar.insertMenu(after_file, review) if after_file is not None else bar.addMenu(review)
        self.review_menu = review
        view = menus["View"].menu() if "View" in menus else None
        if isinstance(view, QMenu):
            view.addAction(self.dock_inspector.toggleViewAction())

    def _after_lane(self, hand: int, label: str) -> int:
        lanes = self.window.timeline.lanes
        idx = [
            i for i, lane in enumerate(lanes)
            if lane.group == HAND_LABELS[hand] and lane.label == label
        ]  # fmt: skip
        if idx:
            return idx[-1] + 1
        idx = [i for i, lane in enumerate(lanes) if lane.group == HAND_LABELS[hand]]
        return idx[-1] + 1 if idx else len(lanes)

    # -------------------------------------------------------------- shutdown
    def shutdown(self) -> None:
        """The window closes: stop journaling (the journal stays only for unsaved work)."""
        self.drag.cancel()
        self._close_edit()
        self.mano.shutdown()


#: keys of the editing actions, for the shortcuts list and docs/app.md
EDIT_SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo (one step per gesture; a whole drag is one)"),
    ("drag a joint", "move it in the image (3D at its depth; MANO refit on release); Esc cancels"),
    ("H", "select the other hand (also: click a joint)"),
    ("Ctrl+drag / Ctrl+Shift+drag in 3D", "move / rotate the selected hand (one undo step)"),
    ("Ctrl+drag timeline, [ / ]", "edit range; Ctrl+Shift+R: range dialog; Esc clears it"),
    ("P", "selected hand present / absent on the range or frame"),
    ("W", "swap left and right on the range or frame"),
    ("Ctrl+Left / Ctrl+Right", "copy the pose from the previous / next frame"),
    ("Delete", "delete the selected hand on the range or frame"),
    ("Ctrl+K", "toggle keyframe"),
    ("I", "interpolate between the keyframes around the frame (or over the range)"),
    ("S", "smooth the range: preview, then Apply or Cancel"),
    ("R / Shift+R", "mark reviewed / not reviewed"),
    ("N / Shift+N", "next / previous unreviewed frame"),
    ("G / Shift+G", "next / previous flagged frame"),
    (". / ,", "next / previous keyframe"),
)


def install_editing(window: MainWindow) -> EditController:
    import app.main_window as mw

    if EDIT_SHORTCUTS[0] not in mw.SHORTCUTS:  # the F1 list shows the editing keys too
        mw.SHORTCUTS = (*mw.SHORTCUTS, *EDIT_SHORTCUTS)
    return EditController(window)
