"""The PostgreSQL + pgvector backend: one server shared by many machines and terminals.

- psycopg 3 with a connection pool (``psycopg_pool``); pgvector's adapter sends vectors in binary,
  so float32 values round-trip exactly. Imported lazily: only a store configured for PostgreSQL
  loads psycopg.
- Schema: ``migrations/postgres.py``, applied on connect (each migration in one transaction with the
  row recording it, under an advisory lock so two processes never race).
- Vectors keep the embedder's native dimension; a partial HNSW (or IVFFlat) cosine index per
  dimension serves the vector search, with ``hnsw.iterative_scan`` so a filtered top-k keeps
  scanning until k rows match. Full text: a generated ``tsvector`` with a GIN index, ranked by
  ``ts_rank_cd``.
- Hybrid search is one SQL statement: a vector CTE and a text CTE, fused in SQL by the same
  formulas and settings as ``search.Fusion`` (convex or RRF), so scores mean the same on both backends.
- Every method is one transaction. A connection lost mid-transaction rolls back on the server;
  the method is retried on a fresh connection (writes are idempotent by the dedup key), so a batch
  is applied entirely or not at all.
- ``AsyncPostgresStore``: the async path (``AsyncConnectionPool``) for many concurrent callers.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from mahavishnu.errors import BackendUnavailableError, InvalidInputError, MahavishnuError, StoreError
from mahavishnu.masking import mask_url
from mahavishnu.memory.backends import records
from mahavishnu.memory.backends.base import (
    INGESTION_COLUMNS,
    Backend,
    ImportCounts,
    SearchRequest,
    _need,
    metrics_row,
    metrics_where,
)
from mahavishnu.memory.migrations.postgres import (
    INDEX_KINDS,
    MIGRATIONS,
    TS_CONFIG,
    IndexKind,
    vector_index_name,
    vector_index_sql,
)
from mahavishnu.memory.models import (
    Filters,
    Memory,
    MemoryDraft,
    MigrationState,
    SearchHit,
    Vector,
    format_time,
    parse_time,
    utcnow,
)
from mahavishnu.memory.search import Fusion, Ranked, query_terms

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import AsyncConnectionPool, ConnectionPool

    from mahavishnu.config import MemorySettings
    from mahavishnu.memory.embedders.base import Embedder

_T = TypeVar("_T")
Conn = Any  # psycopg.Connection[Any] (psycopg is imported lazily)
_COLUMNS = (
    "id, content, memory_type, content_hash, embedding_model, embedding_dim, created_at, updated_at, "
    "tags, metadata, project, repo_id, agent_id, session_id, workflow_id, source_system"
)
_INSERT_COLUMNS = (
    "content, memory_type, content_hash, embedding_model, embedding_dim, created_at, updated_at, tags, "
    "metadata, project, repo_id, agent_id, session_id, workflow_id, source_system, embedding"
)
_SCOPE_SQL = (
    "content_hash = %s AND memory_type = %s AND coalesce(project, '') = coalesce(%s, '') "
    "AND coalesce(repo_id, '') = coalesce(%s, '')"
)
_MIGRATION_LOCK = 0x6D61_6876  # pg_advisory_xact_lock key: one migrator at a time
_META_DIMENSION = "dimension"
_CONNECT_TIMEOUT = 5


# -- connecting ------------------------------------------------------------------------------
def resolve_dsn(settings: MemorySettings) -> str:
    """The DSN to use: ``memory.dsn`` (or ``MAHAVISHNU_PG_DSN``, or ``MAHAVISHNU_PG_HOST``/``_PORT``/
    ``_USER``/``_DATABASE``), with the password, when the DSN has
    none, from ``MAHAVISHNU_PG_PASSWORD`` or the secrets store (``pg-password``); libpq's own
    ``PGPASSWORD``/``~/.pgpass`` still apply after that."""
    dsn = settings.dsn or os.environ.get("MAHAVISHNU_PG_DSN") or _dsn_from_parts()
    if not dsn:
        raise StoreError(
            "memory.backend is postgres but no DSN is set",
            hint="Set memory.dsn (or MAHAVISHNU_MEMORY__DSN), e.g. postgresql://user@host:5432/mahavishnu.",
        )
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(dsn)
    except Exception as exc:
        raise StoreError(f"memory.dsn is not a valid PostgreSQL DSN: {mask_url(str(exc))}") from exc
    if params.get("password"):
        return dsn
    password = os.environ.get("MAHAVISHNU_PG_PASSWORD") or _secret_password()
    return make_conninfo(dsn, password=password) if password else dsn


def _dsn_from_parts() -> str | None:
    """``MAHAVISHNU_PG_HOST``/``_PORT``/``_USER``/``_DATABASE`` (host required) as a DSN."""
    parts = {k: os.environ.get(f"MAHAVISHNU_PG_{k.upper()}") for k in ("host", "port", "user", "database")}
    if not parts["host"]:
        return None
    from psycopg.conninfo import make_conninfo

    parts["dbname"] = parts.pop("database")
    return make_conninfo("", **{k: v for k, v in parts.items() if v})


def _secret_password() -> str | None:
    try:
        from mahavishnu.config import load_settings
        from mahavishnu.environments.secrets import lookup

        return lookup("pg-password", load_settings())
    except (MahavishnuError, ImportError):
        return None


def dsn_host(dsn: str) -> str:
    """host[:port] of a DSN (URL or key=value), never its password."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(dsn)
    except Exception:
        return "?"
    host = str(params.get("host") or params.get("hostaddr") or "localhost (socket)")
    return f"{host}:{params['port']}" if params.get("port") else host


