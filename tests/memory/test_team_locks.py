"""No team member can stall everyone (issue 47.4): a member holds no right that lets them lock a
team table (``memory/team/writes.py``), and a lock someone else holds (the owner's) stops a member's
search, store and recall hook within their lock timeout, with one line, instead of hanging. Against
the real PostgreSQL 18 + pgvector, the member connecting as their own role."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("psycopg")

from testkit.team_pg import TeamCluster

from mahavishnu.config import MemorySettings
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.backends.postgres import PostgresBackend, dsn_location
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.outbox import Outbox
from mahavishnu.memory.core.store import MemoryStore

SETTINGS = MemorySettings(max_content_chars=2_000, relevance_floor=0.0)


def open_store(dsn: str) -> MemoryStore:
    return MemoryStore(PostgresBackend(dsn), SETTINGS, FakeEmbedder())


@pytest.fixture(autouse=True)
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())


# -- issue 47.4: no member can stall everyone -----------------------------------------------------
LOCKS = ("ACCESS EXCLUSIVE", "EXCLUSIVE", "SHARE ROW EXCLUSIVE", "SHARE")


@pytest.mark.parametrize("table", ["memories", "agent_conversations", "insight_shares", "team_profiles"])
def test_a_member_with_psql_cannot_lock_a_team_table(team: TeamCluster, table: str) -> None:
    import psycopg

    team.init()
    alice = team.add("alice").dsn()
    with psycopg.connect(alice) as conn:
        for mode in LOCKS:
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(f"LOCK TABLE {table} IN {mode} MODE")  # type: ignore[arg-type]


def test_a_lock_held_by_someone_else_stops_a_members_search_and_store_with_one_line(
    team: TeamCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner (who may lock: they own the tables) holds the strongest lock; a member's search and
    store give up after the lock timeout, with the reason, instead of hanging."""
    import threading

    import psycopg

    from mahavishnu.errors import StoreError

    monkeypatch.setenv("MAHAVISHNU_PG_CONNECT_TIMEOUT", "1")  # a hook's budget: 1 s for a lock
    team.init()
    alice = team.add("alice").dsn()
    with open_store(alice) as store:
        store.store("alice decided: retries back off", "decision")
        outcomes: list[BaseException | None] = []

        def attempt(action: object) -> None:
            try:
                action()  # type: ignore[operator]
                outcomes.append(None)
            except BaseException as exc:
                outcomes.append(exc)

        with psycopg.connect(team.owner_dsn) as owner, owner.transaction():
            owner.execute("LOCK TABLE memories IN ACCESS EXCLUSIVE MODE")
            for action in (
                lambda: store.search("retries", limit=5),
                lambda: store.store("alice decided: jitter the retries", "decision"),
            ):
                worker = threading.Thread(target=attempt, args=(action,), daemon=True)
                worker.start()
                worker.join(60)  # a hang guard only: the lock timeout ends it long before
                assert not worker.is_alive(), "the member's call hung behind the lock"
    assert len(outcomes) == 2
    for outcome in outcomes:
        assert isinstance(outcome, StoreError), outcome
        assert "for a lock another session holds on the store, and gave up" in outcome.message
    with Outbox() as box:  # the server answered: nothing queued
        assert box.waiting(dsn_location(alice)).count == 0


