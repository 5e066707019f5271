"""Roles with fewer rights than the store's owner: a read/write role uses a migrated store without
any DDL; where a migration is pending and the role may not run it, one clear error says who can.
Also: a database without pgvector, for a role that may not create the extension."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("psycopg")

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from mahavishnu.cli.main import app
from mahavishnu.config import MemorySettings
from mahavishnu.errors import MigrationError
from mahavishnu.memory.core.backends.postgres import PostgresBackend
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore

SETTINGS = MemorySettings(max_content_chars=2_000, relevance_floor=0.0)
ROLE_PASSWORD = "role-pw-5678"
_names = itertools.count()


class Cluster:
    """Roles and databases made for one test on the session's server, dropped after it."""

    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn
        self.roles: list[str] = []
        self.databases: list[str] = []

    def admin(self, sql: str, dbname: str | None = None) -> None:
        dsn = make_conninfo(self.admin_dsn, dbname=dbname) if dbname else self.admin_dsn
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]  # literal SQL of this module

    def role(self, options: str = "") -> str:
        name = f"mv_role_{os.getpid()}_{next(_names)}"
        self.admin(f"CREATE ROLE {name} LOGIN PASSWORD '{ROLE_PASSWORD}' {options}")
        self.roles.append(name)
        return name

    def database(self, owner: str = "postgres") -> str:
        name = f"mv_priv_{os.getpid()}_{next(_names)}"
        self.admin(f'CREATE DATABASE "{name}" OWNER {owner}')
        self.databases.append(name)
        return name

    def dsn(self, dbname: str, role: str | None = None) -> str:
        if role is None:
            return make_conninfo(self.admin_dsn, dbname=dbname)
        return make_conninfo(self.admin_dsn, dbname=dbname, user=role, password=ROLE_PASSWORD)

    def grant_read_write(self, dbname: str, role: str) -> None:
        """USAGE on schema public; SELECT/INSERT/UPDATE/DELETE on every table; USAGE on sequences."""
        for sql in (
            f'GRANT CONNECT ON DATABASE "{dbname}" TO {role}',
            f"GRANT USAGE ON SCHEMA public TO {role}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
            f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}",
        ):
            self.admin(sql, dbname)

    def drop(self) -> None:
        for name in self.databases:
            self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for name in self.roles:
            self.admin(f"DROP ROLE IF EXISTS {name}")


@pytest.fixture
def cluster(pg_server: object) -> Iterator[Cluster]:
    made = Cluster(pg_server.dsn)  # type: ignore[attr-defined]
    try:
        yield made
    finally:
        made.drop()


def migrated_with_reader_writer(cluster: Cluster) -> tuple[str, str]:
    """(owner's DSN, read/write role's DSN) of a migrated store holding one memory."""
    dbname = cluster.database()
    owner = cluster.dsn(dbname)
    with MemoryStore(PostgresBackend(owner), SETTINGS, FakeEmbedder()) as store:
        store.store("the deploy pipeline retries twice", "note")
    role = cluster.role()
    cluster.grant_read_write(dbname, role)
    return owner, cluster.dsn(dbname, role)


def use_postgres(monkeypatch: pytest.MonkeyPatch, dsn: str) -> None:
    monkeypatch.setenv("MAHAVISHNU_MEMORY__BACKEND", "postgres")
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", dsn)


def test_a_read_write_role_uses_a_migrated_store_without_ddl(cluster: Cluster) -> None:
    _, reader_writer = migrated_with_reader_writer(cluster)

    with MemoryStore(PostgresBackend(reader_writer), SETTINGS, FakeEmbedder()) as store:
        added = store.store("the cache is warmed at start", "decision")
        hits = store.search("deploy pipeline", mode="hybrid")
        store.update(added.id, tags=["cache"])
        assert store.stats()["count"] == 2
        assert store.backend.migration_state().pending == ()

    assert hits and "deploy" in hits[0].memory.content


def test_the_cli_works_for_a_read_write_role(monkeypatch: pytest.MonkeyPatch, cluster: Cluster) -> None:
    _, reader_writer = migrated_with_reader_writer(cluster)
    use_postgres(monkeypatch, reader_writer)
    runner = CliRunner()

    for command in (["db", "status"], ["memory", "stats"], ["memory", "list"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)


def test_a_pending_migration_the_role_may_not_run_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, cluster: Cluster
) -> None:
    owner, reader_writer = migrated_with_reader_writer(cluster)
    with psycopg.connect(owner, autocommit=True) as conn:  # as if a newer release added m006
        conn.execute("DELETE FROM _migrations WHERE name = 'm006_global_memories'")
        conn.execute("DROP INDEX memories_global")

    with pytest.raises(MigrationError, match="no permission to create tables in schema public") as info:
        PostgresBackend(reader_writer)
    assert "mahavishnu db migrate" in info.value.hint

    use_postgres(monkeypatch, reader_writer)
    result = CliRunner().invoke(app, ["memory", "stats"])
    assert result.exit_code != 0
    assert "error: no permission to create tables in schema public" in result.output
    assert "Traceback" not in result.output and "InsufficientPrivilege" not in result.output


