"""An insight is 30 to 10,000 characters however it comes in: the ★ Insight collector, `insight
share`, MCP's store_memory and the Agno toolkit kept to it, while `memory store --type insight`,
`memory edit --type insight`, an edit of an insight's text and MCP's update_memory did not (a
five-character "insight" was stored and listed among the team's insights). The rule now lives in
the store (``models.check_insight``), measured before secrets are scrubbed, as the collector
measures it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _backends import open_store

from mahavishnu.errors import InvalidInputError
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.models import MAX_INSIGHT_CHARS, MIN_INSIGHT_CHARS, check_insight
from mahavishnu.memory.core.store import MemoryStore

LONG_ENOUGH = "Pydantic models give the OpenAPI schema for free, filters included."


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[MemoryStore]:
    with open_store(lambda: SqliteBackend(tmp_path / "memory.db")) as opened:
        yield opened


@pytest.mark.parametrize("text", ["short", "  \n  tiny insight  \n\n\n  ", "a" * (MIN_INSIGHT_CHARS - 1)])
def test_an_insight_of_the_wrong_length_is_refused_when_stored(sqlite_store: MemoryStore, text: str) -> None:
    with pytest.raises(InvalidInputError, match="an insight is 30–10,000 characters"):
        sqlite_store.add(text, "insight")
    assert sqlite_store.recent(limit=5) == []  # nothing half-written


def test_the_bounds_themselves_store(sqlite_store: MemoryStore) -> None:
    for text in ("a" * MIN_INSIGHT_CHARS, "b" * 1_500):  # (the test store keeps 2,000 characters)
        assert sqlite_store.add(text, "insight").memory.memory_type == "insight"
    assert sqlite_store.add("short", "note").memory.memory_type == "note"  # other types: no rule


def test_a_batch_with_one_short_insight_stores_nothing(sqlite_store: MemoryStore) -> None:
    with pytest.raises(InvalidInputError):
        sqlite_store.store_many(
            [{"content": LONG_ENOUGH, "type": "insight"}, {"content": "x", "type": "insight"}]
        )
    assert sqlite_store.recent(limit=5) == []


def test_an_edit_cannot_make_a_short_insight(sqlite_store: MemoryStore) -> None:
    note = sqlite_store.add("short", "note").memory
    insight = sqlite_store.add(LONG_ENOUGH, "insight").memory
    with pytest.raises(InvalidInputError, match="this one 5"):
        sqlite_store.edit(note.id, {"type": "insight"})
    with pytest.raises(InvalidInputError, match="this one 1"):
        sqlite_store.edit(insight.id, {"content": "x"})
    assert sqlite_store.get(note.id).memory_type == "note"
    assert sqlite_store.get(insight.id).content == LONG_ENOUGH
    # what the rule does not concern still changes
    assert sqlite_store.edit(insight.id, {"tags": ["api"]})[1] == ["tags"]
    assert sqlite_store.edit(insight.id, {"type": "note", "content": "x"})[0].content == "x"


def test_a_secret_scrubbed_out_of_an_insight_does_not_refuse_it(sqlite_store: MemoryStore) -> None:
    """Measured before scrubbing, as the collector measures it: a batch of captured insights is
    never refused because a redaction made one shorter."""
    text = "key sk-ant-api03-" + "a" * 40 + "Z"
    stored = sqlite_store.add(text, "insight").memory
    assert "[REDACTED:" in stored.content and "sk-ant" not in stored.content


def test_a_long_insight_is_refused_whatever_the_store_keeps() -> None:
    check_insight("insight", "b" * MAX_INSIGHT_CHARS)
    with pytest.raises(InvalidInputError, match="this one 10,001"):
        check_insight("insight", "b" * (MAX_INSIGHT_CHARS + 1))
    check_insight("note", "b" * (MAX_INSIGHT_CHARS + 1))
