"""The inspector dock: the selected hand on the current frame, and its edits.

Shows presence, source, review state, keyframe, flags and the frame's note; edits them, rotates
and moves the whole hand (Euler angles in degrees and millimetres in the camera frame, applied
about the wrist: `transform_hand`) and sets the selected joint's MANO rotation
(`set_joint_rotation`, axis-angle in degrees). Every control calls the edit commands (`EditCommands`,
the `EditController`), never the document: each change is one undo step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from scipy.spatial.transform import Rotation

from app.selection import Selection
from app.session import Session
from app.widgets import steady_label
from app.widgets.colors import HAND_LABELS
from core.labels.document import FLAG_NAMES, Change, Source
from core.labels.joints import JOINT_NAMES, MANO16_TO_21

#: label joints that have a MANO rotation (the wrist and the non-tip finger joints)
ROTATABLE = tuple(sorted(MANO16_TO_21))


def euler_to_axis_angle(deg: np.ndarray) -> np.ndarray:
    """Rotation by X, then Y, then Z (degrees, camera axes: extrinsic "xyz") as axis-angle
    (radians)."""
    return np.asarray(
        Rotation.from_euler("xyz", np.asarray(deg, np.float64), degrees=True).as_rotvec(),
        np.float64,
    )


def _state_text(source: Source, reviewed: bool, conf: float, mano: str) -> str:
    return f"{source.name.lower()} · {'reviewed' if reviewed else 'not reviewed'} · conf {conf:.2f} · {mano}"


def _spin(lo: float, hi: float, step: float, suffix: str, decimals: int = 1) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setSuffix(suffix)
    box.setKeyboardTracking(False)
    box.setMinimumWidth(64)  # narrower than its hint: the dock shares its width with the 3D view
    return box


class EditCommands(Protocol):
    """What the inspector asks of the editor (app/editing.py's `EditController`)."""

    def apply(self, label: str, edits: Mapping[str, Any] | list[Mapping[str, Any]]) -> bool: ...

    def set_present(self, present: bool | None = None) -> bool: ...

    def mark_reviewed(self, reviewed: bool = True) -> bool: ...

    def set_flag(self, name: str, on: bool) -> bool: ...

    def set_note(self, text: str) -> bool: ...


class Inspector(QWidget):
    """Inspector for the selected hand on the clock's frame."""

    def __init__(
        self,
        session: Session,
        selection: Selection,
        commands: EditCommands,
        smooth_bar: QWidget,
    ) -> None:
        super().__init__()
        self.session, self.selection, self.commands = session, selection, commands
        self.setObjectName("inspector")
        self._updating = False
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)

        top = QFormLayout()
        self.hand_box = QComboBox()
        self.hand_box.addItems(list(HAND_LABELS))
        self.hand_box.setMinimumWidth(70)
        self.frame_label = QLabel("-")
        self.present = QCheckBox("present")
        self.keyframe = QCheckBox("keyframe")
        row = QHBoxLayout()
        row.addWidget(self.hand_box)
        row.addWidget(self.present)
        row.addWidget(self.keyframe)
        top.addRow("Hand", row)
        self.state_label = QLabel("-")
        self.state_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addRow("Frame", self.frame_label)
        top.addRow("State", self.state_label)
        self.reviewed_button = QPushButton("Mark reviewed (R)")
        top.addRow("", self.reviewed_button)
        outer.addLayout(top)

        # whole hand
        box = QGroupBox("Whole hand (about the wrist, camera axes)")
        grid = QGridLayout(box)
        self.rot = [_spin(-180, 180, 5, "") for _ in range(3)]
        self.move = [_spin(-500, 500, 5, "") for _ in range(3)]
        for i, name in enumerate("XYZ"):
            grid.addWidget(QLabel(name), 0, i + 1, Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(self.rot[i], 1, i + 1)
            grid.addWidget(self.move[i], 2, i + 1)
        grid.addWidget(QLabel("rotate °"), 1, 0)
        grid.addWidget(QLabel("move mm"), 2, 0)
        self.transform_button = QPushButton("Apply to hand")
        self.transform_button.setToolTip(
            "Rotate (X, then Y, then Z) about the wrist, then move; on the edit range if one is "
            "selected, else this frame"
        )
        grid.addWidget(self.transform_button, 3, 0, 1, 4)
        outer.addWidget(box)

        # joint rotation
        box = QGroupBox("Joint rotation (MANO, relative to the parent)")
        grid = QGridLayout(box)
        self.joint_box = QComboBox()
        for j in ROTATABLE:
            self.joint_box.addItem(JOINT_NAMES[j].replace("_", " "), j)
        grid.addWidget(self.joint_box, 0, 0, 1, 4)
        self.aa = [_spin(-360, 360, 5, "") for _ in range(3)]
        grid.addWidget(QLabel("axis-angle °"), 1, 0)
        for i in range(3):
            grid.addWidget(self.aa[i], 1, i + 1)
        self.joint_button = QPushButton("Set joint rotation")
        self.joint_note = QLabel("")
        self.joint_note.setWordWrap(True)
        grid.addWidget(self.joint_button, 2, 0, 1, 4)
        grid.addWidget(self.joint_note, 3, 0, 1, 4)
        outer.addWidget(box)

        # flags and note
        box = QGroupBox("Flags (this hand)")
        grid = QGridLayout(box)
        self.flags: dict[str, QCheckBox] = {}
        for i, name in enumerate(FLAG_NAMES):
            cb = QCheckBox(name.replace("_", " ").replace("lr swap", "left/right swap"))
            self.flags[name] = cb
            grid.addWidget(cb, i // 2, i % 2)
            cb.toggled.connect(lambda on, n=name: self._flag(n, on))
        outer.addWidget(box)
        self.note = QLineEdit()
        self.note.setPlaceholderText("note for this frame (Enter to keep)")
        outer.addWidget(self.note)
        outer.addWidget(smooth_bar)
        outer.addStretch(1)

        self.hand_box.currentIndexChanged.connect(lambda i: self._guard(selection.select, hand=i))
        self.joint_box.currentIndexChanged.connect(
            lambda i: self._guard(selection.select, joint=self.joint_box.itemData(i))
        )
        self.present.toggled.connect(lambda on: self._guard(commands.set_present, on))
        self.keyframe.toggled.connect(lambda on: self._guard(self._keyframe, on))
        self.reviewed_button.clicked.connect(lambda: commands.mark_reviewed(True))
        self.transform_button.clicked.connect(self.apply_transform)
        self.joint_button.clicked.connect(self.apply_joint_rotation)
        self.note.editingFinished.connect(lambda: self._guard(commands.set_note, self.note.text()))

        session.clock.frameChanged.connect(self.refresh)
        session.documentEdited.connect(self._on_edit)
        session.documentReplaced.connect(self._on_document)
        selection.selectionChanged.connect(self.refresh)
        self._on_document()

    # --------------------------------------------------------------- actions
    def _guard(self, fn: Callable[..., object], *args: object, **kwargs: object) -> None:
        if not self._updating:
            fn(*args, **kwargs)

    def _flag(self, name: str, on: bool) -> None:
        if not self._updating:
            self.commands.set_flag(name, on)

    def _keyframe(self, on: bool) -> None:
        ed, sel = self.commands, self.selection
        a, b = sel.span()
        ed.apply(
            f"{'Mark' if on else 'Unmark'} keyframe",
            {"op": "set_keyframe", "hand": sel.hand_name, "start": a, "end": b, "keyframe": on},
        )

    def apply_transform(self) -> bool:
        """Rotate/move the selected hand by the spinboxes' values (then reset them)."""
        ed, sel = self.commands, self.selection
        deg = np.array([b.value() for b in self.rot])
        mm = np.array([b.value() for b in self.move])
        if not deg.any() and not mm.any():
            return False
        a, b = sel.span()
        ok = ed.apply(
            f"Rotate/move {HAND_LABELS[sel.hand].lower()} hand",
            {"op": "transform_hand", "hand": sel.hand_name, "start": a, "end": b,
             "rotation": euler_to_axis_angle(deg).tolist(), "translation": (mm / 1000.0).tolist()},
        )  # fmt: skip
        if ok:
            for box in (*self.rot, *self.move):
                box.setValue(0.0)
        return ok

    def apply_joint_rotation(self) -> bool:
        ed, sel = self.commands, self.selection
        j = int(self.joint_box.currentData())
        aa = np.radians([b.value() for b in self.aa])
        return ed.apply(
            f"Rotate {JOINT_NAMES[j].replace('_', ' ')}",
            {"op": "set_joint_rotation", "hand": sel.hand_name, "frame": sel.frame, "joint": j,
             "axis_angle": aa.tolist()},
        )  # fmt: skip

    # --------------------------------------------------------------- display
    def _on_document(self) -> None:
        """Room for every frame's texts (steps change them, never the dock's layout: see
        app/widgets/steady_label.py)."""
        doc = self.session.doc
        if doc is not None:
            steady_label.reserve(self.frame_label, [str(doc.n_frames - 1)])
            steady_label.reserve(
                self.state_label, [_state_text(s, False, 0.0, "no MANO") for s in Source]
            )
        self.refresh()

    def _on_edit(self, change: Change) -> None:
        f = self.selection.frame
        if change.hand is None or f in set(change.frames.tolist()):
            self.refresh()

    def refresh(self, *_args: object) -> None:
        ed = self.selection
        doc = self.session.doc
        self._updating = True
        try:
            self.hand_box.setCurrentIndex(ed.hand)
            j = ed.joint if ed.joint in ROTATABLE else None
            if j is not None:
                self.joint_box.setCurrentIndex(ROTATABLE.index(j))
            enabled = doc is not None and 0 <= ed.frame < doc.n_frames
            self.setEnabled(enabled)
            if not enabled:
                return
            f, t = ed.frame, doc.hands[ed.hand]
            steady_label.set_text(
                self.frame_label,
                f"{f}" + (f"   range {ed.range[0]}-{ed.range[1]}" if ed.range else ""),
            )
            self.present.setChecked(bool(t.present[f]))
            self.keyframe.setChecked(bool(t.keyframe[f]))
            conf = float(t.confidence[f])
            known = (t.global_orient[f], t.hand_pose[f], t.betas[f], t.transl[f])  # frame f only
            mano = "no MANO" if any(np.isnan(a).any() for a in known) else "MANO"
            steady_label.set_text(
                self.state_label,
                _state_text(Source(int(t.source[f])), bool(t.reviewed[f]), conf, mano),
            )
            bits = int(t.flags[f])
            for name, cb in self.flags.items():
                cb.setChecked(bool(bits & int(FLAG_NAMES[name])))
            if not self.note.hasFocus():
                self.note.setText(doc.notes.get(f, ""))
            jj = int(self.joint_box.currentData())
            has = mano == "MANO"
            if has:
                if jj == 0:
                    aa = t.global_orient[f]
                else:
                    m = MANO16_TO_21.index(jj)
                    aa = t.hand_pose[f].reshape(15, 3)[m - 1]
                for box, v in zip(self.aa, np.degrees(aa.astype(np.float64)), strict=True):
                    box.setValue(float(v))
            for box in self.aa:
                box.setEnabled(has)
            self.joint_button.setEnabled(has)
            self.joint_note.setText(
                ""
                if has
                else "This frame has no MANO parameters: drag a joint or refit with "
                "MANO (Settings > MANO Folder...) first."
            )
        finally:
            self._updating = False
