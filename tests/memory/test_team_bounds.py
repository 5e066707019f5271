"""What a team member writes is bounded by the database (``team init``'s ``team_bounds`` triggers,
SETUP 9): one 100 MB shared memory a member wrote with ``psql`` made every member's hybrid search
take ~23 s (34 ms before; ``docs/security.md``). Against the real PostgreSQL 18 + pgvector, each
member as their own role: every text, ``jsonb`` and array column a member may write refuses a value
over its bound, on INSERT and on UPDATE; the product's own largest writes pass; a search after the
refused attack takes as long as before; a member whose ``memory.max_content_chars`` is larger than
the team's gets one line saying what to do, and nothing is stored; a row written before the bounds
keeps working and ``team init`` names it."""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("psycopg")

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from testkit.embedded_pg import PgServer
from testkit.team_pg import TeamCluster, join_through_cli
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import MemorySettings
from mahavishnu.errors import StoreError
from mahavishnu.memory.core import sharing
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.backends.postgres import BOUNDS_REFUSAL, PostgresBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.models import (
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    METADATA_CHARS,
    format_time,
    utcnow,
)
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.core.workflows import MAX_RESULT_CHARS, store_workflow_execution
from mahavishnu.memory.loop.conversations import Turn, store_turns
from mahavishnu.memory.team import bounds, schema
from mahavishnu.memory.team import sharing as team_sharing

DIM = 64  # TeamCluster's
#: What a member inserts into each table they write, column by column (SQL), before one column is
#: replaced by the value under test; ``{memory}`` is one of the member's own memories.
BASE_ROWS: dict[str, dict[str, str]] = {
    "memories": {
        "content": "'a note'",
        "memory_type": "'note'",
        "content_hash": "md5(random()::text) || md5(random()::text)",
        "embedding": f"array_fill(0.1, ARRAY[{DIM}])::vector",
        "embedding_model": "'fake/hashing-v1'",
        "embedding_dim": str(DIM),
        "created_at": "now()",
        "updated_at": "now()",
    },
    "agent_conversations": {
        "agent_id": "'claude'",
        "session_id": "'s1'",
        "role": "'user'",
        "content": "'hello'",
        "created_at": "now()",
    },
    "rag_ingestions": {"repo_id": "'repo'", "repo_path": "'/w/repo'", "started_at": "now()"},
    "workflow_executions": {
        "workflow_id": "'release'",
        "adapter": "'shell'",
        "status": "'completed'",
        "created_at": "now()",
    },
    "performance_metrics": {
        "component": "'probe'",
        "metric_type": "'latency'",
        "metrics": "'{}'",
        "recorded_at": "now()",
    },
    "insight_shares": {
        "memory_id": "{memory}",
        "project": "'p-' || md5(random()::text)",
        "via": "'shared'",
        "shared_at": "now()",
    },
    "project_groups": {"name": "'g-' || md5(random()::text)", "created_at": "now()"},
    "project_group_members": {
        "group_name": "'base-group'",
        "project": "'p-' || md5(random()::text)",
        "added_at": "now()",
    },
    "team_profiles": {"name": "'prof-' || left(md5(random()::text), 8)", "definition": "'{}'"},
}
#: A member's own row of each table to update (the key naming it).
KEYS = {"team_profiles": "name"}


def open_store(dsn: str, settings: MemorySettings | None = None) -> MemoryStore:
    return MemoryStore(PostgresBackend(dsn), settings or MemorySettings(), FakeEmbedder())


@pytest.fixture
def members(team: TeamCluster) -> dict[str, str]:
    team.init()
    return {name: team.add(name).dsn() for name in ("alice", "bob")}


def written_columns(conn: psycopg.Connection[Any], group: str) -> list[tuple[str, str, str]]:
    """(table, column, type) of every text, jsonb, json and array column the group may INSERT into,
    as the catalog says it (not as ``team init`` does)."""
    rows = conn.execute(
        "SELECT p.table_name, p.column_name, c.udt_name FROM information_schema.column_privileges AS p "
        "JOIN information_schema.columns AS c USING (table_schema, table_name, column_name) "
        "WHERE p.grantee = %s AND p.privilege_type = 'INSERT' AND p.table_schema = 'public' "
        "AND (c.data_type IN ('text', 'character varying', 'jsonb', 'json', 'ARRAY')) "
        "ORDER BY 1, 2",
        (group,),
    ).fetchall()
    return [(str(t), str(c), str(u)) for t, c, u in rows]


def expected_bound(table: str, column: str) -> int:
    return bounds.BOUNDS.get(table, {}).get(column, bounds.LABEL_CHARS)


