"""Memory store operations at scale, through the public API (embedded SQLite backend).

    python benchmarks/memory_ops.py                 # 100,000 rows
    python benchmarks/memory_ops.py --rows 20000 --queries 100

Prints: bulk insert rows/s, store latency without and with embedding, index load time, hybrid /
vector / text query p50/p95 (unfiltered and with a ~2 % project filter), and RSS.

onnxruntime must be imported before usearch (the reverse order segfaults here), so the real
embedder embeds once before any index is built.

Texts are 1-4 sentences drawn from the SciFact abstracts; queries are the SciFact queries.
Embedding 100k texts with the local model would take most of an hour on 2 cores, so the bulk rows
get *synthetic* clustered unit vectors (by an embedder that claims the real model's identity); the
real local embedder embeds every query, and the "with embedding" store latency. The timings are
real; the ranking of synthetic vectors against real query vectors is not meaningful (SciFact
measures quality).

Measured at 100,000 rows (2 cores shared with other jobs, load 4-7; wall p50/p95, CPU in brackets):

    bulk insert 3,300-3,500 rows/s; store without embedding 0.9/5.7 ms (0.5/1.3 CPU), with 19/43 ms
    index load from SQLite 0.9-1.7 s; HNSW build (int8 graph) 17-20 s; RSS 600 MB (peak 850 MB)
    with onnxruntime threads spinning (before the embedder turned that off):
                   hybrid 41/54 ms (40/53) HNSW; text 11/16; vector incl. query embedding 15/22
    spinning off (now the default):
                   hybrid 34/49 ms (22/29) HNSW; 38/48 (25/31) exact scan; query embedding 10/15 (7/10)
    text leg by posting budget (CPU p50/p95): 5k 7/13, 10k (default) 11/16, 20k 19/25, none 39/104
    hybrid with a 2 % project filter: 57/72 ms (38/45): the text leg joins every match to the filter

Since hybrid search embeds the query on a worker thread while the text leg runs (MemoryStore.
query_vector), on a quiet machine (load < 1): hybrid HNSW 22.1/31.1 ms in the first pass (its text
leg alone 15.6/24.2 in that pass) and 15.9/25.7 in the second (text leg 12.3/16.9); before, in one
A/B run of 300 queries x 3: 22.3/35.4 -> 16.9/26.9. The text leg (FTS5 scoring its ~10k postings,
~11 ms) is most of what is left; the query embedding is 3.4/5.4 ms, the HNSW vector leg 1-3 ms.
A later run on a quiet machine (load < 1): hybrid HNSW 15.1/19.0 ms and 15.4/25.4 in the second
pass (text leg 10.9/14.8 and 12.3/17.2), exact scan 20.5/24.8, with a 2 % filter 27.7/34.1; bulk
insert 3,459 rows/s, store with embedding 5.0/6.9 ms, RSS 616 MB (peak 861 MB).

Session 13, the word-pair leg of z-score fusion (``search.query_pairs``: ~8 FTS5 phrase queries,
~3 ms, on the query worker after the embedding while the text leg runs), on a machine slower than
the quiet runs above: interleaved A/B of 300 queries x 3, hybrid HNSW 24.2/36.9 ms with it and
23.4/36.2 without (CPU 30.4/43.3 and 26.6/39.3); run on the main thread after the legs it had added
2.6/4.2 ms. The whole script that day: hybrid HNSW 24.1/36.3 with it, 27.2/43.7 without (runs
minutes apart): that machine's noise is larger than the leg. ``compare_word_pairs`` prints the A/B.

Session 14 (load ~0.8): two cuts off hybrid search's critical path, found by timing its parts.
The text-only hits' cosines come from the in-memory vector index, not from SQLite (that read was
0.8/1.1 ms, with outliers to 10 ms: p95 9.6 in one run). The unfiltered text leg asks the FTS index
alone, without joining its 1,000 hits to the table: ~4 ms less at that depth (FTS5 alone, 200
queries: 11.2/15.3 ms vs 15.2/25.2 joined). Whole script: hybrid HNSW 17.7/22.8 ms (1st pass,
cold page cache: 18.0/25.1), interleaved A/B 17.9/24.8 with word pairs and 17.1/22.4 without;
exact scan 24.4/28.8; with a 2 % filter (still joined) 35.0/48.5. Before, on the same morning:
hybrid HNSW 31.5/40.6 in its first pass and 22.0/28.7 later in the run. Then a filtered text leg
probes the filter's id set (built once) instead of joining each match to its row: with a 2 %
filter 21.6/35.0 (FTS5 alone: 11/15 against 31/388). That run was noisier: hybrid HNSW 20.4/29.7,
interleaved 18.4/27.0 with word pairs and 17.3/25.7 without.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "scifact"
sys.path.insert(0, str(REPO / "src"))

from _shared_data import require  # noqa: E402

from mahavishnu.config import MemorySettings  # noqa: E402
from mahavishnu.memory.core.embedders import get_embedder  # noqa: E402
from mahavishnu.memory.core.embedders.base import Embedder, Kind, Vectors  # noqa: E402
from mahavishnu.memory.core.store import MemoryStore  # noqa: E402


class Synthetic(Embedder):
    """Clustered unit vectors looked up by text, under another embedder's name and model."""

    def __init__(self, like: Embedder, texts: Sequence[str], seed: int = 7) -> None:
        self.name, self.model, self.dimension = like.name, like.model, like.dimension
        rng = np.random.default_rng(seed)
        centres = rng.standard_normal((200, self.dimension)).astype(np.float32)
        cluster = rng.integers(0, len(centres), len(texts))
        vectors = centres[cluster] + 0.6 * rng.standard_normal((len(texts), self.dimension)).astype(
            np.float32
        )
        self.vectors: Vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
        self.row = {t: i for i, t in enumerate(texts)}
        self.batch_size = 1_000

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        rows: Vectors = self.vectors[[self.row[t] for t in texts]]
        return rows


