"""Edits with a MANO model: the real loader and fit (core.hands) on a synthetic MANO-format
model the test writes, so joints and MANO parameters stay consistent through edits."""

from __future__ import annotations

import numpy as np
import pytest

from core.camera import project
from core.edits import EditHistory, use_hand_model
from core.hands.mano import ManoModel
from core.hands.model import ManoEditModel
from core.hands.synthetic_mano import write_synthetic_mano
from core.io.hot3d import import_hot3d, read_mano_trajectory
from core.labels.document import LabelDocument, Source, VideoMeta

N = 12


class CountingModel(ManoEditModel):
    """The real MANO adapter, counting its fits."""

    fits = 0

    def fit(self, hand, joints, init):
        self.fits += 1
        return super().fit(hand, joints, init)


@pytest.fixture(scope="module")
def mano_dir(tmp_path_factory):
    return write_synthetic_mano(tmp_path_factory.mktemp("mano"), chumpy=True)


@pytest.fixture(scope="module")
def model(mano_dir):
    return CountingModel(ManoModel(mano_dir))


@pytest.fixture
def doc(model):
    """Both hands from MANO itself: joints are exactly the model's for the stored parameters."""
    use_hand_model(model)
    rng = np.random.default_rng(5)
    doc = LabelDocument(VideoMeta(N, 30.0, 1280, 720))
    t = np.linspace(0, 1, N)[:, None]
    for h in range(2):
        params = {
            "global_orient": np.array([np.pi, 0.2, 0.1]) + 0.3 * t * [0, 1, 0],
            "hand_pose": rng.normal(0, 0.15, (1, 45)) * (1 + t),
            "betas": np.repeat(rng.normal(0, 0.5, (1, 10)), N, 0),
            "transl": np.array([(-0.12 if h == 0 else 0.12), 0.0, 0.55]) + 0.05 * t,
        }
        joints = model.joints(h, params)
        doc.write(
            h,
            slice(None),
            {
                "present": True,
                "confidence": 1.0,
                "joints_3d": joints,
                "joints_2d": project(joints, doc.K),
                **params,
                "source": int(Source.PREDICTED),
            },
        )
    yield doc
    use_hand_model(None)


def test_a_drag_refits_mano_once_at_the_end(doc, model):
    ref = doc.copy()
    h = EditHistory(doc)
    uv0 = project(doc.hands[1].joints_3d[4, 8], doc.K)
    before = model.fits
    with h.gesture("drag joint"):
        for k in range(1, 6):
            h.apply("move_joint_2d", hand="right", frame=4, joint=8, uv=uv0 + [2.0 * k, -1.5 * k])
    assert model.fits == before + 1  # one refit for the whole drag
    tr = doc.hands[1]
    np.testing.assert_allclose(project(tr.joints_3d[4, 8], doc.K), uv0 + [10, -7.5], atol=1e-3)
    assert tr.has_mano()[4]
    np.testing.assert_array_equal(tr.betas[4], ref.hands[1].betas[4])  # shape kept
    fitted = model.joints(
        1, {k: getattr(tr, k)[4:5] for k in ("global_orient", "hand_pose", "betas", "transl")}
    )[0]
    err_mm = 1000 * np.linalg.norm(fitted - tr.joints_3d[4], axis=-1)
    assert err_mm.mean() < 3.0 and err_mm.max() < 10.0, err_mm
    h.undo()
    assert doc.equals(ref)


def test_interpolation_and_rotation_edits_compute_joints_through_mano(doc, model):
    h = EditHistory(doc)
    h.apply("interpolate", hand="left", start=2, end=9)
    tr = doc.hands[0]
    params = {k: getattr(tr, k)[3:9] for k in ("global_orient", "hand_pose", "betas", "transl")}
    np.testing.assert_allclose(tr.joints_3d[3:9], model.joints(0, params), atol=1e-6)
    h.apply("set_joint_rotation", hand="right", frame=6, joint=9, axis_angle=[0.0, 0.0, 0.8])
    tr = doc.hands[1]
    params = {k: getattr(tr, k)[6:7] for k in ("global_orient", "hand_pose", "betas", "transl")}
    np.testing.assert_allclose(tr.hand_pose[6, 9:12], [0, 0, 0.8], atol=1e-7)  # MANO joint 4
    np.testing.assert_allclose(tr.joints_3d[6], model.joints(1, params)[0], atol=1e-6)


