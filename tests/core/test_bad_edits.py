"""Hostile edit lists for `vidihand apply`: one line of error, exit 2, nothing written; and
whatever `apply` does write, `check` accepts (issue 14)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.cli.main import main

sys.path.insert(0, str(Path(__file__).parent))

from test_edits_apply_cli import make_labels  # noqa: E402

BAD_EDITS: dict[str, tuple[str, str]] = {
    "frame_infinity": ('[{"op": "swap_hands", "start": Infinity, "end": 3}]', "start"),
    "frame_nan": ('[{"op": "set_present", "hand": "left", "frame": NaN, "present": false}]', "frame"),
    "frame_1e400": ('[{"op": "set_present", "hand": "left", "frame": 1e400, "present": false}]', "frame"),
    "frame_huge_int": ('[{"op": "set_present", "hand": "left", "frame": 1e300, "present": false}]', "frame"),
    "joint_nan": ('[{"op": "move_joint_2d", "hand": "right", "frame": 1, "joint": NaN, "uv": [1, 2]}]', "joint"),
    "frames_infinity": ('[{"op": "set_present", "hand": "left", "frames": [1, Infinity], "present": false}]', "frames"),
    "sigma_1e308": ('[{"op": "smooth", "hand": "left", "start": 0, "end": 20, "sigma": 1e308}]', "sigma"),
    "flags_nested": ('[{"op": "set_flags", "hand": "left", "frame": 1, "flags": [["occluded"]]}]', "flag"),
    "deep_json": ("[" * 100_000 + "]" * 100_000, "nested"),
    "uv_huge": ('[{"op": "move_joint_2d", "hand": "right", "frame": 10, "joint": 8, "uv": [1e300, -1e300]}]', "uv"),
    "xyz_huge": ('[{"op": "move_joint_3d", "hand": "right", "frame": 10, "joint": 8, "xyz": [0, 0, 1e39]}]', "xyz"),
    "translation_huge": ('[{"op": "transform_hand", "hand": "right", "frame": 10, "translation": [1e38, 0, 0]}]', "translation"),
    "not_utf8": ("\udcff", "JSON"),
}  # fmt: skip


@pytest.fixture(scope="module")
def labels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_labels(tmp_path_factory.mktemp("bad_edits") / "in.h5")


def _one_line_exit_2(argv: list[str], capsys, word: str) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.splitlines()) <= 2
    assert word.lower() in err.splitlines()[0].lower(), err
    return err


@pytest.mark.parametrize("name", sorted(BAD_EDITS))
def test_bad_edit_is_refused_and_nothing_written(name, labels, tmp_path, capsys) -> None:
    text, word = BAD_EDITS[name]
    edits = tmp_path / "edits.json"
    edits.write_bytes(text.encode("utf-8", "surrogateescape"))
    out = tmp_path / "out.h5"
    _one_line_exit_2(["apply", str(labels), str(edits), "-o", str(out)], capsys, word)
    assert not out.exists()


def test_edits_path_or_output_being_a_folder(labels, tmp_path, capsys) -> None:
    _one_line_exit_2(["apply", str(labels), str(tmp_path), "-o", str(tmp_path / "o.h5")], capsys,
                     "folder")  # fmt: skip
    edits = tmp_path / "edits.json"
    edits.write_text("[]")
    folder = tmp_path / "out"
    folder.mkdir()
    _one_line_exit_2(["apply", str(labels), str(edits), "-o", str(folder)], capsys, "folder")
    assert list(folder.iterdir()) == []


def test_what_apply_writes_check_accepts(labels, tmp_path, capsys) -> None:
    """Large but finite values that are allowed are written so that `check` reads them."""
    edits = tmp_path / "edits.json"
    edits.write_text('[{"op": "move_joint_2d", "hand": "right", "frame": 10, "joint": 8, '
                     '"uv": [90000, -90000]}]')  # fmt: skip
    out = tmp_path / "out.h5"
    assert main(["apply", str(labels), str(edits), "-o", str(out)]) == 0
    assert main(["check", str(out)]) == 0, capsys.readouterr()
