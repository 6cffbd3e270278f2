"""User folders through platformdirs (XDG on Linux, overridable), and shell completion through
argcomplete, driven the way bash drives it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.cli.main import main
from core.paths import cache_dir, config_dir, data_dir, user_data_home


def test_user_folders_follow_xdg_and_overrides(tmp_path, monkeypatch):
    for var in ("VIDIHAND_CONFIG_DIR", "VIDIHAND_CACHE_DIR", "VIDIHAND_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert config_dir() == tmp_path / "cfg/vidihand" and config_dir().is_dir()
    assert cache_dir() == tmp_path / "cache/vidihand" and data_dir() == tmp_path / "data/vidihand"
    assert user_data_home() == tmp_path / "data"
    monkeypatch.setenv("XDG_CONFIG_HOME", "")  # empty means unset (XDG spec)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_dir() == tmp_path / "home/.config/vidihand"
    monkeypatch.setenv("VIDIHAND_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine" and cache_dir().is_dir()


def _complete(line: str, tmp_path: Path) -> list[str]:
    """What bash's completion (argcomplete's protocol) offers for the command line `line`."""
    out = tmp_path / "completions"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_SHELL": "bash",
        "_ARGCOMPLETE_IFS": "\n",
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
    }
    code = "import sys; from core.cli.main import main; sys.exit(main())"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [w.strip() for w in out.read_text().split("\n") if w.strip()]


def test_completion_script_and_completions(tmp_path, capsys, monkeypatch):
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert "complete " in script and "vidihand" in script and "_ARGCOMPLETE" in script
    assert _complete("vidihand exp", tmp_path) == ["export"]
    assert _complete("vidihand export l.h5 c", tmp_path) == ["coco", "cvat", "csv"]
    assert "--cvat-shape" in _complete("vidihand export l.h5 cvat --c", tmp_path)
    (tmp_path / "clip.h5").write_bytes(b"")
    monkeypatch.chdir(tmp_path)  # file arguments complete from the working directory
    assert "clip.h5" in _complete("vidihand export cl", tmp_path)
