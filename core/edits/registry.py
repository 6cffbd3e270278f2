"""The edit operations by name, and the checks every JSON edit goes through.

An edit is a JSON object `{"op": NAME, ...fields}` (docs/edits-format.md). Each operation is a
function `fn(history, edit)` registered here with its required and optional fields; `run_edit`
checks the edit (known op, no missing or unknown fields), runs it inside the caller's gesture and
logs its JSON form in doc.history. Field helpers turn JSON values into checked Python values and
raise `EditError` with a message that names the field and what is allowed.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from core.errors import EditError
from core.labels.document import FLAG_NAMES, Flag
from core.labels.joints import HAND_NAMES, JOINT_NAMES, N_JOINTS

if TYPE_CHECKING:
    from core.labels.document import LabelDocument, Patch


class Editor(Protocol):
    """What an operation uses of the undo history (`core.edits.history.EditHistory`): the
    document and its recorded write path. Typed by what it offers, so this module does not
    import the history, which imports this one to run edits."""

    doc: LabelDocument

    def write(
        self, hand: int | str, frames: Iterable[int] | slice | int, values: Mapping[str, Any]
    ) -> Patch: ...

    def set_note(self, frame: int, text: str) -> None: ...

    def set_extra(self, key: str, value: Any) -> None: ...

    def log(self, edit: dict[str, Any]) -> None: ...

    def defer(self, key: Hashable, fn: Callable[[], None]) -> bool: ...

    def flush_deferred(self) -> None: ...


OpFunc = Callable[[Editor, dict[str, Any]], None]

#: modules whose import registers operations
_OP_MODULES = (
    "core.edits.ops",
    "core.edits.pose",
    "core.edits.interpolate",
    "core.recon.refine.edit_op",
)


@dataclass(frozen=True)
class OpSpec:
    name: str
    func: OpFunc
    required: tuple[str, ...]
    optional: tuple[str, ...]
    doc: str


OPS: dict[str, OpSpec] = {}
#: ops whose follow-up work (a MANO refit) may wait until the gesture ends, so a drag made of
#: many of them refits once
DEFERRING_OPS = frozenset({"move_joint_2d", "move_joint_3d"})


def register(
    name: str, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()
) -> Callable[[OpFunc], OpFunc]:
    """Decorator: make `fn(history, edit)` the operation `name`."""

    def deco(fn: OpFunc) -> OpFunc:
        OPS[name] = OpSpec(name, fn, required, optional, (fn.__doc__ or "").strip())
        return fn

    return deco


def load_ops() -> dict[str, OpSpec]:
    for mod in _OP_MODULES:
        importlib.import_module(mod)
    return OPS


def run_edit(history: Editor, edit: Mapping[str, Any]) -> dict[str, Any]:
    """Check and run one edit inside the open gesture; return its JSON form (also logged)."""
    load_ops()
    if not isinstance(edit, Mapping):
        raise EditError(
            f"an edit must be a JSON object, got {type(edit).__name__}",
            hint='Write edits as {"op": "...", ...}; see docs/edits-format.md.',
        )
    name = edit.get("op")
    spec = OPS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise EditError(
            f"unknown op {name!r}",
            hint="Known ops: " + ", ".join(sorted(OPS)) + " (docs/edits-format.md).",
        )
    missing = [f for f in spec.required if f not in edit]
    if missing:
        raise EditError(
            f"{name} needs field(s) {', '.join(missing)}",
            hint=_fields_hint(spec),
        )
    unknown = [f for f in edit if f != "op" and f not in spec.required and f not in spec.optional]
    if unknown:
        raise EditError(
            f"{name} has unknown field(s) {', '.join(unknown)}", hint=_fields_hint(spec)
        )
    clean: dict[str, Any] = to_json(dict(edit))
    if name not in DEFERRING_OPS:
        history.flush_deferred()  # e.g. a drag's refit, before an edit that may read MANO
    spec.func(history, clean)
    history.log(clean)
    return clean


def _fields_hint(spec: OpSpec) -> str:
    opt = f"; optional: {', '.join(spec.optional)}" if spec.optional else ""
    return f"{spec.name} takes: {', '.join(spec.required) or '-'}{opt} (docs/edits-format.md)."


def to_json(value: Any) -> Any:
    """Plain JSON types (numpy scalars and arrays become numbers and lists)."""
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_json(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


# ------------------------------------------------------------------------------ field helpers
def get_hand(edit: Mapping[str, Any], *, allow_both: bool = False) -> list[int]:
    """Hand indices named by edit["hand"]: [0], [1] or, where allowed, [0, 1] for "both"."""
    value = edit.get("hand")
    if allow_both and (value is None or value == "both"):
        return [0, 1]
    if isinstance(value, str) and value.lower() in HAND_NAMES:
        return [HAND_NAMES.index(value.lower())]
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return [int(value)]
    allowed = '"left", "right"' + (', "both"' if allow_both else "")
    raise EditError(f"hand must be {allowed} (or 0/1), got {value!r}")


def one_hand(edit: Mapping[str, Any]) -> int:
    return get_hand(edit)[0]


#: magnitude bound of every number an edit gives: far beyond any frame index, pixel or metre
#: that makes sense, and small enough that float32 label arrays hold it (`check` reads back
#: everything `apply` writes; 1e300 would become infinity)
MAX_ABS_VALUE = 1e6
#: frames a Gaussian's sigma may span (beyond, smoothing is a flat average anyway)
MAX_SIGMA = 1000.0


def get_int(edit: Mapping[str, Any], key: str) -> int:
    value = edit.get(key)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (isinstance(value, float) and not math.isfinite(value))
        or abs(value) > 2**53
        or value != int(value)
    ):
        raise EditError(f"{key} must be an integer, got {_short(value)}")
    return int(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_frame(doc: LabelDocument, frame: int, key: str = "frame") -> int:
    if not 0 <= frame < doc.n_frames:
        raise EditError(
            f"frame {frame} ({key}) is outside the video's frames 0..{doc.n_frames - 1}",
            hint="Frame indices start at 0.",
        )
    return frame


def get_frame(doc: LabelDocument, edit: Mapping[str, Any], key: str = "frame") -> int:
    return check_frame(doc, get_int(edit, key), key)


def get_range(doc: LabelDocument, edit: Mapping[str, Any]) -> tuple[int, int]:
    """Inclusive (start, end) from edit["start"], edit["end"], checked and ordered."""
    start, end = get_frame(doc, edit, "start"), get_frame(doc, edit, "end")
    if end < start:
        raise EditError(
            f"end {end} is before start {start}", hint="Ranges are start..end inclusive."
        )
    return start, end


def get_frames(doc: LabelDocument, edit: Mapping[str, Any]) -> np.ndarray:
    """Frames chosen by `frames` (a list), `start`/`end` (inclusive) or `frame`."""
    if "frames" in edit:
        raw = edit["frames"]
        if not isinstance(raw, (list, tuple)) or not raw:
            raise EditError(f"frames must be a non-empty list of frame indices, got {_short(raw)}")
        return np.asarray(
            sorted({check_frame(doc, get_int({"frames": v}, "frames"), "frames") for v in raw}),
            np.int64,
        )
    if "start" in edit or "end" in edit:
        start, end = get_range(doc, edit)
        return np.arange(start, end + 1, dtype=np.int64)
    if "frame" in edit:
        return np.asarray([get_frame(doc, edit)], np.int64)
    raise EditError("no frames given", hint='Give "frames": [...], "start"/"end", or "frame".')


def get_joint(edit: Mapping[str, Any], key: str = "joint") -> int:
    value = edit.get(key)
    if isinstance(value, str) and value in JOINT_NAMES:
        return JOINT_NAMES.index(value)
    j = get_int(edit, key)
    if not 0 <= j < N_JOINTS:
        raise EditError(
            f"{key} {j} is not a joint: joints are 0..{N_JOINTS - 1} (0 = wrist, 8 = index tip)",
            hint="See the joint order in docs/labels-format.md.",
        )
    return j


def get_vec(edit: Mapping[str, Any], key: str, n: int, default: Any = None) -> np.ndarray:
    value = edit.get(key, default)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.empty(0)
    if arr.shape != (n,) or not np.isfinite(arr).all():
        raise EditError(f"{key} must be a list of {n} finite numbers, got {_short(value)}")
    if np.abs(arr).max(initial=0.0) > MAX_ABS_VALUE:
        raise EditError(
            f"{key} values must lie within +-{MAX_ABS_VALUE:g}, got {_short(value)}",
            hint="Pixels, metres and radians of a real edit are far smaller.",
        )
    return arr


def get_float(edit: Mapping[str, Any], key: str, default: float | None = None) -> float:
    value = edit.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EditError(f"{key} must be a finite number, got {_short(value)}")
    if abs(value) > MAX_ABS_VALUE:
        raise EditError(f"{key} must lie within +-{MAX_ABS_VALUE:g}, got {value:g}")
    return float(value)


def get_bool(edit: Mapping[str, Any], key: str, default: bool | None = None) -> bool:
    value = edit.get(key, default)
    if not isinstance(value, bool):
        raise EditError(f"{key} must be true or false, got {_short(value)}")
    return value


def get_flags(edit: Mapping[str, Any], key: str = "flags") -> Flag:
    value = edit.get(key)
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names:
        raise EditError(f"{key} must be a list of flag names, got {_short(value)}")
    out = Flag.NONE
    for n in names:
        if not isinstance(n, str) or n not in FLAG_NAMES:
            raise EditError(
                f"unknown flag {_short(n)}", hint="Flags: " + ", ".join(FLAG_NAMES) + "."
            )
        out |= FLAG_NAMES[n]
    return out
