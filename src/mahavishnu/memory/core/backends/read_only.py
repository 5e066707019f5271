"""Why an embedded store cannot be written, told from the file system rather than from SQLite's
words: on a read-only mount SQLite says only "unable to open database file" (it cannot create the
WAL's -shm file), which names no cause. ``os.access`` answers EROFS even for root, whom a chmod
does not stop, and ``statvfs`` tells a read-only mount from missing permissions."""

from __future__ import annotations

import os
from pathlib import Path

from mahavishnu.errors import StoreError

PERMISSION_HINT = (
    "Make memory.db, its -wal/-shm files and its folder writable for this user (`chmod u+w`), or "
    "point memory.path at a writable copy."
)


def cannot_write(path: Path) -> bool:
    """The store's file exists and can be read, but it or its folder cannot be written."""
    if str(path) == ":memory:" or not path.is_file() or not os.access(path, os.R_OK):
        return False
    return not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK)


def on_read_only_filesystem(path: Path) -> bool:
    try:
        return bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def mount_point(path: Path) -> Path:
    """The mount that holds ``path``: the highest folder above it on the same device."""
    here = path.parent.absolute()
    device = here.stat().st_dev
    while here.parent != here and here.parent.stat().st_dev == device:
        here = here.parent
    return here


def read_only_error(path: Path) -> StoreError:
    """What a write to a store that cannot be written says, with what to do."""
    if on_read_only_filesystem(path):
        mount = mount_point(path)
        return StoreError(
            f"the store at {path} is on a read-only filesystem ({mount}): nothing was written",
            hint="Reads still work. To store memories, remount it read-write "
            f"(`mount -o remount,rw {mount}`), or copy memory.db to a writable folder and point "
            "memory.path at the copy (MAHAVISHNU_MEMORY__PATH=/writable/memory.db).",
        )
    return StoreError(
        f"the memory store {path} is read-only (its file or folder cannot be written): nothing was written",
        hint=PERMISSION_HINT,
    )


def hint(path: Path) -> str:
    """The fix for a store that cannot be written, for a report that is not an error (db status)."""
    return read_only_error(path).hint or PERMISSION_HINT


def unreadable_wal_error(path: Path, sqlite_says: str) -> StoreError:
    """A WAL store whose folder cannot be written and whose -wal file holds changes: a reader cannot
    create the -shm file it needs to read them, and ``immutable`` would not see them."""
    cause = (
        f"the store at {path} is on a read-only filesystem ({mount_point(path)})"
        if on_read_only_filesystem(path)
        else f"the memory store {path} is read-only"
    )
    fix = (
        f"remount it read-write (`mount -o remount,rw {mount_point(path)}`)"
        if on_read_only_filesystem(path)
        else "make the folder writable (`chmod u+w`)"
    )
    return StoreError(
        f"{cause} and cannot be opened here ({sqlite_says})",
        hint="Its -wal file holds changes that a read-only reader cannot see without a -shm file "
        f"beside it: {fix}, or copy memory.db with its -wal file somewhere writable and point "
        "memory.path at the copy.",
    )


def describe(path: Path) -> str:
    """Why it cannot be written, for a report: "on a read-only filesystem (/mnt)" or "read-only for
    this user"."""
    if on_read_only_filesystem(path):
        return f"on a read-only filesystem ({mount_point(path)})"
    return "read-only for this user"
