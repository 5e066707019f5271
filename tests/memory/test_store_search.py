"""Hybrid fusion and query terms, on hand-made rankings."""

from __future__ import annotations

import pytest

from mahavishnu.errors import InvalidInputError
from mahavishnu.memory.search import Fusion, Ranked, query_terms

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


def test_zscore_fusion_weighs_each_candidate_by_how_far_it_stands_out_in_its_leg() -> None:
    """Vector z-scores 1.005, 0.359, -1.364; text 1, -1; a candidate a leg did not return takes the
    leg's lowest. Fused at alpha 0.5: #2 0.68, #1 0.003, #3 and #4 -1.18; then scaled onto [0, 1]."""
    fused = Fusion("zscore", alpha=0.5).fuse(VECTOR, TEXT, 10)

    assert ids(fused) == [2, 1, 3, 4]
    assert [r.score for r in fused] == pytest.approx([1.0, 0.636, 0.0, 0.0], abs=1e-3)
    assert fused[0].modes == ("vector", "text") and fused[2].modes == ("vector",)


def test_zscore_fusion_counts_a_leg_of_equal_scores_as_found_or_not() -> None:
    fused = Fusion("zscore", alpha=0.5).fuse(VECTOR, [Ranked(4, 3.0, text_score=3.0)], 10)

    assert ids(fused) == [1, 2, 4, 3]


@pytest.mark.parametrize(("alpha", "expected"), [(1.0, [1, 2, 3, 4]), (0.0, [2, 1, 3, 4])])
def test_zscore_weight_moves_between_the_legs(alpha: float, expected: list[int]) -> None:
    assert ids(Fusion("zscore", alpha=alpha).fuse(VECTOR, TEXT, 10)) == expected


@pytest.mark.parametrize("method", ["zscore", "convex", "rrf"])
def test_fusion_of_nothing_is_nothing(method: str) -> None:
    fusion = Fusion(method)  # type: ignore[arg-type]
    assert fusion.fuse([], [], 10) == []
    assert ids(fusion.fuse([], TEXT, 10)) == [2, 4]


@pytest.mark.parametrize("kwargs", [{"method": "max"}, {"alpha": 1.5}, {"rrf_k": 0}, {"depth": 0}])
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
