"""The app's Open Labels on hostile label files (issue 14): one clear error each, the window and
its open video keep working, the file is untouched."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import pytest

pytestmark = pytest.mark.gui

sys.path.insert(0, str(Path(__file__).parents[1] / "core"))

from test_bad_labels import BAD_FILES  # noqa: E402

CASES = ("notes_list", "history_deep", "soft_link_loop", "external_link_file", "huge_n_frames",
         "inf_hand_pose", "fractional_n_frames")  # fmt: skip


def test_bad_label_files_are_refused_in_the_app(window, sample, tmp_path: Path) -> None:
    from core.io.labels_h5 import load_labels, save_labels

    video, gt = sample
    assert window.open_video(video)
    for name in CASES:
        path = save_labels(load_labels(gt), tmp_path / f"{name}.h5")
        mutate, word = BAD_FILES[name]
        with h5py.File(path, "r+") as f:
            mutate(f, tmp_path)
        before = path.read_bytes()
        assert not window.open_labels(path), name
        info = window.errors.last
        assert info.title == "Cannot use label file", (name, info.title, info.message)
        assert word in info.message and "\n" not in info.message and not info.details, name
        window.errors.close_dialog()
        assert path.read_bytes() == before
    assert window.session.video_path == video  # the video is still open
    assert len(window.errors.history) == len(CASES)
