"""Fixtures for the memory tests: ``store`` runs a test over every backend (``_backends.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _backends import BACKENDS, Factory, open_store
from fake_backend import FakeBackend, FakeDatabase

from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.store import MemoryStore


@pytest.fixture(params=BACKENDS)
def backend_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    if request.param == "fake":
        database = FakeDatabase()
        return lambda: FakeBackend(database)
    if request.param == "sqlite":
        return lambda: SqliteBackend(tmp_path / "memory.db")
    if request.param == "postgres":
        from mahavishnu.memory.core.backends.postgres import PostgresBackend

        dsn = request.getfixturevalue("pg_dsn")  # a fresh database on the session's server
        return lambda: PostgresBackend(dsn)
    raise AssertionError(request.param)


@pytest.fixture
def store(backend_factory: Factory) -> Iterator[MemoryStore]:
    with open_store(backend_factory) as opened:
        yield opened
