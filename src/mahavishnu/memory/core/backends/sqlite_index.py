"""Keeps the in-RAM ``VectorIndex`` equal to the vectors in SQLite, cheaply.

Every insert, vector change and delete appends the row id to ``vector_changes`` (triggers). Before
a search the cache compares the log's last ``seq`` with the one it has applied and replays only
the difference, so writes by this or any other process show up without reloading every vector.
A large index is saved to a sidecar file tagged with the ``seq`` it reflects; a later process
loads it and replays the log from there. The log is pruned behind the oldest point still needed
(``vector_log_floor``); a reader that fell behind the floor simply rebuilds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from mahavishnu.memory.core.vector_index import VectorIndex

_SIDECAR_SEQ = "vector_sidecar_seq"
_LOG_FLOOR = "vector_log_floor"
_PRUNE_EVERY = 50_000
_LOAD_BATCH = 20_000


class Connections(Protocol):
    """What the index needs of its backend (``SqliteBackend``): its connections and meta rows."""

    def index_read(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def write(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, values: Mapping[str, str | None]) -> None: ...

    @property
    def read_only(self) -> bool: ...

    @property
    def index(self) -> IndexCache: ...


class IndexCache:
    def __init__(self, backend: Connections, sidecar: Path, ann_threshold: int) -> None:
        self._backend = backend
        self._sidecar = sidecar
        self._ann_threshold = ann_threshold
        self._index: VectorIndex | None = None
        self._space: tuple[str, int] | None = None
        self._seq = 0

    def current(self) -> VectorIndex | None:
        """The index, caught up with the database; None while the store holds no memory. Read on
        a connection of its own: a hybrid search's vector leg asks for it while its text leg holds
        the main one (and waited for it: ~3 ms of a search at 100k rows, its word-pair look-ups
        queued behind), and its cosines while the word pairs hold the side one."""
        with self._backend.index_read() as conn:
            restored = self._backend.index if self._backend.index is not self else None
            if restored is None:  # (else the store was restored: this read opened it anew)
                last = _last_seq(conn)
                space = conn.execute("SELECT embedding_model, embedding_dim FROM memories LIMIT 1").fetchone()
                if space is None:
                    self._index, self._space, self._seq = None, None, last
                    return None
                built = self._index is None or tuple(space) != self._space or not self._catch_up(conn, last)
                if built:
                    self._build(conn, (str(space[0]), int(space[1])), last)
                saved, floor = _meta_int(conn, _SIDECAR_SEQ), _meta_int(conn, _LOG_FLOOR)
        if restored is not None:  # its cache holds the restored store's vectors, this one the old
            return restored.current()
        self._save_if_large(saved, force=built)
        self._maybe_compact(saved, floor)
        return self._index

    def _catch_up(self, conn: sqlite3.Connection, last: int) -> bool:
        """Replay the log since ``self._seq``; False when a rebuild is the better (or only) way."""
        assert self._index is not None
        if last == self._seq:
            return True
        if self._seq < _meta_int(conn, _LOG_FLOOR):
            return False
        changed = [
            r[0]
            for r in conn.execute("SELECT DISTINCT memory_id FROM vector_changes WHERE seq > ?", (self._seq,))
        ]
        if len(changed) > max(1_000, len(self._index) // 4):
            return False
        ids, vectors = _load(
            conn, "WHERE id IN (SELECT memory_id FROM vector_changes WHERE seq > ?)", (self._seq,)
        )
        self._index.remove(np.asarray(changed, dtype=np.int64))
        if len(ids):
            self._index.add(ids, vectors)
        self._seq = last
        return True

    def _build(self, conn: sqlite3.Connection, space: tuple[str, int], last: int) -> None:
        from mahavishnu.memory.core.vector_index import VectorIndex

        index = VectorIndex(space[1], ann_threshold=self._ann_threshold, sidecar=self._sidecar)
        self._index, self._space = index, space
        saved = _meta_int(conn, _SIDECAR_SEQ)
        if saved and saved >= _meta_int(conn, _LOG_FLOOR) and index.load(_fingerprint(space, saved)):
            self._seq = saved
            if self._catch_up(conn, last):
                return
            index = self._index = VectorIndex(
                space[1], ann_threshold=self._ann_threshold, sidecar=self._sidecar
            )
        after = 0
        while True:
            ids, vectors = _load(conn, "WHERE id > ? ORDER BY id LIMIT ?", (after, _LOAD_BATCH))
            if not len(ids):
                break
            index.add(ids, vectors)
            after = int(ids[-1])
        self._seq = last

    def _save_if_large(self, saved: int | None = None, *, force: bool = False) -> None:
        """Write the sidecar of a large index when it is missing or stale (or holds no graph yet);
        ``saved``: the ``seq`` of the sidecar written last (None: read it)."""
        index = self._index
        if index is None or self._space is None or len(index) < self._ann_threshold or not index.needs_save:
            return
        if self._backend.read_only:  # a read-only store keeps its index in RAM only
            return
        if saved is None:
            saved = int(self._backend.get_meta(_SIDECAR_SEQ) or 0)
        stale = self._seq - saved > max(1_000, len(index) // 20)
        if force or stale or index.ann_ready:
            index.save(_fingerprint(self._space, self._seq))
            self._backend.set_meta({_SIDECAR_SEQ: str(self._seq)})

    def _maybe_compact(self, saved: int, floor: int) -> None:
        """Drop log entries nobody needs: behind the sidecar (large stores; ``saved``, its ``seq``)
        or behind us (small), when far enough past the log's ``floor`` (both as last read). The
        floor is read again where it is written: another cache may have moved it past ours since,
        and it never goes back (a reader behind it would replay a log with a hole)."""
        if self._backend.read_only:
            return
        large = self._index is not None and len(self._index) >= self._ann_threshold
        keep_from = saved if large else self._seq
        if keep_from - floor < _PRUNE_EVERY:
            return
        with self._backend.write() as conn:
            if keep_from - _meta_int(conn, _LOG_FLOOR) < _PRUNE_EVERY:
                return
            conn.execute("DELETE FROM vector_changes WHERE seq <= ?", (keep_from,))
            conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (_LOG_FLOOR, str(keep_from)))

    def describe(self) -> dict[str, Any]:
        if self._index is None:
            return {"loaded": False}
        return {"loaded": True, **self._index.describe()}

    def close(self) -> None:
        if self._index is None:
            return
        try:
            self._save_if_large()
        finally:
            self._index.close()
            self._index = None


def _last_seq(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT ifnull(max(seq), 0) FROM vector_changes").fetchone()[0])


def _meta_int(conn: sqlite3.Connection, key: str) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else 0


def _fingerprint(space: tuple[str, int], seq: int) -> str:
    return f"{space[0]}:{space[1]}:{seq}"


def _load(
    conn: sqlite3.Connection, where: str, params: tuple[Any, ...]
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.float32]]]:
    rows = conn.execute(f"SELECT id, embedding FROM memories {where}", params).fetchall()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    if not rows:
        return ids, np.empty((0, 0), dtype=np.float32)
    flat = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4")
    return ids, flat.reshape(len(rows), -1).astype(np.float32, copy=False)