def oversized(udt: str, chars: int) -> tuple[str, str]:
    """A value of ``chars`` + 1 characters (of its text) for a column of type ``udt``, and its cast."""
    if udt == "_text":
        return "{" + "x" * (chars - 1) + "}", "text[]"  # {x…x}: chars + 1
    if udt in ("jsonb", "json"):
        return json.dumps("x" * (chars - 1)), udt  # "x…x": chars + 1
    return "x" * (chars + 1), "text"


def insert_sql(table: str, values: dict[str, str], memory: int) -> sql.Composed:
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in values)
    given = sql.SQL(", ").join(sql.SQL(v.replace("{memory}", str(memory))) for v in values.values())  # type: ignore[arg-type]
    return sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}").format(
        sql.Identifier(table), columns, given, sql.Identifier(KEYS.get(table, "id"))
    )


def own_rows(raw: psycopg.Connection[Any]) -> tuple[int, dict[str, Any]]:
    """One row of the member's own in each table (and the memory the shares name)."""
    memory = int(raw.execute(insert_sql("memories", BASE_ROWS["memories"], 0)).fetchone()[0])  # type: ignore[index]
    raw.execute("INSERT INTO project_groups (name, created_at) VALUES ('base-group', now())")
    rows = {"memories": memory}
    for table, values in BASE_ROWS.items():
        if table != "memories":
            rows[table] = raw.execute(insert_sql(table, values, memory)).fetchone()[0]  # type: ignore[index]
    raw.commit()
    return memory, rows


def refused(
    raw: psycopg.Connection[Any], statement: sql.Composed, value: str
) -> psycopg.errors.CheckViolation:
    with pytest.raises(psycopg.errors.CheckViolation) as caught:
        raw.execute(statement, (value,))
    raw.rollback()
    return caught.value


def test_every_column_a_member_writes_refuses_a_value_over_its_bound(
    team: TeamCluster, members: dict[str, str]
) -> None:
    with psycopg.connect(team.owner_dsn) as conn:
        columns = written_columns(conn, schema.group_name(team.database))
    tables = {table for table, _, _ in columns}
    assert tables == set(BASE_ROWS)  # every table a member writes (and the test knows how to write)
    assert ("memories", "content", "text") in columns and ("memories", "metadata", "jsonb") in columns
    assert ("memories", "tags", "_text") in columns and len(columns) > 40
    with psycopg.connect(team.add("carol").dsn()) as raw:
        memory, rows = own_rows(raw)
        for table, column, udt in columns:
            chars = expected_bound(table, column)
            value, cast = oversized(udt, chars)
            given = {**BASE_ROWS[table], column: f"%s::{cast}"}
            inserted = refused(raw, insert_sql(table, given, memory), value)
            assert (inserted.diag.constraint_name, inserted.diag.column_name) == (BOUNDS_REFUSAL, column)
            where = (
                "of memory content" if (table, column) == ("memories", "content") else f"in {table}.{column}"
            )
            said = f"a team store takes at most {chars:,} characters {where}, and this is {chars + 1:,}"
            assert inserted.diag.message_primary == said
            key = KEYS.get(table, "id")
            update = sql.SQL("UPDATE {} SET {} = %s::{} WHERE {} = {}").format(
                sql.Identifier(table),
                sql.Identifier(column),
                sql.SQL(cast),  # type: ignore[arg-type]
                sql.Identifier(key),
                sql.Literal(rows[table]),
            )
            changed = refused(raw, update, value)
            assert (changed.diag.constraint_name, changed.diag.column_name) == (BOUNDS_REFUSAL, column)
        counts = {
            table: raw.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]  # type: ignore[index]
            for table in BASE_ROWS
        }
    # nothing of a refused statement was written: the own rows alone (two groups: the base one too)
    assert counts == {table: 2 if table == "project_groups" else 1 for table in BASE_ROWS}


