"""The embedded backend: one SQLite file in WAL mode is the system of record.

- Durability: WAL with ``synchronous=FULL``: a commit returns only after the WAL is fsynced, so an
  acknowledged memory survives kill -9 and power loss (``tests/memory/test_sqlite_durability.py``).
- Full text: an FTS5 external-content table over ``memories.content``, kept in sync by triggers.
- Vectors: float32 BLOBs in ``memories`` (the truth) mirrored into a ``VectorIndex`` in RAM
  (exact scan when small, ANN with an on-disk sidecar when large), loaded on the first vector
  search and caught up from the ``vector_changes`` log, whichever process wrote.
- Filters become SQL: the text search joins them into the FTS query, the vector search gets the
  filtered ids as ``allowed`` so the index scans only those.
- FTS5 scores every document that matches any query term, so a long query full of common words
  costs ~40 ms at 100k memories. ``posting_budget`` (``memory.text_posting_budget``) keeps only the
  rarest terms whose postings fit the budget, which bounds that cost (see ``benchmarks/``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from mahavishnu import paths
from mahavishnu.config import MemorySettings
from mahavishnu.errors import StoreDamagedError, StoreError, from_unexpected
from mahavishnu.memory.core.backends import read_only
from mahavishnu.memory.core.backends.sql import Conn, Dialect, SqlBackend, reembed_running
from mahavishnu.memory.core.backends.sqlite_index import IndexCache
from mahavishnu.memory.core.backends.sqlite_restore_gate import RestoreGate
from mahavishnu.memory.core.migrations.sqlite import FTS_TOKENIZER, MIGRATIONS
from mahavishnu.memory.core.models import Filters, Vector, format_time, parse_time
from mahavishnu.memory.core.search import Ranked, query_terms

_T = TypeVar("_T")
#: ``memory.text_posting_budget``'s default, so a backend opened directly searches like the store.
POSTING_BUDGET: int = MemorySettings.model_fields["text_posting_budget"].default


def _blob(vector: Vector) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def _vector(blob: bytes) -> Vector:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


#: JSON as text, times as fixed-width UTC text, vectors as float32 BLOBs, tags in ``memory_tags``.
DIALECT = Dialect(
    mark="?",
    ifnull="ifnull",
    tags_in=lambda tags: json.dumps(list(tags)),
    tags_out=lambda text: tuple(json.loads(text)),
    json_in=json.dumps,
    json_out=json.loads,
    time_in=lambda moment: format_time(parse_time(moment)),
    vector_in=_blob,
    vector_out=_vector,
    has_tag="m.id IN (SELECT memory_id FROM memory_tags WHERE tag = ?)",
    json_get="json_extract(m.metadata, ?)",
    json_key=lambda key: "$." + json.dumps(key),
    true="1",
)


class SqliteBackend(SqlBackend):
    name = "sqlite"
    dialect = DIALECT
    migrations = MIGRATIONS

    def __init__(
        self,
        path: Path,
        *,
        ann_threshold: int = 50_000,
        posting_budget: int = POSTING_BUDGET,
        migrate: bool = True,
    ) -> None:
        self.path = Path(path)
        self.posting_budget = posting_budget  # 0: match every query term
        self._lock = threading.RLock()
        self._gate = RestoreGate.open(self.path)  # waits out a `db restore` (sqlite_restore_gate.py)
        self._generation = self._gate.generation() if self._gate else 0
        self._conn = _connect(self.path)
        self._file = _identity(self.path)  # the file opened (``replaced``)
        self._side = _Beside(self.path)  # a hybrid search's reads beside its text leg
        self._for_index = _Beside(self.path, _INDEX_PAGES_KIB)  # the vector index's, beside both
        self._ann_threshold = ann_threshold
        self.index = IndexCache(self, self.path.with_name(self.path.name + ".ann"), ann_threshold)
        try:
            if migrate:
                self.migrate()
            else:
                self.migration_state()  # still refuse a store newer than this code
        except BaseException:
            self._conn.close()
            if self._gate is not None:
                self._gate.close()
            raise

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def conn(self) -> sqlite3.Connection:
        return self._conn

    @property
    def read_only(self) -> bool:
        """Opened read-only: its file or folder cannot be written (reads work, writes fail)."""
        return isinstance(self._conn, _ReadOnly)

    # -- transactions ---------------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: takes the write lock up front, so it never fails half-way
        on a busy database; rolled back on any exception."""
        if isinstance(self._conn, _ReadOnly):
            raise read_only.read_only_error(self.path)
        with self._lock, self._gate.shared() if self._gate else contextlib.nullcontext():
            self._reopen_if_restored()
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreError(
                    f"cannot write to the memory store {self.path}: {exc}",
                    hint="Another process may hold it locked, or the file or disk is read-only or full.",
                ) from exc
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One snapshot: every statement inside sees the same committed state."""
        with self._lock:
            self._reopen_if_restored()
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    @contextmanager
    def side_read(self) -> Iterator[sqlite3.Connection]:
        """A snapshot on a second connection, for a read that runs while another holds ``read``
        (WAL readers do not wait for each other); an in-memory database has only the one."""
        with self._beside(self._side) as conn:
            yield conn

    @contextmanager
    def index_read(self) -> Iterator[sqlite3.Connection]:
        """A snapshot on a third connection, the vector index's own: a hybrid search's vector leg
        and its cosines catch the index up while its text leg holds the main connection and its
        word pairs the side one."""
        with self._beside(self._for_index) as conn:
            yield conn

    @contextmanager
    def _beside(self, beside: _Beside) -> Iterator[sqlite3.Connection]:
        if str(self.path) == ":memory:":
            with self.read() as conn:
                yield conn
            return
        if self._gate and self._gate.generation() != self._generation:  # restored since: as ``read``
            with self._lock:  # (before the other connections' locks: the order ``read`` takes them in)
                self._reopen_if_restored()
        with beside.snapshot() as conn:
            yield conn

    @contextmanager
    def reembed_lock(self) -> Iterator[None]:
        """A lock file beside the store (flock: released by the OS when its process dies)."""
        if str(self.path) == ":memory:" or self.read_only:  # (a read-only one's first write says why)
            yield
            return
        from mahavishnu.files.safe_write import held_now

        with held_now(self.path.with_name(self.path.name + ".reembed-lock"), reembed_running(self.location)):
            yield

    def replaced(self) -> bool:
        """Whether the file at ``path`` is no longer the one opened: removed, or another renamed
        into its place. What this backend reads and writes then is a file no one else sees (a
        long-lived process, the memory daemon, opens the store anew)."""
        return self._file is not None and _identity(self.path) != self._file

    def _reopen_if_restored(self) -> None:
        """A connection open across a ``db restore`` may no longer find its tables: open anew."""
        generation = self._gate.generation() if self._gate else 0
        if generation == self._generation:
            return
        self._generation = generation
        stale, self._conn = self._conn, _connect(self.path)
        self._file = _identity(self.path)
        stale.close()
        self._side.close()
        self._for_index.close()
        self.index = IndexCache(self, self.path.with_name(self.path.name + ".ann"), self._ann_threshold)

    def _read(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        with self.read() as conn:
            return work(conn)

    def _write(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        with self.write() as conn:
            return work(conn)

    def _snapshot(self) -> Any:
        return self.read()

    def _migrating(self) -> Any:
        return self.write()

    def _errors(self) -> tuple[type[Exception], ...]:
        return (sqlite3.Error,)

    def _conflict(self, exc: Exception) -> BaseException | None:
        return exc if isinstance(exc, sqlite3.IntegrityError) else None

    # -- schema ---------------------------------------------------------------------------
    def _applied(self, conn: Conn) -> dict[str, str]:
        table = conn.execute("SELECT 1 FROM sqlite_master WHERE name = '_migrations'").fetchone()
        if table is None:
            return {}
        return dict(conn.execute("SELECT name, applied_at FROM _migrations ORDER BY rowid").fetchall())

    def _applied_now(self) -> dict[str, str]:
        with self._lock:
            return self._applied(self._conn)

    def close(self) -> None:
        # (the index's lock too: a catch-up under way on the query worker finishes first)
        with self._lock, self._for_index.lock:
            self.index.close()
            self._conn.close()
            self._side.close(final=True)
            self._for_index.close(final=True)
            if self._gate is not None:
                self._gate.close()

    def _storage(self, conn: Conn) -> dict[str, Any]:
        files = [self.path, self.path.with_name(self.path.name + "-wal")]
        size = sum(f.stat().st_size for f in files if f.exists())
        return {"size_bytes": size, "vector_index": self.index.describe()}

    # -- search ---------------------------------------------------------------------------
    def allowed_ids(self, filters: Filters) -> np.ndarray[Any, np.dtype[np.int64]] | None:
        """The ids a filtered vector search may return (None: no filter, all of them); read on the
        side connection (a hybrid search reads them on its query worker while the text leg holds
        the main one)."""
        if not filters:
            return None
        where, params = self.dialect.filter_sql(filters)
        with self.side_read() as conn:
            rows = conn.execute(f"SELECT id FROM memories AS m WHERE {where}", params).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def vector_search(self, vector: Vector, filters: Filters, k: int) -> list[Ranked]:
        allowed = self.allowed_ids(filters)
        if allowed is not None and not len(allowed):
            return []
        index = self.index.current()
        if index is None:
            return []
        hits = index.search(np.asarray(vector, dtype=np.float32), k, allowed)
        return [Ranked(int(i), float(s), vector_score=float(s)) for i, s in hits]

    def cosines(self, vector: Vector, ids: Sequence[int]) -> dict[int, float]:
        """From the vector index, which holds every stored vector in memory: reading ~100 of them
        from SQLite took 1-10 ms of a hybrid search at 100k rows."""
        index = self.index.current()
        if index is None:
            return {}
        return index.cosines(np.asarray(vector, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def text_search(self, text: str, filters: Filters, k: int) -> list[Ranked]:
        terms = query_terms(text)
        if not terms:
            return []
        where, params = self.dialect.filter_sql(filters)
        # FTS5 scores every match. Ordered by its bm25() rather than by its ``rank`` column, SQLite
        # keeps only the best k as it goes, where FTS5 sorts every match: the same hits in the same
        # order, a third less time (a query matching 7,600 of 100k rows: 6.2 against 8.5 ms). A
        # filter is the set of ids it selects, built once and probed per match; the unary + keeps
        # FTS5 from taking it as a rowid lookup per id (~100x slower). At 100k rows with a 2 %
        # filter, 11/15 ms against 31/388 ms when each match was joined to its row. Unfiltered,
        # the index alone answers (its triggers keep it in step with the table).
        scope = f"AND +rowid IN (SELECT m.id FROM memories AS m WHERE {where}) " if filters else ""
        sql = (
            "SELECT rowid, -bm25(memories_fts) AS score FROM memories_fts WHERE memories_fts MATCH ? "
            f"{scope}ORDER BY score DESC LIMIT ?"
        )
        with self.read() as conn:
            rows = conn.execute(sql, (self._match(conn, terms), *params, k)).fetchall()
        return [Ranked(i, s, text_score=s) for i, s in rows]

    scores_text = True

    def text_scores(self, text: str, ids: Sequence[int]) -> dict[int, float]:
        """Exactly these memories' BM25 (as ``text_search`` scores them), on the side connection: FTS5
        still walks every match, but scores only these (``+rowid``: filtered after the match, not
        looked up one by one, ~20x slower). At 100k rows, 1.4 ms for a query matching 7,600 rows,
        where reading the text leg 1,000 deep instead of 100 cost 2.3 ms more on the text leg."""
        terms = query_terms(text)
        if not terms or not ids:
            return {}
        sql = (
            "SELECT rowid, -bm25(memories_fts) FROM memories_fts WHERE memories_fts MATCH ? "
            f"AND +rowid IN ({self.dialect.marks(len(ids))})"
        )
        with self.side_read() as conn:
            return {int(i): float(s) for i, s in conn.execute(sql, (self._match(conn, terms), *ids))}

    def pair_holders(self, pairs: Sequence[tuple[str, str]]) -> list[set[int]]:
        """One FTS5 phrase query per pair over the whole index (restricting FTS5 to a list of
        rowids costs ~100x more), on the side connection: hybrid search runs it beside the text
        leg. As in ``text_search``, a pair with a word too common for ``posting_budget`` is not
        looked for: it costs most and tells least."""
        sql = "SELECT rowid FROM memories_fts WHERE memories_fts MATCH ?"
        with self.side_read() as conn:
            kept = set(self._informative(conn, list(dict.fromkeys(w for pair in pairs for w in pair)), 2))
            return [
                {i for (i,) in conn.execute(sql, (_phrase(pair),))} if kept.issuperset(pair) else set()
                for pair in pairs
            ]

    def _match(self, conn: sqlite3.Connection, terms: list[str]) -> str:
        """The FTS5 query of the text leg (``text_scores`` must ask the same): its informative terms
        OR-ed."""
        return " OR ".join(_phrase([t]) for t in self._informative(conn, terms))

    def _informative(self, conn: sqlite3.Connection, terms: list[str], least: int = 1) -> list[str]:
        """The query terms to match: rarest first while their postings fit ``posting_budget``
        (the ``least`` rarest always; a query of two terms or fewer whole). FTS5 scores every
        document matching any term (about 1 us per document and term), so very common terms cost
        most and, with the lowest IDF, rank least: dropping them bounds the cost of a text search
        whatever the store's size. (A longer query kept its two rarest always: at 100k memories
        "gene expression in tumour cells" then matched "gene" too, in 13 % of them, and its text
        leg took 16 ms instead of 1.6. A phrase lookup, which scores nothing, keeps two.)"""
        if not self.posting_budget or len(terms) <= max(2, least):
            return terms
        df = _doc_counts(conn).of(conn, terms)
        keep: list[int] = []
        postings = 0
        for i in sorted(range(len(terms)), key=lambda i: df[i]):
            count = df[i]
            if len(keep) >= least and postings + count > self.posting_budget:
                break
            keep.append(i)
            postings += count
        return [terms[i] for i in sorted(keep)]

    # -- maintenance ----------------------------------------------------------------------
    def integrity_check(self) -> str:
        with self._lock:
            return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])


#: The page cache of a connection, KiB: the main and side ones read the full-text index (FTS queries
#: reread less); the vector index's reads each vector once, to build the index, and then a few rows.
PAGES_KIB = 65_536
_INDEX_PAGES_KIB = 2_048


class _Beside:
    """A connection beside the main one, opened on its first read, with a lock of its own (taken
    after the backend's, never before) and ``pages_kib`` of page cache."""

    def __init__(self, path: Path, pages_kib: int = PAGES_KIB) -> None:
        self.path = path
        self.pages_kib = pages_kib
        self.lock = threading.RLock()
        self.conn: sqlite3.Connection | None = None
        self.closed = False  # the backend's: no read opens it again

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            if self.closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            if self.conn is None:
                self.conn = _connect(self.path, self.pages_kib)
            self.conn.execute("BEGIN")
            try:
                yield self.conn
            finally:
                self.conn.execute("COMMIT")

    def close(self, *, final: bool = False) -> None:
        """Close the connection (the next read opens another, unless ``final``)."""
        with self.lock:
            self.closed = self.closed or final
            if self.conn is not None:
                self.conn.close()
                self.conn = None


def _phrase(words: Sequence[str]) -> str:
    """An FTS5 phrase: the words adjacent, in order."""
    return '"' + " ".join(words).replace('"', '""') + '"'


class _Connection(sqlite3.Connection):
    """A connection to the store, with the document counts it has read (``_DocCounts``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.doc_counts = _DocCounts()


class _ReadOnly(_Connection):
    """A connection opened read-only: the store's file or folder cannot be written (a read-only
    mount, a file or directory without write permission)."""


def _doc_counts(conn: sqlite3.Connection) -> _DocCounts:
    counts = getattr(conn, "doc_counts", None)
    return counts if isinstance(counts, _DocCounts) else _DocCounts()


class _DocCounts:
    """How many memories hold each query term, as the index stems it, read through one connection
    and kept until the store changes. fts5vocab counts a term by reading its whole posting list (at
    100k memories 0.9 ms for "cells"); a hybrid search asked for its terms three times (its text
    leg on the main connection, its vector candidates' scores and its word pairs on the side one:
    now once on each), and most searches ask for a few common words again. The store changed when
    another connection committed (``PRAGMA data_version``) or this one wrote (``total_changes``,
    taken after its own writes of the query's terms to tokenise them)."""

    def __init__(self) -> None:
        self.stamp: tuple[int, int] | None = None
        self.stems: dict[str, str | None] = {}  # a query term: its stem (None: no token)
        self.docs: dict[str, int] = {}  # a stem: the memories holding it

    def of(self, conn: sqlite3.Connection, terms: Sequence[str]) -> list[int]:
        """The memories holding each of ``terms`` (0: none, or no stem)."""
        version = int(conn.execute("PRAGMA data_version").fetchone()[0])
        if (version, conn.total_changes) != self.stamp:
            self.docs.clear()
        if len(self.stems) > _TERMS_KEPT:
            self.stems.clear()
            self.docs.clear()
        new = list(dict.fromkeys(t for t in terms if t not in self.stems))
        if new:
            conn.executemany("INSERT INTO temp.query_terms (rowid, term) VALUES (?, ?)", enumerate(new))
            stem = dict(conn.execute("SELECT doc, term FROM temp.query_terms_vocab"))
            conn.execute("DELETE FROM temp.query_terms")
            self.stems.update((t, stem.get(i)) for i, t in enumerate(new))
        wanted = list({s for t in terms if (s := self.stems[t]) is not None and s not in self.docs})
        if wanted:
            sql = f"SELECT term, doc FROM temp.memories_vocab WHERE term IN ({', '.join('?' * len(wanted))})"
            found = dict(conn.execute(sql, wanted))
            self.docs.update((s, int(found.get(s, 0))) for s in wanted)
        self.stamp = (version, conn.total_changes)
        return [self.docs.get(s, 0) if (s := self.stems[t]) is not None else 0 for t in terms]


#: Query terms whose stems and counts a connection keeps (then it forgets them all and starts again).
_TERMS_KEPT = 10_000


def _identity(path: Path) -> tuple[int, int] | None:
    """The file at ``path`` (device, inode); None for an in-memory store, or none there."""
    if str(path) == ":memory:":
        return None
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _connect(path: Path, pages_kib: int = PAGES_KIB) -> sqlite3.Connection:
    conn: sqlite3.Connection | None = None
    try:
        paths.make_dir(path.parent)
        if str(path) != ":memory:" and not path.exists():
            paths.create_private(path)  # a new store is private (0600); SQLite's -wal/-shm files follow it
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=30, factory=_Connection
        )
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.execute("PRAGMA synchronous = FULL")
        _configure(conn, pages_kib)
    except (sqlite3.Error, OSError) as exc:
        if conn is not None:
            conn.close()
        if _read_only_store(path, exc):
            return _connect_read_only(path, pages_kib)
        raise _cannot_open(path, str(exc)) from exc
    return conn


