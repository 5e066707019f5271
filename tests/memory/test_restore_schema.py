"""`db restore` installs only a Mahavishnu store: a valid SQLite file with another schema, no
tables, a dropped table, a changed column, a migration from the future, or a real backup plus a
trigger, view or table of its own is refused with one line saying what is wrong and what to do,
before the live store is touched (its bytes unchanged, its memories still there). A real backup,
and one made before the newest migrations, still restore."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import MemorySettings
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.migrations.sqlite import MIGRATIONS
from mahavishnu.memory.core.store import MemoryStore

SETTINGS = MemorySettings(relevance_floor=0.0)
runner = CliRunner()


@pytest.fixture
def store_file(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = isolated_home / "store" / "memory.db"
    monkeypatch.setenv("MAHAVISHNU_MEMORY__PATH", str(path))
    path.parent.mkdir(parents=True)
    with MemoryStore(SqliteBackend(path), SETTINGS, FakeEmbedder()) as store:
        store.store("the live store's memory", "note")
    yield path


def _contents(path: Path) -> list[str]:
    with MemoryStore(SqliteBackend(path), SETTINGS, FakeEmbedder()) as store:
        return sorted(m.content for m in store.backend.iter_all())


def _digest(path: Path) -> str:
    return hashlib.sha256(
        b"".join(Path(f"{path}{s}").read_bytes() for s in ("", "-wal") if Path(f"{path}{s}").exists())
    ).hexdigest()


def _db(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["db", *args])
    return result.exit_code, result.output


def _real_backup(tmp_path: Path) -> Path:
    """A backup of a real store holding one memory."""
    source = tmp_path / "source" / "memory.db"
    source.parent.mkdir()
    with MemoryStore(SqliteBackend(source), SETTINGS, FakeEmbedder()) as store:
        store.store("the backup's memory", "decision")
    backup = tmp_path / "backup.db"
    with sqlite3.connect(source) as src, sqlite3.connect(backup) as dst:
        src.backup(dst)
    return backup


def _edited(tmp_path: Path, *statements: str) -> Path:
    backup = _real_backup(tmp_path)
    conn = sqlite3.connect(backup)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()
    return backup


def _unrelated(tmp_path: Path) -> Path:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers VALUES (1, 'ada')")
    return path


def _no_tables(tmp_path: Path) -> Path:
    path = tmp_path / "empty.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 7")  # a valid SQLite file of one page, no table
    return path


CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "unrelated schema": (_unrelated, "has no _migrations table"),
    "no tables": (_no_tables, "has no _migrations table"),
    "memories dropped": (
        lambda t: _edited(t, "PRAGMA foreign_keys = OFF", "DROP TABLE memories"),
        "(no table memories, trigger embedding_staging_ad",
    ),
    "future migration": (
        lambda t: _edited(t, "INSERT INTO _migrations VALUES ('m999_from_the_future', '2030-01-01')"),
        "made by a newer Mahavishnu (unknown migrations: m999_from_the_future)",
    ),
    "extra trigger": (
        lambda t: _edited(
            t,
            "CREATE TRIGGER evil AFTER INSERT ON memories BEGIN "
            "INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', new.id, 'x'); END",
        ),
        "holds what no Mahavishnu migration creates (trigger evil)",
    ),
    "extra view": (
        lambda t: _edited(t, "CREATE VIEW every_secret AS SELECT content FROM memories"),
        "(view every_secret)",
    ),
    "extra table": (lambda t: _edited(t, "CREATE TABLE stash (x)"), "(table stash)"),
    "extra index": (lambda t: _edited(t, "CREATE INDEX by_agent ON memories (agent_id)"), "(index by_agent)"),
    "changed column": (
        lambda t: _edited(t, "ALTER TABLE memories ADD COLUMN owner TEXT"),
        "(table memories differ from what the migrations create)",
    ),
    "dropped trigger": (
        lambda t: _edited(t, f"DROP TRIGGER {_a_trigger()}"),
        "no trigger",
    ),
}


def _a_trigger() -> str:
    """The name of a trigger the migrations create."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for migration in MIGRATIONS:
        migration.apply(conn)
    [name] = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name LIMIT 1"
    ).fetchone()
    return str(name)


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_a_file_that_is_not_a_mahavishnu_store_is_refused_and_the_live_store_kept(
    store_file: Path, tmp_path: Path, case: str
) -> None:
    make, said = CASES[case]
    backup = make(tmp_path)
    before = _digest(store_file)

    code, output = _db("restore", str(backup))

    assert code == 2, output
    lines = output.strip().splitlines()
    assert said in " ".join(output.split()), output
    assert "the live store was not changed" in " ".join(output.split())
    assert any(line.lower().startswith("hint") or "restore" in line.lower() for line in lines[1:]), output
    assert _digest(store_file) == before
    assert _contents(store_file) == ["the live store's memory"]
    assert not list(store_file.parent.glob(".restore-*"))  # the staged copy is gone


def test_a_real_backup_still_restores(store_file: Path, tmp_path: Path) -> None:
    code, output = _db("restore", str(_real_backup(tmp_path)))
    assert code == 0, output
    assert _contents(store_file) == ["the backup's memory"]
    with MemoryStore(SqliteBackend(store_file), SETTINGS, FakeEmbedder()) as store:
        store.store("a write after the restore works", "note")  # no "malformed" later


def test_a_backup_from_before_the_newest_migrations_restores_and_is_migrated(
    store_file: Path, tmp_path: Path
) -> None:
    older = tmp_path / "older.db"
    conn = sqlite3.connect(older, isolation_level=None)
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for migration in list(MIGRATIONS)[:-1]:
        conn.execute("BEGIN")
        migration.apply(conn)
        conn.execute("INSERT INTO _migrations VALUES (?, '2025-01-01T00:00:00.000000Z')", (migration.name,))
        conn.execute("COMMIT")
    conn.close()

    code, output = _db("restore", str(older))

    assert code == 0, output
    backend = SqliteBackend(store_file, migrate=False)
    try:
        assert backend.migration_state().pending == ()
    finally:
        backend.close()


def test_a_staging_copy_left_by_a_killed_restore_is_removed_by_the_next(
    store_file: Path, tmp_path: Path
) -> None:
    gone = subprocess.Popen(["true"])  # a process id that is gone now
    gone.wait()
    left = store_file.parent / f".restore-{gone.pid}.abc123"
    left.mkdir()
    (left / "memory.db").write_bytes(b"a whole copy of a backup")
    ours = store_file.parent / f".restore-{os.getpid()}.live"
    ours.mkdir()  # a restore under way in a live process: kept

    assert _db("restore", str(_real_backup(tmp_path)))[0] == 0

    assert not left.exists() and ours.exists()
