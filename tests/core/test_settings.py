"""Settings: defaults, then the user file, then environment variables; saving keeps the
environment out of the file."""

from __future__ import annotations

import json

import pytest

from core.errors import SettingsError
from core.settings import RemoteHost, Settings


def test_layers_and_round_trip(tmp_path, monkeypatch):
    path = tmp_path / "settings.json"
    s = Settings.load(path)
    assert s.recent_files == [] and s.default_backend == "mediapipe"
    for i in range(12):
        s.add_recent(tmp_path / f"v{i}.mp4")
    s.add_recent(tmp_path / "v3.mp4")
    s.mano_dir = "/models/mano"
    s.remote_hosts.append(RemoteHost("gpu", "gpu.example.org", user="me", port=2222))
    s.save()
    assert s.recent_files[0].endswith("v3.mp4") and len(s.recent_files) == 10
    again = Settings.load(path)
    assert again.recent_files == s.recent_files
    assert again.remote_hosts == [RemoteHost("gpu", "gpu.example.org", user="me", port=2222)]
    assert again.mano_dir == "/models/mano"

    monkeypatch.setenv("VIDIHAND_MANO_DIR", "/env/mano")
    env = Settings.load(path)
    assert env.mano_dir == "/env/mano"
    env.save()
    assert json.loads(path.read_text())["mano_dir"] == "/models/mano"  # env not written back


def test_unknown_keys_ignored_bad_values_refused(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"from_the_future": 1, "trail_length": 30}))
    assert Settings.load(path).trail_length == 30
    path.write_text(json.dumps({"trail_length": "long"}))
    with pytest.raises(SettingsError, match="trail_length"):
        Settings.load(path)
    path.write_text("{not json")
    with pytest.raises(SettingsError, match="cannot be read"):
        Settings.load(path)
