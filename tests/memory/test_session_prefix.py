"""`memory conversations --session 4f1c2a9e`: the short ids the README and the table show."""

from __future__ import annotations

import pytest

from mahavishnu.errors import InvalidInputError
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.loop.conversations import conversations, store_conversation

FULL = "4f1c2a9e-7b3d-4c1e-9a0b-1234567890ab"


def test_a_unique_prefix_finds_the_session(store: MemoryStore) -> None:
    store_conversation(store, "claude", FULL, "user", "what about retries?")
    store_conversation(store, "claude", "9e0d-other", "user", "unrelated")
    for prefix in ("4f1c2a9e", FULL[:12], FULL):
        turns = conversations(store, session_id=prefix)
        assert [t["content"] for t in turns] == ["what about retries?"], prefix


def test_an_ambiguous_prefix_says_so(store: MemoryStore) -> None:
    store_conversation(store, "claude", FULL, "user", "one")
    store_conversation(store, "claude", "4f1c2a9e-ffff", "user", "two")
    with pytest.raises(InvalidInputError, match="ambiguous: 2 sessions"):
        conversations(store, session_id="4f1c")
    assert conversations(store, session_id="nothing-like-it") == []
