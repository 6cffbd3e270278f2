"""Editing in the review window: the edit commands of one window, over the open work.

`install_editing(parts)` adds editing through the window's `WindowParts`; the pieces are
separate, each built from what it uses:

- the open document, its undo history and crash journal belong to the workspace
  (`core.workspace.Workspace`, through `Session`); a crashed session's journal is offered back
  here ("Restore unsaved changes?", non-blocking, `answer_recovery` for tests);
- `Selection` (app/selection.py): selected hand and joint, the edit range, the timeline's
  Ctrl+drag; `SmoothPreview` (app/smooth_preview.py): the smoothing preview's model;
- `RefineRange` (app/refine_ui.py): Edit > Refine Range...'s bar, its preview held in the
  smoothing preview's model;
- the commands (this class): range operations on the selected hand over the edit range or the
  current frame, review marks, jumps; the span choice of interpolation and the copy-pose fan-out
  are Qt-free (core/edits/commands.py);
- the actions binding them to menus and keys (app/edit_actions.py);
- joint dragging in the overlay (app/joint_drag.py), hand dragging in 3D (app/hand_drag3d.py),
  the inspector dock (app/widgets/inspector.py), keyframe and range lanes, the smoothing
  preview in 3D (app/widgets/preview3d.py), MANO (app/mano_ui.py).

User input becomes `EditController.apply(label, edits)`: one undoable gesture through
`EditHistory`, whose document writes redraw every view via `Session.documentEdited`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox, QScrollArea

from app.edit_actions import EDIT_GESTURES, edit_actions
from app.errors import ErrorInfo
from app.hand_drag3d import HandDrag3D
from app.joint_drag import JointDrag, SelectionOverlay
from app.mano_ui import ManoUI
from app.refine_ui import RefineRange
from app.selection import RangeDrag, Selection
from app.shell import WindowParts
from app.smooth_preview import SmoothPreview
from app.widgets.colors import HAND_LABELS
from app.widgets.edit_lanes import keyframe_lane, range_lane
from app.widgets.inspector import Inspector
from app.widgets.preview3d import Preview3D
from app.widgets.range_dialog import RangeDialog, SmoothBar
from core.edits import EditHistory, EditSession, next_marked
from core.edits.commands import copy_pose_edits, interpolation_span
from core.errors import EditError, VidihandError
from core.labels.document import Patch
from core.labels.joints import HAND_NAMES


class EditController(QObject):
    """The window's edit commands over the open work (see the module docstring)."""

    #: undo/redo state changed (labels, enabled)
    historyChanged = Signal()

    def __init__(self, parts: WindowParts) -> None:
        super().__init__(parts.dialog_parent)
        self.parts = parts
        session = self.session = parts.session
        #: the "restore unsaved changes?" box while it is open
        self.recovery_dialog: QMessageBox | None = None
        self.range_dialog: RangeDialog | None = None

        self.selection = Selection(session, self)
        self.range_drag = RangeDrag(self.selection, parts.timeline)
        self.smoothing = SmoothPreview(session, parts.errors.report, self)
        self.mano = ManoUI(
            session, parts.view3d, parts.settings, parts.errors, parts.status_bar,
            parts.actions, parts.dialog_parent,
        )  # fmt: skip
        self.smooth_bar = SmoothBar(self.smoothing, self.apply_smooth)
        self.refine_range = RefineRange(  # Edit > Refine Range...: a bar in the status bar
            session, self.selection, self.smoothing, self.apply, parts.errors.report,
            parts.status_bar,
        )  # fmt: skip
        self.inspector = Inspector(session, self.selection, self, self.smooth_bar)
        scroll = QScrollArea()  # scrolls rather than squeezing the 3D view above it
        scroll.setWidget(self.inspector)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.dock_inspector = parts.docks.add(
            "Inspector", "dockInspector", scroll, tab_with="dockRecon"
        )
        self.drag = JointDrag(
            session, self.selection, self.smoothing, parts.video_view, parts.errors, parts.status,
            on_pick=self.dock_inspector.raise_,
        )  # fmt: skip
        self.smoothing.paused = lambda: self.drag.active
        self.drag3d = HandDrag3D(  # Ctrl(+Shift)+drag in the 3D view
            session, self.selection, self.smoothing, parts.view3d, parts.errors, parts.status
        )
        self.preview3d = Preview3D(self.smoothing, session.clock, parts.view3d)
        self.selection_overlay = SelectionOverlay(
            session, self.selection, self.smoothing, parts.video_view
        )
        parts.video_view.overlay_painters.append(self.selection_overlay)

        tl = parts.timeline
        self.lanes = [keyframe_lane(h) for h in (0, 1)]
        for lane in self.lanes:
            tl.add_lane(lane, after="source")
        self.range_lane = range_lane(self.selection)
        tl.add_lane(self.range_lane)  # last, in the "Review" group
        self.selection.rangeChanged.connect(tl.refresh_lanes)
        self.selection.selectionChanged.connect(parts.video_view.update)
        self.smoothing.previewChanged.connect(parts.video_view.update)

        session.documentReplaced.connect(self._on_document)
        session.historyChanged.connect(self._history_changed)
        # the failure itself comes through session.problem (the window's error reporter)
        session.autosaveRestored.connect(self._autosave_restored)
        # each declared action is also an attribute: "edit.undo" -> self.act_undo
        for action in edit_actions(self):
            setattr(self, "act_" + action.id.split(".", 1)[1], parts.actions.add(action))
        for keys, what in EDIT_GESTURES:
            parts.actions.add_gesture("Editing", keys, what)
        self._history_changed()
        if session.doc is not None:
            self._on_document()

    # ------------------------------------------------------- state, for views
    @property
    def edit(self) -> EditSession | None:
        """The open document's undo history and journal (owned by the session's workspace)."""
        return self.session.edit_session

    @property
    def history(self) -> EditHistory | None:
        return self.session.history

    def has_document(self) -> bool:
        return self.session.doc is not None

    @property
    def hand(self) -> int:
        return self.selection.hand

    @property
    def range(self) -> tuple[int, int] | None:
        return self.selection.range

    @property
    def preview(self) -> Patch | None:
        """What the smoothing preview would write (None when none is shown)."""
        return self.smoothing.patch

    def select(self, hand: int | None = None, joint: int | None = None) -> None:
        self.selection.select(hand, joint)

    def set_range(self, rng: tuple[int, int] | None) -> None:
        self.selection.set_range(rng)

    def _on_document(self) -> None:
        """Another document is open (or the crashed session's work was restored): drop the
        editing state of the old one, and offer a crashed session's work back."""
        self.cancel_preview()
        self.drag.cancel()
        self._close_recovery_dialog()
        self.selection.set_range(None)
        self.parts.actions.refresh()
        recovery = self.session.recovery
        if recovery is not None:
            self._offer_recovery(recovery)

    def _close_recovery_dialog(self) -> None:
        if self.recovery_dialog is not None:
            self.recovery_dialog.close()
            self.recovery_dialog = None

    def _history_changed(self) -> None:
        h = self.history
        self.parts.actions.refresh()
        self.act_undo.setText(f"&Undo {h.undo_label}" if h is not None and h.can_undo else "&Undo")
        self.act_redo.setText(f"&Redo {h.redo_label}" if h is not None and h.can_redo else "&Redo")
        self.historyChanged.emit()

    def _autosave_restored(self) -> None:
        bar = self.parts.status_bar  # after the edit's own status message
        QTimer.singleShot(0, lambda: bar.showMessage("Autosave works again", 8000))

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
            parent=self.parts.dialog_parent,
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
        self.parts.status("Unsaved changes of the last session found", 10000)
        box.open()

    def answer_recovery(self, restore: bool) -> None:
        """Restore the crashed session's work (True) or drop it (False)."""
        box, self.recovery_dialog = self.recovery_dialog, None
        if box is not None:
            box.close()
        if self.session.recovery is None:
            return
        if not restore:
            self.session.discard_recovery()
            self.parts.status("Discarded the unsaved changes", 5000)
            return
        try:
            self.session.restore_recovery()  # the workspace replaces the document
        except VidihandError as exc:
            self.parts.errors.report(exc, title="Cannot restore the unsaved changes")
            self.session.discard_recovery()
            return
        self.parts.status("Restored the unsaved changes", 5000)

    # ---------------------------------------------------------------- edits
    def apply(self, label: str, edits: Mapping[str, Any] | list[Mapping[str, Any]]) -> bool:
        """Apply one edit or a list of edits as ONE undo step named `label`. Errors are shown;
        returns True when applied."""
        h = self.history
        if h is None:
            self.parts.status("Open a video first", 5000)
            return False
        if self.session.recovery is not None:
            self.parts.status(
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
            self.parts.errors.report(exc, title=f"Cannot {label.lower()}")
            return False
        self.parts.status(label, 3000)
        return True

    def undo(self) -> None:
        h = self.history
        if h is None or h.in_gesture:
            return
        self.cancel_preview()
        step = h.undo()
        if step is not None:
            self.parts.status(f"Undid {step.label}", 3000)

    def redo(self) -> None:
        h = self.history
        if h is None or h.in_gesture:
            return
        self.cancel_preview()
        step = h.redo()
        if step is not None:
            self.parts.status(f"Redid {step.label}", 3000)

    # ------------------------------------------------------------ range ops
    def set_present(self, present: bool | None = None) -> bool:
        """Selected hand present/absent on the range (None: toggle from the current frame)."""
        doc = self.session.doc
        if doc is None:
            return False
        if present is None:
            present = not bool(doc.hands[self.selection.hand].present[self.selection.frame])
        a, b = self.selection.span()
        word = "present" if present else "absent"
        return self.apply(
            f"Set {HAND_LABELS[self.selection.hand].lower()} {word} on {self.selection.span_text()}",
            {"op": "set_present", "hand": self.selection.hand_name, "start": a, "end": b,
             "present": present},
        )  # fmt: skip

    def swap_hands(self) -> bool:
        a, b = self.selection.span()
        return self.apply(
            f"Swap hands on {self.selection.span_text()}",
            {"op": "swap_hands", "start": a, "end": b},
        )

    def copy_pose(self, direction: str) -> bool:
        """Copy the pose from the previous (next) frame with one, over the range or frame."""
        a, b = self.selection.span()
        hand = self.selection.hand
        word = "previous" if direction == "prev" else "next"
        return self.apply(
            f"Copy {HAND_LABELS[hand].lower()} pose from {word} frame",
            copy_pose_edits(hand, a, b, direction),
        )

    def delete_range(self) -> bool:
        a, b = self.selection.span()
        return self.apply(
            f"Delete {HAND_LABELS[self.selection.hand].lower()} on {self.selection.span_text()}",
            {"op": "delete_range", "hand": self.selection.hand_name, "start": a, "end": b},
        )

    def toggle_keyframe(self) -> bool:
        doc = self.session.doc
        if doc is None:
            return False
        on = not bool(doc.hands[self.selection.hand].keyframe[self.selection.frame])
        a, b = self.selection.span()
        return self.apply(
            f"{'Mark' if on else 'Unmark'} keyframe",
            {
                "op": "set_keyframe",
                "hand": self.selection.hand_name,
                "start": a,
                "end": b,
                "keyframe": on,
            },
        )

    def interpolate(self) -> bool:
        """Interpolate the selected hand over the edit range, or between the keyframes around
        the current frame when there is none (core.edits.commands.interpolation_span)."""
        doc, sel = self.session.doc, self.selection
        if doc is None:
            return False
        try:
            a, b = interpolation_span(doc, sel.hand, sel.frame, sel.range)
        except EditError as exc:
            self.parts.errors.report(exc, title="No keyframes around this frame")
            return False
        return self.apply(
            f"Interpolate {HAND_LABELS[sel.hand].lower()} {a}-{b}",
            {"op": "interpolate", "hand": sel.hand_name, "start": a, "end": b},
        )

    # ------------------------------------------------------------- smoothing
    def start_smooth(self, sigma: float | None = None) -> bool:
        """Show what smoothing the range would do (overlay, 3D); Apply or Cancel in the bar."""
        a, b = self.selection.span()
        if b - a < 2:
            self.parts.errors.report(
                ErrorInfo(
                    "Select a range to smooth",
                    "Smoothing needs at least three frames.",
                    "Ctrl+drag on the timeline, or mark the start and end with [ and ].",
                )
            )
            return False
        return self.smoothing.show(
            self.selection.hand, a, b, float(sigma or self.smooth_bar.sigma())
        )

    def update_preview(self, sigma: float | None = None) -> bool:
        return self.smoothing.update(sigma)

    # ------------------------------------------------------------ refinement
    def start_refine(self) -> bool:
        """Show the refit of the range (app/refine_ui.py); Apply or Cancel in its bar."""
        return self.refine_range.start()

    def apply_smooth(self) -> bool:
        if self.smoothing.params is None:
            return False
        hand, a, b, s = self.smoothing.params
        return self.apply(
            f"Smooth {HAND_LABELS[hand].lower()} {a}-{b}",
            {"op": "smooth", "hand": HAND_NAMES[hand], "start": a, "end": b, "sigma": s},
        )

    def cancel_preview(self) -> None:
        self.smoothing.cancel()

    # ---------------------------------------------------------------- review
    def mark_reviewed(self, reviewed: bool = True) -> bool:
        a, b = self.selection.span()
        return self.apply(
            f"Mark {self.selection.span_text()} {'reviewed' if reviewed else 'not reviewed'}",
            {"op": "set_reviewed", "hand": "both", "start": a, "end": b, "reviewed": reviewed},
        )

    def set_flag(self, name: str, on: bool) -> bool:
        a, b = self.selection.span()
        return self.apply(
            f"{'Flag' if on else 'Unflag'} {name.replace('_', ' ')}",
            {"op": "set_flags", "hand": self.selection.hand_name, "start": a, "end": b, "flags": [name],
             "on": on},
        )  # fmt: skip

    def set_note(self, text: str) -> bool:
        doc = self.session.doc
        if doc is None or doc.notes.get(self.selection.frame, "") == text:
            return False
        return self.apply(
            "Edit note", {"op": "set_note", "frame": self.selection.frame, "text": text}
        )

    def jump(self, kind: str, forward: bool = True) -> int | None:
        """Move the clock to the next (or previous) unreviewed / flagged / keyframe frame."""
        doc = self.session.doc
        if doc is None:
            return None
        f = self.selection.frame
        target = next_marked(doc, f, kind, forward=forward)
        if target is None:
            self.parts.status(f"No {kind} frame {'after' if forward else 'before'} frame {f}", 4000)
            return None
        self.session.clock.set_frame(target)
        return target

    def open_range_dialog(self) -> RangeDialog | None:
        doc = self.session.doc
        if doc is None:
            return None
        dlg = RangeDialog(self.selection.span(), doc.n_frames, self.parts.dialog_parent)
        dlg.accepted.connect(lambda d=dlg: self.selection.set_range(d.value()))
        self.range_dialog = dlg
        dlg.open()
        return dlg

    def escape(self) -> None:
        """Escape: cancel a drag, else a smoothing or refine preview, else clear the edit range."""
        if self.drag.active or self.drag3d.active:
            self.drag.cancel()
            self.drag3d.cancel()
        elif self.smoothing.active:
            self.cancel_preview()
        else:
            self.selection.set_range(None)

    # -------------------------------------------------------------- shutdown
    def shutdown(self) -> None:
        """The window closes: end a drag and close the MANO cache."""
        self.drag.cancel()
        self._close_recovery_dialog()
        self.mano.shutdown()


def install_editing(parts: WindowParts) -> EditController:
    return EditController(parts)
