"""Everything Mahavishnu creates is private: directories 0700 whatever the umask (000 made them
world-writable, 022 world-readable): its own folders and their XDG parents (``~/.local/share`` and
the like, which another user could otherwise rename out from under it), the folders it writes into
the assistants' homes, the hook log's, and the folder of a backup or export it is told to write; the
files that hold secrets or memories 0600 (the secrets file and backups by their own writers)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mahavishnu import paths

KEY = "sk-umask-0123456789abcdef"


def _cli(env: dict[str, str], *args: str, stdin: str = "", umask: int | None = None, ok: bool = True) -> None:
    """``mahavishnu ARGS`` in ``env`` (its working folder ``$HOME/project`` when there is one),
    under ``umask`` if given (the child's only)."""
    project = Path(env["HOME"]) / "project"
    done = subprocess.run(
        [sys.executable, "-m", "mahavishnu", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=project if project.is_dir() else None,
        preexec_fn=None if umask is None else lambda: os.umask(umask),
    )
    assert (done.returncode == 0) == ok, (args, done.stderr)


def _fresh_home(home: Path, *more: str) -> dict[str, str]:
    """An environment whose HOME is ``home``, made 0700 with its ``tmp`` and ``more`` folders, and
    no MAHAVISHNU_HOME or XDG variable: Mahavishnu's folders are the XDG ones, made from nothing."""
    for folder in (home, home / "tmp", *(home / name for name in more)):
        folder.mkdir()
        folder.chmod(0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAHAVISHNU_", "XDG_"))}
    env.update(
        HOME=str(home),
        TMPDIR=str(home / "tmp"),
        MAHAVISHNU_DAEMON="off",
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )
    return env


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


@pytest.mark.parametrize("mask", [0o000, 0o022])
def test_make_dir_creates_every_missing_folder_0700_and_leaves_an_existing_one(
    tmp_path: Path, mask: int
) -> None:
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o755)
    existing.chmod(0o755)
    old = os.umask(mask)
    try:
        paths.make_dir(existing / "a" / "b" / "c")
    finally:
        os.umask(old)
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755  # not Mahavishnu's to change
    for made in (existing / "a", existing / "a" / "b", existing / "a" / "b" / "c"):
        assert stat.S_IMODE(made.stat().st_mode) == 0o700, made


@pytest.mark.parametrize("mask", [0o000, 0o022])
def test_every_folder_the_commands_create_is_0700_whatever_the_umask(tmp_path: Path, mask: int) -> None:
    home = tmp_path / "home"  # no MAHAVISHNU_HOME: the XDG folders, made from nothing
    env = _fresh_home(home, "project")
    # first: the hook log is all that makes the data folder and its parents here
    _cli(env, "memory", "context", "--tool", "claude", stdin="not json", umask=mask, ok=False)
    _cli(env, "secrets", "set", "lab", "--store", "file", stdin=KEY + "\n", umask=mask)
    _cli(env, "memory", "store", "Deploys go through blue-green switching", "--project", "p", umask=mask)
    for tool in ("claude", "codex", "qwen", "opencode", "pi"):
        _cli(env, "ai", "switch-llm", "ollama", "--tool", tool, umask=mask)
    _cli(env, "memory", "hooks", "install", "--tool", "all", umask=mask)
    _cli(env, "db", "backup", str(home / "backups" / "nightly" / "memory.db"), umask=mask)
    _cli(env, "memory", "export", str(home / "exports" / "all" / "memories.jsonl"), umask=mask)

    folders = [p for p in home.rglob("*") if p.is_dir() and not p.is_symlink()]
    for expected in (".config/mahavishnu", ".local/share/mahavishnu", ".claude", ".codex", ".pi/agent"):
        assert home / expected in folders
    assert (home / ".local/share/mahavishnu/capture/capture.log").is_file()
    loose = [f"{stat.S_IMODE(p.stat().st_mode):o} {p.relative_to(home)}" for p in folders]
    assert [line for line in loose if not line.startswith("700 ")] == []
    private = [
        *home.glob(".config/mahavishnu/secrets*"),
        *home.glob(".local/share/mahavishnu/memory.db*"),
        *home.glob(".local/share/mahavishnu/backups/*/*.bak"),
        home / "backups" / "nightly" / "memory.db",
        home / "exports" / "all" / "memories.jsonl",
    ]
    assert len(private) > 5
    for file in private:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    # an assistant's config names the commands it runs (hooks, a key helper): no one else writes it
    configs = [
        p
        for folder in (".claude", ".codex", ".qwen", ".config/opencode", ".pi")
        for p in (home / folder).rglob("*")
        if p.is_file() and not p.is_symlink()
    ]
    assert len(configs) >= 5 and home / ".claude" / "settings.json" in configs
    writable = [f"{stat.S_IMODE(p.stat().st_mode):o} {p.relative_to(home)}" for p in configs]
    assert [line for line in writable if int(line.split()[0], 8) & 0o022] == []


@pytest.mark.parametrize("mask", [0o000, 0o022])
def test_every_file_in_mahavishnus_own_folders_is_0600_whatever_the_umask(tmp_path: Path, mask: int) -> None:
    """Lock files, the backups' ``source``, ``memory-hooks.json``, a service's pid and state files,
    the usage cache, the hook log: none takes the umask (000 made them 0666, 022 0644)."""
    home = tmp_path / "home"
    env = _fresh_home(home)
    env.update(
        MAHAVISHNU_SERVICES__BUILTINS="false",
        MAHAVISHNU_SERVICES__DEFINITIONS='{"sleeper": {"command": ["sleep", "60"]}}',
    )
    own = (home / ".config/mahavishnu", home / ".local/share/mahavishnu", home / ".cache/mahavishnu")
    _cli(env, "secrets", "set", "lab", "--store", "file", stdin=KEY + "\n", umask=mask)
    _cli(env, "ai", "switch-llm", "ollama", "--tool", "claude", umask=mask)
    for tool in ("claude", "codex"):  # backs the switched settings.json up; creates codex's hooks.json
        _cli(env, "memory", "hooks", "install", "--tool", tool, umask=mask)
    _cli(env, "usage", "daily", umask=mask)
    # the capture hook's hand-off makes the hook log, its detached import's stderr
    payload = '{"session_id": "s", "transcript_path": "/nonexistent/s.jsonl"}'
    _cli(env, "memory", "import", "--tool", "claude", "-", stdin=payload, umask=mask)
    _cli(env, "service", "start", "sleeper", umask=mask)
    try:  # (the pid file is there while the service runs)
        files = [p for root in own for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
        loose = [f"{stat.S_IMODE(p.stat().st_mode):o} {p.relative_to(home)}" for p in files]
    finally:
        _cli(env, "service", "stop", "sleeper", umask=mask)
    names = {p.name for p in files}
    assert {
        "source",
        "memory-hooks.json",
        "sleeper.pid",
        "sleeper.state.json",
        "usage.sqlite3",
        "capture.log",
    } <= names
    assert any(p.suffix == ".lock" for p in files)
    assert [line for line in loose if not line.startswith("600 ")] == []
