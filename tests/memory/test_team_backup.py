"""``db backup`` of a team store (issue 48.3): its tables' row-level security is forced, binding the
owner too, so pg_dump as the owner used to stop ("query would be affected by row-level security
policy"). The owner's backup holds every member's rows, private ones included; a member's is
refused (it would hold only what they see); a failing tool's whole error reaches the user. Against
the real PostgreSQL 18 + pgvector and the real pg_dump."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytest.importorskip("psycopg")

from testkit.team_pg import TeamCluster
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import MemorySettings
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.backends.postgres import PostgresBackend
from mahavishnu.memory.core.backends.records import CONVERSATIONS
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.ops import backup

runner = CliRunner()
SETTINGS = MemorySettings(max_content_chars=2_000, relevance_floor=0.0)


@pytest.fixture(autouse=True)
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())


def _fill(team: TeamCluster) -> str:
    """alice's private memory and conversation turn; the owner's own memory; alice's DSN."""
    team.init()
    alice = team.add("alice").dsn()
    with MemoryStore(PostgresBackend(alice), SETTINGS, FakeEmbedder()) as store:
        store.store("alice private: the staging password rotates", "note")
        turn = {
            "agent_id": "claude",
            "session_id": "s1",
            "role": "user",
            "content": "alice turn: plan the migration",
            "metadata": {},
            "external_id": "t1",
            "created_at": "2026-01-01T00:00:00+00:00",
        }
        store.backend.add_records(CONVERSATIONS, [turn])
    with MemoryStore(PostgresBackend(team.owner_dsn), SETTINGS, FakeEmbedder()) as store:
        store.store("the owner decided: backups nightly", "decision")
    return alice


def _dumped_text(file: Path) -> str:
    tool = backup.pg_tool_path("pg_restore")
    return subprocess.run(
        [str(tool), "--data-only", "-f", "-", str(file)], capture_output=True, text=True, check=True
    ).stdout


def test_the_owners_backup_of_a_team_store_holds_every_members_rows(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(team)
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", team.owner_dsn)
    done = runner.invoke(app, ["db", "backup", str(tmp_path / "team.dump")])
    assert done.exit_code == 0, done.output
    text = _dumped_text(tmp_path / "team.dump")
    for row in (
        "alice private: the staging password rotates",
        "alice turn: plan the migration",
        "the owner decided: backups nightly",
    ):
        assert row in text


def test_a_members_backup_is_refused_rather_than_hold_only_what_they_see(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = _fill(team)
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", alice)
    done = runner.invoke(app, ["db", "backup", str(tmp_path / "alice.dump")])
    assert done.exit_code != 0
    assert "its backup would hold only the memories it sees" in done.output
    assert not (tmp_path / "alice.dump").exists()


def test_a_failing_tools_whole_error_reaches_the_user(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pg_dump that fails with several lines of error (a script standing in for it): all shown."""
    team.init()
    fake = tmp_path / "pg_dump"
    fake.write_text(
        "#!/bin/sh\necho 'pg_dump: error: query failed: ERROR:  something is wrong' >&2\n"
        "echo 'pg_dump: detail: the cause is here' >&2\n"
        "echo 'pg_dump: detail: Query was: COPY x' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(backup, "pg_tool_path", lambda name: fake)
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", team.owner_dsn)
    done = runner.invoke(app, ["db", "backup", str(tmp_path / "x.dump")])
    assert done.exit_code != 0
    for line in ("something is wrong", "the cause is here", "Query was: COPY x"):
        assert line in done.output
    assert "Traceback" not in done.output


def test_a_restore_psql_refuses_says_why_not_that_it_took_an_hour(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every refusal of psql's read "the restore took over 3600 s" (the watchdog's ``finished``,
    which its cancel sets too). Here the refusal is the one the owner met restoring the rights the
    administrator revoked on large objects, with those lines restored as before ``_administrators``."""
    _fill(team)
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", team.owner_dsn)
    assert runner.invoke(app, ["db", "backup", str(tmp_path / "team.dump")]).exit_code == 0
    monkeypatch.setattr(backup, "_administrators", lambda entry: " EXTENSION " in entry)
    refused = runner.invoke(app, ["db", "restore", str(tmp_path / "team.dump")])
    said = " ".join(refused.output.split())
    assert refused.exit_code != 0 and "psql failed" in said and "permission denied for function lo_" in said
    assert "took over" not in said and "nothing was restored" in said


def test_the_owners_backup_restores_with_every_members_rows_and_their_privacy(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = _fill(team)
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", team.owner_dsn)
    assert runner.invoke(app, ["db", "backup", str(tmp_path / "team.dump")]).exit_code == 0
    with MemoryStore(PostgresBackend(alice), SETTINGS, FakeEmbedder()) as store:
        store.store("alice wrote this after the backup", "note")
    restored = runner.invoke(app, ["db", "restore", str(tmp_path / "team.dump")])
    assert restored.exit_code == 0, restored.output
    with MemoryStore(PostgresBackend(alice), SETTINGS, FakeEmbedder()) as store:
        assert [m.content for m in store.recent(limit=10)] == ["alice private: the staging password rotates"]
        hits = store.search("staging password", mode="text", limit=5)
        assert [h.memory.content for h in hits] == ["alice private: the staging password rotates"]
    with MemoryStore(PostgresBackend(team.owner_dsn), SETTINGS, FakeEmbedder()) as store:
        assert [m.content for m in store.recent(limit=10)] == ["the owner decided: backups nightly"]


def test_a_members_restore_is_refused_as_the_owners_to_make(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It said "its backup would hold only the memories it sees" (of the copy a restore makes first)."""
    alice = _fill(team)
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", team.owner_dsn)
    assert runner.invoke(app, ["db", "backup", str(tmp_path / "team.dump")]).exit_code == 0
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", alice)
    done = runner.invoke(app, ["db", "restore", str(tmp_path / "team.dump")])
    assert done.exit_code != 0
    assert "only its owner restores it" in done.output and "backup would hold" not in done.output
    for dsn, kept in ((alice, "alice private: the staging password rotates"), (team.owner_dsn, "backups")):
        with MemoryStore(PostgresBackend(dsn), SETTINGS, FakeEmbedder()) as store:
            assert any(kept in m.content for m in store.recent(limit=10))  # untouched
