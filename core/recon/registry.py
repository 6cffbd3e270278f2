"""Backends by name. Each entry names the module and factory that builds it, imported only when
used, so choosing the CPU backend never imports torch or diffusers."""

from __future__ import annotations

import importlib
from typing import Any

from core.errors import ReconstructorError
from core.recon.base import Reconstructor

#: name -> ("module:factory", one-line description)
BACKENDS: dict[str, tuple[str, str]] = {
    "mediapipe": (
        "core.recon.mediapipe_backend:MediaPipeReconstructor",
        "MediaPipe Hands on the CPU, lifted to metric camera space (default)",
    ),
    "vidihand": (
        "core.recon.vidihand.backend:ViDiHandReconstructor",
        "ViDiHand video-diffusion model (needs a checkpoint; GPU recommended)",
    ),
    "groundtruth": (
        "core.recon.groundtruth:GroundTruthReconstructor",
        "replays a label file as if it were predicted (testing and demos)",
    ),
    # options: the host settings (core.remote.hosts.remote_job_options), the backend to run
    # there and its options; what lets a worker process run a job on a `vidihand serve` server
    "remote": (
        "core.remote.backend:create_remote_backend",
        "another backend, computed by a vidihand serve server (over SSH)",
    ),
}
#: backends only a client can run: not offered as a choice, refused by `vidihand serve`
CLIENT_ONLY: frozenset[str] = frozenset({"remote"})

DEFAULT_BACKEND = "mediapipe"


def available_backends() -> dict[str, str]:
    """Name -> description of every backend that computes frames itself (not "remote")."""
    return {name: desc for name, (_, desc) in BACKENDS.items() if name not in CLIENT_ONLY}


def create_backend(name: str, **options: Any) -> Reconstructor:
    """Build the backend called `name` with backend-specific options."""
    if name not in BACKENDS:
        known = ", ".join(sorted(BACKENDS))
        raise ReconstructorError(f"Unknown backend {name!r}.", hint=f"Choose one of: {known}.")
    target, _ = BACKENDS[name]
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ReconstructorError(
            f"Backend {name!r} cannot be loaded: {exc}.",
            hint="Re-run the set-up command from the README to install its dependencies.",
        ) from exc
    factory = getattr(module, attr)
    return factory(**options)
