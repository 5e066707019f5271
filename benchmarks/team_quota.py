"""What a team store's quota (``memory/team/quota.py``: statement triggers counting each member's rows
and bytes) costs a member's writes, beside the same store without its triggers, on the embedded
PostgreSQL 18 + pgvector.

    PYTHONPATH=src:. python benchmarks/team_quota.py [--stores 300] [--batches 30] [--batch 50]
        [--rows 100000] [--rounds 3]

Prints, with the quota and without (the anchor; rounds alternate): a member's ``store`` of one
memory (median, p95, ms), a ``store_many`` of ``--batch`` memories (median, p95, ms), and what
``team init`` takes to count every role again with ``--rows`` memories in the store, and a store
that first counts its member's rows again (a stale count at the limit). The fake embedder keeps the
figures about the database.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testkit

import psycopg
from _stats import percentile
from psycopg import sql
from psycopg.conninfo import make_conninfo
from testkit.embedded_pg import start_embedded_postgres
from testkit.team_pg import TeamCluster

from mahavishnu.config import MemorySettings
from mahavishnu.memory.core.backends.postgres import PostgresBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.team import quota

SETTINGS = MemorySettings(max_content_chars=2_000, relevance_floor=0.0)
NOTE = "we deploy the ledger with blue-green releases behind the gateway, rollback in one step "


def _triggers(owner_dsn: str, on: bool) -> None:
    """Every quota trigger enabled or disabled (as the tables' owner)."""
    with psycopg.connect(owner_dsn) as conn:
        found = conn.execute(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE tgname LIKE %s",
            ("team_quota_%",),
        ).fetchall()
        for table, trigger in found:
            conn.execute(
                sql.SQL("ALTER TABLE {} {} TRIGGER {}").format(
                    sql.Identifier(table), sql.SQL("ENABLE" if on else "DISABLE"), sql.Identifier(trigger)
                )
            )


def _writes(dsn: str, stores: int, batches: int, batch: int, tag: str) -> tuple[list[float], list[float]]:
    one, many = [], []
    with MemoryStore(PostgresBackend(dsn, pool_size=1), SETTINGS, FakeEmbedder()) as store:
        for i in range(stores):
            started = time.perf_counter()
            store.store(f"{NOTE}{tag} {i}", "note", project="api")
            one.append((time.perf_counter() - started) * 1000)
        for b in range(batches):
            items = [{"content": f"{NOTE}{tag} batch {b} {i}", "memory_type": "note"} for i in range(batch)]
            started = time.perf_counter()
            store.store_many(items)  # type: ignore[arg-type]
            many.append((time.perf_counter() - started) * 1000)
    return one, many


def _fill(owner_dsn: str, admin_dsn: str, member: str, rows: int) -> None:
    """``rows`` memories of ``member``'s, written as a superuser (no trigger counts them)."""
    with psycopg.connect(admin_dsn) as conn:
        conn.execute(
            "INSERT INTO memories (content, memory_type, content_hash, embedding, embedding_model, "
            "embedding_dim, created_at, updated_at, owner_role) SELECT %s || i, 'note', "
            "md5(i::text) || md5(random()::text), array_fill(0.1, ARRAY[64])::vector, 'fake/hashing-v1', 64, "
            "now(), now(), %s FROM generate_series(1, %s) AS i",
            (NOTE, member, rows),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=300)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server, stop = start_embedded_postgres()
    team = TeamCluster(server.dsn)
    try:
        team.init()
        bob = team.add("bob").dsn()
        times: dict[bool, tuple[list[float], list[float]]] = {True: ([], []), False: ([], [])}
        for round_ in range(args.rounds):
            for on in (False, True) if round_ % 2 else (True, False):
                _triggers(team.owner_dsn, on)
                one, many = _writes(bob, args.stores, args.batches, args.batch, f"r{round_}{on}")
                times[on][0].extend(one)
                times[on][1].extend(many)
        _triggers(team.owner_dsn, True)
        for label, index in (("store, one memory", 0), (f"store_many, {args.batch} memories", 1)):
            with_, without = times[True][index], times[False][index]
            print(
                f"{label}: median / p95 {statistics.median(with_):.2f} / {percentile(with_, 95):.2f} ms with "
                f"the quota, {statistics.median(without):.2f} / {percentile(without, 95):.2f} ms without "
                f"({len(with_)} each)"
            )
        admin = make_conninfo(server.dsn, dbname=team.database)
        _fill(team.owner_dsn, admin, team.member_name("bob"), args.rows)
        started = time.perf_counter()
        team.init()
        init_s = time.perf_counter() - started
        with psycopg.connect(admin) as conn:
            counted = int(conn.execute("SELECT sum(rows) FROM team_usage").fetchone()[0])  # type: ignore[index]
        recounts = []
        with MemoryStore(PostgresBackend(bob, pool_size=1), SETTINGS, FakeEmbedder()) as store:
            for i in range(5):  # a count left high by rows another role deleted: counted again
                with psycopg.connect(admin) as conn:
                    conn.execute(
                        "UPDATE team_usage SET rows = %s, counted_at = '-infinity'", (quota.MEMBER_ROWS + 1,)
                    )
                started = time.perf_counter()
                store.store(f"{NOTE} recounted {i}", "note", project="api")
                recounts.append((time.perf_counter() - started) * 1000)
        print(
            f"team init counting every role again, {counted:,} rows: {init_s:.2f} s; a store that counts "
            f"its member's {counted:,} rows again first: median {statistics.median(recounts):.0f} ms"
        )
    finally:
        team.drop()
        stop()


if __name__ == "__main__":
    main()
