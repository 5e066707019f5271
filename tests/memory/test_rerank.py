"""The search's rerank of its first hits by word pieces (``pieces.py``, ``memory.rerank_*``: issue 46)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from _backends import Factory
from _pieces import Counting

from mahavishnu.config import MemorySettings, RecallSettings
from mahavishnu.memory.core import pieces
from mahavishnu.memory.core.embedders import FakeEmbedder
from mahavishnu.memory.core.embedders.base import TokenVectors
from mahavishnu.memory.core.search import Ranked
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.loop.recall import build_context

X, Y, Z = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]


class Table:
    """Word-piece vectors from a table: each text one piece per word, each word its vector."""

    def __init__(self, words: dict[str, list[float]]) -> None:
        self.words = words
        self.asked: list[str] = []

    def token_vectors(self, texts: Sequence[str]) -> list[TokenVectors]:
        self.asked += texts
        found = []
        for text in texts:
            named = text.split()
            rows = np.array([self.words[w] for w in named], dtype=np.float32)
            found.append(TokenVectors(tuple(named), rows / np.linalg.norm(rows, axis=1, keepdims=True)))
        return found


def test_the_first_hits_are_reordered_by_cosine_plus_how_the_query_pieces_meet_theirs() -> None:
    table = Table(
        {"schema": X, "staging": Y, "diagrams": X, "migrations": [1.0, 0.2, 0.0], "preprod": Y, "far": Z}
    )
    ranked = [Ranked(1, 1.0, 0.50), Ranked(2, 0.9, 0.45), Ranked(3, 0.8, 0.20), Ranked(4, 0.7, 0.60)]
    texts = {1: "schema diagrams", 2: "migrations staging", 3: "far far", 4: "far"}

    order = pieces.reranked("schema preprod", ranked, texts, {}, pieces.Pieces(table), depth=3, weight=1.0)

    # 2 meets both pieces (schema~migrations, preprod~staging): 0.45 + ~0.99 over 1's 0.50 + 0.5
    assert [r.id for r in order] == [2, 1, 3, 4]  # the 4th is past the depth: where it was
    assert [r.score for r in order] == [1.0, 0.9, 0.8, 0.7]  # each takes its place's score: in order
    assert [r.vector_score for r in order] == [0.45, 0.50, 0.20, 0.60]  # its legs' scores its own
    assert table.asked == ["schema preprod", "schema diagrams", "migrations staging", "far far"]
    same = pieces.reranked("schema preprod", ranked, texts, {}, pieces.Pieces(table), depth=3, weight=0.0)
    assert [r.id for r in same] == [1, 2, 3, 4]


def test_an_embedder_without_word_pieces_leaves_the_order_as_fused() -> None:
    ranked = [Ranked(1, 1.0, 0.5), Ranked(2, 0.9, 0.9)]
    order = pieces.reranked(
        "q", ranked, {1: "a", 2: "b"}, {}, pieces.Pieces(FakeEmbedder()), depth=5, weight=1.0
    )
    assert order == ranked


def test_each_text_runs_through_the_model_once_a_search_and_is_read_up_to_its_chars() -> None:
    table = Table({"a": X, "b": Y})
    cache = pieces.Pieces(table)
    cache.token_vectors(["a b", "a"])
    cache.token_vectors(["a", "a b", "b"])
    assert table.asked == ["a b", "a", "b"]
    long = "a " * pieces.CHARS
    cache.token_vectors([long])
    assert table.asked[-1] == long[: pieces.CHARS]


NOTES = [
    "Run the ledger migrations with make migrate ENV=staging; it wraps alembic upgrade head.",
    "The staging database is refreshed from a masked production snapshot every Sunday.",
    "Schema diagrams for the ledger live in docs/erd.png and are drawn with dbdiagram.",
    "Deploys to pre-production need a green CI run and one approval.",
    "We chose PostgreSQL with pgvector for ACID guarantees.",
    "Redis holds the rate-limit counters.",
]


def test_only_a_query_the_text_leg_barely_matches_is_reranked(backend_factory: Factory) -> None:
    """A paraphrase (no note the text leg finds holds a third of its words) is the vector leg's: its
    first hits are reranked; a query whose words a note holds keeps the fused order (SciFact's
    claims lost nDCG@10 0.751 -> 0.711 reordered by the vector leg's cosine)."""
    counting = Counting()
    with MemoryStore(backend_factory(), MemorySettings(), counting) as store:
        store.store_many([{"content": text, "type": "note"} for text in NOTES])
        assert store.search("how is the test environment data refreshed?", limit=3)
        assert counting.texts[0] == "how is the test environment data refreshed?"
        assert len(counting.texts) == 1 + MemorySettings().rerank_depth

        counting.texts.clear()
        assert store.search("staging database refreshed production snapshot", limit=3)
        assert counting.texts == []


def test_the_hook_reads_covered_from_the_reranks_runs_and_a_search_without_rerank_runs_none(
    backend_factory: Factory,
) -> None:
    counting = Counting()
    with MemoryStore(backend_factory(), MemorySettings(rerank_depth=0), counting) as store:
        store.store_many([{"content": text, "type": "note", "project": "api"} for text in NOTES])
        assert store.search("which database did we choose?", limit=3) and counting.texts == []

    counting = Counting()
    with MemoryStore(backend_factory(), MemorySettings(), counting) as store:
        store.store_many([{"content": text, "type": "note", "project": "api"} for text in NOTES])
        payload = {"session_id": "s1", "hook_event_name": "UserPromptSubmit", "cwd": "/w/api"}
        payload["prompt"] = "which database did we choose?"
        build_context(store, payload, "claude", RecallSettings())
        assert counting.texts and len(counting.texts) == len(set(counting.texts))  # each text once
