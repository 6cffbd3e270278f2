"""Schema-v1 HDF5 label files: round trip, atomic saves, refusal of malformed files, mismatched
videos, NPZ export."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import core.io.labels_h5 as labels_h5
from core.errors import LabelFileError, LabelMismatchError
from core.io.labels_h5 import load_labels, save_labels
from core.io.npz import save_npz
from core.labels.document import (
    TRACK_FIELDS,
    Flag,
    LabelDocument,
    Source,
    VideoMeta,
    intrinsics_from_values,
)


def full_document(n: int = 300, seed: int = 0) -> LabelDocument:
    """Both hands full of data, with gaps (NaN), every source, flags, notes, history, extras."""
    rng = np.random.default_rng(seed)
    meta = VideoMeta(n, 29.97, 1280, 720, "ab" * 32, "/videos/clip.mp4")
    doc = LabelDocument(meta, intrinsics_from_values(1000.0, 1001.0, 639.5, 359.5))
    for h in range(2):
        present = rng.random(n) > 0.2
        values = {
            "present": present,
            "confidence": np.where(present, rng.random(n), 0).astype(np.float32),
            "joints_3d": rng.normal(0, 0.05, (n, 21, 3)) + [0, 0, 0.6],
            "joints_2d": rng.uniform(0, 720, (n, 21, 2)),
            "global_orient": rng.normal(0, 1, (n, 3)),
            "hand_pose": rng.normal(0, 0.3, (n, 45)),
            "betas": rng.normal(0, 1, (n, 10)),
            "transl": rng.normal(0, 0.2, (n, 3)),
            "source": rng.integers(0, len(Source), n).astype(np.uint8),
            "reviewed": rng.random(n) > 0.5,
            "keyframe": rng.random(n) > 0.9,
            "flags": (rng.integers(0, 64, n)).astype(np.uint16),
        }
        for name in ("joints_3d", "joints_2d", "global_orient", "hand_pose", "betas", "transl"):
            values[name][~present] = np.nan
        values["hand_pose"][5, 7] = np.nan  # a single unknown value inside a present frame
        doc.write(h, slice(None), values)
    doc.backend, doc.backend_version = "mediapipe", "0.10.14 (test)"
    doc.notes = {3: "occluded by the mug", 120: "ünïcode ✓"}
    doc.history = [
        {"op": "set_joint", "hand": 1, "frames": [4], "joint": 8, "value": [0.1, 0.2, 0.5]}
    ]
    doc.extras = {"failure_review": {"12": "lr_swap"}, "nested": [1, 2.5, None, "x"]}
    return doc


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def saved(tmp_path: Path) -> tuple[LabelDocument, Path]:
    doc = full_document()
    path = save_labels(doc, tmp_path / "labels.h5")
    return doc, path


def test_round_trip_is_exact(saved) -> None:
    doc, path = saved
    back = load_labels(path)
    assert back.equals(doc)  # every track array incl. NaN positions, K, notes, meta
    for a, b in zip(doc.hands, back.hands, strict=True):
        for name in TRACK_FIELDS:
            x, y = getattr(a, name), getattr(b, name)
            assert x.dtype == y.dtype and x.shape == y.shape
            np.testing.assert_array_equal(x, y)  # NaN == NaN here; no tolerance
    assert (back.backend, back.backend_version, back.created) == (
        doc.backend,
        doc.backend_version,
        doc.created,
    )
    assert back.notes == doc.notes and back.history == doc.history and back.extras == doc.extras
    assert not back.dirty
    assert back.hands[1].flags.dtype == np.uint16 and (back.hands[1].flags & Flag.LR_SWAP).any()


def test_file_carries_its_conventions(saved) -> None:
    _, path = saved
    with h5py.File(path, "r") as f:
        assert f.attrs["schema_version"] == 1
        for key in (
            "fps",
            "n_frames",
            "width",
            "height",
            "video_sha256",
            "coordinate_frame",
            "units",
            "rotation_format",
            "joint_order",
            "pixel_convention",
        ):
            assert key in f.attrs, key
        assert json.loads(f.attrs["joint_order"])[:2] == ["wrist", "thumb_cmc"]
        assert f["camera/K"].shape == (3, 3) and f["camera/K"].dtype == np.float64
        left = f["hands/left"]
        assert left["present"].dtype == np.bool_
        assert left["joints_3d"].shape == (300, 21, 3) and left["joints_3d"].dtype == np.float32
        assert left["source"].dtype == np.uint8
        assert left["joints_3d"].chunks is not None and np.isnan(left["joints_3d"].fillvalue)
        assert left["present"].compression == "gzip"


def test_unknown_stretches_cost_no_space(tmp_path: Path) -> None:
    """Float chunks holding only the unknown value are not written (HDF5 fill value NaN), and a
    plain h5py reader still sees NaN there."""
    n = 20_000
    doc = LabelDocument(VideoMeta(n, 30.0, 640, 480, "00" * 32))
    j3 = np.random.default_rng(0).normal(0, 0.05, (100, 21, 3)) + [0, 0, 0.5]
    doc.write(
        0,
        range(5000, 5100),
        {
            "present": True,
            "confidence": 0.8,
            "joints_3d": j3,
            "joints_2d": j3[..., :2] * 500,
            "source": Source.PREDICTED,
        },
    )
    path = save_labels(doc, tmp_path / "sparse.h5")
    dense_bytes = sum(a.nbytes for t in doc.hands for a in t.arrays().values())
    assert path.stat().st_size < dense_bytes / 20
    with h5py.File(path, "r") as f:
        j = f["hands/left/joints_3d"][()]
        assert np.isnan(j[:4096]).all() and np.isnan(j[6144:]).all()
        np.testing.assert_array_equal(j[5000:5100], j3.astype(np.float32))
        assert np.isnan(f["hands/right/hand_pose"][()]).all()
        np.testing.assert_array_equal(f["hands/left/confidence"][4000:5000], 0)
    assert load_labels(path).equals(doc)


def test_save_is_atomic(saved, monkeypatch: pytest.MonkeyPatch) -> None:
    """An error half-way through writing leaves the previous file byte-identical and no
    temporary file behind."""
    doc, path = saved
    before = _sha(path)
    original = labels_h5._write

    def failing_write(f: h5py.File, d: LabelDocument) -> None:
        original(f, d)  # everything is written to the temporary file ...
        raise OSError("No space left on device")  # ... then the disk fills up

    monkeypatch.setattr(labels_h5, "_write", failing_write)
    doc.notes[7] = "changed"
    with pytest.raises(OSError, match="No space"):
        save_labels(doc, path)
    assert _sha(path) == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def _corrupt_copies(src: Path, folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    data = src.read_bytes()
    (p := folder / "truncated.h5").write_bytes(data[: len(data) // 2])
    out["truncated"] = p
    (p := folder / "header_only.h5").write_bytes(data[:600])
    out["header_only"] = p
    (p := folder / "garbage.h5").write_bytes(np.random.default_rng(0).bytes(4096))
    out["garbage"] = p
    (p := folder / "empty.h5").write_bytes(b"")
    out["empty"] = p

    def edited(name: str, edit) -> None:
        p = folder / f"{name}.h5"
        shutil.copyfile(src, p)
        with h5py.File(p, "r+") as f:
            edit(f)
        out[name] = p

    edited("missing_dataset", lambda f: f.__delitem__("hands/left/joints_3d"))
    edited("missing_group", lambda f: f.__delitem__("hands/right"))
    edited("missing_K", lambda f: f.__delitem__("camera/K"))
    edited("missing_attr", lambda f: f.attrs.__delitem__("video_sha256"))
    edited("schema_v2", lambda f: f.attrs.__setitem__("schema_version", 2))

    def wrong_shape(f: h5py.File) -> None:
        del f["hands/right/joints_2d"]
        f["hands/right/joints_2d"] = np.zeros((300, 21, 3), np.float32)

    edited("wrong_shape", wrong_shape)

    def wrong_length(f: h5py.File) -> None:
        del f["hands/left/present"]
        f["hands/left/present"] = np.zeros(299, bool)

    edited("wrong_length", wrong_length)

    def bad_K(f: h5py.File) -> None:
        del f["camera/K"]
        f["camera/K"] = np.zeros((3, 3))

    edited("bad_K", bad_K)

    def bad_json(f: h5py.File) -> None:
        del f["meta/history"]
        f.create_dataset("meta/history", data="[{not json", dtype=h5py.string_dtype())

    edited("bad_json", bad_json)
    edited("impossible_meta", lambda f: f.attrs.__setitem__("fps", -1.0))
    return out


def test_malformed_files_are_refused_untouched(saved, tmp_path: Path) -> None:
    _, path = saved
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    copies = _corrupt_copies(path, bad_dir)
    expected_words = {
        "truncated": "not a readable HDF5",
        "header_only": "not a readable HDF5",
        "garbage": "not a readable HDF5",
        "empty": "not a readable HDF5",
        "missing_dataset": "joints_3d is missing",
        "missing_group": "no /hands/right",
        "missing_K": "no /camera/K",
        "missing_attr": "video_sha256",
        "schema_v2": "schema v2",
        "wrong_shape": "joints_2d has shape",
        "wrong_length": "present has shape",
        "bad_K": "camera/K",
        "bad_json": "is not valid JSON",
        "impossible_meta": "impossible video metadata",
    }
    assert set(copies) == set(expected_words)
    for name, p in copies.items():
        before = _sha(p)
        with pytest.raises(LabelFileError) as info:
            load_labels(p)
        assert expected_words[name] in str(info.value), (name, str(info.value))
        assert info.value.hint, name  # every refusal says what to do
        assert _sha(p) == before, f"loading {name} changed the file"
    with pytest.raises(LabelFileError, match="not found"):
        load_labels(tmp_path / "nope.h5")
    with pytest.raises(LabelFileError, match="folder"):
        load_labels(bad_dir)


def test_labels_for_another_video_are_refused_unless_forced(saved) -> None:
    doc, path = saved
    same = VideoMeta(**vars(doc.meta))
    assert load_labels(path, expect=same).equals(doc)
    other_count = VideoMeta(**{**vars(doc.meta), "n_frames": 301})
    other_hash = VideoMeta(**{**vars(doc.meta), "video_sha256": "cd" * 32})
    for other, words in (
        (other_count, "300 frames in the labels, 301"),
        (other_hash, "video hash"),
    ):
        with pytest.raises(LabelMismatchError, match=words) as info:
            load_labels(path, expect=other)
        assert "force" in info.value.hint
        assert load_labels(path, expect=other, force=True).equals(doc)


def test_npz_export(saved, tmp_path: Path) -> None:
    doc, _ = saved
    out = save_npz(doc, tmp_path / "labels.npz")
    with np.load(out) as z:
        np.testing.assert_array_equal(z["K"], doc.K)
        for h, name in enumerate(("left", "right")):
            for field in TRACK_FIELDS:
                np.testing.assert_array_equal(z[f"{name}_{field}"], getattr(doc.hands[h], field))
        meta = json.loads(str(z["meta"]))
    assert meta["schema_version"] == 1 and meta["n_frames"] == 300
    assert meta["video_sha256"] == doc.meta.video_sha256 and meta["backend"] == "mediapipe"