def _configure(conn: sqlite3.Connection, pages_kib: int = PAGES_KIB) -> None:
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA cache_size = -{int(pages_kib)}")
    _create_query_helpers(conn)


def _read_only_store(path: Path, exc: BaseException) -> bool:
    """Whether the existing store cannot be written (so it may still be read): as ``exc`` says, or
    as the file system says (on a read-only mount SQLite says only "unable to open database file")."""
    text = str(exc)
    denied = isinstance(exc, PermissionError) or "readonly" in text or "read-only" in text
    if str(path) == ":memory:" or not path.is_file() or not os.access(path, os.R_OK):
        return False
    return denied or read_only.cannot_write(path)


def _connect_read_only(path: Path, pages_kib: int = PAGES_KIB) -> sqlite3.Connection:
    """The store read-only (``mode=ro``); where its folder cannot be written either, SQLite cannot
    create the WAL's -shm file, so ``immutable`` (nobody can be writing it; exact only without a
    non-empty -wal). Writes then fail with "the memory store is read-only"."""
    uri = path.absolute().as_uri()
    wal = path.with_name(path.name + "-wal")
    modes = ["mode=ro"]
    if not os.access(path.parent, os.W_OK) and (not wal.exists() or wal.stat().st_size == 0):
        modes.append("mode=ro&immutable=1")
    last = ""
    for mode in modes:
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(
                f"{uri}?{mode}",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
                timeout=30,
                factory=_ReadOnly,
            )
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            _configure(conn, pages_kib)
            return conn
        except sqlite3.Error as exc:
            last = str(exc)
            if conn is not None:
                conn.close()
    if "readonly" in last or "read-only" in last or "unable to open" in last:
        raise read_only.unreadable_wal_error(path, last)
    raise _cannot_open(path, last)


def _cannot_open(path: Path, text: str) -> StoreError:
    """The store could not be opened: damaged only when SQLite says so."""
    if isinstance(from_unexpected(sqlite3.DatabaseError(text)), StoreDamagedError):
        return StoreDamagedError(f"cannot open the memory store {path}: it is damaged ({text})")
    return StoreError(
        f"cannot open the memory store {path}: {text}",
        hint="Check the path (memory.path) and that this user may read and write it and its folder.",
    )


def _create_query_helpers(conn: sqlite3.Connection) -> None:
    """Per-connection TEMP tables: the query tokenised by the index's own tokenizer (so terms are
    stemmed exactly as stored), and a view of the index's document frequencies."""
    conn.execute(f"CREATE VIRTUAL TABLE temp.query_terms USING fts5 (term, tokenize = '{FTS_TOKENIZER}')")
    conn.execute("CREATE VIRTUAL TABLE temp.query_terms_vocab USING fts5vocab (temp, query_terms, instance)")
    conn.execute("CREATE VIRTUAL TABLE temp.memories_vocab USING fts5vocab (main, memories_fts, row)")
