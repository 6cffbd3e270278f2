"""The state of a remote run's link: a coloured dot and a line of text.

Fed by the ReconController: `connectionChanged` (core.remote.backend.ConnectionState from the
worker: connecting, uploading, connected, reconnecting with its attempt, closed), `started` (a
remote run shows "connecting", a local one hides the widget) and `finished` (a failed remote
run shows "error"). Used twice: in the reconstruction panel and in the status bar.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget

from app.recon import ReconController, RunState

#: state -> dot colour
COLORS = {
    "connecting": "#fab005",
    "uploading": "#fab005",
    "connected": "#40c057",
    "reconnecting": "#fd7e14",
    "closed": "#8b8f98",
    "error": "#fa5252",
}


def describe(state: str, host: str, attempt: int = 0, detail: str = "") -> str:
    """One line for people, e.g. "gpu-box: reconnecting (attempt 2)"."""
    if state == "connecting":
        text = "connecting" + (f" (attempt {attempt})" if attempt else "")
    elif state == "uploading":
        text = "uploading the video"
    elif state == "connected":
        text = "connected" + (f" · {detail}" if detail.startswith("job ") else "")
    elif state == "reconnecting":
        text = f"reconnecting (attempt {attempt})"
    elif state == "error":
        text = "error"
    else:
        text = state
    return f"{host}: {text}" if host else text


class ConnectionStatus(QWidget):
    """Shows the link of the controller's current remote run; hidden for local runs."""

    def __init__(self, controller: ReconController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("connectionStatus")
        self.controller = controller
        self.state = ""  #: the last state shown ("" before any remote run)
        self.history: list[tuple[str, int]] = []  #: (state, attempt) of this run, for tests
        self.dot = QLabel()
        self.dot.setFixedSize(10, 10)
        self.label = QLabel()
        # in a crowded status bar the other texts give way, not the link's state
        self.label.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Preferred)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.dot)
        layout.addWidget(self.label, 1)
        self.setVisible(False)
        controller.started.connect(self._on_started)
        controller.connectionChanged.connect(self._on_message)
        controller.finished.connect(self._on_finished)

    def text(self) -> str:
        return self.label.text()

    def set_state(self, state: str, attempt: int = 0, detail: str = "", where: str = "") -> None:
        host = self.controller.state.host
        self.state = state
        self.history.append((state, attempt))
        color = COLORS.get(state, COLORS["closed"])
        self.dot.setStyleSheet(f"background: {color}; border-radius: 5px;")
        self.label.setText(describe(state, host, attempt, detail))
        tip = "\n".join(t for t in (f"Remote host {host}", where, detail) if t)
        self.setToolTip(tip)
        self.setVisible(True)

    def _on_started(self, state: RunState) -> None:
        self.history = []
        if state.host:
            self.set_state("connecting")
        else:
            self.state = ""
            self.setVisible(False)

    def _on_message(self, msg: object) -> None:
        self.set_state(
            getattr(msg, "state", ""),
            int(getattr(msg, "attempt", 0) or 0),
            str(getattr(msg, "detail", "")),
            str(getattr(msg, "where", "")),
        )

    def _on_finished(self, outcome: str) -> None:
        if not self.controller.state.host:
            return
        if outcome == "error":
            last = self.controller.errors.last
            self.set_state("error", detail=last.message if last is not None else "")
        elif self.state != "closed":
            self.set_state("closed")
