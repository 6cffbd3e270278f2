"""Failure detectors, one at a time, on tracks built here (the sample's motion, without video)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.analysis import detect
from core.analysis.detectors import acceleration_mm, shake_mm
from core.analysis.segments import Segment, runs, segments_from_scores
from core.analysis.thresholds import Thresholds
from core.analysis.two_hands import penetration_depth_mm, segment_distances
from core.camera import project
from core.errors import SettingsError
from core.labels.document import LabelDocument, VideoMeta
from core.labels.joints import LEFT, RIGHT
from core.sample.motion import sample_motion

W, H = 640, 480


def motion_doc(n: int = 120, seed: int = 3) -> LabelDocument:
    """Both hands following the sample's smooth motion, present while inside the image."""
    m = sample_motion(n, 30.0, seed)
    doc = LabelDocument(VideoMeta(n_frames=n, fps=30.0, width=W, height=H))
    joints = m.joints()
    for h in (LEFT, RIGHT):
        doc.write(h, slice(None), {
            "present": True, "confidence": 0.95, "joints_3d": joints[:, h],
            "joints_2d": project(joints[:, h], doc.K), "global_orient": m.rot[:, h],
        })  # fmt: skip
    return doc


def kinds(
    doc: LabelDocument, th: Thresholds | None = None
) -> dict[str, list[tuple[int, int, int]]]:
    out: dict[str, list[tuple[int, int, int]]] = {}
    for s in detect(doc, th).segments:
        out.setdefault(s.kind, []).append((s.hand, s.start, s.end))
    return out


@pytest.fixture(scope="module")
def clean() -> LabelDocument:
    doc = motion_doc()
    found = kinds(doc)
    assert found == {}, f"the smooth motion itself should raise nothing, got {found}"
    return doc


def test_runs_and_segments() -> None:
    m = np.array([0, 1, 1, 0, 0, 1, 0, 1, 1, 1], bool)
    assert runs(m) == [(1, 2), (5, 5), (7, 9)]
    assert runs(m, merge_gap=1) == [(1, 2), (5, 9)]
    segs = segments_from_scores(np.array([0.5, 1.5, 2.5, np.nan, 1.2]), 1, "x")
    assert segs == [Segment(1, 1, 2, "x", 2.5), Segment(1, 4, 4, "x", 1.2)]
    assert segs[0].key == "x:right:1-2"
    assert segs[0].to_json() == {"hand": "right", "start": 1, "end": 2, "kind": "x", "score": 2.5}


def test_acceleration_of_a_known_track() -> None:
    doc = motion_doc(n=20)
    t = np.arange(20)[:, None, None]
    j = np.zeros((20, 21, 3)) + np.array([0, 0, 0.5]) + 0.5 * np.array([0.004, 0, 0]) * t**2
    doc.write(LEFT, slice(None), {"joints_3d": j})
    acc = acceleration_mm(doc.hands[LEFT])
    assert np.isnan(acc[[0, 19]]).all()
    assert np.allclose(acc[1:-1], 4.0, atol=1e-3)
    # constant acceleration is smooth: no shake
    assert np.nanmax(shake_mm(doc.hands[LEFT])) < 1e-3


def test_jitter_found_on_noisy_hand(clean: LabelDocument) -> None:
    doc = clean.copy()
    rng = np.random.default_rng(0)
    f = np.arange(30, 80)
    noisy = doc.hands[RIGHT].joints_3d[f] + rng.normal(0, 0.003, (50, 21, 3)).astype(np.float32)
    doc.write(RIGHT, f, {"joints_3d": noisy, "joints_2d": project(noisy, doc.K)})
    found = kinds(doc)
    ((hand, a, b),) = found["jitter"]
    assert hand == RIGHT and 28 <= a <= 36 and 74 <= b <= 82
    assert "jitter" not in {k for k, v in found.items() if any(s[0] == LEFT for s in v)}


