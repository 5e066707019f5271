"""The relevance judge's ``dropped`` (``judge.py``): how much a hit's cosine with the query rises when
one of the query's words is left out. A near-miss asks for a detail its topic's note never mentions:
leaving the detail's word out brings the query nearer to that note; every word of a question the note
answers counts toward it (issue 46)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mahavishnu.memory.core import judge
from mahavishnu.memory.core.embedders.base import Kind, Vectors
from mahavishnu.memory.core.embedders.local import LocalEmbedder


class CountingEmbeds(LocalEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        self.texts += texts
        return super().embed_batch(texts, kind)


@pytest.fixture(scope="module")
def local() -> CountingEmbeds:
    embedder = CountingEmbeds()
    embedder.load()
    return embedder


def test_each_word_but_stopwords_is_left_out_once_in_the_words_order() -> None:
    assert judge.left_out("what's the TTL of Redis keys?") == [
        "what's the of Redis keys?",
        "what's the TTL of keys?",
        "what's the TTL of Redis",
    ]
    assert judge.left_out("what is it?") == []
    many = " ".join(f"word{n}" for n in range(judge.DROPPED_WORDS + 1))
    assert judge.left_out(many) == []  # one word of many moves the cosine too little to tell


@pytest.mark.parametrize(
    ("query", "without", "holding"),
    [
        (
            "what's the TTL on the Redis keys for merchant throttling?",
            "Merchant throttling counts requests in Redis keys, one per merchant, 300 a minute.",
            "The Redis keys for merchant throttling expire after a TTL of 90 seconds.",
        ),
        (
            "who was the incident commander for the refund double-posting?",
            "The refund double-posting on March 14 came from a webhook retried without its idempotency key.",
            "Dana Reyes was the incident commander for the refund double-posting on March 14.",
        ),
        (
            "how many read replicas does the ledger database have?",
            "The ledger database runs PostgreSQL 15 on a db.r6g.2xlarge primary.",
            "The ledger database has two read replicas behind the primary.",
        ),
    ],
)
def test_the_note_that_never_mentions_the_asked_detail_gains_when_its_word_is_left_out(
    local: CountingEmbeds, query: str, without: str, holding: str
) -> None:
    near = judge.Candidate(0.5, None, without)
    answer = judge.Candidate(0.5, None, holding)
    gained_near, gained_answer = judge.dropped(query, [near, answer], 0.25, local)
    assert gained_near > gained_answer


def test_a_candidate_without_evidence_of_its_own_is_not_embedded_again(local: CountingEmbeds) -> None:
    local.texts.clear()
    far = [judge.Candidate(0.1, None, f"unrelated note {n}") for n in range(3)]
    assert judge.dropped("which database did we choose?", far, 0.25, local) == [0.0, 0.0, 0.0]
    assert local.texts == []  # nothing close: no run of the model
    close = [judge.Candidate(0.6, None, "We chose PostgreSQL."), *far]
    got = judge.dropped("which database did we choose?", close, 0.25, local)
    assert got[1:] == [0.0, 0.0, 0.0] and got[0] != 0.0
    assert "unrelated note 0" not in local.texts


def test_dropped_lowers_the_probability_at_the_models_weight(monkeypatch: pytest.MonkeyPatch) -> None:
    from mahavishnu.memory.core import judge_weights

    monkeypatch.setattr(judge_weights, "DROPPED", 6.0)
    row = [1.2, 0.3, 1.0, 0.0, 0.0, 0.5, 0.0, 0.8]
    fitted = judge.model(plain=False)
    assert judge.probability(row, fitted, 0.2) < judge.probability(row, fitted, 0.0)
    z = fitted.bias + float(np.dot(fitted.weights, row)) - 6.0 * 0.2
    assert judge.probability(row, fitted, 0.2) == pytest.approx(1 / (1 + np.exp(-z)))


def test_the_prompt_hooks_search_reads_dropped_and_a_search_does_not(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``MemoryStore.search(covered=True)`` (the prompt hook's) weighs ``dropped`` at the model's
    weight, and runs it only then: not for a plain search, nor at a weight of 0."""
    from mahavishnu.config import MemorySettings
    from mahavishnu.memory.core import judge_weights, store
    from mahavishnu.memory.core.backends.sqlite import SqliteBackend

    calls: list[str] = []
    real = store.dropped

    def counted(query: str, *args: Any) -> list[float]:
        calls.append(query)
        return real(query, *args)

    monkeypatch.setattr(store, "dropped", counted)
    embedder = LocalEmbedder()
    with store.MemoryStore(SqliteBackend(tmp_path / "m.db"), MemorySettings(), embedder) as memories:
        memories.store("Merchant throttling counts requests in Redis keys, one per merchant.", "note")
        question = "what's the TTL on the Redis keys for merchant throttling?"
        memories.search(question)
        assert calls == []
        weighed = memories.search(question, covered=True)[0].probability
        assert calls == [question]
        monkeypatch.setattr(judge_weights, "DROPPED", 0.0)
        unweighed = memories.search(question, covered=True)[0].probability
        assert calls == [question]  # a weight of 0 runs nothing
        assert weighed is not None and unweighed is not None and weighed < unweighed
