"""Start-up refusals of `vidihand serve` that keep the server reachable only through SSH.

- A non-loopback bind address is refused unless the owner says so (`--allow-remote-bind`): the
  protocol authenticates but does not encrypt, so the token would cross the network in clear.
- A token file that others can read or write is refused (by the server here, by the client in
  `core.remote.client.read_token`), as OpenSSH refuses such private keys:
  anyone who reads the token can run jobs and read every result on the server.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import stat
from pathlib import Path

from core.errors import RemoteError


def is_loopback(host: str) -> bool:
    """True when every address `host` names is a loopback address (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False  # the bind will fail and say why
    return bool(infos) and all(
        ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos
    )


def check_bind_host(host: str, allow_remote: bool) -> None:
    """Refuse to listen beyond this machine unless `allow_remote`."""
    if allow_remote or is_loopback(host):
        return
    raise RemoteError(
        f"refusing to listen on {host}: it is reachable from other machines and the protocol "
        "is not encrypted (the token and every video would cross the network in clear).",
        hint="Keep the default --host 127.0.0.1 and reach the server through an SSH tunnel "
        "(vidihand reconstruct --ssh USER@HOST, docs/remote.md). On a network you trust "
        "completely, add --allow-remote-bind.",
    )


def check_token_file_private(path: str | os.PathLike[str]) -> None:
    """Refuse a token file that its owner's group or other users can read or write."""
    p = Path(path).expanduser()
    try:
        mode = stat.S_IMODE(p.stat().st_mode)
    except OSError:
        return  # reading it reports the problem
    if mode & 0o077:
        raise RemoteError(
            f"the token file {p} is accessible by other users (mode {mode:04o}); anyone who "
            "reads it can run jobs on the server and read their results.",
            hint=f"Make it private to you: chmod 600 {p}",
        )
