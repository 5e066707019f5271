"""The incremental cache of usage records: for each session log, its records and where reading
stopped, so a report reads again only the lines written since (``$MAHAVISHNU_HOME/cache`` or the
XDG cache dir, ``usage.sqlite3``; disposable: deleting it costs one full read).

A log is known by its path, identity (device and inode), size, mtime and first bytes. One whose
identity, size and mtime are unchanged is not opened. One that grew, is the same file and starts
with the same bytes is read from where the last read stopped (the assistants append; a line still
being written waits for its newline). One that shrank (truncated), is another file under the same
name (rotated, or replaced by a rename) or whose first bytes changed (rewritten) is read again
whole; one that is gone takes its records with it. A change to what the readers extract bumps
``VERSION``, which rebuilds the cache.

A line that cannot be usage (not JSON, too deep, too long, a count outside 0..10^12, a year-1
timestamp) is skipped and kept as ``bad_lines`` (file, line number, why; the first ``BAD_KEPT`` of
each file) for ``usage --verbose``: no line makes a report fail.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

from mahavishnu import paths
from mahavishnu.json_types import JSONObject
from mahavishnu.usage.logfile import Numbered, Tail, parse_object
from mahavishnu.usage.readers import READERS, Reader, State
from mahavishnu.usage.records import BadLine, Tool, UsageRecord

VERSION = 3
#: A known log: path, size, mtime (ns), where reading stopped, its first bytes, the reader's state,
#: the lines before where reading stopped, its identity ("device:inode").
_Row = tuple[str, int, int, int, bytes, str, int, str]
_HEAD = 256  # bytes of a log's start that must not change for an append-only read
#: Bad lines kept per file for ``--verbose`` (all are counted).
BAD_KEPT = 100

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, tool TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    end_offset INTEGER NOT NULL, head BLOB NOT NULL, state TEXT NOT NULL, skipped INTEGER NOT NULL,
    lines INTEGER NOT NULL, identity TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bad_lines (path TEXT NOT NULL, line INTEGER NOT NULL, reason TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS bad_lines_by_path ON bad_lines (path);
CREATE TABLE IF NOT EXISTS records (
    path TEXT NOT NULL, tool TEXT NOT NULL, key TEXT NOT NULL, time REAL NOT NULL, model TEXT NOT NULL,
    input INTEGER NOT NULL, output INTEGER NOT NULL, cache_write INTEGER NOT NULL,
    cache_read INTEGER NOT NULL, session TEXT NOT NULL, project TEXT, source TEXT NOT NULL,
    cache_write_1h INTEGER NOT NULL, via TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_path ON records (path);
"""


@dataclass
class Refresh:
    """What bringing the ledger up to date did: files read (whole or their new tail), lines passed
    over as damaged or oversized, and the logs that could not be read (one line each)."""

    read: int = 0
    skipped_lines: int = 0
    problems: list[str] = field(default_factory=list)


def ledger_file() -> Path:
    return paths.cache_dir() / "usage.sqlite3"


@contextmanager
def opened(file: Path | None = None) -> Iterator[sqlite3.Connection]:
    file = file or ledger_file()
    paths.make_dir(file.parent)
    with closing(sqlite3.connect(file, timeout=30)) as db:
        if db.execute("PRAGMA user_version").fetchone()[0] != VERSION:
            db.executescript(
                "DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS records; DROP TABLE IF EXISTS bad_lines;"
            )
            db.execute(f"PRAGMA user_version = {VERSION}")
        db.executescript(_SCHEMA)
        yield db


def refresh(db: sqlite3.Connection, logs: dict[Tool, list[Path]]) -> Refresh:
    """Read what is new in ``logs`` (each assistant's session files) into the ledger."""
    done = Refresh()
    known = {
        row[0]: row
        for row in db.execute(
            "SELECT path, size, mtime_ns, end_offset, head, state, lines, identity FROM files"
        )
    }
    with db:
        seen: set[str] = set()
        for tool, files in logs.items():
            for path in files:
                seen.add(str(path))
                _refresh_file(db, tool, path, known.get(str(path)), done)
        for tool in logs:
            gone = [
                p
                for (p, t) in db.execute("SELECT path, tool FROM files WHERE tool = ?", (tool,))
                if p not in seen
            ]
            for path_text in gone:
                _forget(db, path_text)
    return done


