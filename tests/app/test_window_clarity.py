"""The window for a new user: the empty state says what to do next, videos and labels can be
dropped on the window, the failures lanes have their own palette and legend, the skeleton
reads on bright and dark video, the MANO note is whole, and windows carry the app icon.
Screenshots: test-artifacts/app_empty_no_video.png, app_empty_no_labels.png,
app_failure_lanes_legend.png, app_skeleton_bright.png, app_skeleton_dark.png, app_mano_note.png.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication

from app.qimage import qimage_rgb
from app.screenshot import save_screenshot, settle
from app.widgets.analysis_lanes import KIND_COLORS
from app.widgets.colors import HAND_COLORS, OUTLINE, SOURCE_COLORS
from core.analysis import KINDS
from core.labels.document import Source

pytestmark = pytest.mark.gui


def drop(window, *paths: Path) -> bool:
    """Drag `paths` over the window and drop them, as a file manager would."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = window.rect().center()
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)  # fmt: skip
    QApplication.sendEvent(window, enter)
    if not enter.isAccepted():
        return False
    ev = QDropEvent(pos.toPointF(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)  # fmt: skip
    QApplication.sendEvent(window, ev)
    return True


def test_empty_state_drop_and_icon(window, qtbot, sample, artifacts, tmp_path):
    card = window.empty_state
    assert card.isVisible() and card.state == "video"
    text = card.text()
    assert "No video open" in text and "Ctrl+O" in text and "F1" in text and "drop" in text
    save_screenshot(window, artifacts / "app_empty_no_video.png")
    # the card is inside the video pane, centred
    geo = card.geometry()
    assert window.video_view.rect().contains(geo)
    assert abs(geo.center().x() - window.video_view.rect().center().x()) <= 2

    junk = tmp_path / "notes.txt"
    junk.write_text("x")
    assert not drop(window, junk)  # refused while dragging
    assert not window.drops.open([junk]) and "Cannot open notes.txt" in (
        window.statusBar().currentMessage()
    )

    video, gt = sample
    assert drop(window, video)
    qtbot.waitUntil(lambda: window.session.video is not None, timeout=10000)
    assert card.isVisible() and card.state == "labels"
    text = card.text()
    assert "No labels yet for sample.mp4" in text and "Ctrl+R" in text and "Ctrl+L" in text
    settle(window, 5)
    save_screenshot(window, artifacts / "app_empty_no_labels.png")

    assert drop(window, gt)
    qtbot.waitUntil(lambda: not card.isVisible(), timeout=10000)
    assert window.session.labels_path == Path(gt).resolve() or window.session.labels_path == gt
    assert window.session.doc.hands[0].present.sum() > 100
    # a new video brings the card back
    assert window.open_video(video) and card.isVisible()
    # video and labels dropped together: the video first, then its labels
    assert drop(window, gt, video)
    qtbot.waitUntil(lambda: not card.isVisible(), timeout=10000)

    icon = QApplication.windowIcon()
    assert not icon.isNull() and not window.windowIcon().isNull()
    sizes = {s.width() for s in icon.availableSizes()}
    assert {16, 32, 48, 256} <= sizes


def _dist(a, b) -> float:
    return float(np.linalg.norm(np.subtract(a.getRgb()[:3], b.getRgb()[:3])))


def _faulty_labels(gt: Path, tmp_path: Path) -> Path:
    """The sample's labels with faults a detector should find: jitter, a left/right swap,
    stretched bones, a dropout and low confidence (seeded)."""
    from core.io.labels_h5 import load_labels, save_labels

    doc = load_labels(gt)
    rng = np.random.default_rng(0)
    left, right = doc.hands
    left.joints_3d[20:40] += rng.normal(0, 0.012, left.joints_3d[20:40].shape)
    a, b = left.joints_3d[60:70].copy(), right.joints_3d[60:70].copy()
    left.joints_3d[60:70], right.joints_3d[60:70] = b, a
    w = right.joints_3d[120:130, :1]
    right.joints_3d[120:130] = w + 1.6 * (right.joints_3d[120:130] - w)
    left.present[140:146] = False
    right.confidence[150:170] = 0.1
    return save_labels(doc, tmp_path / "faulty.h5")


def test_failure_lanes_have_their_own_palette_and_legend(
    window, qtbot, sample, artifacts, tmp_path
):
    sources = [SOURCE_COLORS[s] for s in Source if s != Source.NONE]
    for kind in KINDS:  # no failure colour can be taken for a source colour
        assert min(_dist(KIND_COLORS[kind], c) for c in sources) > 60, kind
    video, gt = sample
    assert window.open_video(video) and window.open_labels(_faulty_labels(gt, tmp_path))
    model = window.analysis.failures
    qtbot.waitUntil(lambda: model.detections is not None, timeout=30000)
    tl = window.timeline
    titles = [t for t, _ in tl._legends()]
    assert titles == ["source:", "failures:"]
    (_, items) = tl._legends()[1]
    assert [name for _, name in items] == [k.replace("_", " ") for k in KINDS]
    settle(window, 5)
    save_screenshot(window, artifacts / "app_failure_lanes_legend.png")
    img = qimage_rgb(tl.grab().toImage())
    # the failures legend row is painted: each swatch colour is on the bottom row of the timeline
    bottom = img[-20:]
    for kind in KINDS:
        rgb = np.array(KIND_COLORS[kind].getRgb()[:3])
        assert (np.abs(bottom.astype(int) - rgb).sum(-1) < 12).any(), kind


def _labels_for_frame(video_path: Path, frame: int, out: Path) -> Path:
    """Real MediaPipe labels for one frame of a video (the rest of the frames empty)."""
    from core.io.labels_h5 import save_labels
    from core.labels.document import LabelDocument
    from core.recon.base import meta_for, run_reconstruction
    from core.recon.registry import create_backend
    from core.video.reader import open_video

    with open_video(video_path) as video:
        doc = LabelDocument(meta_for(video))
        run_reconstruction(create_backend("mediapipe"), video, doc, range(frame, frame + 1))
    assert doc.hands[0].present[frame] or doc.hands[1].present[frame]
    return save_labels(doc, out)


@pytest.mark.parametrize(
    "clip, frame, name",
    [
        ("mediapipe-samples/hand_landmarker/test_video.mp4", 100, "bright"),
        ("dyn-hamr/demo3.mp4", 221, "dark"),
    ],
)
def test_skeleton_reads_on_bright_and_dark_video(
    window, qtbot, shared_data, tmp_path, artifacts, clip, frame, name
):
    video = shared_data / clip
    labels = _labels_for_frame(video, frame, tmp_path / "l.h5")
    assert window.open_video(video) and window.open_labels(labels)
    window.goto(frame)
    view = window.video_view
    qtbot.waitUntil(lambda: view.shown_frame == frame, timeout=10000)
    settle(window, 5)
    img = view.grab().toImage()
    img.save(str(artifacts / f"app_skeleton_{name}.png"))
    rgb = qimage_rgb(img).astype(int)
    dark = np.abs(rgb - np.array(OUTLINE.getRgb()[:3])).sum(-1) < 20
    dpr = img.devicePixelRatio()
    for hand, uv in view.drawn_joints.items():
        xy = view.image_to_widget(uv)
        ok = np.isfinite(xy).all(1)
        # every bone has its dark outline: dark pixels next to each drawn joint
        for x, y in (xy[ok] * dpr).astype(int)[:5]:
            patch = dark[max(0, y - 8) : y + 9, max(0, x - 8) : x + 9]
            assert patch.any(), (name, hand)
        # the hand's letter badge: at least 14 px tall, on screen, filled with the hand's
        # colour and with the dark letter in it
        r = view.mark_rects[hand]
        assert r.height() >= 14 and view.rect().toRectF().contains(r)
        x0, y0 = int((r.left() + 3) * dpr), int((r.top() + 3) * dpr)
        want = np.array(HAND_COLORS[hand].getRgb()[:3])
        assert np.abs(rgb[y0, x0] - want).sum() < 60, (name, hand, rgb[y0, x0])
        inner = dark[int(r.top() * dpr) + 3 : int(r.bottom() * dpr) - 3,
                     int(r.left() * dpr) + 3 : int(r.right() * dpr) - 3]  # fmt: skip
        assert inner.any()  # the letter
    _crop(img, view, artifacts / f"app_skeleton_{name}_zoom.png")


def _crop(img: QImage, view, out: Path) -> None:
    """A 2x close-up around the drawn hands (to look at the outline and the L/R badges)."""
    pts = np.concatenate([view.image_to_widget(uv) for uv in view.drawn_joints.values()])
    pts = pts[np.isfinite(pts).all(1)]
    x0, y0 = np.maximum(pts.min(0) - 40, 0).astype(int)
    x1, y1 = (pts.max(0) + 40).astype(int)
    crop = img.copy(x0, y0, x1 - x0, y1 - y0)
    crop.scaled(crop.width() * 2, crop.height() * 2).save(str(out))


def test_mano_note_is_whole_in_a_small_3d_view(window, qtbot, sample, artifacts):
    video, gt = sample
    assert window.open_video(video) and window.open_labels(gt)
    canvas = window.view3d.canvas
    if not hasattr(canvas, "note_rect"):
        pytest.skip("the OpenGL canvas draws its note with VTK")
    assert "No MANO files" in canvas._note
    for width in (460, 300):
        window.resizeDocks([window.dock3d], [width], Qt.Orientation.Horizontal)
        settle(window, 5)
        canvas.repaint()
        r = canvas.note_rect
        assert r is not None and canvas.rect().toRectF().contains(r), (width, r)
    window.dock3d.grab().save(str(artifacts / "app_mano_note.png"))
