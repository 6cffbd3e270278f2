"""Where a client connects: straight to host:port, or through an OpenSSH tunnel it opens itself.

Both are `Endpoint`s: `address()` returns the (host, port) to connect to right now, re-opening a
dead tunnel first, so the reconnect loop in core/remote/backend.py does not care which it has.

The tunnel is the system's `ssh -N -L 127.0.0.1:LOCAL:127.0.0.1:REMOTE` with BatchMode (never
prompts), ExitOnForwardFailure (a failed forward is an error, not a silent half-tunnel) and
keep-alives; optionally it first starts the server on the remote host with a configured command.
"""

from __future__ import annotations

import errno
import re
import shlex
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from core.errors import RemoteError


class TunnelError(RemoteError):
    """The SSH tunnel could not be opened. Retried by the reconnect loop unless ssh said
    something retrying cannot fix (a refused key, an unknown host key, an unknown host)."""

    def __init__(self, message: str, *, hint: str | None = None, retriable: bool = True) -> None:
        self.retriable = retriable
        super().__init__(message, hint=hint)


#: ssh messages after which retrying the same command cannot succeed
_PERMANENT = (
    "Permission denied",
    "Host key verification failed",
    "Could not resolve hostname",
    "REMOTE HOST IDENTIFICATION HAS CHANGED",
    "No such file or directory",
    "Bad configuration",
)


class Endpoint(Protocol):
    def address(self) -> tuple[str, int]: ...
    def describe(self) -> str: ...
    def hint(self) -> str: ...
    def close(self) -> None: ...


@dataclass
class DirectEndpoint:
    """A server reached directly (on this machine, or a tunnel someone else opened)."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> DirectEndpoint:
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise RemoteError(
                f"--remote must be HOST:PORT, got {text!r}.",
                hint="Example: --remote 127.0.0.1:8765",
            )
        return cls(host.strip("[]"), int(port))

    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def describe(self) -> str:
        return f"at {self.host}:{self.port}"

    def hint(self) -> str:
        return (
            f"check that `vidihand serve --port {self.port}` runs on {self.host} "
            "(or that your own tunnel to it is open)"
        )

    def close(self) -> None:
        pass


_TARGET = re.compile(
    r"(?:(?P<user>[A-Za-z0-9_][A-Za-z0-9_.\-]*)@)?(?P<host>[A-Za-z0-9_][A-Za-z0-9_.\-]*|\[[0-9a-fA-F:.]+\])(?::(?P<port>\d+))?"
)


@dataclass
class SshTarget:
    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> SshTarget:
        m = _TARGET.fullmatch(text.strip())
        if not m or (m["port"] and not 0 < int(m["port"]) < 65536):
            raise RemoteError(
                f"--ssh must be [user@]host[:port], got {text!r}.",
                hint="Example: --ssh alice@gpu-box:22",
            )
        return cls(m["host"].strip("[]"), m["user"], int(m["port"]) if m["port"] else None)

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{user}{self.host}{port}"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _port_listening(port: int) -> bool:
    """True when something listens on 127.0.0.1:port (tested by binding, so nothing connects)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
        return False


