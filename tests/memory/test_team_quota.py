"""What each member writes to a team store is counted and limited by the database (``team init``'s
quota, ``memory/team/quota.py``, SETUP 11): before it, a member with ``psql`` could insert rows
without end until the server's disk was full for everyone. Against the real PostgreSQL 18 +
pgvector, each member as their own role: past their rows or bytes a statement is refused whole,
deleting frees, nobody can change a count or read another's, a member's open transaction holds up
nobody, a stale count is counted again, and the CLI says it in one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import ANY

import pytest

pytest.importorskip("psycopg")

import psycopg
from psycopg.conninfo import make_conninfo
from testkit.embedded_pg import PgServer
from testkit.team_pg import TeamCluster, join_through_cli, within
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import MemorySettings
from mahavishnu.errors import ServerUnreachableError
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.backends.postgres import QUOTA_REFUSAL, PostgresBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.outbox import RefusedError
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.team import quota, schema
from mahavishnu.memory.team import sharing as team_sharing

SETTINGS = MemorySettings(max_content_chars=2_000, relevance_floor=0.0)
DIM = 64  # TeamCluster's
#: A member's raw INSERT of ``n`` memories in one statement.
BULK = (
    "INSERT INTO memories (content, memory_type, content_hash, embedding, embedding_model, embedding_dim, "
    "created_at, updated_at) SELECT 'spam ' || i, 'note', md5(random()::text) || md5(i::text), "
    f"array_fill(0.1, ARRAY[{DIM}])::vector, 'fake/hashing-v1', {DIM}, now(), now() "
    "FROM generate_series(1, %s) AS i"
)


def open_store(dsn: str) -> MemoryStore:
    return MemoryStore(PostgresBackend(dsn), SETTINGS, FakeEmbedder())


def init(team: TeamCluster, **limits: int) -> schema.InitReport:
    return schema.init(team.owner_dsn, embedder=team.embedder, dimension=team.dimension, **limits)


def _count(dsn: str, sql: str = "SELECT count(*) FROM memories WHERE owner_role = session_user") -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute(sql).fetchone()[0])  # type: ignore[index]


@pytest.fixture
def admin(pg_server: PgServer, team: TeamCluster) -> str:
    """A superuser on the team's database: what is really stored and counted."""
    return make_conninfo(pg_server.dsn, dbname=team.database)


def test_a_member_past_their_rows_is_refused_and_nothing_is_stored(team: TeamCluster) -> None:
    init(team, member_rows=5)
    bob = team.add("bob").dsn()
    with open_store(bob) as store:
        for i in range(5):
            store.store(f"note {i} on the deploy pipeline", "note", project="api")
        with pytest.raises(RefusedError) as refused:
            store.store("one more note", "note", project="api")
    said = refused.value.message
    assert "you have written 6 rows to this team store, more than the 5 its owner allows a member" in said
    assert "memory delete" in (refused.value.hint or "")
    assert _count(bob) == 5
    with psycopg.connect(bob) as raw, pytest.raises(psycopg.errors.CheckViolation) as caught:
        raw.execute(BULK, (1,))
    assert caught.value.diag.constraint_name == QUOTA_REFUSAL
    alice = team.add("alice").dsn()  # a limit each, not one for the team
    with open_store(alice) as store:
        store.store("alice's own note", "note", project="api")


def test_one_statement_past_the_limit_is_refused_whole(team: TeamCluster) -> None:
    init(team, member_rows=1_000)
    bob = team.add("bob").dsn()
    with psycopg.connect(bob) as raw:
        raw.execute(BULK, (999,))
        raw.commit()
        with pytest.raises(psycopg.errors.CheckViolation):
            raw.execute(BULK, (50_000,))
    assert _count(bob) == 999


