"""The server's named models and what makes a job's results what they are.

`vidihand serve --models DIR`: every sub-folder of DIR that holds a ViDiHand checkpoint
(config.json + model.safetensors) is a model named after the folder. Clients choose one by
name (`--checkpoint NAME`); the server never opens a path a client sent: a name is only ever
looked up among the folders the server listed itself.

A model's identity is the SHA-256 of its content (config.json and the safetensors files, plus
the Wan base-weights folder its configuration names). Hashes are cached per file by (size,
modification time, inode), so a listing re-reads only files that changed.

`job_identity` is what, besides the client's request, decides a job's frames: the software
and backend versions, the model's content hash and the server-side backend options (paths
replaced by their content hash). It is part of the job's key, so a replaced checkpoint never
returns the old model's frames, and a job whose model changed is not resumed.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.remote.protocol import ProtocolError

MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: files of a checkpoint or base-weights folder that define the model (not logs, optimizer)
MODEL_FILES = ("config.json", "*.safetensors", "*.safetensors.index.json")


class ContentHasher:
    """SHA-256 of files and model folders, cached by (size, mtime, inode). Thread-safe."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[tuple[int, int, int], str]] = {}
        self._lock = threading.Lock()

    def file(self, path: Path) -> str:
        st = path.stat()
        stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
        key = str(path)
        with self._lock:
            hit = self._files.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 22):
                h.update(chunk)
        digest = h.hexdigest()
        with self._lock:
            self._files[key] = (stamp, digest)
        return digest

    def folder(self, root: Path) -> str:
        """Hash of a model folder: its defining files (also one level down: transformer/,
        vae/), by relative name."""
        files = sorted(
            {
                p
                for pattern in MODEL_FILES
                for p in (*root.glob(pattern), *root.glob(f"*/{pattern}"))
            }
        )
        h = hashlib.sha256()
        for f in files:
            if f.is_file():
                h.update(f"{f.relative_to(root).as_posix()}\0{self.file(f)}\n".encode())
        return h.hexdigest()

    def checkpoint(self, folder: Path) -> str:
        """A ViDiHand checkpoint's hash, including the base-weights folder it records."""
        h = hashlib.sha256(self.folder(folder).encode())
        try:
            base = json.loads((folder / "config.json").read_text()).get("base_weights")
        except (OSError, ValueError):
            base = None
        if base:
            h.update(b"\0base\0" + self.folder(Path(base)).encode())
        return h.hexdigest()


#: one per process: the server's listings and the warm worker's checks share the cache
HASHER = ContentHasher()

#: held while a backend is built (warm.py) or a model described in this process: diffusers'
#: lazy imports fail when two threads trigger them at once ("cannot import name ...")
BUILD_LOCK = threading.Lock()


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    sha256: str
    config: str
    parameters: int

    def public(self) -> dict[str, Any]:
        """What clients see (no server path)."""
        return {
            "name": self.name,
            "backend": "vidihand",
            "config": self.config,
            "parameters": self.parameters,
            "sha256": self.sha256,
        }


