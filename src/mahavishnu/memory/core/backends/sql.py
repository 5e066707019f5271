"""One SQL core for both databases: every memory operation that is the same in SQLite and PostgreSQL.

A backend supplies a ``Dialect`` (parameter mark, how a value of each kind is encoded and read
back, the few SQL fragments that differ) and its transactions (``_read``/``_write``); it keeps only
what is truly its own: the vector and full-text search, migrations' locking, storage statistics.
Column lists and rows come from ``Memory``'s fields: a new memory column is a model field plus a
migration per dialect.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Protocol, TypeVar

import numpy as np

from mahavishnu.errors import InvalidInputError, MigrationError, StoreError
from mahavishnu.masking import mask_url
from mahavishnu.memory.core.backends import records
from mahavishnu.memory.core.backends.base import (
    INGESTION_COLUMNS,
    META_EMBEDDER,
    Backend,
    ImportCounts,
    Unstaged,
    foreign_vectors,
)
from mahavishnu.memory.core.backends.records import RecordTable
from mahavishnu.memory.core.migrations import Migrations
from mahavishnu.memory.core.models import (
    Filters,
    Memory,
    MemoryDraft,
    MigrationState,
    Vector,
    format_time,
    parse_time,
    utcnow,
)

_T = TypeVar("_T")

#: ``memories`` columns, in ``Memory``'s field order (the vector travels apart, as ``embedding``).
COLUMNS = tuple(f.name for f in fields(Memory) if f.name != "embedding")
#: What an insert writes: every column but ``id``, then the vector.
INSERT_COLUMNS = (*COLUMNS[1:], "embedding")
SELECT_COLUMNS = ", ".join(COLUMNS)
_TIMES = frozenset({"created_at", "updated_at"})
_INGESTION_TIMES = frozenset({"started_at", "finished_at"})
_CHUNK = 500  # ids or hashes per IN (...) list


def reembed_running(location: str) -> StoreError:
    """A second ``memory reembed`` while one runs (``reembed_lock``): it would stage its vectors
    among the first's, and the first failed at its swap or swapped in two models' vectors."""
    return StoreError(
        f"another `memory reembed` is moving the memory store {location} right now; nothing was done",
        hint="Wait for it to finish (`mahavishnu memory stats` shows the move under way); "
        "an interrupted one resumes when `memory reembed` runs again.",
    )


class Conn(Protocol):
    """What the core needs of a connection: ``sqlite3.Connection`` and ``psycopg.Connection`` both fit."""

    def execute(self, sql: Any, params: Any = ..., /) -> Any: ...
    def cursor(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one database spells what differs: the parameter mark, values of each kind going in and
    coming out, and a few SQL fragments."""

    mark: str
    ifnull: str  # the NULL-to-'' function the dedup index is built on
    tags_in: Callable[[Sequence[str]], Any]
    tags_out: Callable[[Any], tuple[str, ...]]
    json_in: Callable[[Any], Any]
    json_out: Callable[[Any], Any]
    time_in: Callable[[datetime | str], Any]
    vector_in: Callable[[Vector], Any]
    vector_out: Callable[[Any], Vector]
    has_tag: str  # a clause over ``memories AS m`` with one mark: the memory has this tag
    json_get: str  # ``m.metadata``'s value at one key (a mark), as the scan returns it
    json_key: Callable[[str], str]  # the parameter for ``json_get``
    true: str = "true"
    #: Appended to a SELECT that a merge reads then rewrites: locks the row until the transaction
    #: ends (PostgreSQL's ``FOR UPDATE``; SQLite's write transaction already excludes other writers).
    lock_row: str = ""
    #: ANDed to a dedup lookup: only the caller's own rows (PostgreSQL: the rows this role owns, so
    #: a team member's memory never merges into another member's row).
    mine: str = ""

    def marks(self, count: int) -> str:
        return ", ".join([self.mark] * count)

    def encode(self, name: str, value: Any) -> Any:
        """A ``memories`` column's value as this database stores it."""
        if name == "tags":
            return self.tags_in(value)
        if name == "metadata":
            return self.json_in(value)
        if name in _TIMES:
            return self.time_in(value)
        if name == "embedding":
            return self.vector_in(finite(value, "a memory"))
        return value

    def memory(self, row: Sequence[Any]) -> Memory:
        """A ``Memory`` from a row of ``COLUMNS``."""
        values = dict(zip(COLUMNS, row, strict=True))
        values.update(
            id=int(values["id"]),
            embedding_dim=int(values["embedding_dim"]),
            tags=self.tags_out(values["tags"]),
            metadata=self.json_out(values["metadata"]),
            created_at=parse_time(values["created_at"]),
            updated_at=parse_time(values["updated_at"]),
        )
        return Memory(**values)

    def memory_row(self, memory: Memory) -> list[Any]:
        """``INSERT_COLUMNS`` values of a memory that carries its vector."""
        if memory.embedding is None:
            raise InvalidInputError(f"memory #{memory.id} has no vector to import")
        finite(memory.embedding, f"memory #{memory.id}")
        return [self.encode(name, getattr(memory, name)) for name in INSERT_COLUMNS]

    def draft_row(self, draft: MemoryDraft, vector: Vector, model: str, now: datetime) -> list[Any]:
        """``INSERT_COLUMNS`` values of a new memory (the draft's columns by name: content,
        memory_type, content_hash, tags, metadata, scope)."""
        stamp = self.time_in(now)
        values = {name: getattr(draft, name, None) for name in INSERT_COLUMNS}
        values.update(embedding_model=model, embedding_dim=len(vector), embedding=vector)
        return [stamp if name in _TIMES else self.encode(name, value) for name, value in values.items()]

    # -- filters ----------------------------------------------------------------------------
    def filter_sql(self, filters: Filters) -> tuple[str, list[Any]]:
        """A WHERE clause over ``memories AS m`` and its parameters (always true when no filter)."""
        m = self.mark
        clauses: list[str] = []
        params: list[Any] = []
        if filters.types:
            clauses.append(f"m.memory_type IN ({self.marks(len(filters.types))})")
            params.extend(filters.types)
        if filters.project is not None or filters.group is not None:
            clause, values = self._project_sql(filters)
            clauses.append(clause)
            params.extend(values)
        for name, value in filters.labels().items():
            clauses.append(f"m.{name} = {m}")
            params.append(value)
        for tag in filters.tags:
            clauses.append(self.has_tag)
            params.append(tag)
        if filters.since is not None:
            clauses.append(f"m.created_at >= {m}")
            params.append(self.time_in(filters.since))
        if filters.until is not None:
            clauses.append(f"m.created_at < {m}")
            params.append(self.time_in(filters.until))
        return (" AND ".join(clauses) or self.true), params

    def _project_sql(self, filters: Filters) -> tuple[str, list[Any]]:
        """The project (or group) scope, widened with ``shared`` to insights shared with it."""
        m = self.mark
        key = filters.group if filters.group is not None else filters.project
        if filters.group is not None:
            projects = f"SELECT project FROM project_group_members WHERE group_name = {m}"
            clause = f"m.project IN ({projects})"
        else:
            projects, clause = m, f"m.project = {m}"
        values = [key]
        if filters.with_global:  # by id through the memories_global index: an OR on NULLs would scan
            clause += f" OR m.id IN ({GLOBAL_IDS})"
        if filters.shared:
            clause += f" OR m.id IN (SELECT memory_id FROM insight_shares WHERE project IN ({projects}))"
            values.append(key)
        return f"({clause})", values


