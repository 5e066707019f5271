"""The relevance judge's ``covered`` feature (``judge.py``): how well a hit covers the query's least
covered word, from the word pieces' contextual vectors the local model gives (issue 46)."""

from __future__ import annotations

import numpy as np
import pytest
from _backends import Factory
from _pieces import Counting

from mahavishnu.config import MemorySettings, RecallSettings
from mahavishnu.memory.core import judge, pieces
from mahavishnu.memory.core.embedders import FakeEmbedder
from mahavishnu.memory.core.embedders.base import TokenVectors
from mahavishnu.memory.core.embedders.local import LocalEmbedder
from mahavishnu.memory.core.store import MemoryStore, judged_text
from mahavishnu.memory.loop.recall import build_context


def piece_vectors(*named: tuple[str, list[float]]) -> TokenVectors:
    vectors = np.array([v for _, v in named], dtype=np.float32)
    return TokenVectors(tuple(p for p, _ in named), vectors / np.linalg.norm(vectors, axis=1, keepdims=True))


X, Y, Z = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]


def test_covered_is_the_best_match_of_the_query_word_the_text_covers_least() -> None:
    """Stopwords, punctuation, one-letter pieces and the special tokens count on neither side."""
    query = piece_vectors(
        ("[CLS]", Z), ("what", Z), ("tt", Y), ("##l", Z), ("of", Z), ("redis", X), ("?", Z), ("[SEP]", Z)
    )
    text = piece_vectors(("[CLS]", Y), ("redis", X), ("keys", [1.0, 1.0, 0.0]), ("[SEP]", Y))
    assert pieces.covered(query, text) == pytest.approx(np.sqrt(0.5))  # "tt": best with "keys"

    holding = piece_vectors(("[CLS]", Z), ("redis", X), ("ttl", Y), ("[SEP]", Z))
    assert pieces.covered(query, holding) == pytest.approx(1.0)


def test_a_query_without_words_is_covered_and_an_empty_text_covers_nothing() -> None:
    stopwords = piece_vectors(("[CLS]", X), ("what", Y), ("?", Z), ("[SEP]", X))
    text = piece_vectors(("[CLS]", X), ("redis", Y), ("[SEP]", X))
    assert pieces.covered(stopwords, text) == 1.0
    assert (
        pieces.covered(
            piece_vectors(("[CLS]", X), ("redis", Y), ("[SEP]", X)), piece_vectors(("[CLS]", X), ("[SEP]", X))
        )
        == 0.0
    )


@pytest.fixture(scope="module")
def local() -> LocalEmbedder:
    embedder = LocalEmbedder()
    embedder.load()
    return embedder


def test_the_local_model_gives_each_piece_a_unit_vector_within_its_window(local: LocalEmbedder) -> None:
    short, long = local.token_vectors(["Ledger storage is PostgreSQL 15", "word " * 1000])
    assert short.pieces[0] == "[CLS]" and short.pieces[-1] == "[SEP]"
    assert len(short.pieces) == local.count_tokens(["Ledger storage is PostgreSQL 15"])[0] + 2
    assert short.vectors.shape == (len(short.pieces), local.dimension)
    assert np.allclose(np.linalg.norm(short.vectors, axis=1), 1.0, atol=1e-5)
    assert len(long.pieces) == local.max_tokens + 2  # truncated as the model reads it


@pytest.mark.parametrize(
    ("query", "without", "holding"),
    [
        (
            "what TTL do the Redis rate-limit keys have?",
            "Rate limits are counted in Redis keys, one per merchant.",
            "The Redis rate-limit keys expire after a TTL of 60 seconds.",
        ),
        (
            "who was the incident commander for the refund outage?",
            "The refund outage on March 14 came from a retried webhook.",
            "Dana Reyes was incident commander for the March 14 refund outage.",
        ),
        (
            "which Grafana dashboard shows the compaction lag?",
            "Thanos compaction runs every two hours on the metrics bucket.",
            "The Grafana dashboard 'Thanos / Compact' shows the compaction lag.",
        ),
    ],
)
def test_a_note_that_never_mentions_the_asked_detail_covers_the_query_less(
    local: LocalEmbedder, query: str, without: str, holding: str
) -> None:
    """A near-miss (the topic stored, the detail asked for not) against the note that answers."""
    both = [judge.Candidate(0.5, None, without), judge.Candidate(0.5, None, holding)]
    near, answer = judge.coverages(query, both, 0.25, local) or []
    assert near < answer


def test_an_embedder_without_piece_vectors_is_judged_by_the_plain_model() -> None:
    candidates = [judge.Candidate(0.6, 3.0, "WAL mode for durability"), judge.Candidate(0.3, None, "bananas")]
    assert judge.coverages("WAL durability", candidates, 0.25, FakeEmbedder()) is None
    plain = judge.model(plain=True)
    rows = judge.features("WAL durability", candidates, 0.25)
    verdicts = judge.judge("WAL durability", candidates, 0.25)
    assert [v.probability for v in verdicts] == [judge.probability(r, plain) for r in rows]
    assert len(rows[0]) == len(judge.PLAIN_FEATURES)


