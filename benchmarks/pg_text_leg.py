"""PostgreSQL's text leg at scale: FTS5's BM25 in SQL (``postgres._bm25_sql``) beside the
``ts_rank_cd`` statement it replaced, on the same table.

    python benchmarks/pg_text_leg.py                 # 300,000 rows, ~1 min
    python benchmarks/pg_text_leg.py --rows 1000000

An embedded PostgreSQL server; ``--rows`` synthetic memories of 30-70 words drawn from 20,000 with a
log-uniform frequency (word ``w1`` is in ~99 % of the rows, ``w5000`` in ~0.2 %), in 100 projects.
Each query runs 5 times as a text search 1,000 deep (what hybrid search reads) with no filter and
within one project (1 % of the rows, the scope the prompt hook searches); the median of each, in
ms. The words' share of the rows is printed beside each query: BM25 counts each matching row's
query words, so a query matching most of the table costs most, as ``ts_rank_cd`` scored every
match too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testkit

QUERIES = ("w5000 w7000", "w100 w3000", "w10 w4000", "w2 w900", "w1 w2 w3")
RUNS = 5


def load(conn: Any, rows: int) -> None:
    conn.execute(
        """
        INSERT INTO memories (memory_type, content, content_hash, embedding, embedding_model,
                              embedding_dim, created_at, updated_at, project)
        SELECT 'note',
               (SELECT string_agg('w' || floor(exp(random() * ln(20000)))::int, ' ')
                FROM generate_series(1, 30 + (g %% 40)) WHERE g > 0),
               md5(g::text) || md5((g + 1)::text), '[1,0,0]', 'synthetic', 3, now(), now(), 'p' || (g %% 100)
        FROM generate_series(1, %s) AS g
        """,
        (rows,),
    )
    conn.execute("VACUUM ANALYZE memories")


def ts_rank_cd(request: Any) -> tuple[str, list[Any]]:
    """The text leg as it was: every match scored by ``ts_rank_cd``."""
    from mahavishnu.memory.core.backends.postgres import DIALECT, TS_CONFIG, tsquery_terms

    where, params = DIALECT.filter_sql(request.filters)
    tsquery = " | ".join(f"'{t}'" for t in tsquery_terms(request.text))
    sql = (
        "WITH t AS MATERIALIZED (SELECT m.id, ts_rank_cd(m.content_tsv, q)::float8 AS score "
        f"FROM memories AS m, to_tsquery('{TS_CONFIG}', %s) AS q WHERE m.content_tsv @@ q AND {where} "
        "ORDER BY score DESC, m.id LIMIT %s) SELECT id, score FROM t ORDER BY score DESC, id"
    )
    return sql, [tsquery, *params, request.limit]


def median_ms(conn: Any, sql: str, params: list[Any]) -> float:
    took = []
    for _ in range(RUNS):
        began = time.perf_counter()
        conn.execute(sql, params).fetchall()
        took.append((time.perf_counter() - began) * 1000)
    return statistics.median(took)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=300_000)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="pg-text-leg-")
    for name in ("HOME", "MAHAVISHNU_HOME", "XDG_DATA_HOME"):
        os.environ[name] = home
    import psycopg
    from testkit.embedded_pg import start_embedded_postgres

    from mahavishnu.memory.core.backends.base import SearchRequest
    from mahavishnu.memory.core.backends.postgres import PostgresBackend, search_sql
    from mahavishnu.memory.core.models import Filters

    server, stop = start_embedded_postgres()
    try:
        dsn = server.new_database()
        PostgresBackend(dsn).close()  # the schema, as the product migrates it
        with psycopg.connect(dsn, autocommit=True) as conn:
            began = time.perf_counter()
            load(conn, args.rows)
            print(f"{args.rows:,} rows loaded in {time.perf_counter() - began:.0f} s; median of {RUNS}, ms")
            print(f"  {'query':12} {'rows matching':>13}  {'filter':8} {'BM25':>8} {'ts_rank_cd':>10}")
            for query in QUERIES:
                share = conn.execute(
                    "SELECT avg((content_tsv @@ to_tsquery('english', %s))::int) FROM memories",
                    (" | ".join(query.split()),),
                ).fetchone()[0]
                for name, filters in (("none", Filters()), ("project", Filters(project="p7"))):
                    request = SearchRequest("text", filters, 1000, text=query)
                    bm25, params, _ = search_sql(request)
                    print(
                        f"  {query:12} {float(share):>12.0%}  {name:8} {median_ms(conn, bm25, params):8.1f}"
                        f" {median_ms(conn, *ts_rank_cd(request)):10.1f}",
                        flush=True,
                    )
    finally:
        stop()  # type: ignore[operator]


if __name__ == "__main__":
    main()
