"""A usage log that is an assistant's SQLite database (OpenCode's ``opencode.db``), read like a
growing log: only the rows written or updated since the last read.

The database is opened read-only (``mode=ro``), never created, migrated or
checkpointed, and read in one statement: in WAL mode (OpenCode's) a reader never blocks its
writer; when the writer holds a lock anyway the read waits at most ``BUSY_MS`` and is reported
as not done, never retried in a loop. Rows come out ``PIECE_ROWS`` at a time with their JSON
column capped at ``MAX_ROW`` bytes (a longer one is passed over and noted), so memory stays
bounded whatever the database's size.

Which rows are new: those added since (a rowid above the highest seen before, whatever time
they carry: a migration may add old rows) and those updated since (the reader's ``updated``
column, milliseconds, at or after the newest seen before: rows written in the same millisecond
are read again, and replace what they gave). The database is known by its identity (device and inode) and
the size and mtime of it and its ``-wal`` file together: unchanged, it is not opened; another file
under the name (replaced, restored from a backup), fewer rows than before (a session deleted) or
a newest row older than before (a clock gone back) make it read again whole."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from mahavishnu.json_types import JSONObject
from mahavishnu.usage.logfile import MAX_LINE, parse_object

#: Rows held in memory at once.
PIECE_ROWS = 512
#: A row's JSON column longer than this is no usage record (OpenCode's are a few hundred bytes).
MAX_ROW = MAX_LINE
#: The longest a read waits for a writer's lock before giving up for this report.
BUSY_MS = 1000

#: A row of the log: its number (SQLite's rowid) and the entry made of it.
Row = tuple[int, JSONObject]


@dataclass(frozen=True)
class Table:
    """Where a reader's rows are: ``table``, its JSON column ``data``, the column saying when a row
    was last written (``updated``, milliseconds), and other ``columns`` an entry needs, each
    joined from ``joins`` (``LEFT JOIN`` clauses) when given as ``alias.column``; only rows whose
    ``data`` contains ``wanted`` are read."""

    table: str
    data: str
    updated: str
    columns: tuple[str, ...] = ()
    joins: str = ""
    #: text the JSON column of a useful row contains (a cheap filter in SQLite before parsing)
    wanted: str = ""


def signature(path: Path) -> tuple[int, int, str]:
    """The database's size and mtime (ns) with its ``-wal`` file's (a write may change only that),
    and its identity (``device:inode``). OSError when the database is gone. An empty ``-wal`` holds
    nothing: our own read-only open creates one (and ``-shm``) beside a database in WAL mode that
    nothing has open, which would otherwise make the next report read the database again."""
    info = path.stat()
    size, mtime = info.st_size, info.st_mtime_ns
    try:
        wal = Path(f"{path}-wal").stat()
    except FileNotFoundError:
        pass
    else:
        if wal.st_size:
            size, mtime = size + wal.st_size, max(mtime, wal.st_mtime_ns)
    return size, mtime, f"{info.st_dev}:{info.st_ino}"


@dataclass
class Rows:
    """Reading ``table`` of the database at ``path``, rows updated at or after ``after`` or added
    after rowid ``last`` (``after`` -1: all): ``pieces()`` gives them as entries ``{"row": {column:
    value}, "data": <the JSON column>}``; then ``newest`` is the latest ``updated`` seen, ``highest``
    the highest rowid, ``total`` the table's rows, ``stale`` whether the database must be read
    again whole (it lost rows or went back in time since ``known`` rows and ``after``), and
    ``passed`` the rows passed over (rowid, why)."""

    path: Path
    table: Table
    after: int
    known: int = 0
    last: int = 0
    newest: int = -1
    highest: int = 0
    total: int = 0
    stale: bool = False
    passed: list[tuple[int, str]] = field(default_factory=list)

    def pieces(self) -> Iterator[list[Row]]:
        """The rows, a piece at a time. ``sqlite3.Error`` and OSError propagate."""
        t = self.table
        with closing(_connect(self.path)) as db:
            self.total, latest, highest = db.execute(
                f"SELECT COUNT(*), MAX({t.updated}), MAX(rowid) FROM {t.table}"
            ).fetchone()
            latest = latest if isinstance(latest, int) else -1
            self.newest = max(self.after, latest)
            self.highest = highest if isinstance(highest, int) else 0
            self.stale = self.after >= 0 and (self.total < self.known or latest < self.after)
            if self.stale:
                return
            names = [c.rpartition(".")[2] for c in t.columns]
            cursor = db.execute(
                f"SELECT {t.table}.rowid, {t.updated},"
                f" CASE WHEN length(CAST({t.data} AS BLOB)) > ? THEN NULL ELSE CAST({t.data} AS BLOB) END"
                f"{''.join(', ' + c for c in t.columns)} FROM {t.table} {t.joins}"
                f" WHERE ({t.table}.rowid > ? OR {t.updated} >= ?) AND instr({t.data}, ?) > 0",
                (MAX_ROW, self.last if self.after >= 0 else -1, self.after, t.wanted),
            )
            while batch := cursor.fetchmany(PIECE_ROWS):
                yield [row for raw in batch if (row := self._entry(raw, names)) is not None]

    def _entry(self, raw: tuple[object, ...], names: list[str]) -> Row | None:
        number, _, data, *extra = raw
        if not isinstance(number, int):
            return None
        if not isinstance(data, bytes):
            self.passed.append((number, f"longer than {MAX_ROW // 2**20} MB" if data is None else "not JSON"))
            return None
        value, why = parse_object(data)
        if value is None:
            self.passed.append((number, why))
            return None
        row: JSONObject = {
            name: value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            for name, value in zip(names, extra, strict=True)
            if isinstance(value, bytes | str | int)
        }
        return number, {"row": row, "data": value}


def _connect(path: Path) -> sqlite3.Connection:
    """``path`` opened read-only: never created, written, or waited on longer than ``BUSY_MS``.
    Text comes back as bytes (a non-UTF-8 row is one bad row, not a failed read)."""
    uri = f"file:{quote(os.fsdecode(path.resolve()))}?mode=ro"
    db = sqlite3.connect(uri, uri=True, timeout=BUSY_MS / 1000, check_same_thread=False)
    db.text_factory = bytes
    return db
