"""Packaging: what the code imports is declared (base or an extra), a missing extra is one
line naming it, the wheel ships resources/, and `vidihand install-desktop` registers the app."""

from __future__ import annotations

import ast
import configparser
import importlib.metadata as md
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from core.cli.main import main
from core.errors import MissingExtraError
from core.extras import require

ROOT = Path(__file__).resolve().parents[2]


def _dist_name(req: str) -> str:
    for sep in "<>=!;[ ":
        req = req.split(sep)[0]
    return req.lower().replace("_", "-")


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_every_import_is_declared_and_extras_go_through_require():
    project = _project()
    base = {_dist_name(r) for r in project["dependencies"]}
    extras = {
        name: {_dist_name(r) for r in reqs}
        for name, reqs in project["optional-dependencies"].items()
        if name not in ("test", "all")
    }
    dist_of = {k: {_dist_name(d) for d in v} for k, v in md.packages_distributions().items()}
    stdlib = set(sys.stdlib_module_names) | {"core", "app", "__future__"}
    undeclared, unguarded = [], []
    for path in sorted([*ROOT.glob("core/**/*.py"), *ROOT.glob("app/**/*.py")]):
        text = path.read_text()
        for mod in _imports(path) - stdlib:
            dists = dist_of.get(mod, {mod})
            # a module may come with a declared package (vtkmodules with vtk, google with
            # mediapipe's protobuf): accept it when any distribution providing it is declared
            if dists & base:
                continue
            extra = next((e for e, d in extras.items() if dists & d), None)
            if extra is None:
                if not any(_requires_of(d) & base for d in dists):
                    undeclared.append(f"{path.relative_to(ROOT)}: {mod}")
            elif f'require("{mod}", "{extra}")' not in text:
                unguarded.append(f"{path.relative_to(ROOT)}: {mod} ([{extra}])")
    assert not undeclared, f"imported but not declared in pyproject: {undeclared}"
    assert not unguarded, f"extras imported without core.extras.require: {unguarded}"
    assert not {"paramiko", "peft"} & (base | set().union(*extras.values()))


def _requires_of(dist: str) -> set[str]:
    """Distributions that depend on `dist` (so it comes with them)."""
    out = set()
    for d in md.distributions():
        for r in d.requires or []:
            if "extra ==" not in r and _dist_name(r) == dist:
                out.add(_dist_name(d.metadata["Name"]))
    return out


def test_a_missing_extra_is_one_line_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtraError) as info:
        require("ray", "batch")
    assert "\n" not in info.value.message and "[batch] extra" in info.value.message
    assert info.value.hint == "Install it with: pip install 'vidihand-studio[batch]'"
    assert require("json", "batch").dumps([1]) == "[1]"


@pytest.mark.slow
def test_the_wheel_ships_resources_and_declares_extras(tmp_path):
    # build from a copy: setuptools leaves build/ and *.egg-info in the tree it builds
    src = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("core", "app", "resources"):
        shutil.copytree(ROOT / name, src / name, ignore=skip)
    for name in ("pyproject.toml", "setup.py", "LICENSE", "README.md"):
        shutil.copy(ROOT / name, src / name)
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = z.read(next(n for n in names if n.endswith("METADATA"))).decode()
    for name in ("icons/vidihand.svg", "icons/vidihand-48.png", "vidihand-studio.desktop",
                 "theme/dark.qss", "theme/colors.json"):  # fmt: skip
        assert f"vidihand_resources/{name}" in names
    assert "core/io/cvat.py" in names and "app/theme.py" in names
    assert "License-Expression: LicenseRef-Proprietary" in meta
    for extra in ("model", "batch", "rerun"):
        assert f"Provides-Extra: {extra}" in meta
    assert 'Requires-Dist: ray; extra == "batch"' in meta
    assert "paramiko" not in meta and "peft" not in meta


def test_install_desktop_for_the_current_user(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    assert main(["install-desktop"]) == 0
    entry = tmp_path / "share/applications/vidihand-studio.desktop"
    assert f"installed {entry}" in capsys.readouterr().out
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(entry)
    d = parser["Desktop Entry"]
    assert d["Type"] == "Application" and d["Icon"] == "vidihand-studio"
    assert d["Exec"].endswith("review %f") and "vidihand" in d["Exec"]
    assert "video/mp4" in d["MimeType"].split(";")
    png = tmp_path / "share/icons/hicolor/48x48/apps/vidihand-studio.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = tmp_path / "share/icons/hicolor/scalable/apps/vidihand-studio.svg"
    assert svg.read_text().lstrip().startswith("<?xml")
    if subprocess.run(["which", "desktop-file-validate"], capture_output=True).returncode == 0:
        check = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True)
        assert check.returncode == 0, check.stdout + check.stderr
    assert main(["install-desktop", "--uninstall"]) == 0
    assert not entry.exists() and not png.exists() and not svg.exists()


def test_exec_is_quoted_when_the_path_needs_it():
    from core.desktop import desktop_entry

    text = desktop_entry("/home/a b/venv/bin/vidihand")
    assert 'Exec="/home/a b/venv/bin/vidihand" review %f' in text.splitlines()
