"""What a hostile team member with raw SQL (their own role, as ``team join`` hands it out) could
still do, found by a review acting as one, and cannot now. Against the real PostgreSQL 18 + pgvector.

- Read another member's private text out of the planner's statistics: row-level security hides the
  rows, but ``ANALYZE`` (autovacuum's, or anyone's) samples every row, and the planner applies a
  *leakproof* operator's estimate to those statistics for a member too (``starts_with``/``^@``
  tests the operator on each histogram value). ``EXPLAIN`` of ``content ^@ 'prefix'`` then said, one
  character at a time, whether a hidden row's text went on so: whole private memories, read back.
- Keep reading the team's memories after ``team remove``: a session that had run ``SET ROLE
  <database>_members`` kept the group's rights (PostgreSQL checks a role membership when the role
  is set, not afterwards).
- ``memory reembed`` as a member failed on ``embedding_staging`` with "ask the database's owner to
  grant it", a grant that must never be made; and with ``--embedder ollama`` (or ``fastembed``) it
  failed on the embedder (an unreachable server, a model hub) before the store said whose it is.
- Read a private project's name in ``team_audit`` (every member reads it): one ``UPDATE`` unsharing
  a memory and moving it to another project and type was audited with the new ones, never shared."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("psycopg")

import psycopg
from psycopg import sql
from testkit.team_pg import TeamCluster, join_through_cli
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import MemorySettings
from mahavishnu.errors import MahavishnuError
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.backends.postgres import PostgresBackend
from mahavishnu.memory.core.backends.records import CONVERSATIONS
from mahavishnu.memory.core.embedders import get_embedder
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.team import members, schema, sharing

SETTINGS = MemorySettings(max_content_chars=2_000, relevance_floor=0.0)
SECRET = "maybe layoffs in march: only the leads know"
TURN = "my turn: the new salary bands are 120k to 180k"


def open_store(dsn: str) -> MemoryStore:
    return MemoryStore(PostgresBackend(dsn), SETTINGS, FakeEmbedder())


def _filled(team: TeamCluster) -> tuple[str, str]:
    """alice's private memory and turn among ~60 rows of bob's (texts before and after hers, so
    hers is inside the histogram, not one of its ends); (alice's DSN, bob's DSN)."""
    team.init()
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    with open_store(alice) as store:
        store.store(SECRET, "note", project="hr")
        store.backend.add_records(
            CONVERSATIONS,
            [
                {
                    "agent_id": "claude",
                    "session_id": "s1",
                    "role": "user",
                    "content": TURN,
                    "metadata": {},
                    "external_id": "t1",
                    "created_at": "2026-01-01T00:00:00+00:00",
                }
            ],
        )
    with psycopg.connect(bob, autocommit=True) as raw:
        for first in ("a", "z"):
            raw.execute(
                "INSERT INTO memories (content, memory_type, content_hash, embedding, embedding_model, "
                "embedding_dim, created_at, updated_at) SELECT %s || ' filler ' || g, 'note', "
                "md5(%s || g) || md5(g::text), array_fill(0.1::real, ARRAY[64])::vector, "
                "'fake/hashing-v1', 64, now(), now() FROM generate_series(1, 30) AS g",
                (first, first),
            )
            raw.execute(
                "INSERT INTO agent_conversations (agent_id, session_id, role, content, created_at) "
                "SELECT 'claude', 's' || g, 'user', %s || ' filler ' || g, now() "
                "FROM generate_series(1, 30) AS g",
                (first,),
            )
    return alice, bob


def _analyze(team: TeamCluster) -> None:
    """What autovacuum does to a table that took enough writes (the owner may, too)."""
    with psycopg.connect(team.owner_dsn, autocommit=True) as conn:
        conn.execute("ANALYZE memories")
        conn.execute("ANALYZE agent_conversations")


def _estimate(conn: psycopg.Connection, table: str, prefix: str) -> int:
    """The planner's row estimate for the rows of ``table`` whose content starts with ``prefix``,
    scaled by a million (a join clause is estimated before any rounding)."""
    query = sql.SQL(
        "EXPLAIN SELECT 1 FROM {} AS m JOIN generate_series(1, 1000000) AS g ON (m.content ^@ %s OR g = -1)"
    ).format(sql.Identifier(table))
    plan = conn.execute(query, (prefix,)).fetchone()[0]
    return int(re.search(r"rows=(\d+)", plan).group(1))  # type: ignore[union-attr]


def _leaks(bob: str) -> dict[str, bool]:
    """For each table: whether bob's EXPLAIN tells alice's private text's prefix from another."""
    with psycopg.connect(bob, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM memories WHERE content ^@ 'maybe'").fetchone()[0] == 0
        return {
            table: _estimate(conn, table, text[:12]) != _estimate(conn, table, text[:11] + "#")
            for table, text in (("memories", SECRET), ("agent_conversations", TURN))
        }


def test_the_planners_statistics_tell_a_member_no_private_text(team: TeamCluster) -> None:
    _, bob = _filled(team)
    _analyze(team)
    assert _leaks(bob) == {"memories": False, "agent_conversations": False}


def test_statistics_gathered_before_team_init_runs_again_are_cleared(team: TeamCluster) -> None:
    """A store analysed under an older release (or as a single-user store, before ``team init``)."""
    _, bob = _filled(team)
    with psycopg.connect(team.owner_dsn, autocommit=True) as conn:  # as an older release left them
        for table in ("memories", "agent_conversations"):
            conn.execute(
                sql.SQL("ALTER TABLE {} ALTER COLUMN content SET STATISTICS -1").format(sql.Identifier(table))
            )
    _analyze(team)
    with psycopg.connect(team.owner_dsn) as owner:
        if owner.execute("SELECT current_setting('server_version_num')::int < 180000").fetchone()[0]:
            pytest.skip("PostgreSQL before 18 lets no table owner clear statistics (team init warns)")
    assert _leaks(bob)["memories"]  # what the review found
    report = team.init()
    assert _leaks(bob) == {"memories": False, "agent_conversations": False}
    assert not [w for w in report.warnings if "statistics" in w]


def test_a_removed_member_keeps_nothing_through_a_session_that_set_the_groups_role(
    team: TeamCluster,
) -> None:
    team.init()
    alice, carol = team.add("alice").dsn(), team.add("carol").dsn()
    with open_store(alice) as store:
        shared = store.store("deploys go through the blue-green pipeline", "decision", project="api")
        sharing.set_visibility(store.backend, [shared.id], "team")  # type: ignore[arg-type]
    group = schema.group_name(team.database)
    lingering = psycopg.connect(carol, autocommit=True)
    plain = psycopg.connect(carol, autocommit=True)
    try:
        lingering.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(group)))
        assert lingering.execute("SELECT count(*) FROM memories").fetchone()[0] == 1
        assert members.remove(team.owner_dsn, team.member_name("carol")).sessions_left == 0
        for conn in (lingering, plain):
            with pytest.raises(psycopg.Error):
                conn.execute("SELECT content FROM memories").fetchall()
    finally:
        lingering.close()
        plain.close()
    with psycopg.connect(team.owner_dsn) as owner:  # the owner holds no membership of carol's after
        assert not owner.execute(
            "SELECT pg_has_role(current_user, %s, 'USAGE')", (team.member_name("carol"),)
        ).fetchone()[0]


