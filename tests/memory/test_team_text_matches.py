"""A member's text search through the GIN index (``team_text_matches``, ``m012_team_text_matches``
and ``team init``), on the real PostgreSQL 18: the function hands a member the ids of matching rows
they see and never another member's private ones, whoever calls it and however (Mahavishnu, raw
psycopg as their own role, ``SET ROLE``, PgBouncer in transaction mode), and text and hybrid
searches return what the statement reading ``memories`` itself returned before."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("psycopg")

import psycopg
from psycopg.conninfo import make_conninfo
from testkit.pgbouncer import pgbouncer_binary, running_pgbouncer
from testkit.team_pg import TeamCluster

from mahavishnu.config import MemorySettings
from mahavishnu.memory.core.backends import postgres
from mahavishnu.memory.core.backends.base import SearchRequest
from mahavishnu.memory.core.backends.postgres import PostgresBackend, search_settings, search_sql
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.models import Filters
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.team import schema, sharing

SETTINGS = MemorySettings(max_content_chars=2_000, relevance_floor=0.0)
MATCHES = "SELECT id FROM team_text_matches(to_tsquery('english', %s)) ORDER BY id"
WORDS = "deploy | rollback"


class Team:
    def __init__(self, cluster: TeamCluster) -> None:
        self.cluster = cluster
        cluster.init()
        self.alice, self.bob = cluster.add("alice"), cluster.add("bob")
        self.private: dict[str, set[int]] = {}
        self.shared: set[int] = set()
        self.lunch: dict[str, int] = {}
        for ticket in (self.alice, self.bob):
            who = ticket.user
            with MemoryStore(PostgresBackend(ticket.dsn()), SETTINGS, FakeEmbedder()) as store:
                mine = {
                    store.store(
                        f"{who} private deploy note {i}: rollback by hand", "decision", project="api"
                    ).id
                    for i in range(3)
                }
                self.lunch[who] = store.store(f"{who} private note about lunch", "note", project="api").id
                shared = store.store(f"{who} shared deploy decision: canary first", "decision", project="api")
                sharing.set_visibility(store.backend, [shared.id], "team")  # type: ignore[arg-type]
            self.private[who] = mine
            self.shared.add(shared.id)

    def sees(self, who: str) -> set[int]:
        return self.private[who] | self.shared


@pytest.fixture
def team(team: TeamCluster) -> Team:
    return Team(team)


def ids(dsn: str, query: str = WORDS, before: str | None = None) -> set[int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        if before:
            conn.execute(before)  # type: ignore[arg-type]  # literal SQL of this test
        return {int(row[0]) for row in conn.execute(MATCHES, (query,))}


def test_a_member_calling_it_with_raw_psycopg_gets_only_ids_they_see(team: Team) -> None:
    alice, bob = team.alice.user, team.bob.user

    assert ids(team.alice.dsn()) == team.sees(alice)
    assert ids(team.bob.dsn()) == team.sees(bob)
    assert ids(team.alice.dsn(), "lunch") == {team.lunch[alice]}  # never bob's
    assert ids(team.bob.dsn(), "lunch") == {team.lunch[bob]}


def test_it_cannot_be_called_as_another_identity(team: Team) -> None:
    cluster, alice, bob = team.cluster, team.alice, team.bob
    with psycopg.connect(alice.dsn(), autocommit=True) as conn:
        signatures = conn.execute(
            "SELECT pg_get_function_identity_arguments(oid) FROM pg_proc WHERE proname = 'team_text_matches'"
        ).fetchall()
        assert signatures == [("query tsquery",)]  # no identity to pass
        for become in (bob.user, schema.search_role_name(cluster.database), cluster.owner):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f'SET ROLE "{become}"')  # type: ignore[arg-type]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f'SET SESSION AUTHORIZATION "{bob.user}"')  # type: ignore[arg-type]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "CREATE OR REPLACE FUNCTION team_text_matches(query tsquery) RETURNS TABLE (id bigint) "
                "LANGUAGE sql AS $$ SELECT id FROM memories $$"
            )
    # settings a member may change do not change whom it answers
    assert ids(alice.dsn(), before="SET mahavishnu.maintenance = 'reembed'") == team.sees(alice.user)
    # as the team's group role a member still gets at most what their login sees
    group = schema.group_name(cluster.database)
    assert ids(alice.dsn(), before=f'SET ROLE "{group}"') <= team.sees(alice.user)
    # the role owning it cannot log in, and nobody may become it or use its rights (the tables'
    # owner that created it keeps the ADMIN option CREATEROLE gives, without SET or INHERIT)
    with psycopg.connect(make_conninfo(cluster.admin_dsn, dbname=cluster.database)) as conn:
        can_login, members = conn.execute(
            "SELECT rolcanlogin, (SELECT count(*) FROM pg_auth_members AS a WHERE a.roleid = r.oid "
            "AND (a.set_option OR a.inherit_option OR a.member <> %s::regrole)) "
            "FROM pg_roles AS r WHERE rolname = %s",
            (cluster.owner, schema.search_role_name(cluster.database)),
        ).fetchone()  # type: ignore[misc]
    assert (can_login, members) == (False, 0)


def test_the_owner_gets_its_own_and_shared_ids_and_a_stranger_nothing(team: Team) -> None:
    cluster = team.cluster
    with MemoryStore(PostgresBackend(cluster.owner_dsn), SETTINGS, FakeEmbedder()) as store:
        own = store.store("owner private deploy runbook", "decision", project="api").id
    assert ids(cluster.owner_dsn) == team.shared | {own}
    in_database = make_conninfo(cluster.admin_dsn, dbname=cluster.database)
    with psycopg.connect(in_database, autocommit=True) as conn:
        conn.execute("CREATE ROLE mv_stranger_text LOGIN PASSWORD 'x'")
        conn.execute(f'GRANT CONNECT ON DATABASE "{cluster.database}" TO mv_stranger_text')
        conn.execute("GRANT USAGE ON SCHEMA public TO mv_stranger_text")
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            ids(
                make_conninfo(
                    cluster.admin_dsn, dbname=cluster.database, user="mv_stranger_text", password="x"
                )
            )
    finally:
        with psycopg.connect(
            make_conninfo(cluster.admin_dsn, dbname=cluster.database), autocommit=True
        ) as conn:
            conn.execute("DROP OWNED BY mv_stranger_text")
            conn.execute(f'REVOKE ALL ON DATABASE "{cluster.database}" FROM mv_stranger_text')  # type: ignore[arg-type]
            conn.execute("DROP ROLE mv_stranger_text")


def before(dsn: str, request: SearchRequest) -> list[int]:
    """The statement as before ``team_text_matches`` (the text leg reads ``memories`` itself)."""
    sql, params, ef_search = search_sql(request, vector_matches=request.mode != "text")
    with psycopg.connect(dsn) as conn:
        from pgvector.psycopg import register_vector

        register_vector(conn)
        conn.execute(search_settings(ef_search))
        return [int(row[0]) for row in conn.execute(sql, params)]


@pytest.mark.parametrize("mode", ["text", "hybrid"])
def test_text_and_hybrid_searches_return_what_they_did_before(
    team: Team, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements: list[str] = []

    def spied(request: SearchRequest, **kwargs: bool) -> tuple[str, list[object], int]:
        made = search_sql(request, **kwargs)
        statements.append(made[0])
        return made

    monkeypatch.setattr(postgres, "search_sql", spied)
    vector = FakeEmbedder().embed("deploy rollback")
    for ticket in (team.alice, team.bob):
        backend = PostgresBackend(ticket.dsn(), migrate=False)
        try:
            for filters in (Filters(), Filters(project="api"), Filters(project="web")):
                request = SearchRequest(mode, filters, 10, vector=vector, text="deploy rollback")  # type: ignore[arg-type]
                found = [r.id for r in backend.search(request)]
                assert found == before(ticket.dsn(), request)
                assert set(found) <= team.sees(ticket.user) | {team.lunch[ticket.user]}  # the vector leg's
            assert statements and all("team_text_matches(tq.q)" in sql for sql in statements)  # served by it
            statements.clear()
        finally:
            backend.close()


def test_a_single_user_store_searches_text_as_it_did(pg_dsn: str) -> None:
    with MemoryStore(PostgresBackend(pg_dsn), SETTINGS, FakeEmbedder()) as store:
        stored = store.store("deploy with a canary and roll back by hand", "decision")
        found = store.search("canary rollback", mode="hybrid", limit=5)
        assert [r.memory.id for r in found] == [stored.id]
        assert store.backend._text_matches is False  # type: ignore[attr-defined]


@pytest.fixture
def through_bouncer(team: Team) -> Iterator[tuple[str, str]]:
    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed (.ci/install-pgbouncer.sh installs Debian's)")
    users = {team.alice.user: team.alice.password, team.bob.user: team.bob.password}
    with running_pgbouncer(team.cluster.owner_dsn, users, pool_size=1) as running:
        yield running.dsn(team.alice.dsn()), running.dsn(team.bob.dsn())


def test_through_pgbouncer_in_transaction_mode_each_member_gets_their_own(
    team: Team, through_bouncer: tuple[str, str]
) -> None:
    alice, bob = through_bouncer
    for _ in range(3):  # one server connection per user: the same one, transaction after transaction
        assert ids(alice) == team.sees(team.alice.user)
        assert ids(bob) == team.sees(team.bob.user)
    with MemoryStore(PostgresBackend(alice, pool_size=1), SETTINGS, FakeEmbedder()) as store:
        found = {r.memory.id for r in store.search("deploy rollback", mode="hybrid", limit=20)}
    assert found and found <= team.sees(team.alice.user) | {team.lunch[team.alice.user]}


def test_what_a_member_cannot_see_moves_none_of_their_text_scores(team: Team, pg_dsn: str) -> None:
    """A member's BM25 counts words over the rows they see (their own and the team's), so their
    scores are those of a store holding only those rows: bob's private notes, which say "deploy"
    and "rollback" as alice's do, never weigh on alice's."""
    query = "deploy rollback by hand"
    with MemoryStore(PostgresBackend(team.alice.dsn(), migrate=False), SETTINGS, FakeEmbedder()) as alice:
        for n in range(6):  # so that no query word is in half of what alice sees (BM25 floors those)
            alice.store(f"alice note {n} about the office plants", "note", project="api")
        seen = [m.content for m in alice.backend.recent(Filters(), 100)]
        scored = {alice.get(r.id).content: r.score for r in alice.backend.text_search(query, Filters(), 20)}
    with MemoryStore(PostgresBackend(pg_dsn), SETTINGS, FakeEmbedder()) as alone:
        for content in seen:
            alone.store(content, "note", project="api")
        apart = {alone.get(r.id).content: r.score for r in alone.backend.text_search(query, Filters(), 20)}
    assert len(seen) == 12 and len(scored) == 5 and scored == pytest.approx(apart)
    assert len(set(scored.values())) > 1  # (no word floored: the scores tell the notes apart)
