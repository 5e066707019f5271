"""``search.held_stems`` (one regex scan of a candidate) finds exactly the query stems that
``search.stems`` (every word of it stemmed) holds: the judge's and the fusion's word counts did not
change when a hybrid search stopped stemming each word of a hundred candidates."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mahavishnu.memory.core.search import held_stems, query_stems, stems

_WORDS = st.sampled_from(
    [
        "test", "tests", "testing", "Test", "TESTING", "retest", "foo_test", "x", "ab", "über", "Über",
        "straße", "İstanbul", "12345", "1234", "2024-01", "a.b", "café", "CAFÉ", "naïve", "ǅemal",
        "migrations", "MIGRATE", "k8s", "pg16",
    ]
)  # fmt: skip
_GLUE = st.sampled_from([" ", "_", "-", ".", "\n", "", "é", "9", "'"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_WORDS, _GLUE), max_size=12), st.lists(_WORDS, min_size=1, max_size=4))
def test_held_stems_are_the_stems_the_text_holds(text_parts: list[tuple[str, str]], query: list[str]) -> None:
    text = "".join(word + glue for word, glue in text_parts)
    wanted = query_stems(" ".join(query))

    assert held_stems(wanted, text) == wanted & stems(text)


def test_a_short_stem_is_a_whole_word_and_a_full_one_a_start() -> None:
    assert held_stems({"test"}, "retest testing") == set()  # "test" is a word of four letters
    assert held_stems({"test"}, "a test_case") == {"test"}  # (the index splits on _)
    assert held_stems({"migra"}, "Run the MIGRATIONS first") == {"migra"}
    assert held_stems(set(), "anything") == set()


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(_WORDS, _GLUE), max_size=12),
    st.lists(st.tuples(_WORDS, _GLUE), min_size=1, max_size=5),
)
def test_the_judges_pair_share_reads_a_text_word_by_word_only_when_it_could_hold_a_pair(
    text_parts: list[tuple[str, str]], query_parts: list[tuple[str, str]]
) -> None:
    """``judge._pair_share`` skips a text that does not hold both words of any query pair: the
    same share as reading every text word by word (``_stem_pairs``)."""
    from mahavishnu.memory.core.judge import _pair_share, _stem_pairs

    text = "".join(word + glue for word, glue in text_parts)
    pairs = _stem_pairs("".join(word + glue for word, glue in query_parts))
    full = len(pairs & _stem_pairs(text)) / len(pairs) if pairs else 0.0

    assert _pair_share(pairs, text) == full
