"""``mahavishnu db check``: is the embedded store's file damaged?

SQLite's own checks, on a read-only connection of its own (not the backend, which a damaged file
may not even open, and which would migrate): ``PRAGMA quick_check`` (every page's structure, in
seconds), or ``PRAGMA integrity_check`` (also that every index matches its table).

A store this user may not write (file or directory read-only, a read-only mount) is not damaged: a read-only
connection to a WAL database still needs to create its ``-shm`` file, so when the directory is not
writable the file is checked ``immutable`` instead (nobody can be writing it), and the report says
it is read-only.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mahavishnu.errors import NotFoundError, StoreError
from mahavishnu.json_types import JSONObject
from mahavishnu.memory.core.backends.read_only import unreadable_wal_error

if TYPE_CHECKING:
    from mahavishnu.config import MemorySettings

MAX_PROBLEMS = 100
#: How long ``doctor`` and ``health`` may spend on the file's ``PRAGMA quick_check`` (about a second
#: for 100k memories when the file is cached; a cold file on a busy disk can take far longer): past
#: it, the report is incomplete and ``db check`` is the way to check the whole file.
QUICK_CHECK_SECONDS = 5.0


@dataclass(frozen=True)
class CheckReport:
    location: str
    check: str  # quick_check or integrity_check
    problems: list[str] = field(default_factory=list)
    read_only: bool = False  # this user may not write the store (not damage; writes will fail)
    complete: bool = True  # False: stopped at the time limit, nothing found so far (`db check` runs it all)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def summary(self) -> str:
        """The first problem, and how many more there are."""
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"{self.problems[0]}{more}" if self.problems else "ok"

    def to_dict(self) -> JSONObject:
        return {**asdict(self), "ok": self.ok}


def check_sqlite(
    path: Path, *, full: bool = False, max_problems: int = MAX_PROBLEMS, time_limit: float | None = None
) -> CheckReport:
    """Run SQLite's check over ``path``; every line it reports (up to ``max_problems``) is a problem.

    ``time_limit`` (seconds): stop there (``doctor``, ``health``: a cold 100k-memory store on a busy
    disk can take far longer than its usual second) and return an incomplete, problem-free report.
    Raises ``StoreError`` when the file cannot be checked at all (not readable, locked), which is not
    damage either."""
    deadline = None if time_limit is None else time.monotonic() + time_limit
    pragma = "integrity_check" if full else "quick_check"
    if not path.is_file():
        raise NotFoundError(f"no memory store at {path}", hint="It is created by the first `memory store`.")
    read_only = not _writable(path)
    sql = f"PRAGMA {pragma}({max_problems})"
    try:
        lines = _run(path, sql, immutable=False, deadline=deadline)
    except sqlite3.DatabaseError as exc:
        text = str(exc)
        if (_is_read_only(text) or not _writable(path)) and _can_check_immutable(path):
            # a WAL store in a directory this user may not write: its -shm cannot be created
            read_only = True
            try:
                lines = _run(path, sql, immutable=True, deadline=deadline)
            except sqlite3.DatabaseError as again:
                return _unreadable_or_damaged(path, pragma, str(again), read_only, deadline)
        else:
            return _unreadable_or_damaged(path, pragma, text, read_only, deadline)
    return CheckReport(str(path), pragma, [] if lines == ["ok"] else lines, read_only)


def quick_check_store(settings: MemorySettings) -> CheckReport | None:
    """The embedded store's file checked within ``QUICK_CHECK_SECONDS`` (``doctor``, ``health``: a
    damaged file still reports its migrations and counts its rows); None for PostgreSQL or when the
    file does not exist yet. Raises ``StoreError`` as ``check_sqlite`` does."""
    from mahavishnu.memory.core.store import default_store_path

    path = settings.path or default_store_path()
    if settings.backend != "sqlite" or not path.is_file():
        return None
    return check_sqlite(path, max_problems=5, time_limit=QUICK_CHECK_SECONDS)


def _run(path: Path, sql: str, *, immutable: bool, deadline: float | None) -> list[str]:
    """The check's lines (its rows' one column)."""
    mode = "mode=ro&immutable=1" if immutable else "mode=ro"
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?{mode}", uri=True)
    try:
        if deadline is not None:  # a true answer interrupts the statement ("interrupted")
            conn.set_progress_handler(lambda: time.monotonic() > deadline, 1_000)
        return [str(row[0]) for row in conn.execute(sql).fetchall()]
    finally:
        conn.close()


def _unreadable_or_damaged(
    path: Path, pragma: str, text: str, read_only: bool, deadline: float | None
) -> CheckReport:
    """What SQLite said when it could not run the check: damage, unless it is about access or our
    time limit."""
    if text == "interrupted" and deadline is not None and time.monotonic() > deadline:
        return CheckReport(str(path), pragma, [], read_only, complete=False)
    if _is_read_only(text) or (not _writable(path) and "unable to open" in text):
        raise unreadable_wal_error(path, text)
    if "unable to open" in text:
        raise StoreError(
            f"the memory store {path} cannot be opened ({text})",
            hint="Check that this user may read memory.db and its directory (`ls -l`).",
        )
    if "locked" in text or "busy" in text:
        raise StoreError(f"the memory store {path} is busy ({text})", hint="Another process holds it; retry.")
    return CheckReport(str(path), pragma, [text], read_only)  # not a database, or a header SQLite cannot read


def _is_read_only(text: str) -> bool:
    return "readonly" in text or "read-only" in text


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _can_check_immutable(path: Path) -> bool:
    """``immutable`` ignores the -wal file: only exact when there is no (non-empty) one, and only
    safe when nobody can be writing the file (its directory is not writable)."""
    wal = path.with_name(path.name + "-wal")
    return not os.access(path.parent, os.W_OK) and (not wal.exists() or wal.stat().st_size == 0)
