"""``search_everywhere`` latency: memories + insights + the Session-Buddy peer, through the public API.

    python benchmarks/unified_search.py                  # 5,000 memories, 200 queries
    python benchmarks/unified_search.py --rows 20000 --queries 300

The store is the embedded default with the real local embedder: every stored text (SciFact abstract
sentences, one in ten stored as a shared insight) and every query (the SciFact queries) is really
embedded, and the query embedding is inside every timing. Rows, each hybrid, k=10:

    anchor: local search only        MemoryStore.search, what --everywhere adds to
    peer not configured              the default: no peer, a warning in the result
    peer unreachable                 session_buddy.url at a closed loopback port (issue #7's bar:
                                     p95 <= 50 ms "with the peer absent")
    peer present (loopback HTTP)     the contract server (testkit/), over real MCP HTTP
    peer slow (timeout 0.5 s)        a peer that never answers in time: bounded by its timeout
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "scifact"
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))  # testkit

from _shared_data import require  # noqa: E402
from _stats import print_rows, time_runs  # noqa: E402
from testkit.session_buddy_server import free_port, serve_http  # noqa: E402


def texts_and_queries(rows: int, seed: int = 5) -> tuple[list[str], list[str]]:
    sentences: list[str] = []
    with (require(DATA) / "corpus.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            sentences += [s.strip() + "." for s in json.loads(line)["text"].split(". ") if len(s) > 40]
    random.Random(seed).shuffle(sentences)
    queries = [line.split("\t", 1)[1].strip() for line in (DATA / "queries.tsv").read_text().splitlines()[1:]]
    return sentences[:rows], queries


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=5_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    from mahavishnu.config import MemorySettings
    from mahavishnu.memory.core.models import MemoryDraft
    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.memory.insights.cross_project import store_insights
    from mahavishnu.memory.peers.session_buddy import SessionBuddy
    from mahavishnu.memory.peers.unified import search_everywhere

    texts, queries = texts_and_queries(args.rows)
    with (
        tempfile.TemporaryDirectory() as tmp,
        MemoryStore.open(MemorySettings(path=Path(tmp) / "m.db")) as store,
    ):
        started = time.perf_counter()
        notes = [t for i, t in enumerate(texts) if i % 10]
        store.store_many([MemoryDraft(t, "note", project=f"p{i % 20}") for i, t in enumerate(notes)])
        store_insights(store, [t for i, t in enumerate(texts) if not i % 10 and len(t) >= 30], project="p0")
        took = time.perf_counter() - started
        print(f"stored {store.stats()['count']:,} memories (real embeddings) in {took:.0f}s")

        pool = itertools.cycle(queries)

        def run(peer: SessionBuddy | None = None) -> Callable[[], object]:
            return lambda: search_everywhere(store, next(pool), peer=peer or SessionBuddy(), limit=10)

        def timed(peer: SessionBuddy | None, runs: int, warmup: int = 2) -> list[float]:
            """One row: one client, its MCP session kept across the row's searches, closed after."""
            with peer or SessionBuddy() as client:
                return time_runs(run(client), runs, warmup=warmup)

        rows = [
            (
                "anchor: local search only",
                time_runs(lambda: store.search(next(pool), limit=10), args.queries),
            ),
            ("everywhere, peer not configured", timed(None, args.queries)),
            (
                "everywhere, peer unreachable (closed port)",
                timed(SessionBuddy(url=f"http://127.0.0.1:{free_port()}/mcp"), args.queries),
            ),
        ]
        with contextmanager(serve_http)() as url:
            rows.append(
                ("everywhere, peer present (loopback HTTP)", timed(SessionBuddy(url=url), args.queries))
            )
        with contextmanager(serve_http)("--mode", "slow", "--delay", "30") as url:
            slow = SessionBuddy(url=url, timeout_seconds=0.5)
            rows.append(("everywhere, peer slow (timeout 0.5 s)", timed(slow, 10, warmup=1)))
        print_rows(rows, anchor="anchor: local search only")


if __name__ == "__main__":
    main()