def dsn_location(dsn: str) -> str:
    """``postgresql://user@host:port/db``: where the store lives, without the password."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(dsn)
    except Exception:
        return mask_url(dsn)
    user = f"{params['user']}@" if params.get("user") else ""
    return f"postgresql://{user}{dsn_host(dsn)}/{params.get('dbname') or ''}"


def _unavailable(dsn: str, exc: BaseException) -> BackendUnavailableError:
    reason = mask_url(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    if "password authentication failed" in reason or "no password supplied" in reason:
        hint = "Check the user and password (MAHAVISHNU_PG_PASSWORD, secret pg-password or ~/.pgpass)."
    else:
        hint = "Check that the server is running and reachable, and memory.dsn names it."
    return BackendUnavailableError(f"cannot use PostgreSQL at {dsn_host(dsn)}: {reason}", hint=hint)


def _configure(conn: Conn) -> None:
    """Per pooled connection: UTC times, pgvector's adapter, iterative index scans."""
    from pgvector.psycopg import register_vector

    conn.execute("SET TIME ZONE 'UTC'")
    conn.execute("SET hnsw.iterative_scan = relaxed_order")
    conn.execute("SET ivfflat.iterative_scan = relaxed_order")
    register_vector(conn)
    conn.commit()


async def _configure_async(conn: Any) -> None:
    from pgvector.psycopg import register_vector_async

    await conn.execute("SET TIME ZONE 'UTC'")
    await conn.execute("SET hnsw.iterative_scan = relaxed_order")
    await conn.execute("SET ivfflat.iterative_scan = relaxed_order")
    await register_vector_async(conn)
    await conn.commit()


def _retryable(exc: BaseException) -> bool:
    """A lost connection, a server restart, a serialization failure or deadlock: worth one more try."""
    import psycopg
    from psycopg_pool import PoolTimeout

    return isinstance(exc, psycopg.OperationalError) and not isinstance(exc, PoolTimeout)


