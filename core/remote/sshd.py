"""A throwaway OpenSSH server on a loopback port, for the tunnel tests and the benchmark.

Runs the system's sshd as the current user with everything in one temporary folder: a generated
host key, a generated client key in authorized_keys (plus a `stranger_key` that is *not*
authorized, to test refusals), a matching known_hosts, and a config that allows only key logins
on 127.0.0.1. Not used by the product itself.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from core.remote.tunnel import SshTarget, SshTunnel, free_port


def sshd_binary() -> str | None:
    """The sshd to use, or None when OpenSSH (server, client, ssh-keygen) is not installed."""
    sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
    if sshd is None or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        return None
    return sshd


class LocalSshd:
    """sshd on 127.0.0.1:`port`, accepting `client_key` for the current user."""

    def __init__(self, folder: Path, sshd: str | None = None) -> None:
        sshd = sshd or sshd_binary()
        if sshd is None:
            raise RuntimeError("OpenSSH is not installed (sshd, ssh, ssh-keygen)")
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("host_key", "client_key", "stranger_key"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)],
                check=True,
                stdin=subprocess.DEVNULL,
            )
        (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
        self.port = free_port()
        host_pub = " ".join((folder / "host_key.pub").read_text().split()[:2])
        (folder / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_pub}\n")
        config = folder / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {folder / 'host_key'}",
                    f"AuthorizedKeysFile {folder / 'authorized_keys'}",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "StrictModes no",
                    "UsePAM no",
                    f"PidFile {folder / 'sshd.pid'}",
                    "AllowTcpForwarding yes",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        if os.geteuid() == 0:  # privilege separation directory, missing on fresh containers
            Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
        self.log_path = folder / "sshd.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sshd, "-D", "-e", "-f", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.close()
                raise RuntimeError(f"sshd exited: {self.log_path.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise RuntimeError("sshd did not start listening within 10 s")

    @property
    def user(self) -> str:
        return getpass.getuser()

    def tunnel(self, remote_port: int, key: str = "client_key", **kw: object) -> SshTunnel:
        """A tunnel through this sshd to `remote_port` on loopback."""
        target = SshTarget("127.0.0.1", self.user, self.port)
        kw.setdefault("ssh_options", ["-F", "/dev/null"])  # the user's ~/.ssh/config stays out
        return SshTunnel(
            target,
            remote_port,
            identity_file=str(self.folder / key),
            known_hosts=str(self.folder / "known_hosts"),
            **kw,  # type: ignore[arg-type]  # the caller's SshTunnel options, passed through
        )

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> LocalSshd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