def test_bytes_are_limited_and_deleting_frees_them(team: TeamCluster) -> None:
    init(team, member_rows=0, member_bytes=40_000)  # no limit on rows
    bob = team.add("bob").dsn()
    stored = []
    with open_store(bob) as store:
        with pytest.raises(RefusedError) as refused:
            for i in range(100):
                stored.append(store.store(f"{i} " + "a long design note " * 90, "note", project="api"))
        said = refused.value.message
        assert "holds 4" in said and "KB, more than the 40.0 KB its owner allows a member" in said, said
        assert 5 < len(stored) < 40
        store.delete(stored[0].id)
        store.store("a short one, after a delete", "note", project="api")
    assert _count(bob) == len(stored)
    init(team, member_rows=0, member_bytes=1_000)  # the owner lowers it under what bob holds
    with open_store(bob) as store:  # a share and an unshare grow nothing ("private" is longer)
        for visibility in ("team", "private"):
            team_sharing.set_visibility(store.backend, [stored[1].id], visibility)  # type: ignore[arg-type]


def test_nobody_changes_a_count_nor_reads_another_s(team: TeamCluster) -> None:
    init(team, member_rows=10)
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    for dsn in (alice, bob):
        with open_store(dsn) as store:
            store.store("a note", "note")
    attacks = [
        "UPDATE team_usage SET rows = 0",
        "DELETE FROM team_usage",
        "INSERT INTO team_usage VALUES ('x', 0, 0, now())",
        "TRUNCATE team_usage",
        "SELECT team_quota_count(-100, -100)",
        "SELECT team_quota_recount(session_user)",
        "ALTER TABLE memories DISABLE TRIGGER team_quota_insert",
        "DROP TRIGGER team_quota_insert ON memories",
        "UPDATE meta SET value = '0' WHERE key = 'member_rows'",
    ]
    with psycopg.connect(bob, autocommit=True) as raw:
        for attack in attacks:
            with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedFunction)):
                raw.execute(attack)  # type: ignore[arg-type]
        seen = raw.execute("SELECT role, rows FROM team_usage").fetchall()
    assert seen == [(team.member_name("bob"), 1)]
    with psycopg.connect(bob) as conn:
        used = quota.usage(conn)
    assert used is not None and (used.role, used.rows, used.most_rows) == (team.member_name("bob"), 1, 10)
    assert used.bytes > 0


def test_a_member_s_open_transaction_holds_up_nobody(team: TeamCluster) -> None:
    """Bob's count stays locked while his transaction writes: Alice stores and deletes her shared
    note (which takes Bob's share of it along), neither waiting on him."""
    init(team)
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    with open_store(alice) as store:
        shared = store.store("retries back off with jitter", "note", project="api")
        team_sharing.set_visibility(store.backend, [shared.id], "team")  # type: ignore[arg-type]
    with psycopg.connect(bob) as raw:
        raw.execute(
            "INSERT INTO insight_shares (memory_id, project, via, shared_at) "
            "VALUES (%s, 'web', 'direct', now())",
            (shared.id,),
        )
        raw.execute(BULK, (3,))  # uncommitted: his count's row is locked

        def alice_writes() -> None:
            with open_store(alice) as store:
                store.store("another note of alice's", "note", project="api")
                store.delete(shared.id)

        assert within(30, alice_writes) is None
        raw.commit()
    assert _count(bob) == 3
    counts = []
    for _ in range(2):  # his share went with her memory: in his count until it is counted again
        with psycopg.connect(bob) as conn:
            counts.append(quota.usage(conn).rows)  # type: ignore[union-attr]
        init(team)
    assert counts == [4, 3]


def test_a_member_over_the_limit_can_still_unshare_and_delete_and_no_share_loop_fills_the_disk(
    team: TeamCluster,
) -> None:
    """The audit rows a share, an unshare or a delete of a team memory leaves are no member's to
    delete: counted apart, they never stop an unshare or a delete (which free room), and shares
    past the limit are refused."""
    init(team, member_rows=4)
    bob = team.add("bob").dsn()
    with open_store(bob) as store:
        kept = [store.store(f"note {i} on the rollout", "note", project="api") for i in range(3)]
        team_sharing.set_visibility(store.backend, [kept[0].id, kept[1].id], "team")  # type: ignore[arg-type]
    init(team, member_rows=2)  # the owner lowers the limit under what bob holds (3 rows, 2 audited)
    with open_store(bob) as store:
        with pytest.raises(RefusedError):
            store.store("refused: over the limit", "note")
        team_sharing.set_visibility(store.backend, [kept[0].id], "private")  # type: ignore[arg-type]
        store.delete(kept[1].id)  # a team memory: its delete is audited too, and passes
        store.delete(kept[0].id)
        store.store("room again", "note")
        with pytest.raises(RefusedError) as refused:  # a share is a write: past the limit, refused
            team_sharing.set_visibility(store.backend, [kept[2].id], "team")  # type: ignore[arg-type]
    assert "you have shared or edited team memories 5 times" in refused.value.message, refused.value.message
    with psycopg.connect(bob) as conn:
        used = quota.usage(conn)
    assert used is not None and used.rows == 2  # the audit's rows are not in the member's own count


