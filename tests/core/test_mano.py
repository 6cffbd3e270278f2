"""MANO from model files without chumpy, the left-hand fix, label-order joints, the per-frame
cache and fitting, all on the synthetic MANO-format model the tests generate."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from core.hands import edit_model
from core.hands.cache import ManoTrackCache
from core.hands.fit import fit_mano
from core.hands.mano import (
    ManoModel,
    ManoModelError,
    find_mano_dir,
    load_mano_pickle,
    mano_arrays,
    mano_available,
)
from core.hands.synthetic_mano import synthetic_mano_arrays, write_synthetic_mano
from core.labels.document import LabelDocument, VideoMeta
from core.labels.joints import (
    BONES,
    LEFT,
    MANO16_TO_21,
    MANO_TIP_VERTICES,
    RIGHT,
)

MIRROR = np.array([-1.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def model(synthetic_mano_dir: Path) -> ManoModel:
    return ManoModel(synthetic_mano_dir)


def _params(rng: np.random.Generator, n: int, scale: float = 0.3) -> dict[str, np.ndarray]:
    return {
        "global_orient": rng.normal(size=(n, 3)),
        "hand_pose": rng.normal(size=(n, 45)) * scale,
        "betas": rng.normal(size=(n, 10)),
        "transl": rng.normal(size=(n, 3)) * 0.1 + [0, 0, 0.5],
    }


def test_chumpy_files_load_without_chumpy(synthetic_mano_dir: Path) -> None:
    path = synthetic_mano_dir / "MANO_RIGHT.pkl"
    with pytest.raises(ModuleNotFoundError):  # what a plain unpickler does with these files
        with open(path, "rb") as fh:
            pickle.load(fh, encoding="latin1")
    data = load_mano_pickle(path)
    expected = synthetic_mano_arrays("right")
    for key in ("v_template", "shapedirs", "hands_components", "hands_mean", "J_regressor"):
        assert isinstance(data[key], np.ndarray), key  # chumpy and sparse became arrays
        assert np.array_equal(data[key], expected[key]), key
    shapes = {k: v.shape for k, v in data.items() if isinstance(v, np.ndarray)}
    assert shapes["v_template"] == (778, 3) and shapes["f"] == (1538, 3)
    assert shapes["posedirs"] == (778, 3, 135) and shapes["shapedirs"] == (778, 3, 10)


def test_plain_files_and_bad_files(tmp_path: Path) -> None:
    folder = write_synthetic_mano(tmp_path / "plain")
    assert mano_available(folder)
    assert load_mano_pickle(folder / "MANO_LEFT.pkl")["v_template"].shape == (778, 3)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "MANO_RIGHT.pkl").write_bytes(b"\x80\x02not a pickle")
    with pytest.raises(ManoModelError, match="not a readable MANO model file"):
        load_mano_pickle(tmp_path / "bad" / "MANO_RIGHT.pkl")
    with open(tmp_path / "bad" / "MANO_LEFT.pkl", "wb") as fh:
        pickle.dump({"v_template": np.zeros((778, 3))}, fh)
    with pytest.raises(ManoModelError, match="missing"):
        load_mano_pickle(tmp_path / "bad" / "MANO_LEFT.pkl")
    with pytest.raises(ManoModelError, match="does not exist") as info:
        ManoModel(tmp_path / "nowhere")
    assert "VIDIHAND_MANO_DIR" in str(info.value)


def test_mano_dir_from_environment(
    synthetic_mano_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDIHAND_MANO_DIR", str(synthetic_mano_dir))
    assert find_mano_dir() == synthetic_mano_dir
    assert edit_model().folder == synthetic_mano_dir
    monkeypatch.delenv("VIDIHAND_MANO_DIR")
    assert find_mano_dir("/some/where") == Path("/some/where")


def test_left_hand_fix_applied(synthetic_mano_dir: Path, model: ManoModel) -> None:
    stored = load_mano_pickle(synthetic_mano_dir / "MANO_LEFT.pkl")["shapedirs"]
    fixed = mano_arrays(synthetic_mano_dir / "MANO_LEFT.pkl", LEFT)["shapedirs"]
    assert np.array_equal(fixed[:, 0], -stored[:, 0]) and np.array_equal(
        fixed[:, 1:], stored[:, 1:]
    )
    right = mano_arrays(synthetic_mano_dir / "MANO_RIGHT.pkl", RIGHT)["shapedirs"]
    assert np.array_equal(
        right, load_mano_pickle(synthetic_mano_dir / "MANO_RIGHT.pkl")["shapedirs"]
    )
    # with the fix, the left hand is the mirror of the right for mirrored parameters and any shape
    p = _params(np.random.default_rng(0), 8)
    mirrored = dict(p)
    aa = np.array([1.0, -1.0, -1.0])
    mirrored["global_orient"] = p["global_orient"] * aa
    mirrored["hand_pose"] = (p["hand_pose"].reshape(8, 15, 3) * aa).reshape(8, 45)
    mirrored["transl"] = p["transl"] * MIRROR
    vr, jr = model.evaluate(RIGHT, p)
    vl, jl = model.evaluate(LEFT, mirrored)
    assert np.abs(jl * MIRROR - jr).max() < 1e-5
    assert np.abs(vl * MIRROR - vr).max() < 1e-5


def test_joints_in_label_order_with_tips_from_vertices(model: ManoModel) -> None:
    p = _params(np.random.default_rng(1), 5)
    for hand in (LEFT, RIGHT):
        verts, joints = model.evaluate(hand, p)
        out = model.layers[hand](**{k: torch.tensor(v, dtype=torch.float32) for k, v in p.items()})
        j16 = out.joints[:, :16].numpy()
        for m, label in enumerate(MANO16_TO_21):
            assert np.allclose(joints[:, label], j16[:, m], atol=1e-5)
        assert np.allclose(
            joints[:, [4, 8, 12, 16, 20]], verts[:, list(MANO_TIP_VERTICES)], atol=1e-5
        )
        # anatomy: every bone has a hand-like length and the fingertips are the far ends
        lengths = np.linalg.norm(
            joints[:, [c for _, c in BONES]] - joints[:, [p_ for p_, _ in BONES]], axis=-1
        )
        assert (lengths > 0.01).all() and (lengths < 0.12).all()
        # joints-only fast path equals the full forward
        assert np.abs(model.joints(hand, p) - joints).max() < 1e-5
    nan = {k: v.copy() for k, v in p.items()}
    nan["betas"][2] = np.nan
    j = model.joints(RIGHT, nan)
    assert np.isnan(j[2]).all() and np.isfinite(j[[0, 1, 3, 4]]).all()


def _doc_with_mano(model: ManoModel, n: int = 40) -> LabelDocument:
    doc = LabelDocument(VideoMeta(n_frames=n, fps=30.0, width=640, height=480))
    rng = np.random.default_rng(2)
    for hand in (LEFT, RIGHT):
        p = _params(rng, n)
        p["betas"][:] = p["betas"][0]
        p["hand_pose"][n - 5 :] = np.nan  # unknown MANO on the last frames
        doc.write(hand, slice(None), {**p, "present": np.ones(n, bool)}, notify=False)
    return doc


def test_cache_recomputes_only_touched_frames(model: ManoModel) -> None:
    doc = _doc_with_mano(model)
    cache = ManoTrackCache(model, doc)
    j = cache.joints(RIGHT)
    assert cache.evaluated == [0, 35]  # 5 frames have no MANO: NaN, nothing to evaluate
    assert np.isnan(j[35:]).all() and np.isfinite(j[:35]).all()
    cache.joints(RIGHT, [3, 4, 5])
    assert cache.evaluated == [0, 35]  # all cached
    # an edit through the document: only its frames are recomputed
    new_pose = doc.hands[RIGHT].hand_pose[[10, 11]] + 0.2
    doc.write(RIGHT, [10, 11], {"hand_pose": new_pose})
    j2 = cache.joints(RIGHT)
    assert cache.evaluated == [0, 37]
    changed = np.abs(j2 - j).max(axis=(1, 2)) > 1e-6
    assert np.array_equal(np.nonzero(changed)[0], [10, 11])
    fresh = model.joints(
        RIGHT,
        {
            k: getattr(doc.hands[RIGHT], k)
            for k in ("global_orient", "hand_pose", "betas", "transl")
        },
    )
    assert np.allclose(j2, fresh, atol=1e-5, equal_nan=True)
    # changes that do not touch MANO fields recompute nothing; other hands are independent
    doc.write(RIGHT, [12], {"reviewed": True})
    cache.joints(RIGHT)
    assert cache.evaluated == [0, 37]
    cache.joints(LEFT, slice(0, 10))
    assert cache.evaluated == [10, 37]
    # a write without notification is still caught (parameters remembered per frame)
    doc.write(RIGHT, [20], {"transl": doc.hands[RIGHT].transl[[20]] + 0.01}, notify=False)
    j3 = cache.joints(RIGHT, [20])
    assert cache.evaluated == [10, 38]
    assert np.allclose(j3[0], j2[20] + [0.01, 0.01, 0.01], atol=1e-5)
    # vertices are cached too and follow edits
    v = cache.vertices(RIGHT, [0, 1])
    assert v.shape == (2, 778, 3)
    doc.write(RIGHT, [1], {"transl": doc.hands[RIGHT].transl[[1]] + 0.02})
    v2 = cache.vertices(RIGHT, [0, 1])
    assert np.array_equal(v2[0], v[0]) and np.allclose(v2[1], v[1] + 0.02, atol=1e-5)
    cache.close()
    doc.write(RIGHT, [2], {"transl": doc.hands[RIGHT].transl[[2]] + 0.01})
    assert len(doc._observers) == 0


def test_fit_recovers_joints(model: ManoModel) -> None:
    rng = np.random.default_rng(3)
    p = _params(rng, 16, scale=0.25)
    for hand in (LEFT, RIGHT):
        target = model.joints(hand, p)
        target[5] = np.nan  # not fitted
        result = fit_mano(model, hand, target)
        ok = np.ones(16, bool)
        ok[5] = False
        assert np.isnan(result.params["hand_pose"][5]).all() and np.isnan(result.joint_error[5])
        assert np.nanmean(result.joint_error) < 0.004, result.joint_error  # a few mm
        refit = model.joints(hand, result.params)
        err = np.linalg.norm(refit[ok] - target[ok], axis=-1).mean(-1)
        assert np.allclose(err, result.joint_error[ok], atol=1e-5)
    # with the shape known (an edited frame of a track), the fit is nearly exact
    target = model.joints(RIGHT, p)
    fitted = model.fit(RIGHT, target, init={"betas": p["betas"]})
    assert np.allclose(fitted["betas"], p["betas"], atol=1e-6)
    err = np.linalg.norm(model.joints(RIGHT, fitted) - target, axis=-1).mean()
    assert err < 0.001
    strict = fit_mano(model, RIGHT, target, init={"betas": p["betas"]}, fit_betas=False,
                      accept_error=0.0)  # fmt: skip
    assert strict.iterations > 0 and strict.joint_error.mean() < 0.001


def test_synthetic_mesh_is_outward_and_renders_over_its_joints(model: ManoModel) -> None:
    from core.camera import project
    from core.labels.document import default_intrinsics
    from core.render.overlay import Mesh, draw_meshes

    arrays = synthetic_mano_arrays("right")
    v, f = arrays["v_template"], arrays["f"].astype(np.int64)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    assert np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6 > 150e-6  # outward, hand-sized
    K = default_intrinsics(320, 240)
    p = _params(np.random.default_rng(4), 1, scale=0.2)
    p["global_orient"][:] = [np.pi, 0, 0]
    p["transl"][:] = [0, 0.06, 0.5]
    for hand in (LEFT, RIGHT):
        verts, joints = model.evaluate(hand, p)
        meshes = [Mesh(verts[0], model.faces[hand])]
        bg = np.zeros((240, 320, 3), np.uint8)
        img = draw_meshes(bg, meshes, K)
        culled = draw_meshes(bg, meshes, K, cull_back=True)
        assert (np.abs(img.astype(int) - culled).max(-1) > 3).sum() < 20
        uv = np.round(project(joints[0], K)).astype(int)
        for j in (0, 5, 9, 13, 17, 6, 10, 14, 18):  # (tips are on the silhouette)
            assert img[uv[j, 1], uv[j, 0]].max() > 0, j


def test_fit_track_keeps_one_shape(model: ManoModel) -> None:
    from core.hands.fit import fit_track

    rng = np.random.default_rng(5)
    p = _params(rng, 40, scale=0.2)
    p["betas"][:] = rng.normal(size=10)
    target = model.joints(LEFT, p)
    target[7] = np.nan
    result = fit_track(model, LEFT, target, shape_frames=12, batch_size=16)
    betas = result.params["betas"]
    assert np.isnan(betas[7]).all() and np.isnan(result.joint_error[7])
    finite = np.delete(betas, 7, axis=0)
    assert np.allclose(finite, finite[0])  # one shape for the whole track
    assert np.nanmean(result.joint_error) < 0.003
