"""Edit > Refine Range...: preview of the refit (dashed), Apply as one undo step, screenshot."""

from __future__ import annotations

import numpy as np
import pytest

from app.screenshot import save_screenshot
from core.io.labels_h5 import load_labels, save_labels
from core.labels.document import Source

pytestmark = pytest.mark.gui


def test_refine_range_previews_applies_and_undoes(window, qtbot, sample, tmp_path, artifacts):
    video, gt = sample
    # the sample's exact labels as a detector would give them: predicted, noisy depth
    doc = load_labels(gt)
    rng = np.random.default_rng(0)
    for h in (0, 1):
        t = doc.hands[h]
        k = 1.0 + rng.normal(0, 0.06, (doc.n_frames, 1, 1))
        doc.write(h, np.arange(doc.n_frames), {
            "joints_3d": t.joints_3d * k, "source": np.where(t.present, 1, 0).astype(np.uint8),
            "confidence": np.where(t.present, 0.9, 0.0),
        })  # fmt: skip
    labels = tmp_path / "pred.h5"
    save_labels(doc, labels)
    assert window.open_video(video) and window.open_labels(labels)
    ed = window.editing
    window.goto(70)
    qtbot.waitUntil(lambda: window.video_view.shown_frame == 70, timeout=30000)
    # a keyframe the annotator set inside the range
    ed.select(hand=1)
    ed.set_range((70, 70))
    ed.toggle_keyframe()
    doc = window.session.doc
    before = {h: {k: v.copy() for k, v in doc.hands[h].arrays().items()} for h in (0, 1)}
    ed.set_range((60, 90))
    ed.act_refine.trigger()
    bar = ed.refine_range
    assert bar.isVisible() and ed.preview is not None and ed.preview.hand == 1
    assert 70 not in ed.preview.frames  # the keyframe is not in the preview
    window.goto(75)
    qtbot.waitUntil(lambda: 1 in ed.selection_overlay.drawn_preview, timeout=30000)
    save_screenshot(window, artifacts / "app_refine_range_preview.png")
    for h in (0, 1):  # a preview writes nothing
        assert np.array_equal(doc.hands[h].joints_3d, before[h]["joints_3d"], equal_nan=True)
    n_steps = len(ed.history)
    bar.apply_button.click()
    assert len(ed.history) == n_steps + 1 and not bar.isVisible() and ed.preview is None
    assert doc.history[-1] == {"op": "refine", "start": 60, "end": 90}
    assert not np.array_equal(doc.hands[1].joints_3d[60:91], before[1]["joints_3d"][60:91])
    assert doc.hands[1].joints_3d[70].tobytes() == before[1]["joints_3d"][70].tobytes()
    assert (doc.hands[1].source[71:91][doc.hands[1].present[71:91]] != Source.EDITED).all()
    ed.act_undo.trigger()
    for h in (0, 1):
        for k, v in doc.hands[h].arrays().items():
            if k != "keyframe":
                assert np.array_equal(v, before[h][k], equal_nan=v.dtype.kind == "f"), (h, k)
    # Escape cancels a preview
    ed.act_refine.trigger()
    assert bar.isVisible()
    ed.act_escape.trigger()
    assert not bar.isVisible() and ed.preview is None
