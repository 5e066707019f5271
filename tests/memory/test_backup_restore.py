"""`db backup` / `db restore` never lose a store: backups are private, a restore keeps the store it
replaces, a damaged store or backup is caught, and a new machine can restore into nothing."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu import paths
from mahavishnu.cli.main import app
from mahavishnu.config import MemorySettings
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore

SETTINGS = MemorySettings(relevance_floor=0.0)
runner = CliRunner()


@pytest.fixture
def store_file(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = isolated_home / "store" / "memory.db"
    monkeypatch.setenv("MAHAVISHNU_MEMORY__PATH", str(path))
    old_umask = os.umask(0o022)  # what most shells have: files readable by everyone unless made private
    try:
        yield path
    finally:
        os.umask(old_umask)


def _contents(path: Path) -> list[str]:
    with MemoryStore(SqliteBackend(path), SETTINGS, FakeEmbedder()) as store:
        return sorted(m.content for m in store.backend.iter_all())


def _fill(path: Path, *notes: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with MemoryStore(SqliteBackend(path), SETTINGS, FakeEmbedder()) as store:
        for note in notes:
            store.store(note, "note")


def _db(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["db", *args])
    return result.exit_code, result.output


def test_a_backup_is_private_whatever_the_umask(store_file: Path, tmp_path: Path) -> None:
    _fill(store_file, "the deploy key rotates monthly")
    code, output = _db("backup", str(tmp_path / "out" / "backup.db"))
    assert code == 0, output
    assert stat.S_IMODE((tmp_path / "out" / "backup.db").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--keep", "3"], "--keep goes"),
        (["--sse", "AES256"], "--sse goes"),
        (["--every", "6h"], "--every needs"),
    ],
)
def test_an_option_of_s3_backups_given_with_a_file_is_refused_not_ignored(
    store_file: Path, tmp_path: Path, options: list[str], named: str
) -> None:
    _fill(store_file, "the deploy key rotates monthly")
    target = tmp_path / "backup.db"
    code, output = _db("backup", str(target), *options)
    assert code != 0 and named in output and "--to" in output
    assert not target.exists()


def test_a_backup_replaces_an_existing_file_only_when_forced(store_file: Path, tmp_path: Path) -> None:
    _fill(store_file, "the deploy key rotates monthly")
    target = tmp_path / "notes.txt"
    target.write_text("a file the user typed by mistake")

    code, output = _db("backup", str(target))

    assert code != 0 and "already exists" in output and "--force" in output
    assert target.read_text() == "a file the user typed by mistake"
    assert _db("backup", str(target), "--force")[0] == 0
    assert target.read_bytes()[:16] == b"SQLite format 3\x00"


def test_a_restore_keeps_the_store_it_replaces(store_file: Path, tmp_path: Path) -> None:
    _fill(store_file, "written before the backup")
    assert _db("backup", str(tmp_path / "backup.db"))[0] == 0
    _fill(store_file, "written after the backup")

    code, output = _db("restore", str(tmp_path / "backup.db"))

    assert code == 0, output
    assert _contents(store_file) == ["written before the backup"]
    kept = sorted((paths.backups_dir() / "store").glob("before-restore-*.db"))
    assert len(kept) == 1 and str(kept[0]) in output.replace("\n", "")
    assert stat.S_IMODE(kept[0].stat().st_mode) == 0o600
    assert _db("restore", str(kept[0]))[0] == 0  # and back again: nothing was lost
    assert _contents(store_file) == ["written after the backup", "written before the backup"]


def test_a_new_machine_restores_into_no_store(store_file: Path, tmp_path: Path) -> None:
    _fill(store_file, "carried to the new laptop")
    assert _db("backup", str(tmp_path / "backup.db"))[0] == 0
    store_file.unlink()

    code, output = _db("restore", str(tmp_path / "backup.db"))

    assert code == 0, output
    assert _contents(store_file) == ["carried to the new laptop"]
    assert stat.S_IMODE(store_file.stat().st_mode) == 0o600


def _damage(path: Path, *, header: bool) -> None:
    data = bytearray(path.read_bytes())
    start = 0 if header else 4096 * 2
    data[start : start + 4096 * 3] = b"\x5a" * 4096 * 3
    path.write_bytes(bytes(data))


def test_a_damaged_store_is_not_backed_up_and_a_damaged_backup_not_restored(
    store_file: Path, tmp_path: Path
) -> None:
    _fill(store_file, *(f"note {i} " + "padding " * 200 for i in range(40)))
    assert _db("backup", str(tmp_path / "good.db"))[0] == 0
    broken = tmp_path / "broken.db"
    broken.write_bytes((tmp_path / "good.db").read_bytes())
    _damage(broken, header=False)

    refused = _db("restore", str(broken))
    _damage(store_file, header=False)
    not_backed_up = _db("backup", str(tmp_path / "of-damaged.db"))

    assert refused[0] == 1 and "the backup" in refused[1] and "is damaged" in refused[1]
    assert not_backed_up[0] == 1 and "so would its backup be" in not_backed_up[1]
    assert not (tmp_path / "of-damaged.db").exists()


def test_a_store_too_damaged_to_open_is_set_aside_and_restored(store_file: Path, tmp_path: Path) -> None:
    _fill(store_file, "the one worth keeping")
    assert _db("backup", str(tmp_path / "good.db"))[0] == 0
    _damage(store_file, header=True)
    damaged_bytes = store_file.read_bytes()

    code, output = _db("restore", str(tmp_path / "good.db"))

    assert code == 0, output
    assert _contents(store_file) == ["the one worth keeping"]
    aside = list((paths.backups_dir() / "store").glob("damaged-*.db"))
    assert len(aside) == 1 and aside[0].read_bytes() == damaged_bytes  # kept for recovery, not lost
    assert "moved to" in output


def test_an_owner_restores_a_database_where_an_administrator_installed_vector(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, pg_server: object, tmp_path: Path
) -> None:
    """The usual team set-up: the database's owner is no superuser, `vector` was installed for it.
    pg_restore --clean would drop the extension (superuser only); the restore leaves it be."""
    psycopg = pytest.importorskip("psycopg")
    from psycopg.conninfo import make_conninfo

    admin = pg_server.new_database()  # type: ignore[attr-defined]
    role = f"owner_{os.getpid()}"
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:  # type: ignore[attr-defined]
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'owner-pw-0123'")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {conn.info.dbname} OWNER TO {role}")
        conn.execute(f"ALTER SCHEMA public OWNER TO {role}")
        conn.execute("CREATE EXTENSION vector")
    monkeypatch.setenv("MAHAVISHNU_MEMORY__BACKEND", "postgres")
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", make_conninfo(admin, user=role, password="owner-pw-0123"))
    assert runner.invoke(app, ["memory", "store", "kept through the restore"]).exit_code == 0

    backed = _db("backup", str(tmp_path / "team.dump"))
    assert runner.invoke(app, ["memory", "store", "written after the backup"]).exit_code == 0
    restored = _db("restore", str(tmp_path / "team.dump"))

    assert backed[0] == 0 and restored[0] == 0, backed[1] + restored[1]
    listed = runner.invoke(app, ["memory", "list", "--json"])
    assert "kept through the restore" in listed.output and "written after" not in listed.output
    assert "owner-pw-0123" not in backed[1] + restored[1]
    assert list((paths.backups_dir() / "store").glob("before-restore-*.dump"))


def test_a_backup_or_export_never_replaces_the_store_or_its_settings(
    store_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--force`` replaces an old export, never the live store (named, or through a link), its
    journal, or the files beside the settings: `memory export ~/.local/share/mahavishnu/memory.db
    --force` wrote JSONL over the store and said it had exported."""
    _fill(store_file, "keep me")
    link = tmp_path / "export.jsonl"
    link.symlink_to(store_file)
    journal = store_file.with_name("memory.db-wal")
    journal.touch()
    secrets = paths.secrets_file()
    secrets.parent.mkdir(parents=True, exist_ok=True)
    secrets.write_text('lab = "sk-lab-0123456789"\n')
    for target in (store_file, link, journal, secrets):
        for command in (["db", "backup"], ["memory", "export"]):
            result = runner.invoke(app, [*command, str(target), "--force"])
            assert result.exit_code != 0 and "Mahavishnu's own files" in result.output, (command, target)
            assert "nothing was written" in result.output
    assert _contents(store_file) == ["keep me"]
    assert secrets.read_text() == 'lab = "sk-lab-0123456789"\n'


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_a_backup_or_restore_of_nothing_says_what_to_give(store_file: Path, command: str) -> None:
    code, output = _db(command)
    assert code != 0 and "one of them" in output and "not both" not in output


@pytest.mark.parametrize("given", ["folder", "/dev/null", "missing.db"])
def test_a_restore_from_what_is_not_a_backup_file_says_what_to_give(
    store_file: Path, tmp_path: Path, given: str
) -> None:
    _fill(store_file, "keep me")
    (tmp_path / "folder").mkdir()
    path = given if given.startswith("/") else str(tmp_path / given)

    code, output = _db("restore", path)

    said = " ".join(output.split())
    assert code != 0 and "Give the file `mahavishnu db backup FILE` wrote." in said
    # an existing folder or device was called 'no such backup file'
    assert ("no such backup file" in said) == (given == "missing.db")
    assert _contents(store_file) == ["keep me"]