class PostgresBackend(Backend):
    name = "postgres"

    def __init__(
        self,
        dsn: str,
        *,
        migrate: bool = True,
        index: IndexKind = "hnsw",
        pool_size: int = 10,
        retries: int = 2,
        pool_timeout: float = 15.0,
    ) -> None:
        if index not in INDEX_KINDS:
            raise InvalidInputError(f"unknown vector index {index!r}", hint="Use hnsw or ivfflat.")
        self.dsn = dsn
        self.index_kind: IndexKind = index
        self.retries = retries
        self._pool_size = pool_size
        self._pool_timeout = pool_timeout
        self._pool: ConnectionPool[Any] | None = None
        if migrate:
            self.migrate()
            self._check_vector_index()
        else:
            self.migration_state()  # reachable, and not newer than this code

    def _check_vector_index(self) -> None:
        """Build the configured kind of index for the store's dimension if it is missing (a store
        switched between hnsw and ivfflat is re-indexed on open)."""
        with self._direct() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = %s", (_META_DIMENSION,)).fetchone()
            if row is None:
                return
            name = vector_index_name(self.index_kind, int(row[0]))
            found = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
            if found is None or found[0] is None:
                with conn.transaction():
                    self._ensure_vector_index(conn, int(row[0]))

    # -- connections and transactions ---------------------------------------------------
    def _direct(self) -> psycopg.Connection[Any]:
        import psycopg

        try:
            return psycopg.connect(self.dsn, connect_timeout=_CONNECT_TIMEOUT, autocommit=True)
        except psycopg.Error as exc:
            raise _unavailable(self.dsn, exc) from None

    @property
    def pool(self) -> ConnectionPool[Any]:
        if self._pool is None:
            from psycopg_pool import ConnectionPool

            pool: ConnectionPool[Any] = ConnectionPool(
                self.dsn,
                min_size=1,
                max_size=self._pool_size,
                kwargs={"connect_timeout": _CONNECT_TIMEOUT},
                configure=_configure,
                check=ConnectionPool.check_connection,
                timeout=self._pool_timeout,
                open=False,
                name="mahavishnu-memory",
            )
            try:
                pool.open(wait=True, timeout=self._pool_timeout)
            except Exception as exc:
                pool.close()
                raise _unavailable(self.dsn, exc) from None
            self._pool = pool
        return self._pool

    def run(self, work: Callable[[Conn], _T], *, retry: bool = True) -> _T:
        """``work(conn)`` in one transaction; retried on a fresh connection if the connection is lost
        (the server has rolled the failed attempt back), so it is applied once or not at all."""
        import psycopg

        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            try:
                with self.pool.connection() as conn, conn.transaction():
                    return work(conn)
            except psycopg.Error as exc:
                if not _retryable(exc):
                    if isinstance(exc, psycopg.OperationalError):
                        raise _unavailable(self.dsn, exc) from exc
                    raise StoreError(f"PostgreSQL at {dsn_host(self.dsn)}: {mask_url(str(exc))}") from exc
                if attempt + 1 == attempts:
                    raise _unavailable(self.dsn, exc) from exc
        raise AssertionError("unreachable")

    @property
    def location(self) -> str:
        return dsn_location(self.dsn)

    # -- schema ---------------------------------------------------------------------------
    @staticmethod
    def _applied(conn: Conn) -> dict[str, str]:
        if conn.execute("SELECT to_regclass('_migrations')").fetchone()[0] is None:
            return {}
        rows = conn.execute("SELECT name, applied_at FROM _migrations ORDER BY applied_at, name").fetchall()
        return {str(n): str(at) for n, at in rows}

    def migration_state(self) -> MigrationState:
        with self._direct() as conn:
            applied = self._applied(conn)
        pending = tuple(m.name for m in MIGRATIONS.pending(applied))
        return MigrationState(self.name, self.location, tuple(applied.items()), pending)

    def migrate(self) -> list[str]:
        """Each pending migration in its own transaction with the row recording it."""
        import psycopg

        from mahavishnu.errors import MigrationError

        done: list[str] = []
        with self._direct() as conn:
            while True:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                    conn.execute(
                        "CREATE TABLE IF NOT EXISTS _migrations "
                        "(name text PRIMARY KEY, applied_at text NOT NULL)"
                    )
                    pending = MIGRATIONS.pending(self._applied(conn))
                    if not pending:
                        break
                    migration = pending[0]
                    try:
                        migration.apply(conn)
                    except psycopg.Error as exc:
                        raise MigrationError(
                            f"migration {migration.name} failed on {self.location}: {mask_url(str(exc))}"
                        ) from exc
                    conn.execute(
                        "INSERT INTO _migrations VALUES (%s, %s)", (migration.name, format_time(utcnow()))
                    )
                    done.append(migration.name)
        return done

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def get_meta(self, key: str) -> str | None:
        row = self.run(lambda c: c.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone())
        return None if row is None else str(row[0])

    def set_meta(self, values: Mapping[str, str | None]) -> None:
        def work(conn: Conn) -> None:
            _set_meta(conn, values)
            if values.get(_META_DIMENSION):
                self._ensure_vector_index(conn, int(str(values[_META_DIMENSION])))

        self.run(work)

    def _ensure_vector_index(self, conn: Conn, dimension: int) -> None:
        """The ANN index of the store's dimension (and only that one)."""
        keep = vector_index_name(self.index_kind, dimension)
        stale = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'memories' "
            "AND indexname LIKE 'memories_embedding_%%' AND indexname <> %s",
            (keep,),
        ).fetchall()
        for (name,) in stale:
            conn.execute(f'DROP INDEX IF EXISTS "{name}"')
        conn.execute(vector_index_sql(self.index_kind, dimension))

    # -- rows -----------------------------------------------------------------------------
    def find_existing(self, drafts: Sequence[MemoryDraft]) -> dict[tuple[Any, ...], Memory]:
        wanted = {d.dedup_key for d in drafts}
        hashes = sorted({key[0] for key in wanted})
        sql = f"SELECT {_COLUMNS} FROM memories WHERE content_hash = ANY(%s)"
        rows = self.run(lambda c: c.execute(sql, (hashes,)).fetchall())
        return {_key(m): m for m in map(_memory, rows) if _key(m) in wanted}

    def insert(
        self, drafts: Sequence[MemoryDraft], vectors: Vector, *, model: str, now: datetime
    ) -> list[Memory]:
        rows = [_draft_row(d, v, model, now) for d, v in zip(drafts, vectors, strict=True)]
        return self.run(lambda conn: insert_rows(conn, drafts, rows))

    def get(self, ids: Sequence[int]) -> dict[int, Memory]:
        sql = f"SELECT {_COLUMNS} FROM memories WHERE id = ANY(%s)"
        rows = self.run(lambda c: c.execute(sql, (list(ids),)).fetchall())
        return {int(r[0]): _memory(r) for r in rows}

    def update(
        self, memory_id: int, changes: Mapping[str, Any], vector: Vector | None, *, model: str, now: datetime
    ) -> Memory | None:
        import psycopg

        values = {name: _to_column(name, value) for name, value in changes.items()}
        values["updated_at"] = now
        if vector is not None:
            values.update(embedding=_as_vector(vector), embedding_model=model, embedding_dim=len(vector))
        assignments = ", ".join(f"{name} = %s" for name in values)
        sql = f"UPDATE memories SET {assignments} WHERE id = %s RETURNING {_COLUMNS}"
        try:
            row = self.run(lambda c: c.execute(sql, (*values.values(), memory_id)).fetchone())
        except StoreError as exc:
            if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                raise InvalidInputError(
                    f"another memory already holds this content in this scope ({exc.__cause__})"
                ) from exc
            raise
        return _memory(row) if row else None

    def delete(self, ids: Sequence[int]) -> int:
        return int(
            self.run(lambda c: c.execute("DELETE FROM memories WHERE id = ANY(%s)", (list(ids),)).rowcount)
        )

    def delete_where(self, filters: Filters) -> int:
        if not filters:
            raise InvalidInputError("refusing to delete every memory: give at least one filter")
        where, params = filter_sql(filters)
        return int(self.run(lambda c: c.execute(f"DELETE FROM memories AS m WHERE {where}", params).rowcount))

    def recent(self, filters: Filters, limit: int, offset: int = 0) -> list[Memory]:
        where, params = filter_sql(filters)
        sql = (
            f"SELECT {_COLUMNS} FROM memories AS m WHERE {where} "
            "ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s"
        )
        rows = self.run(lambda c: c.execute(sql, {**params, "limit": limit, "offset": offset}).fetchall())
        return [_memory(r) for r in rows]

    def iter_all(self, batch_size: int = 500) -> Iterator[Memory]:
        """Every memory with its vector, from one snapshot (REPEATABLE READ), in id order."""
        sql = f"SELECT {_COLUMNS}, embedding FROM memories WHERE id > %s ORDER BY id LIMIT %s"
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            last = 0
            while True:
                with conn.cursor(binary=True) as cur:
                    rows = cur.execute(sql, (last, batch_size)).fetchall()
                if not rows:
                    break
                for row in rows:
                    yield _memory(row[:-1]).with_embedding(_to_numpy(row[-1]))
                last = int(rows[-1][0])

    def import_memories(self, memories: Sequence[Memory], *, free_from: int = 1) -> ImportCounts:
        sql = (
            f"INSERT INTO memories (id, {_INSERT_COLUMNS}) VALUES (%s, {', '.join(['%s'] * 16)}) "
            "ON CONFLICT DO NOTHING RETURNING id"
        )

        def work(conn: Conn) -> ImportCounts:
            imported = skipped = renumbered = 0
            moved: dict[int, int] = {}
            for memory in memories:
                same = _find(conn, _key(memory))
                if same is not None:
                    skipped += 1
                    if same.id != memory.id:
                        moved[memory.id] = same.id
                    continue
                row = _memory_row(memory)
                if conn.execute(sql, (memory.id, *row)).fetchone() is None:  # id taken
                    top = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM memories").fetchone()[0]
                    moved[memory.id] = int(conn.execute(sql, (max(int(top), free_from), *row)).fetchone()[0])
                    renumbered += 1
                imported += 1
            if imported:  # new rows never reuse an imported id
                conn.execute(
                    "SELECT setval(pg_get_serial_sequence('memories', 'id'), "
                    "greatest((SELECT max(id) FROM memories), "
                    "(SELECT last_value FROM pg_sequences WHERE sequencename = 'memories_id_seq')))"
                )
            return ImportCounts(imported, skipped, renumbered, moved)

        return self.run(work)

    def stats(self) -> dict[str, Any]:
        def work(conn: Conn) -> dict[str, Any]:
            count, oldest, newest = conn.execute(
                "SELECT count(*), min(created_at), max(created_at) FROM memories"
            ).fetchone()
            by_type = dict(
                conn.execute("SELECT memory_type, count(*) FROM memories GROUP BY 1 ORDER BY 2 DESC, 1")
            )
            by_project = dict(
                conn.execute(
                    "SELECT coalesce(project, ''), count(*) FROM memories "
                    "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50"
                )
            )
            size = conn.execute("SELECT pg_total_relation_size('memories')").fetchone()[0]
            indexes = [
                r[0]
                for r in conn.execute(
                    "SELECT indexname FROM pg_indexes WHERE tablename = 'memories' "
                    "AND indexname LIKE 'memories_embedding_%' ORDER BY 1"
                )
            ]
            return {
                "count": int(count),
                "by_type": {str(k): int(v) for k, v in by_type.items()},
                "by_project": {str(k): int(v) for k, v in by_project.items()},
                "oldest": format_time(oldest) if oldest else None,
                "newest": format_time(newest) if newest else None,
                "size_bytes": int(size),
                "vector_index": {"kind": self.index_kind, "indexes": indexes},
            }

        return self.run(work)

    # -- search ---------------------------------------------------------------------------
    def vector_search(self, vector: Vector, filters: Filters, k: int) -> list[Ranked]:
        return self.search(SearchRequest("vector", filters, k, vector=vector))

    def text_search(self, text: str, filters: Filters, k: int) -> list[Ranked]:
        return self.search(SearchRequest("text", filters, k, text=text))

    def search(self, request: SearchRequest) -> list[Ranked]:
        """Every mode is one SQL statement (see ``search_sql``); so is hybrid with convex or RRF
        fusion, while z-score fusion runs both legs and fuses in Python (``search.py``)."""
        if request.mode == "hybrid" and request.fusion.method not in SQL_FUSIONS:
            return super().search(request)
        sql, params, ef_search = search_sql(request)

        def work(conn: Conn) -> list[Ranked]:
            conn.execute(f"SET LOCAL hnsw.ef_search = {ef_search}")
            conn.execute(f"SET LOCAL ivfflat.probes = {_probes(ef_search)}")
            return [_ranked(request.mode, row) for row in conn.execute(sql, params)]

        return self.run(work)

    # -- reembed --------------------------------------------------------------------------
    def reembed_pending(self, limit: int) -> list[tuple[int, str]]:
        sql = (
            "SELECT id, content FROM memories AS m WHERE NOT EXISTS "
            "(SELECT 1 FROM embedding_staging AS s WHERE s.memory_id = m.id) ORDER BY id LIMIT %s"
        )
        return [(int(i), str(c)) for i, c in self.run(lambda c: c.execute(sql, (limit,)).fetchall())]

    def reembed_progress(self) -> tuple[int, int]:
        row = self.run(
            lambda c: c.execute(
                "SELECT (SELECT count(*) FROM embedding_staging), (SELECT count(*) FROM memories)"
            ).fetchone()
        )
        return int(row[0]), int(row[1])

    def stage_vectors(self, ids: Sequence[int], vectors: Vector) -> None:
        sql = (
            "INSERT INTO embedding_staging (memory_id, embedding) SELECT %s, %s WHERE EXISTS "
            "(SELECT 1 FROM memories WHERE id = %s) "
            "ON CONFLICT (memory_id) DO UPDATE SET embedding = excluded.embedding"
        )
        rows = [(i, _as_vector(v), i) for i, v in zip(ids, vectors, strict=True)]
        self.run(lambda c: c.cursor().executemany(sql, rows))

    def finish_reembed(self, model: str, dimension: int, meta: Mapping[str, str | None]) -> bool:
        def work(conn: Conn) -> bool:
            conn.execute("LOCK TABLE memories IN SHARE ROW EXCLUSIVE MODE")  # no insert sneaks in
            missing = conn.execute(
                "SELECT count(*) FROM memories AS m WHERE NOT EXISTS "
                "(SELECT 1 FROM embedding_staging AS s WHERE s.memory_id = m.id)"
            ).fetchone()[0]
            if missing:
                return False
            conn.execute(
                "UPDATE memories AS m SET embedding_model = %s, embedding_dim = %s, embedding = s.embedding "
                "FROM embedding_staging AS s WHERE s.memory_id = m.id",
                (model, dimension),
            )
            conn.execute("DELETE FROM embedding_staging")
            _set_meta(conn, meta)
            self._ensure_vector_index(conn, dimension)
            return True

        return self.run(work)

    def clear_staging(self) -> None:
        self.run(lambda c: c.execute("DELETE FROM embedding_staging"))

    # -- repository ingestion -------------------------------------------------------------
    def scan_metadata(self, filters: Filters, keys: Sequence[str]) -> list[tuple[int, list[Any]]]:
        where, params = filter_sql(filters)
        columns = "".join(f", m.metadata -> %(mk_{i})s::text" for i in range(len(keys)))
        params.update({f"mk_{i}": key for i, key in enumerate(keys)})
        sql = f"SELECT m.id{columns} FROM memories AS m WHERE {where} ORDER BY m.id"
        rows = self.run(lambda c: c.execute(sql, params).fetchall())
        return [(int(row[0]), list(row[1:])) for row in rows]

    def replace(
        self,
        delete_ids: Sequence[int],
        drafts: Sequence[MemoryDraft],
        vectors: Vector,
        *,
        model: str,
        now: datetime,
    ) -> list[Memory]:
        """Delete ``delete_ids`` and insert ``drafts`` in one transaction (retried as a whole)."""
        ids = list(delete_ids)
        rows = [_draft_row(d, v, model, now) for d, v in zip(drafts, vectors, strict=True)]

        def work(conn: Conn) -> list[Memory]:
            if ids:
                conn.execute("DELETE FROM memories WHERE id = ANY(%s)", (ids,))
            return insert_rows(conn, drafts, rows)

        return self.run(work)

    def add_ingestion(self, values: Mapping[str, Any]) -> int:
        row = _ingestion_row(values)
        sql = (
            f"INSERT INTO rag_ingestions ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))}) "
            "RETURNING id"
        )
        return int(self.run(lambda c: c.execute(sql, list(row.values())).fetchone()[0]))

    def update_ingestion(self, run_id: int, values: Mapping[str, Any]) -> None:
        row = _ingestion_row(values)
        if not row:
            return
        assignments = ", ".join(f"{name} = %s" for name in row)
        sql = f"UPDATE rag_ingestions SET {assignments} WHERE id = %s"
        self.run(lambda c: c.execute(sql, (*row.values(), run_id)))

    def ingestions(self, repo_id: str | None = None, limit: int = 1_000) -> list[dict[str, Any]]:
        where = "WHERE repo_id = %(repo_id)s" if repo_id is not None else ""
        sql = (
            f"SELECT id, {', '.join(INGESTION_COLUMNS)} FROM rag_ingestions {where} "
            "ORDER BY id DESC LIMIT %(limit)s"
        )
        rows = self.run(lambda c: c.execute(sql, {"repo_id": repo_id, "limit": limit}).fetchall())
        return [_ingestion(row) for row in rows]

    def delete_ingestions(self, repo_id: str) -> int:
        sql = "DELETE FROM rag_ingestions WHERE repo_id = %s"
        return int(self.run(lambda c: c.execute(sql, (repo_id,)).rowcount))

    def add_metrics(self, component: str, metric_type: str, metrics: Mapping[str, Any], at: str) -> int:
        sql = (
            "INSERT INTO performance_metrics (component, metric_type, metrics, recorded_at) "
            "VALUES (%s, %s, %s, %s::timestamptz) RETURNING id"
        )
        values = (component, metric_type, _jsonb(dict(metrics)), at)
        return int(self.run(lambda c: c.execute(sql, values).fetchone()[0]))

    def metrics(
        self, component: str | None, metric_type: str | None, since: str | None, limit: int
    ) -> list[dict[str, Any]]:
        where, params = metrics_where(component, metric_type, since, "%s")
        sql = (
            "SELECT id, component, metric_type, metrics, recorded_at FROM performance_metrics "
            f"{where} ORDER BY recorded_at DESC, id DESC LIMIT %s"
        )
        rows = self.run(lambda c: c.execute(sql, (*params, limit)).fetchall())
        return [metrics_row(r[0], r[1], r[2], r[3], format_time(r[4])) for r in rows]

    # -- activity records -----------------------------------------------------------------
    def add_records(self, table: str, rows: Sequence[Mapping[str, Any]]) -> list[int | None]:
        from psycopg.types.json import Jsonb

        spec = records.record_table(table)
        sql = records.insert_sql(spec, "%s")
        values = [records.checked_row(spec, row) for row in rows]
        params = [
            [Jsonb(v) if k in spec.json_columns and v is not None else v for k, v in row.items()]
            for row in values
        ]

        def insert(conn: Conn) -> list[int | None]:
            out: list[int | None] = []
            for row in params:
                got = conn.execute(sql, row).fetchone()
                out.append(int(got[0]) if got else None)
            return out

        return self.run(insert)

    def records(
        self, table: str, where: Mapping[str, Any], *, since: str | None = None, limit: int = 1_000
    ) -> list[dict[str, Any]]:
        spec = records.record_table(table)
        clause, params = records.where_sql(spec, where, since, "%s")
        sql = records.select_sql(spec, clause, "%s")
        rows = self.run(lambda c: c.execute(sql, (*params, limit)).fetchall())
        names = ("id", *spec.columns)
        return [
            {k: format_time(v) if isinstance(v, datetime) else v for k, v in zip(names, row, strict=True)}
            for row in rows
        ]

    def delete_records(self, table: str, where: Mapping[str, Any]) -> int:
        sql, params = records.delete_sql(records.record_table(table), where, "%s")
        return int(self.run(lambda c: c.execute(sql, params).rowcount))


