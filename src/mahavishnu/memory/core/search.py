"""Search plumbing shared by every backend: query terms for full text, and hybrid fusion.

Hybrid search runs the vector and the BM25 search (each filtered inside its own scan), takes
``depth`` candidates from each and fuses them. Three fusions are offered:

``zscore`` (default, alpha 0.5)
    Every candidate of either leg is scored in both: a text candidate the vector leg did not
    return gets its cosine from its stored vector, a vector candidate gets its BM25 (0 when it
    shares no query term): on the embedded store its own (``text_scores``), on PostgreSQL from the
    text leg read ``TEXT_COMPLETION_DEPTH`` deep (0 beyond it). Each
    leg's scores are standardised over that union, ``(score - mean) / stdev``, then fused as
    ``alpha * z_vector + (1 - alpha) * z_text``. The weight follows each leg's confidence: a leg
    whose best answer stands far above the rest moves the ranking, a leg whose answers are all
    alike (a weak vector leg on long conversations, a text leg matching only common words) barely
    does. Fused scores are mapped onto [0, 1] (best 1, worst 0). Measured with
    ``benchmarks/retrieval.py`` (development data only): on LoCoMo equal-weight convex fusion sat
    at the level of its text leg while z-scores add ~0.04 recall@10. Scoring every candidate in
    both legs, instead of giving a leg's missing candidates its lowest value, adds 0.011 nDCG@10
    on SciFact (0.731 to 0.743) and 0.003 recall@10 on LoCoMo, with alpha 0.5 (alpha 0.4 was best
    without it).

    A third, lighter leg weighs word order (``proximity``, 0.12): the share of the query's
    adjacent word pairs (stopwords dropped, ``query_pairs``) that a candidate holds as adjacent
    words, from the full-text index (so stemmed as the text leg is). "Aspirin reduces colorectal
    cancer risk" then prefers the abstract that says "colorectal cancer" over one that has both
    words apart; a query of one word, or candidates that all hold the same share, leave the
    ranking as it was. It adds 0.008 nDCG@10 on SciFact (0.743 to 0.751) and 0.003 recall@10 on
    LoCoMo (0.670 to 0.673), and leaves code QA as it was (the classic term-proximity evidence of
    Metzler and Croft's sequential dependence model, as a coverage share rather than a BM25 of
    phrases, which added less). The pairs are looked up on a worker thread while the text leg runs.

    With ``words`` (``memory.hybrid_words``, 2) the text leg lifts a candidate (a BM25 above its
    mean) in full only when the candidate holds that many of the query's words, or all of them when
    it has fewer; one holding fewer gets ``1 - sparse * (1 - (held / words) ** 2)`` of its lift,
    ``sparse`` being the share of candidates the text leg did not match at all. Z-scores do not
    see how much a match rests on: where few candidates match at all (a project's few dozen
    notes), a note sharing one common word ("deploy", "data") with a paraphrase stands out as much
    as an exact match and buried the vector leg's first; where most match (long questions, large
    stores) a match's standing already says more, and one rare word of a claim is evidence on its
    own. Measured (``benchmarks/devmem.py --fast --evidence-sweep``, ``retrieval.py --words-sweep
    0.34:2``): development set tuning half hit@1 0.56 -> 0.61 (paraphrases 0.35 -> 0.42), hit@3
    without ``--project`` 0.71 -> 0.72; LoCoMo recall@10 0.672 and SciFact nDCG@10 0.751 unchanged.
    Without ``sparse`` (a quarter of the lift at one word of two) SciFact lost 0.006; weighing the
    lift by the share of the query's words held cost LoCoMo 0.01-0.03.

    With ``keep`` (``memory.hybrid_keep``, 1) a leg's first candidate stays within the fused first
    ``keep`` when the leg has evidence for it, whatever the z-scores say: the vector leg's when the
    text leg's evidence is under ``evidence`` (none of its first hits holds more than a third of the
    query's words: the query is the vector leg's), and with ``keep_text``
    (``memory.hybrid_keep_text``) the text leg's when it holds every word of the query and no
    candidate in those places does (a keyword or an identifier the embedder may put far off). One
    moved up takes the score of the place it takes; those it passes move down a place. Damping the
    text leg's lift (``words``) was not enough in a small scope: "what did we pick as our data
    store?" still put the Redis note holding "data" above the vector leg's first, the PostgreSQL
    decision. Measured (``benchmarks/devmem.py --fusion-sweep``, ``retrieval.py --fusion-sweep``):
    development set tuning half, fused ranking with ``--project``, hit@1 0.607 -> 0.632 (paraphrases
    0.418 -> 0.468), hit@3 0.829 as before; LoCoMo recall@10 0.672 as before; SciFact nDCG@10 0.751
    -> 0.752 (``keep_text`` alone: +0.001 on SciFact, nothing on the others). Not kept: the vector
    leg's first within the first 2 or 3 whatever the evidence (tuning hit@3 0.821; SciFact 0.747 /
    0.750), first whatever the evidence (SciFact 0.703) or under evidence 0.5 (SciFact 0.745), its
    first two within the first 3 (tuning hit@3 0.812, LoCoMo +0.005, SciFact 0.747), and only when
    its cosine stands 0.02 / 0.05 above its second (tuning hit@1 0.615); besides the first place,
    the first 3 under evidence 0.5, or its first two there under 0.34, traded one tuning question
    with ``--project`` for one without.
``convex``
    ``alpha * cos / max_cos + (1 - alpha) * bm25 / max_bm25`` over the union of candidates: each
    leg scaled to [0, 1] by its theoretical floor (0: a negative cosine counts as no similarity,
    BM25 is never negative) and the best score seen for this query; a candidate missing from a leg
    scores 0 there (Bruch et al. 2023, "An Analysis of Fusion Functions for Hybrid Retrieval").
    Dividing by the best score erases how confident a leg is: its best answer always counts 1.
``rrf``
    Reciprocal rank fusion, ``sum w / (k + rank)``, scaled to [0, 1] by its maximum. Rank-only, so
    it ignores how far apart the scores are.

Hybrid scores are in [0, 1] in every case, so ``min_score`` means the same thing for all three.
Convex and RRF also run as one SQL statement on PostgreSQL (``backends/postgres.py``); z-scores
are fused here, over both legs' results, on every backend.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Literal, TypeVar

from mahavishnu.errors import InvalidInputError

K = TypeVar("K", bound=Hashable)
FusionMethod = Literal["zscore", "convex", "rrf"]
FUSION_METHODS: tuple[FusionMethod, ...] = ("zscore", "convex", "rrf")

#: How deep z-score fusion reads the text leg for the BM25 of the vector leg's candidates where a
#: backend cannot score just those (``Search.text_scores``): PostgreSQL's BM25 scores every match
#: whatever the limit. (FTS5 keeps the best k as it goes: 1,000 cost a third more than 100.)
TEXT_COMPLETION_DEPTH = 1000

_TOKEN = re.compile(r"\w+", re.UNICODE)
_MAX_TERMS = 64
_MAX_PAIRS = 32
# Lucene's English stop set, and the question words, pronouns and auxiliaries a question to an
# assistant's memory is made of: dropped from queries (never from the index). They match most
# documents, so OR-ing them in costs time and, on short texts, lets length normalisation rank a
# turn for its "I" and "you" (LoCoMo evidence recall@10 of the text leg: 0.589 with Lucene's set,
# 0.637 with these; benchmarks/retrieval.py).
_QUESTION_WORDS = (
    *("how", "what", "when", "where", "why", "who", "whom", "which", "whose"),
    *("do", "does", "did", "doing", "done", "can", "could", "would", "should", "may", "might"),
    *("has", "have", "had", "having", "been", "being", "were", "am", "its", "from", "about", "than", "so"),
    *("i", "me", "my", "we", "us", "our", "you", "your", "he", "his", "she", "her", "them"),
)
# What a word split at its apostrophe leaves ("ledger's", "didn't", "we're", "I'd"): a possessive's
# "s" and the pieces of negations and contractions (as Lucene's English possessive filter drops "'s"
# and NLTK's stop list holds the rest). Counted as words, "what engine backs the ledger's data?" asked
# for an "s" that every note with a possessive holds.
_SPLIT_WORDS = (
    *("s", "t", "d", "ll", "m", "re", "ve"),
    *("didn", "doesn", "isn", "aren", "wasn", "weren", "hasn", "haven", "hadn"),
    *("couldn", "shouldn", "wouldn", "mustn", "needn", "shan"),
)
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
        *_QUESTION_WORDS,
        *_SPLIT_WORDS,
    ]
)


def tokens(text: str) -> list[str]:
    """Every lower-cased word token, in order, with repeats."""
    return [t.lower() for t in _TOKEN.findall(text)]


def query_terms(text: str) -> list[str]:
    """Distinct word tokens of a query, stopwords dropped (all kept if all are stopwords)."""
    distinct = list(dict.fromkeys(tokens(text)))
    kept = [t for t in distinct if t not in STOPWORDS] or distinct
    return kept[:_MAX_TERMS]


_STEM_WORD = re.compile(r"[^\W_]+")
#: How many of the text leg's first hits ``text_evidence`` reads.
EVIDENCE_DEPTH = 10


_STEM_LETTERS = 5


def stem(word: str) -> str:
    """A word's first five letters: the full-text index stems ("stored" finds "store", "timestamps"
    "timestamp"), and a coarser match only makes a word count as held, never as unseen."""
    return word[:_STEM_LETTERS]


def stems(text: str) -> set[str]:
    """The words of ``text`` (letters and digits, as the full-text index splits them, any case) as
    ``stem`` compares them (the text lower-cased first, as a query's words are: "İ" lower-cases
    to two letters)."""
    return {stem(w) for w in _STEM_WORD.findall(text.lower())}


def query_stems(query: str) -> set[str]:
    """The query's words but its stopwords, as ``stem`` compares them."""
    return {s for term in query_terms(query) for s in stems(term)}