def test_single_frame_outlier_is_one_spike(clean: LabelDocument) -> None:
    doc = clean.copy()
    j = doc.hands[LEFT].joints_3d[60] + np.array([0.0, 0.0, 0.05], np.float32)
    doc.write(LEFT, 60, {"joints_3d": j, "joints_2d": project(j, doc.K)})
    assert kinds(doc) == {"accel_spike": [(LEFT, 59, 61)]}


def test_reprojection_disagreement(clean: LabelDocument) -> None:
    doc = clean.copy()
    f = np.arange(40, 50)
    # 3D moved 3 cm sideways (about 75 px at half a metre), 2D left where it was
    doc.write(LEFT, f, {"joints_3d": doc.hands[LEFT].joints_3d[f] + np.float32([0.03, 0, 0])})
    found = kinds(doc)
    assert found["reprojection"] == [(LEFT, 40, 49)]
    # 3D scaled about the camera centre projects to the same pixels: no disagreement
    doc = clean.copy()
    doc.write(LEFT, f, {"joints_3d": doc.hands[LEFT].joints_3d[f] * np.float32(1.2)})
    assert "reprojection" not in kinds(doc)


def test_low_confidence_and_dropout_and_leaving(clean: LabelDocument) -> None:
    doc = clean.copy()
    doc.write(RIGHT, np.arange(10, 15), {"confidence": 0.2})
    doc.write(LEFT, np.arange(70, 73), {"present": False, "joints_3d": np.nan, "joints_2d": np.nan})
    found = kinds(doc)
    assert found["low_confidence"] == [(RIGHT, 10, 14)]
    assert found["dropout"] == [(LEFT, 70, 72)]
    # a hand that walks out of the right border and is lost: leaving, not a dropout
    doc = clean.copy()
    f = np.arange(90, 100)
    j = doc.hands[RIGHT].joints_3d[f].astype(np.float64)
    j[..., 0] += np.linspace(0.0, 0.25, 10)[:, None]  # drifts right, smoothly
    doc.write(RIGHT, f, {"joints_3d": j, "joints_2d": project(j, doc.K)})
    doc.write(
        RIGHT, np.arange(100, 105), {"present": False, "joints_3d": np.nan, "joints_2d": np.nan}
    )
    found = kinds(doc)
    assert "dropout" not in found
    ((hand, a, b),) = found["leaving_frame"]
    assert hand == RIGHT and b == 99 and a >= 95


def test_one_hand_jumping_onto_the_other(clean: LabelDocument) -> None:
    """The left track takes over the right hand (and the right is lost) on frames 50-59."""
    doc = clean.copy()
    f = np.arange(50, 60)
    doc.write(LEFT, f, doc.read(RIGHT, f, ("joints_3d", "joints_2d")).values)
    doc.write(RIGHT, f, {"present": False, "joints_3d": np.nan, "joints_2d": np.nan})
    found = kinds(doc)
    assert (LEFT, 50, 59) in found["lr_swap"]


def test_interpenetration_of_overlapping_hands(clean: LabelDocument) -> None:
    doc = clean.copy()
    assert np.nanmax(penetration_depth_mm(doc, Thresholds())) < 0  # apart
    f = np.arange(20, 26)
    L = doc.hands[LEFT].joints_3d[f]
    R = doc.hands[RIGHT].joints_3d[f]
    shift = (L[:, :1] - R[:, :1]) + np.array([0.01, 0.0, 0.0], np.float32)
    doc.write(RIGHT, f, {"joints_3d": R + shift, "joints_2d": project(R + shift, doc.K)})
    found = kinds(doc)
    assert sorted(found["interpenetration"]) == [(LEFT, 20, 25), (RIGHT, 20, 25)]


def test_segment_distance_against_dense_sampling() -> None:
    rng = np.random.default_rng(1)
    p1, q1, p2, q2 = (rng.normal(size=(50, 3)) for _ in range(4))
    q2[:5] = p2[:5]  # degenerate segments (points)
    q1[5:10] = p1[5:10] + 1e-9
    s = np.linspace(0, 1, 401)
    a = p1[:, None] + (q1 - p1)[:, None] * s[None, :, None]
    b = p2[:, None] + (q2 - p2)[:, None] * s[None, :, None]
    brute = np.linalg.norm(a[:, :, None] - b[:, None], axis=-1).min(axis=(1, 2))
    exact = segment_distances(p1, q1, p2, q2)
    assert np.all(exact <= brute + 1e-9)
    assert np.allclose(exact, brute, atol=1e-2)


