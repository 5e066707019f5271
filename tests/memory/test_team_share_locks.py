"""No member can keep another from deleting their shared memory through ``insight_shares`` (which
projects see a memory): a member may record a share of any memory they see, another member's shared
one too, and the foreign key that row had took a ``FOR KEY SHARE`` lock on the memory's row for as
long as the member's transaction lasted, past row-level security; its ``ON DELETE CASCADE`` then had
the owner's delete wait on the member's own share rows, which they may lock. Against the real
PostgreSQL 18 + pgvector, the member with ``psql``'s rights (their own role, raw SQL)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("psycopg")

import psycopg
from psycopg.conninfo import make_conninfo
from testkit.team_pg import TeamCluster, within

from mahavishnu.config import MemorySettings
from mahavishnu.errors import StoreError
from mahavishnu.memory.core.backends.postgres import PostgresBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.models import Memory
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.insights import cross_project
from mahavishnu.memory.team import sharing

SETTINGS = MemorySettings(max_content_chars=2_000, relevance_floor=0.0)
SHARE = "INSERT INTO insight_shares (memory_id, project, via, shared_at) VALUES (%s, %s, 'direct', now())"


def open_store(dsn: str) -> MemoryStore:
    return MemoryStore(PostgresBackend(dsn), SETTINGS, FakeEmbedder())


def _alices_shared_insight(alice: str) -> Memory:
    with open_store(alice) as store:
        insight = cross_project.store_insight(
            store, "retries back off with jitter, capped at a minute", project="api"
        )
        sharing.set_visibility(store.backend, [insight.id], "team")  # type: ignore[arg-type]
    return insight


def _alice_deletes(alice: str, memory_id: int) -> Callable[[], object]:
    def delete() -> None:
        with open_store(alice) as store:
            store.delete(memory_id)  # `memory delete ID`, waiting for a lock at most 3 s

    return delete


#: What bob does, in the transaction he keeps open while alice deletes her shared insight: record a
#: share of it, point his own share of his own insight at it, or hold his own share of it (which goes
#: with her memory) locked, or deleted and not committed.
HOLDS: dict[str, str] = {
    "insert": SHARE.replace("%s, %s", "%(theirs)s, 'bobs'"),
    "update": "UPDATE insight_shares SET memory_id = %(theirs)s WHERE id = %(mine)s",
    "lock": "SELECT 1 FROM insight_shares WHERE id = %(of_theirs)s FOR UPDATE",
    "delete": "SELECT team_delete('insight_shares', ARRAY[%(of_theirs)s::bigint])",
}


@pytest.mark.parametrize("hold", HOLDS)
def test_a_members_open_transaction_on_a_share_does_not_stop_the_author_deleting(
    team: TeamCluster, hold: str
) -> None:
    team.init()
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    insight = _alices_shared_insight(alice)
    with open_store(bob) as store:
        own = cross_project.store_insight(store, "bob's own insight: cache the tokens", project="web")
    with psycopg.connect(bob) as raw:
        ids = {"theirs": insight.id}
        ids["mine"] = raw.execute(f"{SHARE} RETURNING id", (own.id, "bobs")).fetchone()[0]  # type: ignore[index]
        ids["of_theirs"] = raw.execute(f"{SHARE} RETURNING id", (insight.id, "other")).fetchone()[0]  # type: ignore[index]
        raw.commit()
        raw.execute(HOLDS[hold], ids)  # type: ignore[arg-type]
        assert within(30, _alice_deletes(alice, insight.id)) is None  # not "waited 3 s for a lock"
        raw.rollback()
    with psycopg.connect(team.owner_dsn) as owner:
        assert owner.execute("SELECT count(*) FROM memories WHERE id = %s", (insight.id,)).fetchone() == (0,)
    left = 1 if hold in ("lock", "delete") else 0  # bob's share went with her memory, unless he held it
    assert _shares_of(team, insight.id) == left
    team.init()  # which sweeps what a delete had to leave
    assert _shares_of(team, insight.id) == 0


def _shares_of(team: TeamCluster, memory_id: int) -> int:
    """Every member's shares of ``memory_id`` (read as a superuser, past row-level security)."""
    with psycopg.connect(make_conninfo(team.admin_dsn, dbname=team.database)) as admin:
        found = admin.execute("SELECT count(*) FROM insight_shares WHERE memory_id = %s", (memory_id,))
        return int(found.fetchone()[0])  # type: ignore[index]


def test_a_members_uncommitted_share_does_not_hold_up_the_authors_own_share(team: TeamCluster) -> None:
    """A share is unique per member, not per (memory, project): bob's uncommitted share of alice's
    insight with a project no longer makes alice's own share with it wait (nor take it for hers)."""
    team.init()
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    insight = _alices_shared_insight(alice)

    def share() -> None:
        with open_store(alice) as store:
            cross_project.share_insight(store, insight.id, projects=["web"])

    with psycopg.connect(bob) as raw:
        raw.execute(SHARE, (insight.id, "web"))
        assert within(30, share) is None
        raw.commit()
    with open_store(alice) as store:
        [seen] = cross_project.list_insights(store, project="web")
        assert seen.memory.id == insight.id and seen.shared_with == ("api", "web")