def _refresh_file(db: sqlite3.Connection, tool: Tool, path: Path, row: _Row | None, done: Refresh) -> None:
    parser = READERS[tool]
    try:
        stat = path.stat()
        identity = f"{stat.st_dev}:{stat.st_ino}"
        same_file = row is not None and row[7] == identity
        if same_file and row is not None and row[1] == stat.st_size and row[2] == stat.st_mtime_ns:
            return
        with path.open("rb") as handle:
            head = handle.read(_HEAD)
        tail, state = Tail(path, 0, 0, parser.wanted), {}
        if same_file and row is not None and stat.st_size >= row[3] and head[: len(row[4])] == row[4]:
            tail, state = Tail(path, row[3], row[6], parser.wanted), _state(row[5])
        else:
            _forget(db, str(path))
        bad: list[tuple[int, str]] = []
        stored: set[str] = set()  # a streamed message repeats on 1-3 lines: stored once
        seen: set[str] = set()  # and its repeats are not even parsed when the reader can tell
        for piece in tail.pieces():  # a piece at a time: memory stays bounded
            db.executemany(
                "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((str(path), *r.row()) for r in _once(_parse(parser, path, piece, state, bad, seen), stored)),
            )
    except OSError as error:
        done.problems.append(f"cannot read {path}: {error.strerror or error}")
        return
    bad += tail.passed
    done.read += 1
    done.skipped_lines += len(bad)
    kept = int(db.execute("SELECT COUNT(*) FROM bad_lines WHERE path = ?", (str(path),)).fetchone()[0])
    db.executemany(
        "INSERT INTO bad_lines VALUES (?, ?, ?)",
        ((str(path), number, why) for number, why in sorted(bad)[: max(0, BAD_KEPT - kept)]),
    )
    db.execute(
        "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, "
        "COALESCE((SELECT skipped FROM files WHERE path = ?), 0) + ?, ?, ?)",
        (
            str(path),
            tool,
            stat.st_size,
            stat.st_mtime_ns,
            tail.end,
            head,
            json.dumps(state),
            str(path),
            len(bad),
            tail.line,
            identity,
        ),
    )


def _once(records: list[UsageRecord], stored: set[str]) -> Iterator[UsageRecord]:
    """The records whose key is not in ``stored`` yet (then it is)."""
    for record in records:
        if record.key not in stored:
            stored.add(record.key)
            yield record


def _parse(
    parser: Reader,
    path: Path,
    lines: list[Numbered],
    state: State,
    bad: list[tuple[int, str]],
    seen: set[str],
) -> list[UsageRecord]:
    """The records of ``lines``; a line that is not JSON or not usage goes to ``bad`` with why,
    one whose request key (``Reader.line_key``) was ``seen`` in this file is passed over unparsed
    (a streamed answer's 2nd and 3rd lines repeat the 1st). The piece is parsed in one call (most
    of a report's time); when a line in it is bad, again a line at a time from the state it
    started with, to keep the rest."""
    numbered: list[tuple[int, JSONObject]] = []
    line_key = parser.line_key
    for number, line in lines:
        if line_key is not None:
            key = line_key(line)
            if key is not None:
                if key in seen:
                    continue
                seen.add(key)
        value, why = parse_object(line)
        if value is None:
            bad.append((number, why))
        else:
            numbered.append((number, value))
    before = dict(state)
    try:
        return parser.parse(path, [entry for _, entry in numbered], state)
    except _UNREADABLE:
        state.clear()
        state.update(before)
    found: list[UsageRecord] = []
    for number, entry in numbered:
        try:
            found += parser.parse(path, (entry,), state)
        except _UNREADABLE as error:  # the reason is ours, never the line's text
            bad.append((number, str(error) if isinstance(error, BadLine) else type(error).__name__))
    return found


#: What a hostile line can make a reader raise: it skips that line, never the report.
_UNREADABLE = (ValueError, TypeError, ArithmeticError)


def _state(text: str) -> State:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return {k: v for k, v in value.items() if isinstance(v, str)} if isinstance(value, dict) else {}


def _forget(db: sqlite3.Connection, path: str) -> None:
    db.execute("DELETE FROM records WHERE path = ?", (path,))
    db.execute("DELETE FROM bad_lines WHERE path = ?", (path,))
    db.execute("DELETE FROM files WHERE path = ?", (path,))


def records(
    db: sqlite3.Connection, tools: Iterable[Tool], since: float | None, until: float | None
) -> list[UsageRecord]:
    """The ledger's records of ``tools`` in ``[since, until)``, oldest first, each request once
    (the first of the lines that share its key)."""
    wanted = list(tools)
    query = (
        "SELECT tool, key, time, model, input, output, cache_write, cache_read, session, project, source,"
        " cache_write_1h, via"
        f" FROM records WHERE tool IN ({','.join('?' * len(wanted))})"
    )
    params: list[object] = list(wanted)
    if since is not None:
        query += " AND time >= ?"
        params.append(since)
    if until is not None:
        query += " AND time < ?"
        params.append(until)
    # rowid order (free), then a stable sort by time in Python: three times faster than SQLite's
    rows = db.execute(query + " ORDER BY rowid", params).fetchall()
    rows.sort(key=itemgetter(2))
    seen: set[str] = set()
    mark, make = seen.add, UsageRecord._make
    found: list[UsageRecord] = []
    append = found.append
    for row in rows:
        if row[1] not in seen:
            mark(row[1])
            append(make(row))
    return found


def bad_lines(db: sqlite3.Connection, tools: Iterable[Tool]) -> list[tuple[str, int, str]]:
    """The bad lines kept for ``tools``' logs: file, line number, why (``usage --verbose``)."""
    wanted = list(tools)
    return db.execute(
        "SELECT b.path, b.line, b.reason FROM bad_lines b JOIN files f ON f.path = b.path"
        f" WHERE f.tool IN ({','.join('?' * len(wanted))}) ORDER BY b.path, b.line",
        wanted,
    ).fetchall()


def skipped_lines(db: sqlite3.Connection) -> int:
    """Lines passed over in every log the ledger has read."""
    return int(db.execute("SELECT COALESCE(SUM(skipped), 0) FROM files").fetchone()[0])