def open_backend(settings: MemorySettings, *, migrate: bool = True) -> PostgresBackend:
    """What ``store.open_backend`` calls for ``memory.backend: postgres``. The vector index kind is
    ``hnsw`` unless ``MAHAVISHNU_PG_INDEX=ivfflat``."""
    kind = os.environ.get("MAHAVISHNU_PG_INDEX", "hnsw")
    if kind not in INDEX_KINDS:
        raise InvalidInputError(f"MAHAVISHNU_PG_INDEX={kind!r}", hint="Use hnsw or ivfflat.")
    return PostgresBackend(resolve_dsn(settings), migrate=migrate, index=kind)  # type: ignore[arg-type]


# -- SQL shared by the sync and async paths --------------------------------------------------
def insert_rows(conn: Conn, drafts: Sequence[MemoryDraft], rows: Sequence[tuple[Any, ...]]) -> list[Memory]:
    """Insert rows for drafts; a draft whose dedup key exists (also from a concurrent writer) returns it."""
    sql = (
        f"INSERT INTO memories ({_INSERT_COLUMNS}) VALUES ({', '.join(['%s'] * 16)}) "
        f"ON CONFLICT DO NOTHING RETURNING {_COLUMNS}"
    )
    out = []
    for draft, row in zip(drafts, rows, strict=True):
        got = conn.execute(sql, row).fetchone()
        memory = _memory(got) if got else _find(conn, draft.dedup_key)
        if memory is None:
            raise StoreError(f"could not insert or find memory {draft.content_hash[:12]}")
        out.append(memory)
    return out


