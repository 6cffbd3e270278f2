"""The failure-analysis report: JSON shape, self-contained HTML, thumbnails, CLI, and a real
render in headless Chromium (screenshot saved to the artifacts folder: look at it)."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.analysis import KINDS
from core.analysis.report import N_THUMBNAILS, THUMB_WIDTH, build_report, worst_frames
from core.camera import project
from core.io.labels_h5 import load_labels, save_labels
from core.labels.document import POSE_FIELDS, LabelDocument
from core.labels.joints import HAND_COLORS_RGB, LEFT, RIGHT


def faulty_prediction(gt: LabelDocument) -> LabelDocument:
    """The ground truth with a swap, a jump, noise and a dropout: what a weak reconstructor gives."""
    pred = gt.copy()
    f = np.arange(20, 35)
    left, right = pred.read(0, f, POSE_FIELDS).values, pred.read(1, f, POSE_FIELDS).values
    pred.write(0, f, right)
    pred.write(1, f, left)
    f = np.arange(60, 70)
    j = pred.hands[0].joints_3d[f] + np.float32([0.0, 0.0, 0.06])
    pred.write(0, f, {"joints_3d": j, "joints_2d": project(j, pred.K)})
    rng = np.random.default_rng(0)
    j = pred.hands[1].joints_3d + rng.normal(0, 0.002, pred.hands[1].joints_3d.shape).astype(
        np.float32
    )
    conf = np.full(pred.n_frames, 0.9)
    conf[18:37] = 0.35  # the reconstructor is unsure around the swap
    pred.write(1, slice(None), {"joints_3d": j, "joints_2d": project(j, pred.K),
                                "confidence": np.where(pred.hands[1].present, conf, 0.0)})  # fmt: skip
    pred.write(0, np.arange(140, 143), {"present": False, "joints_3d": np.nan, "joints_2d": np.nan})
    pred.backend = "test-faults"
    return pred


@pytest.fixture(scope="module")
def docs(sample) -> tuple[Path, LabelDocument, LabelDocument]:
    video, gt_path = sample
    gt = load_labels(gt_path)
    return video, faulty_prediction(gt), gt


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def test_report_json_and_self_contained_html(docs) -> None:
    video, pred, gt = docs
    html, data = build_report(pred, gt, video)
    assert set(data) == {"segments", "metrics"}
    assert data["segments"]
    for s in data["segments"]:
        assert set(s) == {"hand", "start", "end", "kind", "score"}
        assert s["hand"] in ("left", "right") and s["kind"] in KINDS
        assert 0 <= s["start"] <= s["end"] < pred.n_frames and s["score"] > 1.0
    assert {"left", "right"} == {s["hand"] for s in data["segments"] if s["kind"] == "lr_swap"}
    assert data["metrics"]["MPJPE-p"]["unit"] == "mm" and data["metrics"]["MPJPE-p"]["value"] > 0
    assert data["metrics"]["FAcc/left"]["value"] == pytest.approx(1 - 3 / pred.n_frames)
    json.dumps(data)  # JSON-able as is

    # self-contained: no external resource of any kind
    assert not re.search(r'(src|href)="(?!data:)', html)
    assert "<link" not in html and "<script" not in html
    images = _images(html)
    assert len(images) == 4 + N_THUMBNAILS  # lanes, error/time, error/joint, confidence/error
    thumb = np.asarray(Image.open(io.BytesIO(images[-1])).convert("RGB"))
    assert thumb.shape[1] == THUMB_WIDTH
    for metric in ("MPJPE-p", "PA-MPJPE-p", "EPE-p", "Jitter"):
        assert f">{metric}<" in html
    # the swapped frames are among the worst frames shown
    shown = [int(x) for x in re.findall(r'alt="frame (\d+)"', html)]
    assert any(20 <= f <= 34 for f in shown), shown


def test_thumbnails_show_prediction_and_ground_truth(docs) -> None:
    video, pred, gt = docs
    _, _, _ = video, pred, gt
    html, _ = build_report(pred, gt, video)
    thumbs = [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in _images(html)[4:]]
    for t in thumbs:
        px = t.reshape(-1, 3).astype(int)
        orange = np.abs(px - HAND_COLORS_RGB[LEFT]).sum(axis=1) < 60
        blue = np.abs(px - HAND_COLORS_RGB[RIGHT]).sum(axis=1) < 60
        white = (px > 235).all(axis=1)
        assert (orange | blue).sum() > 20, "predicted skeleton not drawn"
        assert white.sum() > 20, "ground-truth skeleton not drawn"


def test_report_without_ground_truth_or_video(docs) -> None:
    _, pred, _ = docs
    html, data = build_report(pred)
    assert data["metrics"] == {} and data["segments"]
    assert len(_images(html)) == 2  # lanes, confidence over time
    assert "no ground truth given" in html
    assert worst_frames(*_detections(pred)) != []


def _detections(pred):
    from core.analysis import detect

    return detect(pred), None


def test_cli_report_writes_html_and_json(docs, tmp_path, capsys) -> None:
    from core.cli.main import main

    video, pred, gt = docs
    save_labels(pred, tmp_path / "pred.h5")
    save_labels(gt, tmp_path / "gt.h5")
    (tmp_path / "th.json").write_text(json.dumps({"bone_rel": 0.9, "jitter_mm": 100}))
    rc = main(["report", str(tmp_path / "pred.h5"), "--gt", str(tmp_path / "gt.h5"),
               "-o", str(tmp_path / "r.html"), "--json",
               "--thresholds", str(tmp_path / "th.json")])  # fmt: skip
    assert rc == 0
    data = json.loads(capsys.readouterr().out)  # --json: JSON on stdout, prose on stderr
    assert set(data) == {"segments", "metrics"}
    kinds = {s["kind"] for s in data["segments"]}
    assert "lr_swap" in kinds and not {"bone_length", "jitter"} & kinds
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "Chromium is needed to check that the report renders: install Debian's chromium "
        "(apt-get install -y chromium; scripts/setup.sh lists it)."
    )


def test_report_renders_in_headless_chromium(docs, artifacts, tmp_path) -> None:
    video, pred, gt = docs
    html, _ = build_report(pred, gt, video, title="sample with injected faults")
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    shot = artifacts / "report_chromium.png"
    shot.unlink(missing_ok=True)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        subprocess.run(
            [find_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={shot}",
             "--window-size=1280,3200", "--hide-scrollbars", page.as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (3200, 1280)
    non_white = (img < 240).any(axis=2)
    assert non_white.mean() > 0.05, "the screenshot is (nearly) blank"
    # the hand colours of the plots and thumbnails made it to the screen
    px = img.reshape(-1, 3)
    assert (np.abs(px - HAND_COLORS_RGB[LEFT]).sum(axis=1) < 60).sum() > 500
    assert (np.abs(px - HAND_COLORS_RGB[RIGHT]).sum(axis=1) < 60).sum() > 500
    # text rendered: the top rows (title) hold dark pixels
    assert (img[:80] < 80).all(axis=2).sum() > 200


def test_cli_report_uses_mano_meshes_when_given(tmp_path, capsys) -> None:
    """--mano-dir: the hands' MANO meshes decide interpenetration (capsules alone miss it)."""
    from core.cli.main import main
    from core.hands.mano import ManoModel
    from core.hands.synthetic_mano import write_synthetic_mano
    from core.labels.document import VideoMeta

    mano_dir = write_synthetic_mano(tmp_path / "mano")
    mano = ManoModel(mano_dir)
    n = 20
    doc = LabelDocument(VideoMeta(n_frames=n, fps=30.0, width=640, height=480))
    for h, x in ((0, -0.1), (1, 0.1)):
        tr = np.tile([x, 0.0, 0.5], (n, 1))
        if h == 1:
            tr[:, 0] = -0.1
            tr[:, 2] = 0.525  # 2.5 cm behind the left hand: the palms (3.4 cm thick) overlap
        p = {"global_orient": np.zeros((n, 3)), "hand_pose": np.zeros((n, 45)),
             "betas": np.zeros((n, 10)), "transl": tr}  # fmt: skip
        j = mano.joints(h, p)
        doc.write(h, slice(None), {"present": True, "confidence": 1.0, "joints_3d": j,
                                   "joints_2d": project(j, doc.K), **p})  # fmt: skip
    save_labels(doc, tmp_path / "pred.h5")
    for extra, expected in (([], set()), (["--mano-dir", str(mano_dir)], {"left", "right"})):
        rc = main(["report", str(tmp_path / "pred.h5"), "-o", str(tmp_path / "r.html"),
                   "--json", "--force", *extra])  # fmt: skip
        assert rc == 0
        segs = json.loads(capsys.readouterr().out)["segments"]
        assert {s["hand"] for s in segs if s["kind"] == "interpenetration"} == expected
