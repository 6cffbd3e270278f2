"""Start the app: QApplication, theme, window, files from the command line; or render one frame
to a PNG and exit (`--screenshot`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_API", "pyside6")


def default_sample() -> tuple[Path, Path | None]:
    """The project's own sample video and its ground-truth labels (generated on first use)."""
    try:
        from core.sample import ensure_sample
    except ImportError:  # the sample generator is not in this checkout
        from core.errors import VideoOpenError

        raise VideoOpenError(
            "No video given and the project's sample is not available in this installation.",
            hint="Run `vidihand review VIDEO.mp4` with a video of your own.",
        ) from None
    sample = ensure_sample()
    if isinstance(sample, tuple):
        return Path(sample[0]), Path(sample[1])
    return Path(sample), None


def run_app(
    video: str | os.PathLike[str] | None = None,
    labels: str | os.PathLike[str] | None = None,
    *,
    frame: int | None = None,
    screenshot: str | os.PathLike[str] | None = None,
    size: tuple[int, int] = (1600, 960),
) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("ViDiHand Studio")
    app.setOrganizationName("ViDiHand")
    apply_theme(app)
    shot = screenshot is not None
    window = MainWindow(interactive_errors=not shot)
    if not shot:
        window.errors.install_hooks()
    if shot:
        window.resize(*size)
    window.show()
    sample_gt = None
    if video is None:
        try:
            video, sample_gt = default_sample()
        except Exception as exc:  # noqa: BLE001 - shown in the window, which stays open
            window.errors.report(exc)
    ok = True
    if video is not None:
        ok = window.open_video(video)
        if ok and labels is not None:
            ok = window.open_labels(labels)
        elif ok and sample_gt is not None:
            # the sample opens with its ground truth shown; Save asks for a new file
            ok = window.open_labels(sample_gt, as_copy=True)
    window.statusBar().clearMessage()
    if frame is not None:
        window.goto(frame)
    if shot:
        from app.screenshot import save_screenshot, settle

        settle(window, 10)
        path = save_screenshot(window, screenshot)
        for info in window.errors.history:
            print(f"error: {info.title}: {info.message}", file=sys.stderr)
        print(f"screenshot written to {path}")
        window.session.close()
        window.view3d.canvas.close()
        window.hide()
        window.deleteLater()
        return 0 if ok else 2
    QTimer.singleShot(0, window.session.clock.refresh)
    return int(app.exec())
