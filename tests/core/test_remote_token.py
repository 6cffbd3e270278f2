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
    path.chmod(0o600)
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
        path.chmod(0o600)
    with pytest.raises(RemoteError) as exc:
        read_token(path)
    assert words in exc.value.message and str(path) in exc.value.message and exc.value.hint


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o644], ids=oct)
def test_the_client_refuses_a_token_file_others_can_read(tmp_path: Path, mode: int) -> None:
    """The client's copy of the token is as secret as the server's: a group- or world-accessible
    one is refused (as OpenSSH refuses such keys), by read_token and so by every client path."""
    path = tmp_path / "token"
    path.write_text("shared-secret-42\n")
    path.chmod(mode)
    with pytest.raises(RemoteError) as exc:
        read_token(path)
    assert f"mode {mode:04o}" in exc.value.message and str(path) in exc.value.message
    assert exc.value.hint == f"Make it private to you: chmod 600 {path}"
    path.chmod(0o600)
    assert read_token(path) == "shared-secret-42"


def test_the_command_line_client_refuses_it_in_one_line(tmp_path: Path, sample, capsys) -> None:
    from core.cli.main import main

    token = tmp_path / "token"
    token.write_text("shared-secret-42\n")
    token.chmod(0o644)
    out = tmp_path / "out.h5"
    video, _ = sample
    argv = ["reconstruct", str(video), "--remote", "127.0.0.1:9", "--token-file", str(token)]
    assert main([*argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: the token file {token} is accessible by other users")
    assert "Traceback" not in err and not out.exists()