def held_stems(wanted: set[str], text: str) -> set[str]:
    """``wanted & stems(text)``: which of ``wanted`` (``stem``s) the words of ``text`` hold, found
    by one scan of the text in C instead of stemming each of its words (a hybrid search asks it of
    a hundred candidates: 3 of its 17 ms at 100k memories)."""
    if not wanted:
        return set()
    low = text.lower()
    return {
        m.group()
        for m in _held_pattern(frozenset(wanted)).finditer(low)
        if not (start := m.start()) or not _WORD_CHAR.match(low, start - 1)
    }


_WORD_CHAR = re.compile(r"[^\W_]")


@functools.lru_cache(maxsize=64)
def _held_pattern(wanted: frozenset[str]) -> re.Pattern[str]:
    """One of ``wanted`` where it could be a word's ``stem``: a stem shorter than ``stem`` keeps
    ends its word, a full one starts any word. Whether it starts a word is checked per match
    (``held_stems``): a pattern that opens with a look-behind is tried at every position of the
    text, one that opens with the stems' letters is skipped to their first letters in C (twice as
    fast). A match inside a word consumes only word letters, so it never hides a word's start."""
    longest_first = sorted(wanted, key=lambda s: (-len(s), s))
    return re.compile(
        "|".join(re.escape(s) + ("" if len(s) >= _STEM_LETTERS else r"(?![^\W_])") for s in longest_first)
    )


