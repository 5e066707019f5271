"""The relevance judge: is this hit of a hybrid search an answer to the query?

One logistic model over what the search already has for each of its first candidates:

``cosine``      the hit's cosine with the query, in units of the embedder's relevance floor
                (``Embedder.relevance_floor``: 0.25 for the local model), so the same weights hold
                for another embedder whose floor was measured;
``margin``      that cosine minus the best cosine of the other candidates (same unit): an answer
                stands out from the rest, a near-miss sits among many alike;
``cosine_z``    the cosine's z-score among the candidates;
``text``        the hit's BM25 over the best BM25 of the candidates (0 when the text leg missed it);
``text_z``      the BM25's z-score among the candidates (0 when the text leg missed it);
``held``        the share of the query's words (stopwords aside, compared by their first five
                letters as the full-text index stems) the hit holds;
``pairs``       the share of the query's adjacent word pairs the hit holds adjacent.

Left out after trying them: ``all_held`` (it holds every word) and ``evidence`` (the best ``held``
of any candidate) took weights (+7.8, -0.8) that, with ``held`` at -2.7, judged "holds most of the
query's words but not all" a near-miss: true of the development set's near-misses, which reuse the
stored words, and false of "where is the retry backoff jitter configured" for "jitter on retry
backoff avoids thundering herds" (tests/memory/test_recall.py). The development set's figures
were the same without them.

The weights are fitted on the tuning half of the development set (``benchmarks/data/devmem.json``)
by ``python benchmarks/fit_judge.py``, which writes them to ``judge_weights.py`` beside this file
with the figures they were chosen by. The memory type and age are not features: the development
set stores notes and decisions of one age, so no weight for them could be fitted honestly (fitted
together with LoCoMo's conversation turns, a type weight came out at 0.01 and the model lost the
notes' paraphrases: a judge of turns needs data of its own).

The judge accepts a hit only when it has evidence of its own: a cosine of at least the embedder's
floor (the cosine under which a text is unrelated to the query), or every word of the query (what
a keyword search finds, however far the embedder puts it: "retries" and a block of code holding
``retries`` have a cosine of 0.03). Without it the margin and z-score features, which compare the
candidates with each other, would accept the nearest of a few unrelated memories in a small store.
For a search to answer at all, a hit needs evidence too, at a lower bar: every word of the query,
or a cosine of ``SEARCH_COSINE`` times the floor (chosen on the tuning half: the highest share that
leaves at most 3 % of its answerable questions with nothing). The probability alone could not
tell a question nothing stored answers from a paraphrase: it compares the candidates with each
other, and in a small scope the nearest of a few unrelated memories stands out as an answer
does ("what's our favourite pizza topping?" was shown stored decisions for 81 % of the unrelated
questions); the best cosine tells them apart better than the probability did.

Two operating points, read off the same probability:

* **search** (``memory search``, MCP ``search_memory``, the dashboard): when one of its hits
  reaches ``SEARCH_POINT`` with its evidence (the scope holds something close), returns its best
  hits in the fused order, each marked ``relevant`` when it reaches ``HOOK_POINT``; nothing when
  none is close.
  (Returning only the close hits cost the development set's hit@3 0.82 -> 0.69: an answer ranked
  second is often judged weak.)
* **the prompt hook** injects only hits that reach ``HOOK_POINT``: nothing rather than noise.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from mahavishnu.memory.core import judge_weights
from mahavishnu.memory.core.search import STOPWORDS, query_stems, stem, stems, tokens

FEATURES = ("cosine", "margin", "cosine_z", "text", "text_z", "held", "pairs")
#: How many of the fused ranking's first candidates ``benchmarks/fit_judge.py`` reads per query
#: (a search judges every candidate it ranked: ``limit * 2 + 10`` of them).
JUDGED = 20


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the judge reads of one hit: its cosine (None: no vector), BM25 (None: not matched)
    and text."""

    cosine: float | None
    bm25: float | None
    text: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """The judge's probability that a hit answers the query, whether the hit has evidence of its
    own (see the module docstring), and its verdicts at both points."""

    probability: float
    evidence: bool = True
    holds_query: bool = False
    near: bool = True  # a cosine of at least SEARCH_COSINE times the floor

    @property
    def relevant(self) -> bool:
        return self.evidence and self.probability >= judge_weights.HOOK_POINT

    @property
    def close(self) -> bool:
        """Close enough for a search to answer: what a keyword search would find (every word of
        the query) always is; any other hit needs a cosine near the floor and the probability."""
        return self.holds_query or (self.near and self.probability >= judge_weights.SEARCH_POINT)


def features(query: str, candidates: Sequence[Candidate], floor: float) -> list[list[float]]:
    """Each candidate's features (``FEATURES``, in order); ``floor`` is the embedder's."""
    unit = floor if floor > 0 else 0.25
    cosines = [c.cosine if c.cosine is not None else 0.0 for c in candidates]
    mean = sum(cosines) / len(cosines) if cosines else 0.0
    spread = math.sqrt(sum((x - mean) ** 2 for x in cosines) / len(cosines)) if cosines else 0.0
    bm25s = [c.bm25 or 0.0 for c in candidates]
    top_bm25 = max(bm25s, default=0.0)
    bm25_mean = sum(bm25s) / len(bm25s) if bm25s else 0.0
    bm25_spread = math.sqrt(sum((x - bm25_mean) ** 2 for x in bm25s) / len(bm25s)) if bm25s else 0.0
    wanted = query_stems(query)
    pairs = _stem_pairs(query)
    held = [len(wanted & stems(c.text)) / len(wanted) if wanted else 0.0 for c in candidates]
    rows = []
    for n, c in enumerate(candidates):
        others = max((x for i, x in enumerate(cosines) if i != n), default=0.0)
        rows.append(
            [
                cosines[n] / unit,
                (cosines[n] - others) / unit,
                (cosines[n] - mean) / spread if spread > 1e-9 else 0.0,
                bm25s[n] / top_bm25 if top_bm25 > 0 else 0.0,
                (bm25s[n] - bm25_mean) / bm25_spread if bm25_spread > 1e-9 else 0.0,
                held[n],
                len(pairs & _stem_pairs(c.text)) / len(pairs) if pairs else 0.0,
            ]
        )
    return rows


def probability(row: Sequence[float]) -> float:
    """The fitted model's probability for one candidate's features."""
    z = judge_weights.BIAS + sum(w * x for w, x in zip(judge_weights.WEIGHTS, row, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def judge(query: str, candidates: Sequence[Candidate], floor: float) -> list[Verdict]:
    """The verdict on each candidate (in order)."""
    rows = features(query, candidates, floor)
    held = FEATURES.index("held")
    verdicts = []
    for c, row in zip(candidates, rows, strict=True):
        whole = row[held] >= 1.0 - 1e-9
        cosine = c.cosine or 0.0
        near = cosine >= judge_weights.SEARCH_COSINE * floor
        verdicts.append(Verdict(probability(row), whole or cosine >= floor, whole, near))
    return verdicts


def _stem_pairs(text: str) -> set[tuple[str, str]]:
    words = [stem(t) for t in tokens(text) if t not in STOPWORDS]
    return set(itertools.pairwise(words))