def test_an_unshare_is_audited_as_the_team_saw_the_memory_not_as_it_went_private(team: TeamCluster) -> None:
    team.init()
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    with psycopg.connect(alice, autocommit=True) as raw:
        raw.execute(
            "INSERT INTO memories (content, memory_type, content_hash, embedding, embedding_model, "
            "embedding_dim, created_at, updated_at, project, visibility) VALUES ('deploy on tuesdays', "
            "'decision', repeat('a', 64), array_fill(0.1::real, ARRAY[64])::vector, 'fake/hashing-v1', "
            "64, now(), now(), 'api', 'team')"
        )
        raw.execute(
            "UPDATE memories SET visibility = 'private', project = %s, memory_type = 'note'", (SECRET,)
        )
    with psycopg.connect(bob) as conn:
        audited = conn.execute("SELECT action, memory_type, project FROM team_audit ORDER BY id").fetchall()
    assert audited == [("share", "decision", "api"), ("unshare", "decision", "api")]


def test_a_members_reembed_is_refused_in_words_that_name_the_owner(team: TeamCluster) -> None:
    team.init()
    alice = team.add("alice").dsn()
    with open_store(alice) as store:
        store.store("alice's note on retries", "note", project="api")
        with pytest.raises(MahavishnuError) as refused:
            store.reembed(FakeEmbedder(dimension=32, model="other"))
    said = f"{refused.value} {getattr(refused.value, 'hint', '')}"
    assert "owner" in said and "grant" not in said.lower(), said
    with psycopg.connect(team.owner_dsn) as owner:
        assert owner.execute("SELECT value FROM meta WHERE key = 'reembed_target'").fetchone() is None


@pytest.mark.parametrize(
    "target", [["--embedder", "ollama", "--url", "http://127.0.0.1:9"], ["--embedder", "fastembed"]]
)
def test_a_members_reembed_to_another_embedder_is_refused_before_it_is_reached(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: list[str]
) -> None:
    """The refusal comes first: a member never waits on an embedder (a server that is not there, a
    model hub this machine cannot reach) only to be told the store is not theirs to move."""
    monkeypatch.setattr(  # the team's own embedder is the fake one; the others are the real loaders
        store_module,
        "default_embedder",
        lambda settings: FakeEmbedder() if settings.embedder == "local" else get_embedder(settings),
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    team.init()
    runner = CliRunner()
    join_through_cli(runner, app, team, "alice", tmp_path / "alice", monkeypatch)
    result = runner.invoke(app, ["memory", "reembed", *target])
    assert result.exit_code == 1, result.output
    assert "only the team store's owner may run `memory reembed`" in result.output, result.output
    assert "ollama" not in result.output.lower() and "hub" not in result.output.lower(), result.output
