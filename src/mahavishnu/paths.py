"""Where Mahavishnu keeps its files.

``MAHAVISHNU_HOME`` overrides everything (tests point it at a tmp dir); otherwise the XDG
config and data dirs are used. Nothing here creates directories: callers that write do.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

#: The longest path a file system holds (Linux's PATH_MAX): a longer "path" a hook or a session
#: file gives names nothing, and read as one (every parent of it walked) cost minutes and gigabytes.
MAX_PATH_CHARS = 4096


def home() -> Path:
    """The user's home, honouring ``HOME`` so tests can move it; an empty ``HOME`` is the account's
    (Python's ``Path.home()`` makes it ``/``, where Mahavishnu's folders have no place)."""
    if os.environ.get("HOME"):
        return Path(os.environ["HOME"])
    try:
        import pwd

        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError):  # (no pwd on Windows; a uid without an entry)
        return Path.home()


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else home() / default


def config_dir() -> Path:
    override = os.environ.get("MAHAVISHNU_HOME")
    return Path(override) if override else _xdg("XDG_CONFIG_HOME", ".config") / "mahavishnu"


def trust_file() -> Path:
    """Where ``project_trust`` records the project settings files the user trusted."""
    return config_dir() / "trusted-projects.json"


def data_dir() -> Path:
    override = os.environ.get("MAHAVISHNU_HOME")
    return Path(override) if override else _xdg("XDG_DATA_HOME", ".local/share") / "mahavishnu"


def cache_dir() -> Path:
    """Disposable files (the validated-settings snapshot): ``$MAHAVISHNU_HOME/cache`` or the XDG cache dir."""
    override = os.environ.get("MAHAVISHNU_HOME")
    return Path(override) / "cache" if override else _xdg("XDG_CACHE_HOME", ".cache") / "mahavishnu"


def roots() -> list[Path]:
    """The directories Mahavishnu owns (MAHAVISHNU_HOME, or its XDG config, data and cache dirs)."""
    return [config_dir(), data_dir(), cache_dir()]


def create_private(path: Path) -> Path:
    """Create ``path`` empty and 0600, whatever the umask, unless it exists (then it is left as it
    is): a file SQLite is about to open, whose -wal and -shm files take its mode."""
    with contextlib.suppress(FileExistsError):  # (an existing one may be read-only: never opened here)
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600))
    return path


class CannotMakeDirError(OSError):
    """One of Mahavishnu's own directories cannot be made (``MAHAVISHNU_HOME`` under ``/proc``, a
    file in the way): ``errors.from_unexpected`` says so in one line, never a traceback."""


def make_dir(path: Path) -> Path:
    """``mkdir -p path`` where every directory it creates is 0700, whatever the umask: Mahavishnu's
    own hold keys, DSNs and memories (their XDG parents, ``~/.config`` and the like, are made 0700 as
    the XDG spec asks), and an assistant's folder it creates holds the config that names the commands
    and keys the assistant runs with. A directory that exists is left as it is. Inside Mahavishnu's
    own directories one that cannot be made is a ``CannotMakeDirError`` (a ``PermissionError``
    stays one)."""
    missing = []
    for each in (path, *path.parents):
        if each.is_dir():
            break
        missing.append(each)
    try:
        for each in reversed(missing):  # the outermost first
            try:
                each.mkdir(mode=0o700)
            except FileExistsError:
                if each.is_dir():  # made meanwhile by another process
                    continue
                raise  # a file in its place: said here, not by whatever writes under it next
            each.chmod(0o700)  # mkdir's mode is masked by the umask
    except PermissionError:
        raise
    except OSError as exc:
        if not any(path == root or root in path.parents for root in roots()):
            raise
        raise CannotMakeDirError(exc.errno, exc.strerror, exc.filename) from exc
    return path


def user_settings_file() -> Path:
    return config_dir() / "mahavishnu.yaml"


def backups_dir() -> Path:
    return data_dir() / "backups"


def secrets_file() -> Path:
    return config_dir() / "secrets.toml"


def project_root(start: Path | None = None) -> Path | None:
    """The enclosing repository (a directory holding ``.git``), or None; None too in a working
    folder deleted under the process (an assistant's session in it runs its hooks there still)."""
    if start is None:
        try:
            start = Path.cwd()
        except OSError:
            return None
    here = start.resolve()
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def repository_folders(start: Path | None = None) -> list[Path]:
    """The folders from the enclosing repository's root (``project_root``; outside one, ``start``
    alone) down to ``start`` (default: here), root first: where an assistant started in ``start``
    looks for project config files of its own (Codex's ``.codex``, OpenCode's ``opencode.json``)."""
    here = (start or Path.cwd()).resolve()
    root = project_root(here) or here
    above = [here, *here.parents]
    return above[: above.index(root) + 1][::-1]


def project_settings_file(start: Path | None = None) -> Path | None:
    root = project_root(start)
    return root / "settings" / "mahavishnu.yaml" if root else None


def layer_files() -> list[tuple[str, Path]]:
    """The settings files in precedence order, lowest first (whether they exist or not)."""
    files = [("user", user_settings_file())]
    project = project_settings_file()
    if project is not None:
        files.append(("project", project))
    return files


# -- where each assistant keeps its files (below every layer that reads or writes them) -------------


def claude_config_dir() -> Path:
    override = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(override) if override else home() / ".claude"


def pi_agent_dir() -> Path:
    """Pi's own folder: ``$PI_CODING_AGENT_DIR``, else ``~/.pi/agent``."""
    override = os.environ.get("PI_CODING_AGENT_DIR")
    return Path(override).expanduser() if override else home() / ".pi" / "agent"


def pi_sessions_dir() -> Path:
    """Where Pi keeps its sessions, as Pi 0.73 chooses it: ``$PI_CODING_AGENT_SESSION_DIR``, else
    ``sessionDir`` in its settings.json (``~`` read as HOME), each session file in it; else
    ``sessions`` in its folder, a folder for each project. A relative one is relative to the folder
    Pi runs in, unknown here: the default is read then, as for one that holds HOME."""
    chosen = os.environ.get("PI_CODING_AGENT_SESSION_DIR") or _pi_setting("sessionDir")
    folder = home() / chosen[2:] if chosen == "~" or chosen.startswith("~/") else Path(chosen)
    if not chosen or not folder.is_absolute() or home().is_relative_to(folder):
        return pi_agent_dir() / "sessions"  # (one holding HOME would make any file there a session's)
    return folder


def _pi_setting(key: str) -> str:
    """A string setting of Pi's settings.json ("" when it has none, or cannot be read)."""
    import json

    try:
        found = json.loads((pi_agent_dir() / "settings.json").read_text(encoding="utf-8")).get(key)
    except (OSError, ValueError, AttributeError):
        return ""
    return found if isinstance(found, str) and "\x00" not in found else ""


def claude_xdg_dir() -> Path | None:
    """``$XDG_CONFIG_HOME/claude`` (``~/.config/claude``), where releases of Claude Code in mid-2025
    kept their sessions (ccusage reads both folders); None when ``CLAUDE_CONFIG_DIR`` names the one."""
    return None if os.environ.get("CLAUDE_CONFIG_DIR") else _xdg("XDG_CONFIG_HOME", ".config") / "claude"


def claude_state_file() -> Path:
    """Claude Code's own state file: ``$CLAUDE_CONFIG_DIR/.claude.json`` or ``~/.claude.json``."""
    override = os.environ.get("CLAUDE_CONFIG_DIR")
    return (Path(override) if override else home()) / ".claude.json"


def codex_home() -> Path:
    override = os.environ.get("CODEX_HOME")
    return Path(override) if override else home() / ".codex"


def qwen_home() -> Path:
    override = os.environ.get("QWEN_HOME")
    return Path(override) if override else home() / ".qwen"


def gemini_home() -> Path:
    """Where the user-level ``.gemini`` directory lives (``GEMINI_CLI_HOME`` replaces HOME)."""
    override = os.environ.get("GEMINI_CLI_HOME")
    return (Path(override) if override else home()) / ".gemini"


def opencode_config_dir() -> Path:
    """OpenCode's global config folder (it uses xdg-basedir: ``$XDG_CONFIG_HOME/opencode``)."""
    return _xdg("XDG_CONFIG_HOME", ".config") / "opencode"


def opencode_data_dir() -> Path:
    """OpenCode's data folder, where its ``opencode.db`` is: ``$XDG_DATA_HOME/opencode``."""
    return _xdg("XDG_DATA_HOME", ".local/share") / "opencode"


def mahavishnu_argv(*args: str) -> list[str]:
    """This Mahavishnu by absolute path (services and hooks run with whatever PATH they get)."""
    import shutil  # (only here: the hooks' imports stay few)

    beside_python = Path(sys.executable).parent / "mahavishnu"  # skips shims (pyenv) on the way
    exe = str(beside_python) if beside_python.exists() else shutil.which("mahavishnu")
    return [*([exe] if exe else [sys.executable, "-m", "mahavishnu"]), *args]
