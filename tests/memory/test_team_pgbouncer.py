"""Twelve terminals on one team store through PgBouncer in transaction mode (Debian's ``pgbouncer``,
started by the test in front of the embedded PostgreSQL 18): every client stores, searches and lists
at once; none gets an error (prepared statements, settings left on a server connection), nothing is
lost or duplicated, and the server sees no more connections than PgBouncer's pool."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

pytest.importorskip("psycopg")

import psycopg
from testkit.pgbouncer import Bouncer, pgbouncer_binary, running_pgbouncer
from testkit.team_pg import TeamCluster

from mahavishnu.config import MemorySettings
from mahavishnu.memory.core.backends.postgres import PostgresBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.models import Filters
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.team import sharing

CLIENTS = 12
ROUNDS = 15
POOL = 3
SETTINGS = MemorySettings(max_content_chars=2_000, relevance_floor=0.0)


@pytest.fixture
def team(team: TeamCluster) -> TeamCluster:
    """The shared fixture's team store (tests/conftest.py), initialised."""
    team.init()
    return team


@pytest.fixture
def bouncer(team: TeamCluster) -> Iterator[tuple[Bouncer, str, str]]:
    if pgbouncer_binary() is None:
        reason = "pgbouncer is not installed (.ci/install-pgbouncer.sh installs Debian's)"
        print(f"SKIPPED: {reason}")
        pytest.skip(reason)
    alice, bob = team.add("alice"), team.add("bob")
    users = {alice.user: alice.password, bob.user: bob.password}
    with running_pgbouncer(team.owner_dsn, users, pool_size=POOL) as running:
        yield running, running.dsn(alice.dsn()), running.dsn(bob.dsn())


def terminal(dsn: str, n: int, errors: list[BaseException]) -> None:
    """One terminal: its own process-like store (pool of 1), storing, searching, listing, sharing."""
    try:
        with MemoryStore(PostgresBackend(dsn, pool_size=1), SETTINGS, FakeEmbedder()) as store:
            for i in range(ROUNDS):
                memory = store.store(
                    f"terminal {n} decision {i}: retry with jitter", "decision", project="api"
                )
                if i % 5 == 0:
                    sharing.set_visibility(store.backend, [memory.id], "team")  # type: ignore[arg-type]
                store.search("retry jitter decision", mode="hybrid", limit=5)
                store.search("retry jitter", mode="vector", filters=Filters(project="api"), limit=5)
                store.recent(limit=3)
    except BaseException as exc:  # collected and reported by the test
        errors.append(exc)


def test_twelve_terminals_through_pgbouncer_in_transaction_mode(
    team: TeamCluster, bouncer: tuple[Bouncer, str, str]
) -> None:
    _, alice, bob = bouncer
    errors: list[BaseException] = []
    peak = [0]
    stop = threading.Event()

    def watch() -> None:  # server connections of the members' roles, sampled during the run
        with psycopg.connect(team.owner_dsn, autocommit=True) as conn:
            while not stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = ANY(%s)",
                    ([team.member_name("alice"), team.member_name("bob")],),
                ).fetchone()
                peak[0] = max(peak[0], int(row[0]) if row else 0)
                stop.wait(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [
        threading.Thread(target=terminal, args=(alice if n % 2 else bob, n, errors)) for n in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    stop.set()
    watcher.join()

    assert errors == [], errors[:3]
    with psycopg.connect(team.owner_dsn) as conn:
        counts = dict(
            conn.execute("SELECT owner_role, count(DISTINCT content) FROM memories GROUP BY 1").fetchall()
        )
        total = conn.execute("SELECT count(*) FROM memories").fetchone()
    # The owner sees only what was shared; count as each member instead.
    for dsn, role in ((alice, team.member_name("alice")), (bob, team.member_name("bob"))):
        with psycopg.connect(dsn, prepare_threshold=None) as conn:
            mine = conn.execute(
                "SELECT count(*), count(DISTINCT content) FROM memories WHERE owner_role = current_user"
            ).fetchone()
        assert mine == (CLIENTS // 2 * ROUNDS, CLIENTS // 2 * ROUNDS), role
    assert counts and total == (sum(counts.values()),)
    assert 0 < peak[0] <= 2 * POOL  # one pool per user (and database) in PgBouncer


def test_a_reembed_through_pgbouncer_leaves_no_lock_behind(team: TeamCluster) -> None:
    """``memory reembed`` took a session advisory lock: through PgBouncer in transaction mode it
    stayed on a server connection after the run (PgBouncer resets none), so a later reembed was
    refused as 'another `memory reembed` is moving the memory store' for as long as PgBouncer kept
    that connection (or, on the same one, not locked out at all). Now it is held by a transaction,
    which keeps its server connection until it ends."""
    from testkit.team_pg import OWNER_PASSWORD

    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed (.ci/install-pgbouncer.sh installs Debian's)")
    with running_pgbouncer(team.owner_dsn, {team.owner: OWNER_PASSWORD}, pool_size=2) as running:
        dsn = running.dsn(team.owner_dsn)
        with MemoryStore(PostgresBackend(dsn, pool_size=1), SETTINGS, FakeEmbedder()) as store:
            store.store("retry with jitter", "decision", project="api")
            assert store.reembed(FakeEmbedder(model="v2")).done
            with psycopg.connect(team.owner_dsn, autocommit=True) as conn:
                held = conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                ).fetchone()
            assert held == (0,)
            assert store.reembed(FakeEmbedder(model="v3")).done