def text_evidence(query: str, texts: Iterable[str]) -> float:
    """How much the text leg has to go on for this query: the largest share of the query's words
    (``query_stems``) that one of its first hits holds. A paraphrase the text leg matches by one
    common word scores low; a keyword or identifier query its hit holds whole scores 1."""
    wanted = query_stems(query)
    if not wanted:
        return 0.0
    return max((len(held_stems(wanted, t)) / len(wanted) for t in texts), default=0.0)


def held_counts(query: str, texts: Mapping[int, str]) -> tuple[dict[int, int], int]:
    """How many of the query's words (``query_stems``) each text holds, and how many it has."""
    wanted = query_stems(query)
    return {i: len(held_stems(wanted, t)) for i, t in texts.items()}, len(wanted)


def query_pairs(text: str) -> list[tuple[str, str]]:
    """Distinct adjacent pairs of the query's words once its stopwords are dropped, in order:
    "effect of aspirin on cancer risk" gives (effect, aspirin), (aspirin, cancer), (cancer, risk)."""
    words = [t for t in tokens(text) if t not in STOPWORDS]
    return list(dict.fromkeys(itertools.pairwise(words)))[:_MAX_PAIRS]


def pair_shares(
    pairs: Sequence[tuple[str, str]], holders: Sequence[Set[int]], candidates: Iterable[int]
) -> dict[int, float]:
    """The share of ``pairs`` each candidate holds, from the memories holding each pair (in order);
    a candidate holding none is left out."""
    counts = {i: sum(i in held for held in holders) for i in candidates}
    return {i: n / len(pairs) for i, n in counts.items() if n}


