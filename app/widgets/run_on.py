"""Where and with what a reconstruction runs: the "Run on" choice (this computer or a remote
host from the settings) and the backend options field of the reconstruction panel."""

from __future__ import annotations

import shlex
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLineEdit, QWidget

from core.settings import RemoteHost

LOCAL = "This computer"


class RunOnCombo(QComboBox):
    """ "This computer" first, then every remote host; `host()` is the chosen one (None: local).
    The hosts come from the settings (app/remote_ui.py calls `set_hosts` after every change)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("runOn")
        self._hosts: dict[str, RemoteHost] = {}
        self.set_hosts([])

    def set_hosts(self, hosts: list[RemoteHost]) -> None:
        """Refill the list, keeping the choice when that host still exists."""
        current = self.currentData()
        self.blockSignals(True)
        self.clear()
        self._hosts = {h.name: h for h in hosts}
        self.addItem(LOCAL, None)
        self.setItemData(
            0, "Run the backend in a process on this computer", Qt.ItemDataRole.ToolTipRole
        )
        for h in hosts:
            self.addItem(h.name, h.name)
            user = f"{h.user}@" if h.user else ""
            self.setItemData(
                self.count() - 1,
                f"vidihand serve on {user}{h.host} (SSH port {h.port}, server port {h.remote_port})",
                Qt.ItemDataRole.ToolTipRole,
            )
        i = self.findData(current) if current is not None else 0
        self.setCurrentIndex(max(i, 0))
        self.blockSignals(False)
        self.setToolTip("Where the reconstruction runs (Settings > Remote Hosts... adds machines)")

    def host(self) -> RemoteHost | None:
        name = self.currentData()
        return None if name is None else self._hosts.get(name)

    def choose(self, name: str | None) -> None:
        """Select a host by name (None: this computer)."""
        i = self.findData(name) if name is not None else 0
        if i < 0:
            raise KeyError(f"no remote host named {name!r}")
        self.setCurrentIndex(i)


def parse_options(text: str) -> dict[str, Any]:
    """ "labels=/data/gt.h5 decode=false" -> {"labels": "/data/gt.h5", "decode": False}: the
    same KEY=VALUE form as `vidihand reconstruct --backend-option` (quotes for spaces).
    Raises ValueError with a readable message."""
    try:
        items = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"the options cannot be split into words ({exc}).") from None
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise ValueError(f"each option must look like KEY=VALUE, got {item!r}.")
        out[key] = _value(value.strip())
    return out


def _value(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class OptionsEdit(QLineEdit):
    """Backend options as KEY=VALUE words; files named here are uploaded for a remote run."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("backendOptions")
        self.setPlaceholderText("KEY=VALUE ...  (e.g. labels=gt.h5 for groundtruth)")
        self.setToolTip(
            "Backend options, as for `vidihand reconstruct --backend-option`. "
            "A local file named here is uploaded for a run on a remote host."
        )
        self.setClearButtonEnabled(True)

    def options(self) -> dict[str, Any]:
        return parse_options(self.text())
