"""Settings > Remote Hosts...: the GPU machines a reconstruction can run on.

A list of hosts on the left, the chosen host's fields on the right (name, SSH host, user and
port, key, the server's port and token file, the command that starts `vidihand serve` there,
known_hosts or trust-on-first-use, extra ssh options). Every change is checked at once with
`core.remote.hosts.host_problems`: the fields at fault are marked and the problems listed in
words; OK refuses to close while a host has problems. "Test connection" opens the tunnel and
passes the server's token check on a background thread and shows the outcome (or the
RemoteError's message and hint). The dialog edits copies: the caller takes `hosts()` on accept.
"""

from __future__ import annotations

import copy
import threading

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.errors import VidihandError
from core.remote.hosts import ConnectionCheck, host_problems, try_connection
from core.settings import RemoteHost

SERVE_EXAMPLE = "vidihand serve --port 8765 --token-file ~/.vidihand/token"
_INVALID = "QLineEdit, QSpinBox { border: 1px solid #fa5252; }"


class _TestDone(QObject):
    """Carries a connection test's outcome from its thread to the GUI thread (queued)."""

    finished = Signal(int, object)  #: (test number, ConnectionCheck or exception)


class RemoteHostsDialog(QDialog):
    #: a connection test ended: (ok, text shown)
    tested = Signal(bool, str)

    def __init__(self, hosts: list[RemoteHost], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("remoteHostsDialog")
        self.setWindowTitle("Remote hosts")
        self.resize(820, 520)
        self._hosts = [copy.deepcopy(h) for h in hosts]
        self._row = -1
        self._loading = False
        self._tests = 0  #: number of the latest test; older results are dropped
        self._test_done = _TestDone(self)
        self._test_done.finished.connect(self._on_tested)
        self.testing = False
        self.last_test: tuple[bool, str] | None = None

        # ------------------------------------------------------------- list
        self.list = QListWidget()
        self.list.setObjectName("remoteHostList")
        self.add_button = QPushButton("Add")
        self.remove_button = QPushButton("Remove")
        left = QVBoxLayout()
        left.addWidget(self.list, 1)
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        left.addLayout(row)

        # ------------------------------------------------------------ editor
        self.name = QLineEdit()
        self.name.setPlaceholderText("gpu-box")
        self.host = QLineEdit()
        self.host.setPlaceholderText("gpu-box.example.org or 10.0.0.5")
        self.user = QLineEdit()
        self.user.setPlaceholderText("your login there (empty: ssh's default)")
        self.port = _port_spin(22)
        self.key_file = QLineEdit()
        self.key_file.setPlaceholderText("~/.ssh/id_ed25519 (empty: ssh's default keys)")
        self.remote_port = _port_spin(8765)
        self.token_file = QLineEdit()
        self.token_file.setPlaceholderText("~/.vidihand/token (copied from the server)")
        self.remote_command = QLineEdit()
        self.remote_command.setPlaceholderText(f"e.g. {SERVE_EXAMPLE}")
        self.remote_command.setToolTip(
            "Run (detached) on the host before connecting, to start the server; leave empty "
            "when `vidihand serve` is started there some other way."
        )
        self.remote_log = QLineEdit()
        self.remote_log.setPlaceholderText("~/.vidihand-serve.log (on the host)")
        self.remote_log.setToolTip("Where the started server's output goes, on the host")
        self.known_hosts = QLineEdit()
        self.known_hosts.setPlaceholderText("empty: ~/.ssh/known_hosts")
        self.accept_new = QCheckBox("Trust the host's key on first connection (accept-new)")
        self.ssh_options = QLineEdit()
        self.ssh_options.setPlaceholderText("Name=value ...  e.g. ProxyJump=bastion")
        self.fields: dict[str, QWidget] = {
            "name": self.name,
            "host": self.host,
            "user": self.user,
            "port": self.port,
            "key_file": self.key_file,
            "remote_port": self.remote_port,
            "token_file": self.token_file,
            "remote_command": self.remote_command,
            "remote_log": self.remote_log,
            "known_hosts": self.known_hosts,
            "ssh_options": self.ssh_options,
        }
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("SSH host", self.host)
        form.addRow("User", self.user)
        form.addRow("SSH port", self.port)
        form.addRow("Identity key", self._with_browse(self.key_file, "SSH private key"))
        form.addRow("Server port", self.remote_port)
        form.addRow("Token file", self._with_browse(self.token_file, "Token file"))
        form.addRow("Start server", self.remote_command)
        form.addRow("Server log", self.remote_log)
        form.addRow("known_hosts", self._with_browse(self.known_hosts, "known_hosts file"))
        form.addRow("", self.accept_new)
        form.addRow("SSH options", self.ssh_options)
        self.problems = QLabel()
        self.problems.setObjectName("hostProblems")
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #ff8787;")
        self.test_button = QPushButton("Test connection")
        self.test_result = QLabel()
        self.test_result.setObjectName("testResult")
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.editor = QWidget()
        right = QVBoxLayout(self.editor)
        right.setContentsMargins(0, 0, 0, 0)
        right.addLayout(form)
        right.addWidget(self.problems)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addStretch(1)
        right.addLayout(test_row)
        right.addWidget(self.test_result)
        right.addStretch(1)
        self.empty_hint = QLabel(
            "No remote hosts yet. Add one to run reconstructions on a GPU machine."
        )
        self.empty_hint.setObjectName("dimLabel")
        self.empty_hint.setWordWrap(True)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        body = QHBoxLayout()
        body.addLayout(left, 1)
        editor_box = QVBoxLayout()
        editor_box.addWidget(self.empty_hint)
        editor_box.addWidget(self.editor, 1)
        body.addLayout(editor_box, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addWidget(self.buttons)

        for h in self._hosts:
            self.list.addItem(h.name)
        self.list.currentRowChanged.connect(self._select)
        self.add_button.clicked.connect(self.add_host)
        self.remove_button.clicked.connect(self.remove_host)
        self.test_button.clicked.connect(self.test_connection)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        for w in self.fields.values():
            signal = w.valueChanged if isinstance(w, QSpinBox) else w.textChanged
            signal.connect(self._edited)
        self.accept_new.toggled.connect(self._edited)
        self.list.setCurrentRow(0 if self._hosts else -1)
        self._update_enabled()

    # ----------------------------------------------------------------- public
    def hosts(self) -> list[RemoteHost]:
        """The edited hosts (copies)."""
        return [copy.deepcopy(h) for h in self._hosts]

    def current(self) -> RemoteHost | None:
        return self._hosts[self._row] if 0 <= self._row < len(self._hosts) else None

    def add_host(self) -> RemoteHost:
        taken = {h.name for h in self._hosts}
        name = "gpu"
        k = 2
        while name in taken:
            name, k = f"gpu-{k}", k + 1
        host = RemoteHost(name=name, host="")
        self._hosts.append(host)
        self.list.addItem(name)
        self.list.setCurrentRow(len(self._hosts) - 1)
        self.host.setFocus()
        return host

    def remove_host(self) -> None:
        row = self._row
        if not 0 <= row < len(self._hosts):
            return
        del self._hosts[row]
        self._row = -1
        self.list.takeItem(row)
        self.list.setCurrentRow(min(row, len(self._hosts) - 1))
        self._update_enabled()

    def problems_of(self, index: int) -> list[tuple[str, str]]:
        others = [h for i, h in enumerate(self._hosts) if i != index]
        return host_problems(self._hosts[index], others)

    def accept(self) -> None:
        """Close only when every host can be used; otherwise show the first one at fault."""
        for i in range(len(self._hosts)):
            if self.problems_of(i):
                self.list.setCurrentRow(i)
                self._show_problems()
                field = self.problems_of(i)[0][0]
                if field in self.fields:
                    self.fields[field].setFocus()
                return
        super().accept()

    def test_connection(self) -> None:
        """Check the current host on a background thread; the outcome lands in `test_result`."""
        host = self.current()
        if host is None:
            return
        problems = self.problems_of(self._row)
        if problems:
            self._show_problems()
            self._set_test_result(False, "Fix the problems above first.")
            return
        self._tests += 1
        number, probe = self._tests, copy.deepcopy(host)
        self.testing = True
        self.test_button.setEnabled(False)
        self.test_result.setStyleSheet("")
        self.test_result.setText(f"Connecting to {probe.name}...")
        done = self._test_done

        def work() -> None:
            try:
                outcome: object = try_connection(probe)
            except Exception as exc:  # noqa: BLE001 - every outcome is shown in the dialog
                outcome = exc
            try:
                done.finished.emit(number, outcome)
            except RuntimeError:  # the dialog is gone: nobody to tell
                pass

        threading.Thread(target=work, name="vidihand-test-connection", daemon=True).start()

    # ---------------------------------------------------------------- editing
    def _with_browse(self, edit: QLineEdit, title: str) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        button = QPushButton("...")
        button.setToolTip(f"Choose the {title.lower()}")
        button.setFixedWidth(36)
        button.setStyleSheet("padding: 2px 4px;")
        button.clicked.connect(lambda: self._browse(edit, title))
        row.addWidget(button)
        return box

    def _browse(self, edit: QLineEdit, title: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, title, edit.text(), "All files (*)")
        if path:
            edit.setText(path)

    def _select(self, row: int) -> None:
        self._row = row
        host = self.current()
        self._loading = True
        try:
            if host is not None:
                for name, w in self.fields.items():
                    value = getattr(host, name)
                    if isinstance(w, QSpinBox):
                        w.setValue(int(value))
                    elif name == "ssh_options":
                        w.setText(" ".join(value))
                    else:
                        w.setText(str(value))
                self.accept_new.setChecked(host.accept_new_host_key)
        finally:
            self._loading = False
        self.test_result.clear()
        self._update_enabled()
        self._show_problems()

    def _edited(self, *_args: object) -> None:
        host = self.current()
        if self._loading or host is None:
            return
        for name, w in self.fields.items():
            if isinstance(w, QSpinBox):
                setattr(host, name, w.value())
            elif name == "ssh_options":
                host.ssh_options = w.text().split()
            else:
                setattr(host, name, w.text().strip())
        host.accept_new_host_key = self.accept_new.isChecked()
        item = self.list.item(self._row)
        if item is not None and item.text() != host.name:
            item.setText(host.name)
        self.accept_new.setEnabled(not host.known_hosts)
        self._show_problems()

    def _show_problems(self) -> None:
        problems = self.problems_of(self._row) if self.current() is not None else []
        bad = {name for name, _ in problems}
        for name, w in self.fields.items():
            w.setStyleSheet(_INVALID if name in bad else "")
        self.problems.setText("\n".join(f"• {message}" for _, message in problems))
        self.problems.setVisible(bool(problems))

    def _update_enabled(self) -> None:
        has = self.current() is not None
        self.editor.setVisible(has)
        self.empty_hint.setVisible(not self._hosts)
        self.remove_button.setEnabled(has)
        self.test_button.setEnabled(has and not self.testing)
        if has:
            self.accept_new.setEnabled(not self.current().known_hosts)  # type: ignore[union-attr]

    # ---------------------------------------------------------------- testing
    def _on_tested(self, number: int, outcome: object) -> None:
        if number != self._tests:
            return
        self.testing = False
        self._update_enabled()
        if isinstance(outcome, ConnectionCheck):
            self._set_test_result(True, outcome.text())
        elif isinstance(outcome, VidihandError):
            text = outcome.message + (f"\n{outcome.hint}" if outcome.hint else "")
            self._set_test_result(False, text)
        else:
            self._set_test_result(False, f"{type(outcome).__name__}: {outcome}")

    def _set_test_result(self, ok: bool, text: str) -> None:
        self.last_test = (ok, text)
        self.test_result.setStyleSheet(f"color: {'#69db7c' if ok else '#ff8787'};")
        self.test_result.setText(("✓ " if ok else "✗ ") + text)
        self.tested.emit(ok, text)


def _port_spin(value: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(1, 65535)
    spin.setValue(value)
    return spin