def filter_sql(filters: Filters) -> tuple[str, dict[str, Any]]:
    """A WHERE clause over ``memories AS m`` with named parameters (``true`` when there is no filter)."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if filters.types:
        clauses.append("m.memory_type = ANY(%(f_types)s)")
        params["f_types"] = list(filters.types)
    if filters.project is not None or filters.group is not None:
        clauses.append(_project_sql(filters))
        params["f_project"] = filters.project if filters.group is None else filters.group
    for name, value in filters.labels().items():
        clauses.append(f"m.{name} = %(f_{name})s")
        params[f"f_{name}"] = value
    if filters.tags:
        clauses.append("m.tags @> %(f_tags)s::text[]")
        params["f_tags"] = list(filters.tags)
    if filters.since is not None:
        clauses.append("m.created_at >= %(f_since)s")
        params["f_since"] = filters.since
    if filters.until is not None:
        clauses.append("m.created_at < %(f_until)s")
        params["f_until"] = filters.until
    return (" AND ".join(clauses) or "true"), params


def _project_sql(filters: Filters) -> str:
    """The project (or group) scope, widened with ``shared`` to insights shared with it."""
    if filters.group is not None:
        projects = "SELECT project FROM project_group_members WHERE group_name = %(f_project)s"
        clause = f"m.project IN ({projects})"
    else:
        projects, clause = "%(f_project)s", "m.project = %(f_project)s"
    if not filters.shared:
        return clause
    return f"({clause} OR m.id IN (SELECT memory_id FROM insight_shares WHERE project IN ({projects})))"


def tsquery_text(text: str) -> str:
    """The query's terms (as the embedded backend picks them) OR-ed for ``to_tsquery``."""
    return " | ".join(f"'{t}'" for t in query_terms(text) if "'" not in t and "\\" not in t)