def test_thresholds_from_json(tmp_path) -> None:
    th = Thresholds.from_json({"bone_rel": 0.2, "dropout_max": 4})
    assert th.bone_rel == 0.2 and th.dropout_max == 4 and isinstance(th.dropout_max, int)
    p = tmp_path / "th.json"
    p.write_text(json.dumps({"jitter_mm": 7}))
    assert Thresholds.from_json(p).jitter_mm == 7.0
    with pytest.raises(SettingsError, match="Unknown detector threshold 'bone'"):
        Thresholds.from_json({"bone": 1})
    with pytest.raises(SettingsError, match="must be a number"):
        Thresholds.from_json({"bone_rel": "big"})
    p.write_text("{nope")
    with pytest.raises(SettingsError, match="not valid JSON"):
        Thresholds.from_json(p)
    assert Thresholds().to_json()["bone_rel"] == Thresholds().bone_rel


def test_mesh_interpenetration_with_mano(tmp_path) -> None:
    """With a MANO model (the synthetic MANO-format files), interpenetration uses the meshes."""
    from core.hands.mano import ManoModel
    from core.hands.synthetic_mano import write_synthetic_mano

    mano = ManoModel(write_synthetic_mano(tmp_path / "mano"))
    n = 30
    doc = LabelDocument(VideoMeta(n_frames=n, fps=30.0, width=W, height=H))
    for h, x in ((LEFT, -0.1), (RIGHT, 0.1)):
        tr = np.tile([x, 0.0, 0.5], (n, 1))
        if h == RIGHT:
            tr[10:20] = [-0.08, 0.0, 0.5]  # 2 cm beside the left hand: the meshes overlap
            tr[20:25] = [-0.1, 0.0, 0.525]  # 2.5 cm behind it: palms (3.4 cm thick) still overlap
        p = {"global_orient": np.zeros((n, 3)), "hand_pose": np.zeros((n, 45)),
             "betas": np.zeros((n, 10)), "transl": tr}  # fmt: skip
        j = mano.joints(h, p)
        doc.write(h, slice(None), {"present": True, "confidence": 1.0, "joints_3d": j,
                                   "joints_2d": project(j, doc.K), **p})  # fmt: skip
    with_mesh = detect(doc, mano=mano)
    segs = sorted(
        (s.hand, s.start, s.end) for s in with_mesh.segments if s.kind == "interpenetration"
    )
    assert segs == [(LEFT, 10, 24), (RIGHT, 10, 24)]
    # the capsules see the side-by-side overlap but not the mesh contact in depth
    capsules = sorted(
        (s.hand, s.start, s.end) for s in detect(doc).segments if s.kind == "interpenetration"
    )
    assert capsules == [(LEFT, 10, 19), (RIGHT, 10, 19)]
    # apart: no penetration either way
    assert np.nanmax(with_mesh.scores["interpenetration"][:, :10]) == 0.0


@pytest.mark.parametrize("n", [0, 1, 2, 4])
def test_tiny_documents_do_not_break_anything(n: int) -> None:
    from core.analysis.report import build_report
    from core.metrics import evaluate

    doc = LabelDocument(VideoMeta(n_frames=n, fps=30.0, width=W, height=H))
    if n:
        j = motion_doc(n=max(n, 5)).hands[LEFT].joints_3d[:n]
        doc.write(LEFT, slice(None), {"present": True, "confidence": 1.0, "joints_3d": j,
                                      "joints_2d": project(j, doc.K)})  # fmt: skip
    assert detect(doc).segments == []
    ev = evaluate(doc, doc.copy())
    assert ev.metrics["MPJPE"].n == n and ev.metrics["Jitter"].n == max(0, n - 2)
    html, data = build_report(doc, doc.copy())
    assert data["segments"] == [] and html.startswith("<!DOCTYPE html>")
