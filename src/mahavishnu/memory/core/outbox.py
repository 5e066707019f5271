"""The outbox: what could not reach an unreachable PostgreSQL store, kept on this machine until it can.

A member whose team store cannot be reached (a laptop on a train) loses nothing: the store path
(``MemoryStore.store_many_checked``) writes the memories it could not store here, and a capture that
could not run records which session file to capture again. Each item carries a client-made UUID,
which the delivery writes into the memory's row (``memories.client_id``, unique per owner) in the
same transaction: an item delivered once is never delivered twice, even when the delivering process
died between that commit and the item's removal from here.

The file is ``<data dir>/outbox/outbox.db``: SQLite in WAL mode (several hooks and terminals write at
once; each write is one ``BEGIN IMMEDIATE`` transaction, ``synchronous=FULL``, so an acknowledged
item survives a crash or a power cut), 0600 in a 0700 folder. It holds the text exactly as the store
would have written it, secrets already scrubbed (``redaction/scrub.py``), never a raw secret.

Beside the items it keeps, per store, since when the store has been unreachable: hooks read it to
answer at once (empty) instead of waiting for a server that was down a moment ago.

An item the store answers and refuses for what it holds (``RefusedError``: longer than a team store
takes, a right the member lacks) would be refused at every delivery, forever, and held up those
behind it: it is set aside instead (``set_aside``), kept with the store's reason until the user sends
it again (``retry_refused``) or drops it (``drop_refused``): ``mahavishnu team sync --retry-refused``.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mahavishnu import paths
from mahavishnu.errors import StoreError

Kind = Literal["memory", "capture"]
#: How long a store found unreachable counts as still unreachable for the hooks (which must answer
#: within their budget): after that, the next hook tries the server again.
RECHECK_SECONDS = 15.0
_BUSY_MS = 30_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL UNIQUE,
    target TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('memory', 'capture')),
    body TEXT NOT NULL,
    queued_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS items_target ON items (target, kind, seq);
CREATE TABLE IF NOT EXISTS refused (
    seq INTEGER PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE,
    target TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('memory', 'capture')),
    body TEXT NOT NULL,
    queued_at REAL NOT NULL,
    reason TEXT NOT NULL,
    refused_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS unreachable (
    target TEXT PRIMARY KEY,
    since REAL NOT NULL,
    last REAL NOT NULL,
    reason TEXT NOT NULL
);
"""


def outbox_dir() -> Path:
    return paths.data_dir() / "outbox"


def outbox_path() -> Path:
    return outbox_dir() / "outbox.db"


@dataclass(frozen=True, slots=True)
class Item:
    """One queued item: a memory draft's fields, or a capture to run again (tool, path, cwd)."""

    seq: int
    client_id: str
    target: str
    kind: Kind
    body: dict[str, Any]
    queued_at: float


class RefusedError(StoreError):
    """The store answered, and refused what it was sent for what that holds (a value longer than a
    team store takes, a right the member lacks for it, a value it cannot take): sent again as it is,
    it is refused again. The outbox sets such an item aside rather than retry it."""


@dataclass(frozen=True, slots=True)
class Refused:
    """An item set aside: the store's reason (its message, with PostgreSQL's ``DETAIL`` line when it
    gave one: ``sync.refused_notice`` shows the first line only), and when."""

    item: Item
    reason: str
    refused_at: float


@dataclass(frozen=True, slots=True)
class Waiting:
    """What waits for one store (or all): how many items, and since when the oldest."""

    count: int
    oldest: float | None

    @property
    def oldest_age(self) -> float | None:
        return None if self.oldest is None else max(0.0, time.time() - self.oldest)

    def to_dict(self) -> dict[str, Any]:
        age = self.oldest_age
        return {"waiting": self.count, "oldest_age_seconds": None if age is None else round(age, 1)}


@dataclass(frozen=True, slots=True)
class Unreachable:
    since: float
    last: float
    reason: str


