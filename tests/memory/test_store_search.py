"""Hybrid fusion and query terms, on hand-made rankings."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mahavishnu.errors import InvalidInputError
from mahavishnu.memory.core.backends.base import stored_cosines
from mahavishnu.memory.core.search import (
    Fusion,
    Ranked,
    held_counts,
    kept_within,
    pair_shares,
    query_pairs,
    query_terms,
    text_evidence,
)

VECTOR = [
    Ranked(1, 0.9, vector_score=0.9),
    Ranked(2, 0.6, vector_score=0.6),
    Ranked(3, -0.2, vector_score=-0.2),
]
TEXT = [Ranked(2, 12.0, text_score=12.0), Ranked(4, 6.0, text_score=6.0)]


def ids(ranked: list[Ranked]) -> list[int]:
    return [r.id for r in ranked]


def test_convex_fusion_scales_each_leg_by_its_best_score() -> None:
    fused = Fusion("convex", alpha=0.5).fuse(VECTOR, TEXT, 10)

    assert ids(fused) == [2, 1, 4, 3]
    assert fused[0].score == pytest.approx(0.5 * 0.6 / 0.9 + 0.5 * 1.0)
    assert (
        fused[0].modes == ("vector", "text") and fused[1].modes == ("vector",) and fused[2].modes == ("text",)
    )
    assert fused[3].score == 0.0  # a negative cosine counts as no similarity
    assert all(0.0 <= r.score <= 1.0 for r in fused)


@pytest.mark.parametrize(("alpha", "expected"), [(1.0, [1, 2, 3, 4]), (0.0, [2, 4, 1, 3])])
def test_the_weight_moves_between_the_legs(alpha: float, expected: list[int]) -> None:
    assert ids(Fusion("convex", alpha=alpha).fuse(VECTOR, TEXT, 10)) == expected


def test_rrf_uses_ranks_only_and_scales_to_one() -> None:
    fused = Fusion("rrf", rrf_k=60).fuse(VECTOR, TEXT, 2)

    assert ids(fused) == [2, 1]
    assert fused[0].score == pytest.approx((1 / 62 + 1 / 61) / (2 / 61))


def test_zscore_fusion_scores_every_candidate_in_both_legs() -> None:
    """#4 was found by text alone; its cosine 0.5 comes from its stored vector. Over the union
    {1, 2, 3, 4}: vector z-scores 1.116, 0.372, -1.612, 0.124; text (BM25 0 where a candidate
    matched nothing) -0.905, 1.508, -0.905, 0.302. Fused at alpha 0.5: #2 0.940, #4 0.213,
    #1 0.106, #3 -1.258; then scaled onto [0, 1]."""
    fused = Fusion("zscore", alpha=0.5).fuse(VECTOR, TEXT, 10, cosines={4: 0.5})

    assert ids(fused) == [2, 4, 1, 3]
    assert [r.score for r in fused] == pytest.approx([1.0, 0.669, 0.621, 0.0], abs=1e-3)
    assert [r.modes for r in fused[:3]] == [("vector", "text"), ("text",), ("vector",)]


def test_zscore_fusion_gives_a_candidate_without_a_cosine_the_vector_legs_lowest() -> None:
    """Without #4's cosine the vector leg standardises over #1-#3 (1.005, 0.359, -1.364) and #4
    takes -1.364: it falls below #1, which the complete scoring put under it."""
    fused = Fusion("zscore", alpha=0.5).fuse(VECTOR, TEXT, 10)

    assert ids(fused) == [2, 1, 4, 3]


def test_zscore_fusion_reads_the_text_leg_past_its_depth_for_vector_candidates() -> None:
    """#3 is the vector leg's second candidate and the text leg's fourth: beyond the depth of 3 it
    is no text candidate, but its BM25 of 4 still counts and lifts it over #1 (with 0, as if the
    text leg had not reached it, #1 stays ahead)."""
    fusion = Fusion("zscore", alpha=0.5, depth=3)
    vector = [Ranked(1, 0.9, vector_score=0.9), Ranked(3, 0.8, vector_score=0.8)]
    text = [*TEXT, Ranked(5, 5.0, text_score=5.0), Ranked(3, 4.0, text_score=4.0)]
    cosines = {2: 0.3, 4: 0.2, 5: 0.1}

    assert fusion.text_only(vector, text, 2) == [2, 4, 5]
    fused = fusion.fuse(vector, text, 2, cosines)
    assert ids(fused) == [2, 3]
    assert fused[1].text_score is None and fused[1].modes == ("vector",)
    assert ids(fusion.fuse(vector, text[:3], 2, cosines)) == [2, 1]


