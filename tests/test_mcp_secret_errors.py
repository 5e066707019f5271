"""An MCP tool error never repeats a secret the caller pasted where a name, a path or a filter goes
(``switch_llm{"name": "sk-ant-…"}`` used to answer ``unknown profile 'sk-ant-…'`` in full): every
tool error, its message and hint, and every refusal of the arguments, is scrubbed as the CLI scrubs
its errors, and still says what is wrong."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.types import CallToolResult

from mahavishnu import mcp_server
from mcp_calls import run

KEY = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"
AWS = "AKIAIOSFODNN7EXAMPLE"


def text(result: CallToolResult) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


@pytest.mark.parametrize(
    ("tool", "args", "said"),
    [
        ("switch_llm", {"name": KEY, "dry_run": True}, "unknown profile"),
        ("current_llm", {"tool": KEY}, "unknown tool"),
        ("service_status", {"name": AWS}, "no service named"),
        ("restart_service", {"name": KEY, "dry_run": True}, "no service named"),
        ("search_memory", {"query": "x", "filters": {"type": AWS}}, "invalid memory type"),
        ("search_memory", {"query": "x", "filters": {AWS: 1}}, "unknown filter"),
        ("search_memory", {"query": "x", "filters": {"since": KEY}}, "not a date/time"),
        ("get_memory", {"memory_id": 1, KEY: 1}, "get_memory takes no argument"),
        ("ingest_repository", {"path": "/tmp/" + KEY}, "outside the folders MCP tools may read"),
        ("import_transcript", {"path": f"/srv/{KEY}.jsonl"}, "outside the folders MCP tools may read"),
        ("query_knowledge_base", {"query": "x", "repo_id": KEY}, "no ingested repository"),
        ("share_insight", {"insight": "x", "group": KEY, "from_project": "pay"}, "no project group"),
        (KEY, {}, "Unknown tool"),
    ],
)
def test_a_tool_error_says_what_is_wrong_without_the_secret_pasted(
    backing: mcp_server.Backing, tool: str, args: dict[str, Any], said: str
) -> None:
    (refused,) = run(backing, [(tool, args)])
    assert refused.is_error
    message = text(refused)
    assert said in message, message
    assert KEY not in message and AWS not in message, message
    assert "[REDACTED:" in message, message  # (the place of what was pasted is still shown)


def test_an_error_without_a_secret_is_unchanged(backing: mcp_server.Backing) -> None:
    (refused,) = run(backing, [("switch_llm", {"name": "no-such-profile", "dry_run": True})])
    assert "unknown profile 'no-such-profile'" in text(refused)
    assert "hint:" in text(refused)
