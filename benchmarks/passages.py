"""What sentence-level vectors would buy on SciFact: the ceiling of the default model's hybrid search.

    PYTHONPATH=src python benchmarks/passages.py [--cache DIR]

A memory has one vector, of its first 256 tokens. This script measures, on SciFact (nDCG@10, the
300 test queries), what more vectors per memory would give, without changing the product: every
abstract is also cut into passages (its title, and each sentence of its text), the passages are
embedded with the default local model (cached in ``--cache``, as ``retrieval.py`` does), and the
vector leg of a hybrid search is rescored with ``(1 - w) * whole + w * best passage`` over the
candidates both legs found (depth 100 each), then fused with the product's own full-text leg
(``MemoryStore.search(mode="text")``) by the product's z-score fusion (``search.fused_zscores``).
"Late" passages are pooled from the whole abstract's own run (late chunking: no extra model runs).

Measured (2 cores; onnx-q8; 5,183 abstracts, 50,237 passages; the model reads 1,231,885 tokens of
the abstracts, their first 254 each, and 1,737,313 of their passages, all of the text):

    variant                                    dense nDCG@10  hybrid z0.4  hybrid z0.5
    best sentence alone                                0.686
    whole abstract (the product)                       0.645        0.731        0.732
    whole + best sentence                              0.702        0.738        0.744
    whole + best sentence or sentence pair             0.709        0.738        0.745
    whole + best late-chunked sentence                 0.678        0.732        0.739

Sentence vectors lift the dense leg by 0.04-0.06 but the hybrid by only 0.01: the full-text leg
already finds the sentence a claim paraphrases. They cost a second embedding pass over all of the
text (1.4x the tokens the whole vectors read) and ten vectors per abstract; late chunking costs no
extra run but adds less. With all-MiniLM-L6-v2 and this full-text leg, SciFact hybrid stays under
0.75 (issue 17's goal). Also tried, with the same harness in ad-hoc scripts: title-prefixed
sentences (dense 0.688, hybrid 0.745), a third leg of static WordLlama vectors (0.729-0.732), a
best-sentence BM25 leg (0.733-0.737 without passage vectors), a bigram phrase boost in the text
leg (text 0.687 -> 0.692), the leg weights scaled by each leg's top z-score (0.736, LoCoMo 0.663),
and the embeddings mean-centred or stripped of their top principal components (<= 0.732).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from _embed_cache import CachedEmbedder, default_cache_dir  # noqa: E402
from retrieval import SHARED, load_scifact, ndcg_at_10  # noqa: E402

from mahavishnu.config import MemorySettings  # noqa: E402
from mahavishnu.memory.core.embedders import get_embedder  # noqa: E402
from mahavishnu.memory.core.embedders.base import normalise  # noqa: E402
from mahavishnu.memory.core.search import fused_zscores  # noqa: E402
from mahavishnu.memory.core.store import MemoryStore  # noqa: E402

Matrix = npt.NDArray[np.float32]
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")
DEPTH = 100
WEIGHT = 0.7  # of the best passage, against the whole text's cosine


def passages(root: Path) -> tuple[list[str], list[int], list[tuple[str, list[tuple[int, int]]]]]:
    """Every abstract's passages (title, then each sentence), the abstract each belongs to, and per
    abstract the text as stored (``title + " " + text``) with its passages' character spans."""
    texts, owners, spans = [], [], []
    with (root / "corpus.jsonl").open(encoding="utf-8") as lines:
        for n, line in enumerate(lines):
            doc = json.loads(line)
            whole = f"{doc['title']} {doc['text']}"
            parts = [doc["title"], *(s for s in SENTENCE_END.split(doc["text"]) if s.strip())]
            found, at = [], 0
            for part in parts:
                if part.strip():
                    start = whole.index(part, at)
                    found.append((start, start + len(part)))
                    at = start + len(part)
                    texts.append(part)
                    owners.append(n)
            spans.append((whole, found))
    return texts, owners, spans


def best_by_owner(cosines: Matrix, owners: Sequence[int], n_docs: int) -> Matrix:
    """(queries, documents): each document's best passage cosine (-1 where it has none)."""
    owner = np.asarray(owners)
    order = np.argsort(owner, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(owner[order])) + 1]
    best = np.full((cosines.shape[0], n_docs), -1.0, dtype=np.float32)
    best[:, owner[order][starts]] = np.maximum.reduceat(cosines[:, order], starts, axis=1)
    return best


def late_passages(spans: list[tuple[str, list[tuple[int, int]]]]) -> tuple[Matrix, list[int]]:
    """Late chunking: each passage's vector is the mean of its tokens' states in the run over the
    whole abstract (254-token windows), so no passage is run on its own."""
    from mahavishnu.memory.core.embedders.local import LocalEmbedder, _load_tokenizer

    model = LocalEmbedder()
    run = model._load()._run  # type: ignore[attr-defined]
    window = model.max_tokens  # tokens per run, [CLS] and [SEP] aside
    tokenizer = _load_tokenizer()
    tokenizer.no_truncation()
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    vectors, owners = [], []
    for n, (whole, found) in enumerate(spans):
        encoding = tokenizer.encode(whole, add_special_tokens=False)
        ids = encoding.ids
        states = np.zeros((len(ids), model.dimension), dtype=np.float32)
        for start in range(0, len(ids), window):
            run_ids = [cls, *ids[start : start + window], sep]
            states[start : start + window] = run(np.array([run_ids], dtype=np.int64))[0, 1:-1]
        for low, high in found:
            inside = [i for i, (a, b) in enumerate(encoding.offsets) if a >= low and b <= high]
            if inside:
                vectors.append(states[inside].mean(axis=0))
                owners.append(n)
    return normalise(np.asarray(vectors, dtype=np.float32)), owners


