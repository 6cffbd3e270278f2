"""ARCTIC-style export of corrected labels, read back as ARCTIC loaders read it."""

from __future__ import annotations

import numpy as np
import pytest

from core.cli.main import main
from core.edits import EditHistory, use_hand_model
from core.io.arctic import export_arctic, import_arctic
from core.io.hot3d import import_hot3d
from core.io.labels_h5 import save_labels
from core.labels.document import Source


@pytest.fixture(autouse=True)
def _no_mano():
    use_hand_model(None)
    yield


@pytest.fixture
def doc(shared_data):
    """Real MANO parameters (HOT3D sample) with PCA expanded through orthonormal components,
    then corrected: a hand deleted on two frames, frames reviewed and flagged."""
    rng = np.random.default_rng(1)
    comps = {h: np.linalg.qr(rng.normal(size=(45, 45)))[0].T for h in (0, 1)}
    path = (
        shared_data
        / "hot3d-sample"
        / "Quest3"
        / "P0002_273c2819"
        / "mano_hand_pose_trajectory.jsonl"
    )
    doc = import_hot3d(path, components=comps)
    h = EditHistory(doc)
    h.apply("delete_range", hand="left", start=3, end=4)
    h.apply("set_reviewed", hand="both", start=0, end=9)
    h.apply("set_flags", hand="right", frames=[2], flags=["occluded"])
    return doc


def test_export_matches_arctic_layout_and_reads_back(doc, tmp_path):
    paths = export_arctic(doc, tmp_path, "P0002")
    assert [p.name for p in paths] == ["P0002.mano.npy", "P0002.egocam.npy", "P0002.provenance.npy"]
    mano = np.load(paths[0], allow_pickle=True).item()  # how ARCTIC's loaders read it
    for hand, name in enumerate(("left", "right")):
        m, tr = mano[name], doc.hands[hand]
        assert m["rot"].shape == (15, 3) and m["pose"].shape == (15, 45)
        assert m["trans"].shape == (15, 3) and m["shape"].shape == (15, 10)
        valid = tr.present & tr.has_mano()
        np.testing.assert_array_equal(m["valid"], valid)
        np.testing.assert_array_equal(m["pose"][valid], tr.hand_pose[valid])
        np.testing.assert_array_equal(m["trans"][valid], tr.transl[valid])
        assert np.isfinite(m["pose"]).all() and (m["pose"][~valid] == 0).all()
    assert not mano["left"]["valid"][3:5].any() and mano["left"]["valid"][5]
    ego = np.load(paths[1], allow_pickle=True).item()
    assert ego["world2ego"].shape == (15, 4, 4)
    assert ego["coordinate_frame"].startswith("world (HOT3D)")

    back = import_arctic(paths[0])
    for hand in (0, 1):
        a, b = doc.hands[hand], back.hands[hand]
        np.testing.assert_array_equal(a.present, b.present)
        for k in ("global_orient", "hand_pose", "transl", "betas", "source", "reviewed", "flags"):
            np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=k)
    assert back.hands[1].flags[2] == 1 and back.hands[0].source[3] == Source.NONE


def test_export_cli(doc, tmp_path, capsys):
    labels = save_labels(doc, tmp_path / "seq.h5")
    assert main(["export", str(labels), "arctic", "-o", str(tmp_path / "arctic")]) == 0
    assert (tmp_path / "arctic" / "seq.mano.npy").is_file()
    assert main(["export", str(labels), "npz", "-o", str(tmp_path / "seq.npz")]) == 0
    npz = np.load(tmp_path / "seq.npz")
    np.testing.assert_array_equal(npz["left_reviewed"], doc.hands[0].reviewed)
    assert (
        main(
            [
                "import",
                "arctic",
                str(tmp_path / "arctic" / "seq.mano.npy"),
                "-o",
                str(tmp_path / "b.h5"),
            ]
        )
        == 0
    )