def search_sql(request: SearchRequest) -> tuple[str, dict[str, Any], int]:
    """(statement, parameters, ef_search) answering ``request`` in one statement.

    Rows: vector mode (id, cosine); text mode (id, rank); hybrid (id, fused, cosine, rank)."""
    where, params = filter_sql(request.filters)
    depth = request.limit if request.mode != "hybrid" else max(request.fusion.depth, request.limit)
    params["depth"], params["limit"] = depth, request.limit
    legs = []
    if request.mode != "text":
        vector = _need(request.vector)
        dim = len(vector)
        params["q"] = _as_vector(vector)
        legs.append(
            "v AS MATERIALIZED (SELECT m.id, "
            f"m.embedding::vector({dim}) <=> %(q)s::vector({dim}) AS distance FROM memories AS m "
            f"WHERE m.embedding_dim = {dim} AND {where} ORDER BY distance LIMIT %(depth)s)"
        )
    if request.mode != "vector":
        params["tsq"] = tsquery_text(_need(request.text))
        match = "m.content_tsv @@ q" if params["tsq"] else "false"
        legs.append(
            f"t AS MATERIALIZED (SELECT m.id, ts_rank_cd(m.content_tsv, q)::float8 AS score "
            f"FROM memories AS m, to_tsquery('{TS_CONFIG}', %(tsq)s) AS q WHERE {match} AND {where} "
            "ORDER BY score DESC, m.id LIMIT %(depth)s)"
        )
    ef_search = min(1000, max(40, depth))
    if request.mode == "vector":
        return f"WITH {legs[0]} SELECT id, 1 - distance FROM v ORDER BY distance, id", params, ef_search
    if request.mode == "text":
        return f"WITH {legs[0]} SELECT id, score FROM t ORDER BY score DESC, id", params, ef_search
    fusion = request.fusion
    if fusion.method not in SQL_FUSIONS:
        raise StoreError(f"{fusion.method} fusion is not done in SQL: fuse both legs' results in Python")
    params.update(alpha=fusion.alpha, rrf_k=fusion.rrf_k)
    sql = f"""
        WITH {legs[0]}, {legs[1]},
        vr AS (SELECT id, 1 - distance AS score, row_number() OVER (ORDER BY distance, id) AS rank FROM v),
        tr AS (SELECT id, score, row_number() OVER (ORDER BY score DESC, id) AS rank FROM t),
        j AS (
            SELECT coalesce(vr.id, tr.id) AS id, vr.score AS vs, tr.score AS ts, vr.rank AS vrank,
                   tr.rank AS trank, max(vr.score) OVER () AS vmax, max(tr.score) OVER () AS tmax
            FROM vr FULL JOIN tr ON vr.id = tr.id
        ),
        f AS (SELECT id, {_CONVEX if fusion.method == "convex" else _RRF} AS score, vs, ts FROM j)
        SELECT id, score, vs, ts FROM f ORDER BY score DESC, id LIMIT %(limit)s
    """
    return sql, params, ef_search


