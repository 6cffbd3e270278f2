"""Backend options a client may send, per backend, and nothing else.

The server never opens a path a client names. A client option is accepted only when the
backend declares it here: numbers and flags by type, strings only from a fixed pattern, and
files only as `{"blob": sha256}` naming an upload (the client uploads the file first). Files on
the server (a checkpoint folder) are set by the server's owner (`vidihand serve
--backend-option BACKEND.KEY=VALUE`). Every refusal is decided from the request alone, before
any file is looked at, so the answer never tells whether some file exists on the server.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from core.remote.paths import check_sha256
from core.remote.protocol import ProtocolError


@dataclass(frozen=True)
class Option:
    """One option a client may set: a scalar of `kinds`, a string matching `pattern`, or (with
    `blob`) an uploaded file."""

    kinds: tuple[type, ...] = ()
    pattern: str | None = None  #: strings allowed only when they fully match this
    blob: bool = False
    optional: bool = False  #: None allowed


_INT = Option((int,))
_FLOAT = Option((int, float))
_BOOL = Option((bool,))

#: backend -> option -> what a client may send. Keys must be parameters of the backend's
#: factory (tests/core/test_remote_limits.py checks); extend here when a backend grows one.
CLIENT_OPTIONS: dict[str, dict[str, Option]] = {
    "mediapipe": {
        "model_complexity": _INT,
        "min_detection_confidence": _FLOAT,
        "min_tracking_confidence": _FLOAT,
        "static_image_mode": _BOOL,
        "mirrored": _BOOL,
        "snap": _BOOL,
        "batch_size": _INT,
        "prefetch_frames": _INT,
    },
    "groundtruth": {
        "labels": Option(blob=True),
        "decode": _BOOL,
        "batch_size": _INT,
    },
    "vidihand": {
        "device": Option(pattern=r"cpu|cuda(:[0-9]{1,2})?"),
        "batch_windows": _INT,
        "overlap": Option((int,), optional=True),
        # a model *name* from the server's --models folder (core/remote/models.py looks it up
        # among the folders it listed itself); never a path
        "checkpoint": Option(pattern=r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"),
    },
}

#: options naming files on the server: only the server's owner sets them
SERVER_ONLY: dict[str, frozenset[str]] = {
    "vidihand": frozenset({"base_weights", "model"}),
}

_SERVER_HINT = "Set it on the server: vidihand serve --backend-option {backend}.{key}=VALUE."
_BLOB_HINT = (
    "Pass a file that exists on the client: the vidihand client uploads it and sends "
    "{'blob': sha256}. The server never opens a path a client names."
)


def check_options(backend: str, options: object) -> dict[str, Any]:
    """`options` from a client for `backend`, checked against CLIENT_OPTIONS (ProtocolError
    with code `path` or `bad_request` otherwise)."""
    if not isinstance(options, dict):
        raise ProtocolError("backend options must be a map.", code="bad_request")
    allowed = CLIENT_OPTIONS.get(backend, {})
    out: dict[str, Any] = {}
    for key, value in options.items():
        if not isinstance(key, str) or not key.isidentifier() or len(key) > 64:
            raise ProtocolError(
                f"backend option name {_show(key)} is not an identifier.", code="bad_request"
            )
        if key in SERVER_ONLY.get(backend, ()):
            raise ProtocolError(
                f"option {key!r} of backend {backend!r} names a file on the server; "
                "clients cannot set it.",
                code="path",
                hint=_SERVER_HINT.format(backend=backend, key=key),
            )
        spec = allowed.get(key)
        if spec is None:
            names = ", ".join(sorted(allowed)) or "none"
            raise ProtocolError(
                f"backend {backend!r} has no option {key!r} that a client may set "
                f"(it has: {names}).",
                code="bad_request",
                hint="See docs/reconstructors.md for each backend's options.",
            )
        out[key] = _check_value(backend, key, spec, value)
    return out


def _check_value(backend: str, key: str, spec: Option, value: object) -> Any:
    if spec.blob:
        if isinstance(value, dict) and set(value) == {"blob"}:
            return {"blob": check_sha256(value["blob"])}
        raise ProtocolError(
            f"option {key!r} of backend {backend!r} is a file and paths are not accepted "
            f"(got {_show(value)}): upload it and send {{'blob': sha256}}.",
            code="path",
            hint=_BLOB_HINT,
        )
    if value is None and spec.optional:
        return None
    if spec.pattern is not None:
        if isinstance(value, str) and re.fullmatch(spec.pattern, value):
            return value
        raise ProtocolError(
            f"option {key!r} of backend {backend!r} must match {spec.pattern!r}, "
            f"got {_show(value)}.",
            code="bad_request",
        )
    if isinstance(value, bool) and bool not in spec.kinds:
        ok = False
    else:
        ok = isinstance(value, spec.kinds)
    if ok and isinstance(value, float) and not math.isfinite(value):
        ok = False
    if not ok:
        want = "/".join(k.__name__ for k in spec.kinds)
        raise ProtocolError(
            f"option {key!r} of backend {backend!r} must be a finite {want}, got {_show(value)}.",
            code="bad_request",
        )
    return value


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