class ModelRegistry:
    """The models in `root` (None: the server has no models folder)."""

    def __init__(self, root: Path | None, hasher: ContentHasher = HASHER) -> None:
        self.root = root.resolve() if root is not None else None
        self.hasher = hasher
        self._params: dict[str, tuple[str, int]] = {}  #: config.json text -> (name, count)
        self._lock = threading.Lock()

    def folders(self) -> dict[str, Path]:
        """Name -> folder of every checkpoint folder in the models folder."""
        if self.root is None or not self.root.is_dir():
            return {}
        out = {}
        for entry in sorted(self.root.iterdir()):
            if (
                MODEL_NAME.fullmatch(entry.name)
                and entry.is_dir()
                and (entry / "config.json").is_file()
                and (entry / "model.safetensors").is_file()
            ):
                out[entry.name] = entry
        return out

    def info(self, name: str, folder: Path) -> ModelInfo:
        config, parameters = self._describe(folder)
        return ModelInfo(name, folder, self.hasher.checkpoint(folder), config, parameters)

    def list(self) -> list[ModelInfo]:
        return [self.info(n, f) for n, f in self.folders().items()]

    def get(self, name: object) -> ModelInfo:
        """The model called `name`; a clear `not_found` naming the models there are."""
        if not isinstance(name, str) or not MODEL_NAME.fullmatch(name):
            raise ProtocolError(
                f"{str(name)[:40]!r} is not a model name (letters, digits, . _ -).",
                code="bad_request",
                hint=self.hint(),
            )
        folder = self.folders().get(name)
        if folder is None:
            raise ProtocolError(
                f"this server has no model {name!r}.", code="not_found", hint=self.hint()
            )
        return self.info(name, folder)

    def hint(self) -> str:
        names = list(self.folders())
        if self.root is None:
            return "Start the server with --models DIR (one sub-folder per checkpoint)."
        if not names:
            return f"The server's models folder {self.root.name}/ holds no checkpoint yet."
        return "Models on this server: " + ", ".join(names) + " (vidihand models --remote ...)."

    def _describe(self, folder: Path) -> tuple[str, int]:
        """(configuration name, parameter count), built on the meta device once per config."""
        text = (folder / "config.json").read_text()
        with self._lock:
            hit = self._params.get(text)
        if hit is None:
            with BUILD_LOCK:  # diffusers' lazy imports are not safe from two threads at once
                from core.recon.vidihand.checkpoint import read_checkpoint_config
                from core.recon.vidihand.model import ViDiHandModel

                cfg, _ = read_checkpoint_config(folder)
                hit = (cfg.name, ViDiHandModel(cfg, meta=True).parameter_counts()["total"])
            with self._lock:
                self._params[text] = hit
        return hit


# ------------------------------------------------------------------------- job identity
def backend_version(backend: str) -> str:
    """The backend class's version without building it (a model is not loaded for this)."""
    import importlib

    from core import __version__
    from core.recon.registry import BACKENDS

    module, _, attr = BACKENDS[backend][0].partition(":")
    try:
        version = getattr(getattr(importlib.import_module(module), attr), "version", "")
    except ImportError:
        version = "unavailable"
    return f"vidihand-studio {__version__}, {backend} {version if isinstance(version, str) else ''}"


def resolve_model(
    registry: ModelRegistry, backend: str, options: dict[str, Any], server: dict[str, Any]
) -> ModelInfo | None:
    """The model a vidihand job uses: the client's `checkpoint` name, else the server's own
    `checkpoint` option (a path on the server), else the only model in the folder."""
    if backend != "vidihand":
        return None
    name = options.get("checkpoint")
    if name is not None:
        return registry.get(name)
    if server.get("checkpoint"):  # a checkpoint fixed by the server's --backend-option
        folder = Path(str(server["checkpoint"])).expanduser()
        if not folder.is_dir():
            return None  # the job fails with the backend's own "does not exist" message
        return ModelInfo(folder.name, folder, registry.hasher.checkpoint(folder), "", 0)
    folders = registry.folders()
    if len(folders) == 1:
        ((only, folder),) = folders.items()
        return registry.info(only, folder)
    raise ProtocolError(
        "name the model to run with --checkpoint NAME.",
        code="bad_request",
        hint=registry.hint(),
    )


def job_identity(
    registry: ModelRegistry, backend: str, options: dict[str, Any], server: dict[str, Any]
) -> dict[str, Any]:
    """Everything server-side that decides the job's frames (part of the job's key)."""
    out: dict[str, Any] = {"version": backend_version(backend)}
    model = resolve_model(registry, backend, options, server)
    if model is not None:
        out["model"] = model.name
        out["model_sha256"] = model.sha256
    opts: dict[str, Any] = {}
    for key, value in sorted(server.items()):
        path = Path(str(value)).expanduser() if isinstance(value, str) else None
        if path is not None and path.is_dir():
            opts[key] = {"sha256": registry.hasher.folder(path)}
        elif path is not None and path.is_file():
            opts[key] = {"sha256": registry.hasher.file(path)}
        else:
            opts[key] = value
    out["server_options"] = opts
    return out


