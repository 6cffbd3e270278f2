"""Fuzzing the inputs a user (or an attacker) controls: label files, edit lists, video headers.

Every input is either accepted or refused with the module's typed error (LabelFileError,
EditError, VideoOpenError / VideoReadError): never another exception, a hang or a huge
allocation; and whatever `apply` writes, `check` accepts. Hypothesis runs derandomized (the same
examples every run, the "ci" profile) and briefly in CI; VIDIHAND_FUZZ_LONG=1 runs many more
examples, and with VIDIHAND_HYPOTHESIS=long they are random ones (new on every run):

    VIDIHAND_FUZZ_LONG=1 VIDIHAND_HYPOTHESIS=long .venv/bin/python -m pytest -p no:cacheprovider \
        tests/core/test_fuzz.py

(Protocol frames of the remote server are fuzzed in tests/core/test_remote_server.py.)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.cli.cmd_check import consistency_problems, projection_rms
from core.edits import apply_edits, use_hand_model
from core.errors import EditError, LabelFileError, VideoOpenError, VideoReadError
from core.io.labels_h5 import describe, load_labels, save_labels

sys.path.insert(0, str(Path(__file__).parent))

from test_edits_apply_cli import make_labels  # noqa: E402

LONG = os.environ.get("VIDIHAND_FUZZ_LONG", "") not in ("", "0")
FUZZ = settings(
    max_examples=3000 if LONG else 60,
    deadline=None,  # derandomize and database come from the profile (tests/conftest.py)
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def good_file(work: Path) -> bytes:
    return make_labels(work / "good.h5").read_bytes()


@pytest.fixture(autouse=True)
def _no_mano():
    use_hand_model(None)
    yield


# ------------------------------------------------------------------------------ label files
ROOT_ATTRS = ("schema_version", "fps", "n_frames", "width", "height", "video_sha256", "backend")
DATASETS = (
    *(f"hands/{h}/{k}" for h in ("left", "right") for k in (
        "present", "confidence", "joints_3d", "joints_2d", "source", "global_orient",
        "hand_pose", "betas", "transl", "reviewed", "keyframe", "flags")),
    "camera/K", "meta/notes", "meta/history", "meta/extras",
)  # fmt: skip
GROUPS = ("hands", "hands/left", "hands/right", "camera", "meta")

numbers = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 12, 12.5, 1e12, 2**31, 1e308, float("inf"), float("nan")]),
)
attr_values = st.one_of(
    numbers,
    st.text(max_size=20),
    st.binary(max_size=20),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=3).map(np.array),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=10)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)
DTYPES = ("f4", "f8", "i1", "i8", "u1", "u8", "bool", "c8", "S4")


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    ndim = draw(st.integers(0, 3))
    shape = tuple(draw(st.lists(st.integers(0, 25), min_size=ndim, max_size=ndim)))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    fill = draw(numbers)
    with np.errstate(all="ignore"):
        if dtype.kind == "S":
            return np.full(shape, b"ab", dtype)
        try:
            return np.full(shape, fill).astype(dtype)
        except (OverflowError, ValueError):
            return np.zeros(shape, dtype)


mutations = st.one_of(
    st.tuples(st.just("attr"), st.sampled_from(ROOT_ATTRS), attr_values),
    st.tuples(st.just("del_attr"), st.sampled_from(ROOT_ATTRS), st.none()),
    st.tuples(st.just("dataset"), st.sampled_from(DATASETS), arrays()),
    st.tuples(st.just("del"), st.sampled_from(DATASETS + GROUPS), st.none()),
    st.tuples(st.just("json"), st.sampled_from(DATASETS[-3:]), json_values.map(json.dumps)),
    st.tuples(st.just("text"), st.sampled_from(DATASETS[-3:]), st.text(max_size=30)),
    st.tuples(
        st.just("soft_link"),
        st.sampled_from(DATASETS + GROUPS),
        st.sampled_from(DATASETS + GROUPS + ("/nowhere", "/")),
    ),  # fmt: skip
    st.tuples(st.just("external_link"), st.sampled_from(DATASETS), st.just("missing.h5")),
)


def _mutate(f: h5py.File, kind: str, key: str, value: Any) -> None:
    if kind == "attr":
        f.attrs[key] = value
    elif kind == "del_attr":
        if key in f.attrs:
            del f.attrs[key]
    elif kind in ("dataset", "json", "text", "soft_link", "external_link", "del"):
        if key in f:
            del f[key]
        if kind == "dataset":
            f[key] = value
        elif kind in ("json", "text"):
            f.create_dataset(key, data=value, dtype=h5py.string_dtype("utf-8"))
        elif kind == "soft_link":
            f[key] = h5py.SoftLink(value if value.startswith("/") else f"/{value}")
        elif kind == "external_link":
            f[key] = h5py.ExternalLink(value, "/data")


def _check_like_the_cli(path: Path) -> None:
    """What `vidihand check` does with a file; only LabelFileError may come out."""
    doc = load_labels(path)
    with contextlib.redirect_stdout(io.StringIO()):
        consistency_problems(doc)
        projection_rms(doc)
        json.dumps(describe(doc))


@FUZZ
@given(muts=st.lists(mutations, min_size=1, max_size=3),
       flips=st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 255)), max_size=8))  # fmt: skip
def test_fuzz_label_files(work: Path, good_file: bytes, muts, flips) -> None:
    path = work / "fuzz.h5"
    path.write_bytes(good_file)
    try:
        with h5py.File(path, "r+") as f:
            for kind, key, value in muts:
                _mutate(f, kind, key, value)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError):
        pass  # h5py could not make this mutation: test the file as it is
    if flips:  # random byte flips anywhere in the file (metadata included)
        data = bytearray(path.read_bytes())
        for pos, xor in flips:
            data[pos % len(data)] ^= xor
        path.write_bytes(bytes(data))
    with contextlib.suppress(LabelFileError):
        _check_like_the_cli(path)


# ------------------------------------------------------------------------------ edit lists
OPS = (
    "interpolate", "smooth", "set_present", "swap_hands", "copy_pose", "delete_range",
    "set_reviewed", "set_flags", "set_keyframe", "set_note", "move_joint_2d", "move_joint_3d",
    "transform_hand", "set_joint_rotation", "refit_mano", "no_such_op",
)  # fmt: skip
FIELDS = (
    "hand", "frame", "frames", "start", "end", "joint", "uv", "xyz", "sigma", "present",
    "reviewed", "flags", "on", "keyframe", "text", "from", "from_frame", "rotation",
    "translation", "axis_angle",
)  # fmt: skip
field_values = st.one_of(
    st.integers(-5, 95),
    numbers,
    st.sampled_from(["left", "right", "both", "occluded", "wrist", "index_tip", ""]),
    st.booleans(),
    st.none(),
    st.lists(st.one_of(st.integers(-5, 95), numbers), max_size=4),
    st.lists(st.lists(st.text(max_size=8), max_size=2), max_size=2),
    json_values,
)
edits = st.lists(
    st.fixed_dictionaries(
        {"op": st.sampled_from(OPS)},
        optional={k: field_values for k in FIELDS},
    ),
    min_size=1,
    max_size=4,
)


@FUZZ
@given(edit_list=edits)
def test_fuzz_edit_lists(work: Path, edit_list: list[dict[str, Any]]) -> None:
    source = work / "edits_in.h5"
    if not source.exists():
        make_labels(source)
    doc = load_labels(source)
    before = consistency_problems(doc)
    # through JSON, as `vidihand apply` reads them (NaN and Infinity included)
    edit_list = json.loads(json.dumps(edit_list))
    try:
        apply_edits(doc, edit_list)
    except EditError:
        return
    out = save_labels(doc, work / "edits_out.h5")
    # whatever apply writes, check accepts: it loads, and has no problem the input had not
    assert set(consistency_problems(load_labels(out))) <= set(before), edit_list


# ------------------------------------------------------------------------------ video headers
HEADERS = {
    "h263": b"\x00\x00\x80\x02\x08",
    "h264": b"\x00\x00\x00\x01\x67\x42\x00\x1e",
    "mpeg1": b"\x00\x00\x01\xb3",
    "m4v": b"\x00\x00\x01\xb0\x01\x00\x00\x01\xb5",
    "mp4": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2",
    "mkv": b"\x1a\x45\xdf\xa3",
    "avi": b"RIFF\x00\x10\x00\x00AVI LIST",
    "jpeg": b"\xff\xd8\xff\xe0",
    "none": b"",
}


@FUZZ
@given(header=st.sampled_from(sorted(HEADERS)), tail=st.binary(min_size=0, max_size=4096),
       seed=st.integers(0, 2**32 - 1))  # fmt: skip
def test_fuzz_video_headers(work: Path, header: str, tail: bytes, seed: int) -> None:
    from core.video.reader import open_video

    path = work / "fuzz.mp4"
    noise = np.random.default_rng(seed).bytes(20_000)
    path.write_bytes(HEADERS[header] + tail + noise)
    try:
        video = open_video(path)
    except VideoOpenError:
        return
    with video:  # it opened: then its frames decode or fail with the typed error
        assert video.info.width > 0 and video.info.height > 0
        for i in range(min(video.info.n_frames, 3)):
            with contextlib.suppress(VideoReadError):
                video.frame(i)