def test_the_word_pair_leg_lifts_a_candidate_holding_the_query_words_in_order() -> None:
    """#1 holds every word pair of the query, the others none: over the union its pair z-score is
    1.732 (theirs -0.577), and 0.12 of it lifts #1 (0.106 + 0.208) over #4 (0.213 - 0.069)."""
    fusion, cosines = Fusion("zscore", alpha=0.5, proximity=0.12), {4: 0.5}

    assert ids(fusion.fuse(VECTOR, TEXT, 10, cosines, pairs={1: 1.0})) == [2, 1, 4, 3]
    assert fusion.candidates(VECTOR, TEXT, 10) == [1, 2, 3, 4]
    # No pairs in the query, every candidate holding the same share, or no proximity weight:
    # the ranking of the two legs stands.
    assert ids(fusion.fuse(VECTOR, TEXT, 10, cosines, pairs=None)) == [2, 4, 1, 3]
    assert ids(fusion.fuse(VECTOR, TEXT, 10, cosines, pairs=dict.fromkeys([1, 2, 3, 4], 0.5))) == [2, 4, 1, 3]
    assert ids(Fusion("zscore", alpha=0.5).fuse(VECTOR, TEXT, 10, cosines, pairs={1: 1.0})) == [2, 4, 1, 3]
    assert not Fusion("convex", proximity=0.12).reads_pairs and fusion.reads_pairs


def test_a_text_match_on_fewer_words_than_needed_lifts_less() -> None:
    """Issue 46: the text leg's match of one common word of a three-word question no longer buries
    the vector leg's first; a match holding two of them, or the whole of a one-word query, still
    lifts in full (``Fusion.words``)."""
    vector = [Ranked(i, c, vector_score=c) for i, c in ((1, 0.5), (2, 0.45), (3, 0.2), (4, 0.1))]
    text = [Ranked(3, 8.0, text_score=8.0)]
    fusion = Fusion("zscore", alpha=0.5, words=2)

    assert ids(Fusion("zscore", alpha=0.5).fuse(vector, text, 10, held=({3: 1}, 3)))[0] == 3
    assert ids(fusion.fuse(vector, text, 10, held=({3: 1}, 3))) == [1, 2, 3, 4]
    assert ids(fusion.fuse(vector, text, 10, held=({3: 2}, 3)))[0] == 3
    assert ids(fusion.fuse(vector, text, 10, held=({3: 1}, 1)))[0] == 3
    assert fusion.reads_held and not Fusion("convex", words=2).reads_held


def test_where_the_text_leg_matches_every_candidate_a_one_word_match_keeps_its_lift() -> None:
    """The lift is cut by the share of candidates the text leg did not match: none here."""
    vector = [Ranked(i, c, vector_score=c) for i, c in ((1, 0.5), (2, 0.45), (3, 0.2), (4, 0.1))]
    text = [Ranked(3, 8.0, text_score=8.0), *(Ranked(i, 0.1, text_score=0.1) for i in (1, 2, 4))]
    held = ({3: 1, 1: 1, 2: 1, 4: 1}, 3)

    plain = Fusion("zscore", alpha=0.5).fuse(vector, text, 10)
    assert Fusion("zscore", alpha=0.5, words=2).fuse(vector, text, 10, held=held) == plain


def test_held_counts_are_the_query_words_each_text_holds() -> None:
    counts, total = held_counts(
        "what did we pick as our data store?", {1: "Redis holds no data", 2: "stored data"}
    )
    assert total == 3 and counts == {1: 1, 2: 2}


def test_query_pairs_are_adjacent_words_once_stopwords_are_dropped() -> None:
    assert query_pairs("What is the effect of aspirin on colorectal cancer risk?") == [
        ("effect", "aspirin"), ("aspirin", "colorectal"), ("colorectal", "cancer"), ("cancer", "risk"),
    ]  # fmt: skip
    assert query_pairs("retry the retry policy, retry policy") == [
        ("retry", "retry"), ("retry", "policy"), ("policy", "retry"),
    ]  # fmt: skip
    assert query_pairs("deploy") == query_pairs("how do I deploy?") == []
    assert len(query_pairs(" ".join(f"w{i}" for i in range(100)))) == 32