def changed_identity(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Words for what differs between two identities ('' when equal)."""
    if old == new:
        return ""
    if old.get("model_sha256") != new.get("model_sha256"):
        name = new.get("model") or old.get("model") or "the model"
        a, b = str(old.get("model_sha256", "none"))[:12], str(new.get("model_sha256", "none"))[:12]
        return f"model {name!r} changed since the job started (content {a} -> {b})"
    if old.get("version") != new.get("version"):
        return f"the backend changed ({old.get('version') or 'unknown'} -> {new.get('version')})"
    return "the server's backend options changed"


# ----------------------------------------------------------------------- the server's side
class ServerModels:
    """What `vidihand serve` knows about models: the registry, the identity of jobs, and the
    warm workers' load events (which models are resident, how often each was loaded)."""

    def __init__(self, root: Path | None, backend_options: dict[str, dict[str, Any]]) -> None:
        self.registry = ModelRegistry(root)
        self.backend_options = backend_options
        self.loads: dict[str, int] = {}  #: resolved checkpoint folder -> times loaded
        self.resident: dict[str, int] = {}  #: resolved checkpoint folder -> loaded copies
        self.events: list[dict[str, Any]] = []  #: the last load / reuse / eviction events
        self._lock = threading.Lock()

    def identity(self, backend: str, options: dict[str, Any]) -> dict[str, Any]:
        return job_identity(self.registry, backend, options, self.backend_options.get(backend, {}))

    def resolve(
        self, backend: str, client: dict[str, Any], options: dict[str, Any]
    ) -> dict[str, Any]:
        """The backend's options (client's and server's merged) with the model the client
        named (`checkpoint`: a *name*) replaced by its folder on this server."""
        out = dict(options)
        server = self.backend_options.get(backend, {})
        model = resolve_model(self.registry, backend, client, server)
        if model is not None:
            out["checkpoint"] = str(model.path)
        return out

    def verify(self, backend: str, options: dict[str, Any], started: dict[str, Any]) -> str | None:
        """Raise when what decides the job's frames changed since it started; returns the
        model's content hash for the worker to check against what it loads."""
        from core.errors import CheckpointError

        try:
            now = self.identity(backend, options)
        except ProtocolError as exc:  # the model folder is gone
            raise CheckpointError(
                f"the job's model is no longer on the server: {exc.message}", hint=exc.hint
            ) from None
        why = changed_identity(started, now)
        if why:
            raise CheckpointError(
                f"not resumed: {why}; its finished frames came from the old one, and one "
                "result file must not mix two models.",
                hint="Run the same command again: a new job computes every frame with the "
                "model now on the server.",
            )
        return now.get("model_sha256")

    def on_event(self, event: Any) -> None:
        """A warm worker's WarmEvent (core/remote/warm.py)."""
        key = str(Path(event.checkpoint).resolve()) if event.checkpoint else event.backend
        with self._lock:
            if event.event == "loaded":
                self.loads[key] = self.loads.get(key, 0) + 1
                self.resident[key] = self.resident.get(key, 0) + 1
            elif event.event == "evicted":
                self.resident[key] = max(0, self.resident.get(key, 0) - 1)
            self.events = [*self.events[-99:], {"event": event.event, "model": Path(key).name,
                           "seconds": round(event.seconds, 4), "bytes": event.nbytes}]  # fmt: skip

    def listing(self) -> list[dict[str, Any]]:
        """Every model, as clients see it, with `loaded` (resident in a worker) and `loads`."""
        out = []
        for info in self.registry.list():
            key = str(info.path.resolve())
            with self._lock:
                loads, resident = self.loads.get(key, 0), self.resident.get(key, 0)
            out.append({**info.public(), "loaded": resident > 0, "loads": loads})
        return out


def preload(server: Any) -> None:
    """`vidihand serve --preload NAME`: load a backend (or a model, by name) into the warm
    workers before the first job (core.remote.server.Server). Failures are only logged: the
    job that needs the model reports them properly."""
    import logging
    import time

    from core.recon.registry import BACKENDS, CLIENT_ONLY

    log = logging.getLogger("vidihand.remote")
    for name in server.config.preload:
        t0 = time.perf_counter()
        backend, client = (name, {}) if name in BACKENDS else ("vidihand", {"checkpoint": name})
        try:
            if backend in CLIENT_ONLY:
                raise ProtocolError(f"{name} is not a backend the server runs.")
            expect = server.models.identity(backend, client).get("model_sha256")
            why = server.runner.preload(backend, server._resolve_options(backend, client), expect)
        except Exception as exc:  # noqa: BLE001 - logged; the job that needs it reports it
            why = getattr(exc, "message", str(exc))
        if why:
            log.warning("could not preload %s: %s", name, why)
        else:
            log.info("preloaded %s in %.1f s", name, time.perf_counter() - t0)
