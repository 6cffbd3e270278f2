"""One typed settings object for the app and the command line.

Layers, later wins: the defaults below, then the user's JSON file
(`core.paths.config_dir() / "settings.json"`), then environment variables (`VIDIHAND_MANO_DIR`,
`VIDIHAND_BACKEND`, `VIDIHAND_3D`). Saving writes the file layer only: a value that came from the environment
is never written back into the user's file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from core.errors import SettingsError
from core.io.atomic import atomic_write_bytes
from core.paths import config_dir

SETTINGS_FILE = "settings.json"
#: environment variable -> settings field
ENV_VARS: dict[str, str] = {
    "VIDIHAND_MANO_DIR": "mano_dir",
    "VIDIHAND_BACKEND": "default_backend",
    "VIDIHAND_3D": "view3d_canvas",
}


@dataclass
class RemoteHost:
    """A GPU machine reached over SSH (used by the remote worker; see docs/remote.md)."""

    name: str
    host: str
    user: str = ""
    port: int = 22  #: SSH port
    key_file: str = ""  #: SSH private key (ssh -i); empty: ssh's defaults
    #: run detached on the host before a run's first tunnel (starts `vidihand serve`; empty:
    #: the server is started by other means). A second server on a busy port just exits.
    remote_command: str = ""
    remote_log: str = ""  #: on the host: that command's output (empty: ~/.vidihand-serve.log)
    remote_port: int = 8765  #: port `vidihand serve` listens on, on the host's loopback
    token_file: str = ""  #: this machine's copy of the server's token file
    known_hosts: str = ""  #: checked strictly when set (StrictHostKeyChecking=yes)
    accept_new_host_key: bool = False  #: trust a host's key on first use (accept-new)
    ssh_options: list[str] = field(default_factory=list)  #: extra `ssh -o` options


@dataclass
class Settings:
    recent_files: list[str] = field(default_factory=list)  #: videos, newest first
    recent_labels: list[str] = field(default_factory=list)  #: label files, newest first
    max_recent: int = 10
    last_dir: str = ""  #: where file dialogs open
    mano_dir: str = ""  #: folder with MANO_RIGHT.pkl / MANO_LEFT.pkl (user's licensed files)
    default_backend: str = "mediapipe"
    window_geometry: str = ""  #: base64 of QMainWindow.saveGeometry()
    window_state: str = ""  #: base64 of QMainWindow.saveState() (dock layout)
    trail_length: int = 15  #: frames of wrist trail in the 3D view
    #: how the 3D view is drawn: "auto" (off screen with software OpenGL, else embedded),
    #: "offscreen" or "opengl" (app/widgets/vtk_canvas.py); environment: VIDIHAND_3D
    view3d_canvas: str = "auto"
    remote_hosts: list[RemoteHost] = field(default_factory=list)

    #: where it was loaded from (not saved)
    path: Path | None = field(default=None, repr=False, compare=False)
    _env: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------------ load/save
    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Settings:
        """Defaults, then the user file (if any), then environment variables."""
        p = Path(path) if path is not None else config_dir() / SETTINGS_FILE
        s = cls()
        s.path = p
        if p.exists():
            try:
                data = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise SettingsError(
                    f"The settings file {p} cannot be read ({exc}).",
                    hint="Fix or delete the file; the defaults are used when it is absent.",
                ) from exc
            if not isinstance(data, dict):
                raise SettingsError(f"{p} must hold a JSON object.", hint="Fix or delete the file.")
            s._update(data, source=str(p))
        for var, name in ENV_VARS.items():
            value = os.environ.get(var)
            if value:
                s._env[name] = getattr(s, name)  # the file value, restored when saving
                setattr(s, name, value)
        return s

    def _update(self, data: dict[str, Any], source: str) -> None:
        known = {f.name: f for f in fields(self) if not f.name.startswith("_") and f.name != "path"}
        for key, value in data.items():
            if key not in known:
                continue  # written by a newer version: keep going
            default = getattr(self, key)
            if key == "remote_hosts":
                try:
                    names = {f.name for f in fields(RemoteHost)}  # newer keys are skipped
                    value = [
                        RemoteHost(**{k: v for k, v in h.items() if k in names}) for h in value
                    ]
                except (TypeError, AttributeError) as exc:
                    raise SettingsError(
                        f"{source}: remote_hosts entries need name and host ({exc}).",
                        hint="Fix the entry or remove it.",
                    ) from exc
            elif isinstance(default, list):
                if not isinstance(value, list):
                    raise SettingsError(f"{source}: {key} must be a list.", hint="Fix the file.")
                value = [str(v) for v in value]
            elif isinstance(default, bool | int | str) and not isinstance(value, type(default)):
                raise SettingsError(
                    f"{source}: {key} must be a {type(default).__name__}, got {value!r}.",
                    hint="Fix the value or remove it to use the default.",
                )
            setattr(self, key, value)

    def choose(self, name: str, value: Any) -> None:
        """Set `name` as the user's choice: the value the file keeps (one an environment
        variable gave for this run no longer replaces it when saving)."""
        self._env.pop(name, None)
        setattr(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("path", None)
        d.pop("_env", None)
        d.update(self._env)  # values from the environment stay out of the file
        return d

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        p = Path(path) if path is not None else (self.path or config_dir() / SETTINGS_FILE)
        atomic_write_bytes(p, json.dumps(self.to_dict(), indent=2).encode("utf-8"))
        self.path = p
        return p

    # ------------------------------------------------------------------ helpers
    def add_recent(self, path: str | os.PathLike[str], kind: str = "video") -> None:
        """Put a path first in the recent videos (or labels) list."""
        lst = self.recent_files if kind == "video" else self.recent_labels
        p = str(Path(path).expanduser().resolve())
        if p in lst:
            lst.remove(p)
        lst.insert(0, p)
        del lst[self.max_recent :]

    def mano_path(self) -> Path | None:
        return Path(self.mano_dir).expanduser() if self.mano_dir else None
