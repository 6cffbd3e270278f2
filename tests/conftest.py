"""Shared fixtures. Tests use real inputs: ../shared/data and files the tests generate."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VIDIHAND_SHARED_DATA", ROOT.parent / "shared" / "data"))
#: screenshots and other files a person should look at after a test run
ARTIFACTS = Path(os.environ.get("VIDIHAND_TEST_ARTIFACTS", ROOT / "test-artifacts"))


@pytest.fixture(scope="session", autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep settings, caches and generated data of the test run out of the user's home."""
    base = tmp_path_factory.mktemp("userdirs")
    for var in ("VIDIHAND_CONFIG_DIR", "VIDIHAND_CACHE_DIR", "VIDIHAND_DATA_DIR"):
        os.environ[var] = str(base / var.lower())


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(
            f"../shared/data not found at {SHARED_DATA}: CI must run with shared/ beside the repo"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo3(shared_data: Path) -> Path:
    return shared_data / "dyn-hamr" / "demo3.mp4"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(video_path, gt_path) of the project's sample (6 s, 640x480, 30 fps, seed 0), generated
    once per test session (~10-15 s on CI)."""
    from core.sample import make_sample

    return make_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="session")
def synthetic_mano_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with synthetic MANO_RIGHT.pkl / MANO_LEFT.pkl in the real files' format
    (chumpy objects included), so the real MANO loading code runs without licensed files."""
    from core.hands.synthetic_mano import write_synthetic_mano

    return write_synthetic_mano(tmp_path_factory.mktemp("mano"), chumpy=True)


# ------------------------------------------------------------------ what the set-up installs
#: the only reason a test may skip: hardware CI does not have (mark such tests `gpu`)
SKIP_ALLOWED_MARKERS = ("gpu",)


def require_installed(ok: object, what: str) -> None:
    """Fail (never skip) when `what`, which `bash scripts/setup.sh` installs, is missing: a green
    run must mean the parts that need it were tested."""
    if not ok:
        pytest.fail(
            f"{what} is not installed: run `bash scripts/setup.sh` (it installs it), then the "
            "tests again",
            pytrace=False,
        )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """`@pytest.mark.requires(module, what)`: the test fails (never skips) without `module`."""
    import importlib

    for mark in item.iter_markers("requires"):
        module, what = mark.args
        try:
            importlib.import_module(module)
        except ImportError:
            require_installed(False, what)


@pytest.fixture(scope="session")
def ffmpeg_binary() -> str:
    """The ffmpeg command line tool (remuxing and muxing test clips)."""
    import shutil

    path = shutil.which("ffmpeg")
    require_installed(path, "ffmpeg (Debian package ffmpeg)")
    return str(path)


@pytest.fixture(scope="session")
def openssh() -> str:
    """sshd, ssh and ssh-keygen (the remote worker's tunnel tests); returns sshd's path."""
    from core.remote.sshd import sshd_binary

    sshd = sshd_binary()
    require_installed(
        sshd, "OpenSSH (sshd, ssh, ssh-keygen: Debian packages openssh-server openssh-client)"
    )
    return str(sshd)


@pytest.fixture(scope="session")
def opencv() -> None:
    """OpenCV, which makes the video pane's display-size copies (core/video/display.py)."""
    from core.video import display

    require_installed(display.available(), "OpenCV (opencv-contrib-python, requirements.lock)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `gpu` skip where no CUDA device is present (the one allowed skip)."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (none on this machine)")
    for item in gpu_items:
        item.add_marker(skip)


_skipped: list[tuple[str, str, bool]] = []  # (test id, reason, allowed)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A whole module skipped at collection (pytest.skip(allow_module_level=True)) is a skip."""
    if report.skipped:
        reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
        _skipped.append((report.nodeid, reason.removeprefix("Skipped: "), False))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
        allowed = any(m in report.keywords for m in SKIP_ALLOWED_MARKERS)
        _skipped.append((report.nodeid, reason.removeprefix("Skipped: "), allowed))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config):  # noqa: ANN001, ANN201
    """Every run ends with its skips (after pytest's own summary): a green run with skips did
    not test everything."""
    result = yield
    _print_skips(terminalreporter)
    return result


def _print_skips(tr) -> None:  # noqa: ANN001 - pytest's TerminalReporter
    if not _skipped:
        tr.write_sep("=", "skips: none", green=True)
        return
    bad = [s for s in _skipped if not s[2]]
    tr.write_sep("=", f"skips: {len(_skipped)} ({len(bad)} not GPU-only)", yellow=True)
    for nodeid, reason, allowed in _skipped:
        tr.write_line(f"SKIPPED {nodeid}: {reason}" + ("" if allowed else "  [not allowed in CI]"))
    if bad and os.environ.get("CI"):
        tr.write_line("CI is set: skips other than GPU-only tests fail the run", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI (CI set in the environment) a skip other than a GPU-only test fails the run."""
    if os.environ.get("CI") and any(not allowed for *_, allowed in _skipped) and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# ------------------------------------------------------------------ hypothesis
def _register_hypothesis_profiles() -> None:
    """Profiles: "ci" (the default) is derandomized, so a failure comes back on every run and
    machine; "long" is randomized with 20x the examples, failures kept in .hypothesis/ to replay.
    Choose with VIDIHAND_HYPOTHESIS=long or pytest's `--hypothesis-profile long`."""
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "ci",
        derandomize=True,
        database=None,
        deadline=None,
        max_examples=40,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile(
        "long",
        derandomize=False,
        deadline=None,
        max_examples=800,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.load_profile(os.environ.get("VIDIHAND_HYPOTHESIS", "ci"))


# before pytest's hypothesis plugin reads `--hypothesis-profile` (it runs in pytest_configure)
_register_hypothesis_profiles()
