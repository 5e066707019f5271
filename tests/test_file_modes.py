"""Everything Mahavishnu creates under its home is private: directories 0700, the memory store 0600
(it holds memories; the secrets file and backups are 0600 by their own writers)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mahavishnu", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_directories_and_the_store_are_private(tmp_path: Path):
    home = tmp_path / "fresh" / "mahavishnu-home"  # does not exist yet
    env = {
        **os.environ,
        "MAHAVISHNU_HOME": str(home),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    os.umask(0o022)
    _cli(env, "db", "migrate")
    _cli(env, "secrets", "set", "lab", "--store", "file", stdin="sk-lab-0123456789\n")
    _cli(env, "ai", "switch-llm", "ollama")
    directories = [home, *(p for p in home.rglob("*") if p.is_dir())]
    assert len(directories) > 3
    for directory in directories:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    stores = list(home.rglob("memory.db*"))
    assert stores
    for store in stores:
        assert stat.S_IMODE(store.stat().st_mode) == 0o600, store
    assert stat.S_IMODE((home / "secrets.toml").stat().st_mode) == 0o600