def test_a_stale_count_is_counted_again_but_not_on_every_statement(team: TeamCluster, admin: str) -> None:
    init(team, member_rows=5)
    bob = team.add("bob").dsn()
    with open_store(bob) as store:
        store.store("a note", "note")
    with psycopg.connect(admin) as conn:  # as a count left high by rows another role deleted
        conn.execute("UPDATE team_usage SET rows = 100, counted_at = NULL")  # never counted
    with open_store(bob) as store:
        store.store("counted again: two rows", "note")
    with psycopg.connect(admin) as conn:
        assert conn.execute("SELECT rows FROM team_usage").fetchone() == (2,)
        conn.execute("UPDATE team_usage SET rows = 100, counted_at = now()")  # counted a moment ago
    with open_store(bob) as store, pytest.raises(RefusedError):
        store.store("refused without a scan", "note")
    init(team)  # counts every role again (and keeps the limit it recorded)
    with psycopg.connect(admin) as conn:
        assert conn.execute("SELECT rows FROM team_usage").fetchone() == (2,)
        assert conn.execute("SELECT value FROM meta WHERE key = 'member_rows'").fetchone() == ("5",)


def test_a_member_reads_their_whole_usage_row(team: TeamCluster, admin: str) -> None:
    """A count never counted again from its rows had ``counted_at`` '-infinity', which psycopg
    cannot read ("timestamp too small"): a member's ``SELECT * FROM team_usage`` failed. It is
    NULL, and ``team init`` on a store an older setup left turns its '-infinity' into a time."""
    init(team, member_rows=5)
    bob = team.add("bob").dsn()
    with open_store(bob) as store:  # bob's first write makes his row: never counted again
        store.store("a note", "note")
    with psycopg.connect(bob) as conn:
        row = conn.execute("SELECT * FROM team_usage").fetchall()
    assert row == [(team.member_name("bob"), 1, ANY, None)]
    with psycopg.connect(admin) as conn:  # as SETUP 16 left it
        conn.execute("UPDATE team_usage SET counted_at = '-infinity'")
    init(team)
    with psycopg.connect(bob) as conn:
        ((counted_at,),) = conn.execute("SELECT counted_at FROM team_usage").fetchall()
    assert counted_at is not None


def test_rows_written_before_the_quota_are_counted_by_team_init(team: TeamCluster, admin: str) -> None:
    init(team, member_rows=0)
    bob = team.add("bob").dsn()
    with psycopg.connect(bob) as raw:
        raw.execute(BULK, (4,))
        raw.commit()
    with psycopg.connect(admin) as conn:  # as an older release left the store: no count
        conn.execute("DELETE FROM team_usage")
    init(team, member_rows=3)
    with open_store(bob) as store:
        with pytest.raises(RefusedError):
            store.store("over", "note")
        for memory in store.recent(limit=2):
            store.delete(memory.id)
        store.store("room again", "note")
    assert _count(bob) == 3


def test_team_wide_tables_are_capped_for_the_team(team: TeamCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quota, "TEAM_ROWS", 3)
    init(team)
    bob = team.add("bob").dsn()
    with psycopg.connect(bob) as raw:
        raw.execute(
            "INSERT INTO project_groups (name, created_at) "
            "SELECT 'g' || i, now() FROM generate_series(1, 3) AS i"
        )
        raw.commit()
        with pytest.raises(psycopg.errors.CheckViolation) as caught:
            raw.execute("INSERT INTO project_groups (name, created_at) VALUES ('g4', now())")
    assert caught.value.diag.constraint_name == QUOTA_REFUSAL
    assert "at most 3 rows in project_groups" in str(caught.value)


