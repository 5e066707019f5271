"""The incremental cache of usage records: for each session log, its records and where reading
stopped, so a report reads again only the lines written since (``$MAHAVISHNU_HOME/cache`` or the
XDG cache dir, ``usage.sqlite3``; disposable: deleting it costs one full read).

A log is known by its path, identity (device and inode), size, mtime and first bytes (their digest:
``_head_print``). One whose identity, size and mtime are unchanged is not opened. One that grew, is
the same file and starts with the same bytes is read from where the last read stopped (the
assistants append; a line still being written waits for its newline). One that shrank (truncated),
is another file under the same name (rotated, or replaced by a rename) or whose first bytes changed
(rewritten) is read again whole; one that is gone takes its records with it. A log that is one
JSON document (an older version's, ``Reader.whole``) is read again whole whenever it changes. A
change to what the readers extract bumps ``VERSION``, which rebuilds the cache.

Each read of a log (all of it, or its appended lines) keeps its records as one blob (``reads``),
encoded by the worker process that read them: a row per request cost a first read more to store
and index than the logs cost to read (a CRC-32 of the pickle in front: a byte changed on the disk is
damage). Beside them, the CRC-32s of the requests' keys: an append asks an index of them
(``crc_buckets``, made when an append first asks, made again once the reads stored since hold more
than an eighth as many keys) whether its requests were counted before, and unpickles only the reads
whose CRCs match. (The CRCs carry no checksum of their own, as the records do: a byte changed in them
on the disk could hide a repeat, which would then be counted twice.)

A report's sums are kept too (``sums``: per report asked for, what ``report.Sums`` added up, the
highest read it added and a signature of the switch history, prices and time zone it used). A
later report with the same signature adds only the reads above that one (an append); any record
deleted (a log truncated, rotated, rewritten or gone) drops every kept sum, and so does a new
record of a request already counted at a later time (it would count instead).

A line that cannot be usage (not JSON, too deep, too long, a count outside 0..10^12, a year-1
timestamp) is skipped and kept as ``bad_lines`` (file, line number, why; the first ``BAD_KEPT`` of
each file) for ``usage --verbose``: no line makes a report fail.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import pickle
import sqlite3
import threading
from array import array
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from multiprocessing import get_context
from operator import itemgetter
from pathlib import Path
from typing import Any
from zlib import crc32

from mahavishnu import paths
from mahavishnu.errors import MahavishnuError
from mahavishnu.json_types import JSONObject
from mahavishnu.usage import sqlite_log
from mahavishnu.usage.logfile import HEAD_BYTES, Block, Numbered, Tail, parse_object
from mahavishnu.usage.readers import READERS, Reader, State
from mahavishnu.usage.records import BadLine, Tool, UsageRecord, snapshot

#: 13: a Codex fork's copy of its parent's history is no request; 14: secrets in names masked,
#: a line with a lone surrogate escape read; 15: a Pi reply's key has its time (Ollama's ids repeat);
#: 16: and its entry id (two sessions' replies of one id in one millisecond were one); 17: a Claude
#: Code request's key has its model (a gateway's ids repeat); 18: a streamed Claude Code reply's
#: input and cache tokens are its most-output line's, not its first's (records.snapshot); 19: a
#: Qwen Code reply through the Gemini API has its tool-use prompt tokens as input; 20: a Codex
#: request has the service tier its session's settings name (``speed``)
VERSION = 20
#: A known log: path, size, mtime (ns), where reading stopped, its first bytes' digest, the
#: reader's state, the lines before where reading stopped, its identity ("device:inode").
_FileRow = tuple[str, int, int, int, bytes, str, int, str]
_HEAD = HEAD_BYTES  # bytes of a log's start that must not change for an append-only read
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
-- the records of one read of a log (all of it, or what was appended), as one pickled list of
-- plain tuples (``UsageRecord``'s fields), and the CRC-32 of each one's key (4 bytes each)
CREATE TABLE IF NOT EXISTS reads (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL, tool TEXT NOT NULL, first REAL NOT NULL,
    last REAL NOT NULL, count INTEGER NOT NULL, records BLOB NOT NULL, crcs BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS reads_by_path ON reads (path);
-- the key CRCs of the reads up to ``crc_covered.upto`` (``keys`` of them), by their top 16 bits:
-- each bucket's CRCs packed with their read's id (``crc << 32 | id``, 8 bytes each, sorted; ``_index``)
CREATE TABLE IF NOT EXISTS crc_buckets (bucket INTEGER PRIMARY KEY, packed BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS crc_covered (upto INTEGER NOT NULL, keys INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sums (
    query TEXT PRIMARY KEY, signature TEXT NOT NULL, upto INTEGER NOT NULL, data BLOB NOT NULL,
    used REAL NOT NULL
);
"""
#: A record as a read's blob holds it: ``UsageRecord``'s fields.
Row = tuple[Any, ...]


#: What a first read passes the records of each read it stores to (``refresh``'s ``fold``).
Fold = Callable[[list[Row]], object]


@dataclass
class Refresh:
    """What bringing the ledger up to date did: files read (whole or their new tail), lines passed
    over as damaged or oversized, and the logs that could not be read (one line each)."""

    read: int = 0
    skipped_lines: int = 0
    problems: list[str] = field(default_factory=list)
    #: a first read (the ledger held no records before) gave ``fold`` every record it stored,
    #: and they are all the ledger holds (none replaced another)
    whole: bool = False
    fold: Fold | None = field(default=None, repr=False)
    #: records stored by a first read (None: not a first read)
    stored: int | None = field(default=None, repr=False)
    #: the highest read when this one was done (``last_row``): what ``fold`` was given goes up to it
    top: int = 0

    def took(self, count: int, rows: Callable[[], list[Row]]) -> None:
        """``count`` records were stored, after those before them (``rows()``: them, made only
        when a first read adds them up)."""
        if self.stored is not None:
            self.stored += count
            if self.fold is not None:
                self.fold(rows())


