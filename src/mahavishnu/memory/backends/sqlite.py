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

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from mahavishnu import paths
from mahavishnu.errors import InvalidInputError, MigrationError, StoreError
from mahavishnu.memory.backends import records
from mahavishnu.memory.backends.base import (
    INGESTION_COLUMNS,
    Backend,
    ImportCounts,
    metrics_row,
    metrics_where,
)
from mahavishnu.memory.backends.sqlite_index import IndexCache
from mahavishnu.memory.migrations.sqlite import FTS_TOKENIZER, MIGRATIONS
from mahavishnu.memory.models import (
    Filters,
    Memory,
    MemoryDraft,
    MigrationState,
    Vector,
    format_time,
    parse_time,
    utcnow,
)
from mahavishnu.memory.search import Ranked, query_terms

_T = TypeVar("_T")
_COLUMNS = (
    "id, content, memory_type, content_hash, embedding_model, embedding_dim, created_at, updated_at, "
    "tags, metadata, project, repo_id, agent_id, session_id, workflow_id, source_system"
)
_SCOPE_SQL = "content_hash = ? AND memory_type = ? AND ifnull(project, '') = ifnull(?, '') AND ifnull(repo_id, '') = ifnull(?, '')"  # noqa: E501
_INSERT_COLUMNS = (
    "content, memory_type, content_hash, embedding_model, embedding_dim, created_at, updated_at, tags, "
    "metadata, project, repo_id, agent_id, session_id, workflow_id, source_system, embedding"
)


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        ann_threshold: int = 50_000,
        posting_budget: int = 0,
        migrate: bool = True,
    ) -> None:
        self.path = Path(path)
        self.posting_budget = posting_budget  # 0: match every query term
        self._lock = threading.RLock()
        self._conn = _connect(self.path)
        self.index = IndexCache(self, self.path.with_name(self.path.name + ".ann"), ann_threshold)
        try:
            if migrate:
                self.migrate()
            else:
                self.migration_state()  # still refuse a store newer than this code
        except BaseException:
            self._conn.close()
            raise

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def conn(self) -> sqlite3.Connection:
        return self._conn

    # -- transactions ---------------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: takes the write lock up front, so it never fails half-way
        on a busy database; rolled back on any exception."""
        with self._lock:
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
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    # -- schema ---------------------------------------------------------------------------
    def _applied(self) -> dict[str, str]:
        table = self._conn.execute("SELECT 1 FROM sqlite_master WHERE name = '_migrations'").fetchone()
        if table is None:
            return {}
        return dict(self._conn.execute("SELECT name, applied_at FROM _migrations ORDER BY rowid").fetchall())

    def migration_state(self) -> MigrationState:
        with self._lock:
            applied = self._applied()
        pending = tuple(m.name for m in MIGRATIONS.pending(applied))
        return MigrationState(self.name, self.location, tuple(applied.items()), pending)

    def migrate(self) -> list[str]:
        """Each pending migration in its own transaction, together with the row recording it."""
        done: list[str] = []
        with self._lock:
            while MIGRATIONS.pending(self._applied()):
                with self.write() as conn:
                    conn.execute(
                        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
                    )
                    pending = MIGRATIONS.pending(self._applied())  # another process may have run it
                    if not pending:
                        break
                    migration = pending[0]
                    try:
                        migration.apply(conn)
                    except sqlite3.Error as exc:
                        raise MigrationError(
                            f"migration {migration.name} failed on {self.path}: {exc}"
                        ) from exc
                    conn.execute(
                        "INSERT INTO _migrations VALUES (?, ?)", (migration.name, format_time(utcnow()))
                    )
                    done.append(migration.name)
        return done

    def close(self) -> None:
        with self._lock:
            self.index.close()
            self._conn.close()

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, values: Mapping[str, str | None]) -> None:
        with self.write() as conn:
            _set_meta(conn, values)

    # -- rows -----------------------------------------------------------------------------
    def find_existing(self, drafts: Sequence[MemoryDraft]) -> dict[tuple[Any, ...], Memory]:
        wanted = {d.dedup_key for d in drafts}
        hashes = sorted({key[0] for key in wanted})
        found: dict[tuple[Any, ...], Memory] = {}
        with self.read() as conn:
            for chunk in _chunks(hashes, 500):
                sql = f"SELECT {_COLUMNS} FROM memories WHERE content_hash IN ({', '.join('?' * len(chunk))})"
                found.update(
                    (_key(m), m) for m in map(_memory, conn.execute(sql, chunk)) if _key(m) in wanted
                )
        return found

    def insert(
        self, drafts: Sequence[MemoryDraft], vectors: Vector, *, model: str, now: datetime
    ) -> list[Memory]:
        with self.write() as conn:
            return _insert(conn, drafts, vectors, model, now)

    def get(self, ids: Sequence[int]) -> dict[int, Memory]:
        out: dict[int, Memory] = {}
        with self.read() as conn:
            for chunk in _chunks(list(ids), 500):
                marks = ", ".join("?" * len(chunk))
                for row in conn.execute(f"SELECT {_COLUMNS} FROM memories WHERE id IN ({marks})", chunk):
                    out[row[0]] = _memory(row)
        return out

    def update(
        self, memory_id: int, changes: Mapping[str, Any], vector: Vector | None, *, model: str, now: datetime
    ) -> Memory | None:
        values = {name: _to_column(name, value) for name, value in changes.items()}
        values["updated_at"] = format_time(now)
        if vector is not None:
            values.update(embedding=_blob(vector), embedding_model=model, embedding_dim=len(vector))
        assignments = ", ".join(f"{name} = ?" for name in values)
        sql = f"UPDATE memories SET {assignments} WHERE id = ? RETURNING {_COLUMNS}"
        try:
            with self.write() as conn:
                row = conn.execute(sql, (*values.values(), memory_id)).fetchone()
        except sqlite3.IntegrityError as exc:
            raise InvalidInputError(
                f"another memory already holds this content in this scope ({exc})"
            ) from exc
        return _memory(row) if row else None

    def delete(self, ids: Sequence[int]) -> int:
        deleted = 0
        with self.write() as conn:
            for chunk in _chunks(list(ids), 500):
                marks = ", ".join("?" * len(chunk))
                deleted += conn.execute(f"DELETE FROM memories WHERE id IN ({marks})", chunk).rowcount
        return deleted

    def delete_where(self, filters: Filters) -> int:
        if not filters:
            raise InvalidInputError("refusing to delete every memory: give at least one filter")
        where, params = filter_sql(filters)
        with self.write() as conn:
            return conn.execute(f"DELETE FROM memories AS m WHERE {where}", params).rowcount

    def recent(self, filters: Filters, limit: int, offset: int = 0) -> list[Memory]:
        where, params = filter_sql(filters)
        order = "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
        sql = f"SELECT {_COLUMNS} FROM memories AS m WHERE {where} {order}"
        with self.read() as conn:
            return [_memory(row) for row in conn.execute(sql, (*params, limit, offset))]

    def iter_all(self, batch_size: int = 500) -> Iterator[Memory]:
        """Every memory with its vector, from one snapshot, in id order."""
        sql = f"SELECT {_COLUMNS}, embedding FROM memories WHERE id > ? ORDER BY id LIMIT ?"
        with self.read() as conn:
            last = 0
            while rows := conn.execute(sql, (last, batch_size)).fetchall():
                for row in rows:
                    yield _memory(row[:-1]).with_embedding(_vector(row[-1]))
                last = rows[-1][0]

    def import_memories(self, memories: Sequence[Memory], *, free_from: int = 1) -> ImportCounts:
        imported = skipped = renumbered = 0
        moved: dict[int, int] = {}
        sql = (
            f"INSERT INTO memories (id, {_INSERT_COLUMNS}) VALUES ({', '.join('?' * 17)}) "
            "ON CONFLICT DO NOTHING RETURNING id"
        )
        with self.write() as conn:
            for memory in memories:
                same = _find(conn, _key(memory))
                if same is not None:
                    skipped += 1
                    if same.id != memory.id:
                        moved[memory.id] = same.id
                    continue
                row = _memory_row(memory)
                if conn.execute(sql, (memory.id, *row)).fetchone() is None:  # id taken
                    top = conn.execute("SELECT ifnull(max(id), 0) + 1 FROM memories").fetchone()[0]
                    moved[memory.id] = int(conn.execute(sql, (max(top, free_from), *row)).fetchone()[0])
                    renumbered += 1
                imported += 1
        return ImportCounts(imported, skipped, renumbered, moved)

    def stats(self) -> dict[str, Any]:
        with self.read() as conn:
            count, oldest, newest = conn.execute(
                "SELECT count(*), min(created_at), max(created_at) FROM memories"
            ).fetchone()
            by_type = dict(
                conn.execute("SELECT memory_type, count(*) FROM memories GROUP BY 1 ORDER BY 2 DESC")
            )
            by_project = dict(
                conn.execute(
                    "SELECT ifnull(project, ''), count(*) FROM memories GROUP BY 1 ORDER BY 2 DESC LIMIT 50"
                )
            )
        files = [self.path, self.path.with_name(self.path.name + "-wal")]
        size = sum(f.stat().st_size for f in files if f.exists())
        return {
            "count": count,
            "by_type": by_type,
            "by_project": by_project,
            "oldest": oldest,
            "newest": newest,
            "size_bytes": size,
            "vector_index": self.index.describe(),
        }

    # -- search ---------------------------------------------------------------------------
    def allowed_ids(self, filters: Filters) -> np.ndarray[Any, np.dtype[np.int64]] | None:
        """The ids a filtered vector search may return (None: no filter, all of them)."""
        if not filters:
            return None
        where, params = filter_sql(filters)
        with self.read() as conn:
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

    def text_search(self, text: str, filters: Filters, k: int) -> list[Ranked]:
        terms = query_terms(text)
        if not terms:
            return []
        where, params = filter_sql(filters)
        # FTS5 ranks inside the subquery (its own ORDER BY rank path); the filter joins outside it.
        sql = (
            "SELECT m.id, -f.rank FROM "
            "(SELECT rowid, rank FROM memories_fts WHERE memories_fts MATCH ?) AS f "
            f"JOIN memories AS m ON m.id = f.rowid WHERE {where} ORDER BY f.rank LIMIT ?"
        )
        with self.read() as conn:
            kept = self._informative(conn, terms)
            match = " OR ".join('"' + t.replace('"', '""') + '"' for t in kept)
            rows = conn.execute(sql, (match, *params, k)).fetchall()
        return [Ranked(i, s, text_score=s) for i, s in rows]

    def _informative(self, conn: sqlite3.Connection, terms: list[str]) -> list[str]:
        """The query terms to match: rarest first while their postings fit ``posting_budget``
        (the two rarest always). FTS5 scores every document matching any term (about 1 us per
        document and term), so very common terms cost most and, with the lowest IDF, rank least:
        dropping them bounds the cost of a text search whatever the store's size."""
        if not self.posting_budget or len(terms) <= 2:
            return terms
        conn.executemany("INSERT INTO temp.query_terms (rowid, term) VALUES (?, ?)", enumerate(terms))
        stems = dict(conn.execute("SELECT doc, term FROM temp.query_terms_vocab"))
        conn.execute("DELETE FROM temp.query_terms")
        sql = f"SELECT term, doc FROM temp.memories_vocab WHERE term IN ({', '.join('?' * len(stems))})"
        df = dict(conn.execute(sql, list(stems.values())))
        keep: list[int] = []
        postings = 0
        for i in sorted(range(len(terms)), key=lambda i: df.get(stems.get(i), 0)):
            count = df.get(stems.get(i), 0)
            if len(keep) >= 2 and postings + count > self.posting_budget:
                break
            keep.append(i)
            postings += count
        return [terms[i] for i in sorted(keep)]

    # -- reembed --------------------------------------------------------------------------
    def reembed_pending(self, limit: int) -> list[tuple[int, str]]:
        sql = (
            "SELECT id, content FROM memories AS m WHERE NOT EXISTS "
            "(SELECT 1 FROM embedding_staging AS s WHERE s.memory_id = m.id) ORDER BY id LIMIT ?"
        )
        with self.read() as conn:
            return [(int(i), str(c)) for i, c in conn.execute(sql, (limit,))]

    def reembed_progress(self) -> tuple[int, int]:
        with self.read() as conn:
            staged = conn.execute("SELECT count(*) FROM embedding_staging").fetchone()[0]
            total = conn.execute("SELECT count(*) FROM memories").fetchone()[0]
        return int(staged), int(total)

    def stage_vectors(self, ids: Sequence[int], vectors: Vector) -> None:
        sql = (
            "INSERT INTO embedding_staging (memory_id, embedding) SELECT ?, ? WHERE EXISTS "
            "(SELECT 1 FROM memories WHERE id = ?) ON CONFLICT DO UPDATE SET embedding = excluded.embedding"
        )
        with self.write() as conn:
            conn.executemany(sql, ((i, _blob(v), i) for i, v in zip(ids, vectors, strict=True)))

    def finish_reembed(self, model: str, dimension: int, meta: Mapping[str, str | None]) -> bool:
        with self.write() as conn:
            missing = conn.execute(
                "SELECT count(*) FROM memories AS m WHERE NOT EXISTS "
                "(SELECT 1 FROM embedding_staging AS s WHERE s.memory_id = m.id)"
            ).fetchone()[0]
            if missing:
                return False
            conn.execute(
                "UPDATE memories SET embedding_model = ?, embedding_dim = ?, embedding = "
                "(SELECT embedding FROM embedding_staging AS s WHERE s.memory_id = memories.id)",
                (model, dimension),
            )
            conn.execute("DELETE FROM embedding_staging")
            _set_meta(conn, meta)
        return True

    def clear_staging(self) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM embedding_staging")

    # -- repository ingestion -------------------------------------------------------------
    def scan_metadata(self, filters: Filters, keys: Sequence[str]) -> list[tuple[int, list[Any]]]:
        where, params = filter_sql(filters)
        columns = "".join(", json_extract(m.metadata, ?)" for _ in keys)
        paths = [_json_path(k) for k in keys]
        sql = f"SELECT m.id{columns} FROM memories AS m WHERE {where} ORDER BY m.id"
        with self.read() as conn:
            return [(row[0], list(row[1:])) for row in conn.execute(sql, (*paths, *params))]

    def replace(
        self,
        delete_ids: Sequence[int],
        drafts: Sequence[MemoryDraft],
        vectors: Vector,
        *,
        model: str,
        now: datetime,
    ) -> list[Memory]:
        with self.write() as conn:
            for chunk in _chunks(list(delete_ids), 500):
                conn.execute(f"DELETE FROM memories WHERE id IN ({', '.join('?' * len(chunk))})", chunk)
            return _insert(conn, drafts, vectors, model, now)

    def add_ingestion(self, values: Mapping[str, Any]) -> int:
        row = _ingestion_row(values)
        sql = (
            f"INSERT INTO rag_ingestions ({', '.join(row)}) VALUES ({', '.join('?' * len(row))}) RETURNING id"
        )
        with self.write() as conn:
            return int(conn.execute(sql, list(row.values())).fetchone()[0])

    def update_ingestion(self, run_id: int, values: Mapping[str, Any]) -> None:
        row = _ingestion_row(values)
        assignments = ", ".join(f"{name} = ?" for name in row)
        with self.write() as conn:
            conn.execute(f"UPDATE rag_ingestions SET {assignments} WHERE id = ?", (*row.values(), run_id))

    def ingestions(self, repo_id: str | None = None, limit: int = 1_000) -> list[dict[str, Any]]:
        where = "WHERE repo_id = ?" if repo_id is not None else ""
        params = (repo_id,) if repo_id is not None else ()
        sql = (
            f"SELECT id, {', '.join(INGESTION_COLUMNS)} FROM rag_ingestions {where} ORDER BY id DESC LIMIT ?"
        )
        with self.read() as conn:
            rows = conn.execute(sql, (*params, limit)).fetchall()
        names = ("id", *INGESTION_COLUMNS)
        runs = [dict(zip(names, row, strict=True)) for row in rows]
        return [{**run, "metadata": json.loads(run["metadata"])} for run in runs]

    def delete_ingestions(self, repo_id: str) -> int:
        with self.write() as conn:
            return conn.execute("DELETE FROM rag_ingestions WHERE repo_id = ?", (repo_id,)).rowcount

    def add_metrics(self, component: str, metric_type: str, metrics: Mapping[str, Any], at: str) -> int:
        sql = (
            "INSERT INTO performance_metrics (component, metric_type, metrics, recorded_at) "
            "VALUES (?, ?, ?, ?) RETURNING id"
        )
        with self.write() as conn:
            return int(
                conn.execute(sql, (component, metric_type, json.dumps(dict(metrics)), at)).fetchone()[0]
            )

    def metrics(
        self, component: str | None, metric_type: str | None, since: str | None, limit: int
    ) -> list[dict[str, Any]]:
        where, params = metrics_where(component, metric_type, since, "?")
        sql = (
            "SELECT id, component, metric_type, metrics, recorded_at FROM performance_metrics "
            f"{where} ORDER BY recorded_at DESC, id DESC LIMIT ?"
        )
        with self.read() as conn:
            rows = conn.execute(sql, (*params, limit)).fetchall()
        return [metrics_row(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]

    # -- activity records -----------------------------------------------------------------
    def add_records(self, table: str, rows: Sequence[Mapping[str, Any]]) -> list[int | None]:
        spec = records.record_table(table)
        sql = records.insert_sql(spec, "?")
        out: list[int | None] = []
        with self.write() as conn:
            for row in rows:
                values = records.checked_row(spec, row)
                params = [_json_text(v) if k in spec.json_columns else v for k, v in values.items()]
                got = conn.execute(sql, params).fetchone()
                out.append(int(got[0]) if got else None)
        return out

    def records(
        self, table: str, where: Mapping[str, Any], *, since: str | None = None, limit: int = 1_000
    ) -> list[dict[str, Any]]:
        spec = records.record_table(table)
        clause, params = records.where_sql(spec, where, since, "?")
        with self.read() as conn:
            rows = conn.execute(records.select_sql(spec, clause, "?"), (*params, limit)).fetchall()
        names = ("id", *spec.columns)
        return [
            {
                k: json.loads(v) if k in spec.json_columns and v is not None else v
                for k, v in zip(names, r, strict=True)
            }
            for r in rows
        ]

    def delete_records(self, table: str, where: Mapping[str, Any]) -> int:
        sql, params = records.delete_sql(records.record_table(table), where, "?")
        with self.write() as conn:
            return conn.execute(sql, params).rowcount

    # -- maintenance ----------------------------------------------------------------------
    def integrity_check(self) -> str:
        with self._lock:
            return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])


