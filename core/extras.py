"""Optional parts of the product (pip extras) and the one place that says which is missing.

`pip install vidihand-studio` gives review, edits, import/export and the CPU reconstruction;
heavier parts are extras (pyproject `[project.optional-dependencies]`):

| extra | gives | packages |
|---|---|---|
| `model` | the ViDiHand model backend, `vidihand train` | diffusers, accelerate, safetensors |
| `batch` | `vidihand batch` on a Ray cluster | ray |
| `rerun` | `vidihand export ... rrd` | rerun-sdk |

`require(module, extra)` imports a module of an extra, or raises `MissingExtraError` whose
message names the extra to install. Code that uses an extra imports it through `require`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from core.errors import MissingExtraError

#: extra -> what it is for (the message's second half)
EXTRAS: dict[str, str] = {
    "model": "the ViDiHand model backend and training",
    "batch": "batch runs on Ray",
    "rerun": "Rerun recordings",
}


def require(module: str, extra: str) -> ModuleType:
    """`importlib.import_module(module)`, or a one-line MissingExtraError naming `extra`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] not in (top, module):
            raise  # the package is there but one of its own imports failed: a real bug
        raise MissingExtraError(
            f"{EXTRAS.get(extra, extra)} needs the [{extra}] extra ({top} is not installed).",
            hint=f"Install it with: pip install 'vidihand-studio[{extra}]'",
        ) from None
