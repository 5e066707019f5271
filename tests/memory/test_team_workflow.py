"""Team memory where members already work, on the real PostgreSQL 18 + pgvector: sharing by
default (``team.share_by_default``), the author of another member's memory in search, listing and
recall, and the owner's reembed reaching every member's rows."""

from __future__ import annotations

import pytest

pytest.importorskip("psycopg")

import psycopg
from psycopg.conninfo import make_conninfo
from testkit.embedded_pg import PgServer
from testkit.team_pg import TeamCluster

from mahavishnu.config import MemorySettings, RecallSettings
from mahavishnu.errors import StoreError
from mahavishnu.memory.core.authors import authors, hit_dicts, memory_dicts
from mahavishnu.memory.core.backends.postgres import PostgresBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.loop import recall
from mahavishnu.memory.team import sharing

SETTINGS = MemorySettings(max_content_chars=2_000, relevance_floor=0.0)


def open_store(dsn: str, *, share_by_default: bool = False) -> MemoryStore:
    return MemoryStore(PostgresBackend(dsn, share_by_default=share_by_default), SETTINGS, FakeEmbedder())


def admin_rows(pg_server: PgServer, team: TeamCluster, query: str) -> list[tuple[object, ...]]:
    """What is really stored (a superuser, under no row-level security)."""
    with psycopg.connect(make_conninfo(pg_server.dsn, dbname=team.database)) as conn:
        return conn.execute(query).fetchall()  # type: ignore[arg-type]


def test_share_by_default_shares_new_decisions_insights_and_repositories_never_turns_or_notes(
    team: TeamCluster, pg_server: PgServer
) -> None:
    team.init()
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    with open_store(alice, share_by_default=True) as store:
        for kind in ("decision", "insight", "rag", "note", "agent"):
            store.store(f"alice {kind} about the deploy pipeline", kind)
    with open_store(bob) as store:  # bob keeps the default: private
        store.store("bob decision about the deploy pipeline", "decision")
        seen = {m.content for m in store.recent({"types": ("decision", "insight", "rag", "note", "agent")})}

    assert seen == {
        "alice decision about the deploy pipeline",
        "alice insight about the deploy pipeline",
        "alice rag about the deploy pipeline",
        "bob decision about the deploy pipeline",
    }
    stored = dict(admin_rows(pg_server, team, "SELECT content, visibility FROM memories"))
    assert stored["alice note about the deploy pipeline"] == "private"
    assert stored["alice agent about the deploy pipeline"] == "private"
    assert stored["bob decision about the deploy pipeline"] == "private"
    audited = admin_rows(pg_server, team, "SELECT action, memory_type FROM team_audit ORDER BY memory_type")
    assert audited == [("share", "decision"), ("share", "insight"), ("share", "rag")]


