"""Which of a prompt's hits the recall hook adds (``recall.accepted``): the judge opens a prompt's
recall, the first few hits with evidence come with what it accepts, conversation turns go by their
cosine. Hits are built directly: the rule is on the search's verdicts, not on any embedder."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from _backends import Factory, open_store

from mahavishnu.config import RecallSettings
from mahavishnu.memory.core import judge_weights
from mahavishnu.memory.core.models import Memory, MemoryType, SearchHit
from mahavishnu.memory.loop.recall import accepted

NOW = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.fixture(autouse=True)
def hook_point(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule is tested at a judge's point of 0.39, whatever point ``fit_judge.py`` last chose."""
    monkeypatch.setattr(judge_weights, "HOOK_POINT", 0.39)


def hit(
    n: int, probability: float | None, cosine: float = 0.3, kind: MemoryType = "note", text: str = ""
) -> SearchHit:
    """The ``n``-th hit; ``probability`` None: no evidence of its own (the judge never weighed it)."""
    memory = Memory(n, text or f"memory {n}", kind, f"h{n}", "m", 8, NOW, NOW)
    relevant = probability is not None and probability >= judge_weights.HOOK_POINT
    return SearchHit(memory, 1.0 / n, ("vector",), "memory", cosine, None, relevant, probability)


def ids(hits: list[SearchHit]) -> list[int]:
    return [h.memory.id for h in hits]


def test_nothing_is_added_when_the_judge_accepts_nothing() -> None:
    weak = [hit(1, 0.25), hit(2, 0.15), hit(3, 0.30)]  # the first two add up to under 0.46
    assert accepted(weak, RecallSettings()) == []


def test_two_first_hits_weighed_low_open_the_prompt_when_together_they_likely_answer() -> None:
    """``recall.prompt_pair_point``: neither of the first two reaches the judge's point, but their
    probabilities add up to the chance that one of them answers: at 0.46 or more, the first
    ``prompt_first_hits`` are added; under it, or with the gate off, nothing is."""
    likely = [hit(1, 0.27), hit(2, 0.20), hit(3, 0.10), hit(4, 0.05)]
    assert RecallSettings().prompt_pair_point == 0.46
    assert ids(accepted(likely, RecallSettings())) == [1, 2, 3]
    assert accepted([hit(1, 0.26), hit(2, 0.19), hit(3, 0.30), hit(4, 0.30)], RecallSettings()) == []
    assert accepted(likely, RecallSettings(prompt_pair_point=None)) == []


def test_an_accepted_hit_brings_the_first_hits_with_it_in_order() -> None:
    hits = [hit(1, 0.30), hit(2, 0.90), hit(3, 0.05), hit(4, 0.02), hit(5, 0.95)]
    assert ids(accepted(hits, RecallSettings(prompt_first_hits=3))) == [1, 2, 3, 5]
    assert ids(accepted(hits, RecallSettings(prompt_first_hits=0))) == [2, 5]  # the judge alone


def test_the_prompts_operating_point_is_a_setting() -> None:
    hits = [hit(1, 0.30), hit(2, 0.20)]
    assert ids(accepted(hits, RecallSettings(prompt_point=0.25, prompt_first_hits=0))) == [1]
    assert accepted([hit(1, 0.99)], RecallSettings(prompt_point=1.0, prompt_pair_point=None)) == []


def test_conversation_turns_go_by_their_cosine_not_the_judge() -> None:
    turns = [hit(1, 0.01, cosine=0.50, kind="agent"), hit(2, 0.99, cosine=0.30, kind="agent")]
    assert ids(accepted(turns, RecallSettings())) == [1]  # the default 0.35
    assert ids(accepted(turns, RecallSettings(turn_relevance=0.25))) == [1, 2]
    # a turn neither opens the recall for notes nor takes a place among the first hits
    mixed = [hit(1, 0.99, cosine=0.20, kind="agent"), hit(2, 0.30), hit(3, 0.95)]
    assert ids(accepted(mixed, RecallSettings(prompt_first_hits=1))) == [2, 3]
    assert accepted(mixed[:2], RecallSettings()) == []


OWNER = "Nadia Haddad maintains skiff and triages its GitHub issues every Monday."


def test_a_question_for_a_person_opens_with_a_first_hit_naming_one_in_a_role() -> None:
    """ "who owns the deployment CLI?" of the note naming skiff's maintainer: the judge weighs it
    low (a paraphrase shares no word with it), but it holds the kind of answer the question asks
    for (``kinds.py``): the first hits are added, as when the judge accepts one."""
    hits = [hit(1, 0.10), hit(2, 0.09, text=OWNER), hit(3, 0.05), hit(4, 0.02)]
    assert ids(accepted(hits, RecallSettings(), "who owns the deployment CLI?")) == [1, 2, 3]
    # not a question for a person, no person named, or past the first hits: closed as before
    assert accepted(hits, RecallSettings(), "what does the deployment CLI do?") == []
    assert accepted([hit(1, 0.10), hit(2, 0.09)], RecallSettings(), "who owns the deployment CLI?") == []
    late = [hit(1, 0.10), hit(2, 0.09), hit(3, 0.05), hit(4, 0.02, text=OWNER)]
    assert accepted(late, RecallSettings(), "who owns the deployment CLI?") == []
    # the judge alone, when the user turns it off
    assert accepted(hits, RecallSettings(prompt_answer_kinds=False), "who owns the deployment CLI?") == []
    # a conversation turn naming one does not open it (turns go by their cosine)
    turn = [hit(1, 0.10, cosine=0.2, kind="agent", text=OWNER), hit(2, 0.09)]
    assert accepted(turn, RecallSettings(), "who owns the deployment CLI?") == []


@pytest.mark.parametrize("bad", [{"prompt_point": 1.5}, {"prompt_first_hits": -1}, {"turn_relevance": 2}])
def test_out_of_range_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"less than|greater than"):
        RecallSettings(**bad)  # type: ignore[arg-type]


def test_a_hybrid_search_gives_the_judges_probability_behind_each_verdict(backend_factory: Factory) -> None:
    with open_store(backend_factory) as store:
        store.store("We use httpx for every HTTP client call", "decision", project="api")
        store.store("The billing service is written in Go", "decision", project="api")
        hits = store.search("httpx HTTP client", filters={"project": "api"}, limit=5)
        assert hits and all(h.probability is not None for h in hits if h.relevant)
        for h in hits:
            if h.probability is not None:
                assert 0.0 <= h.probability <= 1.0
                assert h.relevant == (h.probability >= judge_weights.HOOK_POINT)
        assert hits[0].probability is not None
        vector = store.search("httpx HTTP client", mode="vector", filters={"project": "api"}, limit=5)
        assert vector and all(h.probability is None for h in vector)  # nothing judged
