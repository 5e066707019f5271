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


@pytest.fixture
def lenient_judge(monkeypatch: pytest.MonkeyPatch) -> None:
    """The relevance judge accepting every hit with evidence of its own (``judge.py``): its weights
    are fitted to the local model's cosines, not to the FakeEmbedder's hashed words, so a test of
    the prompt hook's plumbing (sessions, chatter, order, budgets) on the fake model takes it out
    of the way. Tests of relevance itself use the real model."""
    from mahavishnu.memory.core import judge_weights

    monkeypatch.setattr(judge_weights, "HOOK_POINT", 0.0)
    monkeypatch.setattr(judge_weights, "SEARCH_POINT", 0.0)
