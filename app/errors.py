"""The one place where errors reach the user.

Every error, whatever its origin, becomes an `ErrorInfo` (title, message, hint, details) and is
shown the same way: a non-blocking message box on the window plus a line in the status bar, and
kept in `history`. Sources: `core` errors (`VidihandError`: title, message, hint), worker
`Error` messages, unexpected exceptions in slots (`sys.excepthook`) and on other threads
(`threading.excepthook`, marshalled to the GUI thread through a queued signal).

Dialogs are opened with `open()` (window-modal, never `exec()`), so nothing blocks and tests can
inspect `current_dialog` and press its buttons.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from core.errors import VidihandError

log = logging.getLogger("vidihand.app")


@dataclass
class ErrorInfo:
    title: str
    message: str
    hint: str = ""
    details: str = ""  #: traceback or other technical text
    actions: dict[str, Callable[[], None]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_exception(cls, exc: BaseException, title: str | None = None) -> ErrorInfo:
        if isinstance(exc, VidihandError):
            return cls(title or exc.title, exc.message, exc.hint or "")
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return cls(
            title or "Unexpected error",
            f"{type(exc).__name__}: {exc}",
            "The window is still usable. If this repeats, report it with the details below.",
            details,
        )

    def text(self) -> str:
        return self.message if not self.hint else f"{self.message}\n\n{self.hint}"


class ErrorPresenter(QObject):
    """Shows errors consistently; `interactive=False` records them without dialogs
    (screenshots, batch use)."""

    errorReported = Signal(object)  #: ErrorInfo
    _fromThread = Signal(object)

    def __init__(self, parent_widget: QWidget | None = None, *, interactive: bool = True) -> None:
        super().__init__(parent_widget)
        self.parent_widget = parent_widget
        self.interactive = interactive
        self.history: list[ErrorInfo] = []
        self.current_dialog: QMessageBox | None = None
        self.status_sink: Callable[[str], None] | None = None
        self._fromThread.connect(self.show, Qt.ConnectionType.QueuedConnection)
        self._old_hooks: tuple | None = None

    # ----------------------------------------------------------------- public
    def report(
        self,
        error: BaseException | ErrorInfo | str,
        *,
        title: str | None = None,
        actions: dict[str, Callable[[], None]] | None = None,
    ) -> ErrorInfo:
        """Show an exception, an ErrorInfo or a plain message. `actions` adds buttons
        (label -> callback) next to Close, e.g. {"Open anyway": ...}."""
        if isinstance(error, ErrorInfo):
            info = error
        elif isinstance(error, BaseException):
            info = ErrorInfo.from_exception(error, title)
        else:
            info = ErrorInfo(title or "Error", str(error))
        if actions:
            info.actions = dict(actions)
        self.show(info)
        return info

    def show(self, info: ErrorInfo) -> None:
        if threading.current_thread() is not threading.main_thread():
            self._fromThread.emit(info)
            return
        self.history.append(info)
        log.error("%s: %s%s", info.title, info.message, f"\n{info.details}" if info.details else "")
        if self.status_sink is not None:
            self.status_sink(f"{info.title}: {info.message}")
        if self.interactive:
            self._dialog(info)
        self.errorReported.emit(info)

    @property
    def last(self) -> ErrorInfo | None:
        return self.history[-1] if self.history else None

    def close_dialog(self) -> None:
        if self.current_dialog is not None:
            self.current_dialog.close()
            self.current_dialog = None

    def trigger(self, label: str) -> None:
        """Press the action button `label` of the open dialog (used by tests and scripts)."""
        dlg = self.current_dialog
        if dlg is None:
            raise RuntimeError("no error dialog is open")
        for button in dlg.buttons():
            if button.text() == label:
                button.click()
                return
        raise KeyError(f"the dialog has no button {label!r}")

    # ----------------------------------------------------------------- hooks
    def install_hooks(self) -> None:
        """Route uncaught exceptions (GUI thread and other threads) here."""
        self._old_hooks = (sys.excepthook, threading.excepthook)
        sys.excepthook = self._excepthook
        threading.excepthook = self._thread_excepthook

    def uninstall_hooks(self) -> None:
        if self._old_hooks is not None:
            sys.excepthook, threading.excepthook = self._old_hooks
            self._old_hooks = None

    def _excepthook(
        self, etype: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(etype, KeyboardInterrupt):
            sys.__excepthook__(etype, value, tb)
            return
        value.__traceback__ = tb
        self.report(value)

    def _thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            self.report(
                args.exc_value,
                title=f"Error in background thread {args.thread.name if args.thread else ''}".strip(),
            )

    # ----------------------------------------------------------------- dialog
    def _dialog(self, info: ErrorInfo) -> None:
        self.close_dialog()
        box = QMessageBox(self.parent_widget)
        box.setObjectName("errorDialog")
        box.setIcon(QMessageBox.Icon.Warning if info.actions else QMessageBox.Icon.Critical)
        box.setWindowTitle(info.title)
        box.setText(f"<b>{_esc(info.title)}</b>")
        box.setInformativeText(info.text())
        if info.details:
            box.setDetailedText(info.details)
        for label, callback in info.actions.items():
            button = box.addButton(label, QMessageBox.ButtonRole.AcceptRole)
            button.clicked.connect(lambda _=False, cb=callback: self._run_action(cb))
        box.addButton(QMessageBox.StandardButton.Close)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r, b=box: self._forget(b))
        self.current_dialog = box
        box.open()

    def _forget(self, box: QMessageBox) -> None:
        if self.current_dialog is box:
            self.current_dialog = None

    def _run_action(self, callback: Callable[[], None]) -> None:
        self.current_dialog = None
        try:
            callback()
        except Exception as exc:  # noqa: BLE001 - an action's failure is reported like any other
            self.report(exc)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