def test_the_memory_bound_counts_characters_and_takes_the_largest_memory_a_client_writes(
    members: dict[str, str],
) -> None:
    """100,000 characters of up to four bytes each (233,335 bytes) pass, as ``check_content``
    counts them; one more is refused, by insert and by edit, and the edit leaves the memory as it was."""
    wide = "é𝄞x" * (bounds.MEMORY_CHARS // 3) + "é"  # 2 + 4 + 1 bytes a unit
    assert len(wide) == bounds.MEMORY_CHARS
    with open_store(members["alice"], MemorySettings(max_content_chars=bounds.MEMORY_CHARS + 10)) as store:
        stored = store.store(wide, "note", project="api")
        assert store.get(stored.id).content == wide
        with pytest.raises(
            StoreError, match=r"at most 100,000 characters of memory content, and this is 100,001"
        ):
            store.store(wide + "x", "note")
        with pytest.raises(
            StoreError, match=r"at most 100,000 characters of memory content, and this is 100,001"
        ) as caught:
            store.update(stored.id, content=wide[:-1] + "ab")
        assert caught.value.hint.startswith("Set memory.max_content_chars to 100000 or less")
        assert store.get(stored.id).content == wide


def test_the_products_largest_writes_pass_on_a_team_store(members: dict[str, str]) -> None:
    """Each path of the product writing a team's tables, at the most it writes there."""
    alice = members["alice"]
    metadata = {  # as much JSON as a memory keeps, numbers PostgreSQL writes out longer included
        "numbers": [1e-07, 2.5e-08, 1e22] * 200,
        "text": "é" * (METADATA_CHARS - 10_000),
    }
    metadata["pad"] = "p" * (METADATA_CHARS - len(json.dumps(metadata, ensure_ascii=False)) - 20)
    assert METADATA_CHARS - 100 < len(json.dumps(metadata, ensure_ascii=False)) <= METADATA_CHARS
    tags = [f"{i:03d}" + "t" * (MAX_NAME_CHARS - 3) for i in range(300)]
    with open_store(alice) as store:
        memory = store.store("n" * bounds.MEMORY_CHARS, "note", tags=tags, metadata=metadata, project="api")
        assert len(store.get(memory.id).tags) >= 300
        turn = Turn(
            "claude", "s-large", "user", "pasted log line\n" * 250_000, metadata, "api", external_id="e1"
        )
        stored = store_turns(store, [turn])
        assert stored.added == 1
        run = store_workflow_execution(
            store,
            "release",
            "shell",
            [f"repo-{i}" for i in range(500)],
            "failed",
            {"lines": ["r" * 990] * (MAX_RESULT_CHARS // 1000 - 1)},
            12.5,
            "Traceback (most recent call last):\n" + "  frame\n" * 10_000,
            project="api",
        )
        assert run.id > 0
        assert store.store_performance_metrics("probe", "latency", metadata) > 0
        described = "d" * MAX_DESCRIPTION_CHARS
        group = sharing.create_group(store, "platform", ["api", "web"], description=described)
        assert group.projects
        sharing.add_shares(store, [memory.id], ["web"], "shared")
        backend = store.backend
        run_id = backend.add_ingestion(
            {
                "repo_id": "repo",
                "repo_path": "/w/" + "r" * 4_000,
                "status": "pending",
                "started_at": format_time(utcnow()),
            }
        )
        backend.update_ingestion(
            run_id,
            {
                "status": "failed",
                "error": "e" * 200_000,
                "metadata": {"warnings": ["w" * 4_000] * 100, "include": ["*.py"] * 1_000},
            },
        )
        team_sharing.set_visibility(backend, [memory.id], "team")  # type: ignore[arg-type]
    with open_store(members["bob"]) as store:
        assert store.get(memory.id).content == "n" * bounds.MEMORY_CHARS  # shared, whole


def _median_search(dsn: str, rounds: int = 5) -> float:
    with open_store(dsn) as store:
        store.search("deploy pipeline")  # warm: the connection, the embedder
        took = []
        for _ in range(rounds):
            start = time.perf_counter()
            hits = store.search("deploy pipeline blue-green")
            took.append(time.perf_counter() - start)
        assert hits
    return statistics.median(took)


def test_a_members_huge_shared_row_is_refused_and_every_search_takes_as_long_as_before(
    members: dict[str, str],
) -> None:
    """Bob inserting one 20 MB shared memory (and growing his own shared one to 20 MB) with raw
    psycopg: refused before anything is stored or indexed; Alice's search takes as long after as
    before. Without the bounds the row was stored and her search took seconds (100 MB: ~23 s)."""
    alice, bob = members["alice"], members["bob"]
    with open_store(alice) as store:
        store.store_many(
            [
                {"content": f"deploy note {i}: the pipeline runs blue-green for service {i % 7}"}
                for i in range(200)
            ]
        )
    with open_store(bob) as store:
        mine = store.store("bob: deploy pipeline notes", "note")
        team_sharing.set_visibility(store.backend, [mine.id], "team")  # type: ignore[arg-type]
    before = _median_search(alice)
    huge = ("deploy pipeline blue-green " * 800_000)[:20_000_000]
    vector = FakeEmbedder().embed_batch(["deploy pipeline blue-green"], "document")[0]
    with psycopg.connect(bob) as raw:
        started = time.perf_counter()
        attack = sql.SQL(
            "INSERT INTO memories (content, memory_type, content_hash, embedding, embedding_model, "
            "embedding_dim, created_at, updated_at, visibility) VALUES (%s, 'note', repeat('a', 64), "
            "%s::vector, 'fake/hashing-v1', {}, now(), now(), 'team')"
        ).format(sql.Literal(DIM))
        with pytest.raises(psycopg.errors.CheckViolation) as caught:
            raw.execute(attack, (huge, str(vector.tolist())))
        raw.rollback()
        refused_in = time.perf_counter() - started
        with pytest.raises(psycopg.errors.CheckViolation):
            raw.execute("UPDATE memories SET content = %s WHERE id = %s", (huge, mine.id))
        raw.rollback()
        sizes = raw.execute("SELECT max(length(content)) FROM memories").fetchone()[0]  # type: ignore[index]
    assert caught.value.diag.constraint_name == BOUNDS_REFUSAL
    assert refused_in < 10  # (stored, its text was indexed first: ~4 s at 20 MB, ~19 s at 100 MB)
    assert sizes < 1_000
    after = _median_search(alice)
    assert after < 3 * before + 0.3, (before, after)


def test_a_member_whose_setting_is_larger_is_told_in_one_line_and_nothing_is_stored(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the CLI: ``memory.max_content_chars: 200000`` on a member's machine, a 150,000
    character note: one line and a hint, no traceback, nothing stored."""
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())
    runner = CliRunner()
    assert runner.invoke(app, ["team", "init", "--dsn", team.owner_dsn]).exit_code == 0
    home = tmp_path / "alice"
    join_through_cli(runner, app, team, "alice", home, monkeypatch)
    settings = home / ".mahavishnu" / "mahavishnu.yaml"
    text = settings.read_text()
    assert "\nmemory:\n" in f"\n{text}"
    settings.write_text(
        f"\n{text}".replace("\nmemory:\n", "\nmemory:\n  max_content_chars: 200000\n", 1).lstrip()
    )

    note = "a long design note " * 7_895  # 150,005 characters
    result = runner.invoke(app, ["memory", "store", note, "--type", "note", "--project", "api"])
    said = result.output.strip().splitlines()
    assert result.exit_code != 0
    assert "Traceback" not in result.output and "CheckViolation" not in result.output
    assert note[:40] not in result.output  # the text is not echoed back
    assert len(said) == 2, said  # the error, and what to do
    assert "a team store takes at most 100,000 characters of memory content, and this is 150,005" in said[0]
    assert "Set memory.max_content_chars to 100000 or less" in said[1]
    listed = runner.invoke(app, ["memory", "list", "--json"])
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []


@pytest.fixture
def admin(pg_server: PgServer, team: TeamCluster) -> Iterator[str]:
    """A superuser on the team's database: what is really stored, under no row-level security."""
    yield make_conninfo(pg_server.dsn, dbname=team.database)


def test_a_row_written_before_the_bounds_keeps_working_and_team_init_names_it(
    team: TeamCluster, members: dict[str, str], admin: str
) -> None:
    """A store set up by an older release (SETUP 8: no bounds) holding Bob's 300,000-character
    shared memory: ``team init`` again names it and keeps it; Bob can still share, unshare, tag
    and delete it, the owner's reembed still rewrites it, but no one may grow it again."""
    bob = members["bob"]
    with psycopg.connect(team.owner_dsn) as conn:  # as an older release left the store
        bounded = conn.execute("SELECT tgrelid::regclass::text FROM pg_trigger WHERE tgname = 'team_bounds'")
        for (table,) in bounded.fetchall():
            conn.execute(sql.SQL("DROP TRIGGER team_bounds ON {}").format(sql.Identifier(table)))
        conn.execute("UPDATE meta SET value = '8' WHERE key = %s", (schema.META_SETUP,))
    with open_store(bob, MemorySettings(max_content_chars=400_000)) as store:
        old = store.store("w" * 300_000, "note", project="api")
        team_sharing.set_visibility(store.backend, [old.id], "team")  # type: ignore[arg-type]
    report = team.init()
    [said] = [w for w in report.warnings if "before the bounds" in w]
    assert f"memories {old.id} by {team.member_name('bob')} (content: 300,000 characters)" in said
    with psycopg.connect(team.owner_dsn) as conn:
        assert schema.setup_of(conn) == schema.SETUP >= 9  # (9: the bounds)
    with psycopg.connect(bob) as raw:
        raw.execute("UPDATE memories SET visibility = 'private' WHERE id = %s", (old.id,))
        raw.execute(
            "UPDATE memories SET visibility = 'team', tags = tags || '{kept}' WHERE id = %s", (old.id,)
        )
        raw.execute(
            "UPDATE memories SET content = content WHERE id = %s", (old.id,)
        )  # the same text: not new
        raw.commit()
        with pytest.raises(psycopg.errors.CheckViolation):
            raw.execute("UPDATE memories SET content = content || 'more' WHERE id = %s", (old.id,))
        raw.rollback()
    with psycopg.connect(team.owner_dsn) as conn, conn.transaction():  # the owner's reembed's write
        conn.execute("SET LOCAL mahavishnu.maintenance = 'reembed'")
        changed = conn.execute(
            "UPDATE memories SET embedding_model = 'fake/other', embedding = embedding WHERE id = %s",
            (old.id,),
        ).rowcount
        assert changed == 1
    with psycopg.connect(admin) as conn:
        content, tags, model = conn.execute(
            "SELECT content, tags, embedding_model FROM memories WHERE id = %s", (old.id,)
        ).fetchone()  # type: ignore[misc]
    assert (len(content), "kept" in tags, model) == (300_000, True, "fake/other")
    with open_store(bob) as store:
        store.delete(old.id)
    assert not [w for w in team.init().warnings if "before the bounds" in w]


def test_the_owner_removes_an_old_oversized_memory_of_a_member_as_docs_team_md_says(
    team: TeamCluster, members: dict[str, str]
) -> None:
    bob = members["bob"]
    with psycopg.connect(team.owner_dsn) as conn:
        conn.execute("DROP TRIGGER IF EXISTS team_bounds ON memories")
    with open_store(bob, MemorySettings(max_content_chars=400_000)) as store:
        old = store.store("w" * 300_000, "note")
    assert any(f"memories {old.id} by" in w for w in team.init().warnings)
    with psycopg.connect(team.owner_dsn) as conn, conn.transaction():
        conn.execute("SET LOCAL mahavishnu.maintenance = 'reembed'")
        assert conn.execute("DELETE FROM memories WHERE id = %s", (old.id,)).rowcount == 1
    with psycopg.connect(bob) as raw:
        assert raw.execute("SELECT count(*) FROM memories WHERE id = %s", (old.id,)).fetchone()[0] == 0  # type: ignore[index]


def test_the_bounds_hold_for_copy_for_a_member_who_set_role_to_the_group_and_for_the_owner(
    members: dict[str, str], team: TeamCluster
) -> None:
    long = "d" * 1_000_001
    with psycopg.connect(members["alice"]) as raw:
        copying = "COPY project_groups (name, description, created_at) FROM STDIN"
        with pytest.raises(psycopg.errors.CheckViolation) as copied, raw.cursor().copy(copying) as copy:
            copy.write_row(("copied", long, "2026-01-01T00:00:00Z"))
        raw.rollback()
        raw.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(schema.group_name(team.database))))
        with pytest.raises(psycopg.errors.CheckViolation) as as_group:
            raw.execute(
                "INSERT INTO project_groups (name, description, created_at) VALUES (%s, %s, now())",
                (f"g-{uuid.uuid4()}", long),
            )
    with psycopg.connect(team.owner_dsn) as conn, pytest.raises(psycopg.errors.CheckViolation) as owner:
        conn.execute(
            "INSERT INTO project_groups (name, description, created_at) VALUES ('o', %s, now())", (long,)
        )
    for caught in (copied, as_group, owner):
        assert caught.value.diag.constraint_name == BOUNDS_REFUSAL


def test_the_team_wide_tables_take_names_and_a_sentence_not_a_members_disk_full(
    members: dict[str, str],
) -> None:
    """Project groups count against no member's quota (``quota.TEAM_TABLES``): found by a review
    acting as a member, 50 groups of a million-character description each took 50 MB that
    ``team_usage`` never saw (100,000 of them: 100 GB)."""
    with psycopg.connect(members["alice"]) as raw:
        with pytest.raises(psycopg.errors.CheckViolation):
            raw.execute(
                "INSERT INTO project_groups (name, description, created_at) VALUES ('g1', %s, now())",
                ("d" * (MAX_DESCRIPTION_CHARS + 1),),
            )
        raw.rollback()
        raw.execute("INSERT INTO project_groups (name, created_at) VALUES ('g2', now())")
        with pytest.raises(psycopg.errors.CheckViolation):
            raw.execute(
                "INSERT INTO project_group_members (group_name, project, added_at) VALUES ('g2', %s, now())",
                ("p" * (MAX_NAME_CHARS + 1),),
            )
