"""Remote hosts in the review window: Settings > Remote Hosts..., the "Run on" choice and the
link's state in the status bar.

`install_remote(window)` adds them to a built `MainWindow` through its public parts (settings,
reconstruction panel and controller, status bar, menus, error presenter). A run on a remote host
is an ordinary ReconController run of the "remote" backend (core/remote/hosts.py): progress,
cancel and batches streaming into the views work as for a local run; the worker's
ConnectionState messages drive the two `ConnectionStatus` widgets (panel and status bar).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction

from app.widgets.connection_status import ConnectionStatus
from app.widgets.remote_hosts_dialog import RemoteHostsDialog
from core.settings import RemoteHost

if TYPE_CHECKING:
    from app.main_window import MainWindow


class RemoteUI(QObject):
    """What `install_remote` added to a window."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.dialog: RemoteHostsDialog | None = None
        self.status = ConnectionStatus(window.recon)
        window.statusBar().addPermanentWidget(self.status)
        self.act_hosts = QAction("Remote &Hosts...", window)
        self.act_hosts.setStatusTip("GPU machines a reconstruction can run on (over SSH)")
        self.act_hosts.triggered.connect(self.open_hosts_dialog)
        self.menu = self.window.top_menu("Settings")
        self.menu.addAction(self.act_hosts)
        self.refresh_hosts()

    def refresh_hosts(self) -> None:
        self.window.recon_panel.run_on.set_hosts(self.window.settings.remote_hosts)

    def open_hosts_dialog(self) -> RemoteHostsDialog:
        """Open the dialog (window-modal, not blocking); its OK saves the hosts."""
        if self.dialog is not None:
            self.dialog.raise_()
            return self.dialog
        dlg = RemoteHostsDialog(self.window.settings.remote_hosts, self.window)
        dlg.accepted.connect(lambda d=dlg: self.save_hosts(d.hosts()))
        dlg.finished.connect(self._forget)
        self.dialog = dlg
        dlg.open()
        return dlg

    def _forget(self, _result: int) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
        self.dialog = None

    def save_hosts(self, hosts: list[RemoteHost]) -> None:
        """Keep the hosts in the settings file now (not only when the window closes)."""
        settings = self.window.settings
        settings.remote_hosts = hosts
        self.refresh_hosts()
        try:
            settings.save()
        except OSError as exc:
            self.window.errors.report(exc, title="Cannot save the remote hosts")
            return
        n = len(hosts)
        self.window.statusBar().showMessage(
            f"Saved {n} remote host{'s' if n != 1 else ''} in {settings.path}", 5000
        )


def install_remote(window: MainWindow) -> RemoteUI:
    return RemoteUI(window)