# The memories of no project that hold everywhere (``Filters.with_global``). An insight is stored
# with no project too (one row for everyone, ``cross_project.py``), but it belongs to the project it
# came from (its ``origin`` share, written with it since insights exist) and to those it was shared
# with, which ``Filters.shared`` takes in: only an insight of no known origin is global.
GLOBAL_IDS = (
    "SELECT g.id FROM memories AS g WHERE g.project IS NULL AND NOT EXISTS "
    "(SELECT 1 FROM insight_shares AS s WHERE s.memory_id = g.id AND s.via = 'origin')"
)


def finite(vector: Vector, owner: str) -> Vector:
    """``vector``, refused when it holds NaN or infinity: no cosine score could be computed from
    it, and pgvector rejects it with an error that names only a statement parameter."""
    if not np.isfinite(vector).all():
        raise InvalidInputError(
            f"{owner} has a vector with NaN or infinite values; nothing of this batch was written",
            hint="Fix or remove it at its source (the export file or the embedder), then try again.",
        )
    return vector


def dedup_key(memory: Memory) -> tuple[Any, ...]:
    return (memory.content_hash, memory.memory_type, memory.project, memory.repo_id)


def chunks(items: Sequence[_T], size: int = _CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqlBackend(Backend):
    """Every operation written once over a ``Dialect``; subclasses give transactions and search."""

    dialect: Dialect
    migrations: Migrations[Any]

    # -- what a database gives --------------------------------------------------------------
    @abstractmethod
    def _read(self, work: Callable[[Conn], _T]) -> _T:
        """``work(conn)`` in one read transaction (one snapshot)."""

    @abstractmethod
    def _write(self, work: Callable[[Conn], _T]) -> _T:
        """``work(conn)`` in one write transaction."""

    @abstractmethod
    def _snapshot(self) -> AbstractContextManager[Any]:
        """A connection (or cursor) inside one read-only snapshot, for a long ``iter_all``."""

    @abstractmethod
    def _migrating(self) -> AbstractContextManager[Any]:
        """A connection inside one write transaction that only one migrator holds at a time."""

    @abstractmethod
    def _applied(self, conn: Conn) -> dict[str, str]:
        """Applied migrations, name -> time, in the order they ran."""

    @abstractmethod
    def _applied_now(self) -> dict[str, str]: ...

    def _meta_written(self, conn: Conn, values: Mapping[str, str | None]) -> None:
        """Hook: after ``set_meta`` wrote ``values`` (PostgreSQL builds its vector index here)."""

    def _vectors_swapped(self, conn: Conn, dimension: int) -> None:
        """Hook: after ``finish_reembed`` swapped the staged vectors in."""

    def _before_swap(self, conn: Conn) -> None:
        """Hook: before ``finish_reembed`` counts what is missing (PostgreSQL locks the table)."""

    def _imported(self, conn: Conn) -> None:
        """Hook: after ``import_memories`` inserted rows under their own ids."""

    # -- schema -----------------------------------------------------------------------------
    def migration_state(self) -> MigrationState:
        applied = self._applied_now()
        pending = tuple(m.name for m in self.migrations.pending(applied))
        return MigrationState(self.name, self.location, tuple(applied.items()), pending)

    def migrate(self) -> list[str]:
        """Each pending migration in its own transaction, together with the row recording it.

        A read-only look comes first: an up-to-date store runs no DDL, so a role that may only read
        and write its tables opens it."""
        if not self.migrations.pending(self._applied_now()):
            return []
        self._check_may_migrate()
        done: list[str] = []
        while True:
            with self._migrating() as conn:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
                )
                pending = self.migrations.pending(self._applied(conn))  # another process may have run it
                if not pending:
                    return done
                migration = pending[0]
                try:
                    migration.apply(conn)
                except self._errors() as exc:
                    raise self._migration_failed(migration.name, exc) from exc
                sql = f"INSERT INTO _migrations VALUES ({self.dialect.marks(2)})"
                conn.execute(sql, (migration.name, format_time(utcnow())))
                done.append(migration.name)

    def _check_may_migrate(self) -> None:
        """Hook: refuse, with a clear error, to migrate where this connection may not create tables."""

    def _migration_failed(self, name: str, exc: Exception) -> MigrationError:
        """The error to raise when migration ``name`` failed with the driver's ``exc``."""
        return MigrationError(f"migration {name} failed on {self.location}: {mask_url(str(exc))}")

    @abstractmethod
    def _errors(self) -> tuple[type[Exception], ...]:
        """The driver's error classes (a failed migration)."""

    @abstractmethod
    def _conflict(self, exc: Exception) -> BaseException | None:
        """The driver's unique-key violation behind ``exc``, if that is what it is."""

    def get_meta(self, key: str) -> str | None:
        sql = f"SELECT value FROM meta WHERE key = {self.dialect.mark}"
        row = self._read(lambda conn: conn.execute(sql, (key,)).fetchone())
        return None if row is None else str(row[0])

    def meta_under(self, prefix: str) -> dict[str, str]:
        m = self.dialect.mark  # (not LIKE: a prefix may hold % or _)
        sql = f"SELECT key, value FROM meta WHERE substr(key, 1, {m}) = {m}"
        rows = self._read(lambda conn: conn.execute(sql, (len(prefix), prefix)).fetchall())
        return {str(k): str(v) for k, v in rows}

    def set_meta(self, values: Mapping[str, str | None]) -> None:
        def work(conn: Conn) -> None:
            self._set_meta(conn, values)
            self._meta_written(conn, values)

        self._write(work)

    def _set_meta(self, conn: Conn, values: Mapping[str, str | None]) -> None:
        m = self.dialect.mark
        for key, value in values.items():
            if value is None:
                conn.execute(f"DELETE FROM meta WHERE key = {m}", (key,))
            else:
                conn.execute(
                    f"INSERT INTO meta (key, value) VALUES ({m}, {m}) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )

    # -- rows -------------------------------------------------------------------------------
    def _where_in(self, column: str, count: int) -> str:
        return f"{column} IN ({self.dialect.marks(count)})"

    def _select(self, conn: Conn, where: str, params: Sequence[Any]) -> list[Memory]:
        rows = conn.execute(f"SELECT {SELECT_COLUMNS} FROM memories AS m WHERE {where}", params)
        return [self.dialect.memory(row) for row in rows]

    def _find(self, conn: Conn, key: tuple[Any, ...], *, lock: bool = False) -> Memory | None:
        """The memory of dedup ``key``; with ``lock``, locked until the transaction ends."""
        m, ifnull = self.dialect.mark, self.dialect.ifnull
        scope = (
            f"content_hash = {m} AND memory_type = {m} AND {ifnull}(project, '') = {ifnull}({m}, '') "
            f"AND {ifnull}(repo_id, '') = {ifnull}({m}, '')"
        )
        scope += self.dialect.mine
        if lock:
            scope += self.dialect.lock_row
        found = self._select(conn, scope, key)
        return found[0] if found else None

    def find_existing(self, drafts: Sequence[MemoryDraft]) -> dict[tuple[Any, ...], Memory]:
        wanted = {d.dedup_key for d in drafts}
        hashes = sorted({key[0] for key in wanted})

        def work(conn: Conn) -> dict[tuple[Any, ...], Memory]:
            found: dict[tuple[Any, ...], Memory] = {}
            for chunk in chunks(hashes):
                where = self._where_in("content_hash", len(chunk)) + self.dialect.mine
                memories = self._select(conn, where, chunk)
                found.update((dedup_key(m), m) for m in memories if dedup_key(m) in wanted)
            return found

        return self._read(work)

    def _insert_sql(self, extra: Sequence[str] = ()) -> str:
        """An insert of ``INSERT_COLUMNS`` (then the ``extra`` columns) that skips a duplicate."""
        columns = (*INSERT_COLUMNS, *extra)
        return (
            f"INSERT INTO memories ({', '.join(columns)}) "
            f"VALUES ({self.dialect.marks(len(columns))}) ON CONFLICT DO NOTHING RETURNING {SELECT_COLUMNS}"
        )

    def _check_model(self, conn: Conn, model: str) -> None:
        """Refuse (rolling the transaction back) vectors of another model than the store's. Asked
        after the transaction's writes: on PostgreSQL they hold a lock a reembed's swap waits for,
        so a swap is either seen here or comes after, and then embeds these rows itself."""
        if not model:  # no vector written
            return
        row = conn.execute(
            f"SELECT value FROM meta WHERE key = {self.dialect.mark}", (META_EMBEDDER,)
        ).fetchone()
        if row is not None and (refused := foreign_vectors(self.location, str(row[0]), model)):
            raise refused

    def _insert(
        self, conn: Conn, drafts: Sequence[MemoryDraft], vectors: Vector, model: str, now: datetime
    ) -> list[Memory]:
        """Insert inside the caller's transaction; a draft whose dedup key exists (also from a
        concurrent writer) returns that row."""
        sql = self._insert_sql()
        out = []
        for draft, vector in zip(drafts, vectors, strict=True):
            row = conn.execute(sql, self.dialect.draft_row(draft, vector, model, now)).fetchone()
            memory = self.dialect.memory(row) if row else self._find(conn, draft.dedup_key)
            if memory is None:
                raise InvalidInputError(f"could not insert or find memory {draft.content_hash[:12]}")
            out.append(memory)
        if drafts:
            self._check_model(conn, model)
        return out

    def insert_or_merge(
        self,
        drafts: Sequence[MemoryDraft],
        vectors: Sequence[Vector | None],
        *,
        model: str,
        now: datetime,
        merge: Callable[[Memory, MemoryDraft], Mapping[str, Any]],
    ) -> list[tuple[Memory | None, bool]]:
        """Store ``drafts`` in one transaction: (memory, whether it was already stored) each.

        A draft with a vector is inserted, unless its dedup key exists, also from a concurrent
        writer that got there first; a draft without one (found stored before) is not. A draft that
        is not inserted is merged into the stored row: the row is read locked (no other writer
        changes it until this transaction ends), ``merge(row, draft)`` gives the changes and they
        are written in the same transaction, so concurrent merges of one memory each keep the
        others' tags and metadata. ``(None, True)``: a draft without a vector whose row is gone."""
        sql = self._insert_sql()

        def work(conn: Conn) -> list[tuple[Memory | None, bool]]:
            done = [
                self._insert_or_merge_one(conn, sql, draft, vector, model, now, merge)
                for draft, vector in zip(drafts, vectors, strict=True)
            ]
            self._check_model(conn, model)
            return done

        return self._write(work)

    def _insert_or_merge_one(
        self,
        conn: Conn,
        sql: str,
        draft: MemoryDraft,
        vector: Vector | None,
        model: str,
        now: datetime,
        merge: Callable[[Memory, MemoryDraft], Mapping[str, Any]],
        extra: Sequence[Any] = (),
    ) -> tuple[Memory | None, bool]:
        """One draft of ``insert_or_merge``, in the caller's transaction (``extra``: the values of
        the extra columns ``sql`` inserts)."""
        if vector is not None:
            row = conn.execute(sql, [*self.dialect.draft_row(draft, vector, model, now), *extra]).fetchone()
            if row:
                return self.dialect.memory(row), False
        stored = self._find(conn, draft.dedup_key, lock=True)
        if stored is None and vector is not None:
            raise InvalidInputError(f"could not insert or find memory {draft.content_hash[:12]}")
        changes = merge(stored, draft) if stored is not None else {}
        if stored is not None and changes:
            stored = self._update_row(conn, stored.id, dict(changes, updated_at=now)) or stored
        return stored, True

    def insert(
        self, drafts: Sequence[MemoryDraft], vectors: Vector, *, model: str, now: datetime
    ) -> list[Memory]:
        return self._write(lambda conn: self._insert(conn, drafts, vectors, model, now))

    def get(self, ids: Sequence[int]) -> dict[int, Memory]:
        def work(conn: Conn) -> dict[int, Memory]:
            found = [
                m
                for chunk in chunks(list(ids))
                for m in self._select(conn, self._where_in("id", len(chunk)), chunk)
            ]
            return {m.id: m for m in found}

        return self._read(work)

    def contents(self, ids: Sequence[int]) -> dict[int, str]:
        def work(conn: Conn) -> dict[int, str]:
            return {
                int(i): str(content)
                for chunk in chunks(list(ids))
                for i, content in conn.execute(
                    f"SELECT id, content FROM memories WHERE {self._where_in('id', len(chunk))}", chunk
                )
            }

        return self._read(work)

    def update(
        self, memory_id: int, changes: Mapping[str, Any], vector: Vector | None, *, model: str, now: datetime
    ) -> Memory | None:
        values = dict(changes, updated_at=now)
        if vector is not None:
            values.update(embedding=vector, embedding_model=model, embedding_dim=len(vector))

        def work(conn: Conn) -> Memory | None:
            updated = self._update_row(conn, memory_id, values)
            if vector is not None:
                self._check_model(conn, model)
            return updated

        try:
            return self._write(work)
        except (StoreError, *self._errors()) as exc:  # type: ignore[misc]
            cause = self._conflict(exc)
            if cause is None:
                raise
            raise InvalidInputError(
                "another memory already holds this content in this scope: nothing was changed",
                hint="Find it with `mahavishnu memory search`; delete one of the two if they say the same.",
            ) from exc

    def _update_row(self, conn: Conn, memory_id: int, values: Mapping[str, Any]) -> Memory | None:
        """Set ``values`` (columns by name) on one row inside the caller's transaction; the row."""
        assignments = ", ".join(f"{name} = {self.dialect.mark}" for name in values)
        sql = f"UPDATE memories SET {assignments} WHERE id = {self.dialect.mark} RETURNING {SELECT_COLUMNS}"
        params = [*(self.dialect.encode(k, v) for k, v in values.items()), memory_id]
        row = conn.execute(sql, params).fetchone()
        return self.dialect.memory(row) if row else None

    def _delete_ids(self, conn: Conn, ids: Sequence[int]) -> int:
        where = [(self._where_in("id", len(chunk)), chunk) for chunk in chunks(list(ids))]
        return sum(self._delete_rows(conn, "memories", w, p) for w, p in where)

    def delete(self, ids: Sequence[int]) -> int:
        return self._write(lambda conn: self._delete_ids(conn, ids))

    def _delete_rows(self, conn: Conn, table: str, where: str, params: Sequence[Any]) -> int:
        """``DELETE FROM table WHERE where`` (``table`` may carry an alias): how many rows went."""
        return int(conn.execute(f"DELETE FROM {table} WHERE {where}", params).rowcount)

    def delete_where(self, filters: Filters) -> int:
        if not filters:
            raise InvalidInputError("refusing to delete every memory: give at least one filter")
        where, params = self.dialect.filter_sql(filters)
        return self._write(lambda c: self._delete_rows(c, "memories AS m", where, params))

    def recent(self, filters: Filters, limit: int, offset: int = 0) -> list[Memory]:
        where, params = self.dialect.filter_sql(filters)
        m = self.dialect.mark
        where += f" ORDER BY created_at DESC, id DESC LIMIT {m} OFFSET {m}"
        return self._read(lambda conn: self._select(conn, where, [*params, limit, offset]))

    def vectors(self, ids: Sequence[int]) -> dict[int, Vector]:
        def work(conn: Conn) -> dict[int, Vector]:
            out: dict[int, Vector] = {}
            for chunk in chunks(list(ids)):
                sql = f"SELECT id, embedding FROM memories AS m WHERE {self._where_in('id', len(chunk))}"
                out.update((int(i), self.dialect.vector_out(e)) for i, e in conn.execute(sql, chunk))
            return out

        return self._read(work)

    def iter_all(self, batch_size: int = 500) -> Iterator[Memory]:
        """Every memory with its vector, from one snapshot, in id order."""
        sql = self._with_vectors_sql()
        with self._snapshot() as conn:
            last = 0
            while rows := conn.execute(sql, (last, batch_size)).fetchall():
                for row in rows:
                    yield self.dialect.memory(row[:-1]).with_embedding(self.dialect.vector_out(row[-1]))
                last = int(rows[-1][0])

    def _with_vectors_sql(self) -> str:
        """``iter_all``'s statement: a batch of memories with their vectors, of ids past a mark (the
        parameters: the last id read, the batch's size)."""
        m = self.dialect.mark
        return f"SELECT {SELECT_COLUMNS}, embedding FROM memories WHERE id > {m} ORDER BY id LIMIT {m}"

    def import_memories(self, memories: Sequence[Memory], *, free_from: int = 1) -> ImportCounts:
        sql = (
            f"INSERT INTO memories (id, {', '.join(INSERT_COLUMNS)}) "
            f"VALUES ({self.dialect.marks(len(INSERT_COLUMNS) + 1)}) ON CONFLICT DO NOTHING RETURNING id"
        )

        numbered = (
            f"INSERT INTO memories ({', '.join(INSERT_COLUMNS)}) "
            f"VALUES ({self.dialect.marks(len(INSERT_COLUMNS))}) RETURNING id"
        )

        def work(conn: Conn) -> ImportCounts:
            imported = skipped = renumbered = 0
            moved: dict[int, int] = {}
            keeps_ids = self._sets_ids(conn)
            for memory in memories:
                same = self._find(conn, dedup_key(memory))
                if same is not None:
                    skipped += 1
                    if same.id != memory.id:
                        moved[memory.id] = same.id
                    continue
                row = self.dialect.memory_row(memory)
                if not keeps_ids:  # a team member: the database numbers the rows
                    moved[memory.id] = int(conn.execute(numbered, row).fetchone()[0])
                    renumbered += moved[memory.id] != memory.id
                elif conn.execute(sql, (memory.id, *row)).fetchone() is None:  # id taken
                    top = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM memories").fetchone()[0]
                    moved[memory.id] = int(conn.execute(sql, (max(int(top), free_from), *row)).fetchone()[0])
                    renumbered += 1
                imported += 1
            if imported:
                self._imported(conn)
            return ImportCounts(imported, skipped, renumbered, moved)

        return self._write(work)

    def _sets_ids(self, conn: Conn) -> bool:
        """Whether this connection may give a row its id (a team member may not: ``team/writes``)."""
        return True

    def stats(self) -> dict[str, Any]:
        def work(conn: Conn) -> dict[str, Any]:
            count, oldest, newest = conn.execute(
                "SELECT count(*), min(created_at), max(created_at) FROM memories"
            ).fetchone()
            by_type = conn.execute("SELECT memory_type, count(*) FROM memories GROUP BY 1 ORDER BY 2 DESC, 1")
            by_project = conn.execute(
                f"SELECT {self.dialect.ifnull}(project, ''), count(*) FROM memories "
                "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50"
            )
            return {
                "count": int(count),
                "by_type": {str(k): int(v) for k, v in by_type},
                "by_project": {str(k): int(v) for k, v in by_project},
                "oldest": format_time(parse_time(oldest)) if oldest else None,
                "newest": format_time(parse_time(newest)) if newest else None,
                **self._storage(conn),
            }

        return self._read(work)

    @abstractmethod
    def _storage(self, conn: Conn) -> dict[str, Any]:
        """``size_bytes`` and ``vector_index`` for ``stats``."""

    # -- reembed ----------------------------------------------------------------------------
    _UNSTAGED = (
        "FROM memories AS m WHERE NOT EXISTS (SELECT 1 FROM embedding_staging AS s WHERE s.memory_id = m.id)"
    )

    def may_reembed(self) -> None:
        return None

    def reembed_pending(self, limit: int) -> list[Unstaged]:
        columns = "id, content, metadata, project, memory_type"
        sql = f"SELECT {columns} {self._UNSTAGED} ORDER BY id LIMIT {self.dialect.mark}"
        rows = self._read(lambda conn: conn.execute(sql, (limit,)).fetchall())
        return [Unstaged(int(i), str(c), self.dialect.json_out(md), p, str(t)) for i, c, md, p, t in rows]

    def reembed_progress(self) -> tuple[int, int]:
        sql = "SELECT (SELECT count(*) FROM embedding_staging), (SELECT count(*) FROM memories)"
        staged, total = self._read(lambda conn: conn.execute(sql).fetchone())
        return int(staged), int(total)

    def stage_vectors(self, ids: Sequence[int], vectors: Vector) -> None:
        m = self.dialect.mark
        sql = (
            f"INSERT INTO embedding_staging (memory_id, embedding) SELECT {m}, {m} WHERE EXISTS "
            f"(SELECT 1 FROM memories WHERE id = {m}) "
            "ON CONFLICT (memory_id) DO UPDATE SET embedding = excluded.embedding"
        )
        rows = [
            (i, self.dialect.vector_in(finite(v, f"memory #{i}")), i)
            for i, v in zip(ids, vectors, strict=True)
        ]
        self._write(lambda conn: conn.cursor().executemany(sql, rows))

    def finish_reembed(self, model: str, dimension: int, meta: Mapping[str, str | None]) -> bool:
        m = self.dialect.mark

        def work(conn: Conn) -> bool:
            self._before_swap(conn)
            if conn.execute(f"SELECT count(*) {self._UNSTAGED}").fetchone()[0]:
                return False
            conn.execute(
                f"UPDATE memories AS m SET embedding_model = {m}, embedding_dim = {m}, "
                "embedding = s.embedding FROM embedding_staging AS s WHERE s.memory_id = m.id",
                (model, dimension),
            )
            conn.execute("DELETE FROM embedding_staging")
            self._set_meta(conn, meta)
            self._vectors_swapped(conn, dimension)
            return True

        return self._write(work)

    def clear_staging(self) -> None:
        self._write(lambda conn: conn.execute("DELETE FROM embedding_staging"))

    # -- repository ingestion ---------------------------------------------------------------
    def scan_metadata(self, filters: Filters, keys: Sequence[str]) -> list[tuple[int, list[Any]]]:
        where, params = self.dialect.filter_sql(filters)
        columns = "".join(f", {self.dialect.json_get}" for _ in keys)
        sql = f"SELECT m.id{columns} FROM memories AS m WHERE {where} ORDER BY m.id"
        values = [*map(self.dialect.json_key, keys), *params]
        return self._read(lambda conn: [(int(row[0]), list(row[1:])) for row in conn.execute(sql, values)])

    def replace(
        self,
        delete_ids: Sequence[int],
        drafts: Sequence[MemoryDraft],
        vectors: Vector,
        *,
        model: str,
        now: datetime,
    ) -> list[Memory]:
        """Delete ``delete_ids`` and insert ``drafts`` in one transaction."""

        def work(conn: Conn) -> list[Memory]:
            self._delete_ids(conn, delete_ids)
            return self._insert(conn, drafts, vectors, model, now)

        return self._write(work)

    def _ingestion_row(self, values: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(values) - set(INGESTION_COLUMNS))
        if unknown:
            raise InvalidInputError(f"unknown ingestion column {unknown[0]!r}")
        row = dict(values)
        if "metadata" in row:
            row["metadata"] = self.dialect.json_in(row["metadata"])
        for name in _INGESTION_TIMES & set(row):
            row[name] = None if row[name] is None else self.dialect.time_in(row[name])
        return row

    def add_ingestion(self, values: Mapping[str, Any]) -> int:
        row = self._ingestion_row(values)
        marks = self.dialect.marks(len(row))
        sql = f"INSERT INTO rag_ingestions ({', '.join(row)}) VALUES ({marks}) RETURNING id"
        return self._write(lambda conn: int(conn.execute(sql, list(row.values())).fetchone()[0]))

    def update_ingestion(self, run_id: int, values: Mapping[str, Any]) -> None:
        row = self._ingestion_row(values)
        if not row:
            return
        assignments = ", ".join(f"{name} = {self.dialect.mark}" for name in row)
        sql = f"UPDATE rag_ingestions SET {assignments} WHERE id = {self.dialect.mark}"
        self._write(lambda conn: conn.execute(sql, (*row.values(), run_id)))

    def ingestions(self, repo_id: str | None = None, limit: int = 1_000) -> list[dict[str, Any]]:
        m = self.dialect.mark
        where, params = (f"WHERE repo_id = {m}", [repo_id]) if repo_id is not None else ("", [])
        columns = ", ".join(INGESTION_COLUMNS)
        sql = f"SELECT id, {columns} FROM rag_ingestions {where} ORDER BY id DESC LIMIT {m}"
        rows = self._read(lambda conn: conn.execute(sql, (*params, limit)).fetchall())
        return [self._ingestion(row) for row in rows]

    def _ingestion(self, row: Sequence[Any]) -> dict[str, Any]:
        run = dict(zip(("id", *INGESTION_COLUMNS), row, strict=True))
        for name in _INGESTION_TIMES:
            if run[name] is not None:
                run[name] = format_time(parse_time(run[name]))
        run["id"] = int(run["id"])
        run["metadata"] = self.dialect.json_out(run["metadata"])
        if run["duration_seconds"] is not None:
            run["duration_seconds"] = float(run["duration_seconds"])
        return run

    def delete_ingestions(self, repo_id: str) -> int:
        where = f"repo_id = {self.dialect.mark}"
        return self._write(lambda conn: self._delete_rows(conn, "rag_ingestions", where, (repo_id,)))

    # -- performance metrics ----------------------------------------------------------------
    def add_metrics(self, component: str, metric_type: str, metrics: Mapping[str, Any], at: str) -> int:
        sql = (
            "INSERT INTO performance_metrics (component, metric_type, metrics, recorded_at) "
            f"VALUES ({self.dialect.marks(4)}) RETURNING id"
        )
        values = (component, metric_type, self.dialect.json_in(metrics), self.dialect.time_in(at))
        return self._write(lambda conn: int(conn.execute(sql, values).fetchone()[0]))

    def metrics(
        self, component: str | None, metric_type: str | None, since: str | None, limit: int
    ) -> list[dict[str, Any]]:
        m = self.dialect.mark
        wanted = [("component", component), ("metric_type", metric_type)]
        clauses = [(f"{name} = {m}", value) for name, value in wanted if value is not None]
        if since is not None:
            clauses.append((f"recorded_at >= {m}", self.dialect.time_in(since)))
        where = f"WHERE {' AND '.join(c for c, _ in clauses)}" if clauses else ""
        sql = (
            "SELECT id, component, metric_type, metrics, recorded_at FROM performance_metrics "
            f"{where} ORDER BY recorded_at DESC, id DESC LIMIT {m}"
        )
        rows = self._read(lambda conn: conn.execute(sql, (*(v for _, v in clauses), limit)).fetchall())
        names = ("id", "component", "metric_type", "metrics", "recorded_at")
        return [
            dict(
                zip(
                    names,
                    (r[0], r[1], r[2], self.dialect.json_out(r[3]), format_time(parse_time(r[4]))),
                    strict=True,
                )
            )
            for r in rows
        ]

    # -- activity records -------------------------------------------------------------------
    def add_records(self, table: str, rows: Sequence[Mapping[str, Any]]) -> list[int | None]:
        spec = records.record_table(table)
        sql = records.insert_sql(spec, self.dialect.mark)
        params = [
            [
                self.dialect.json_in(v) if k in spec.json_columns and v is not None else v
                for k, v in row.items()
            ]
            for row in (records.checked_row(spec, row) for row in rows)
        ]

        def work(conn: Conn) -> list[int | None]:
            found = [conn.execute(sql, row).fetchone() for row in params]
            return [int(got[0]) if got else None for got in found]

        return self._write(work)

    def records(
        self, table: str, where: Mapping[str, Any], *, since: str | None = None, limit: int = 1_000
    ) -> list[dict[str, Any]]:
        spec = records.record_table(table)
        clause, params = records.where_sql(spec, where, since, self.dialect.mark)
        sql = records.select_sql(spec, clause, self.dialect.mark)
        rows = self._read(lambda conn: conn.execute(sql, (*params, limit)).fetchall())
        names = ("id", *spec.columns)
        return [{k: self._record_value(spec, k, v) for k, v in zip(names, row, strict=True)} for row in rows]

    def _record_value(self, spec: RecordTable, name: str, value: Any) -> Any:
        if value is None:
            return None
        if name in spec.json_columns:
            return self.dialect.json_out(value)
        return format_time(value) if isinstance(value, datetime) else value

    def delete_records(self, table: str, where: Mapping[str, Any]) -> int:
        found = records.record_table(table)
        clause, params = records.delete_where(found, where, self.dialect.mark)
        return self._write(lambda conn: self._delete_rows(conn, found.name, clause, params))
