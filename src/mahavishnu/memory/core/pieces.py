"""Word-piece matching: how the query's word pieces meet a text's, from the local model's contextual
vectors (``Embedder.token_vectors``), as BERTScore (Zhang et al., 2020) and ColBERT's MaxSim do.

Each content piece of the query (stopwords, punctuation, one-letter and special pieces aside) is
matched to the text's piece closest to it (cosine). Two readings of those best matches:

``matched``  their mean: how much of the query the text speaks to, piece by piece. The search
             reorders its first ``memory.rerank_depth`` hits by cosine + ``memory.rerank_weight``
             times it (``reranked``): a whole-text cosine blurs a note into its topic, a paraphrase
             that meets every piece of the question ("schema changes" / "migrations", "pre-prod" /
             "staging") climbs over a note that shares the topic but not the detail.
``covered``  their least: the detail the text never mentions ("the TTL on the Redis keys" of a note
             on Redis rate limits); the relevance judge's ``covered`` feature (``judge.py``).

One search runs the model once for its query and once for each text it reads (``Pieces``), at most
``CHARS`` of each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np

from mahavishnu.memory.core.embedders.base import TokenVectors
from mahavishnu.memory.core.search import STOPWORDS, Ranked

#: How much of each text is read (~60 word pieces): the model runs once a text, in time with it (~8
#: ms a run of ~90 pieces on one core). 500 before: the same figures on every benchmark (SciFact,
#: LoCoMo, the coding sessions, the development set, whose notes are all shorter), and a reranked
#: search of multi-sentence memories spent 32 ms in the model, now 23 (docs/benchmarks.md).
CHARS = 300
_SPECIAL = frozenset({"[CLS]", "[SEP]", "[PAD]", "[UNK]"})


class GivesPieces(Protocol):
    def token_vectors(self, texts: Sequence[str]) -> list[TokenVectors] | None: ...


class Pieces:
    """One search's word-piece vectors: each text run through the model once, at most ``CHARS``."""

    def __init__(self, embedder: GivesPieces) -> None:
        self.embedder = embedder
        self.seen: dict[str, TokenVectors] = {}

    def token_vectors(self, texts: Sequence[str]) -> list[TokenVectors] | None:
        """Each text's pieces (None: the embedder gives none)."""
        cut = [text[:CHARS] for text in texts]
        missing = [text for text in dict.fromkeys(cut) if text not in self.seen]
        found = self.embedder.token_vectors(missing)  # none missing: cheap, and says if it can
        if found is None:
            return None
        self.seen.update(zip(missing, found, strict=True))
        return [self.seen[text] for text in cut]


def best_matches(query: TokenVectors, text: TokenVectors) -> np.ndarray | None:
    """Each content piece of the query's best cosine with a piece of the text (None: the query has
    no content piece; zeros: the text has no piece)."""
    wanted = [n for n, piece in enumerate(query.pieces) if _content(piece)]
    if not wanted:
        return None
    found = [n for n, piece in enumerate(text.pieces) if piece not in _SPECIAL]
    if not found:
        return np.zeros(len(wanted), dtype=np.float32)
    best: np.ndarray = (query.vectors[wanted] @ text.vectors[found].T).max(axis=1)
    return best


def covered(query: TokenVectors, text: TokenVectors) -> float:
    """The least of the query's best matches (1 when the query has no content piece)."""
    best = best_matches(query, text)
    return 1.0 if best is None else float(best.min())


def matched(query: TokenVectors, text: TokenVectors) -> float:
    """The mean of the query's best matches (1 when the query has no content piece)."""
    best = best_matches(query, text)
    return 1.0 if best is None else float(best.mean())


def reranked(
    query: str,
    ranked: Sequence[Ranked],
    texts: Mapping[int, str],
    cosines: Mapping[int, float],
    pieces: Pieces,
    depth: int,
    weight: float,
) -> list[Ranked]:
    """``ranked`` with its first ``depth`` reordered by cosine + ``weight`` x ``matched`` (ties
    keep their order), each taking the fused score of the place it takes (as a hit the fusion keeps
    first does: the scores shown stay in order); as it was when the embedder gives no pieces."""
    first = list(ranked[:depth])
    if len(first) < 2 or weight <= 0:
        return list(ranked)
    found = pieces.token_vectors([query, *(texts[r.id] for r in first)])
    if found is None:
        return list(ranked)
    score = {
        r.id: (r.vector_score if r.vector_score is not None else cosines.get(r.id, 0.0))
        + weight * matched(found[0], t)
        for r, t in zip(first, found[1:], strict=True)
    }
    places = [r.score for r in first]  # the fused order: best first
    moved = sorted(first, key=lambda r: -score[r.id])
    return [replace(r, score=place) for r, place in zip(moved, places, strict=True)] + list(ranked[depth:])


def _content(piece: str) -> bool:
    word = piece.removeprefix("##")
    return piece not in _SPECIAL and len(word) > 1 and word.isalnum() and piece not in STOPWORDS