@dataclass(frozen=True, slots=True)
class Ranked:
    """A backend's answer: a memory id with its score and the per-leg scores it came from."""

    id: int
    score: float
    vector_score: float | None = None
    text_score: float | None = None

    @property
    def modes(self) -> tuple[str, ...]:
        found = (("vector", self.vector_score), ("text", self.text_score))
        return tuple(name for name, score in found if score is not None)


@dataclass(frozen=True, slots=True)
class Fusion:
    """How hybrid search fuses its two legs. ``alpha`` is the vector leg's weight; ``proximity``
    the weight of z-score fusion's word-pair leg (0: none); ``evidence`` the ``text_evidence`` under
    which z-score fusion's word legs weigh less: ``min(1, text_evidence / evidence) ** 2`` of their
    weight (0: always all of it); ``words`` how many of the query's words (or all it has, if fewer)
    a candidate must hold for z-score fusion's text leg to lift it in full: one holding fewer gets
    ``(held / words) ** 2`` of its lift (0: every candidate all of it); ``keep`` the fused first
    places within which z-score fusion keeps the vector leg's first when the text leg's evidence is
    under ``evidence``, and with ``keep_text`` the text leg's first when it holds every query word
    (``held``) (0: neither); ``keep_vector`` the fused first places within which z-score fusion
    always keeps the vector leg's first, whatever the text leg's evidence (0: not at all)."""

    method: FusionMethod = "convex"
    alpha: float = 0.5
    rrf_k: int = 60
    depth: int = 100
    proximity: float = 0.0
    evidence: float = 0.0
    words: int = 0
    keep: int = 0
    keep_text: bool = False
    keep_vector: int = 0

    def __post_init__(self) -> None:
        if self.method not in FUSION_METHODS:
            raise InvalidInputError(
                f"unknown fusion method {self.method!r}", hint=f"Use one of: {', '.join(FUSION_METHODS)}."
            )
        weights = (self.alpha, self.proximity, self.evidence)
        bad = self.rrf_k < 1 or self.depth < 1 or not 0 <= self.words <= 8
        bad = bad or not 0 <= self.keep <= 10 or not 0 <= self.keep_vector <= 10
        if not all(0.0 <= w <= 1.0 for w in weights) or bad:
            raise InvalidInputError(
                "fusion needs 0 <= alpha, proximity, evidence <= 1, 0 <= words <= 8, 0 <= keep, keep_vector"
                " <= 10, rrf_k >= 1 and depth >= 1"
            )

    @property
    def reads_held(self) -> bool:
        """Whether ``fuse`` takes how many of the query's words each text candidate holds."""
        return self.method == "zscore" and (self.words > 0 or (self.keep > 0 and self.keep_text))

    @property
    def reads_pairs(self) -> bool:
        """Whether ``fuse`` takes a word-pair leg (``pairs``)."""
        return self.method == "zscore" and self.proximity > 0

    def fuse(
        self,
        vector: Sequence[Ranked],
        text: Sequence[Ranked],
        limit: int,
        cosines: Mapping[int, float] | None = None,
        pairs: Mapping[int, float] | None = None,
        evidence: float = 1.0,
        held: tuple[Mapping[int, int], int] | None = None,
    ) -> list[Ranked]:
        """Fused, best first, at most ``limit``; ties broken by id for a stable order. Each leg's
        candidates are its first ``max(depth, limit)``; z-score fusion also reads ``text`` past
        them, for the BM25 of vector candidates, takes ``cosines`` for the text-only ones and,
        with ``proximity``, ``pairs``: each candidate's share of the query's word pairs (None: the
        query has none); ``evidence`` (``text_evidence``) scales the word legs' weights; with
        ``words``, ``held`` (``held_counts``): how many of the query's words each text candidate
        holds (all where missing), and how many it has."""
        depth = max(self.depth, limit)
        vector, deep_text, text = vector[:depth], text, text[:depth]
        if self.method == "zscore":
            scores = self._zscore(vector, text, deep_text, cosines or {}, pairs, evidence, held)
        else:
            scores = self._convex(vector, text) if self.method == "convex" else self._rrf(vector, text)
        vec = {r.id: r.vector_score for r in vector}
        txt = {r.id: r.text_score for r in text}
        order = sorted(scores, key=lambda i: (-scores[i], i))
        if self.method == "zscore" and self.keep > 0:
            order = kept_within(order, self._kept(order, vector, text, evidence, held), self.keep)
        if self.method == "zscore" and self.keep_vector > 0 and vector:  # never buried by words alone
            order = kept_within(order, [vector[0].id], self.keep_vector)
        placed = sorted(scores.values(), reverse=True)  # a kept candidate takes its place's score
        return [Ranked(i, placed[n], vec.get(i), txt.get(i)) for n, i in enumerate(order[:limit])]

    def _kept(
        self,
        order: Sequence[int],
        vector: Sequence[Ranked],
        text: Sequence[Ranked],
        evidence: float,
        held: tuple[Mapping[int, int], int] | None,
    ) -> list[int]:
        """The candidates each leg has evidence for (see ``keep``): the text leg's first only when
        no candidate in the first ``keep`` places holds every query word already."""
        kept = []
        if vector and evidence < self.evidence:  # the query is the vector leg's
            kept.append(vector[0].id)
        if self.keep_text and text and held is not None and held[1] > 0:
            whole = {i for i, n in held[0].items() if n >= held[1]}
            if text[0].id in whole and whole.isdisjoint(order[: self.keep]):
                kept.append(text[0].id)
        return list(dict.fromkeys(kept))

    def text_only(self, vector: Sequence[Ranked], text: Sequence[Ranked], limit: int) -> list[int]:
        """The text leg's candidates the vector leg did not return: what ``fuse`` needs cosines of."""
        found = {r.id for r in vector}
        return [r.id for r in text[: max(self.depth, limit)] if r.id not in found]

    def lifted(self, vector: Sequence[Ranked], text: Sequence[Ranked], limit: int) -> list[int]:
        """The candidates z-score fusion's text leg lifts (a BM25 above its mean over every
        candidate): those ``words`` weighs, so those ``fuse`` needs ``held`` counts of."""
        bm25 = _bm25_leg(self.candidates(vector, text, limit), text)
        mean = sum(bm25.values()) / len(bm25) if bm25 else 0.0
        return [i for i, s in bm25.items() if s > mean]

    def candidates(self, vector: Sequence[Ranked], text: Sequence[Ranked], limit: int) -> list[int]:
        """Every candidate of either leg: what ``fuse`` needs the word-pair shares of."""
        depth = max(self.depth, limit)
        return list(dict.fromkeys([*(r.id for r in vector[:depth]), *(r.id for r in text[:depth])]))

    def _zscore(
        self,
        vector: Sequence[Ranked],
        text: Sequence[Ranked],
        deep_text: Sequence[Ranked],
        cosines: Mapping[int, float],
        pairs: Mapping[int, float] | None,
        evidence: float,
        held: tuple[Mapping[int, int], int] | None,
    ) -> dict[int, float]:
        union = list(dict.fromkeys([*(r.id for r in vector), *(r.id for r in text)]))
        words = min(1.0, max(0.0, evidence) / self.evidence) ** 2 if self.evidence > 0 else 1.0
        legs = [
            (self.alpha, _cosine_leg(union, vector, cosines)),
            ((1 - self.alpha) * words, _bm25_leg(union, deep_text)),
        ]
        if pairs is not None and self.proximity > 0:
            legs.append((self.proximity * words, {i: pairs.get(i, 0.0) for i in union}))
        damped = None
        if held is not None and self.words > 0:  # a text match resting on fewer words lifts less
            counts, total = held
            needed = min(self.words, total)
            bm25 = legs[1][1]
            sparse = 1.0 - sum(s > 0 for s in bm25.values()) / len(bm25) if bm25 else 0.0
            if needed > 0:
                damped = {1: {i: 1.0 - sparse * (1.0 - min(1.0, n / needed) ** 2) for i, n in counts.items()}}
        return _rescaled(weighted_zscores(legs, damped))

    def _convex(self, vector: Sequence[Ranked], text: Sequence[Ranked]) -> dict[int, float]:
        top_cos = max((r.score for r in vector), default=1.0)
        top_bm25 = max((r.score for r in text), default=1.0)
        scores: dict[int, float] = {}
        for r in vector:
            scores[r.id] = self.alpha * _scaled(r.score, 0.0, top_cos)
        for r in text:
            scores[r.id] = scores.get(r.id, 0.0) + (1 - self.alpha) * _scaled(r.score, 0.0, top_bm25)
        return scores

    def _rrf(self, vector: Sequence[Ranked], text: Sequence[Ranked]) -> dict[int, float]:
        best = (self.alpha + (1 - self.alpha)) / (self.rrf_k + 1)
        scores: dict[int, float] = {}
        for weight, ranked in ((self.alpha, vector), (1 - self.alpha, text)):
            for rank, r in enumerate(ranked, start=1):
                scores[r.id] = scores.get(r.id, 0.0) + weight / (self.rrf_k + rank) / best
        return scores