@pytest.fixture
def alice_home(team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """Alice's machine, joined to a team store that allows each member 2 rows (``team init`` through
    the CLI)."""
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())
    runner = CliRunner()
    result = runner.invoke(app, ["team", "init", "--dsn", team.owner_dsn, "--member-rows", "2"])
    assert result.exit_code == 0, result.output
    join_through_cli(runner, app, team, "alice", tmp_path / "alice", monkeypatch)
    yield runner


def test_the_cli_says_it_in_one_line_and_team_status_shows_the_count(alice_home: CliRunner) -> None:
    runner = alice_home
    for i in range(2):
        assert runner.invoke(app, ["memory", "store", f"note {i}", "--type", "note"]).exit_code == 0
    result = runner.invoke(app, ["memory", "store", "the third note", "--type", "note"])
    assert "Traceback" not in result.output and "CheckViolation" not in result.output
    assert "you have written 3 rows to this team store, more than the 2 its" in result.output, result.output
    listed = runner.invoke(app, ["memory", "list", "--json"])
    assert sorted(m["content"] for m in json.loads(listed.stdout)) == ["note 0", "note 1"]
    status = runner.invoke(app, ["team", "status"])
    assert status.exit_code == 0, status.output
    assert (
        "you have written 2 rows" in status.output and "each member may write at most 2 rows" in status.output
    ), status.output
    data = json.loads(runner.invoke(app, ["team", "status", "--json"]).stdout)
    assert data["quota"]["rows"] == 2 and data["quota"]["member_rows"] == 2


@pytest.mark.parametrize(
    "limit",
    [
        ["--member-rows", "-1"],
        ["--member-bytes", "lots"],
        ["--member-bytes", "-5MB"],
        ["--member-bytes", "9" * 5000],  # (a fuzz: OverflowError's traceback)
        ["--member-connections", "99999999999"],  # (a fuzz: the server's syntax error, as a traceback)
    ],
)
def test_team_init_refuses_a_limit_that_is_none_and_changes_nothing(
    team: TeamCluster, limit: list[str]
) -> None:
    result = CliRunner().invoke(app, ["team", "init", "--dsn", team.owner_dsn, *limit])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert limit[0] in result.output
    with psycopg.connect(team.owner_dsn) as conn:  # refused before the store was touched
        assert schema.team_group(conn) is None


def test_a_member_cannot_fill_the_disk_with_large_objects(team: TeamCluster) -> None:
    """Large objects live in ``pg_largeobject``, which no member's quota counts: a member's
    ``SELECT lo_from_bytea(0, …)`` in a loop filled the server's disk. The administrator revokes
    PUBLIC's right to make them (docs/team.md; ``TeamCluster`` does, as told); ``team init`` as a
    superuser does it itself, and as the owner says what to run while it is not done."""
    with psycopg.connect(make_conninfo(team.admin_dsn, dbname=team.database), autocommit=True) as admin:
        admin.execute(
            "GRANT EXECUTE ON FUNCTION "
            + ", ".join(f"pg_catalog.{f}" for f in schema.LARGE_OBJECT_WRITES)
            + " TO PUBLIC"
        )
    [warning] = [w for w in team.init().warnings if "large objects" in w]
    assert schema.REVOKE_LARGE_OBJECTS in warning
    admin_init = schema.init(make_conninfo(team.admin_dsn, dbname=team.database))
    assert not [w for w in admin_init.warnings if "large objects" in w]
    assert not [w for w in team.init().warnings if "large objects" in w]

    with psycopg.connect(team.add("alice").dsn(), autocommit=True) as alice:
        for made in ("SELECT lo_from_bytea(0, 'x'::bytea)", "SELECT lo_create(0)", "SELECT lo_creat(-1)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                alice.execute(made)


def _connection_limit(team: TeamCluster, name: str) -> int:
    with psycopg.connect(team.owner_dsn) as conn:
        row = conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (team.member_name(name),))
        return int(row.fetchone()[0])  # type: ignore[index]