@dataclass
class SshTunnel:
    """An `ssh -N -L` process forwarding a free local port to `remote_port` on the server's
    loopback. Re-opened by `address()` whenever the process has died."""

    target: SshTarget
    remote_port: int
    identity_file: str | None = None
    known_hosts: str | None = None
    #: started once on the remote host before the first tunnel (e.g. "vidihand serve --port 8765 ...")
    remote_command: str | None = None
    #: where the remote command's output goes, on the remote host (the remote shell expands ~)
    remote_log: str = "~/.vidihand-serve.log"
    ssh_options: list[str] = field(default_factory=list)
    ssh_binary: str = "ssh"
    open_timeout: float = 15.0

    def __post_init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.local_port = 0
        self.opened = 0  #: how many times a tunnel process was started
        self._server_started = False
        self._err: IO[bytes] | None = None
        self._lock = threading.RLock()  # the cancel watcher may call address() concurrently

    def _ssh_args(self) -> list[str]:
        args = [
            self.ssh_binary,
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "ServerAliveInterval=5",
            "-o",
            "ServerAliveCountMax=3",
        ]
        if self.target.port:
            args += ["-p", str(self.target.port)]
        if self.identity_file:
            args += ["-i", str(Path(self.identity_file).expanduser()), "-o", "IdentitiesOnly=yes"]
        if self.known_hosts:
            args += [
                "-o",
                f"UserKnownHostsFile={Path(self.known_hosts).expanduser()}",
                "-o",
                "StrictHostKeyChecking=yes",
            ]
        args += self.ssh_options
        dest = f"{self.target.user}@{self.target.host}" if self.target.user else self.target.host
        return [*args, dest]

    def ssh_command(self) -> str:
        port = f"-p {self.target.port} " if self.target.port else ""
        user = f"{self.target.user}@" if self.target.user else ""
        return f"ssh {port}{user}{self.target.host}"

    def describe(self) -> str:
        return f"through the SSH tunnel to {self.target} (remote port {self.remote_port})"

    def hint(self) -> str:
        return (
            f"check that `{self.ssh_command()}` works without a password prompt (key, known_hosts), "
            f"that the server allows port forwarding, and that `vidihand serve --port "
            f"{self.remote_port}` runs there (or pass --remote-command to start it)"
        )

    def start_server(self) -> None:
        """Run `remote_command` detached on the remote host, its output appended to `remote_log`."""
        if not self.remote_command or self._server_started:
            return
        log = self.remote_log if self.remote_log.startswith("~/") else shlex.quote(self.remote_log)
        line = f"nohup {self.remote_command} >>{log} 2>&1 </dev/null &"
        try:
            res = subprocess.run(
                [*self._ssh_args(), line], capture_output=True, timeout=60, stdin=subprocess.DEVNULL
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RemoteError(
                f"cannot start the server on {self.target}: {exc}.", hint=self.hint()
            ) from None
        if res.returncode != 0:
            raise RemoteError(
                f"starting the server on {self.target} failed: {_last_lines(res.stderr)}",
                hint=self.hint(),
            )
        self._server_started = True

    def open(self) -> None:
        """Start the ssh process and wait until its local port listens."""
        self.close()
        self.start_server()
        self.local_port = free_port()
        forward = f"127.0.0.1:{self.local_port}:127.0.0.1:{self.remote_port}"
        args = self._ssh_args()
        cmd = [*args[:-1], "-N", "-o", "ExitOnForwardFailure=yes", "-L", forward, args[-1]]
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._errfile()
            )
        except OSError as exc:
            raise RemoteError(
                f"cannot run {self.ssh_binary}: {exc}.",
                hint="Install the OpenSSH client (`ssh`) or put it on PATH.",
            ) from None
        self.opened += 1
        end = time.monotonic() + self.open_timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                err = _last_lines(self._read_errfile())
                self.proc = None
                raise TunnelError(
                    f"cannot open the SSH tunnel to {self.target}: ssh exited: {err}",
                    hint=self.hint(),
                    retriable=not any(p in err for p in _PERMANENT),
                )
            if _port_listening(self.local_port):
                return
            time.sleep(0.05)
        self.close()
        raise TunnelError(
            f"cannot open the SSH tunnel to {self.target}: no forward after {self.open_timeout:.0f} s.",
            hint=self.hint(),
        )

    def _errfile(self) -> IO[bytes]:
        """ssh's stderr goes to a temporary file, not a pipe: a long-lived tunnel that logs
        "channel open failed" on every retry would otherwise fill the pipe and stall."""
        if self._err is not None:
            self._err.close()
        self._err = tempfile.TemporaryFile()
        return self._err

    def _read_errfile(self) -> bytes:
        if self._err is None:
            return b""
        self._err.seek(0)
        return self._err.read()[-4096:]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def address(self) -> tuple[str, int]:
        with self._lock:
            if not self.alive():
                self.open()
            return "127.0.0.1", self.local_port

    def close(self) -> None:
        with self._lock:
            proc, self.proc = self.proc, None
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if self._err is not None:
                self._err.close()
                self._err = None

    def command_line(self) -> str:
        """The equivalent manual command (for docs and error messages)."""
        args = self._ssh_args()
        return shlex.join(
            [
                *args[:-1],
                "-N",
                "-o",
                "ExitOnForwardFailure=yes",
                "-L",
                f"{self.local_port or 8765}:127.0.0.1:{self.remote_port}",
                args[-1],
            ]
        )


def _last_lines(err: bytes, n: int = 3) -> str:
    lines = [ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
    return " | ".join(lines[-n:]) or "no message"