def dense_ndcg(scores: Matrix, qids: list[str], doc_ids: list[str], qrels: dict[str, set[str]]) -> float:
    tops = np.argsort(-scores, axis=1)[:, :10]
    return float(
        np.mean([ndcg_at_10([doc_ids[i] for i in top], qrels[q]) for q, top in zip(qids, tops, strict=True)])
    )


def hybrid_ndcg(
    whole: Matrix,
    best: Matrix | None,
    text: dict[str, dict[int, float]],
    alpha: float,
    qids: list[str],
    doc_ids: list[str],
    qrels: dict[str, set[str]],
) -> float:
    """The product's z-score fusion; the vector leg rescored over both legs' candidates if ``best``."""
    total = 0.0
    for row, q in enumerate(qids):
        candidates = list(np.argsort(-whole[row])[:DEPTH])
        if best is not None:
            candidates = list(dict.fromkeys([*candidates, *text[q]]))
            mixed = (1 - WEIGHT) * whole[row, candidates] + WEIGHT * best[row, candidates]
            vector = {int(candidates[i]): float(mixed[i]) for i in np.argsort(-mixed)[:DEPTH]}
        else:
            vector = {int(i): float(whole[row, i]) for i in candidates}
        fused = fused_zscores([(alpha, vector), (1 - alpha, text[q])])
        ranking = sorted(fused, key=lambda i: (-fused[i], i))[:10]
        total += ndcg_at_10([doc_ids[i] for i in ranking], qrels[q])
    return total / len(qids)


def full_text_leg(
    settings: MemorySettings, embedder: CachedEmbedder, corpus: list[tuple[str, str]], queries: dict[str, str]
) -> dict[str, dict[int, float]]:
    """Per query, the product's full-text hits (abstract number -> BM25), ``DEPTH`` of them."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scifact.db"
        with MemoryStore.open(settings.model_copy(update={"path": path}), embedder=embedder) as store:
            store.store_many(
                [{"content": t, "type": "note", "metadata": {"n": n}} for n, (_, t) in enumerate(corpus)]
            )
            hits = {q: store.search(text, mode="text", limit=DEPTH) for q, text in queries.items()}
    return {q: {int(h.memory.metadata["n"]): h.score for h in found} for q, found in hits.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=default_cache_dir(), help="embeddings cache")
    args = parser.parse_args()

    root = SHARED / "scifact"
    corpus, queries, qrels = load_scifact(root)
    doc_ids = [d for d, _ in corpus]
    qids = list(queries)
    settings = MemorySettings()
    embedder = CachedEmbedder(get_embedder(settings), args.cache)
    whole_vectors = embedder.embed_many([t for _, t in corpus], kind="document")
    query_vectors = embedder.embed_many([queries[q] for q in qids], kind="query")
    texts, owners, spans = passages(root)
    following = zip(texts, owners, texts[1:], owners[1:], strict=False)
    pairs = [(f"{a} {b}", o) for a, o, b, p in following if o == p]  # two sentences of one abstract
    passage_vectors = embedder.embed_many(texts, kind="document")
    pair_vectors = embedder.embed_many([t for t, _ in pairs], kind="document")
    counted = embedder.count_tokens([t for _, t in corpus]), embedder.count_tokens(texts)
    read = [sum(min(n, embedder.max_tokens) for n in counts) for counts in counted]
    print(f"{embedder.identity}: {len(corpus)} abstracts, {len(texts)} passages; the model reads ", end="")
    print(f"{read[0]:,} tokens of the abstracts, {read[1]:,} of their passages")

    text = full_text_leg(settings, embedder, corpus, queries)
    whole = query_vectors @ whole_vectors.T
    sentence = best_by_owner(query_vectors @ passage_vectors.T, owners, len(corpus))
    pair = best_by_owner(query_vectors @ pair_vectors.T, [o for _, o in pairs], len(corpus))
    late_vectors, late_owners = late_passages(spans)
    late = best_by_owner(query_vectors @ late_vectors.T, late_owners, len(corpus))
    either = np.maximum(sentence, pair)
    rows: list[tuple[str, Matrix | None]] = [
        ("whole abstract (the product)", None),
        ("whole + best sentence", sentence),
        ("whole + best sentence or sentence pair", either),
        ("whole + best late-chunked sentence", late),
    ]
    print(f"\n{'variant':<42} {'dense nDCG@10':>13} {'hybrid z0.4':>12} {'hybrid z0.5':>12}")
    print(f"{'best sentence alone':<42} {dense_ndcg(sentence, qids, doc_ids, qrels):>13.3f}")
    for name, best in rows:
        dense = dense_ndcg(
            whole if best is None else (1 - WEIGHT) * whole + WEIGHT * best, qids, doc_ids, qrels
        )
        hybrid = [hybrid_ndcg(whole, best, text, a, qids, doc_ids, qrels) for a in (0.4, 0.5)]
        print(f"{name:<42} {dense:>13.3f} {hybrid[0]:>12.3f} {hybrid[1]:>12.3f}")


if __name__ == "__main__":
    main()
