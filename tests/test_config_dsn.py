"""A DSN selects PostgreSQL: `MAHAVISHNU_MEMORY__DSN=postgresql://…` alone is never silently ignored
for the embedded store; an explicit `backend: sqlite` beside a DSN is an error naming both settings."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings, settings_with_sources
from mahavishnu.errors import ConfigError

runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_dsn_alone_selects_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", "postgresql://me@127.0.0.1:9/none")
    assert load_settings().memory.backend == "postgres"
    sources = {key: source for key, _value, source in settings_with_sources()}
    assert sources["memory.backend"] == "memory.dsn"


def test_memory_search_with_a_dsn_goes_to_postgres_not_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("psycopg")
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", f"postgresql://me@127.0.0.1:{_free_port()}/none")
    result = runner.invoke(app, ["memory", "search", "anything"])
    assert result.exit_code == 1, result.output
    assert "cannot use PostgreSQL at 127.0.0.1:" in result.output
    assert "no relevant memories" not in result.output


def test_an_explicit_sqlite_backend_beside_a_dsn_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAHAVISHNU_MEMORY__BACKEND", "sqlite")
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", "postgresql://me@127.0.0.1:9/none")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "memory.dsn is set, but memory.backend is sqlite" in info.value.message
    assert "Value error" not in info.value.message
    assert "MAHAVISHNU_MEMORY__BACKEND=postgres" in info.value.message
    assert "MAHAVISHNU_MEMORY__BACKEND, MAHAVISHNU_MEMORY__DSN" in info.value.hint
    result = runner.invoke(app, ["memory", "search", "anything"])
    assert result.exit_code == 1 and "memory.dsn is set, but memory.backend is sqlite" in result.output


def test_the_default_store_stays_sqlite_without_a_dsn() -> None:
    assert load_settings().memory.backend == "sqlite"
