"""The editing commands of the window, declared as data (app/actions.py): Edit and Review menus,
their shortcuts and enabled-when conditions, and the F1 lines for the editing gestures.

A feature that adds an edit declares one more `Action` with menu "Edit" and a group, as Refine
Range... ("edit.refine", app/refine_ui.py) does; nothing else changes.
"""

from __future__ import annotations

from typing import Protocol

from app.actions import Action
from app.selection import Selection
from core.edits import EditHistory


class EditCommands(Protocol):
    """What the actions call (app/editing.py's `EditController`: typed by what it offers, so
    neither module imports the other)."""

    selection: Selection

    @property
    def history(self) -> EditHistory | None: ...

    def has_document(self) -> bool: ...
    def undo(self) -> None: ...
    def redo(self) -> None: ...
    def open_range_dialog(self) -> object: ...
    def set_present(self, present: bool | None = None) -> bool: ...
    def swap_hands(self) -> bool: ...
    def copy_pose(self, direction: str) -> bool: ...
    def delete_range(self) -> bool: ...
    def toggle_keyframe(self) -> bool: ...
    def interpolate(self) -> bool: ...
    def start_smooth(self, sigma: float | None = None) -> bool: ...
    def start_refine(self) -> bool: ...
    def escape(self) -> None: ...
    def mark_reviewed(self, reviewed: bool = True) -> bool: ...
    def jump(self, kind: str, forward: bool = True) -> int | None: ...


#: F1 lines for what no action owns (mouse gestures)
EDIT_GESTURES: tuple[tuple[str, str], ...] = (
    ("drag a joint", "move it in the image (3D at its depth; MANO refit on release); Esc cancels"),
    ("Ctrl+drag / Ctrl+Shift+drag in 3D", "move / rotate the selected hand (one undo step)"),
    ("Ctrl+drag timeline", "select the edit range"),
)


def edit_actions(ed: EditCommands) -> list[Action]:
    """The Edit and Review menus' actions, bound to the controller `ed`."""
    sel = ed.selection
    has_doc = ed.has_document

    def can_undo() -> bool:
        return ed.history is not None and ed.history.can_undo

    def can_redo() -> bool:
        return ed.history is not None and ed.history.can_redo

    E, R = "Edit", "Review"
    return [
        Action("edit.undo", "&Undo", ed.undo, "Ctrl+Z", E, "history", enabled_when=can_undo,
               help="undo (one step per gesture; a whole drag is one)"),
        Action("edit.redo", "&Redo", ed.redo, ("Ctrl+Shift+Z", "Ctrl+Y"), E, "history",
               enabled_when=can_redo, help="redo"),
        Action("edit.range_start", "Range Start Here", sel.mark_start, "[", E, "range",
               help="edit range starts here"),
        Action("edit.range_end", "Range End Here", sel.mark_end, "]", E, "range",
               help="edit range ends here"),
        Action("edit.range_dialog", "Select &Range...", ed.open_range_dialog, "Ctrl+Shift+R",
               E, "range", enabled_when=has_doc, help="edit range dialog"),
        Action("edit.range_clear", "Clear Range", lambda: sel.set_range(None), menu=E,
               group="range"),
        Action("edit.hand", "Select Other &Hand", sel.toggle_hand, "H", E, "range",
               help="select the other hand (also: click a joint)"),
        Action("edit.present", "Toggle Hand &Present", lambda: ed.set_present(None), "P",
               E, "hand", tip="Selected hand present/absent on the range or frame",
               enabled_when=has_doc, help="selected hand present / absent on the range or frame"),
        Action("edit.set_present", "Set Hand Present", lambda: ed.set_present(True), menu=E,
               group="hand", enabled_when=has_doc),
        Action("edit.set_absent", "Set Hand Absent", lambda: ed.set_present(False), menu=E,
               group="hand", enabled_when=has_doc),
        Action("edit.swap", "S&wap Left/Right", ed.swap_hands, "W", E, "hand",
               enabled_when=has_doc, help="swap left and right on the range or frame"),
        Action("edit.copy_prev", "Copy Pose from &Previous Frame", lambda: ed.copy_pose("prev"),
               "Ctrl+Left", E, "hand", enabled_when=has_doc,
               help="copy the pose from the previous frame with a pose"),
        Action("edit.copy_next", "Copy Pose from &Next Frame", lambda: ed.copy_pose("next"),
               "Ctrl+Right", E, "hand", enabled_when=has_doc,
               help="copy the pose from the next frame with a pose"),
        Action("edit.delete", "&Delete Hand on Range", ed.delete_range, "Delete", E, "hand",
               enabled_when=has_doc, help="delete the selected hand on the range or frame"),
        Action("edit.keyframe", "Toggle &Keyframe", ed.toggle_keyframe, "Ctrl+K", E, "track",
               enabled_when=has_doc, help="toggle keyframe"),
        Action("edit.interpolate", "&Interpolate Between Keyframes", ed.interpolate, "I", E,
               "track", enabled_when=has_doc,
               help="interpolate between the keyframes around the frame (or over the range)"),
        Action("edit.smooth", "S&mooth Range...", lambda: ed.start_smooth(), "S", E, "track",
               tip="Preview smoothing of the range; Apply or Cancel", enabled_when=has_doc,
               help="smooth the range: preview, then Apply or Cancel"),
        Action("edit.refine", "Re&fine Range...", ed.start_refine, "Ctrl+Shift+F", E, "track",
               tip="Refit the range to the detections and your keyframes; preview, then Apply "
               "or Cancel", enabled_when=has_doc,
               help="refine the range (refit to detections and keyframes): preview, then Apply "
               "or Cancel"),
        Action("edit.escape", "Cancel Drag / Preview / Range", ed.escape, "Escape", E, "escape",
               help="cancel a drag, a preview, or clear the edit range"),
        Action("review.reviewed", "Mark &Reviewed", lambda: ed.mark_reviewed(True), "R", R,
               "marks", enabled_when=has_doc, help="mark reviewed (both hands)"),
        Action("review.unreviewed", "Mark Not Reviewed", lambda: ed.mark_reviewed(False),
               "Shift+R", R, "marks", enabled_when=has_doc, help="mark not reviewed"),
        Action("review.next_unrev", "Next &Unreviewed", lambda: ed.jump("unreviewed"), "N",
               R, "jumps", help="next unreviewed frame"),
        Action("review.prev_unrev", "Previous Unreviewed",
               lambda: ed.jump("unreviewed", False), "Shift+N", R, "jumps",
               help="previous unreviewed frame"),
        Action("review.next_flag", "Next &Flagged", lambda: ed.jump("flagged"), "G", R,
               "jumps", help="next flagged frame (flags or a note)"),
        Action("review.prev_flag", "Previous Flagged", lambda: ed.jump("flagged", False),
               "Shift+G", R, "jumps", help="previous flagged frame"),
        Action("review.next_key", "Next Keyframe", lambda: ed.jump("keyframe"), ".", R,
               "jumps", help="next keyframe"),
        Action("review.prev_key", "Previous Keyframe", lambda: ed.jump("keyframe", False),
               ",", R, "jumps", help="previous keyframe"),
    ]  # fmt: skip
