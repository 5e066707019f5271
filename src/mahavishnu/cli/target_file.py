"""The file a command writes at a path the user names (``db backup``, ``memory export``)."""

from __future__ import annotations

import errno
import stat
from pathlib import Path

from mahavishnu.errors import InvalidInputError

FORCE_HELP = "Replace the file if it exists."


def target_file(path: Path, force: bool) -> Path:
    """Where to write for ``path``: an existing file is replaced only with ``--force`` (a mistyped
    name must not cost a file), through its symlink (a dotfiles link stays a link), and never when it
    is not a regular file (a device such as /dev/null, a pipe: replacing one would break it)."""
    try:
        real = Path(path).resolve()  # a symlink loop: RuntimeError here on 3.11, ELOOP from stat on 3.13
        mode = real.stat().st_mode
    except FileNotFoundError:
        return real
    except (RuntimeError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno != errno.ELOOP:
            raise
        raise InvalidInputError(
            f"{path} goes through a symlink that leads back to itself: nothing was written",
            hint="Name a file, or point the symlink at one.",
        ) from exc
    if real in _own_files():
        raise InvalidInputError(
            f"{path} is one of Mahavishnu's own files (the memory store, its settings or secrets): "
            "nothing was written",
            hint="Name a file outside Mahavishnu's own folders.",
        )
    if stat.S_ISDIR(mode):
        raise InvalidInputError(
            f"{path} is a folder", hint=f"Name a file to write inside it, e.g. {path / 'export.jsonl'}."
        )
    if not stat.S_ISREG(mode):
        raise InvalidInputError(f"{path} is not a regular file", hint="Name a file to write.")
    if not force:
        raise InvalidInputError(
            f"{path} already exists", hint="Pass --force to replace it, or name another file."
        )
    return real


def _own_files() -> set[Path]:
    """The files a write must never replace: every file directly in Mahavishnu's config and data
    folders (settings, secrets, the default store), and the configured store with its journals."""
    from mahavishnu import paths
    from mahavishnu.config import load_settings
    from mahavishnu.memory.core.store import default_store_path

    own = {
        f.resolve()
        for folder in (paths.config_dir(), paths.data_dir())
        if folder.is_dir()
        for f in folder.iterdir()
    }
    store = (load_settings().memory.path or default_store_path()).resolve()
    return own | {store, *(store.with_name(store.name + end) for end in ("-wal", "-shm", "-journal"))}
