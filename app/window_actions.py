"""The review window's own commands, declared as data (app/actions.py): File, Playback, View,
Reconstruct and Help. Features add theirs the same way (app/edit_actions.py, app/analysis_ui.py,
app/remote_ui.py, app/mano_ui.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtGui import QKeySequence

from app.actions import Action
from app.frame_clock import FrameClock
from app.recon import ReconController
from app.widgets.recon_panel import ReconPanel
from app.widgets.timeline import Timeline
from app.widgets.video_view import VideoView
from app.widgets.view3d import View3D


class WindowCommands(Protocol):
    """What the actions call on the window (app/main_window.py's `MainWindow`)."""

    def open_video(self) -> bool: ...
    def open_labels(self) -> bool: ...
    def save(self) -> bool: ...
    def save_as(self) -> bool: ...
    def export_npz(self) -> bool: ...
    def close(self) -> bool: ...
    def set_overlay(self, on: bool) -> None: ...
    def show_shortcuts(self) -> None: ...
    def show_about(self) -> None: ...


def window_actions(
    w: WindowCommands,
    clock: FrameClock,
    video_view: VideoView,
    view3d: View3D,
    timeline: Timeline,
    recon: ReconController,
    recon_panel: ReconPanel,
) -> list[Action]:
    c, v3 = clock, view3d
    std = QKeySequence.StandardKey
    F, P, V = "File", "Playback", "View"

    def call(fn: Callable[[], object]) -> Callable[[], object]:
        return lambda: fn()  # triggered(checked) must not reach the method's first argument

    return [
        Action("file.open_video", "&Open Video...", call(w.open_video), std.Open, F, "open", help="open video"),
        Action("file.open_labels", "Open &Labels...", call(w.open_labels), "Ctrl+L", F, "open", help="open labels"),
        Action("file.save", "&Save Labels", call(w.save), std.Save, F, "save", help="save"),
        Action("file.save_as", "Save Labels &As...", call(w.save_as), "Ctrl+Shift+S", F, "save", help="save as"),
        Action("file.export_npz", "Export &NPZ...", call(w.export_npz), "Ctrl+E", F, "save", help="export NPZ"),
        Action("file.quit", "&Quit", call(w.close), std.Quit, F, "quit", help=""),
        Action("playback.play", "Play / Pause", c.toggle, "Space", P, "play", help="play / pause"),
        Action("playback.reverse", "Play Backward (J, again: faster)", c.reverse, "J", P, "play", help="play backward (again: 2x, 4x, 8x)"),
        Action("playback.pause", "Pause (K)", c.pause, "K", P, "play", help="pause"),
        Action("playback.forward", "Play Forward (L, again: faster)", c.forward, "L", P, "play", help="play forward (again: 2x, 4x, 8x)"),
        Action("playback.prev", "Previous Frame", lambda: c.step(-1), "Left", P, "step", help="previous frame"),
        Action("playback.next", "Next Frame", lambda: c.step(1), "Right", P, "step", help="next frame"),
        Action("playback.prev10", "Back 10 Frames", lambda: c.step(-10), "Shift+Left", P, "step", help="10 frames back"),
        Action("playback.next10", "Forward 10 Frames", lambda: c.step(10), "Shift+Right", P, "step", help="10 frames forward"),
        Action("playback.first", "First Frame", c.first, "Home", P, "step", help="first frame"),
        Action("playback.last", "Last Frame", c.last, "End", P, "step", help="last frame"),
        Action("view.fit", "Fit Video", video_view.fit, "F", V, "video", help="fit the video (double-click too); wheel zooms, middle-drag or Space+drag pans"),
        Action("view.overlay", "Video: Hand Overlay", w.set_overlay, "O", V, "video", checkable=True, checked=True, help="hand overlay on / off"),
        Action("view.cam", "3D: From Camera", lambda: v3.set_preset("camera"), "1", V, "3d", help="3D view from the camera"),
        Action("view.side", "3D: Side", lambda: v3.set_preset("side"), "2", V, "3d", help="3D view from the side"),
        Action("view.top", "3D: Top", lambda: v3.set_preset("top"), "3", V, "3d", help="3D view from the top"),
        Action("view.mesh", "3D: Hand Mesh", v3.set_mesh_visible, "M", V, "3d", checkable=True, checked=v3.show_mesh, help="3D hand mesh on / off"),
        Action("view.tl_reset", "Timeline: Whole Clip", timeline.reset_view, "Ctrl+0", V, "timeline", help="timeline: whole clip (double-click too)"),
        Action("recon.run", "&Run Reconstruction", recon_panel.run, "Ctrl+R", "Reconstruct", help="run reconstruction"),
        Action("recon.cancel", "&Cancel Reconstruction", recon.cancel, "Ctrl+.", "Reconstruct", help="cancel reconstruction"),
        Action("help.shortcuts", "&Keyboard Shortcuts", w.show_shortcuts, "F1", "Help", help="this list"),
        Action("help.about", "&About", w.show_about, menu="Help"),
    ]  # fmt: skip
