"""A damaged, read-only or foreign store file is named for what it is: `doctor` and `health` find a
damaged store (and `health` writes nothing into it), `db check` tells read-only from damaged, and
`db restore` of the other backend's backup points to `memory export`/`memory import`."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu import doctor, health
from mahavishnu.cli.main import app
from mahavishnu.config import MemorySettings, load_settings
from mahavishnu.errors import InvalidInputError
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.ops import backup, store_check

runner = CliRunner()


@pytest.fixture
def store_file(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = isolated_home / "store" / "memory.db"
    monkeypatch.setenv("MAHAVISHNU_MEMORY__PATH", str(path))
    path.parent.mkdir(parents=True)
    with MemoryStore(SqliteBackend(path), MemorySettings(relevance_floor=0.0), FakeEmbedder()) as store:
        for i in range(40):
            store.store(f"note {i} " + "padding " * 200, "note")
    return path


def _damage_the_middle(path: Path) -> None:
    """What QA did: 4 KiB of garbage in the middle of the file (the header still reads)."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2 // 4096 * 4096
    data[middle : middle + 4096] = b"\x5a" * 4096
    path.write_bytes(bytes(data))


def test_doctor_finds_a_damaged_store_and_says_what_to_do(store_file: Path) -> None:
    assert [f.status for f in doctor.check_store(load_settings())] == ["ok"]
    _damage_the_middle(store_file)

    [found] = doctor.check_store(load_settings())

    assert found.status == "error" and "damaged" in found.detail
    assert "db check" in found.hint and "db restore" in found.hint


def test_health_names_a_damaged_store_and_writes_nothing_into_it(store_file: Path) -> None:
    _damage_the_middle(store_file)
    before = store_file.read_bytes()
    wal = Path(f"{store_file}-wal")
    wal_before = wal.read_bytes() if wal.exists() else b""

    report = health.health_report(load_settings(), probe_providers=False)

    store = next(c for c in report.components if c.component == "store")
    assert store.status == "error" and "damaged" in store.detail
    assert "db restore" in store.detail and "DatabaseError" not in store.detail
    assert report.recorded_to is None
    assert store_file.read_bytes() == before
    assert (wal.read_bytes() if wal.exists() else b"") == wal_before


def test_health_cli_says_it_did_not_record_into_a_damaged_store(store_file: Path) -> None:
    _damage_the_middle(store_file)
    result = runner.invoke(app, ["health", "--no-probe"])
    said = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "recorded to" not in said and "not recorded" in said


def test_db_check_calls_a_read_only_store_read_only_not_damaged(
    store_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A WAL store in a directory this user may not write: a read-only connection cannot create its
    -shm file (as root the modes are ignored, so the refusal is simulated)."""
    real_connect = sqlite3.connect

    def connect(database: str, *args: object, **kwargs: object) -> sqlite3.Connection:
        if str(database).startswith("file:") and "immutable=1" not in str(database):
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return real_connect(database, *args, **kwargs)  # type: ignore[call-overload,no-any-return]

    real_access = os.access
    monkeypatch.setattr(sqlite3, "connect", connect)
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if Path(p) == store_file.parent else real_access(p, mode)
    )

    result = runner.invoke(app, ["db", "check"])

    said = " ".join(result.output.split())
    assert result.exit_code == 0, said
    assert "damaged" not in said.replace("not damaged", "") and "restore" not in said
    assert "read-only" in said and "chmod" in said


def test_restoring_the_other_backends_backup_points_to_export_and_import(
    store_file: Path, tmp_path: Path
) -> None:
    pg_dump = tmp_path / "store.dump"
    pg_dump.write_bytes(b"PGDMP" + b"\x00" * 100)
    result = runner.invoke(app, ["db", "restore", str(pg_dump)])
    said = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "memory export" in said and "memory import" in said

    to_postgres = MemorySettings(backend="postgres", dsn="postgresql://someone@127.0.0.1:1/none")
    with pytest.raises(InvalidInputError) as refused:
        backup.restore(to_postgres, store_file)
    assert "memory export" in refused.value.hint and "memory import" in refused.value.hint


def test_doctor_stops_a_slow_file_check_and_names_db_check(
    store_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold 100k-memory store on a busy disk: doctor stays fast and says where the full check is."""
    monkeypatch.setattr(store_check, "QUICK_CHECK_SECONDS", 0.0)
    [found] = doctor.check_store(load_settings())
    assert found.status == "ok" and "stopped" in found.detail and "db check" in found.hint
