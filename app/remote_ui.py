"""Remote hosts in the review window: Settings > Remote Hosts..., the "Run on" choice and the
link's state in the status bar.

`install_remote(parts)` adds them through the window's `WindowParts` (settings, reconstruction
panel and controller, status bar, declared actions, error presenter). A run on a remote host
is an ordinary ReconController run of the "remote" backend (core/remote/hosts.py): progress,
cancel and batches streaming into the views work as for a local run; the worker's
ConnectionState messages drive the two `ConnectionStatus` widgets (panel and status bar).
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from app.actions import Action
from app.shell import WindowParts
from app.widgets.connection_status import ConnectionStatus
from app.widgets.remote_hosts_dialog import RemoteHostsDialog
from core.settings import RemoteHost


class RemoteUI(QObject):
    """What `install_remote` added to a window."""

    def __init__(self, parts: WindowParts) -> None:
        super().__init__(parts.dialog_parent)
        self.parts = parts
        self.dialog: RemoteHostsDialog | None = None
        self.status = ConnectionStatus(parts.recon)
        parts.status_bar.addPermanentWidget(self.status)
        self.act_hosts = parts.actions.add(Action(
            "settings.remote_hosts", "Remote &Hosts...", self.open_hosts_dialog, menu="Settings",
            tip="GPU machines a reconstruction can run on (over SSH)",
        ))  # fmt: skip
        self.refresh_hosts()

    def refresh_hosts(self) -> None:
        self.parts.recon_panel.run_on.set_hosts(self.parts.settings.remote_hosts)

    def open_hosts_dialog(self) -> RemoteHostsDialog:
        """Open the dialog (window-modal, not blocking); its OK saves the hosts."""
        if self.dialog is not None:
            self.dialog.raise_()
            return self.dialog
        dlg = RemoteHostsDialog(self.parts.settings.remote_hosts, self.parts.dialog_parent)
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
        settings = self.parts.settings
        settings.remote_hosts = hosts
        self.refresh_hosts()
        try:
            settings.save()
        except OSError as exc:
            self.parts.errors.report(exc, title="Cannot save the remote hosts")
            return
        n = len(hosts)
        self.parts.status_bar.showMessage(
            f"Saved {n} remote host{'s' if n != 1 else ''} in {settings.path}", 5000
        )


def install_remote(parts: WindowParts) -> RemoteUI:
    return RemoteUI(parts)