def test_whether_a_search_answers_does_not_depend_on_covered() -> None:
    """``close`` is the plain model's call (``judge.judge``); ``covered`` moves only the verdicts."""
    candidates = [judge.Candidate(c, None, f"note {n}") for n, c in enumerate((0.5, 0.3, 0.2, 0.1))]
    low = judge.judge("the cache layer", candidates, 0.25, [0.0] * 4)
    high = judge.judge("the cache layer", candidates, 0.25, [1.0] * 4)
    plain = judge.judge("the cache layer", candidates, 0.25)
    assert [v.close for v in low] == [v.close for v in high] == [v.close for v in plain]
    assert [v.probability for v in low] != [v.probability for v in high]
    assert high[0].probability > low[0].probability


def test_the_store_weighs_the_note_that_answers_above_the_one_on_its_topic(
    local: LocalEmbedder, backend_factory: Factory
) -> None:
    """The real model, on every backend: asked for the Redis keys' TTL, the note that gives it is
    first and relevant, and the judge gives the note on the same keys without it less."""
    with MemoryStore(backend_factory(), MemorySettings(), local) as store:
        topic = store.store(
            "Rate limits are counted in Redis keys, one per merchant, 300 requests a minute.", "note"
        )
        store.store("Refunds are posted by the ledger worker, never by the API.", "note")
        answer = store.store("The Redis rate-limit keys expire after a TTL of 60 seconds.", "note")
        question = "what TTL do the Redis rate-limit keys have?"
        hits = {h.memory.id: h for h in store.search(question, limit=3, covered=True)}

        assert next(iter(hits)) == answer.id and hits[answer.id].relevant
        assert (hits[topic.id].probability or 0.0) < (hits[answer.id].probability or 0.0)


def test_only_the_first_candidates_with_evidence_of_their_own_run_the_model() -> None:
    """A hit under the floor that lacks a query word can never be accepted: no run of the model for
    it, nor for a query nothing is close to."""
    counting = Counting()
    far = [judge.Candidate(0.1, None, f"unrelated note {n}") for n in range(4)]
    assert judge.coverages("redis ttl", far, 0.25, counting) == [0.0] * 4 and counting.texts == []

    mixed = [
        judge.Candidate(0.1, None, "far away"),
        judge.Candidate(0.6, None, "redis keys"),
        judge.Candidate(0.05, 2.0, "the redis ttl is 60 s"),  # every word of the query: evidence
        *(judge.Candidate(0.5, None, f"close note {n}") for n in range(3)),
    ]
    found = judge.coverages("redis ttl", mixed, 0.25, counting) or []
    assert counting.texts == ["redis ttl", "redis keys", "the redis ttl is 60 s", "close note 0"]
    assert found[0] == 0.0 and found[4:] == [0.0, 0.0] and all(0.0 < x <= 1.0 for x in found[1:4])


def test_the_prompt_hook_judges_with_covered_and_a_search_with_the_plain_model(
    local: LocalEmbedder, backend_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The prompt hook decides what enters a prompt: its search weighs ``covered`` (``covered=True``);
    a search (CLI, MCP, dashboard) marks its hits by the plain model, which decides whether it
    answers at all either way."""
    from mahavishnu.memory.core import judge_weights

    monkeypatch.setattr(judge_weights, "PLAIN_HOOK_POINT", 1.0)  # the plain model accepts nothing
    monkeypatch.setattr(judge_weights, "HOOK_POINT", 0.0)  # the full model everything with evidence
    with MemoryStore(backend_factory(), MemorySettings(), local) as store:
        store.store("The Redis rate-limit keys expire after a TTL of 60 seconds.", "note", project="api")
        store.store("Refunds are posted by the ledger worker, never by the API.", "note", project="api")
        question = "what TTL do the Redis rate-limit keys have?"
        assert store.search(question, limit=3) and not any(
            h.relevant for h in store.search(question, limit=3)
        )
        assert store.search(question, limit=3, covered=True)[0].relevant

        payload = {
            "session_id": "s1",
            "hook_event_name": "UserPromptSubmit",
            "cwd": "/w/api",
            "prompt": question,
        }
        answer = build_context(store, payload, "claude", RecallSettings())
        assert answer is not None and "TTL of 60 seconds" in str(answer)


def test_a_question_naming_the_project_is_covered_by_the_notes_project(
    local: LocalEmbedder, backend_factory: Factory
) -> None:
    """A note stored with ``--project orchard`` seldom says "orchard"; a question often does. The
    judge reads the note with its project's name (``store.judged_text``), so the word is covered:
    the same note in another project, asked the same question, is weighed far lower."""
    notes = [
        "Imani Okafor owns the nightly export workers.",
        "The export job writes Parquet files to the exports bucket every night at 01:00.",
        "Exports retry three times with a ten minute backoff before paging.",
        "Rashid Bello maintains the billing webhooks.",
    ]
    question = "when does the orchard export job run?"
    with MemoryStore(backend_factory(), MemorySettings(), local) as store:
        weighed = {}
        for project in ("orchard", "grove"):
            kept = [store.store(n, "note", project=project) for n in notes]
            hits = store.search(question, filters={"project": project}, limit=3, covered=True)
            (answer,) = [h for h in hits if h.memory.id == kept[1].id]
            weighed[project] = answer.probability or 0.0

        assert weighed["orchard"] >= weighed["grove"] + 0.2
        assert judged_text(kept[0]) == "grove: Imani Okafor owns the nightly export workers."
        named = store.store("grove's exports land in the bucket.", "note", project="grove")
        assert judged_text(named) == named.content  # it names its project already
        inside = store.store("The groves table holds one row per site.", "note", project="grove")
        assert judged_text(inside) == f"grove: {inside.content}"  # "groves" is another word
