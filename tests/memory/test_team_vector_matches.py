"""A member's vectors on a team store (``m014_team_vector_matches``, ``team init`` SETUP 8), on the
real PostgreSQL 18 + pgvector: members read no ``embedding`` themselves (ordering ``memories`` by a
vector's distance, ``EXPLAIN ANALYZE`` counted the hidden rows the HNSW index passed), and their
vector leg through ``team_vector_matches`` returns, for every filter, what the statement reading
``memories`` under their row-level security returned."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

pytest.importorskip("psycopg")

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.conninfo import make_conninfo
from testkit.embedded_pg import PgServer
from testkit.team_pg import TeamCluster

from mahavishnu.memory.core.backends.base import SearchRequest
from mahavishnu.memory.core.backends.postgres import PostgresBackend, search_settings, search_sql
from mahavishnu.memory.core.models import Filters
from mahavishnu.memory.team import schema

ROWS, DIM, K = 400, 16, 8
START = datetime(2026, 1, 1, tzinfo=UTC)
PROJECTS = ("p0", "p1", "p2", None)
TYPES = ("decision", "note", "insight", "rag")


@dataclass
class Store:
    team: TeamCluster
    admin: str
    dsn: dict[str, str]
    role: dict[str, str]
    hidden: set[int]  # alice's view: bob's private rows


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _row(i: int, rng: np.random.Generator, role: dict[str, str], team: TeamCluster) -> tuple[Any, ...]:
    text = f"memory {i}"
    tags = [t for t in ("a", "b", "c") if rng.random() < 0.4]
    return (
        text,
        TYPES[i % len(TYPES)],
        PROJECTS[i % len(PROJECTS)],
        ("r0", "r1", None)[i % 3],
        ("s0", None)[i % 2],
        tags,
        hashlib.sha256(text.encode()).hexdigest(),
        _unit(rng.standard_normal(DIM)),
        team.embedder,
        DIM,
        START + timedelta(days=i % 30),
        START,
        role["alice"] if i % 3 == 0 else role["bob"],
        "team" if i % 5 == 0 else "private",
    )


@pytest.fixture(scope="module")
def store(pg_server: PgServer) -> Iterator[Store]:
    """400 memories of alice's and bob's, some shared; projects, a project group, insights shared
    with projects (and one of no origin: global), tags, repositories, sessions and dates."""
    team = TeamCluster(pg_server.dsn, dimension=DIM)
    try:
        team.init()
        dsn = {name: team.add(name).dsn() for name in ("alice", "bob")}
        role = {name: team.member_name(name) for name in dsn}
        admin = make_conninfo(pg_server.dsn, dbname=team.database)
        rng = np.random.default_rng(14)
        columns = (
            "content, memory_type, project, repo_id, session_id, tags, content_hash, embedding, "
            "embedding_model, embedding_dim, created_at, updated_at, owner_role, visibility"
        )
        with psycopg.connect(admin) as conn:
            register_vector(conn)
            with conn.cursor().copy(f"COPY memories ({columns}) FROM STDIN") as copy:
                for i in range(ROWS):
                    copy.write_row(_row(i, rng, role, team))
            conn.execute(
                "INSERT INTO insight_shares (memory_id, project, via, shared_at, owner_role) "
                "SELECT id, CASE WHEN id % 2 = 0 THEN 'p1' ELSE 'p2' END, "
                "CASE WHEN id % 4 < 2 THEN 'origin' ELSE 'shared' END, now(), owner_role "
                "FROM memories WHERE memory_type = 'insight' AND project IS NULL AND id % 8 <> 3"
            )
            conn.execute("INSERT INTO project_groups (name, created_at) VALUES ('g', now())")
            conn.execute(
                "INSERT INTO project_group_members (group_name, project, added_at) "
                "VALUES ('g', 'p0', now()), ('g', 'p2', now())"
            )
            hidden = {
                int(i)
                for (i,) in conn.execute(
                    "SELECT id FROM memories WHERE owner_role = %s AND visibility = 'private'", (role["bob"],)
                )
            }
            conn.commit()
        PostgresBackend(team.owner_dsn, pool_size=1).close()  # the owner's migrate builds the HNSW index
        yield Store(team, admin, dsn, role, hidden)
    finally:
        team.drop()


def _through_function(store: Store, request: SearchRequest, *, exact: bool = True) -> list[int]:
    made, params, ef_search = search_sql(request, vector_matches=True)
    with psycopg.connect(store.dsn["alice"]) as conn:
        register_vector(conn)
        conn.execute(search_settings(ef_search))
        if exact:
            conn.execute("SET LOCAL enable_indexscan = off")
        return [int(row[0]) for row in conn.execute(made, params)]  # type: ignore[arg-type]


def _as_before(store: Store, request: SearchRequest) -> list[int]:
    """The statement reading ``memories`` itself, under alice's row-level security, exact: the
    group given back the right to read ``embedding`` for this transaction only."""
    made, params, ef_search = search_sql(request)
    group = sql.Identifier(schema.group_name(store.team.database))
    with psycopg.connect(store.admin) as conn:
        register_vector(conn)
        conn.execute(sql.SQL("GRANT SELECT (embedding) ON memories TO {}").format(group))
        alice = sql.Identifier(store.role["alice"])
        conn.execute(sql.SQL("SET LOCAL SESSION AUTHORIZATION {}").format(alice))
        conn.execute(search_settings(ef_search))
        conn.execute("SET LOCAL enable_indexscan = off")
        found = [int(row[0]) for row in conn.execute(made, params)]  # type: ignore[arg-type]
        conn.rollback()
        return found


_filters = st.builds(
    Filters,
    types=st.lists(st.sampled_from(TYPES), max_size=2, unique=True).map(tuple),
    project=st.sampled_from(PROJECTS),
    repo_id=st.sampled_from(("r0", "r1", None)),
    session_id=st.sampled_from(("s0", "s1", None)),
    tags=st.lists(st.sampled_from(("a", "b", "c")), max_size=2, unique=True).map(tuple),
    since=st.sampled_from((None, START + timedelta(days=10))),
    until=st.sampled_from((None, START + timedelta(days=20, hours=3))),
    shared=st.booleans(),
    with_global=st.booleans(),
) | st.builds(Filters, group=st.just("g"), shared=st.booleans(), with_global=st.booleans())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filters=_filters, seed=st.integers(0, 2**16), mode=st.sampled_from(("vector", "hybrid")))
def test_every_filter_returns_what_the_statement_over_memories_returned(
    store: Store, filters: Filters, seed: int, mode: str
) -> None:
    query = _unit(np.random.default_rng(seed).standard_normal(DIM))
    request = SearchRequest(mode, filters, K, vector=query, text="memory")  # type: ignore[arg-type]
    found = _through_function(store, request)
    assert found == _as_before(store, request)
    assert not set(found) & store.hidden


def test_the_index_path_finds_the_exact_top_k_and_nothing_hidden(store: Store) -> None:
    rng = np.random.default_rng(3)
    for _ in range(10):
        request = SearchRequest("vector", Filters(), K, vector=_unit(rng.standard_normal(DIM)))
        found = _through_function(store, request, exact=False)
        exact = _through_function(store, request)
        assert len(found) == K and not set(found) & store.hidden
        assert len(set(found) & set(exact)) >= K - 1


def test_the_backend_searches_and_reads_vectors_through_the_functions(store: Store) -> None:
    backend = PostgresBackend(store.dsn["alice"], pool_size=1, migrate=False)
    try:
        query = _unit(np.random.default_rng(5).standard_normal(DIM))
        request = SearchRequest("vector", Filters(project="p1"), K, vector=query)
        ranked = backend.search(request)
        assert [r.id for r in ranked] == _as_before(store, request)
        some_hidden = sorted(store.hidden)[:3]
        vectors = backend.vectors([ranked[0].id, *some_hidden])
        assert set(vectors) == {ranked[0].id}  # never another member's private vector
        assert vectors[ranked[0].id].shape == (DIM,)
        exported = list(backend.iter_all(batch_size=50))
        assert len(exported) == ROWS - len(store.hidden)
        assert all(m.embedding is not None and m.embedding.shape == (DIM,) for m in exported)
        assert not {m.id for m in exported} & store.hidden
    finally:
        backend.close()


def _member(store: Store, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(store.dsn["alice"]) as conn:
        register_vector(conn)
        return conn.execute(statement, params).fetchall()  # type: ignore[arg-type]


def test_a_member_with_raw_sql_cannot_order_memories_by_a_vector(store: Store) -> None:
    query = _unit(np.random.default_rng(9).standard_normal(DIM))
    probes = (
        "SELECT embedding FROM memories LIMIT 1",
        f"EXPLAIN ANALYZE SELECT id FROM memories ORDER BY embedding::vector({DIM}) <=> %s LIMIT 1",
        "SELECT id FROM memories WHERE embedding IS NOT NULL LIMIT 1",
    )
    for probe in probes:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _member(store, probe, (query,) if "%s" in probe else ())
    # what a member may read: every other column of the rows they see
    assert _member(store, "SELECT count(*), count(content), count(tags) FROM memories")[0][0] > 0


def test_explain_of_the_function_shows_none_of_the_rows_it_passed(store: Store) -> None:
    query = _unit(np.random.default_rng(11).standard_normal(DIM))
    plan = "\n".join(
        str(row[0])
        for row in _member(
            store,
            f"EXPLAIN (ANALYZE, VERBOSE, BUFFERS) SELECT * FROM team_vector_matches(%s, {DIM}, 5, '{{}}')",
            (query,),
        )
    )
    assert "Function Scan" in plan
    assert "Removed" not in plan and "memories" not in plan


def test_the_functions_refuse_what_they_do_not_know_and_take_values_as_values(store: Store) -> None:
    query = _unit(np.random.default_rng(12).standard_normal(DIM))
    call = f"SELECT id FROM team_vector_matches(%s, {DIM}, 50, %s::jsonb)"
    for unknown in ('{"owner_role": "x"}', '{"where": "true"}'):
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            _member(store, call, (query, unknown))
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        _member(store, "SELECT id FROM team_vector_matches(%s, -1, 5, '{}')", (query,))
    hostile = (
        '{"project": "p0\') OR true --"}',
        '{"group": "g\') OR true --"}',
        "{\"repo_id\": \"r0' OR '1'='1\"}",
    )
    for filters in hostile:
        assert _member(store, call, (query, filters)) == []
    every = f"SELECT id FROM team_vector_matches(%s, {DIM}, 1000, '{{}}')"
    everything = {int(i) for (i,) in _member(store, every, (query,))}
    assert everything and not everything & store.hidden
    assert not {int(i) for (i,) in _member(store, "SELECT id FROM team_vectors(%s)", (sorted(store.hidden),))}


def test_a_backend_that_asked_before_team_init_took_the_right_asks_again(store: Store) -> None:
    """A member's daemon that found no functions to use (a store set up by an older ``team init``)
    and keeps running after the owner ran ``team init`` again: its next search is refused the
    column, asks again and answers, as do its next reads of vectors."""
    backend = PostgresBackend(store.dsn["alice"], pool_size=1, migrate=False)
    try:
        query = _unit(np.random.default_rng(21).standard_normal(DIM))
        request = SearchRequest("vector", Filters(), K, vector=query)
        backend._vector_matches = False  # what it asked before
        assert [r.id for r in backend.search(request)] == _through_function(store, request, exact=False)
        backend._vector_matches = False
        first = _through_function(store, request)[0]
        assert set(backend.vectors([first])) == {first}
    finally:
        backend.close()


def test_a_members_settings_cannot_make_the_index_scan_tell_of_hidden_rows(store: Store) -> None:
    """With ``hnsw.iterative_scan = off`` and ``ef_search = 1`` (or a scan bounded to one tuple), the
    function returned no row exactly when the memory nearest the query was hidden from the caller:
    a guessed text's vector, confirmed. It scans with its own settings."""
    with psycopg.connect(store.admin) as conn:
        register_vector(conn)
        rows = conn.execute("SELECT id, embedding FROM memories ORDER BY id").fetchall()
    hidden = [vector for i, vector in rows if i in store.hidden][:5]
    seen = [vector for i, vector in rows if i not in store.hidden][:5]
    for caller in (
        "SET hnsw.iterative_scan = off; SET hnsw.ef_search = 1",
        "SET hnsw.max_scan_tuples = 1; SET hnsw.ef_search = 1",
        "SET work_mem = '64kB'; SET hnsw.ef_search = 1",
    ):
        with psycopg.connect(store.dsn["alice"]) as conn:
            register_vector(conn)
            for setting in (*caller.split("; "), "SET enable_seqscan = off"):
                conn.execute(setting)  # type: ignore[arg-type]
            call = f"SELECT id FROM team_vector_matches(%s, {DIM}, 1, '{{}}')"
            found = [len(conn.execute(call, (vector,)).fetchall()) for vector in (*hidden, *seen)]
        assert found == [1] * len(found), caller