def test_pair_shares_are_each_candidates_share_of_the_pairs() -> None:
    pairs = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "e")]
    holders = [{1, 2}, {1}, set(), {3, 1, 9}]
    assert pair_shares(pairs, holders, [1, 2, 3, 4]) == {1: 0.75, 2: 0.25, 3: 0.25}


def test_zscore_fusion_ignores_a_leg_of_equal_scores() -> None:
    fused = Fusion("zscore", alpha=0.5).fuse(VECTOR, [Ranked(i, 3.0, text_score=3.0) for i in (3, 2, 1)], 10)

    assert ids(fused) == [1, 2, 3]


@pytest.mark.parametrize(("alpha", "expected"), [(1.0, [1, 2, 3, 4]), (0.0, [2, 4, 1, 3])])
def test_zscore_weight_moves_between_the_legs(alpha: float, expected: list[int]) -> None:
    assert ids(Fusion("zscore", alpha=alpha).fuse(VECTOR, TEXT, 10)) == expected


@pytest.mark.parametrize("method", ["zscore", "convex", "rrf"])
def test_fusion_of_nothing_is_nothing(method: str) -> None:
    fusion = Fusion(method)  # type: ignore[arg-type]
    assert fusion.fuse([], [], 10) == []
    assert ids(fusion.fuse([], TEXT, 10)) == [2, 4]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "max"},
        {"alpha": 1.5},
        {"proximity": -0.1},
        {"proximity": 2.0},
        {"rrf_k": 0},
        {"depth": 0},
        {"words": -1},
        {"words": 9},
        {"keep": -1},
        {"keep": 11},
    ],
)
def test_invalid_fusion_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        Fusion(**kwargs)  # type: ignore[arg-type]


def test_query_terms_drop_stopwords_and_repeats() -> None:
    assert query_terms("How are the retries of THE client configured? retries!") == [
        "retries", "client", "configured",
    ]  # fmt: skip
    assert query_terms("When did you and I last deploy?") == ["last", "deploy"]
    assert query_terms("to be or not to be") == ["to", "be", "or", "not"]
    assert query_terms("?!") == []
    assert len(query_terms(" ".join(f"w{i}" for i in range(100)))) == 64


def test_query_terms_drop_what_a_word_split_at_its_apostrophe_leaves() -> None:
    assert query_terms("what engine backs the ledger's data?") == ["engine", "backs", "ledger", "data"]
    assert query_terms("why didn't we're cache it?") == ["cache"]
    assert query_terms("Caroline’s pottery class") == ["caroline", "pottery", "class"]


def test_a_possessive_is_not_a_word_the_text_leg_must_find() -> None:
    """A note on the ledger's data engine holds every word of "the ledger's data engine"; counted as
    a word, the possessive's "s" left it at three words of four."""
    note = "The ledger data engine is PostgreSQL."
    assert text_evidence("what engine backs the ledger's data?", [note]) == pytest.approx(3 / 4)
    assert held_counts("the ledger's data engine", {1: note}) == ({1: 3}, 3)


def test_stored_cosines_leave_out_a_vector_of_another_dimension() -> None:
    class Rows:
        def vectors(self, ids: list[int]) -> dict[int, list[float]]:
            return {1: [0.6, 0.8], 2: [1.0, 0.0, 0.0]}

    assert stored_cosines(Rows(), [1.0, 0.0], [1, 2]) == pytest.approx({1: 0.6})  # type: ignore[arg-type]


def test_the_text_leg_does_not_bury_the_vector_legs_first_when_it_barely_matches_the_query() -> None:
    """Issue 46: a paraphrase the text leg matches by one word of three (``text_evidence`` 1/3)
    is the vector leg's: its first stays first (``Fusion.keep``), where z-scores put the text
    leg's match above it; a query the text leg holds whole (evidence 1) is fused as before."""
    vector = [Ranked(i, c, vector_score=c) for i, c in ((1, 0.40), (2, 0.38), (3, 0.30), (4, 0.10))]
    text = [Ranked(3, 8.0, text_score=8.0), Ranked(4, 1.0, text_score=1.0)]
    plain = Fusion("zscore", alpha=0.5, evidence=0.34)
    kept = Fusion("zscore", alpha=0.5, evidence=0.34, keep=1)

    assert ids(plain.fuse(vector, text, 10, evidence=1 / 3))[0] == 3
    fused = kept.fuse(vector, text, 10, evidence=1 / 3)
    assert ids(fused) == [1, 3, 2, 4]
    assert [r.score for r in fused] == sorted((r.score for r in fused), reverse=True)
    assert fused[0].score == 1.0 and fused[0].vector_score == 0.40
    assert kept.fuse(vector, text, 10, evidence=1.0) == plain.fuse(vector, text, 10, evidence=1.0)


