"""Command-line conventions (issue 14): no command replaces an existing output without --force
and the refusal says what the file holds; --json is JSON on stdout; -q; --out kept as a hidden
alias; a closed pipe ends quietly; `review` without a display exits 2 in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.cli.main import build_parser, main
from core.io.labels_h5 import load_labels, save_labels
from core.labels.document import Source

VIDIHAND = [sys.executable, "-m", "core.cli.main"]


@pytest.fixture
def reviewed(sample, tmp_path: Path) -> Path:
    """A label file holding work: 100 reviewed frames, 9 edited ones."""
    doc = load_labels(sample[1])
    doc.write(0, np.arange(100), {"reviewed": True})
    doc.write(1, np.arange(20, 29), {"source": int(Source.EDITED)})
    return save_labels(doc, tmp_path / "fixed.h5")


def _refused(argv: list[str], capsys, path: Path) -> str:
    before = path.read_bytes() if path.is_file() else None
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "use --force to replace it" in err.splitlines()[0]
    if before is not None:
        assert path.read_bytes() == before
    return err


def test_reconstruct_does_not_replace_reviewed_labels(sample, reviewed, capsys) -> None:
    video, gt = sample
    argv = ["reconstruct", str(video), "-o", str(reviewed), "--backend", "groundtruth",
            "--backend-option", f"labels={gt}", "-q"]  # fmt: skip
    err = _refused(argv, capsys, reviewed)
    assert "fixed.h5 exists: 100 reviewed, 9 edited frames" in err
    assert main([*argv, "--force"]) == 0
    assert int(load_labels(reviewed).hands[0].reviewed.sum()) == 0  # replaced, as asked


def test_every_command_with_an_output_refuses_to_replace(sample, reviewed, tmp_path, capsys):
    video, gt = sample
    edits = tmp_path / "edits.json"
    edits.write_text("[]")
    _refused(["apply", str(gt), str(edits), "-o", str(reviewed)], capsys, reviewed)
    _refused(["eval", str(gt), str(gt), "-o", str(reviewed)], capsys, reviewed)
    _refused(["report", str(gt), "-o", str(reviewed)], capsys, reviewed)
    npz = tmp_path / "out.npz"
    npz.write_bytes(b"keep me")
    _refused(["export", str(gt), "npz", "-o", str(npz)], capsys, npz)
    arctic = tmp_path / "arctic"
    assert main(["export", str(gt), "arctic", "-o", str(arctic), "--name", "seq"]) == 0
    mano = arctic / "seq.mano.npy"
    _refused(["export", str(gt), "arctic", "-o", str(arctic), "--name", "seq"], capsys, mano)
    _refused(["import", "arctic", str(mano), "-o", str(reviewed)], capsys, reviewed)
    _refused(["refine", str(gt), "-o", str(reviewed)], capsys, reviewed)
    sample_dir = video.parent
    _refused(["sample", "-o", str(sample_dir)], capsys, video)
    # with --force each of them writes
    assert main(["apply", str(gt), str(edits), "-o", str(reviewed), "--force", "-q"]) == 0
    assert main(["export", str(gt), "npz", "-o", str(npz), "--force"]) == 0
    capsys.readouterr()


def test_quiet_export_and_refine_print_nothing(sample, tmp_path, capsys) -> None:
    gt = sample[1]
    doc = load_labels(gt)
    for h in (0, 1):  # predicted frames with 2D joints: something to refine
        doc.write(h, np.arange(doc.n_frames), {"source": int(Source.PREDICTED)})
    labels = save_labels(doc, tmp_path / "pred.h5")
    capsys.readouterr()
    assert main(["export", str(labels), "csv", "-o", str(tmp_path / "a.csv"), "-q"]) == 0
    assert main(["export", str(labels), "npz", "-o", str(tmp_path / "a.npz"), "-q"]) == 0
    assert main(["refine", str(labels), "-o", str(tmp_path / "r.h5"), "-q"]) == 0
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert (tmp_path / "a.csv").stat().st_size and (tmp_path / "a.npz").stat().st_size
    assert load_labels(tmp_path / "r.h5").extras["refine"]["backend"].startswith("refine")
    assert main(["export", str(labels), "csv", "-o", str(tmp_path / "b.csv")]) == 0
    assert "wrote" in capsys.readouterr().out


def test_an_output_that_is_a_folder_is_refused(sample, tmp_path, capsys) -> None:
    video, gt = sample
    folder = tmp_path / "out.h5"
    folder.mkdir()
    assert main(["reconstruct", str(video), "-o", str(folder), "--backend", "groundtruth",
                 "--backend-option", f"labels={gt}"]) == 2  # fmt: skip
    assert "is a folder" in capsys.readouterr().err


def test_train_and_batch_take_o_and_keep_out_hidden() -> None:
    parser = build_parser()
    for cmd in (["train"], ["batch", "clip.mp4"]):
        for flag in ("-o", "--output", "--out"):
            args = parser.parse_args([*cmd, flag, "runs/x", "-q"])
            assert args.output == "runs/x" and args.quiet
    helptext = parser._subparsers._group_actions[0].choices["train"].format_help()
    assert "--out " not in helptext and "-o DIR, --output DIR" in helptext


def test_json_goes_to_stdout(sample, tmp_path, capsys) -> None:
    gt = sample[1]
    assert main(["eval", str(gt), str(gt), "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["metrics"] and "MPJPE" in out.err
    assert main(["eval", str(gt), str(gt), "-o", "-", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]


def test_a_closed_pipe_ends_quietly(sample) -> None:
    """`vidihand check L --json | head -c 1`: the reader is gone before the JSON is written."""
    r, w = os.pipe()
    os.close(r)  # every write to w now fails with EPIPE (Python ignores SIGPIPE)
    try:
        proc = subprocess.run([*VIDIHAND, "check", str(sample[1]), "--json"], stdout=w,
                              stderr=subprocess.PIPE, text=True, timeout=120)  # fmt: skip
    finally:
        os.close(w)
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr


def test_review_without_a_display_says_so(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    proc = subprocess.run([*VIDIHAND, "review"], capture_output=True, text=True, timeout=120,
                          env=env)  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("error: no display") and len(lines) == 2, proc.stderr


def _dead_display() -> str:
    """An X display number nothing listens on (no socket in /tmp/.X11-unix, none abstract)."""
    unix = Path("/proc/net/unix").read_text() if Path("/proc/net/unix").exists() else ""
    for n in range(499, 1000):  # above the numbers `xvfb-run -a` hands out (99, 100, ...)
        sock = f"/tmp/.X11-unix/X{n}"
        if not Path(sock).exists() and sock not in unix:
            return f":{n}"
    raise AssertionError("no free X display number")


@pytest.mark.parametrize("platform", ["", "xcb"])
def test_review_with_a_dead_x_display_says_so(platform: str) -> None:
    """DISPLAY names an X server that is not there (a closed `ssh -X`, a stopped Xvfb): one line
    and exit 2, not Qt's page about platform plugins and an abort (exit 134)."""
    display = _dead_display()
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["DISPLAY"] = display
    if platform:
        env["QT_QPA_PLATFORM"] = platform
    proc = subprocess.run([*VIDIHAND, "review"], capture_output=True, text=True, timeout=120,
                          env=env)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 2 and lines[1].startswith("hint: "), proc.stderr
    assert lines[0].startswith(f"error: cannot connect to the X display {display}"), proc.stderr