def test_another_members_shared_memory_names_its_author_in_search_listing_and_recall(
    team: TeamCluster, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAHAVISHNU_HOME", str(tmp_path))
    team.init()
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    alice_role = team.member_name("alice")
    with open_store(alice) as store:
        shared = store.store("deploy with a blue green rollout on fridays", "decision", project="api")
        sharing.set_visibility(store.backend, [shared.id], "team")  # type: ignore[arg-type]
    with open_store(bob) as store:
        mine = store.store("deploy notes of bob with a canary first", "decision", project="api")
        hits = hit_dicts(store.backend, store.search("deploy rollout", limit=10))
        listed = memory_dicts(store.backend, store.recent(limit=10))
        payload = {"hook_event_name": "SessionStart", "cwd": "/work/api", "session_id": "s-1"}
        monkeypatch.setattr(recall, "project_for", lambda cwd, **_: "api")
        answer = recall.build_context(store, payload, "claude", RecallSettings())

    by_id = {h["memory"]["id"]: h["memory"] for h in hits}
    assert by_id[shared.id]["author"] == alice_role and by_id[shared.id]["visibility"] == "team"
    assert by_id[mine.id]["author"] == team.member_name("bob") and by_id[mine.id]["visibility"] == "private"
    assert {m["id"]: m["author"] for m in listed}[shared.id] == alice_role
    assert answer is not None
    text = answer["hookSpecificOutput"]["additionalContext"]
    # each memory's own day (UTC, as recall labels it): two days when they straddle midnight
    assert f"[#{shared.id} decision · kept · from {alice_role} · {shared.created_at:%Y-%m-%d}]" in text
    assert f"[#{mine.id} decision · kept · {mine.created_at:%Y-%m-%d}]" in text  # one's own: no author


def test_single_user_stores_name_no_author(pg_server: PgServer, tmp_path: object) -> None:
    from pathlib import Path

    from mahavishnu.memory.core.backends.sqlite import SqliteBackend

    with MemoryStore(SqliteBackend(Path(str(tmp_path)) / "m.db"), SETTINGS, FakeEmbedder()) as store:
        memory = store.store("a note of my own", "note")
        assert authors(store.backend, [memory.id]) == {}
        assert "author" not in memory_dicts(store.backend, [memory])[0]
    cluster = TeamCluster(pg_server.dsn)  # a PostgreSQL store team init never touched
    try:
        with open_store(cluster.owner_dsn) as store:
            memory = store.store("a note of my own", "note")
            assert authors(store.backend, [memory.id]) == {}
            assert "author" not in hit_dicts(store.backend, store.search("note"))[0]["memory"]
    finally:
        cluster.drop()


def test_the_owners_reembed_covers_every_members_rows_and_stays_private_otherwise(
    team: TeamCluster, pg_server: PgServer
) -> None:
    team.init()
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    for dsn, who in ((alice, "alice"), (bob, "bob")):
        with open_store(dsn) as store:
            store.store(f"{who} private deploy note", "decision")
            shared = store.store(f"{who} shared deploy decision", "decision")
            sharing.set_visibility(store.backend, [shared.id], "team")  # type: ignore[arg-type]
    with open_store(team.owner_dsn) as store:
        store.store("the owner's own note", "note")
        before = {m.content for m in store.recent(limit=50)}

    # a member may not: no right on the staging table nor on meta
    with pytest.raises(StoreError), open_store(alice) as store:
        store.reembed(FakeEmbedder(dimension=32, model="small"))
    small = FakeEmbedder(dimension=32, model="small")
    with open_store(team.owner_dsn) as store:
        report = store.reembed(small)
        after = {m.content for m in store.recent(limit=50)}

    assert report.total == report.embedded == 5
    assert admin_rows(pg_server, team, "SELECT DISTINCT embedding_model, embedding_dim FROM memories") == [
        ("fake/small", 32)
    ]
    assert admin_rows(pg_server, team, "SELECT count(*) FROM embedding_staging") == [(0,)]
    assert (
        before
        == after
        == {
            "the owner's own note",
            "alice shared deploy decision",
            "bob shared deploy decision",
        }
    )
    actions = admin_rows(pg_server, team, "SELECT action FROM team_audit")
    assert actions == [("share",), ("share",)]  # a reembed is no edit
    with psycopg.connect(alice) as conn:  # the maintenance setting does nothing for a member
        conn.execute("SET mahavishnu.maintenance = 'reembed'")
        assert conn.execute("SELECT count(*) FROM memories WHERE content LIKE 'bob private%'").fetchone() == (
            0,
        )
        assert conn.execute("UPDATE memories SET content = 'x' WHERE content LIKE 'bob%'").rowcount == 0


def test_search_everywhere_and_insights_name_the_author_on_a_team_store_only(
    team: TeamCluster, pg_server: PgServer
) -> None:
    from mahavishnu.memory.insights.cross_project import list_insights, store_insight
    from mahavishnu.memory.peers.session_buddy import SessionBuddy
    from mahavishnu.memory.peers.unified import search_everywhere

    team.init()
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    alice_role, bob_role = team.member_name("alice"), team.member_name("bob")
    with open_store(alice) as store:
        shared = store_insight(
            store, "retries need jitter or the whole fleet stampedes at once", project="api"
        )
        hidden = store_insight(
            store, "retries of alice alone: a private thought about backoff", project="api"
        )
        sharing.set_visibility(store.backend, [shared.id], "team")  # type: ignore[arg-type]
    with open_store(bob) as store:
        mine = store.store("retries in the billing job back off exponentially", "decision", project="api")
        unified = search_everywhere(store, "retries", peer=SessionBuddy(enabled=False), limit=10)
        insights = list_insights(store, limit=10)

    by_id = {h.memory.id: h for h in unified.hits if h.memory}
    assert set(by_id) == {shared.id, mine.id}  # alice's private insight: never
    assert by_id[shared.id].author is not None and by_id[shared.id].author.owner == alice_role
    assert by_id[shared.id].source == "insight"
    as_json = {h["memory"]["id"]: h["memory"] for h in unified.to_dict()["hits"]}  # type: ignore[union-attr,index]
    assert as_json[shared.id]["author"] == alice_role and as_json[shared.id]["visibility"] == "team"  # type: ignore[index]
    assert as_json[mine.id]["author"] == bob_role and as_json[mine.id]["visibility"] == "private"  # type: ignore[index]
    assert [(i.memory.id, i.author.owner if i.author else None) for i in insights] == [
        (shared.id, alice_role)
    ]
    assert insights[0].to_dict()["author"] == alice_role and insights[0].shared_with == ("api",)
    assert hidden.id not in {i.memory.id for i in insights}

    cluster = TeamCluster(pg_server.dsn)  # a PostgreSQL store team init never touched: no authors
    try:
        with open_store(cluster.owner_dsn) as store:
            store_insight(store, "retries need jitter or the whole fleet stampedes at once")
            unified = search_everywhere(store, "retries", peer=SessionBuddy(enabled=False))
            insights = list_insights(store)
        assert [h.author for h in unified.hits] == [None]
        assert "author" not in unified.hits[0].to_dict()["memory"]  # type: ignore[operator]
        assert [i.author for i in insights] == [None] and "author" not in insights[0].to_dict()
    finally:
        cluster.drop()


def test_a_conversation_turn_reaches_another_member_only_once_shared_even_with_psql(
    team: TeamCluster, pg_server: PgServer
) -> None:
    from mahavishnu.memory.loop.conversations import store_conversation

    team.init()
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    alice_role = team.member_name("alice")
    with open_store(alice, share_by_default=True) as store:  # turns stay private even so
        said = store_conversation(
            store, "claude", "s-1", "user", "alice asks why the canary flapped", project="api"
        )
        kept = store_conversation(
            store, "claude", "s-1", "user", "alice keeps this one to herself", project="api"
        )
        assert sharing.share_project(store.backend, "api") == 0  # type: ignore[arg-type]  # never a turn
    [turn_id], [memory_id] = said.conversation_ids, said.memory_ids
    assert turn_id is not None

    def bob_sees() -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], bytes]:
        with psycopg.connect(bob, autocommit=True) as conn:
            turns = conn.execute("SELECT id, content FROM agent_conversations ORDER BY id").fetchall()
            memories = conn.execute("SELECT id, content FROM memories ORDER BY id").fetchall()
            with conn.cursor().copy("COPY (SELECT content FROM agent_conversations) TO STDOUT") as copy:
                copied = b"".join(bytes(block) for block in copy)
        return turns, memories, copied

    assert bob_sees() == ([], [], b"")
    with open_store(bob) as store:  # bob can neither share nor read it through Mahavishnu
        denied = sharing.set_turn_visibility(store.backend, [turn_id], "team")  # type: ignore[arg-type]
        assert denied.changed == () and denied.not_mine == (turn_id,)
    with psycopg.connect(bob, autocommit=True) as conn:
        assert conn.execute("UPDATE agent_conversations SET visibility = 'team'").rowcount == 0
        assert conn.execute("UPDATE memories SET visibility = 'team'").rowcount == 0
    assert bob_sees() == ([], [], b"")

    with open_store(alice) as store:
        report = sharing.set_turn_visibility(store.backend, [turn_id], "team")  # type: ignore[arg-type]
    assert report.changed == (turn_id,) and report.not_mine == ()
    turns, memories, copied = bob_sees()
    assert turns == [(turn_id, "alice asks why the canary flapped")]
    assert memories == [(memory_id, "alice asks why the canary flapped")]
    assert b"herself" not in copied
    with open_store(bob) as store:
        found = hit_dicts(store.backend, store.search("canary flapped", limit=10))
        turn_authors = authors(store.backend, [turn_id], turns=True)
    assert [(h["memory"]["id"], h["memory"]["author"]) for h in found] == [(memory_id, alice_role)]
    assert turn_authors[turn_id].owner == alice_role and turn_authors[turn_id].visibility == "team"
    assert admin_rows(pg_server, team, "SELECT action, memory_id FROM team_audit") == [("share", memory_id)]

    with open_store(alice) as store:  # unshared: gone again
        backend = store.backend
        assert isinstance(backend, PostgresBackend)
        assert sharing.set_turn_visibility(backend, [turn_id], "private").changed == (turn_id,)
        # sharing a turn's memory by its memory id shares the turn with it, unsharing takes both back
        assert sharing.set_visibility(backend, kept.memory_ids, "team").changed == tuple(kept.memory_ids)
        assert [t[1] for t in bob_sees()[0]] == ["alice keeps this one to herself"]
        sharing.set_visibility(backend, kept.memory_ids, "private")
    assert bob_sees() == ([], [], b"")