def test_a_fresh_database_the_role_may_not_create_in_is_one_clear_error(cluster: Cluster) -> None:
    dbname = cluster.database()
    role = cluster.role()
    cluster.admin(f'GRANT CONNECT ON DATABASE "{dbname}" TO {role}')

    with pytest.raises(MigrationError, match=f"schema public of {dbname}") as info:
        PostgresBackend(cluster.dsn(dbname, role))
    assert "ask its owner" in info.value.hint.lower()


def test_an_up_to_date_store_runs_no_ddl(cluster: Cluster) -> None:
    """Even for its owner: opening is a read-only look when nothing is pending."""
    _, reader_writer = migrated_with_reader_writer(cluster)
    dbname = str(conninfo_to_dict(reader_writer)["dbname"])
    cluster.admin(f'ALTER DATABASE "{dbname}" SET default_transaction_read_only = on')

    backend = PostgresBackend(cluster.dsn(dbname))
    try:
        assert backend.migrate() == []
    finally:
        backend.close()


def test_a_missing_vector_extension_asks_an_administrator(
    monkeypatch: pytest.MonkeyPatch, cluster: Cluster
) -> None:
    role = cluster.role()
    dbname = cluster.database(owner=role)  # the role may create tables, not the extension
    dsn = cluster.dsn(dbname, role)

    with pytest.raises(MigrationError, match="vector extension") as info:
        PostgresBackend(dsn)
    assert f"`CREATE EXTENSION vector;` in {dbname}" in info.value.hint
    assert "HINT" not in str(info.value) and "\n" not in str(info.value)

    use_postgres(monkeypatch, dsn)
    result = CliRunner().invoke(app, ["db", "migrate"])
    assert result.exit_code != 0 and "CREATE EXTENSION vector;" in result.output
    assert "Must be superuser" not in result.output


def test_a_database_where_an_administrator_created_the_extension_migrates(cluster: Cluster) -> None:
    role = cluster.role()
    dbname = cluster.database(owner=role)
    cluster.admin("CREATE EXTENSION vector", dbname)

    backend = PostgresBackend(cluster.dsn(dbname, role))
    try:
        assert backend.migration_state().pending == ()
    finally:
        backend.close()


def test_the_owner_builds_an_index_a_read_write_role_could_not(cluster: Cluster, tmp_path: Path) -> None:
    owner, reader_writer = migrated_with_reader_writer(cluster)
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute("DROP INDEX memories_embedding_hnsw_64")

    PostgresBackend(reader_writer).close()  # no error: the index is the owner's to build
    backend = PostgresBackend(owner, migrate=False)
    try:
        backend.migrate()  # what `mahavishnu db migrate` runs
        assert backend.stats()["vector_index"]["indexes"] == ["memories_embedding_hnsw_64"]
    finally:
        backend.close()


def test_a_read_write_role_may_store_the_first_memory_of_a_migrated_store(cluster: Cluster) -> None:
    dbname = cluster.database()
    PostgresBackend(cluster.dsn(dbname)).close()  # the owner migrates an empty store
    role = cluster.role()
    cluster.grant_read_write(dbname, role)

    with MemoryStore(PostgresBackend(cluster.dsn(dbname, role)), SETTINGS, FakeEmbedder()) as store:
        store.store("the first memory", "note")
        assert [h.memory.content for h in store.search("first memory", mode="vector")] == ["the first memory"]


def test_an_import_by_a_read_write_role_moves_the_id_sequence(cluster: Cluster, tmp_path: Path) -> None:
    _, reader_writer = migrated_with_reader_writer(cluster)
    with MemoryStore(SqliteBackend(tmp_path / "a.db"), SETTINGS, FakeEmbedder()) as source:
        source.store_many([{"content": f"exported note {i}", "type": "note"} for i in range(5)])
        source.export(tmp_path / "a.jsonl")

    with MemoryStore(PostgresBackend(reader_writer), SETTINGS, FakeEmbedder()) as store:
        assert store.import_(tmp_path / "a.jsonl").imported == 5
        top = max(m.id for m in store.recent(limit=10))
        later = store.store("stored after the import", "note")

    assert later.id > top  # drawn past the imported ids: the role may not setval the sequence
