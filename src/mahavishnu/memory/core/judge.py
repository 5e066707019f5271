"""The relevance judge: is this hit of a hybrid search an answer to the query?

One logistic model over what the search already has for each of its first candidates:

``cosine``      the hit's cosine with the query, in units of the embedder's relevance floor
                (``Embedder.relevance_floor``: 0.25 for the local model), so the same weights hold
                for another embedder whose floor was measured;
``margin``      that cosine minus the best cosine of the other candidates, or minus the floor when
                they are all under it (same unit): an answer stands out from the rest, a near-miss
                sits among many alike. Measured from the floor, a lone hit in a small store does
                not stand out by its distance to unrelated text: measured from 0, a store of one
                note accepted "what's the API's rate limit?" at 0.71 beside "We deploy the API
                with blue-green releases" (tests/memory/test_relevance.py);
``cosine_z``    the cosine's z-score among the candidates;
``text``        the hit's BM25 over the best BM25 of the candidates (0 when the text leg missed it);
``text_z``      the BM25's z-score among the candidates (0 when the text leg missed it);
``held``        the share of the query's words (stopwords aside, compared by their first five
                letters as the full-text index stems) the hit holds;
``pairs``       the share of the query's adjacent word pairs the hit holds adjacent;
``covered``     how well the hit covers the query's least covered word (``pieces.covered``): where the
                embedder gives each word piece's vector (the local model does), for the first
                ``COVERED`` candidates (0 for the rest). A near-miss asks for a detail its topic's
                note never mentions ("the TTL on the Redis keys" of a note on Redis rate limits):
                the cosine of the whole texts is high, the detail's words find nothing alike. On
                the development set's tuning half it tells a paraphrase's answer from a near-miss
                with AUC 0.70 where the cosine has 0.29, and the other styles' answers from
                near-misses with 0.99 (cosine 0.79; ``benchmarks/devmem.py --separability``). An
                embedder without word-piece vectors gets the model fitted without it
                (``judge_weights.PLAIN_*``).

``dropped`` (the prompt hook's model only, beside ``covered``) is not one of ``FEATURES``: the most a
hit's cosine with the query rises when one of the query's words is left out (``left_out``; each
variant and the first ``COVERED`` candidates with evidence embedded again: 22 ms median a prompt
with something close, against 13 for ``covered``), in floor
units, subtracted from the model's logit at the weight ``judge_weights.DROPPED``. A near-miss's
note lacks the asked detail, and leaving the detail's word out brings the question nearer to it;
every word of a question a note answers counts toward it. Fitted with the other features by
likelihood it took a weight of 0.07 (it tells an answer from its question's other candidates little);
what it tells is a near-miss's best candidate from an answer, which is the hook's decision, so
``fit_judge.py`` chooses its weight with the hook point for the most answers the hook injects on
the tuning half within its limits.

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
leaves none of its answerable questions with nothing; the prompt hook's search, ``HOOK_GATE_*``,
the highest that leaves at most 2 %). The probability alone could not
tell a question nothing stored answers from a paraphrase: it compares the candidates with each
other, and in a small scope the nearest of a few unrelated memories stands out as an answer
does ("what's our favourite pizza topping?" was shown stored decisions for 81 % of the unrelated
questions); the best cosine tells them apart better than the probability did.

The candidates a hit is weighed against are of its own kind (``MemoryStore._judged``): captured
conversation turns among turns, every other memory among the rest. Fitted on stores of notes and
decisions, the model read the hundreds of turns a project's sessions leave as the unrelated
background an answer stands out from: with 300 coding turns in each project the prompt hook added
something for 0.41 of the fresh set's unrelated questions instead of 0.05
(``benchmarks/devmem.py --fast --turns 300``).

Two operating points:

* **search** (``memory search``, MCP ``search_memory``, the dashboard): when one of its hits
  reaches ``SEARCH_POINT`` with its evidence (the scope holds something close), returns its best
  hits in the fused order, each marked ``relevant`` when it reaches ``HOOK_POINT`` (or holds every
  word of a keyword query, or the person a question asks for: ``MemoryStore._judged_among``); nothing when
  none is close (a scoped search then shows those of its scope's hits the search without the
  scope shows: ``MemoryStore.search``). A search reads no ``covered`` (its runs of the model cost
  ~20 ms at the daemon's p95, ``benchmarks/recall_latency.py``), and whether anything is close
  is the plain model's call even where ``covered`` is read (``judge``): fitted with it, the
  search point fell to 0.04 and LoCoMo's conversations went unanswered for 2 % of their questions
  (recall@10 0.672 -> 0.664).
  (Returning only the close hits cost the development set's hit@3 0.82 -> 0.69: an answer ranked
  second is often judged weak.)
* **the prompt hook** opens when a hit reaches ``HOOK_POINT`` (or the first two add up to
  ``recall.prompt_pair_point``: ``loop/recall.accepted``), judged with ``covered``
  (``MemoryStore.search(covered=True)``); else it adds nothing rather than noise. Its search says
  nothing unless a hit is close at a stricter bar (``HOOK_GATE_*``; ``search(quiet=True)``): the
  hook adds a captured conversation turn by its cosine alone once its search says anything. At
  the search's bar (``SEARCH_*``; until 2026-11-26 a search had the hook's bar too) "bazel remote
  cache" would bring the turns about "the cache layer" into a prompt (tests/memory/
  test_relevance.py); the development set's, LoCoMo's and the coding sessions' hook figures were
  the same at either bar.

In the model with ``covered`` the weights of the features more of which is never less evidence
(``cosine``, ``margin``, ``text``, ``held``, ``pairs``, ``covered``) are fitted at 0 or more
(``fit_judge.MONOTONE``): left free, ``held`` took -3.4 beside ``covered``'s +7.8, since the
development set's near-misses reuse the stored topic's words, and "Use PostgreSQL 16 for the team
store" no longer answered "which PostgreSQL version do we use for the team store?" when 17 and 18
were stored too (no margin). The plain model is fitted free, as before (``held`` -0.14).

``covered`` took the development set's prompt hook (``python benchmarks/devmem.py --fast``) from
0.48 / 0.54 of the answers injected (tuning / validation half) to 0.50 / 0.57, paraphrases 0.28 /
0.25 to 0.30 / 0.29, with anything injected for the near-misses 0.38 / 0.31 to 0.38 / 0.25 and
the unrelated questions 0.06 / 0.00 unchanged: a small gain (the other styles' answers were
already injected), at one run of the model for the query and each of the first ``COVERED``
candidates with evidence (~12 ms of CPU a search on the development set's notes, none when
nothing is close).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from mahavishnu.memory.core import judge_weights
from mahavishnu.memory.core.embedders.base import Embedder
from mahavishnu.memory.core.pieces import GivesPieces, covered
from mahavishnu.memory.core.search import STOPWORDS, held_stems, query_stems, stem, tokens

FEATURES = ("cosine", "margin", "cosine_z", "text", "text_z", "held", "pairs", "covered")
#: What the model fitted without ``covered`` reads (``judge_weights.PLAIN_*``).
PLAIN_FEATURES = FEATURES[:-1]
#: How many of the ranking's first candidates ``covered`` is computed for (the model runs once a
#: candidate, on at most ``pieces.CHARS`` of it).
COVERED = 3
#: How many of the fused ranking's first candidates ``benchmarks/fit_judge.py`` reads per query
#: (a search judges every candidate it ranked: ``limit * 2 + 10`` of them).
JUDGED = 20
#: A query of more words than this (stopwords aside) gets no ``dropped``: one word of many moves
#: its cosine too little to tell.
DROPPED_WORDS = 12


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the judge reads of one hit: its cosine (None: no vector), BM25 (None: not matched)
    and text."""

    cosine: float | None
    bm25: float | None
    text: str


