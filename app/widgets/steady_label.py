"""Labels whose text changes on every frame step without laying their window out again.

A QLabel asks its parent's layout to run again on every `setText` (its size hint may have
changed). In the status bar that layout pass ends in a repaint of the whole bar and of the main
window's strip under it, every step: with the status line counting the hands on every frame,
~1.1 ms of the GUI thread per 720p or 1080p frame step, measured
(docs/app.md). A widget whose minimum and maximum sizes are equal never asks (Qt's
`updateGeometry` stops there), so `reserve` gives a label a fixed size wide enough for every
text it will show: the samples given, with each digit replaced by the font's widest one.
`set_text` shows a text, giving the label more room first when it would not fit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from PySide6.QtWidgets import QLabel

_DIGIT = re.compile(r"\d")


def widest_digit(label: QLabel) -> str:
    """The digit that is widest in the label's font (proportional fonts differ)."""
    fm = label.fontMetrics()
    return max("0123456789", key=fm.horizontalAdvance)


#: the widest text a reserved label has room for, in pixels (a Qt dynamic property)
_ROOM = "steadyTextRoom"


def reserve(label: QLabel, samples: Iterable[str]) -> int:
    """Fix `label`'s size to fit the widest of `samples` (digits widened) and its current text;
    returns the width. The text shown does not change."""
    text = label.text()
    digit = widest_digit(label)
    fm = label.fontMetrics()
    label.setMinimumSize(0, 0)
    label.setMaximumSize(16_777_215, 16_777_215)  # QWIDGETSIZE_MAX: measure freely
    width = height = room = 0
    for sample in [text, *samples]:
        sample = _DIGIT.sub(digit, sample)
        label.setText(sample)
        hint = label.sizeHint()  # the text's width, the label's padding and margins
        width, height = max(width, hint.width()), max(height, hint.height())
        room = max(room, fm.horizontalAdvance(sample))
    label.setText(text)
    label.setFixedSize(width, height)
    label.setProperty(_ROOM, room)
    return width


def set_text(label: QLabel, text: str) -> None:
    """Show `text` in a reserved label; more room first when it would not fit."""
    if not fits(label, text):
        reserve(label, [text])
    label.setText(text)


def fits(label: QLabel, text: str) -> bool:
    """Does `text` fit the room `reserve` gave the label (False: never reserved)?"""
    room = label.property(_ROOM)
    return room is not None and label.fontMetrics().horizontalAdvance(text) <= int(room)
