"""SciFact retrieval quality through the public memory API: nDCG@10 and recall@100 per search mode.

    python benchmarks/scifact.py                  # index ../shared/data/scifact, print one line per mode
    python benchmarks/scifact.py --store S.db     # keep the indexed store in S.db and reuse it next time
    python benchmarks/scifact.py --sweep          # also the fusion sensitivity table

The corpus (5,183 abstracts, ``title + " " + text`` as in BEIR) is stored with ``store_many`` as
``rag`` memories with the configured (default: local) embedder; the 300 test queries are run with
``MemoryStore.search``. Relevance is binary (BEIR's qrels), nDCG uses log2 discounts.

Measured (2 cores shared with other jobs, load 7-18; default local embedder onnx-int8):

    indexed 5183 documents in 929.7 s (6 docs/s; the embedder alone is ~35 docs/s on a quiet machine)
    vector nDCG@10 0.647 recall@100 0.922
    text nDCG@10 0.687 recall@100 0.929
    hybrid nDCG@10 0.732 recall@100 0.938        (convex, alpha 0.5, depth 100: the default)

    hybrid sensitivity   nDCG@10 (recall@100)
    convex alpha 0.3-0.7 0.727-0.732             depth 200: 0.733 (0.955), 300: 0.735 (0.962)
    rrf k=60 alpha 0.5   0.714 (0.955)           alpha 0.3-0.7: 0.701-0.725; k 10/20/100: 0.722/0.722/0.713

    text posting budget  0 / 20k / 10k (default): no change here (5,183 documents); as a share of the
    (budget/documents)   corpus, which is what carries over to larger stores: 0.96 -> hybrid 0.731,
                         0.39 -> 0.719 (text 0.678), 0.19 -> 0.716 (0.667), 0.10 -> 0.715 (0.644).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from _shared_data import SHARED_DATA, require  # noqa: E402

from mahavishnu.config import MemorySettings  # noqa: E402
from mahavishnu.memory.core.search import Fusion  # noqa: E402
from mahavishnu.memory.core.store import MemoryStore  # noqa: E402

DATA = SHARED_DATA / "scifact"


def load(data: Path) -> tuple[list[tuple[str, str]], dict[str, str], dict[str, set[str]]]:
    corpus = []
    with (data / "corpus.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            doc = json.loads(line)
            corpus.append((doc["_id"], f"{doc['title']} {doc['text']}".strip()))
    with (data / "queries.tsv").open(encoding="utf-8") as fh:
        queries = {row["query-id"]: row["text"] for row in csv.DictReader(fh, delimiter="\t")}
    qrels: dict[str, set[str]] = defaultdict(set)
    with (data / "qrels_test.tsv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels[row["query-id"]].add(row["corpus-id"])
    return corpus, {q: queries[q] for q in qrels}, dict(qrels)


def index(store: MemoryStore, corpus: list[tuple[str, str]]) -> tuple[dict[int, list[str]], float]:
    """Store the corpus (skipped when the store already holds it); memory id -> doc ids."""
    drafts = [
        {"content": text, "type": "rag", "project": "scifact", "metadata": {"doc_id": d}}
        for d, text in corpus
    ]
    began = time.perf_counter()
    memories = store.store_many(drafts, batch_size=256)
    seconds = time.perf_counter() - began
    docs: dict[int, list[str]] = defaultdict(list)
    for (doc_id, _), memory in zip(corpus, memories, strict=True):
        docs[memory.id].append(doc_id)
    return dict(docs), seconds


def ndcg_at_10(ranking: list[str], relevant: set[str]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, doc in enumerate(ranking[:10]) if doc in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    return dcg / ideal


def evaluate(
    store: MemoryStore,
    docs: dict[int, list[str]],
    queries: dict[str, str],
    qrels: dict[str, set[str]],
    mode: str,
    fusion: Fusion | None = None,
) -> tuple[float, float]:
    ndcg = recall = 0.0
    for qid, text in queries.items():
        hits = store.search(text, mode=mode, limit=100, fusion=fusion, filters={"types": ["rag"]})
        ranking = [doc for hit in hits for doc in docs[hit.memory.id]]
        ndcg += ndcg_at_10(ranking, qrels[qid])
        recall += len(set(ranking[:100]) & qrels[qid]) / len(qrels[qid])
    return ndcg / len(queries), recall / len(queries)


def sweep(
    store: MemoryStore, docs: dict[int, list[str]], queries: dict[str, str], qrels: dict[str, set[str]]
) -> None:
    """How sensitive hybrid quality is to the fusion method, its weight and the candidate depth."""
    variants = [Fusion("convex", alpha=a, depth=100) for a in (0.3, 0.4, 0.5, 0.6, 0.7)]
    variants += [Fusion("convex", alpha=0.5, depth=d) for d in (50, 200, 300)]
    variants += [Fusion("rrf", alpha=a, rrf_k=60, depth=100) for a in (0.3, 0.4, 0.5, 0.6, 0.7)]
    variants += [Fusion("rrf", alpha=0.5, rrf_k=k, depth=100) for k in (10, 20, 100)]
    for fusion in variants:
        ndcg, recall = evaluate(store, docs, queries, qrels, "hybrid", fusion)
        print(
            f"  {fusion.method:6} alpha {fusion.alpha:.1f} k {fusion.rrf_k:3} depth {fusion.depth:3}  "
            f"nDCG@10 {ndcg:.3f} recall@100 {recall:.3f}",
            flush=True,
        )


def budgets(
    store: MemoryStore, docs: dict[int, list[str]], queries: dict[str, str], qrels: dict[str, set[str]]
) -> None:
    """Quality cost of matching only the rarest query terms (``memory.text_posting_budget``)."""
    backend = store.backend
    for budget in (0, 20_000, 10_000, 5_000, 2_000, 1_000, 500):
        backend.posting_budget = budget  # type: ignore[attr-defined]
        text = evaluate(store, docs, queries, qrels, "text")
        hybrid = evaluate(store, docs, queries, qrels, "hybrid")
        print(f"  budget {budget:6}  text nDCG@10 {text[0]:.3f} recall@100 {text[1]:.3f}  "
              f"hybrid nDCG@10 {hybrid[0]:.3f} recall@100 {hybrid[1]:.3f}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--store", type=Path, help="SQLite file to keep (and reuse) the indexed corpus")
    parser.add_argument("--sweep", action="store_true", help="also print fusion and posting-budget variants")
    parser.add_argument("--only-budgets", action="store_true", help="with --sweep: skip the fusion variants")
    args = parser.parse_args()

    corpus, queries, qrels = load(require(args.data))
    with tempfile.TemporaryDirectory() as tmp:
        settings = MemorySettings(path=args.store or Path(tmp) / "scifact.db")
        with MemoryStore.open(settings) as store:
            reused = store.stats()["count"] >= len(corpus)
            docs, seconds = index(store, corpus)
            how = "reused the indexed store" if reused else f"{len(corpus) / seconds:.0f} docs/s"
            print(
                f"indexed {len(corpus)} documents in {seconds:.1f} s ({how}) with {store.embedder.identity}; "
                f"{len(queries)} queries; hybrid = {store.fusion}",
                flush=True,
            )
            for mode in ("vector", "text", "hybrid"):
                began = time.perf_counter()
                ndcg, recall = evaluate(store, docs, queries, qrels, mode)
                per_query = (time.perf_counter() - began) / len(queries) * 1000
                print(
                    f"{mode} nDCG@10 {ndcg:.3f} recall@100 {recall:.3f}  ({per_query:.1f} ms/query)",
                    flush=True,
                )
            if args.sweep:
                if not args.only_budgets:
                    print("hybrid fusion sensitivity:")
                    sweep(store, docs, queries, qrels)
                print("text posting budget (embedded store):")
                budgets(store, docs, queries, qrels)


if __name__ == "__main__":
    main()
