"""Where Mahavishnu keeps its files, from the environment it runs in."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from mahavishnu import paths


def test_an_empty_home_is_the_accounts_home_not_the_root_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """``HOME=`` (a service unit, a scrubbed environment): Python's ``Path.home()`` answers ``/``,
    which put ``/.config/mahavishnu`` on the disk; the account's home is meant (nothing is written)."""
    for name in ("MAHAVISHNU_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "")
    account = Path(pwd.getpwuid(os.getuid()).pw_dir)
    assert paths.home() == account != Path("/")
    assert paths.config_dir() == account / ".config" / "mahavishnu"


def test_home_follows_the_home_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert paths.home() == tmp_path


def test_a_deleted_working_folder_is_in_no_repository(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """(Every command's settings look for the project's file from here: in a folder deleted under
    the process, as a hook of a session in it runs, they raised FileNotFoundError.)"""
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    assert paths.project_root() is None
    assert paths.project_settings_file() is None
