"""A file written whole and private (a backup, an export of the memory store): through a 0600
temporary file beside it, put in place in one rename; what a killed writer left is removed by the
next write to that folder."""

from __future__ import annotations

import glob
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def write_whole(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through ``write(temporary)``: a file beside it, private (0600, made by
    ``mkstemp``) from its first byte, put in place whole; its name carries our pid, so the next
    write removes what a killed one left (a backup, an export: each holds every memory)."""
    remove_stale_temporaries(path.parent, path.name + ".")
    fd, name = tempfile.mkstemp(prefix=f"{path.name}.{os.getpid()}.", suffix=_TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(name)  # kept, not unlinked: the writer fills the private file, never one it creates
    try:
        write(tmp)
        tmp.chmod(0o600)  # private, whatever the umask
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, *(Path(f"{tmp}{s}") for s in _SQLITE_SIDE_FILES)):
            leftover.unlink(missing_ok=True)


_TMP_SUFFIX = ".tmp"
_SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")
#: A temporary file without our pid in its name (written before they carried one) is stale after this.
_STALE_AFTER_SECONDS = 3600


def remove_stale_temporaries(folder: Path, prefix: str) -> None:
    """Temporary files (and their SQLite side files) of writes whose process is gone: a ``kill -9``
    leaves them, and nothing else would ever remove them."""
    if not folder.is_dir():
        return
    for found in folder.glob(f"{glob.escape(prefix)}*{_TMP_SUFFIX}*"):
        base = found.name
        for side in _SQLITE_SIDE_FILES:
            base = base.removesuffix(side)
        if not base.endswith(_TMP_SUFFIX) or _temporary_in_use(found, base.removesuffix(_TMP_SUFFIX)):
            continue
        found.unlink(missing_ok=True)


def _temporary_in_use(found: Path, stem: str) -> bool:
    """Whether the process that made a temporary file (``NAME.PID.RANDOM.tmp``) may still write it."""
    parts = stem.rsplit(".", 2)
    pid_text = parts[-2] if len(parts) == 3 else ""
    if not pid_text.isdigit():  # an older name without a pid: judged by its age
        try:
            return time.time() - found.stat().st_mtime < _STALE_AFTER_SECONDS
        except OSError:
            return True
    pid = int(pid_text)
    return pid == os.getpid() or alive(pid)


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (another user's too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, another user's
        return True
    return True
