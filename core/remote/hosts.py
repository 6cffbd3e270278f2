"""Remote hosts from the settings (`core.settings.RemoteHost`): checking what a person typed,
turning a host into the options of a worker job, and a quick connection test.

The app's Settings > Remote hosts dialog and its reconstruction panel use these, but nothing
here needs a screen: a script can run a job on a configured host the same way,

    backend, options = remote_job(settings.remote_hosts[0], "mediapipe", {})
    LocalWorker(JobSpec(video, backend, options)).start()   # or create_backend(backend, **options)
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import RemoteError, SettingsError
from core.settings import RemoteHost

#: what `ssh` accepts as a user and a host name (the same as core.remote.tunnel's parser)
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_HOST = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*|\[[0-9a-fA-F:.]+\]|[0-9a-fA-F.]*:[0-9a-fA-F:.]*")
_SSH_OPTION = re.compile(r"[A-Za-z][A-Za-z0-9]*=\S.*")


def host_problems(host: RemoteHost, others: Iterable[RemoteHost] = ()) -> list[tuple[str, str]]:
    """(field, message) for every value of `host` that cannot work; empty when it is usable.
    `others` are the other configured hosts (names must be unique)."""
    out: list[tuple[str, str]] = []
    name = host.name.strip()
    if not name:
        out.append(("name", "Give the host a name (shown in the Run on list)."))
    elif any(o.name.strip().lower() == name.lower() for o in others):
        out.append(("name", f"Another host is already called {name!r}; choose another name."))
    h = host.host.strip()
    if not h:
        out.append(("host", "Enter the SSH host name or address (e.g. gpu-box.example.org)."))
    elif "@" in h:
        out.append(("host", "Put the user name in the User field, not in the host."))
    elif not _HOST.fullmatch(h):
        out.append(("host", f"{h!r} is not a host name or address (letters, digits, . - _)."))
    if host.user.strip() and not _USER.fullmatch(host.user.strip()):
        out.append(("user", f"{host.user!r} is not a valid user name."))
    for field_name, label in (("port", "SSH port"), ("remote_port", "Server port")):
        value = getattr(host, field_name)
        if not isinstance(value, int) or not 0 < value < 65536:
            out.append((field_name, f"{label} must be a number from 1 to 65535, got {value!r}."))
    if not host.token_file.strip():
        out.append(
            (
                "token_file",
                "Choose this machine's copy of the server's token file (the file given to "
                "`vidihand serve --token-file`).",
            )
        )
    else:
        from core.remote.client import read_token

        try:
            read_token(host.token_file.strip())
        except RemoteError as exc:
            out.append(("token_file", exc.message[:1].upper() + exc.message[1:]))
    for field_name, what in (("key_file", "SSH key"), ("known_hosts", "known_hosts file")):
        value = getattr(host, field_name).strip()
        if value and not Path(value).expanduser().is_file():
            out.append((field_name, f"The {what} {value} does not exist."))
    for opt in host.ssh_options:
        if not _SSH_OPTION.fullmatch(opt.strip()):
            out.append(
                (
                    "ssh_options",
                    f"SSH option {opt!r} must look like Name=value (e.g. ProxyJump=bastion).",
                )
            )
    for field_name, what in (("remote_command", "remote command"), ("remote_log", "server log")):
        if any(c in getattr(host, field_name) for c in "\r\n\0"):
            out.append((field_name, f"The {what} must be one line."))
    return out


def check_host(host: RemoteHost, others: Iterable[RemoteHost] = ()) -> None:
    """Raise SettingsError naming every problem of `host` (see `host_problems`)."""
    problems = host_problems(host, others)
    if problems:
        raise SettingsError(
            f"The remote host {host.name or host.host!r} cannot be used: "
            + " ".join(message for _, message in problems),
            hint="Fix it in Settings > Remote hosts.",
        )


def remote_job_options(
    host: RemoteHost, backend: str, options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Keywords of `create_remote_backend` (the "remote" backend) running `backend` with
    `options` on `host`. Plain values only, so a worker job spec can carry them."""
    from core.remote.backend import host_options

    out = host_options(host, host.token_file.strip())
    name = host.host.strip()
    if ":" in name and not name.startswith("["):  # an IPv6 address: [::1]:22
        user = f"{host.user.strip()}@" if host.user.strip() else ""
        out["ssh"] = f"{user}[{name}]:{host.port}"
    extra = [o.strip() for o in host.ssh_options if o.strip()]
    if host.accept_new_host_key and not host.known_hosts:
        extra.append("StrictHostKeyChecking=accept-new")
    out.update(backend=backend, options=dict(options or {}), ssh_options=extra)
    if host.remote_log.strip():
        out["remote_log"] = host.remote_log.strip()
    return out


def remote_job(
    host: RemoteHost, backend: str, options: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """(backend name, options) for a worker job that runs `backend` on `host`."""
    check_host(host)
    return "remote", remote_job_options(host, backend, options)


@dataclass
class ConnectionCheck:
    """What a successful `try_connection` learned."""

    where: str  #: "through the SSH tunnel to ..."
    server: str  #: the server's version string
    max_jobs: int
    seconds: float
    #: the server's named models (`vidihand serve --models`): name, config, parameters, sha256
    models: list[dict[str, Any]] = field(default_factory=list)

    def text(self) -> str:
        text = (
            f"Connected {self.where} in {self.seconds:.1f} s: {self.server} serves "
            f"{self.max_jobs} job{'s' if self.max_jobs != 1 else ''} at once."
        )
        if not self.models:
            return text + "\nNo named models (the server was started without --models DIR)."
        lines = [f"  {m['name']}  ({model_summary(m)})" for m in self.models]
        return text + "\nModels (backend vidihand, option checkpoint=NAME):\n" + "\n".join(lines)


def model_summary(model: dict[str, Any]) -> str:
    """ "tiny, 0.66 M parameters, 1a2b3c4d5e6f" for one entry of a server's model list."""
    n = int(model.get("parameters", 0))
    size = f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.2f} M"
    loaded = ", loaded" if model.get("loaded") else ""
    return f"{model.get('config', '?')}, {size} parameters, {str(model.get('sha256', ''))[:12]}{loaded}"


def try_connection(host: RemoteHost, retries: int = 8) -> ConnectionCheck:
    """Open the tunnel (starting the server with the host's remote command when set), pass the
    server's token check, close. Raises RemoteError (message + hint) or SettingsError.
    `retries` as a run's (about 16 s of backoff): a server the remote command has just started
    takes seconds to listen (its imports), more on a busy host, and refuses the tunnel's
    connections until then."""
    from core.remote.backend import create_remote_backend

    check_host(host)
    t0 = time.perf_counter()
    rec = create_remote_backend(**remote_job_options(host, "mediapipe"), retries=retries)
    try:
        client = rec.connect(report=False)
        try:
            welcome = dict(client.welcome)
            models = server_models(client)
        finally:
            client.close()
    finally:
        rec.close()
    return ConnectionCheck(
        where=rec.endpoint.describe(),
        server=str(welcome.get("server", "vidihand serve")),
        max_jobs=int(welcome.get("max_jobs", 1) or 1),
        seconds=time.perf_counter() - t0,
        models=models,
    )


def server_models(client: Any) -> list[dict[str, Any]]:
    """A connected RemoteClient's model list ([] from a server older than list_models)."""
    from core.remote.protocol import ServerError

    try:
        return client.list_models()
    except ServerError as exc:
        if exc.code == "malformed":  # "unknown message type": an older server
            return []
        raise