def _scaled_sql(value: str, top: str) -> str:
    """``search._scaled(value, 0, top)`` in SQL (0 where the leg did not find the row)."""
    return (
        f"(CASE WHEN {value} IS NULL THEN 0 WHEN {top} <= 0 THEN (CASE WHEN {value} > 0 THEN 1 ELSE 0 END) "
        f"ELSE least(1, greatest(0, {value} / {top})) END)"
    )


_CONVEX = (
    f"%(alpha)s::float8 * {_scaled_sql('vs', 'vmax')} + (1 - %(alpha)s::float8) * {_scaled_sql('ts', 'tmax')}"
)
_RRF = (
    "(coalesce(%(alpha)s::float8 / (%(rrf_k)s + vrank), 0) "
    "+ coalesce((1 - %(alpha)s::float8) / (%(rrf_k)s + trank), 0)) * (%(rrf_k)s + 1)"
)


#: The fusion methods ``search_sql`` does in SQL.
SQL_FUSIONS = ("convex", "rrf")


def _probes(ef_search: int) -> int:
    return max(10, min(100, ef_search // 4))


def _ranked(mode: str, row: Sequence[Any]) -> Ranked:
    if mode == "vector":
        return Ranked(int(row[0]), float(row[1]), vector_score=float(row[1]))
    if mode == "text":
        return Ranked(int(row[0]), float(row[1]), text_score=float(row[1]))
    vs, ts = row[2], row[3]
    return Ranked(
        int(row[0]),
        float(row[1]),
        None if vs is None else float(vs),
        None if ts is None else float(ts),
    )


def _set_meta(conn: Conn, values: Mapping[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            conn.execute("DELETE FROM meta WHERE key = %s", (key,))
        else:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


_INGESTION_TIMES = frozenset({"started_at", "finished_at"})


def _ingestion_row(values: Mapping[str, Any]) -> dict[str, Any]:
    """Column values for ``rag_ingestions``: metadata as jsonb, times (text or datetime) as timestamptz."""
    unknown = sorted(set(values) - set(INGESTION_COLUMNS))
    if unknown:
        raise InvalidInputError(f"unknown ingestion column {unknown[0]!r}")
    row: dict[str, Any] = {}
    for name, value in values.items():
        if name == "metadata":
            row[name] = _jsonb(value)
        elif name in _INGESTION_TIMES and value is not None:
            row[name] = parse_time(value)
        else:
            row[name] = value
    return row


def _ingestion(row: Sequence[Any]) -> dict[str, Any]:
    """A ``rag_ingestions`` row as the embedded backend returns it: times as ``format_time`` text."""
    run = dict(zip(("id", *INGESTION_COLUMNS), row, strict=True))
    for name in _INGESTION_TIMES:
        if run[name] is not None:
            run[name] = format_time(run[name])
    run["id"] = int(run["id"])
    run["metadata"] = dict(run["metadata"])
    if run["duration_seconds"] is not None:
        run["duration_seconds"] = float(run["duration_seconds"])
    return run


def _find(conn: Conn, key: tuple[Any, ...]) -> Memory | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM memories WHERE {_SCOPE_SQL}", key).fetchone()
    return _memory(row) if row else None


def _key(memory: Memory) -> tuple[Any, ...]:
    return (memory.content_hash, memory.memory_type, memory.project, memory.repo_id)


def _memory(row: Sequence[Any]) -> Memory:
    (id_, content, type_, hash_, model, dim, created, updated, tags, metadata, *scope) = row
    project, repo_id, agent_id, session_id, workflow_id, source_system = scope
    return Memory(
        id=int(id_),
        content=content,
        memory_type=type_,
        content_hash=hash_,
        embedding_model=model,
        embedding_dim=int(dim),
        created_at=parse_time(created),
        updated_at=parse_time(updated),
        tags=tuple(tags),
        metadata=dict(metadata),
        project=project,
        repo_id=repo_id,
        agent_id=agent_id,
        session_id=session_id,
        workflow_id=workflow_id,
        source_system=source_system,
    )


def _jsonb(value: Mapping[str, Any]) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(dict(value))


def _draft_row(draft: MemoryDraft, vector: Vector, model: str, now: datetime) -> tuple[Any, ...]:
    return (
        draft.content,
        draft.type,
        draft.content_hash,
        model,
        len(vector),
        now,
        now,
        list(draft.tags),
        _jsonb(draft.metadata),
        draft.project,
        draft.repo_id,
        draft.agent_id,
        draft.session_id,
        draft.workflow_id,
        draft.source_system,
        _as_vector(vector),
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
        m.created_at,
        m.updated_at,
        list(m.tags),
        _jsonb(m.metadata),
        m.project,
        m.repo_id,
        m.agent_id,
        m.session_id,
        m.workflow_id,
        m.source_system,
        _as_vector(m.embedding),
    )


def _to_column(name: str, value: Any) -> Any:
    if name == "tags":
        return list(value)
    if name == "metadata":
        return _jsonb(value)
    return value


def _as_vector(vector: Vector) -> Any:
    from pgvector import Vector as PgVector

    return PgVector(np.ascontiguousarray(vector, dtype=np.float32))


def _to_numpy(value: Any) -> Vector:
    array = value.to_numpy() if hasattr(value, "to_numpy") else value
    return np.asarray(array, dtype=np.float32)


# -- the async path ---------------------------------------------------------------------------
class AsyncPostgresStore:
    """Store and search from many coroutines at once over an ``AsyncConnectionPool``.

    Open with ``await AsyncPostgresStore.open(dsn, embedder)`` (migrates and binds the embedder like
    ``MemoryStore``), close with ``await store.close()``. Each call is one transaction, retried on a
    lost connection like the sync backend. Embedding runs in a worker thread."""

    def __init__(self, dsn: str, embedder: Embedder, pool: AsyncConnectionPool[Any], retries: int) -> None:
        self.dsn = dsn
        self.embedder = embedder
        self.pool = pool
        self.retries = retries

    @classmethod
    async def open(
        cls,
        dsn: str,
        embedder: Embedder,
        *,
        pool_size: int = 10,
        retries: int = 2,
        max_content_chars: int = 100_000,
    ) -> AsyncPostgresStore:
        from psycopg_pool import AsyncConnectionPool

        from mahavishnu.config import MemorySettings
        from mahavishnu.memory.store import MemoryStore

        def bind() -> None:  # migrations and the embedder check, as the sync store does them
            MemoryStore(
                PostgresBackend(dsn), MemorySettings(max_content_chars=max_content_chars), embedder
            ).close()

        await asyncio.to_thread(bind)
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            kwargs={"connect_timeout": _CONNECT_TIMEOUT},
            configure=_configure_async,
            check=AsyncConnectionPool.check_connection,
            open=False,
            name="mahavishnu-memory-async",
        )
        try:
            await pool.open(wait=True, timeout=15)
        except Exception as exc:
            await pool.close()
            raise _unavailable(dsn, exc) from None
        store = cls(dsn, embedder, pool, retries)
        store.max_content_chars = max_content_chars
        return store

    max_content_chars = 100_000

    async def close(self) -> None:
        await self.pool.close()

    async def run(self, work: Callable[[Any], Any]) -> Any:
        import psycopg

        for attempt in range(self.retries + 1):
            try:
                async with self.pool.connection() as conn, conn.transaction():
                    return await work(conn)
            except psycopg.Error as exc:
                if not _retryable(exc) or attempt == self.retries:
                    raise _unavailable(self.dsn, exc) from exc
        raise AssertionError("unreachable")

    async def store_many(self, items: Sequence[MemoryDraft | Mapping[str, Any]]) -> list[Memory]:
        drafts = [MemoryDraft.coerce(item).checked(self.max_content_chars) for item in items]
        vectors = await asyncio.to_thread(
            self.embedder.embed_many, [d.content for d in drafts], kind="document"
        )
        now = utcnow()
        rows = [_draft_row(d, v, self.embedder.identity, now) for d, v in zip(drafts, vectors, strict=True)]
        sql = (
            f"INSERT INTO memories ({_INSERT_COLUMNS}) VALUES ({', '.join(['%s'] * 16)}) "
            f"ON CONFLICT DO NOTHING RETURNING {_COLUMNS}"
        )

        async def work(conn: Any) -> list[Memory]:
            out = []
            for draft, row in zip(drafts, rows, strict=True):
                got = await (await conn.execute(sql, row)).fetchone()
                if got is None:
                    found = await conn.execute(
                        f"SELECT {_COLUMNS} FROM memories WHERE {_SCOPE_SQL}", draft.dedup_key
                    )
                    got = await found.fetchone()
                out.append(_memory(got))
            return out

        result: list[Memory] = await self.run(work)
        return result

    async def store(self, content: str, type: str = "note", **fields: Any) -> Memory:
        return (await self.store_many([{"content": content, "type": type, **fields}]))[0]

    async def search(
        self,
        query: str,
        *,
        mode: str = "hybrid",
        filters: Filters | Mapping[str, Any] | None = None,
        limit: int = 10,
        fusion: Fusion | None = None,
    ) -> list[SearchHit]:
        from mahavishnu.memory.models import SEARCH_MODES
        from mahavishnu.memory.store import MAX_LIMIT

        if not query.strip():
            raise InvalidInputError("the search query is empty")
        if mode not in SEARCH_MODES or not 1 <= limit <= MAX_LIMIT:
            raise InvalidInputError(f"invalid search: mode {mode!r}, limit {limit}")
        vector = None
        if mode != "text":
            vector = (await asyncio.to_thread(self.embedder.embed_many, [query], kind="query"))[0]
        request = SearchRequest(
            mode=mode,  # type: ignore[arg-type]
            filters=Filters.coerce(filters),
            limit=limit,
            vector=vector,
            text=query if mode != "vector" else None,
            fusion=fusion or Fusion(),
        )
        sql, params, ef_search = search_sql(request)

        async def work(conn: Any) -> list[SearchHit]:
            await conn.execute(f"SET LOCAL hnsw.ef_search = {ef_search}")
            ranked = [_ranked(mode, r) for r in await (await conn.execute(sql, params)).fetchall()]
            rows = await (
                await conn.execute(
                    f"SELECT {_COLUMNS} FROM memories WHERE id = ANY(%s)", ([r.id for r in ranked],)
                )
            ).fetchall()
            by_id = {int(r[0]): _memory(r) for r in rows}
            return [
                SearchHit(by_id[r.id], r.score, r.modes, "memory", r.vector_score, r.text_score)
                for r in ranked
                if r.id in by_id
            ]

        hits: list[SearchHit] = await self.run(work)
        return hits

    async def count(self) -> int:
        async def work(conn: Any) -> int:
            row = await (await conn.execute("SELECT count(*) FROM memories")).fetchone()
            return int(row[0])

        result: int = await self.run(work)
        return result