def test_a_member_holds_at_most_their_connections_and_is_told_so_in_one_line(team: TeamCluster) -> None:
    """Without a limit one member opening connections in a loop took all of the server's
    ``max_connections``, and no other member could connect."""
    assert team.init().member_connections == 20
    alice = team.add("alice").dsn()
    assert _connection_limit(team, "alice") == 20
    assert init(team, member_connections=2).member_connections == 2
    assert _connection_limit(team, "alice") == 2  # a member added before gets it from team init
    ticket = team.add("bob")
    bob = ticket.dsn()
    assert _connection_limit(team, "bob") == 2
    with psycopg.connect(bob, autocommit=True) as one, psycopg.connect(bob) as two:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # nor can a member raise their own
            one.execute(f"ALTER ROLE {team.member_name('bob')} CONNECTION LIMIT -1")
        with pytest.raises(psycopg.OperationalError, match="too many connections for role"):
            psycopg.connect(bob).close()
        with pytest.raises(ServerUnreachableError) as refused:
            open_store(bob)
        said = refused.value.message
        assert f"refuses {team.member_name('bob')} another connection" in said and "\n" not in said
        assert "--member-connections" in (refused.value.hint or "")
        assert ticket.password not in said + (refused.value.hint or "")
        with psycopg.connect(alice) as other:  # a limit each, not one for the team
            assert other.execute("SELECT 1").fetchone() == (1,)
        assert two.execute("SELECT 1").fetchone() == (1,)


def test_team_init_warns_when_a_member_may_take_every_connection(team: TeamCluster) -> None:
    assert any("--member-connections" in w for w in init(team, member_connections=0).warnings)
    assert not any("--member-connections" in w for w in init(team, member_connections=5).warnings)


def test_a_member_at_their_connections_gets_one_line_from_the_cli(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mahavishnu.config import load_settings
    from mahavishnu.memory.core.backends.postgres import dsn_host, resolve_dsn

    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())
    runner = CliRunner()
    result = runner.invoke(app, ["team", "init", "--dsn", team.owner_dsn, "--member-connections", "1"])
    assert result.exit_code == 0, result.output
    assert "each member may hold at most 1 connection" in result.output
    join_through_cli(runner, app, team, "alice", tmp_path / "alice", monkeypatch)
    status = runner.invoke(app, ["team", "status"])
    assert "you hold 1 connection to the server; you may hold at most 1 connection" in status.output
    with psycopg.connect(resolve_dsn(load_settings().memory, "memory.dsn")):  # her only one, taken
        listed = runner.invoke(app, ["memory", "list"])
        stored = runner.invoke(app, ["memory", "store", "Deploys go blue-green"])
    # queued, and said why: the server answered (it said "the team store … is unreachable")
    assert stored.exit_code == 0 and "unreachable" not in stored.output, stored.output
    assert f"queued: PostgreSQL at {dsn_host(team.owner_dsn)} refuses" in stored.output
    assert listed.exit_code != 0 and "Traceback" not in listed.output
    assert f"refuses {team.member_name('alice')} another connection" in listed.output, listed.output
    assert "--member-connections" in listed.output
    assert runner.invoke(app, ["memory", "list"]).exit_code == 0


def test_a_pool_that_cannot_grow_past_a_members_limit_says_why(team: TeamCluster) -> None:
    """A long-lived process (the memory daemon) whose pool needs one more connection than the member
    may hold waited out the pool and said only that it had."""
    from mahavishnu.errors import BackendUnavailableError

    init(team, member_connections=2)
    bob = team.add("bob").dsn()
    backend = PostgresBackend(bob, pool_size=3, pool_timeout=1.0)
    try:
        # the pool's first connection and this one: bob's two
        with psycopg.connect(bob), pytest.raises(BackendUnavailableError) as refused:
            backend.run(lambda conn: backend.run(lambda again: 1))
        assert f"refuses {team.member_name('bob')} another connection" in refused.value.message
    finally:
        backend.close()