@dataclass(frozen=True, slots=True)
class Model:
    """One fitted model (``judge_weights``): a weight per feature, the bias, the hook's point."""

    weights: tuple[float, ...]
    bias: float
    hook_point: float
    dropped: float = 0.0


def model(plain: bool) -> Model:
    """The fitted model, with ``covered`` or without (``plain``), read now (tests change them)."""
    w = judge_weights
    if plain:
        return Model(w.PLAIN_WEIGHTS, w.PLAIN_BIAS, w.PLAIN_HOOK_POINT)
    return Model(w.WEIGHTS, w.BIAS, w.HOOK_POINT, w.DROPPED)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The judge's probability that a hit answers the query, whether the hit has evidence of its
    own (see the module docstring), and its verdicts at both points: ``relevant`` (the hook's) and
    ``close`` (close enough for a search to answer: what a keyword search would find, every word of
    the query, always is; any other hit needs a cosine near the floor and the probability);
    ``hook_close``: close at the prompt hook's stricter bar (``judge_weights.HOOK_GATE_*``);
    ``keyword``: the query is a keyword or an identifier (at most ``KEYWORD_WORDS`` words but its
    stopwords) and the hit holds every word of it, as a keyword search finds it."""

    probability: float
    evidence: bool
    relevant: bool
    close: bool
    hook_close: bool
    keyword: bool = False


def features(
    query: str, candidates: Sequence[Candidate], floor: float, covered: Sequence[float] | None = None
) -> list[list[float]]:
    """Each candidate's features (``FEATURES``, in order; ``PLAIN_FEATURES`` without ``covered``,
    each candidate's ``covered`` value); ``floor`` is the embedder's."""
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
    held = [len(held_stems(wanted, c.text)) / len(wanted) if wanted else 0.0 for c in candidates]
    rows = []
    for n, c in enumerate(candidates):
        # from the floor when the rest are under it: the distance to unrelated text is no margin
        others = max([unit, *(x for i, x in enumerate(cosines) if i != n)])
        rows.append(
            [
                cosines[n] / unit,
                (cosines[n] - others) / unit,
                (cosines[n] - mean) / spread if spread > 1e-9 else 0.0,
                bm25s[n] / top_bm25 if top_bm25 > 0 else 0.0,
                (bm25s[n] - bm25_mean) / bm25_spread if bm25_spread > 1e-9 else 0.0,
                held[n],
                _pair_share(pairs, c.text),
                *([covered[n]] if covered is not None else []),
            ]
        )
    return rows


def read_closer(query: str, candidates: Sequence[Candidate], floor: float) -> list[int]:
    """The first ``COVERED`` candidates with evidence of their own (a cosine of the floor or more,
    or every word of the query): no other can be accepted, so only these are read closer."""
    wanted = query_stems(query)
    return [
        n
        for n, c in enumerate(candidates)
        if (c.cosine or 0.0) >= floor or (wanted and wanted <= held_stems(wanted, c.text))
    ][:COVERED]


def coverages(
    query: str,
    candidates: Sequence[Candidate],
    floor: float,
    pieces: GivesPieces,
    chosen: Sequence[int] | None = None,
) -> list[float] | None:
    """``covered`` of each candidate (``pieces.covered``): computed for those ``read_closer`` (or
    ``chosen``, when the caller has read them already), 0 for the rest, so a query nothing stored
    is close to costs no run of the model; None when the embedder behind ``pieces`` gives no
    word-piece vectors."""
    chosen = read_closer(query, candidates, floor) if chosen is None else chosen
    found = pieces.token_vectors([query, *(candidates[n].text for n in chosen)] if chosen else [])
    if found is None:
        return None
    if not chosen:
        return [0.0] * len(candidates)
    covered_of = dict(zip(chosen, (covered(found[0], t) for t in found[1:]), strict=True))
    return [covered_of.get(n, 0.0) for n in range(len(candidates))]


def left_out(query: str) -> list[str]:
    """The query once for each of its words but stopwords, that word left out (``dropped``); none
    for a query of more than ``DROPPED_WORDS`` such words."""
    words = query.split()
    content = [n for n, w in enumerate(words) if any(t not in STOPWORDS and len(t) > 1 for t in tokens(w))]
    if len(content) > DROPPED_WORDS:
        return []
    return [" ".join(w for m, w in enumerate(words) if m != n) for n in content]


def dropped(
    query: str,
    candidates: Sequence[Candidate],
    floor: float,
    embedder: Embedder,
    chosen: Sequence[int] | None = None,
) -> list[float]:
    """``dropped`` of each candidate: for those ``read_closer`` (or ``chosen``, as ``coverages``
    takes them), the most its cosine with the query rises when one of the query's words is left out
    (``left_out``; below 0 when every word adds to it), in units of the floor; 0 for the rest. The
    candidates' texts are embedded again here, as ``covered`` reads them, so every backend gives
    the same figure."""
    chosen = read_closer(query, candidates, floor) if chosen is None else chosen
    variants = left_out(query) if chosen else []
    if not variants:
        return [0.0] * len(candidates)
    asked = embedder.embed_many([query, *variants], kind="query")
    texts = embedder.embed_many([candidates[n].text for n in chosen], kind="document")
    cosines = asked @ texts.T  # (the query and each variant) x chosen: unit vectors
    rise = cosines[1:].max(axis=0) - cosines[0]
    unit = floor if floor > 0 else 0.25
    by_candidate = dict(zip(chosen, (float(r) / unit for r in rise), strict=True))
    return [by_candidate.get(n, 0.0) for n in range(len(candidates))]


def probability(row: Sequence[float], fitted: Model | None = None, dropped: float = 0.0) -> float:
    """The fitted model's probability for one candidate's features (with ``covered``: ``fitted``
    defaults to that model), less its ``dropped`` at the model's weight for it."""
    fitted = fitted or model(plain=False)
    z = fitted.bias - fitted.dropped * dropped + sum(w * x for w, x in zip(fitted.weights, row, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def judge(
    query: str,
    candidates: Sequence[Candidate],
    floor: float,
    covered: Sequence[float] | None = None,
    dropped: Sequence[float] | None = None,
) -> list[Verdict]:
    """The verdict on each candidate (in order); ``covered``: each one's (``coverages``), None for
    the model fitted without it. Whether a search answers at all (``close``) is the plain model's
    call, with or without ``covered``: the full model's probabilities separate answers from
    near-misses, not a scope that holds something close from one that holds nothing (fitted so,
    its search point fell to 0.04, and LoCoMo's conversations, whose answers it weighs low, went
    unanswered for 2 % of their questions)."""
    plain, full = model(plain=True), model(plain=False)
    rows = features(query, candidates, floor, covered)
    held = FEATURES.index("held")
    short = 0 < len(query_stems(query)) <= KEYWORD_WORDS
    verdicts = []
    for n, (c, row) in enumerate(zip(candidates, rows, strict=True)):
        whole = row[held] >= 1.0 - 1e-9
        cosine = c.cosine or 0.0
        rough = probability(row[: len(PLAIN_FEATURES)], plain)
        p = rough if covered is None else probability(row, full, dropped[n] if dropped else 0.0)
        evidence = whole or cosine >= floor
        close = whole or _near(cosine, rough, floor, judge_weights.SEARCH_COSINE, judge_weights.SEARCH_POINT)
        hook_close = whole or _near(
            cosine, rough, floor, judge_weights.HOOK_GATE_COSINE, judge_weights.HOOK_GATE_POINT
        )
        hook_point = plain.hook_point if covered is None else full.hook_point
        verdicts.append(
            Verdict(p, evidence, evidence and p >= hook_point, close, hook_close, short and whole)
        )
    return verdicts


#: A query of at most this many words (but its stopwords) is a keyword or an identifier
#: ("PostgreSQL", "kafka partitions", "PAY-412"): a search marks a hit holding every one of them
#: relevant, whatever the model says (its cosine with a whole note is low; the model was fitted on
#: questions).
KEYWORD_WORDS = 2


def _near(cosine: float, rough: float, floor: float, share: float, point: float) -> bool:
    """Whether a hit without every word of the query is close at a bar: a cosine of ``share`` times
    the floor and the plain model's probability ``point``."""
    return cosine >= share * floor and rough >= point


def _pair_share(pairs: set[tuple[str, str]], text: str) -> float:
    """The share of the query's word ``pairs`` that ``text`` holds adjacent: the text is read word
    by word only when it holds both words of one pair somewhere (most candidates do not)."""
    if not pairs:
        return 0.0
    lowered = text.lower()
    if not any(a in lowered and b in lowered for a, b in pairs):
        return 0.0
    return len(pairs & _stem_pairs(text)) / len(pairs)


def _stem_pairs(text: str) -> set[tuple[str, str]]:
    words = [stem(t) for t in tokens(text) if t not in STOPWORDS]
    return set(itertools.pairwise(words))
