"""The reconstruction dock's "Refine tracks" option (issue 13): on by default like `vidihand
reconstruct`, off gives the detector's raw frames, on refines in the worker with the video
(re-detection included) and records the provenance; a person's frame is kept. Screenshot."""

from __future__ import annotations

import numpy as np
import pytest

from app.screenshot import save_screenshot
from core.labels.document import Source

pytestmark = pytest.mark.gui


def run(window, qtbot, start: int, stop: int) -> None:
    panel = window.recon_panel
    panel.range.setChecked(True)
    panel.start_spin.setValue(start)
    panel.stop_spin.setValue(stop)
    with qtbot.waitSignal(window.recon.finished, timeout=180_000) as blocker:
        panel.run_button.click()
    assert blocker.args == ["done"], window.errors.history


def test_refine_option_raw_and_refined_runs(window, qtbot, sample, artifacts):
    video, _ = sample
    assert window.open_video(video)
    panel, doc = window.recon_panel, window.session.doc
    assert panel.refine.isVisible() and panel.refine.text() == "Refine tracks"
    assert panel.refine.isChecked() and panel.refine.isEnabled()  # the default, as the CLI
    panel.backend.setCurrentIndex(panel.backend.findData("groundtruth"))
    assert not panel.refine.isEnabled()  # a replay is not refined
    panel.backend.setCurrentIndex(panel.backend.findData("mediapipe"))
    assert panel.refine.isEnabled()

    # off: the detector's raw frames (the right hand re-enters at the edge at 124 and the
    # detector finds it from 129 on)
    panel.refine.setChecked(False)
    run(window, qtbot, 110, 139)
    assert "refine" not in doc.extras
    for t in doc.hands:
        assert set(np.unique(t.source[110:140])) <= {Source.NONE, Source.PREDICTED}
    assert not doc.hands[1].present[121:129].any() and doc.hands[1].present[129]
    assert "refined" not in panel.status.text()

    # a person's frame inside the range
    right = doc.hands[1]
    doc.write(1, [135], {"source": int(Source.EDITED), "joints_3d": right.joints_3d[135] + 0.01})
    edited = {k: v[135].copy() for k, v in right.arrays().items()}

    # on (the default): refined in the worker, with re-detection from the video
    panel.refine.setChecked(True)
    run(window, qtbot, 110, 139)
    prov = doc.extras["refine"]
    assert prov["backend"].startswith("refine") and "mediapipe" in prov["after"]
    assert prov["frames"] == [110, 140] and prov["redetected"] >= 3
    assert prov["settings"]["max_gap"] == 8
    assert right.present[126:129].all()  # found again by tracking back from 129
    for k, v in right.arrays().items():
        assert np.array_equal(v[135], edited[k], equal_nan=v.dtype.kind == "f"), k
    for t in doc.hands:  # nothing outside the range
        assert not t.present[:110].any() and not t.present[140:].any()
    assert "refined" in panel.status.text()
    window.goto(127)
    qtbot.waitUntil(lambda: window.video_view.shown_frame == 127, timeout=30000)
    window.dock_recon.raise_()  # the dock with the option, in the shot
    qtbot.waitUntil(panel.refine.isVisible, timeout=5000)
    # the failure lanes follow the refined frames (issue 13: on raw tracks jitter lit most
    # frames): once the detectors have rerun, jitter is lit on at most a few refined frames
    failures = window.analysis.failures
    qtbot.waitUntil(lambda: not failures.busy and failures.detections is not None, timeout=60000)
    qtbot.waitUntil(lambda: failures.detections.n_frames == doc.n_frames, timeout=5000)
    jitter = [failures.detections.scores["jitter"][h, 110:140] for h in range(2)]
    lit = [int(np.sum(np.nan_to_num(j) >= 1.0)) for j in jitter]
    assert max(lit) <= 3, lit
    save_screenshot(window, artifacts / "app_reconstruct_refined.png")