def test_hot3d_pca_pose_through_configured_mano_files(shared_data, mano_dir, model, monkeypatch):
    from core.hands.mano import mano_arrays

    monkeypatch.setenv("VIDIHAND_MANO_DIR", str(mano_dir))  # hands_components from the files
    use_hand_model(model)
    try:
        path = (
            shared_data
            / "hot3d-sample"
            / "Quest3"
            / "P0002_273c2819"
            / "mano_hand_pose_trajectory.jsonl"
        )
        doc = import_hot3d(path)
        traj = read_mano_trajectory(path)
        assert doc.extras["hot3d"]["pose_known"]
        for h, name in ((0, "MANO_LEFT.pkl"), (1, "MANO_RIGHT.pkl")):
            comps = mano_arrays(mano_dir / name, h)["hands_components"]
            np.testing.assert_allclose(
                doc.hands[h].hand_pose, traj.pose_pca[:, h] @ comps[:15], atol=1e-5
            )
            assert np.isfinite(doc.hands[h].joints_3d).all()  # joints through MANO
            np.testing.assert_allclose(doc.hands[h].joints_3d[:, 0], traj.wrist_t[:, h], atol=0.2)
    finally:
        use_hand_model(None)


def test_hot3d_in_a_headset_camera_lands_in_hot3ds_own_hand_boxes(
    shared_data, mano_dir, model, monkeypatch
):
    """World -> camera through the headset trajectory and camera_models.json, checked against
    HOT3D's 2D hand boxes of the same camera (projection with the fisheye's pinhole part)."""
    import csv

    monkeypatch.setenv("VIDIHAND_MANO_DIR", str(mano_dir))  # hands_components from the files
    use_hand_model(model)
    folder = shared_data / "hot3d-sample" / "Quest3" / "P0002_273c2819"
    boxes = list(csv.DictReader((folder / "box2d_hands.csv").open()))
    try:
        for cam in ("1201-1", "1201-2"):
            doc = import_hot3d(folder / "mano_hand_pose_trajectory.jsonl", camera=cam)
            assert doc.extras["hot3d"]["coordinate_frame"].startswith(f"camera {cam}")
            frame_of = {v: int(k) for k, v in doc.extras["hot3d"]["frame_timestamps_ns"].items()}
            checked = 0
            for r in (r for r in boxes if r["stream_id"] == cam):
                f, h = frame_of[int(r["timestamp[ns]"])], int(r["hand_index"])
                u, v = project(doc.hands[h].joints_3d[f], doc.K).mean(0)
                assert float(r["x_min[pixel]"]) <= u <= float(r["x_max[pixel]"])
                assert float(r["y_min[pixel]"]) <= v <= float(r["y_max[pixel]"])
                checked += 1
            assert checked == 30
            # the camera-frame MANO parameters give the camera-frame joints
            tr = doc.hands[1]
            params = {k: getattr(tr, k) for k in ("global_orient", "hand_pose", "betas", "transl")}
            np.testing.assert_allclose(model.joints(1, params), tr.joints_3d, atol=2e-5)
    finally:
        use_hand_model(None)


def test_reset_hand_model_looks_the_model_up_again(mano_dir, tmp_path, monkeypatch):
    """`hand_model()` asks core.hands once and keeps the answer; after the MANO folder setting
    changed (a script pointing VIDIHAND_MANO_DIR at the files), `reset_hand_model()` makes the
    next call look again, and the edits then refit with the new files."""
    import core.hands.model as hand_models
    from core.edits.model import hand_model, reset_hand_model

    monkeypatch.setattr(hand_models, "_model", hand_models._model)  # restored afterwards
    monkeypatch.setenv("VIDIHAND_MANO_DIR", str(tmp_path / "no-mano-here"))
    reset_hand_model()
    assert hand_model() is None  # no files: the documented fallbacks
    monkeypatch.setenv("VIDIHAND_MANO_DIR", str(mano_dir))
    assert hand_model() is None  # the answer is kept until a reset
    reset_hand_model()
    found = hand_model()
    assert isinstance(found, ManoEditModel) and hand_model() is found
    params = {"betas": np.zeros(10), "global_orient": np.zeros(3), "hand_pose": np.zeros(45),
              "transl": np.zeros(3)}  # fmt: skip
    expected = ManoModel(mano_dir).joints(1, params)
    np.testing.assert_allclose(found.joints(1, params), expected, atol=1e-6)
