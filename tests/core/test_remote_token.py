"""The remote server's shared secret (core/remote/client.py): `ensure_token_file` creates a
random token readable by its owner only, whatever the umask, and reads an existing one back
unchanged; `read_token` says clearly what is wrong with a missing or empty file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from core.errors import RemoteError
from core.remote.client import ensure_token_file, read_token


@pytest.fixture
def permissive_umask():
    old = os.umask(0o000)  # the file's mode must not depend on the user's umask
    yield
    os.umask(old)


def test_creates_a_private_random_token(tmp_path: Path, permissive_umask) -> None:
    path = tmp_path / "config" / "vidihand" / "token"  # parent folders created
    token, created = ensure_token_file(path)
    assert created and path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # owner read/write, nobody else
    assert path.read_text() == token + "\n"
    # 32 random bytes, URL-safe base64: no shell or URL quoting needed, ~256 bits of secret
    assert len(token) >= 43 and set(token) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    other, _ = ensure_token_file(tmp_path / "other")
    assert other != token


def test_an_existing_token_is_read_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("  shared-secret-42 \n")
    before = path.stat()
    assert ensure_token_file(path) == ("shared-secret-42", False)
    after = path.stat()
    assert (after.st_mtime_ns, after.st_mode) == (before.st_mtime_ns, before.st_mode)
    token, created = ensure_token_file(tmp_path / "new")
    assert ensure_token_file(tmp_path / "new") == (token, False) and created


def test_home_relative_paths_expand(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    token, created = ensure_token_file("~/.vidihand-token")
    assert created and (tmp_path / ".vidihand-token").read_text().strip() == token
    assert read_token("~/.vidihand-token") == token


@pytest.mark.parametrize("content,words", [(None, "cannot read"), ("  \n", "is empty")])
def test_unreadable_or_empty_token_files_are_clear_errors(
    tmp_path: Path, content: str | None, words: str
) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    with pytest.raises(RemoteError) as exc:
        read_token(path)
    assert words in exc.value.message and str(path) in exc.value.message and exc.value.hint