def test_what_a_member_may_share_is_still_what_they_see(team: TeamCluster) -> None:
    """A share names a memory its writer sees (theirs, or shared with the team), as before: another
    member's private memory, or none, is refused alike (telling nothing of it), by the database."""
    team.init()
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    shared = _alices_shared_insight(alice)
    with open_store(alice) as store:
        private = cross_project.store_insight(
            store, "alice's private insight on the merger plans", project="api"
        )
    with psycopg.connect(bob) as raw:
        said = []
        for theirs in (private.id, 1_000):
            with pytest.raises(psycopg.errors.ForeignKeyViolation) as refused:
                raw.execute(SHARE, (theirs, "bobs-project"))
            said.append(refused.value.diag.message_primary)
            raw.rollback()
        assert said == [f"no memory #{private.id} to share", "no memory #1000 to share"]
        raw.execute(SHARE, (shared.id, "bobs-project"))
    with open_store(bob) as store:  # and the product's own share of a teammate's insight works
        cross_project.share_insight(store, shared.id, projects=["docs"])
        [seen] = cross_project.list_insights(store, project="docs")
        assert seen.memory.id == shared.id


def test_a_share_of_a_deleted_memory_goes_with_it_on_a_single_user_store(pg_dsn: str) -> None:
    """Without the foreign key, a store that is no team's still forgets a deleted memory's shares,
    and refuses a share of a memory it does not hold."""
    with MemoryStore(PostgresBackend(pg_dsn), SETTINGS, FakeEmbedder()) as store:
        insight = cross_project.store_insight(
            store, "retries back off with jitter, capped at a minute", project="api"
        )
        cross_project.share_insight(store, insight.id, projects=["web"])
        store.delete(insight.id)
        with psycopg.connect(pg_dsn) as conn:
            assert conn.execute("SELECT count(*) FROM insight_shares").fetchone() == (0,)
            with pytest.raises(psycopg.errors.ForeignKeyViolation):
                conn.execute(SHARE, (insight.id, "web"))


def test_a_lock_held_by_the_author_still_stops_a_delete_with_one_line(team: TeamCluster) -> None:
    """(The lock timeout still applies: a lock someone may hold, here alice's own, ends the wait.)"""
    team.init()
    alice = team.add("alice").dsn()
    insight = _alices_shared_insight(alice)
    with psycopg.connect(alice) as raw:
        raw.execute("SELECT 1 FROM memories WHERE id = %s FOR UPDATE", (insight.id,))
        raised = within(30, _alice_deletes(alice, insight.id))
    assert isinstance(raised, StoreError) and "for a lock another session holds" in raised.message


#: What ``team init`` set up before SETUP 10 (``m015_insight_shares_without_lock``), put back by hand.
_BEFORE = (
    "DROP TRIGGER insight_shares_unshare ON memories",
    "DROP TRIGGER insight_shares_memory ON insight_shares",
    "DROP FUNCTION insight_shares_unshare(), insight_shares_memory()",
    "DROP INDEX insight_shares_unique",
    "ALTER TABLE insight_shares ADD UNIQUE (memory_id, project), "
    "ADD FOREIGN KEY (memory_id) REFERENCES memories (id) ON DELETE CASCADE",
    "DROP POLICY team_unshare ON insight_shares",
    "DELETE FROM _migrations WHERE name = 'm015_insight_shares_without_lock'",
    "UPDATE meta SET value = '9' WHERE key = 'team_setup'",
)


def test_team_init_upgrades_a_team_store_set_up_before(team: TeamCluster) -> None:
    """A team store of the release before: its members' shares stay, and once its owner ran `team
    init` again no share holds up a delete."""
    team.init()
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    insight = _alices_shared_insight(alice)
    with psycopg.connect(make_conninfo(team.admin_dsn, dbname=team.database), autocommit=True) as admin:
        for statement in _BEFORE:
            admin.execute(statement)  # type: ignore[arg-type]
    with psycopg.connect(bob) as raw:  # (his client waits for the owner's upgrade: raw SQL it is)
        raw.execute(SHARE, (insight.id, "web"))
        raw.commit()
        raw.execute(SHARE, (insight.id, "held"))
        assert isinstance(within(30, _alice_deletes(alice, insight.id)), StoreError)  # (as it was)
        raw.rollback()
    report = team.init()
    assert "m015_insight_shares_without_lock" in report.migrated
    with open_store(alice) as store:
        [seen] = cross_project.list_insights(store, project="web")
        assert seen.shared_with == ("api", "web")
    with psycopg.connect(bob) as raw:
        raw.execute(SHARE, (insight.id, "held"))
        assert within(30, _alice_deletes(alice, insight.id)) is None
        raw.rollback()
    assert _shares_of(team, insight.id) == 0


def test_a_member_deletes_no_teammates_share_but_through_the_memory_going(team: TeamCluster) -> None:
    """The role deleting a deleted memory's shares is no member's: bob neither deletes alice's share of
    her private insight nor runs that trigger himself, and his own memory's delete takes only its shares."""
    team.init()
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    with open_store(alice) as store:
        private = cross_project.store_insight(
            store, "alice's private insight on the merger plans", project="api"
        )
    with open_store(bob) as store:
        own = cross_project.store_insight(store, "bob's own insight: cache the tokens", project="web")
    with psycopg.connect(make_conninfo(team.admin_dsn, dbname=team.database)) as admin:
        [(hers,)] = admin.execute(
            "SELECT id FROM insight_shares WHERE memory_id = %s", (private.id,)
        ).fetchall()
    with psycopg.connect(bob, autocommit=True) as raw:
        unshared = raw.execute("SELECT team_delete('insight_shares', ARRAY[%s::bigint])", (hers,))
        assert unshared.fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            raw.execute("SELECT insight_shares_unshare()")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            raw.execute("DELETE FROM insight_shares")
        assert raw.execute("SELECT team_delete('memories', ARRAY[%s::bigint])", (own.id,)).fetchone() == (1,)
    assert _shares_of(team, private.id) == 1 and _shares_of(team, own.id) == 0
