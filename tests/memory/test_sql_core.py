"""The SQL core (``backends/sql.py``): columns come from the model, so a new memory column is one
``Memory`` field plus one migration per dialect. These tests fail when the two drift apart: a field
without a migration, or a migration without a field."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from mahavishnu.memory.core.backends.sql import COLUMNS, INSERT_COLUMNS, SqlBackend
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.models import Memory

#: Columns a database keeps for itself, beyond the model's (derived, never written by the core).
# PostgreSQL's own: the generated tsvector; each row's owner and visibility (team memory, row-level security);
# the client id an offline outbox's delivery writes once (memory/core/outbox.py, exactly-once delivery).
OWN_COLUMNS = {"sqlite": set(), "postgres": {"content_tsv", "owner_role", "visibility", "client_id"}}


def test_the_column_list_is_the_models_fields() -> None:
    model = [f.name for f in fields(Memory)]
    assert [*COLUMNS, "embedding"] == model
    assert (*model[1:-1], "embedding") == INSERT_COLUMNS


def stored_columns(backend: SqlBackend) -> set[str]:
    if isinstance(backend, SqliteBackend):
        return {r[0] for r in backend.conn.execute("SELECT name FROM pragma_table_info('memories')")}
    sql = "SELECT column_name FROM information_schema.columns WHERE table_name = 'memories'"
    return {r[0] for r in backend._read(lambda conn: conn.execute(sql).fetchall())}


@pytest.mark.parametrize("name", ["sqlite", "postgres"])
def test_each_schema_has_exactly_the_models_columns(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if name == "sqlite":
        backend: SqlBackend = SqliteBackend(tmp_path / "memory.db")
    else:
        pytest.importorskip("psycopg")
        from mahavishnu.memory.core.backends.postgres import PostgresBackend

        backend = PostgresBackend(request.getfixturevalue("pg_dsn"))
    try:
        assert stored_columns(backend) - OWN_COLUMNS[name] == {*COLUMNS, "embedding"}
    finally:
        backend.close()
