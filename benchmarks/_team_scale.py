"""The scale figure of ``benchmarks/team.py``: filtered vector search under row-level security.

``--scale ROWS`` memories (default 100,000; the issue's figure: ``--scale 1000000``) in a team store
made by ``team init``/``team add`` (``testkit/team_pg.py``), ``--members`` members: each member owns
~5 % of the rows privately and ~2 % shared with the team (20 % shared in all), the team owner's
private rows make up the remaining 30 %, so a member sees ~25 % of the table. 20 projects and the
product's memory types, spread independently of the vectors (the hardest case for a filter).

The rows are synthetic and written with one binary ``COPY`` (as the server's superuser, with the
audit and share-by-default triggers off): ``--scale-dim`` (384, all-MiniLM-L6-v2's) unit vectors
around one cluster centre per ~100 rows (cosine to their centre ~0.9), and short texts of words
drawn from their cluster's topic words, so that the text leg of a hybrid search has matches.
Embedding a million texts with a real model would take hours on two cores (~240 short texts/s):
the figure is about the database. Uniformly random vectors would make every approximate index
look broken, so they are clustered. The HNSW index is then built as the product builds it (the
owner's ``PostgresBackend.migrate``, ``vector_index_sql``) and the table analysed.

Then ``--scale-queries`` query vectors (near random cluster centres, not stored rows), each asked
by one of the members through ``PostgresBackend`` as that member (row-level security applies),
with no filter and with a project filter (the scope the app adds): recall@10 against an exact
scan as the same member (the same statement with ``SET LOCAL enable_indexscan = off``), results
shorter than 10, and p50/p95 ms, for each iterative-scan setting; and hybrid search p50/p95.

Time on this 2-core box (shared): 100,000 rows about 2 minutes in all (COPY ~5-10 s, HNSW index
~35 s); 1,000,000 rows about 20 minutes (COPY ~1 min, HNSW build ~9 min with the 2 GB of
``maintenance_work_mem`` set below, the exact scans ~0.6 s each, the hybrid searches of the text leg
as before ``team_text_matches`` ~0.4 s each).
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from _stats import percentile
from pgvector.psycopg import register_vector
from psycopg.conninfo import make_conninfo
from testkit.team_pg import TeamCluster

from mahavishnu.memory.core.backends.base import SearchRequest
from mahavishnu.memory.core.backends.postgres import (
    HNSW_EF_SEARCH,
    PostgresBackend,
    search_settings,
    search_sql,
)
from mahavishnu.memory.core.models import Filters

K = 10
#: Server options for the run: room to build the HNSW graph in memory (a graph larger than
#: ``maintenance_work_mem`` builds many times slower) and to keep the table and index cached.
SERVER_SETTINGS = "-c shared_buffers=2GB -c maintenance_work_mem=2GB -c max_parallel_maintenance_workers=1"
PROJECTS = [f"proj-{i:02d}" for i in range(20)]
#: memory types and their shares of the rows
TYPES = {"rag": 0.5, "decision": 0.2, "note": 0.2, "insight": 0.05, "agent": 0.05}
EMBEDDER = "synthetic/clustered"
#: What is measured: (label, iterative scan, ``hnsw.ef_search``) run as the member with the product's
#: statement (``search_sql``), then the product's own search (``PostgresBackend.search``).
BEFORE: list[tuple[str, str, int]] = [
    ("pgvector defaults (no iterative scan)", "off", 40),
    ("relaxed_order, ef_search 40 (before)", "relaxed_order", 40),
    ("relaxed_order, ef_search 100", "relaxed_order", 100),
    ("relaxed_order, ef_search 400", "relaxed_order", 400),
    ("relaxed_order, ef_search 600", "relaxed_order", 600),
    ("relaxed_order, ef_search 800", "relaxed_order", 800),
    ("relaxed_order, ef_search 1000", "relaxed_order", 1000),
    (f"strict_order, ef_search {HNSW_EF_SEARCH}", "strict_order", HNSW_EF_SEARCH),
]
#: Hybrid searches also run with the text leg as before ``team_text_matches`` (``@@`` on every
#: row the member sees): this many of them (~0.5 s each at 1,000,000 rows).
HYBRID_BEFORE = 40
AFTER = f"the product: relaxed_order, ef {HNSW_EF_SEARCH}"
#: The searches: what row-level security leaves (~25 %), and the filters the app adds on top.
SCOPES = [
    ("rls", "row-level security only (~25 % of the rows)"),
    ("project", "+ the project's scope (~1.3 %)"),
    ("insight", "+ the project's insights only (~0.07 %)"),
]
_SYLLABLES = ["ka", "lo", "mi", "ren", "to", "sa", "vel", "dor", "qui", "ne", "pa", "lis", "gor", "fen", "ur"]


@dataclass
class Corpus:
    topics: np.ndarray  # (topics, dim), unit: what a project is about
    clusters: np.ndarray  # (clusters, dim), unit: one subject of a topic each
    topic_of: np.ndarray  # (clusters,): each cluster's topic
    words: list[list[str]]  # each cluster's words
    vocabulary: list[str]

    def home(self, cluster: int) -> str:
        """The project a cluster's topic belongs to."""
        return PROJECTS[int(self.topic_of[cluster]) % len(PROJECTS)]


