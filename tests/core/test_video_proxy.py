"""Thumbnail strip (core/video/proxy.py) on generated clips: thumbnails look like the exact
frames they stand for, keyframe mode has one per keyframe, the strip is cached on disk and
reloaded, a changed file gets a new strip, rotation and image folders are handled."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.video.proxy import ProxyStrip
from core.video.reader import open_video
from core.video.synth import write_clip


def shrink(img: np.ndarray, w: int, h: int) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((w, h), Image.BOX)).astype(float)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("proxy") / "clip.mp4", n_frames=240, gop=60)


def test_every_nth_frame_thumbnails_match_exact_frames(clip: Path, tmp_path: Path) -> None:
    updates: list[int] = []
    with open_video(clip) as video:
        strip = ProxyStrip(video, width=96, every=10, cache_root=tmp_path, on_update=updates.append)
        strip.start()
        assert strip.wait(60) and strip.error is None
        idx = strip.frame_indices()
        assert len(strip) == len(idx) >= 20  # one per 10 frames (non-reference frames skipped)
        assert idx[0] == 0 and np.all(np.diff(idx) >= 10) and np.all(np.diff(idx) <= 12)
        assert updates and updates[-1] == len(strip)
        for i in (0, 57, 239):
            at, thumb = strip.nearest(i)
            assert at <= i < at + 13
            assert thumb.shape == (strip.height, 96, 3)
            # the thumbnail is the frame it claims to be, not a neighbour
            ref = shrink(video.frame(at), 96, strip.height)
            err_self = np.abs(thumb.astype(float) - ref).mean()
            err_next = np.abs(
                thumb.astype(float) - shrink(video.frame(min(at + 3, 239)), 96, strip.height)
            ).mean()
            assert err_self < 0.5 * err_next, (i, err_self, err_next)
        strip_t = strip.thumbnails(8)
        assert 6 <= len(strip_t) <= 8 and [i for i, _ in strip_t] == sorted(i for i, _ in strip_t)


def test_keyframes_only_and_disk_cache(clip: Path, tmp_path: Path) -> None:
    with open_video(clip) as video:
        strip = ProxyStrip(video, keyframes_only=True, cache_root=tmp_path).start()
        assert strip.wait(60)
        assert list(strip.frame_indices()) == [0, 60, 120, 180]  # one per keyframe
        assert strip.cache_file.exists() and not strip.from_cache
        again = ProxyStrip(video, keyframes_only=True, cache_root=tmp_path).start()
        assert again.from_cache and again.done
        assert np.array_equal(again.get(130), strip.get(130))
        old = strip.cache_file
    os.utime(clip, ns=(1, 1))  # the file changed (mtime): its old strip must not be reused
    with open_video(clip) as video:
        fresh = ProxyStrip(video, keyframes_only=True, cache_root=tmp_path)
        assert fresh.cache_file != old
        assert not fresh.start().from_cache
        fresh.close()


def test_rotated_video_thumbnails_are_displayed_way_up(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "rot.mp4", n_frames=30, width=160, height=96, gop=30, rotation=90)
    with open_video(path) as video:
        strip = ProxyStrip(video, width=48, every=5, cache_root=tmp_path).start()
        assert strip.wait(30)
        at, thumb = strip.nearest(0)
        assert thumb.shape == (80, 48, 3)  # portrait, like the displayed frames (96x160)
        ref = shrink(video.frame(at), 48, 80)
        assert np.abs(thumb.astype(float) - ref).mean() < 12


def test_image_folder_strip(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(20):
        Image.fromarray(np.full((40, 64, 3), i * 10, np.uint8)).save(frames / f"img{i}.png")
    with open_video(frames) as video:
        strip = ProxyStrip(video, width=32, every=4, cache_root=tmp_path).start()
        assert strip.wait(30)
        assert list(strip.frame_indices()) == [0, 4, 8, 12, 16]
        assert int(strip.get(9)[0, 0, 0]) == 80