def test_the_recall_hook_gives_up_on_a_held_lock_within_its_budget_and_says_so(
    team: TeamCluster, isolated_home: Path
) -> None:
    """A real hook process (its own interpreter, the configured embedder) behind a lock the owner
    holds: it ends with one line naming the lock, exit 1 (never 2: that would block the prompt)."""
    import os
    import subprocess
    import sys

    import psycopg

    from mahavishnu.memory.core.embedders import get_embedder
    from mahavishnu.memory.team import schema

    local = get_embedder(MemorySettings())  # the hook's configured embedder (not this test's fake)
    schema.init(team.owner_dsn, embedder=local.identity, dimension=local.dimension)
    alice = team.add("alice").dsn()
    env = {
        **os.environ,
        "MAHAVISHNU_MEMORY__DSN": alice,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"), ""]),
    }
    payload = json.dumps(
        {"hook_event_name": "UserPromptSubmit", "cwd": "/w/p", "session_id": "s", "prompt": "retry policy?"}
    )
    with psycopg.connect(team.owner_dsn) as owner, owner.transaction():
        owner.execute("LOCK TABLE memories IN ACCESS EXCLUSIVE MODE")
        done = subprocess.run(
            [sys.executable, "-m", "mahavishnu", "memory", "context", "--tool", "claude"],
            input=payload,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,  # a hang guard only
        )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "waited 1 s for a lock another session holds on the store" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_member_takes_no_advisory_lock_but_the_ingest_one(team: TeamCluster) -> None:
    """One member's ``SELECT pg_advisory_lock(i) FROM generate_series(1, 2000000)`` filled the
    server's shared lock table: nobody, a superuser neither, could connect until their session ended.
    Now only ``team_ingest_lock`` takes one for a member, a few to a session."""
    import psycopg

    from mahavishnu.errors import StoreError
    from mahavishnu.memory.team import advisory

    team.init()
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    with psycopg.connect(bob, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(pg_advisory_lock(i)) FROM generate_series(1, 2000000) AS i")
        for function in advisory.LOCK_FUNCTIONS:
            args = "1" if function.endswith("(bigint)") else "1, 2"
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT {function.partition('(')[0]}({args})")  # type: ignore[arg-type]
        with pytest.raises(psycopg.errors.ProgramLimitExceeded), conn.transaction():
            conn.execute("SELECT count(team_ingest_lock(i::text)) FROM generate_series(1, 100000) AS i")
        assert conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone() == (0,)
    from contextlib import closing

    with (
        closing(PostgresBackend(alice)) as mine,
        closing(PostgresBackend(bob)) as theirs,
        closing(PostgresBackend(team.owner_dsn)) as owners,
        mine.ingest_lock("repo-1"),
    ):
        with pytest.raises(StoreError, match="being ingested"), theirs.ingest_lock("repo-1"):
            pass  # pragma: no cover
        with pytest.raises(StoreError, match="being ingested"), owners.ingest_lock("repo-1"):
            pass  # pragma: no cover (the owner's is the same lock)
        with theirs.ingest_lock("repo-2"), owners.reembed_lock():
            pass


def test_team_init_says_what_a_superuser_runs_for_advisory_locks_and_does_it_as_one(
    team: TeamCluster,
) -> None:
    import psycopg
    from psycopg.conninfo import make_conninfo

    from mahavishnu.memory.team import advisory, schema

    admin = make_conninfo(team.admin_dsn, dbname=team.database)
    functions = ", ".join(advisory.LOCK_FUNCTIONS)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"GRANT EXECUTE ON FUNCTION {functions} TO PUBLIC")  # type: ignore[arg-type]
    [warning] = [w for w in team.init().warnings if "advisory locks" in w]
    assert advisory.statements(team.owner) in warning
    assert not [w for w in schema.init(admin).warnings if "advisory locks" in w]
    assert not [w for w in team.init().warnings if "advisory locks" in w]  # the owner still may
    with (
        psycopg.connect(team.add("alice").dsn()) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("SELECT pg_advisory_lock(1)")


def test_a_member_cannot_fill_the_disk_with_temporary_files(team: TeamCluster) -> None:
    """One member's sort spilling to disk (``SET work_mem = '64kB'; SELECT g FROM generate_series(1,
    1e12) AS g ORDER BY g DESC``) wrote temporary files until the server's disk was full, no right
    needed. Now every member's session is bounded (``temp_files``), a bound they cannot lift; the
    owner's (its migrations' index builds) is not. ``team init`` as the owner says what a superuser
    runs, as a superuser it runs it."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    from mahavishnu.memory.team import schema, temp_files

    admin = make_conninfo(team.admin_dsn, dbname=team.database)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{team.database}" RESET temp_file_limit')  # type: ignore[arg-type]
        conn.execute(f'ALTER ROLE "{team.owner}" IN DATABASE "{team.database}" RESET temp_file_limit')  # type: ignore[arg-type]
    [warning] = [w for w in team.init().warnings if "temporary files" in w]
    assert temp_files.statements(team.database, team.owner) in warning
    assert not [w for w in schema.init(admin).warnings if "temporary files" in w]
    assert not [w for w in team.init().warnings if "temporary files" in w]
    with psycopg.connect(team.add("bob").dsn(), autocommit=True) as conn:
        assert conn.execute("SHOW temp_file_limit").fetchone() == (temp_files.TEMP_FILE_LIMIT,)
        for lift in ("SET temp_file_limit = -1", "RESET temp_file_limit", "SET temp_file_limit = '2GB'"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(lift)  # type: ignore[arg-type]
    with psycopg.connect(team.owner_dsn, autocommit=True) as conn:
        assert conn.execute("SHOW temp_file_limit").fetchone() == ("-1",)
