"""MCP tools refuse what they cannot use in one line that says what is wrong, and say when they found
nothing: an empty or relative path (not "outside the folders MCP tools may read"), a ``min_score``
no score reaches, an insight shorter than ``share_insight`` takes, a conversation turn longer than a
team store takes; ``list_insights`` with none to list says so (an empty text reads as a failure)."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.types import CallToolResult

from mahavishnu import mcp_server
from mcp_calls import run


def text(result: CallToolResult) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


@pytest.mark.parametrize("tool", ["ingest_repository", "import_transcript"])
@pytest.mark.parametrize(
    ("path", "said"),
    [("", "no path given"), ("   ", "no path given"), ("repo1", "'repo1' is a relative path")],
)
def test_an_empty_or_relative_path_is_refused_as_such(
    backing: mcp_server.Backing, tool: str, path: str, said: str
) -> None:
    (refused,) = run(backing, [(tool, {"path": path})])
    assert refused.is_error
    message = text(refused)
    assert said in message and "absolute" in message, message
    assert "outside the folders" not in message, message


def test_a_path_under_home_given_with_a_tilde_is_still_read(backing: mcp_server.Backing) -> None:
    (refused,) = run(backing, [("import_transcript", {"path": "~/no-such-transcript.jsonl"})])
    assert "relative" not in text(refused) and "outside the folders" not in text(refused)


def test_list_insights_with_none_to_list_says_so(backing: mcp_server.Backing) -> None:
    insight = "Retry the ledger import after the schema migration has finished."
    empty, stored, scoped, listed = run(
        backing,
        [
            ("list_insights", {}),
            ("store_memory", {"content": insight, "type": "insight", "project": "pay"}),
            ("list_insights", {"project": "nobody-here"}),
            ("list_insights", {"project": "pay"}),
        ],
    )
    assert not stored.is_error, text(stored)
    for result, said in ((empty, "no insights yet"), (scoped, "no insights match project 'nobody-here'")):
        assert not result.is_error
        assert result.structured_content == {"result": []}
        assert said in text(result), text(result)
    assert listed.structured_content is not None
    assert [i["content"] for i in listed.structured_content["result"]] == [insight]


@pytest.mark.parametrize("score", [1.5, -3, 1.0000001])
def test_a_min_score_out_of_range_is_refused_in_one_line(backing: mcp_server.Backing, score: float) -> None:
    (refused,) = run(backing, [("search_memory", {"query": "x", "min_score": score})])
    assert refused.is_error
    message = text(refused)
    assert "min_score" in message and "between 0 and 1" in message, message
    assert "\n" not in message.split("hint:")[0].strip(), message


@pytest.mark.parametrize("score", [0, 0.4, 1])
def test_a_min_score_in_range_is_taken(backing: mcp_server.Backing, score: float) -> None:
    (found,) = run(backing, [("search_memory", {"query": "x", "min_score": score})])
    assert not found.is_error, text(found)


@pytest.mark.parametrize(
    ("args", "stored"),
    [
        ({"content": "tiny", "type": "insight"}, False),
        ({"content": "  tiny  " + " " * 40, "type": "insight"}, False),
        ({"content": "x" * 10_001, "type": "insight"}, False),
        ({"content": "Deploys go blue-green behind the load balancer.", "type": "insight"}, True),
        ({"content": "tiny", "type": "note"}, True),
    ],
)
def test_an_insight_is_as_long_as_share_insight_takes(
    backing: mcp_server.Backing, args: dict[str, Any], stored: bool
) -> None:
    result, found = run(backing, [("store_memory", args), ("list_insights", {})])
    assert result.is_error is not stored, text(result)
    if not stored:
        assert "an insight is 30–10,000 characters" in text(result), text(result)
        assert found.structured_content == {"result": []}


def test_a_turn_is_as_long_as_a_team_store_takes_on_every_store(backing: mcp_server.Backing) -> None:
    """A review: ``store_conversation`` stored a turn of any length on an embedded store (a team store
    refuses one over 10,000,000 characters), so a caller with the token grew it without bound."""
    from mahavishnu.memory.core.backends.records import CONVERSATIONS
    from mahavishnu.memory.core.models import MAX_TURN_CHARS
    from mahavishnu.memory.team.bounds import BOUNDS

    assert BOUNDS["agent_conversations"]["content"] == MAX_TURN_CHARS
    turn = {"agent_id": "claude", "session_id": "s1", "role": "user"}
    (refused,) = run(backing, [("store_conversation", {**turn, "content": "x" * (MAX_TURN_CHARS + 1)})])
    assert refused.is_error
    message = text(refused)
    said = f"a conversation turn is {MAX_TURN_CHARS + 1:,} characters, over the limit of {MAX_TURN_CHARS:,}"
    assert said in message and "hint: Store it as several shorter turns" in message, message
    assert "\n" not in message.split("hint:")[0].strip(), message
    store = backing.store()
    assert store.stats()["count"] == 0 and store.backend.records(CONVERSATIONS, {}, limit=10) == []