class Outbox:
    """The outbox file; opened on first use (nothing is created until something is queued)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or outbox_path()
        self._conn: sqlite3.Connection | None = None

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def exists(self) -> bool:
        return self.path.exists()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            from filelock import FileLock

            _private_file(self.path)
            conn = sqlite3.connect(self.path, timeout=_BUSY_MS / 1000, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
            # Turning a new file to WAL takes an exclusive lock SQLite does not wait for (no busy
            # handler there): processes opening the outbox at once set it up one at a time.
            with FileLock(self.path.parent / "setup.lock", timeout=_BUSY_MS / 1000, mode=0o600):
                conn.execute("PRAGMA journal_mode = WAL")
                conn.executescript(_SCHEMA)
            conn.execute("PRAGMA synchronous = FULL")
            self._conn = conn
        return self._conn

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- items ----------------------------------------------------------------------------
    def put(self, target: str, kind: Kind, bodies: Sequence[Mapping[str, Any]]) -> list[str]:
        """Queue ``bodies`` for ``target`` in one durable transaction; their client ids, in order.
        A capture of a session file already waiting is not queued twice (it reads the whole tail)."""
        now = time.time()
        ids = [_client_id(target, kind, body) for body in bodies]
        sql = "INSERT OR IGNORE INTO items (client_id, target, kind, body, queued_at) VALUES (?, ?, ?, ?, ?)"
        with self._transaction() as conn:
            for client_id, body in zip(ids, bodies, strict=True):
                conn.execute(sql, (client_id, target, kind, json.dumps(dict(body), ensure_ascii=False), now))
        return ids

    def items(self, target: str, kind: Kind, limit: int) -> list[Item]:
        """The oldest ``limit`` items of ``kind`` waiting for ``target``, in the order queued."""
        if not self.exists():
            return []
        rows = self._db().execute(
            "SELECT seq, client_id, target, kind, body, queued_at FROM items "
            "WHERE target = ? AND kind = ? ORDER BY seq LIMIT ?",
            (target, kind, limit),
        )
        return [Item(s, c, t, k, json.loads(b), q) for s, c, t, k, b, q in rows]

    def remove(self, client_ids: Sequence[str]) -> None:
        with self._transaction() as conn:
            conn.executemany("DELETE FROM items WHERE client_id = ?", [(c,) for c in client_ids])

    def set_aside(self, item: Item, reason: str) -> None:
        """Take ``item`` out of the queue, kept with the store's ``reason`` (``RefusedError``)."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO refused "
                "SELECT seq, client_id, target, kind, body, queued_at, ?, ? FROM items WHERE client_id = ?",
                (reason, time.time(), item.client_id),
            )
            conn.execute("DELETE FROM items WHERE client_id = ?", (item.client_id,))

    def refused(self, target: str) -> list[Refused]:
        """What was set aside for ``target``, in the order it was queued."""
        if not self.exists():
            return []
        rows = self._db().execute(
            "SELECT seq, client_id, target, kind, body, queued_at, reason, refused_at FROM refused "
            "WHERE target = ? ORDER BY seq",
            (target,),
        )
        return [Refused(Item(s, c, t, k, json.loads(b), q), r, a) for s, c, t, k, b, q, r, a in rows]

    def retry_refused(self, target: str) -> int:
        """Put what was set aside for ``target`` back in the queue, each in its place; how many. (A
        capture of a session file queued again meanwhile is there once: it reads the whole tail.)"""
        if not self.exists():
            return 0
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO items (seq, client_id, target, kind, body, queued_at) "
                "SELECT seq, client_id, target, kind, body, queued_at FROM refused WHERE target = ?",
                (target,),
            )
            return int(conn.execute("DELETE FROM refused WHERE target = ?", (target,)).rowcount)

    def drop_refused(self, target: str) -> int:
        """Delete what was set aside for ``target``; how many."""
        if not self.exists():
            return 0
        with self._transaction() as conn:
            return int(conn.execute("DELETE FROM refused WHERE target = ?", (target,)).rowcount)

    def waiting(self, target: str | None = None) -> Waiting:
        """How many items wait (for ``target``, or for any store) and since when the oldest."""
        if not self.exists():
            return Waiting(0, None)
        where, args = ("WHERE target = ?", (target,)) if target is not None else ("", ())
        count, oldest = (
            self._db().execute(f"SELECT count(*), min(queued_at) FROM items {where}", args).fetchone()
        )
        return Waiting(int(count), None if oldest is None else float(oldest))

    def targets(self) -> list[str]:
        """The stores something waits for."""
        if not self.exists():
            return []
        return [str(t) for (t,) in self._db().execute("SELECT DISTINCT target FROM items ORDER BY 1")]

    # -- whether a store was reachable a moment ago ---------------------------------------
    def mark_unreachable(self, target: str, reason: str) -> None:
        now = time.time()
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO unreachable (target, since, last, reason) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (target) DO UPDATE SET last = excluded.last, reason = excluded.reason",
                (target, now, now, reason),
            )

    def mark_reachable(self, target: str) -> None:
        if self.exists():
            with self._transaction() as conn:
                conn.execute("DELETE FROM unreachable WHERE target = ?", (target,))

    def unreachable(self, target: str) -> Unreachable | None:
        """Since when ``target`` has been unreachable (None: it was not, last time it was tried)."""
        if not self.exists():
            return None
        row = (
            self._db()
            .execute("SELECT since, last, reason FROM unreachable WHERE target = ?", (target,))
            .fetchone()
        )
        return None if row is None else Unreachable(float(row[0]), float(row[1]), str(row[2]))

    def recently_unreachable(self, target: str, within: float = RECHECK_SECONDS) -> Unreachable | None:
        """``unreachable(target)`` when it was last found so less than ``within`` seconds ago."""
        down = self.unreachable(target)
        return down if down is not None and time.time() - down.last < within else None

    # -- one deliverer at a time ----------------------------------------------------------
    @contextlib.contextmanager
    def delivering(self) -> Iterator[bool]:
        """Hold the delivery lock: True, or False at once when another process delivers now
        (two deliverers would read the same items)."""
        from filelock import FileLock, Timeout

        _private_dir(self.path.parent)
        lock = FileLock(self.path.parent / "deliver.lock", timeout=0, mode=0o600)
        try:
            lock.acquire()
        except Timeout:
            yield False
            return
        try:
            yield True
        finally:
            lock.release()


def _client_id(target: str, kind: Kind, body: Mapping[str, Any]) -> str:
    """A fresh UUID for a memory; for a capture, one per (store, assistant, session file)."""
    if kind == "capture":
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{target}\n{body.get('tool')}\n{body.get('path')}"))
    return str(uuid.uuid4())


def _private_dir(directory: Path) -> None:
    paths.make_dir(directory)  # 0700 (in Mahavishnu's data directory)


def _private_file(path: Path) -> None:
    """The outbox file 0600 before SQLite opens it (its -wal and -shm files take its mode)."""
    _private_dir(path.parent)
    paths.create_private(path)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(OSError):
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)