def _connect(path: Path) -> sqlite3.Connection:
    try:
        paths.make_dir(path.parent)
        if str(path) != ":memory:":  # a new store is private (0600); SQLite's -wal/-shm files follow it
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA cache_size = -65536")  # up to 64 MB of pages: FTS queries reread less
        _create_query_helpers(conn)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(
            f"cannot open the memory store {path}: {exc}",
            hint="Check the path (memory.path) and its permissions; restore a damaged file from an export.",
        ) from exc
    return conn


def _create_query_helpers(conn: sqlite3.Connection) -> None:
    """Per-connection TEMP tables: the query tokenised by the index's own tokenizer (so terms are
    stemmed exactly as stored), and a view of the index's document frequencies."""
    conn.execute(f"CREATE VIRTUAL TABLE temp.query_terms USING fts5 (term, tokenize = '{FTS_TOKENIZER}')")
    conn.execute("CREATE VIRTUAL TABLE temp.query_terms_vocab USING fts5vocab (temp, query_terms, instance)")
    conn.execute("CREATE VIRTUAL TABLE temp.memories_vocab USING fts5vocab (main, memories_fts, row)")


def _set_meta(conn: sqlite3.Connection, values: Mapping[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def filter_sql(filters: Filters) -> tuple[str, list[Any]]:
    """A WHERE clause over ``memories AS m`` (``1`` when there is no filter)."""
    clauses: list[str] = []
    params: list[Any] = []
    if filters.types:
        clauses.append(f"m.memory_type IN ({', '.join('?' * len(filters.types))})")
        params.extend(filters.types)
    if filters.project is not None or filters.group is not None:
        clause, values = _project_sql(filters)
        clauses.append(clause)
        params.extend(values)
    for name, value in filters.labels().items():
        clauses.append(f"m.{name} = ?")
        params.append(value)
    for tag in filters.tags:
        clauses.append("m.id IN (SELECT memory_id FROM memory_tags WHERE tag = ?)")
        params.append(tag)
    if filters.since is not None:
        clauses.append("m.created_at >= ?")
        params.append(format_time(filters.since))
    if filters.until is not None:
        clauses.append("m.created_at < ?")
        params.append(format_time(filters.until))
    return (" AND ".join(clauses) or "1"), params


def _project_sql(filters: Filters) -> tuple[str, list[Any]]:
    """The project (or group) scope, widened with ``shared`` to insights shared with it."""
    key = filters.group if filters.group is not None else filters.project
    if filters.group is not None:
        projects = "SELECT project FROM project_group_members WHERE group_name = ?"
        clause = f"m.project IN ({projects})"
    else:
        projects, clause = "?", "m.project = ?"
    if not filters.shared:
        return clause, [key]
    shared = f"m.id IN (SELECT memory_id FROM insight_shares WHERE project IN ({projects}))"
    return f"({clause} OR {shared})", [key, key]


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _insert(
    conn: sqlite3.Connection, drafts: Sequence[MemoryDraft], vectors: Vector, model: str, now: datetime
) -> list[Memory]:
    """Insert inside the caller's transaction; a draft whose dedup key exists returns that row."""
    sql = (
        f"INSERT INTO memories ({_INSERT_COLUMNS}) VALUES ({', '.join('?' * 16)}) "
        f"ON CONFLICT DO NOTHING RETURNING {_COLUMNS}"
    )
    out = []
    for draft, vector in zip(drafts, vectors, strict=True):
        row = conn.execute(sql, _draft_row(draft, vector, model, now)).fetchone()
        memory = _memory(row) if row else _find(conn, draft.dedup_key)
        assert memory is not None  # conflicted, so it exists
        out.append(memory)
    return out


def _json_path(key: str) -> str:
    return "$." + json.dumps(key)


def _ingestion_row(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(values) - set(INGESTION_COLUMNS))
    if unknown:
        raise InvalidInputError(f"unknown ingestion column {unknown[0]!r}")
    return {k: json.dumps(dict(v)) if k == "metadata" else v for k, v in values.items()}


def _find(conn: sqlite3.Connection, key: tuple[Any, ...]) -> Memory | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM memories WHERE {_SCOPE_SQL}", key).fetchone()
    return _memory(row) if row else None


def _key(memory: Memory) -> tuple[Any, ...]:
    return (memory.content_hash, memory.memory_type, memory.project, memory.repo_id)


def _memory(row: Sequence[Any]) -> Memory:
    (id_, content, type_, hash_, model, dim, created, updated, tags, metadata, *scope) = row
    project, repo_id, agent_id, session_id, workflow_id, source_system = scope
    return Memory(
        id=id_,
        content=content,
        memory_type=type_,
        content_hash=hash_,
        embedding_model=model,
        embedding_dim=dim,
        created_at=parse_time(created),
        updated_at=parse_time(updated),
        tags=tuple(json.loads(tags)),
        metadata=json.loads(metadata),
        project=project,
        repo_id=repo_id,
        agent_id=agent_id,
        session_id=session_id,
        workflow_id=workflow_id,
        source_system=source_system,
    )


def _draft_row(draft: MemoryDraft, vector: Vector, model: str, now: datetime) -> tuple[Any, ...]:
    stamp = format_time(now)
    return (
        draft.content,
        draft.type,
        draft.content_hash,
        model,
        len(vector),
        stamp,
        stamp,
        json.dumps(list(draft.tags)),
        json.dumps(dict(draft.metadata)),
        draft.project,
        draft.repo_id,
        draft.agent_id,
        draft.session_id,
        draft.workflow_id,
        draft.source_system,
        _blob(vector),
    )


def _memory_row(m: Memory) -> tuple[Any, ...]:
    if m.embedding is None:
        raise InvalidInputError(f"memory #{m.id} has no vector to import")
    return (
        m.content,
        m.memory_type,
        m.content_hash,
        m.embedding_model,
        m.embedding_dim,
        format_time(m.created_at),
        format_time(m.updated_at),
        json.dumps(list(m.tags)),
        json.dumps(dict(m.metadata)),
        m.project,
        m.repo_id,
        m.agent_id,
        m.session_id,
        m.workflow_id,
        m.source_system,
        _blob(m.embedding),
    )


def _to_column(name: str, value: Any) -> Any:
    if name == "tags":
        return json.dumps(list(value))
    if name == "metadata":
        return json.dumps(dict(value))
    return value


def _blob(vector: Vector) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def _vector(blob: bytes) -> Vector:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def _chunks(items: list[_T], size: int) -> Iterator[list[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