def kept_within(order: Sequence[K], kept: Sequence[K], n: int) -> list[K]:
    """``order`` with every ``kept`` key within its first ``n`` (the first ``n`` of them in
    ``order`` when more): a key pushed lower moves up to the last place that still leaves room for
    the others kept; everything else keeps its order."""
    wanted = set(kept)
    pending = [k for k in order if k in wanted][:n]
    rest = list(order)
    head: list[K] = []
    while len(head) < n and rest:
        key = pending[0] if pending and len(pending) >= n - len(head) else rest[0]
        head.append(key)
        rest.remove(key)
        if key in pending:
            pending.remove(key)
    return head + rest


def _cosine_leg(union: list[int], vector: Sequence[Ranked], cosines: Mapping[int, float]) -> dict[int, float]:
    """The cosine of each candidate that has one (the vector leg's, else those looked up). A text
    candidate without a stored vector (none in a consistent store) takes the vector leg's lowest
    value, as fused_zscores does for any key a leg lacks."""
    cosine = {**cosines, **{r.id: r.score for r in vector}}
    return {i: cosine[i] for i in union if i in cosine}


def _bm25_leg(union: list[int], deep_text: Sequence[Ranked]) -> dict[int, float]:
    """The BM25 score of each candidate (0 for one the text leg did not find)."""
    bm25 = {r.id: r.score for r in deep_text}
    return {i: bm25.get(i, 0.0) for i in union}


