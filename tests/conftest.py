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