def ledger_file() -> Path:
    return paths.cache_dir() / "usage.sqlite3"


class Damaged(MahavishnuError):
    """The ledger's file turned out damaged while it was read: it is removed (the logs are read
    again whole by the next report)."""


class Failed(MahavishnuError):
    """The ledger's file could not be used (busy, read-only, a full disk): nothing was lost."""


@contextmanager
def opened(file: Path | None = None) -> Iterator[sqlite3.Connection]:
    """The ledger, made when missing; made again, empty, when it is of another ``VERSION`` or its
    file is damaged (not a database, or a page of it that SQLite cannot read: a disk that filled,
    another program that wrote over it). Damage found only while reading it removes the file and
    raises ``Damaged``; another error of SQLite's raises ``Failed``, which names the cache (a
    report's error is never the memory store's)."""
    file = file or ledger_file()
    paths.make_dir(file.parent)
    try:
        db = _connected(file)
    except sqlite3.DatabaseError as error:
        if not _is_damage(error):
            raise _failed(file, error) from error
        _remove(file)
        db = _connected(file)
    try:
        yield db
    except (sqlite3.DatabaseError, _BadBlob) as error:
        if isinstance(error, sqlite3.DatabaseError) and not _is_damage(error):
            raise _failed(file, error) from error
        db.close()
        _remove(file)
        raise Damaged(
            f"the usage cache was damaged ({error}): it is removed",
            hint="Run the report again: the logs are read again whole.",
        ) from error
    finally:
        db.close()


#: Every table a ``VERSION`` ever made: dropped when the file is of another one.
_TABLES = ("files", "records", "bad_lines", "sums", "reads", "crc_index", "crc_buckets", "crc_covered")


def _connected(file: Path) -> sqlite3.Connection:
    db = sqlite3.connect(paths.create_private(file), timeout=30)
    try:
        if db.execute("PRAGMA user_version").fetchone()[0] != VERSION and _emptied(db):
            db.execute("VACUUM")  # (the file keeps the old tables' pages otherwise)
        db.executescript(f"BEGIN; {_SCHEMA} COMMIT;")  # (one sync to the disk, not one a table)
    except BaseException:
        db.close()
        raise
    return db