def corpus(rows: int, seed: int = 11) -> tuple[list[str], list[str]]:
    """``rows`` distinct texts of 1-4 sentences drawn from the SciFact abstracts (real English, real
    term statistics, stopwords included), and the SciFact queries."""
    rng = np.random.default_rng(seed)
    sentences: list[str] = []
    with (require(DATA) / "corpus.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            sentences.extend(s.strip() + "." for s in json.loads(line)["text"].split(". ") if len(s) > 20)
    picks = rng.integers(0, len(sentences), (rows, 4))
    sizes = rng.integers(1, 5, rows)
    texts = [" ".join(sentences[j] for j in picks[i, : sizes[i]]) + f" [{i}]" for i in range(rows)]
    with (DATA / "queries.tsv").open(encoding="utf-8") as fh:
        queries = [row["text"] for row in csv.DictReader(fh, delimiter="\t")]
    return texts, queries


def percentiles(samples: list[tuple[float, float]]) -> str:
    """Wall-clock p50/p95, then the process CPU time p50/p95 (all threads): on a busy machine the
    CPU figure is the better guide to what a quiet one would show."""
    out = []
    for column in (0, 1):
        ms = sorted(sample[column] * 1000 for sample in samples)
        p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
        out.append(f"p50 {statistics.median(ms):6.2f} p95 {p95:6.2f}")
    return f"{out[0]} ms  (cpu {out[1]})"


def timed(fn: Callable[[], object], repeat: int) -> list[tuple[float, float]]:
    out = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        out.append((time.perf_counter() - wall, time.process_time() - cpu))
    return out


def rss_mb() -> tuple[float, float]:
    current = 0.0
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1024
    return current, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ann-threshold", type=int, default=MemorySettings().ann_threshold)
    args = parser.parse_args()

    real = get_embedder(MemorySettings())
    real.embed("warm up the model")
    texts, queries = corpus(args.rows)
    synthetic = Synthetic(real, texts)
    print(f"rows {args.rows:,}; bulk vectors synthetic ({real.dimension}-dim, clustered); "
          f"queries embedded by {real.identity}; {os.cpu_count()} CPUs", flush=True)  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        settings = MemorySettings(path=Path(tmp) / "memory.db", ann_threshold=args.ann_threshold)
        with MemoryStore.open(settings, embedder=synthetic) as store:
            drafts = [
                {"content": t, "type": "note", "project": f"p{i % 50}", "tags": [f"t{i % 10}"]}
                for i, t in enumerate(texts)
            ]
            began = time.perf_counter()
            for start in range(0, len(drafts), 1_000):
                store.store_many(drafts[start : start + 1_000], batch_size=1_000)
            seconds = time.perf_counter() - began
            print(f"bulk insert      {args.rows / seconds:9,.0f} rows/s ({seconds:.1f} s, batches of 1,000)")

            extra = [f"single store number {i}: {queries[i % len(queries)]}" for i in range(200)]
            synthetic.vectors = np.vstack([synthetic.vectors, synthetic.vectors[: len(extra)]])
            synthetic.row.update({t: args.rows + i for i, t in enumerate(extra)})
            it = iter(extra)
            print(f"store, no embed  {percentiles(timed(lambda: store.store(next(it), 'note'), len(extra)))}")

        with MemoryStore.open(settings, embedder=real) as store:
            it = iter(f"a new memory, number {i}: {queries[-i]}" for i in range(1, 51))
            print(f"store + embed    {percentiles(timed(lambda: store.store(next(it), 'note'), 50))}")

        asked = [queries[i % len(queries)] for i in range(args.queries)]
        it = iter(asked)
        print(
            f"query embedding  {percentiles(timed(lambda: real.embed(next(it), kind='query'), len(asked)))}"
        )
        for plan, threshold in (("exact scan", 10**9), ("HNSW", settings.ann_threshold)):
            with MemoryStore.open(
                settings.model_copy(update={"ann_threshold": threshold}), embedder=real
            ) as store:
                measure(store, plan, asked)
        now, peak = rss_mb()
        print(f"RSS              {now:9.0f} MB (peak {peak:.0f} MB)")


def measure(store: MemoryStore, plan: str, asked: list[str]) -> None:
    """Query latencies (query embedding included) with one vector-search plan."""

    def run(mode: str, filters: dict[str, str] | None = None) -> str:
        it = iter(asked)
        return percentiles(timed(lambda: store.search(next(it), mode=mode, filters=filters), len(asked)))

    backend = store.backend
    began = time.perf_counter()
    index = backend.index.current()  # type: ignore[attr-defined]
    print(f"index load       {time.perf_counter() - began:9.2f} s ({plan}: vectors from SQLite or sidecar)")
    if plan == "HNSW":
        if index is None or len(index) <= index.ann_threshold:
            return
        print(f"HNSW build       {index.build():9.1f} s")
    # The first pass reads the index pages into this connection's cache: printed, then measured again.
    print(f"hybrid 1st pass  {run('hybrid')}  ({plan}, cold SQLite page cache)")
    for mode in ("hybrid", "vector", "text"):
        print(f"{mode:6} k=10      {run(mode)}  ({plan})")
    print(f"hybrid 2% filter {run('hybrid', {'project': 'p7'})}  ({plan})")
    if plan == "HNSW":
        compare_word_pairs(store, asked)
        for budget in (20_000, 10_000, 5_000):
            backend.posting_budget = budget  # type: ignore[attr-defined]
            print(f"text   budget {budget:5} {run('text')}")
            print(f"hybrid budget {budget:5} {run('hybrid')}  ({plan})")


def compare_word_pairs(store: MemoryStore, asked: list[str], rounds: int = 3) -> None:
    """Hybrid search with and without the word-pair leg (``Fusion.proximity``), interleaved query by
    query (the order alternating) so that a busy machine slows both alike; the ratio is with/without."""
    fusions = {"with": store.fusion, "without": replace(store.fusion, proximity=0.0)}
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in fusions}
    for n in range(rounds * len(asked)):
        query = asked[n % len(asked)]
        for name in list(fusions) if n % 2 else list(reversed(fusions)):
            fusion = fusions[name]
            samples[name] += timed(lambda q=query, f=fusion: store.search(q, fusion=f), 1)
    for name, got in samples.items():
        print(f"hybrid {name:7} word pairs {percentiles(got)}  (HNSW, {rounds} rounds interleaved)")
    ratio = [statistics.median(s[0] for s in samples[n]) for n in ("with", "without")]
    print(f"word pairs cost  x{ratio[0] / ratio[1]:.3f} wall p50")


if __name__ == "__main__":
    main()
