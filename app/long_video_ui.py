"""The long-video helpers in the window: exact frames swapping in for stand-ins, and the
timeline's thumbnails lane (app/long_video.py holds the session's `LongVideo`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt

from app.long_video import LongVideo
from app.session import Session
from app.widgets.timeline import LANE_BACKGROUND, Columns, Lane, Timeline
from app.widgets.video_view import VideoView
from core.labels.document import LabelDocument


def thumbnail_lane(long_video: LongVideo, height: int = 36) -> Lane:
    """A timeline lane of thumbnails: one tile per thumbnail-width of the lane, showing the
    strip's thumbnail nearest the frame at the tile's centre (empty while it builds)."""
    bg = np.array(
        [LANE_BACKGROUND.red(), LANE_BACKGROUND.green(), LANE_BACKGROUND.blue(), 255], np.uint8
    )

    def render(doc: LabelDocument, cols: Columns, h: int, cache: dict[Any, Any]) -> np.ndarray:
        img = np.empty((h, cols.width, 4), np.uint8)
        img[:] = bg
        strip = long_video.strip
        if strip is None or not len(strip):
            return img
        th, tw = strip.height, strip.width
        tile = max(8, int(round(h * tw / max(th, 1))))
        ys = np.minimum((np.arange(h) * th) // h, th - 1)
        xs = np.minimum((np.arange(tile) * tw) // tile, tw - 1)
        for x0 in range(0, cols.width, tile):
            x1 = min(cols.width, x0 + tile)
            mid = (x0 + x1) // 2
            frame = int(cols.starts[min(mid, len(cols.starts) - 1)])
            got = strip.nearest(frame)
            if got is None:
                continue
            small = got[1][ys][:, xs[: x1 - x0]]
            img[:, x0:x1, :3] = small
            img[:, x0 : x0 + 1, :3] = bg[:3]  # a thin gap between tiles
        return img

    return Lane("thumbnails", height, render, "video")


def install_long_video(session: Session, timeline: Timeline, video_view: VideoView) -> LongVideo:
    """Wire the session's LongVideo into the views: exact frames swap in, thumbnails lane."""
    lv = session.long_video
    lane = thumbnail_lane(lv)
    state = {"lane": False}

    def on_video() -> None:
        if lv.active and not state["lane"]:
            timeline.add_lane(lane, 0)
            state["lane"] = True
        elif not lv.active and state["lane"]:
            timeline.remove_lane(lane)
            state["lane"] = False

    def on_ready(i: int) -> None:
        view = video_view
        # only where something stands in for frame i (the view showed frame i already
        # otherwise: every decoded frame is reported, and a refresh there is wasted work)
        # or where the view waits for the decode-ahead thread (`waits_for_worker`)
        if i == session.clock.frame and (view.proxy_of is not None or view.waiting_for == i):
            view.refresh()
        elif view.waiting_for > i:  # a frame on the way to the one waited for
            view.catch_up(i)

    session.videoChanged.connect(on_video)
    lv.frameReady.connect(on_ready, Qt.ConnectionType.QueuedConnection)  # from the prefetcher
    lv.thumbsChanged.connect(timeline.refresh_lanes)
    lv.thumbsChanged.connect(lambda: _thumb_refresh(video_view, lv))
    lv.indexChanged.connect(lambda _info: video_view.update())
    return lv


def _thumb_refresh(view: VideoView, lv: LongVideo) -> None:
    """A proxy-shown frame whose thumbnail was missing or far: show a closer one."""
    if lv.active and view.proxy_of is not None:
        view.refresh()