def _emptied(db: sqlite3.Connection) -> bool:
    """The tables of another ``VERSION`` dropped and this one's number set, in one transaction that
    looks at the number again: two reports that open a new cache at once drop them once (else the
    second dropped the tables the first had made and was writing to). False: another did it."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute("PRAGMA user_version").fetchone()[0] == VERSION:
            db.commit()
            return False
        for table in _TABLES:
            db.execute(f"DROP TABLE IF EXISTS {table}")
        db.execute(f"PRAGMA user_version = {VERSION}")
    except BaseException:
        db.rollback()
        raise
    db.commit()
    return True


def _is_damage(error: sqlite3.DatabaseError) -> bool:
    """Whether ``error`` says the file is damaged (not busy, locked, full or read-only): a page
    SQLite cannot read, or tables not as this ``VERSION`` makes them (another program's)."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF  # (the primary code of an extended one)
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or str(error).startswith(
        ("no such table", "no such column", "table ")
    )


#: SQLite's SQLITE_READONLY_DBMOVED: the file was removed while open (another report found it
#: damaged and made it again).
_MOVED = 1032


def _failed(file: Path, error: sqlite3.DatabaseError) -> Failed:
    text = str(error)
    if getattr(error, "sqlite_errorcode", 0) == _MOVED:
        return Failed(
            "the usage cache was made again by another report while this one read it",
            hint="Run this report again.",
        )
    if "locked" in text or "busy" in text:
        return Failed(
            f"the usage cache is busy ({text})", hint="Another report holds it: run this one again."
        )
    return Failed(
        f"the usage cache failed ({text}): {file}",
        hint="Make its folder writable and free some disk space, or delete the file (it is made again).",
    )


def _remove(file: Path) -> None:
    for part in [file, *(file.with_name(file.name + end) for end in ("-journal", "-wal", "-shm"))]:
        part.unlink(missing_ok=True)


@contextmanager
def locked(db: sqlite3.Connection) -> Iterator[None]:
    """One writer at a time until the end (committed then, rolled back on an error): the records a
    report adds up are still there when its sums are kept."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.rollback()
        raise
    db.commit()


def refresh(
    db: sqlite3.Connection,
    logs: dict[Tool, list[Path]],
    meanwhile: Callable[[], object] | None = None,
    fold: Fold | None = None,
) -> Refresh:
    """Read what is new in ``logs`` (each assistant's session files) into the ledger. When other
    processes read them, ``meanwhile`` is called here once they have started (the caller's own
    work that needs no ledger: its price data, say); else not at all. A first read gives ``fold``
    each batch of rows it stores, in order, as it stores it (a report adds them up while the
    other processes read: ``Refresh.whole`` says whether that is all the ledger holds)."""
    done = Refresh()
    known = {
        row[0]: row
        for row in db.execute(
            "SELECT path, size, mtime_ns, end_offset, head, state, lines, identity FROM files"
        )
    }
    first = last_row(db) == 0
    done.stored, done.fold = (0, fold) if first else (None, None)
    with db:
        seen = {str(path) for files in logs.values() for path in files}
        for tool in logs:
            _forget(
                db,
                [p for (p,) in db.execute("SELECT path FROM files WHERE tool = ?", (tool,)) if p not in seen],
            )
        # in order (the records' rows keep it), the databases last (but read first: see _read_all)
        tables: list[_Plan | _TablePlan] = []
        plans: list[_Plan | _TablePlan] = []
        for tool, files in logs.items():
            reader = READERS[tool]
            for path in files:
                if reader.table is not None and not reader.whole(path):
                    if (table := _table_plan(tool, path, known.get(str(path)), done)) is not None:
                        tables.append(table)
                elif (plan := _plan(tool, path, known.get(str(path)), done)) is not None:
                    plans.append(plan)
        # what the logs read again whole gave before, in one statement (not one per log)
        _forget(db, [str(plan.path) for plan in plans if isinstance(plan, _Plan) and not plan.start])
        _read_all(db, plans + tables, known, done, meanwhile)
        done.whole = (
            done.stored is not None
            and done.stored == db.execute("SELECT COALESCE(SUM(count), 0) FROM reads").fetchone()[0]
        )  # (else some were replaced: not what the ledger holds)
        done.top = last_row(db)
    return done


@dataclass
class _Plan:
    """What to read of a log of JSON lines: from byte ``start`` (after line ``line``), with the
    reader's ``state`` there (``start`` 0: read whole, what the ledger holds of it forgotten);
    and what the log was when looked at. A JSON document (``Reader.whole``) is read whole."""

    tool: Tool
    path: Path
    start: int
    line: int
    state: State
    size: int
    mtime_ns: int
    head: bytes | None  # None: a log not read before, whose read takes its first bytes (``Tail.head``)
    identity: str
    whole: bool = False

    @property
    def new_bytes(self) -> int:
        return self.size - self.start

    @property
    def work(self) -> int:
        """What reading it costs, in bytes of log: its new bytes, and ``LOG_WORK`` at least (opening
        and parsing a file of a few hundred bytes costs as much as 16 KB of lines)."""
        return max(self.new_bytes, LOG_WORK)

    def tail(self) -> Tail:
        """Its lines from where to read, for its reader."""
        return Tail(self.path, self.start, self.line, READERS[self.tool].wanted, self.whole)


def _plan(tool: Tool, path: Path, row: _FileRow | None, done: Refresh) -> _Plan | None:
    """What to read of ``path``: None when it is unchanged (or cannot be read: a problem noted).
    A log that is not the one read last time plus an append is read from its start."""
    try:
        stat = path.stat()
        identity = f"{stat.st_dev}:{stat.st_ino}"
        same_file = row is not None and row[7] == identity
        if same_file and row is not None and row[1] == stat.st_size and row[2] == stat.st_mtime_ns:
            return None
        whole = READERS[tool].whole(path)  # (read whole: its first bytes say nothing)
        # (a log not seen before is read from its start, which gives its first bytes: not opened twice)
        head = b"" if whole else _head(path) if same_file else None
    except OSError as error:
        done.problems.append(f"cannot read {path}: {error.strerror or error}")
        return None
    plan = _Plan(tool, path, 0, 0, {}, stat.st_size, stat.st_mtime_ns, head, identity, whole)
    appended = same_file and row is not None and stat.st_size >= row[3] and _starts_as(head or b"", row[4])
    if appended and row is not None and not whole and row[3]:
        plan.start, plan.line, plan.state = row[3], row[6], _state(row[5])
    return plan


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(_HEAD)


def _head_print(head: bytes) -> bytes:
    """What the ledger keeps of a log's first bytes: how many, and their digest (never the bytes:
    a log's first prompt may hold a key, and the cache would be a second copy of it)."""
    return len(head).to_bytes(2, "big") + hashlib.blake2b(head, digest_size=16).digest()


def _starts_as(head: bytes, kept: bytes) -> bool:
    """Whether a log whose first bytes are now ``head`` still starts as when ``kept`` was taken."""
    return _head_print(head[: int.from_bytes(kept[:2], "big")]) == kept


#: Logs with more ``work`` than ``POOL_MIN`` together are read on every core, those of at most
#: ``POOL_FILE_MAX`` new bytes each (a bigger one is read here a piece at a time: its records are
#: never all in memory), several to a task of up to ``_TASK_BYTES`` (each task costs this process
#: a hand-off with the pool's thread: 0.5 ms, a second over a thousand logs); read ahead of what
#: is stored: ``_AHEAD`` tasks per core, and more while those in hand hold under ``_AHEAD_BYTES``
#: of log together (the workers never wait on a busy parent).
POOL_MIN = 64 * 2**20
LOG_WORK = 16 * 2**10
POOL_FILE_MAX = 8 * 2**20
_TASK_BYTES = 4 * 2**20
_AHEAD = 2
_AHEAD_BYTES = 32 * 2**20
#: What a read of a whole log gives: its records (``_encoded``), its bad lines, where it stopped
#: (byte, line), the reader's state there and the log's first bytes (``Tail.head``).
_Read = tuple["_Encoded", list[tuple[int, str]], int, int, State, bytes]
#: What a worker's task gives: each job's read, or what stopped it.
_Task = list["_Read | _TableRead | OSError | sqlite3.Error"]


def _read_all(
    db: sqlite3.Connection,
    jobs: list[_Plan | _TablePlan],
    known: dict[str, _FileRow],
    done: Refresh,
    meanwhile: Callable[[], object] | None = None,
) -> None:
    """Each job read and stored, in order; the databases and the small logs read ahead by other
    processes, the databases first (one process reads a database while the others read logs)."""
    pooled = [
        i for i, job in enumerate(jobs) if isinstance(job, _TablePlan) or job.new_bytes <= POOL_FILE_MAX
    ]
    workers = _workers(sum(jobs[i].work for i in pooled))
    writes = _Writes()
    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) if workers else nullcontext() as pool:
        ahead: dict[int, tuple[Future[_Task], int]] = {}  # a job read ahead: its task, its place there
        tasks = iter(_tasks(jobs, pooled) if pool is not None else ())
        in_hand = 0  # bytes of log read ahead
        unread = 0  # tasks read ahead whose last job is not stored yet
        for index, job in enumerate(jobs):
            while pool is not None and (unread < _AHEAD * workers or in_hand < _AHEAD_BYTES):
                task = next(tasks, None)
                if task is None:
                    break
                future = pool.submit(_read_task, [jobs[i] for i in task])
                ahead.update((i, (future, place)) for place, i in enumerate(task))
                in_hand += sum(jobs[i].new_bytes for i in task)
                unread += 1
            if meanwhile is not None and pool is not None:
                meanwhile()
                meanwhile = None
            read: _Read | _TableRead | OSError | sqlite3.Error | None = None
            if index in ahead:
                future, place = ahead.pop(index)
                found = future.result()
                read = found[place]
                in_hand -= job.new_bytes
                unread -= place == len(found) - 1
            if isinstance(job, _TablePlan):
                _table_stored(db, job, read, done, writes)  # type: ignore[arg-type]
                continue
            try:
                if isinstance(read, OSError):
                    raise read
                if read is not None:
                    encoded, bad, end, line, state, head = read  # type: ignore[misc]
                    _store(db, job, encoded, done, writes)
                else:
                    bad, tail = [], job.tail()
                    for batch in _rows(job, tail, bad):  # a piece at a time: memory stays bounded
                        _store(db, job, _encoded(batch), done, writes, batch)
                    bad, end, line, state, head = bad + tail.passed, tail.end, tail.line, job.state, tail.head
            except OSError as error:
                done.problems.append(f"cannot read {job.path}: {error.strerror or error}")
                continue
            _file_read(db, job, end, head if job.head is None else job.head, state, bad, line, done, writes)
    writes.flush(db)


def _tasks(jobs: list[_Plan | _TablePlan], pooled: list[int]) -> list[list[int]]:
    """The ``pooled`` jobs as workers' tasks, in order but the databases first, each on its own (one
    worker reads a database while the others read logs); the logs several to a task, up to
    ``_TASK_BYTES`` of them."""
    tasks = [[i] for i in pooled if isinstance(jobs[i], _TablePlan)]
    task: list[int] = []
    size = 0
    for i in pooled:
        if isinstance(jobs[i], _TablePlan):
            continue
        if task and size + jobs[i].work > _TASK_BYTES:
            tasks.append(task)
            task, size = [], 0
        task.append(i)
        size += jobs[i].work
    return [*tasks, task] if task else tasks


def _read_task(jobs: list[_Plan | _TablePlan]) -> _Task:
    """Each job read, in a worker process; a job that fails gives what stopped it (the others are
    read all the same)."""
    found: _Task = []
    for job in jobs:
        try:
            found.append(_read_table(job) if isinstance(job, _TablePlan) else _read_whole(job))
        except (OSError, sqlite3.Error) as error:
            found.append(error)
    return found


def _workers(work: int) -> int:
    """Processes to read logs of ``work`` with: none (here) for a little, or from a process
    with threads (a fork copies only the thread that makes it: another's lock would stay held)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if work < POOL_MIN or cores < 2 or threading.active_count() > 1:
        return 0
    return cores


def _read_whole(plan: _Plan) -> _Read:
    """The records of what is new in ``plan``'s log, read in a worker process. OSError propagates."""
    bad: list[tuple[int, str]] = []
    tail = plan.tail()
    rows = [row for batch in _rows(plan, tail, bad) for row in batch]
    return _encoded(rows), bad + tail.passed, tail.end, tail.line, plan.state, tail.head


def _rows(plan: _Plan, tail: Tail, bad: list[tuple[int, str]]) -> Iterator[list[Row]]:
    """The rows of the records in each piece of ``tail``, each request once per read, again only
    when a later line reports more output (a streamed message repeats on 1-3 lines, its output
    growing: its repeats are not even made records when the reader can tell). A
    reader that decodes a block of lines in one call (``Reader.decode_block``) reads each block
    so, and a line at a time only a block it leaves."""
    parser = READERS[plan.tool].of(plan.path)
    stored: dict[str, int] = {}
    seen: dict[Hashable, int] = {}
    for block in tail.pieces():
        found = None if parser.decode_block is None else parser.decode_block(plan.path, block, seen)
        if found is None:
            found = _parse(parser, plan.path, tail.wanted_lines(block), plan.state, bad, seen)
        yield [tuple(record) for record in _once(found, stored)]


#: A read's records as the ledger keeps them: pickled, how many, their earliest and latest time,
#: their keys' CRCs.
_Encoded = tuple[bytes, int, float, float, bytes]


def _encoded(rows: list[Row]) -> _Encoded:
    """``rows`` as ``reads`` keeps them (by the worker that read them: the parent only stores the
    bytes, and unpickles them only to add them up)."""
    if not rows:
        return b"", 0, 0.0, 0.0, b""
    times = [row[2] for row in rows]
    crcs = array("I", [_crc(row[1]) for row in rows]).tobytes()  # (C's unsigned int: 4 bytes)
    data = pickle.dumps(rows, pickle.HIGHEST_PROTOCOL)
    return crc32(data).to_bytes(4, "little") + data, len(rows), min(times), max(times), crcs


def _crc(key: str) -> int:
    return crc32(key.encode("utf-8", "surrogatepass"))


class _BadBlob(Exception):
    """A read's records that are not what ``_encoded`` made: the ledger is damaged."""


class _PlainValues(pickle.Unpickler):
    """Unpickles plain values only (tuples, strings, numbers, None): a blob never names a class
    or a function to call, so a cache file written by anything else runs no code here."""

    def find_class(self, module: str, name: str) -> Any:
        raise _BadBlob(f"the usage cache names {module}.{name}")


_FIELDS = len(UsageRecord._fields)


def _decoded(blob: object) -> list[Row]:
    """The records ``_encoded`` kept, read back from the ledger: ``_BadBlob`` when ``blob`` is not
    what was stored (its CRC-32, in its first 4 bytes, catches a byte changed on the disk)."""
    if not isinstance(blob, bytes) or len(blob) < 4:
        raise _BadBlob("a read's records are damaged")
    data = memoryview(blob)[4:]  # (not a copy: BytesIO below makes the one it needs)
    if crc32(data) != int.from_bytes(blob[:4], "little"):
        raise _BadBlob("a read's records are damaged")
    try:
        rows = _PlainValues(io.BytesIO(data)).load()
    except MemoryError:
        raise
    except Exception as error:  # (whatever unpickling raised: the blob is not what was stored)
        raise _BadBlob(f"a read's records cannot be unpickled ({type(error).__name__})") from error
    if type(rows) is not list or (rows and ({*map(type, rows)} != {tuple} or {*map(len, rows)} != {_FIELDS})):
        raise _BadBlob("a read's records are not records")
    return rows


@dataclass
class _Writes:
    """The rows of ``reads``, ``bad_lines`` and ``files`` that the logs read so far give, written
    many at a time (``flush``): a message file of OpenCode's older storage is a few hundred bytes,
    and a statement for each of its rows cost more than reading it. Written in the order made
    (a read's id keeps it), and once they hold ``_WRITES_BYTES`` of records (memory stays bounded)."""

    reads: list[tuple[object, ...]] = field(default_factory=list)
    bad: list[tuple[str, int, str]] = field(default_factory=list)
    files: list[tuple[object, ...]] = field(default_factory=list)
    held: int = 0

    def flush(self, db: sqlite3.Connection) -> None:
        db.executemany(
            "INSERT INTO reads (path, tool, first, last, count, records, crcs) VALUES (?, ?, ?, ?, ?, ?, ?)",
            self.reads,
        )
        db.executemany("INSERT INTO bad_lines VALUES (?, ?, ?)", self.bad)
        db.executemany(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, "
            "COALESCE((SELECT skipped FROM files WHERE path = ?), 0) + ?, ?, ?)",
            self.files,
        )
        self.reads, self.bad, self.files, self.held = [], [], [], 0


_WRITES_BYTES = 8 * 2**20


def _store(
    db: sqlite3.Connection,
    plan: _Plan | _TablePlan,
    encoded: _Encoded,
    done: Refresh,
    writes: _Writes,
    rows: list[Row] | None = None,
) -> None:
    """One read's records stored (``rows``: them, when the caller has them as values)."""
    blob, count, first, last, crcs = encoded
    if not count:
        return
    writes.reads.append((str(plan.path), plan.tool, first, last, count, blob, crcs))
    writes.held += len(blob)
    if writes.held >= _WRITES_BYTES:
        writes.flush(db)
    done.took(count, lambda: rows if rows is not None else pickle.loads(memoryview(blob)[4:]))  # (a worker's)


def _file_read(
    db: sqlite3.Connection, plan: _Plan | _TablePlan, end: int, head: bytes, state: State,
    bad: list[tuple[int, str]], lines: int, done: Refresh, writes: _Writes,
) -> None:  # fmt: skip
    """The ``files`` row of a log read (where reading stopped, its first bytes, the reader's state,
    the lines or rows before it), and its bad lines, kept."""
    done.read += 1
    done.skipped_lines += len(bad)
    path = str(plan.path)
    writes.bad += _bad_kept(db, path, bad)
    state_text = json.dumps(state) if state else "{}"
    writes.files.append(
        (
            path, plan.tool, plan.size, plan.mtime_ns, end, _head_print(head), state_text,
            path, len(bad), lines, plan.identity,
        )
    )  # fmt: skip


@dataclass
class _TablePlan:
    """What to read of a log that is a SQLite database (``sqlite_log``): the rows added or updated
    since the last read (``state``: ``after``, the newest update read, ``rowid``, the highest, and
    ``rows``, how many; empty: all), each replacing what it gave then; and what the database was
    when looked at (its size and mtime with its WAL file's, no first bytes: SQLite rewrites its
    header)."""

    tool: Tool
    path: Path
    size: int
    mtime_ns: int
    identity: str
    state: State

    @property
    def new_bytes(self) -> int:
        return self.size

    @property
    def work(self) -> int:
        return self.size


def _table_plan(tool: Tool, path: Path, row: _FileRow | None, done: Refresh) -> _TablePlan | None:
    """What to read of the database at ``path``: None when it is unchanged (or cannot be read: a
    problem noted)."""
    try:
        size, mtime, identity = sqlite_log.signature(path)
    except OSError as error:
        done.problems.append(f"cannot read {path}: {error}")
        return None
    same = row is not None and row[7] == identity
    if same and row is not None and (row[1], row[2]) == (size, mtime):
        return None
    return _TablePlan(tool, path, size, mtime, identity, _state(row[5]) if same and row is not None else {})


#: What a read of a database gives: its records a piece at a time, its bad rows (rowid, why),
#: where it stopped (``Rows``) and the reader's state.
_TableRead = tuple[list[list[UsageRecord]], list[tuple[int, str]], sqlite_log.Rows, State]


def _read_table(plan: _TablePlan) -> _TableRead:
    """The records of what is new in ``plan``'s database, read here or in a worker process (it
    touches no ledger); all of it when it lost rows or went back in time. OSError and
    ``sqlite3.Error`` propagate."""
    state = dict(plan.state)
    read = _table_rows(plan, state)
    if read[2].stale:  # rows deleted, or a clock gone back: read again whole
        state = {}
        read = _table_rows(plan, state)
    return (*read, state)


def _table_rows(
    plan: _TablePlan, state: State
) -> tuple[list[list[UsageRecord]], list[tuple[int, str]], sqlite_log.Rows]:
    parser = READERS[plan.tool]
    assert parser.table is not None
    rows = sqlite_log.Rows(
        plan.path,
        parser.table,
        int(state.get("after", -1)),
        int(state.get("rows", 0)),
        int(state.get("rowid", 0)),
    )
    bad: list[tuple[int, str]] = []
    pieces = [_records(parser, plan.path, piece, state, bad) for piece in rows.pieces()]
    return pieces, bad + rows.passed, rows


def _table_stored(
    db: sqlite3.Connection,
    plan: _TablePlan,
    read: _TableRead | OSError | sqlite3.Error | None,
    done: Refresh,
    writes: _Writes,
) -> None:
    """The records of ``plan``'s database (``read`` ahead, else read here) stored in place of what
    the same rows gave before (a row read again replaces its records: no request twice)."""
    try:
        if isinstance(read, OSError | sqlite3.Error):
            raise read
        pieces, bad, rows, state = read if read is not None else _read_table(plan)
    except (OSError, sqlite3.Error) as error:
        kept = int(plan.state.get("rows", "0") or 0)  # (a locked or damaged database stays as last read)
        still = f"; the {kept:,} rows read from it before still count" if kept else ""
        done.problems.append(f"cannot read {plan.path}: {error}{still}")
        return
    path = str(plan.path)
    writes.flush(db)  # (what it held is looked at, or forgotten, as written)
    if rows.after < 0:
        _forget(db, [path])
    for found in pieces:
        batch: list[Row] = [tuple(r) for r in _once(found, {})]
        if rows.after >= 0 and batch:
            writes.flush(db)
            batch = _replaced(db, path, batch)
        _store(db, plan, _encoded(batch), done, writes, batch)
    state.update(after=str(rows.newest), rows=str(rows.total), rowid=str(rows.highest))
    _file_read(db, plan, 0, b"", state, bad, rows.total, done, writes)


def _replaced(db: sqlite3.Connection, path: str, batch: list[Row]) -> list[Row]:
    """``batch`` (a database's rows read again, and new ones) less the records ``path`` already
    holds as they are; the ones it holds otherwise taken out (replaced). Only the reads whose key
    CRCs match are unpickled."""
    again = {row[1]: row for row in batch}
    asked = {_crc(key) for key in again}
    same: set[str] = set()
    for read, held in db.execute("SELECT id, crcs FROM reads WHERE path = ?", (path,)).fetchall():
        if asked.isdisjoint(_crcs(held)):
            continue
        (blob,) = db.execute("SELECT records FROM reads WHERE id = ?", (read,)).fetchone()
        rows = _decoded(blob)
        same.update(row[1] for row in rows if again.get(row[1]) == row)
        kept = [row for row in rows if row[1] not in again or row[1] in same]
        if len(kept) == len(rows):
            continue
        if kept:
            new, count, first, last, crcs = _encoded(kept)
            db.execute(
                "UPDATE reads SET records = ?, count = ?, first = ?, last = ?, crcs = ? WHERE id = ?",
                (new, count, first, last, crcs, read),
            )
        else:
            db.execute("DELETE FROM reads WHERE id = ?", (read,))
        _records_changed(db)
    return [row for row in batch if row[1] not in same]


def _records_changed(db: sqlite3.Connection) -> None:
    """Records were taken out or changed: the sums kept counted them, the CRC index names them."""
    db.execute("DELETE FROM sums")
    db.execute("DELETE FROM crc_buckets")
    db.execute("DELETE FROM crc_covered")


def _bad_kept(db: sqlite3.Connection, path: str, bad: list[tuple[int, str]]) -> list[tuple[str, int, str]]:
    """The rows of ``bad`` to keep for ``--verbose``: those of the first ``BAD_KEPT`` of ``path``."""
    if not bad:
        return []
    kept = int(db.execute("SELECT COUNT(*) FROM bad_lines WHERE path = ?", (path,)).fetchone()[0])
    return [(path, number, why) for number, why in sorted(bad)[: max(0, BAD_KEPT - kept)]]


def _once(records: list[UsageRecord], stored: dict[str, int]) -> Iterator[UsageRecord]:
    """The records whose key is not in ``stored`` yet, or that report more output than the one
    stored (a streamed reply's later line: ``records`` counts its most); ``stored`` then holds it."""
    for record in records:
        if record.output > stored.get(record.key, -1):
            stored[record.key] = record.output
            yield record


def _parse(
    parser: Reader,
    path: Path,
    lines: list[Numbered],
    state: State,
    bad: list[tuple[int, str]],
    seen: dict[Hashable, int],
) -> list[UsageRecord]:
    """The records of ``lines``; a line that is not JSON or not usage goes to ``bad`` with why. A
    reader that decodes blocks of lines (``Reader.decode_block``) decodes each line as a block of
    one, with the requests ``seen`` (as it decodes a block of many: the same line makes the same
    record either way), and parses whole only the lines it leaves; else the piece is parsed in one
    call (most of a report's time), and when a line in it is bad, again a line at a time from the
    state it started with, to keep the rest."""
    numbered: list[tuple[int, JSONObject]] = []
    decode = parser.decode_block
    found: list[UsageRecord] = []
    for number, line in lines:
        decoded = None if decode is None else decode(path, Block(line, number, 1), seen)
        if decoded is not None:
            found += decoded
            continue
        value, why = parse_object(line)
        if value is None:
            bad.append((number, why))
        elif decode is None:
            numbered.append((number, value))
        else:  # in its place among the decoded lines' records
            found += _records(parser, path, [(number, value)], state, bad)
    return found + _records(parser, path, numbered, state, bad)


def _records(
    parser: Reader,
    path: Path,
    numbered: list[tuple[int, JSONObject]],
    state: State,
    bad: list[tuple[int, str]],
) -> list[UsageRecord]:
    """The records of ``numbered`` entries, parsed in one call; when one is bad, again one at a
    time from the state they started with, to keep the rest."""
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


def _forget(db: sqlite3.Connection, paths: list[str]) -> None:
    """What the ledger holds of the logs at ``paths``, taken out (one statement a table)."""
    rows = [(path,) for path in paths]
    if db.executemany("DELETE FROM reads WHERE path = ?", rows).rowcount > 0:
        _records_changed(db)
    db.executemany("DELETE FROM bad_lines WHERE path = ?", rows)
    db.executemany("DELETE FROM files WHERE path = ?", rows)


def records(
    db: sqlite3.Connection,
    tools: Iterable[Tool],
    since: float | None,
    until: float | None,
    after: int = 0,
) -> list[UsageRecord]:
    """The ledger's records of ``tools`` in ``[since, until)`` (of the reads above ``after``),
    oldest first, each request once (the first of the rows that share its key): a request with a
    row before ``since`` is not the window's (it counts at its first time)."""
    query, params = _selected("SELECT records FROM reads", tools, since, until)
    low, high = window(since, until)
    rows: list[Row] = []
    earlier: set[str] = set()  # the keys of the rows before ``since`` in the reads decoded
    for (blob,) in db.execute(query + " AND id > ? ORDER BY id", [*params, after]):
        found = _decoded(blob)
        rows += found if since is None and until is None else [r for r in found if low <= r[2] < high]
        if since is not None:
            earlier.update(r[1] for r in found if r[2] < since)
    # read order, then a stable sort by time in Python: three times faster than SQLite's
    first = _first_of_each(rows)
    if since is None or not first:
        return first
    earlier |= _keys_before(db, tools, since, after, {record.key for record in first})
    return [record for record in first if record.key not in earlier]


def _keys_before(
    db: sqlite3.Connection, tools: Iterable[Tool], since: float, after: int, keys: set[str]
) -> set[str]:
    """Of ``keys``, those with a row before ``since`` in the reads ``records`` did not decode (those
    up to ``after``, or all before ``since``): only the reads whose key CRCs hold one of theirs are
    unpickled (a resumed session's first log, a streamed reply's line before midnight)."""
    crcs = {_crc(key) for key in keys}
    query, params = _selected("SELECT id, crcs FROM reads", tools, None, since)
    found: set[str] = set()
    for read, held in db.execute(query + " AND (id <= ? OR last < ?)", [*params, after, since]).fetchall():
        if crcs.isdisjoint(_crcs(held)):
            continue
        for (blob,) in db.execute("SELECT records FROM reads WHERE id = ?", (read,)):
            found.update(row[1] for row in _decoded(blob) if row[2] < since and row[1] in keys)
    return found


def window(since: float | None, until: float | None) -> tuple[float, float]:
    """``[since, until)`` with its open ends made infinite: a time ``t`` is in it when ``low <= t <
    high``."""
    return float("-inf") if since is None else since, float("inf") if until is None else until


def _selected(
    select: str, tools: Iterable[Tool], since: float | None, until: float | None
) -> tuple[str, list[object]]:
    """``select`` from ``reads`` narrowed to the reads of ``tools`` with records in ``[since,
    until)``, and its parameters."""
    wanted = list(tools)
    query = select + f" WHERE tool IN ({','.join('?' * len(wanted))})"
    params: list[object] = list(wanted)
    if since is not None:
        query += " AND last >= ?"
        params.append(since)
    if until is not None:
        query += " AND first < ?"
        params.append(until)
    return query, params


def _first_of_each(rows: list[Any]) -> list[UsageRecord]:
    """``rows`` (in the ledger's order) oldest first, each request once: at its first time, with
    the tokens of the row that reports the most output (a streamed reply read as it was being
    written: ``records.snapshot``)."""
    rows.sort(key=itemgetter(2))
    at: dict[str, int] = {}
    make = UsageRecord._make
    found: list[UsageRecord] = []
    append = found.append
    for row in rows:
        where = at.get(row[1])
        if where is None:
            at[row[1]] = len(found)
            append(make(row))
        elif row[5] > found[where].output:  # a later line of a streamed reply: its figures
            found[where] = snapshot(found[where], make(row))
    return found


def first_times(
    db: sqlite3.Connection,
    tools: Iterable[Tool],
    since: float | None,
    until: float | None,
    upto: int,
    keys: list[str],
) -> dict[str, tuple[float, int]]:
    """Of ``keys``, those with a record in the reads up to ``upto`` among ``records(db, tools,
    since, until)``'s: the earliest time of each, and the most output. Only the reads whose keys'
    CRCs hold one of theirs are unpickled (a CRC shared by chance costs one read unpickled, never a
    wrong answer)."""
    wanted = set(keys)
    crcs = {_crc(key) for key in wanted}
    rest = _cover(db, upto)
    # (an index brought up to date for another report's sums holds reads above ``upto``: not counted)
    matching = {read for read in _reads_holding(db, crcs) if read <= upto}
    matching |= {read for read, held in rest if not crcs.isdisjoint(_crcs(held))}
    query, params = _selected("SELECT records FROM reads", tools, since, until)
    low, high = window(since, until)
    first: dict[str, tuple[float, int]] = {}
    for read in sorted(matching):
        for (blob,) in db.execute(query + " AND id = ?", [*params, read]):
            for row in _decoded(blob):
                key, time, output = row[1], row[2], row[5]
                if key in wanted and low <= time < high:
                    known = first.get(key, (float("inf"), -1))
                    first[key] = (min(known[0], time), max(known[1], output))
    return first


_ID = 0xFFFFFFFF  # a packed CRC's low half: its read's id
_ASKED = 500  # buckets asked for in one query (well under SQLite's limit of parameters)


def _reads_holding(db: sqlite3.Connection, crcs: set[int]) -> set[int]:
    """The reads the index says hold a key of one of ``crcs``: only their buckets are read (a CRC's
    top 16 bits: 65,536 buckets, a dozen CRCs each for a million keys)."""
    buckets = sorted({crc >> 16 for crc in crcs})
    found: set[int] = set()
    for at in range(0, len(buckets), _ASKED):
        part = buckets[at : at + _ASKED]
        for (held,) in db.execute(
            f"SELECT packed FROM crc_buckets WHERE bucket IN ({','.join('?' * len(part))})", part
        ):
            found.update(packed & _ID for packed in _packed(held) if packed >> 32 in crcs)
    return found


def _cover(db: sqlite3.Connection, upto: int) -> list[tuple[int, bytes]]:
    """The reads up to ``upto`` that the CRC index does not cover, with their key CRCs (looked at
    one by one). The index is made of every read up to ``upto`` when there is none (an append
    first asks) and again once the reads outside it hold more than an eighth as many keys as it."""
    rows = db.execute("SELECT upto, keys FROM crc_covered").fetchall()
    covered, indexed = (0, 0) if not rows else rows[0]
    if len(rows) > 1 or not isinstance(covered, int) or not isinstance(indexed, int):
        raise _BadBlob("the usage cache's CRC index is damaged")
    rest = db.execute("SELECT id, crcs FROM reads WHERE id > ? AND id <= ?", (covered, upto)).fetchall()
    if covered and sum(len(_crcs(held)) for _, held in rest) * 8 <= indexed:
        return rest
    if covered:  # (with none made, ``rest`` is every read up to ``upto`` already)
        rest = db.execute("SELECT id, crcs FROM reads WHERE id <= ?", (upto,)).fetchall()
    _index(db, rest, upto)
    return []


def _index(db: sqlite3.Connection, reads: list[tuple[int, bytes]], upto: int) -> None:
    """The CRC index made of ``reads`` (those up to ``upto``): each key's CRC packed with its read's
    id, sorted (NumPy: a million in a tenth of a second), cut into buckets by the top 16 bits."""
    import numpy as np  # (here only: a report that asks no index never loads it)

    counts = [len(_crcs(held)) for _, held in reads]  # (whole CRCs, else damage)
    crcs = np.frombuffer(b"".join(held for _, held in reads), np.uint32).astype(np.uint64)
    ids = np.repeat(np.array([read for read, _ in reads], np.uint64), counts)
    packed = np.sort(crcs << np.uint64(32) | ids)
    buckets = packed >> np.uint64(48)
    cuts = [0, *(np.flatnonzero(np.diff(buckets)) + 1).tolist(), len(packed)]
    data = packed.tobytes()
    db.execute("DELETE FROM crc_buckets")
    db.executemany(
        "INSERT INTO crc_buckets VALUES (?, ?)",
        (
            (int(buckets[start]), data[start * 8 : end * 8])
            for start, end in itertools.pairwise(cuts)
            if end > start
        ),
    )
    db.execute("DELETE FROM crc_covered")
    db.execute("INSERT INTO crc_covered VALUES (?, ?)", (upto, len(packed)))


def _packed(held: object) -> memoryview:
    """A bucket's packed CRCs as numbers (``_BadBlob`` when they are not whole ones)."""
    if not isinstance(held, bytes) or len(held) % 8:
        raise _BadBlob("the usage cache's CRC index is cut short")
    return memoryview(held).cast("Q")


def _crcs(held: object) -> memoryview:
    """A read's key CRCs as numbers (``_BadBlob`` when they are not whole ones)."""
    if not isinstance(held, bytes) or len(held) % 4:
        raise _BadBlob("a read's key CRCs are cut short")
    return memoryview(held).cast("I")


def last_row(db: sqlite3.Connection) -> int:
    """The highest read: a report's sums count the reads up to it."""
    return int(db.execute("SELECT COALESCE(MAX(id), 0) FROM reads").fetchone()[0])


def stored(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """Every record the ledger holds, in the order stored, after the path of its log (for tests)."""
    return [
        (path, *row)
        for path, blob in db.execute("SELECT path, records FROM reads ORDER BY id")
        for row in _decoded(blob)
    ]


@dataclass(frozen=True)
class Kept:
    """A report's sums as kept: the ``signature`` they were made with, the highest record row they
    count (``upto``) and what ``report.Sums`` dumped."""

    signature: str
    upto: int
    data: bytes


#: Sums kept at most (the reports asked for last): each is a few hundred KB at most.
SUMS_KEPT = 32


def kept_sums(db: sqlite3.Connection, query: str) -> Kept | None:
    row = db.execute("SELECT signature, upto, data FROM sums WHERE query = ?", (query,)).fetchone()
    return None if row is None else Kept(row[0], int(row[1]), bytes(row[2]))


def keep_sums(db: sqlite3.Connection, query: str, kept: Kept) -> None:
    db.execute(
        "INSERT OR REPLACE INTO sums VALUES (?, ?, ?, ?, julianday('now'))",
        (query, kept.signature, kept.upto, kept.data),
    )
    db.execute(
        f"DELETE FROM sums WHERE query NOT IN (SELECT query FROM sums ORDER BY used DESC LIMIT {SUMS_KEPT})"
    )


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