def test_the_vector_legs_first_stays_within_keep_vector_however_well_the_text_leg_matches() -> None:
    """Issue 46: "who should review changes to the payment screens of the website?" put four notes
    sharing "changes" and "review" above the billing pages' owner, the vector leg's first, since
    the text leg's evidence (a third of the words or more) turned ``keep`` off. ``keep_vector``
    keeps it within the first N whatever that evidence (``memory.hybrid_keep_vector``)."""
    vector = [Ranked(i, c, vector_score=c) for i, c in ((1, 0.37), (2, 0.36), (3, 0.35), (4, 0.34), (5, 0.2))]
    text = [Ranked(i, b, text_score=b) for i, b in ((6, 7.1), (7, 6.9), (8, 6.8), (2, 1.0))]
    cosines = {6: 0.30, 7: 0.30, 8: 0.29}
    plain = Fusion("zscore", alpha=0.5, evidence=0.34, keep=1)
    kept = replace(plain, keep_vector=3)

    assert ids(plain.fuse(vector, text, 10, cosines, evidence=0.5)) == [6, 7, 8, 2, 1, 3, 4, 5]  # buried
    fused = kept.fuse(vector, text, 10, cosines, evidence=0.5)
    assert ids(fused) == [6, 7, 1, 8, 2, 3, 4, 5]  # moved up as far as needed, the rest in order
    assert [r.score for r in fused] == sorted((r.score for r in fused), reverse=True)
    within_five = replace(plain, keep_vector=5).fuse(vector, text, 10, cosines, evidence=0.5)
    assert within_five == plain.fuse(vector, text, 10, cosines, evidence=0.5)  # there already
    with pytest.raises(InvalidInputError, match="keep_vector"):
        Fusion("zscore", keep_vector=11)


def test_the_vector_leg_does_not_bury_an_exact_identifier() -> None:
    """The text leg's first holding every word of the query (an identifier the embedder reads as
    noise) stays within the fused top ``keep`` (``Fusion.keep_text``); holding fewer, or with a
    candidate holding them all there already, it does not move."""
    vector = [
        Ranked(i, c, vector_score=c) for i, c in ((1, 0.60), (2, 0.58), (3, 0.57), (5, 0.55), (9, 0.02))
    ]
    text = [Ranked(i, b, text_score=b) for i, b in ((9, 3.0), (1, 2.9), (2, 2.8), (3, 2.7), (5, 2.6))]
    kept = Fusion("zscore", alpha=0.7, keep=2, keep_text=True)
    whole, partly = ({9: 2, 1: 1, 2: 1, 3: 1, 5: 1}, 2), ({9: 1, 1: 1, 2: 1, 3: 1, 5: 1}, 2)

    assert ids(Fusion("zscore", alpha=0.7).fuse(vector, text, 10))[-1] == 9
    assert ids(kept.fuse(vector, text, 10, held=whole)) == [1, 9, 2, 3, 5]
    assert ids(kept.fuse(vector, text, 10, held=partly))[-1] == 9
    assert ids(kept.fuse(vector, text, 10, held=({9: 2, 1: 2}, 2)))[-1] == 9
    assert kept.reads_held and not Fusion("zscore", keep=2).reads_held


@pytest.mark.parametrize(
    ("kept", "n", "expected"),
    [
        ([5], 2, [1, 5, 2, 3, 4]),
        ([1], 2, [1, 2, 3, 4, 5]),
        ([4, 5], 2, [4, 5, 1, 2, 3]),
        ([2, 5], 3, [1, 2, 5, 3, 4]),
        ([3, 4, 5], 2, [3, 4, 1, 2, 5]),
        ([9], 2, [1, 2, 3, 4, 5]),
    ],
)
def test_kept_keys_move_up_only_as_far_as_needed(kept: list[int], n: int, expected: list[int]) -> None:
    assert kept_within([1, 2, 3, 4, 5], kept, n) == expected
