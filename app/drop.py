"""Drag and drop of videos and label files onto the window.

Dropped files are sorted by what they are: a video file (by extension) or a folder (an image
sequence) opens as the video; a label file (.h5/.hdf5) opens as labels over it. Dropping a
video and its labels together opens both, the video first. Anything else is refused while
dragging (the cursor says no) and, if dropped anyway, reported in the status bar. Opening goes
through the window's own `open_video` / `open_labels`, so errors, unsaved-changes questions
and recent-file lists work exactly as from the menus; the drop handler is given those two
commands and the status line, not the window.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QMimeData, QObject
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QWidget

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".3gp", ".ogv"}
)
LABEL_SUFFIXES = frozenset({".h5", ".hdf5"})


def classify(paths: list[Path]) -> tuple[Path | None, Path | None, list[Path]]:
    """(video, labels, ignored): the first video (file or image folder), the first label file,
    and what is neither."""
    video: Path | None = None
    labels: Path | None = None
    ignored: list[Path] = []
    for p in paths:
        suffix = p.suffix.lower()
        if video is None and (p.is_dir() or suffix in VIDEO_SUFFIXES):
            video = p
        elif labels is None and suffix in LABEL_SUFFIXES:
            labels = p
        else:
            ignored.append(p)
    return video, labels, ignored


def dropped_paths(mime: QMimeData) -> list[Path]:
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]


class FileDrops(QObject):
    """Accepts video and label drops on `target` (an event filter on it), opened with the
    window's `open_video` / `open_labels`; refusals go to `status`."""

    def __init__(
        self,
        target: QWidget,
        open_video: Callable[[Path], bool],
        open_labels: Callable[[Path], bool],
        status: Callable[[str, int], object],
    ) -> None:
        super().__init__(target)
        self._open_video, self._open_labels, self._status = open_video, open_labels, status
        target.setAcceptDrops(True)
        target.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            assert isinstance(event, QDragEnterEvent | QDropEvent)
            video, labels, _ = classify(dropped_paths(event.mimeData()))
            if video is not None or labels is not None:
                event.acceptProposedAction()
            else:
                event.ignore()
            return True
        if kind == QEvent.Type.Drop:
            assert isinstance(event, QDropEvent)
            event.acceptProposedAction()
            self.open(dropped_paths(event.mimeData()))
            return True
        return False

    def open(self, paths: list[Path]) -> bool:
        """Open what `paths` hold; returns True when everything recognised opened."""
        video, labels, ignored = classify(paths)
        if video is None and labels is None:
            names = ", ".join(p.name for p in ignored[:3]) or "nothing"
            self._status(
                f"Cannot open {names}: drop a video (or image folder) or a label file (.h5).",
                8000,
            )
            return False
        ok = True
        if video is not None:
            ok = self._open_video(video)
        if ok and labels is not None:
            ok = self._open_labels(labels)
        return ok


def install_drops(
    target: QWidget,
    open_video: Callable[[Path], bool],
    open_labels: Callable[[Path], bool],
    status: Callable[[str, int], object],
) -> FileDrops:
    return FileDrops(target, open_video, open_labels, status)
