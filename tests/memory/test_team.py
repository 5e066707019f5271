"""Team memory on the real PostgreSQL 18 + pgvector: roles, row-level security and sharing made by
``team init``/``team add``, checked through Mahavishnu and against a member connecting as their own
role with plain psycopg (what ``psql`` would do)."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("psycopg")

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from testkit.team_pg import TeamCluster

from mahavishnu.config import MemorySettings
from mahavishnu.errors import InvalidInputError, NotFoundError, StoreError
from mahavishnu.memory.core.backends.postgres import PostgresBackend
from mahavishnu.memory.core.backends.records import CONVERSATIONS
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.migrations.postgres import MIGRATIONS, OWNED_TABLES
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.team import members, schema, sharing

SETTINGS = MemorySettings(max_content_chars=2_000, relevance_floor=0.0)


def open_store(dsn: str) -> MemoryStore:
    return MemoryStore(PostgresBackend(dsn), SETTINGS, FakeEmbedder())


def turn(content: str, external_id: str) -> dict[str, Any]:
    return {
        "agent_id": "claude",
        "session_id": "s1",
        "role": "user",
        "content": content,
        "metadata": {},
        "external_id": external_id,
        "created_at": "2026-01-01T00:00:00+00:00",
    }


@pytest.fixture
def two_members(team: TeamCluster) -> tuple[str, str]:
    """alice and bob, each with a private and a shared memory and a private conversation turn."""
    team.init()
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    for dsn, who in ((alice, "alice"), (bob, "bob")):
        with open_store(dsn) as store:
            store.store(f"{who} private deploy note", "decision", project="api")
            shared = store.store(f"{who} shared deploy decision", "decision", project="api")
            assert sharing.set_visibility(store.backend, [shared.id], "team").changed == (shared.id,)  # type: ignore[arg-type]
            store.backend.add_records(CONVERSATIONS, [turn(f"{who} says the secret plan", f"{who}-t1")])
    return alice, bob


def test_init_protects_every_memory_and_activity_table_and_is_idempotent(team: TeamCluster) -> None:
    first = team.init()
    again = team.init()

    assert first.group == again.group == schema.group_name(team.database)
    assert set(first.protected) == {*OWNED_TABLES, "insight_shares", "team_profiles"}
    assert first.embedder == "fake/hashing-v1" and first.dimension == 64
    assert again.migrated == () and not first.superuser and first.warnings == ()
    with psycopg.connect(team.owner_dsn) as conn:
        rls = conn.execute(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = ANY(%s)",
            ([*OWNED_TABLES, "insight_shares"],),
        ).fetchall()
        group = conn.execute(
            "SELECT rolcanlogin, rolbypassrls, rolsuper FROM pg_roles WHERE rolname = %s", (first.group,)
        ).fetchone()
    assert len(rls) == 6 and all(on and forced for _, on, forced in rls)
    assert group == (False, False, False)


def test_members_are_plain_roles_that_own_nothing(team: TeamCluster) -> None:
    team.init()
    alice = team.member_name("alice")
    team.add("alice")
    with psycopg.connect(team.owner_dsn) as conn:
        attributes = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolcanlogin "
            "FROM pg_roles WHERE rolname = %s",
            (alice,),
        ).fetchone()
        owned = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = %s)",
            (alice,),
        ).fetchone()
    assert attributes == (False, False, False, False, True)
    assert owned == (0,)
    assert [m.name for m in members.members(team.owner_dsn)] == [alice]


def test_a_single_user_store_migrates_in_place_its_rows_staying_with_the_owner(team: TeamCluster) -> None:
    """A store made before teams (migrations up to m006) with a memory in it: ``team init`` migrates
    it, the memory belongs to the owner, stays private and keeps working for the owner."""
    with psycopg.connect(team.owner_dsn) as conn:
        conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        for migration in list(MIGRATIONS)[:6]:
            migration.apply(conn)
            conn.execute("INSERT INTO _migrations VALUES (%s, '2025-01-01T00:00:00Z')", (migration.name,))
        conn.execute(
            "INSERT INTO memories (content, memory_type, content_hash, embedding, embedding_model, "
            "embedding_dim, created_at, updated_at) VALUES ('the old decision', 'decision', repeat('a', 64), "
            "'[1,0,0]', 'fake/hashing-v1', 3, now(), now())"
        )
    report = team.init()
    alice = team.add("alice").dsn()

    assert "m007_owners" in report.migrated
    with psycopg.connect(team.owner_dsn) as conn:
        assert conn.execute("SELECT owner_role, visibility FROM memories").fetchall() == [
            (team.owner, "private")
        ]
    with psycopg.connect(alice) as conn:
        assert conn.execute("SELECT count(*) FROM memories").fetchone() == (0,)


def test_search_and_listing_see_own_and_shared_never_another_members_private(
    two_members: tuple[str, str],
) -> None:
    alice, _ = two_members
    with open_store(alice) as store:
        for mode in ("vector", "text", "hybrid"):
            found = {hit.memory.content for hit in store.search("deploy note decision", mode=mode, limit=50)}  # type: ignore[arg-type]
            assert "bob private deploy note" not in found, mode
            assert {"alice private deploy note", "bob shared deploy decision"} <= found, mode
        listed = {m.content for m in store.recent(limit=50)}
        turns = store.backend.records(CONVERSATIONS, {})
    assert listed == {
        "alice private deploy note",
        "alice shared deploy decision",
        "bob shared deploy decision",
    }
    assert [t["content"] for t in turns] == ["alice says the secret plan"]


def test_a_member_with_psql_cannot_read_change_or_delete_another_members_private_rows(
    team: TeamCluster, two_members: tuple[str, str]
) -> None:
    alice, bob = two_members
    bob_role = team.member_name("bob")
    with psycopg.connect(bob) as conn:  # every row of bob's, private ones included
        bobs_ids = {
            table: [i for (i,) in conn.execute(f"SELECT id FROM {table} WHERE owner_role = current_user")]  # type: ignore[str-bytes-safe]
            for table in ("memories", "agent_conversations")
        }
    assert len(bobs_ids["memories"]) == 2 and len(bobs_ids["agent_conversations"]) == 1
    with psycopg.connect(alice, autocommit=True) as conn:

        def rows(query: str) -> list[tuple[Any, ...]]:
            return conn.execute(query).fetchall()  # type: ignore[arg-type]

        assert rows("SELECT content FROM memories WHERE content LIKE 'bob%' ORDER BY 1") == [
            ("bob shared deploy decision",)
        ]
        assert rows("SELECT content FROM agent_conversations WHERE content LIKE 'bob%'") == []
        with conn.cursor().copy("COPY (SELECT content FROM memories) TO STDOUT") as copy:
            copied = b"".join(bytes(block) for block in copy)
        assert b"bob private" not in copied
        assert conn.execute("UPDATE memories SET content = 'x' WHERE content LIKE 'bob%'").rowcount == 0
        assert conn.execute("UPDATE memories SET visibility = 'team' WHERE content LIKE 'bob%'").rowcount == 0
        # A member deletes only through team_delete (no DELETE right: it would let them lock a table)
        for table, ids in bobs_ids.items():
            assert conn.execute("SELECT team_delete(%s, %s)", (table, ids)).fetchone() == (0,)
        refused = [
            sql.SQL("DELETE FROM memories WHERE content LIKE 'bob%'"),
            sql.SQL("DELETE FROM agent_conversations WHERE content LIKE 'bob%'"),
            sql.SQL("SELECT team_delete('team_audit', ARRAY[1]::bigint[])"),
            sql.SQL("SELECT team_delete('meta', ARRAY[1]::bigint[])"),
            sql.SQL("UPDATE memories SET owner_role = {} WHERE content LIKE 'alice%'").format(
                sql.Literal(bob_role)
            ),
            sql.SQL(
                "INSERT INTO agent_conversations "
                "(agent_id, session_id, role, content, created_at, owner_role) "
                "VALUES ('a', 's', 'user', 'forged', now(), {})"
            ).format(sql.Literal(bob_role)),
            sql.SQL("ALTER TABLE memories DISABLE ROW LEVEL SECURITY"),
            sql.SQL("DROP POLICY team_read ON memories"),
            sql.SQL("CREATE TABLE stolen AS SELECT * FROM memories"),
            sql.SQL("CREATE TEMP TABLE stolen (x int)"),
            sql.SQL(
                "INSERT INTO team_audit (actor, action, memory_id, owner_role, memory_type) "
                "VALUES ('x', 'share', 1, 'x', 'note')"
            ),
            sql.SQL("DELETE FROM team_audit"),
            sql.SQL("UPDATE meta SET value = 'x'"),
            sql.SQL("SELECT * FROM embedding_staging"),
            sql.SQL("SET row_security = off; SELECT count(*) FROM memories"),
        ]
        for statement in refused:
            with pytest.raises(psycopg.Error):
                conn.execute(statement)
    with psycopg.connect(bob) as conn:
        assert conn.execute(
            "SELECT count(*) FROM memories WHERE owner_role = %s", (bob_role,)
        ).fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM agent_conversations").fetchone() == (1,)


def test_each_member_keeps_their_own_copy_of_the_same_text(team: TeamCluster) -> None:
    team.init()
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    with open_store(alice) as store:
        mine = store.store("use WAL mode", "decision", project="api")
    with open_store(bob) as store:
        theirs = store.add("use WAL mode", "decision", project="api")
    assert not theirs.duplicate and theirs.memory.id != mine.id


def test_only_the_owner_shares_and_the_audit_says_who(
    team: TeamCluster, two_members: tuple[str, str]
) -> None:
    alice, bob = two_members
    with open_store(bob) as store:
        bobs = [m.id for m in store.recent(limit=10) if m.content.startswith("bob")]
    with open_store(alice) as store:
        backend = store.backend
        assert isinstance(backend, PostgresBackend)
        report = sharing.set_visibility(backend, bobs, "private")
        assert report.changed == () and set(report.not_mine) == set(bobs)
        assert sharing.share_project(backend, "api") == 1  # alice's private one
        events = sharing.audit(backend)
    assert {(e["actor"], e["action"]) for e in events} == {
        (team.member_name("alice"), "share"),
        (team.member_name("bob"), "share"),
    }


def test_a_removed_member_loses_access_and_their_shared_memories_stay_attributed(
    team: TeamCluster, two_members: tuple[str, str]
) -> None:
    alice, bob = two_members
    bob_role = team.member_name("bob")
    assert members.remove(team.owner_dsn, bob_role).shared == 1
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(bob).close()
    with open_store(alice) as store:
        backend = store.backend
        assert isinstance(backend, PostgresBackend)
        shared = [m for m in store.recent(limit=10) if m.content.startswith("bob")]
        authors = sharing.authors(backend, [m.id for m in shared])
    assert [m.content for m in shared] == ["bob shared deploy decision"]
    assert list(authors.values()) == [(bob_role, "team")]
    assert {m.name: m.current for m in members.members(team.owner_dsn)}[bob_role] is False
    with pytest.raises(NotFoundError):
        members.remove(team.owner_dsn, bob_role)


def test_a_removed_members_name_comes_back_only_for_them(
    team: TeamCluster, two_members: tuple[str, str]
) -> None:
    """A review: `team add` of a removed member's name (reused for someone new) handed the newcomer
    every private memory the one before had written. Bringing back the same person is said so."""
    _, bob = two_members
    bob_role = team.member_name("bob")
    with open_store(bob) as store:
        store.store("bob's private note on the payroll export", "note", project="api")
    members.remove(team.owner_dsn, bob_role)
    with pytest.raises(InvalidInputError, match="was a member of this team and was removed") as refused:
        members.add(team.owner_dsn, bob_role)
    assert f"team add {bob_role} --returning" in refused.value.hint
    assert {m.name: m.current for m in members.members(team.owner_dsn)}[bob_role] is False
    back = members.add(team.owner_dsn, bob_role, returning=True)
    assert {m.name: m.current for m in members.members(team.owner_dsn)}[bob_role] is True
    with open_store(back.dsn()) as store:
        assert any("payroll" in m.content for m in store.recent(limit=10))


def test_a_name_postgresql_reserves_or_the_group_s_is_refused_in_one_line(team: TeamCluster) -> None:
    """A fuzz: `team add pg_signal_backend` (or public, none, the team's group role) ended in psycopg's
    traceback from CREATE/ALTER ROLE or GRANT; each is now refused before any role is touched."""
    group = team.init().group
    for name in ("pg_signal_backend", "pg_newrole", "public", "none", group):
        with pytest.raises(InvalidInputError, match=r"cannot name a member|group role"):
            members.add(team.owner_dsn, name)
    with psycopg.connect(team.owner_dsn) as conn:
        assert conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (group,)).fetchone() == (
            False,
        )


@pytest.mark.parametrize(
    "where",
    [
        {"port": "nan"},
        {"port": "0"},
        {"port": "70000"},
        {"port": "A" * 1000},
        {"port": "9" * 5000},  # (int() refuses 4,300 digits: a ValueError traceback)
        {"host": "db host"},
    ],
)
def test_a_host_or_port_no_member_could_reach_makes_no_join_string(
    team: TeamCluster, where: dict[str, str]
) -> None:
    """A fuzz: `team add bob --port nan` (or a host with a space) said bob was a member and printed a
    join string no machine could connect with; it is refused before the role is made."""
    team.init()
    with pytest.raises(InvalidInputError, match=r"is not a (port number|host name)"):
        members.add(team.owner_dsn, team.member_name("bob"), **where)
    with psycopg.connect(team.owner_dsn) as conn:
        assert (
            conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (team.member_name("bob"),)).fetchone()
            is None
        )


def test_a_member_cannot_run_the_owners_commands(team: TeamCluster) -> None:
    team.init()
    alice = team.add("alice").dsn()
    with pytest.raises((StoreError, psycopg.Error)):
        members.add(alice, "mallory")
    with pytest.raises((StoreError, psycopg.Error)):
        schema.init(alice)


def test_a_migration_newer_than_the_team_store_asks_its_owner_for_team_init(team: TeamCluster) -> None:
    """A member running a release whose migrations the store lacks cannot create tables: the one-line
    error says the team's owner runs ``team init`` (new tables need its grants and policies too)."""
    from mahavishnu.errors import MigrationError

    team.init()
    alice = team.add("alice").dsn()
    with psycopg.connect(team.owner_dsn, autocommit=True) as conn:  # as if a newer release added the last one
        conn.execute("DELETE FROM _migrations WHERE name = %s", (MIGRATIONS.names[-1],))
    with pytest.raises(MigrationError, match="no permission to create tables") as info:
        PostgresBackend(alice)
    assert "mahavishnu team init" in (info.value.hint or "")


def test_the_owner_describes_a_project_and_every_members_notes_of_it_are_embedded_with_it(
    team: TeamCluster, two_members: tuple[str, str]
) -> None:
    """Row-level security lets the owner rewrite no member's private row but through the reembed
    policy: describing a project on a team store embeds the whole store again; a member may read
    the description and may not change it."""
    alice, _ = two_members
    with open_store(alice) as store:
        mine = store.store("alice's note on the ledger", "note", project="api")
        before = store.backend.vectors([mine.id])[mine.id]
        with pytest.raises((StoreError, psycopg.Error)):
            store.describe_project("api", "the payments API")

    with open_store(team.owner_dsn) as owner:
        assert owner.describe_project("api", "the payments API") >= 5

    with open_store(alice) as store:
        assert store.project_description("api") == "the payments API"
        after = store.backend.vectors([mine.id])[mine.id]
        assert list(after) != list(before)
        fresh = store.store("bob's twin note on the ledger", "note", project="api")
        assert list(store.backend.vectors([fresh.id])[fresh.id]) == list(
            store.embedder.embed_many([f"api (the payments API): {fresh.content}"], kind="document")[0]
        )


def test_the_owners_reembed_makes_a_members_private_turn_from_the_turn_before_it(
    team: TeamCluster, two_members: tuple[str, str]
) -> None:
    """The owner sees no member's private row but through the reembed's own policy: what each
    vector is made from (a captured turn's previous turn) is read there, not by a plain read that
    row-level security empties."""
    alice, _ = two_members
    with open_store(alice) as store:
        said = store.store("yes, last Tuesday", "agent", metadata={"previous_turn": "when did you deploy?"})
        made = store.backend.vectors([said.id])[said.id]
    with open_store(team.owner_dsn) as owner:
        owner.reembed(owner.embedder)
    with open_store(alice) as store:
        assert list(store.backend.vectors([said.id])[said.id]) == list(made)


def test_a_member_removed_while_their_process_is_connected_is_told_so(team: TeamCluster) -> None:
    """A daemon holds its connections: after `team remove`, its next statement is refused for lack
    of a right, and the member reads the documented line, not "permission denied for table meta"."""
    from mahavishnu.errors import BackendUnavailableError

    team.init()
    bob = team.add("bob").dsn()
    role = team.member_name("bob")
    with open_store(bob) as store:
        store.store("bob's note before", "note")
        assert members.remove(team.owner_dsn, role).shared == 0  # (he shared nothing)
        with pytest.raises(BackendUnavailableError, match="you are no longer a member of this team"):
            store.store("bob's note after", "note")


def test_init_by_an_owner_of_the_tables_but_not_of_the_database_says_what_it_could_not_revoke(
    team: TeamCluster,
) -> None:
    """Only the database's owner can revoke PUBLIC's CONNECT and TEMPORARY: init by another role
    left every role on the server able to connect and make temporary objects, and said nothing."""
    database, owner = sql.Identifier(team.database), sql.Identifier(team.owner)
    with psycopg.connect(make_conninfo(team.admin_dsn, dbname=team.database), autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(database))
        admin.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(owner))
    [warning] = team.init().warnings
    assert "connect to it and make temporary objects in it" in warning
    assert f"REVOKE CONNECT, TEMPORARY ON DATABASE {team.database} FROM PUBLIC" in warning
    with psycopg.connect(make_conninfo(team.admin_dsn, dbname=team.database), autocommit=True) as admin:
        advice = warning.split("its owner runs `", 1)[1].rstrip("`")  # as the warning says
        admin.execute(advice.encode())
    assert team.init().warnings == ()


def test_a_members_export_holds_what_they_wrote_not_what_teammates_shared(
    two_members: tuple[str, str], tmp_path: Any
) -> None:
    """A review: bob's `memory export` carried alice's shared decision without its author, and an
    import made it bob's. His file holds his own memories, and says how many of theirs it left out."""
    _, bob = two_members
    path = tmp_path / "bob.jsonl"
    with open_store(bob) as store:
        assert {m.content for m in store.recent(limit=10)} >= {"alice shared deploy decision"}
        counts = store.export(path)
    lines = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    written = {line["content"] for line in lines if "content" in line and "record" not in line}
    assert written == {"bob private deploy note", "bob shared deploy decision"}
    assert counts.memories == 2 and counts.theirs == 1