def standardised(scores: Sequence[float]) -> tuple[list[float], float]:
    """Each score's distance from the leg's mean in standard deviations, and the value for a
    candidate the leg did not return (its lowest: it ranked below all of them). A leg whose
    scores are all equal (or one) scores its candidates 1, the others 0; an empty leg adds 0."""
    if not scores:
        return [], 0.0
    mean = sum(scores) / len(scores)
    spread = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    if spread <= 1e-12:
        return [1.0] * len(scores), 0.0
    standard = [(s - mean) / spread for s in scores]
    return standard, min(standard)


def fused_zscores(legs: Sequence[tuple[float, Mapping[K, float]]]) -> dict[K, float]:
    """The z-score fusion of weighted legs (see the module docstring), over every key any leg has,
    mapped onto [0, 1]: a key a leg lacks takes that leg's lowest standardised score."""
    return _rescaled(weighted_zscores(legs))


def weighted_zscores(
    legs: Sequence[tuple[float, Mapping[K, float]]], damped: Mapping[int, Mapping[K, float]] | None = None
) -> dict[K, float]:
    """``fused_zscores`` before it is mapped onto [0, 1]: the weighted sum of each key's
    standardised scores. ``damped`` maps a leg's index to a factor per key that scales the key's
    standardised score in that leg where it is above the mean (its lift; 1 where missing)."""
    keys = list(dict.fromkeys(key for _, scores in legs for key in scores))
    fused = dict.fromkeys(keys, 0.0)
    for n, (weight, scores) in enumerate(legs):
        standard, missing = standardised(list(scores.values()))
        found = dict(zip(scores, standard, strict=True))
        factor = (damped or {}).get(n, {})
        for key in keys:
            z = found.get(key, missing)
            fused[key] += weight * (z * factor.get(key, 1.0) if z > 0 else z)
    return fused


def _rescaled(scores: dict[K, float]) -> dict[K, float]:
    """Scores mapped linearly onto [0, 1]: the best 1, the worst 0 (all 1 when they are equal)."""
    if not scores:
        return scores
    low, high = min(scores.values()), max(scores.values())
    if high - low <= 1e-12:
        return dict.fromkeys(scores, 1.0)
    return {i: (s - low) / (high - low) for i, s in scores.items()}


def _scaled(value: float, low: float, high: float) -> float:
    if high <= low:
        return 1.0 if value > low else 0.0
    return min(1.0, max(0.0, (value - low) / (high - low)))
