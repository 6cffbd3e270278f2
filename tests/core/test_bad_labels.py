"""Damaged and hostile label files: `vidihand check` (and every loader) answers each with one
line of error and exit status 2, never a traceback, a hang or a huge allocation (issue 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from core.cli.main import main
from core.errors import LabelFileError
from core.io.labels_h5 import load_labels, save_labels
from core.labels.document import LabelDocument, Source, VideoMeta


def good_labels(path: Path, n: int = 12) -> Path:
    doc = LabelDocument(VideoMeta(n, 30.0, 320, 240, video_sha256="ab" * 32))
    j = np.zeros((n, 21, 3))
    j[..., 2] = 0.5
    j[..., 0] = np.linspace(-0.05, 0.05, 21)
    from core.camera import project

    doc.write(1, slice(None), {"present": True, "confidence": 0.9, "joints_3d": j,
                               "joints_2d": project(j, doc.K), "source": int(Source.PREDICTED)})  # fmt: skip
    return save_labels(doc, path)


def _replace(f: h5py.File, key: str, value: object, dtype: object = None) -> None:
    del f[key]
    if dtype is None:
        f[key] = value
    else:
        f.create_dataset(key, data=value, dtype=dtype)


STR = h5py.string_dtype("utf-8")


def notes_list(f: h5py.File, tmp: Path) -> None:
    _replace(f, "meta/notes", json.dumps([1, 2, 3]), STR)


def notes_bad_key(f: h5py.File, tmp: Path) -> None:
    _replace(f, "meta/notes", json.dumps({"one": "x"}), STR)


def history_deep(f: h5py.File, tmp: Path) -> None:
    _replace(f, "meta/history", "[" * 100_000 + "]" * 100_000, STR)


def extras_list(f: h5py.File, tmp: Path) -> None:
    _replace(f, "meta/extras", json.dumps([1]), STR)


def history_not_json(f: h5py.File, tmp: Path) -> None:
    _replace(f, "meta/history", "{not json", STR)


def soft_link_loop(f: h5py.File, tmp: Path) -> None:
    del f["hands/left/present"]
    f["hands/left/present"] = h5py.SoftLink("/hands/left/loop")
    f["hands/left/loop"] = h5py.SoftLink("/hands/left/present")


def soft_link_group(f: h5py.File, tmp: Path) -> None:
    del f["hands/right"]
    f["hands/right"] = h5py.SoftLink("/hands/left")


def huge_n_frames(f: h5py.File, tmp: Path) -> None:
    f.attrs["n_frames"] = 10**12
    _empty_tracks(f)


def big_n_frames(f: h5py.File, tmp: Path) -> None:
    f.attrs["n_frames"] = 40_000_000  # plausible, but the arrays are empty: no allocation
    _empty_tracks(f)


def _empty_tracks(f: h5py.File) -> None:
    for hand in ("left", "right"):
        for name in list(f[f"hands/{hand}"]):
            shape = f[f"hands/{hand}/{name}"].shape
            dtype = f[f"hands/{hand}/{name}"].dtype
            del f[f"hands/{hand}/{name}"]
            f.create_dataset(f"hands/{hand}/{name}", shape=(0, *shape[1:]), dtype=dtype)


def fractional_n_frames(f: h5py.File, tmp: Path) -> None:
    f.attrs["n_frames"] = 12.5


def string_n_frames(f: h5py.File, tmp: Path) -> None:
    f.attrs["n_frames"] = "twelve"


def array_fps(f: h5py.File, tmp: Path) -> None:
    f.attrs["fps"] = np.array([30.0, 25.0])


def inf_joints_2d(f: h5py.File, tmp: Path) -> None:
    f["hands/right/joints_2d"][3, 4, 0] = np.inf


def inf_hand_pose(f: h5py.File, tmp: Path) -> None:
    f["hands/left/hand_pose"][0, 0] = -np.inf


def overflow_joints_3d(f: h5py.File, tmp: Path) -> None:
    _replace(f, "hands/right/joints_3d", np.full((12, 21, 3), 1e300))  # float64: inf in float32


def fractional_source(f: h5py.File, tmp: Path) -> None:
    _replace(f, "hands/right/source", np.full(12, 1.5))


def present_two(f: h5py.File, tmp: Path) -> None:
    _replace(f, "hands/right/present", np.full(12, 2, np.int64))


def nan_K(f: h5py.File, tmp: Path) -> None:
    f["camera/K"][0, 0] = np.nan


def string_dataset(f: h5py.File, tmp: Path) -> None:
    _replace(f, "hands/left/confidence", np.array(["x"] * 12, dtype=object), STR)


def external_link_fifo(f: h5py.File, tmp: Path) -> None:
    fifo = tmp / "fifo.h5"
    os.mkfifo(fifo)
    del f["hands/left/present"]
    f["hands/left/present"] = h5py.ExternalLink(str(fifo), "/data")


def external_link_file(f: h5py.File, tmp: Path) -> None:
    other = tmp / "other.h5"
    with h5py.File(other, "w") as g:
        g["data"] = np.ones(12, bool)
    del f["hands/left/present"]
    f["hands/left/present"] = h5py.ExternalLink(str(other), "/data")


def external_storage_fifo(f: h5py.File, tmp: Path) -> None:
    fifo = tmp / "raw.fifo"
    os.mkfifo(fifo)
    del f["hands/left/confidence"]
    f.create_dataset("hands/left/confidence", shape=(12,), dtype="f4",
                     external=[(str(fifo), 0, h5py.h5f.UNLIMITED)])  # fmt: skip


BAD_FILES: dict[str, tuple[Callable[[h5py.File, Path], None], str]] = {
    "notes_list": (notes_list, "meta/notes"),
    "notes_bad_key": (notes_bad_key, "meta/notes"),
    "history_deep": (history_deep, "meta/history"),
    "history_not_json": (history_not_json, "meta/history"),
    "extras_list": (extras_list, "meta/extras"),
    "soft_link_loop": (soft_link_loop, "link"),
    "soft_link_group": (soft_link_group, "link"),
    "huge_n_frames": (huge_n_frames, "n_frames"),
    "big_n_frames": (big_n_frames, "shape"),
    "fractional_n_frames": (fractional_n_frames, "n_frames"),
    "string_n_frames": (string_n_frames, "n_frames"),
    "array_fps": (array_fps, "fps"),
    "inf_joints_2d": (inf_joints_2d, "joints_2d"),
    "inf_hand_pose": (inf_hand_pose, "hand_pose"),
    "nan_K": (nan_K, "camera/K"),
    "overflow_joints_3d": (overflow_joints_3d, "joints_3d"),
    "fractional_source": (fractional_source, "source"),
    "present_two": (present_two, "present"),
    "string_dataset": (string_dataset, "confidence"),
    "external_link_fifo": (external_link_fifo, "external link"),
    "external_link_file": (external_link_file, "external link"),
    "external_storage_fifo": (external_storage_fifo, "external"),
}


def make_bad(tmp_path: Path, name: str) -> Path:
    path = good_labels(tmp_path / f"{name}.h5")
    mutate, _ = BAD_FILES[name]
    with h5py.File(path, "r+") as f:
        mutate(f, tmp_path)
    return path


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_label_file_is_one_line_exit_2(name: str, tmp_path: Path, capsys) -> None:
    path = make_bad(tmp_path, name)
    before = path.read_bytes()
    if "fifo" in name:  # a loader that follows the link blocks forever: bound it
        rc, err = run_check_bounded(path)
    else:
        rc = main(["check", str(path)])
        err = capsys.readouterr().err
    assert rc == 2, err
    first = err.splitlines()[0]
    assert first.startswith("error: ") and "Traceback" not in err
    assert BAD_FILES[name][1] in first, first
    assert len(err.splitlines()) <= 2  # the error and its hint
    assert path.read_bytes() == before  # nothing changed
    if "fifo" not in name:
        with pytest.raises(LabelFileError):
            load_labels(path)


def run_check_bounded(path: Path) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "core.cli.main", "check", str(path)],
                          capture_output=True, text=True, timeout=120, env={**os.environ})  # fmt: skip
    return proc.returncode, proc.stderr


def test_a_fifo_is_not_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "labels.h5"
    os.mkfifo(fifo)
    rc, err = run_check_bounded(fifo)  # opening a FIFO would block forever
    assert rc == 2 and "not a regular file" in err


def test_the_good_file_passes(tmp_path: Path, capsys) -> None:
    assert main(["check", str(good_labels(tmp_path / "ok.h5"))]) == 0