def _vocabulary(rng: np.random.Generator, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        n = int(rng.integers(2, 5))
        words.add("".join(_SYLLABLES[int(i)] for i in rng.integers(0, len(_SYLLABLES), n)))
    return sorted(words)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _random_units(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    return _unit(rng.standard_normal((n, dim)))


def corpus(rows: int, dim: int, seed: int = 37) -> Corpus:
    """Two levels, as real embeddings have neighbours at several distances: a cluster of ~100 rows
    (cosine ~0.75 between its rows) lies around one of ``clusters / 20`` topics (cosine ~0.37
    between clusters of one topic, ~0 across topics)."""
    rng = np.random.default_rng(seed)
    clusters = max(20, rows // 100)
    topics = _random_units(rng, max(1, clusters // 20), dim)
    topic_of = rng.integers(0, len(topics), clusters)
    centres = _unit(0.6 * topics[topic_of] + 0.6 * _random_units(rng, clusters, dim))
    vocabulary = _vocabulary(rng, 4000)
    words = [[vocabulary[int(i)] for i in rng.integers(0, len(vocabulary), 12)] for _ in range(clusters)]
    return Corpus(topics, centres, topic_of, words, vocabulary)


def _near(centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors around ``centres`` (cosine to the centre ~0.85)."""
    noise = _random_units(rng, len(centres), centres.shape[1])
    return _unit(0.85 * centres + 0.5 * noise)


def _text(c: Corpus, cluster: int, rng: np.random.Generator, kind: str, project: str) -> str:
    words = [c.words[cluster][int(i)] for i in rng.integers(0, 12, 7)]
    words += [c.vocabulary[int(i)] for i in rng.integers(0, len(c.vocabulary), 3)]
    return f"{kind} for {project}: " + " ".join(words)


def seed_rows(admin_dsn: str, team: TeamCluster, members: Sequence[str], rows: int, c: Corpus) -> float:
    """COPY ``rows`` synthetic memories (see the module's docstring); seconds taken."""
    rng = np.random.default_rng(38)
    start = time.monotonic()
    kinds, shares = list(TYPES), np.array(list(TYPES.values()))
    now = datetime.now(UTC)
    dim = c.clusters.shape[1]
    columns = (
        "content, memory_type, project, content_hash, embedding, embedding_model, embedding_dim, "
        "created_at, updated_at, owner_role, visibility"
    )
    types = ["text", "text", "text", "text", "vector", "text", "int4", "timestamptz", "timestamptz"]
    with psycopg.connect(make_conninfo(admin_dsn, dbname=team.database)) as conn:
        register_vector(conn)
        conn.execute("SET session_replication_role = replica")  # no audit/share triggers for the seed
        with conn.cursor().copy(f"COPY memories ({columns}) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types([*types, "text", "text"])
            done = 0
            while done < rows:
                n = min(20_000, rows - done)
                cluster = rng.integers(0, len(c.clusters), n)
                vectors = _near(c.clusters[cluster], rng)
                elsewhere = rng.random(n) < 0.3  # 70 % of a cluster's rows are in its topic's project
                roll = rng.random(n)
                who = rng.integers(0, len(members), n)
                kind = rng.choice(len(kinds), n, p=shares)
                project = [
                    PROJECTS[int(p)] if away else c.home(int(k))
                    for p, away, k in zip(rng.integers(0, len(PROJECTS), n), elsewhere, cluster, strict=True)
                ]
                age = rng.integers(0, 365 * 24 * 3600, n)
                for j in range(n):
                    owner = team.owner if roll[j] >= 0.7 else members[int(who[j])]
                    visibility = "team" if 0.5 <= roll[j] < 0.7 else "private"
                    text = _text(c, int(cluster[j]), rng, kinds[kind[j]], project[j])
                    when = now - timedelta(seconds=int(age[j]))
                    digest = hashlib.sha256(f"{done + j}:{text}".encode()).hexdigest()
                    copy.write_row(
                        (
                            text,
                            kinds[kind[j]],
                            project[j],
                            digest,
                            vectors[j],
                            EMBEDDER,
                            dim,
                            when,
                            when,
                            owner,
                            visibility,
                        )
                    )
                done += n
        conn.commit()
    return time.monotonic() - start


def build_index(team: TeamCluster, admin_dsn: str) -> float:
    """The ANN index as the product builds it: the owner's backend migrates (``_ensure_vector_index``)."""
    start = time.monotonic()
    PostgresBackend(team.owner_dsn, pool_size=1).close()
    with psycopg.connect(make_conninfo(admin_dsn, dbname=team.database), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE memories")
    return time.monotonic() - start


@dataclass
class Query:
    member: int
    vector: np.ndarray
    text: str
    filters: Filters


def queries(c: Corpus, count: int, members: int, scope: str) -> list[Query]:
    """Query vectors near random clusters (not stored rows), each with 3 of its cluster's words;
    scope ``project``: in the project of the cluster's topic, as a search run in that project is;
    ``insight``: its insights only (5 % of the rows)."""
    rng = np.random.default_rng(39)
    cluster = rng.integers(0, len(c.clusters), count)
    vectors = _near(c.clusters[cluster], rng)
    out = []
    for i in range(count):
        words = [c.words[int(cluster[i])][int(w)] for w in rng.integers(0, 12, 3)]
        project = c.home(int(cluster[i]))
        filters = (
            Filters()
            if scope == "rls"
            else Filters(project=project)
            if scope == "project"
            else Filters(project=project, types=("insight",))
        )
        out.append(Query(i % members, vectors[i], " ".join(words), filters))
    return out


def exact_ids(conn: psycopg.Connection[Any], q: Query, *, member: bool = True) -> list[int]:
    """The true top-k the member sees: the product's statement with index scans off (a member's
    through ``team_vector_matches``; the server's superuser reads ``memories`` itself)."""
    sql, params, _ = search_sql(SearchRequest("vector", q.filters, K, vector=q.vector), vector_matches=member)
    with conn.transaction():
        conn.execute("SET LOCAL enable_indexscan = off")
        return [int(row[0]) for row in conn.execute(sql, params)]


def plan(admin_dsn: str, team: TeamCluster, role: str, q: Query) -> str:
    """The product's vector search plan as this member (the HNSW index, or not): the plan inside
    ``team_vector_matches``, which the member's ``EXPLAIN`` does not show, as auto_explain logs it
    to the superuser's session made the member's."""
    request = SearchRequest("vector", q.filters, K, vector=q.vector)
    sql, params, ef_search = search_sql(request, vector_matches=True)
    notices: list[str] = []
    with psycopg.connect(make_conninfo(admin_dsn, dbname=team.database), autocommit=True) as conn:
        register_vector(conn)
        conn.add_notice_handler(lambda notice: notices.append(str(notice.message_primary)))
        conn.execute(
            "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; "
            "SET auto_explain.log_nested_statements = on; SET auto_explain.log_level = notice"
        )
        conn.execute(f'SET SESSION AUTHORIZATION "{role}"')  # type: ignore[arg-type]  # a role of this run
        with conn.transaction():
            conn.execute(search_settings(ef_search))
            conn.execute(sql, params).fetchall()
    lines = [line for notice in notices for line in notice.splitlines() if "Scan" in line]
    return " / ".join(line.strip(" ->") for line in lines if "memories" in line)


def measure(search: Callable[[Query], list[int]], qs: Sequence[Query], exact: Sequence[list[int]]) -> str:
    """recall@k against ``exact``, results shorter than k, p50/p95 ms of ``search`` over ``qs``."""
    for q in qs[:20]:  # warm the connections
        search(q)
    latencies, recalls, short = [], [], 0
    for q, truth in zip(qs, exact, strict=True):
        start = time.perf_counter()
        ids = search(q)
        latencies.append((time.perf_counter() - start) * 1000)
        short += len(ids) < min(K, len(truth))
        recalls.append(len(set(ids) & set(truth)) / len(truth) if truth else 1.0)
    return (
        f"recall@{K} {statistics.fmean(recalls):.3f}  short results {short:3d}/{len(qs)}  "
        f"p50 {statistics.median(latencies):6.1f} ms  p95 {percentile(latencies, 95):6.1f} ms"
    )


def raw_search(
    conns: Sequence[psycopg.Connection[Any]], scan: str, ef_search: int
) -> Callable[[Query], list[int]]:
    """The product's statement as the member, with these settings (what the backend did before)."""

    def search(q: Query) -> list[int]:
        request = SearchRequest("vector", q.filters, K, vector=q.vector)
        sql, params, _ = search_sql(request, vector_matches=True)
        conn = conns[q.member]
        with conn.transaction():
            conn.execute(f"SET LOCAL hnsw.ef_search = {ef_search}; SET LOCAL hnsw.iterative_scan = {scan}")
            return [int(row[0]) for row in conn.execute(sql, params)]

    return search


def product_search(backends: Sequence[PostgresBackend]) -> Callable[[Query], list[int]]:
    def search(q: Query) -> list[int]:
        request = SearchRequest("vector", q.filters, K, vector=q.vector)
        return [r.id for r in backends[q.member].search(request)]

    return search


def hybrid(dsns: Sequence[str], qs: Sequence[Query]) -> tuple[list[float], list[list[int]]]:
    """The product's hybrid search of each query as its member: ms (after the first ones, which
    warm the connections) and the ids found."""
    backends = [PostgresBackend(d, pool_size=1, migrate=False) for d in dsns]
    try:
        latencies, found = [], []
        for n, q in enumerate(qs):
            request = SearchRequest("hybrid", q.filters, K, vector=q.vector, text=q.text)
            start = time.perf_counter()
            found.append([r.id for r in backends[q.member].search(request)])
            if n >= len(dsns):
                latencies.append((time.perf_counter() - start) * 1000)
        return latencies, found
    finally:
        for b in backends:
            b.close()


def statement_ids(conn: psycopg.Connection[Any], request: SearchRequest, *, member: bool = True) -> list[int]:
    """The ids the product's statement for ``request`` returns on ``conn``, with its settings (the
    text leg on ``memories`` itself, as ``search_sql`` writes it by default; a member's vector leg
    through ``team_vector_matches``)."""
    sql, params, ef_search = search_sql(request, vector_matches=member)
    with conn.transaction():
        conn.execute(search_settings(ef_search))
        return [int(row[0]) for row in conn.execute(sql, params)]


def hybrid_before(
    conns: Sequence[psycopg.Connection[Any]], qs: Sequence[Query]
) -> tuple[list[float], list[list[int]]]:
    """The same hybrid statement as the member with the text leg reading ``memories`` itself (as
    before ``team_text_matches``): ms and ids."""
    latencies, found = [], []
    for q in qs:
        request = SearchRequest("hybrid", q.filters, K, vector=q.vector, text=q.text)
        start = time.perf_counter()
        found.append(statement_ids(conns[q.member], request))
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies, found


def ceiling(admin_dsn: str, team: TeamCluster, qs: Sequence[Query]) -> str:
    """The HNSW index's own recall@k, as the server's superuser (no row-level security) with the
    product's settings, against an exact scan of every row: what no filtering can improve on."""
    with psycopg.connect(make_conninfo(admin_dsn, dbname=team.database), autocommit=True) as conn:
        register_vector(conn)
        exact = [exact_ids(conn, q, member=False) for q in qs]

        def search(q: Query) -> list[int]:
            return statement_ids(conn, SearchRequest("vector", q.filters, K, vector=q.vector), member=False)

        return measure(search, qs, exact) + f" ({len(qs)} queries)"


def run(admin_dsn: str, rows: int, members: int, dim: int, count: int) -> None:
    team = TeamCluster(admin_dsn, embedder=EMBEDDER, dimension=dim)
    try:
        team.init()
        tickets = [team.add(f"s{i}") for i in range(members)]
        c = corpus(rows, dim)
        copied = seed_rows(admin_dsn, team, [t.user for t in tickets], rows, c)
        indexed = build_index(team, admin_dsn)
        dsns = [t.dsn() for t in tickets]
        with psycopg.connect(make_conninfo(admin_dsn, dbname=team.database)) as conn:
            seen = conn.execute(
                "SELECT count(*) FILTER (WHERE owner_role = %s OR visibility = 'team')::float8 / count(*) "
                "FROM memories",
                (tickets[0].user,),
            ).fetchone()[0]  # type: ignore[index]
        print(
            f"scale: {rows:,} memories x {dim} dims, {members} members (member 0 sees {seen:.1%} of them), "
            f"COPY {copied:.0f} s, HNSW index + analyse {indexed:.0f} s; {count} queries, top-{K}"
        )
        for scope, name in SCOPES:
            qs = queries(c, count, members, scope)
            exact, exact_ms = [], []
            conns = [psycopg.connect(d, autocommit=True, prepare_threshold=None) for d in dsns]
            for conn in conns:
                register_vector(conn)
            for q in qs:
                start = time.perf_counter()
                exact.append(exact_ids(conns[q.member], q))
                exact_ms.append((time.perf_counter() - start) * 1000)
            print(
                f"  {name}: exact scan p50 {statistics.median(exact_ms):.1f} ms, "
                f"p95 {percentile(exact_ms, 95):.1f} ms"
            )
            for label, scan, ef_search in BEFORE:
                print(f"    {label:38s} {measure(raw_search(conns, scan, ef_search), qs, exact)}")
            backends = [PostgresBackend(d, pool_size=1, migrate=False) for d in dsns]
            try:
                print(f"    {AFTER:38s} {measure(product_search(backends), qs, exact)}")
            finally:
                for backend in backends:
                    backend.close()
            print(f"      plan: {plan(admin_dsn, team, tickets[0].user, qs[0])}")
            if scope == "rls":
                print(f"    {'the index alone (no RLS), same ef':38s} {ceiling(admin_dsn, team, qs[:50])}")
            old_lat, old_found = hybrid_before(conns, qs[:HYBRID_BEFORE])
            for conn in conns:
                conn.close()
            lat, found = hybrid(dsns, [replace(q) for q in qs])
            same = sum(a == b for a, b in zip(old_found, found, strict=False))
            label = "hybrid, text leg on memories (before)"
            print(
                f"    {label:38s} p50 {statistics.median(old_lat):6.1f} ms  "
                f"p95 {percentile(old_lat, 95):6.1f} ms ({len(old_lat)} queries)"
            )
            print(
                f"    {'hybrid search (the product)':38s} p50 {statistics.median(lat):6.1f} ms  "
                f"p95 {percentile(lat, 95):6.1f} ms; the same results as before {same}/{len(old_found)}"
            )
    finally:
        team.drop()
