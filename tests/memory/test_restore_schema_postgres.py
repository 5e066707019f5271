"""`db restore` into PostgreSQL installs only a Mahavishnu store: a dump of another schema, one
migrated by a newer Mahavishnu, or one holding a trigger, function, view or table of its own is
refused with one line before ``pg_restore`` runs (the live store's rows and schema unchanged); a
real dump still restores, also into an empty database."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("psycopg")

import psycopg

from mahavishnu.cli.main import app
from mahavishnu.config import MemorySettings
from mahavishnu.memory.core.backends.postgres import PostgresBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.ops.backup import pg_tool_path

SETTINGS = MemorySettings(relevance_floor=0.0)
runner = CliRunner()


def _use(monkeypatch: pytest.MonkeyPatch, dsn: str) -> None:
    monkeypatch.setenv("MAHAVISHNU_MEMORY__BACKEND", "postgres")
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", dsn)


def _sql(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def _contents(dsn: str) -> list[str]:
    with MemoryStore(PostgresBackend(dsn), SETTINGS, FakeEmbedder()) as store:
        return sorted(m.content for m in store.backend.iter_all())


def _objects(dsn: str) -> list[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT 'trigger', tgname FROM pg_trigger WHERE NOT tgisinternal UNION ALL "
            "SELECT 'function', proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace UNION ALL "
            "SELECT 'table', relname FROM pg_class WHERE relnamespace = 'public'::regnamespace ORDER BY 1, 2"
        ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


def _backup_with(dsn: str, tmp_path: Path, add: list[str], remove: list[str]) -> Path:
    """A dump of the store after ``add``; ``remove`` undoes it in the live store."""
    _sql(dsn, *add)
    dump = tmp_path / "tampered.dump"
    pg_dump = str(pg_tool_path("pg_dump"))  # (`db backup` itself refuses a store from the future)
    subprocess.run([pg_dump, "--format=custom", "--no-owner", f"--file={dump}", dsn], check=True, timeout=120)
    _sql(dsn, *remove)
    return dump


CASES: dict[str, tuple[list[str], list[str], str]] = {
    "foreign trigger": (
        [
            "CREATE FUNCTION evil() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM memory_tags; "
            "RETURN NEW; END $$",
            "CREATE TRIGGER evil_trigger AFTER INSERT ON memories FOR EACH ROW EXECUTE FUNCTION evil()",
        ],
        ["DROP TRIGGER evil_trigger ON memories", "DROP FUNCTION evil()"],
        "no Mahavishnu migration creates (FUNCTION public evil(), TRIGGER public memories evil_trigger)",
    ),
    "foreign view": (
        ["CREATE VIEW every_secret AS SELECT content FROM memories"],
        ["DROP VIEW every_secret"],
        "(VIEW public every_secret)",
    ),
    "foreign table": (["CREATE TABLE stash (x text)"], ["DROP TABLE stash"], "(TABLE public stash)"),
    "future migration": (
        ["INSERT INTO _migrations VALUES ('m999_from_the_future', now())"],
        ["DELETE FROM _migrations WHERE name = 'm999_from_the_future'"],
        "made by a newer Mahavishnu (unknown migrations: m999_from_the_future)",
    ),
}


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_a_tampered_dump_is_refused_and_the_live_store_kept(
    monkeypatch: pytest.MonkeyPatch, pg_dsn: str, tmp_path: Path, case: str
) -> None:
    _use(monkeypatch, pg_dsn)
    add, remove, said = CASES[case]
    with MemoryStore(PostgresBackend(pg_dsn), SETTINGS, FakeEmbedder()) as store:
        store.store("in the backup", "note")
    dump = _backup_with(pg_dsn, tmp_path, add, remove)
    with MemoryStore(PostgresBackend(pg_dsn), SETTINGS, FakeEmbedder()) as store:
        store.store("after the backup", "note")
    before = _objects(pg_dsn)

    result = runner.invoke(app, ["db", "restore", str(dump)])

    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert said in text and "the live store was not changed" in text, result.output
    assert _objects(pg_dsn) == before
    assert _contents(pg_dsn) == ["after the backup", "in the backup"]


def test_a_dump_of_another_schema_is_refused(
    monkeypatch: pytest.MonkeyPatch, pg_server: object, pg_dsn: str, tmp_path: Path
) -> None:
    other = pg_server.new_database()  # type: ignore[attr-defined]
    _sql(other, "CREATE TABLE customers (id int, name text)")
    dump = tmp_path / "other.dump"
    pg_dump = str(pg_tool_path("pg_dump"))
    subprocess.run([pg_dump, "--format=custom", f"--file={dump}", other], check=True, timeout=120)
    _use(monkeypatch, pg_dsn)
    with MemoryStore(PostgresBackend(pg_dsn), SETTINGS, FakeEmbedder()) as store:
        store.store("the live store's memory", "note")

    result = runner.invoke(app, ["db", "restore", str(dump)])

    assert result.exit_code == 2 and "is not a backup of a Mahavishnu memory store" in result.output
    assert _contents(pg_dsn) == ["the live store's memory"]


def test_a_real_dump_restores_into_an_empty_database(
    monkeypatch: pytest.MonkeyPatch, pg_server: object, pg_dsn: str, tmp_path: Path
) -> None:
    _use(monkeypatch, pg_dsn)
    with MemoryStore(PostgresBackend(pg_dsn), SETTINGS, FakeEmbedder()) as store:
        store.store("carried to the new server", "note")
    dump = tmp_path / "real.dump"
    assert runner.invoke(app, ["db", "backup", str(dump)]).exit_code == 0
    empty: Callable[[], str] = pg_server.new_database  # type: ignore[attr-defined]
    target = empty()
    _use(monkeypatch, target)

    result = runner.invoke(app, ["db", "restore", str(dump)])

    assert result.exit_code == 0, result.output
    assert _contents(target) == ["carried to the new server"]
