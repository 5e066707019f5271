"""An MCP tool error never repeats a secret the caller pasted where a name, a path or a filter goes
(``switch_llm{"name": "sk-ant-…"}`` used to answer ``unknown profile 'sk-ant-…'`` in full): every
tool error, its message and hint, and every refusal of the arguments, is scrubbed as the CLI scrubs
its errors, and still says what is wrong."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult

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


def read(backing: mcp_server.Backing, uri: str) -> MCPError:
    async def go() -> MCPError:
        async with Client(mcp_server.build_server(backing)) as client:
            with pytest.raises(MCPError) as refused:
                await client.read_resource(uri)
            return refused.value

    return anyio.run(go)


@pytest.mark.parametrize(
    ("uri", "said"),
    [(f"mahavishnu://memory/{KEY}", "not a memory id"), (f"mahavishnu://{AWS}", "Unknown resource")],
)
def test_a_resource_error_does_not_repeat_a_secret_in_the_uri(
    backing: mcp_server.Backing, uri: str, said: str
) -> None:
    refused = read(backing, uri)
    shown = f"{refused.error.message} {refused.error.data}"
    assert said in shown, shown
    assert KEY not in shown and AWS not in shown, shown
    assert "[REDACTED:" in refused.error.message and "[REDACTED:" in str(refused.error.data), shown
    assert refused.error.code == INVALID_PARAMS  # what the caller asked for, not the server's fault


def test_a_resource_error_without_a_secret_is_unchanged(backing: mcp_server.Backing) -> None:
    refused = read(backing, "mahavishnu://memory/99999")
    assert refused.error.message == "no memory #99999"
    assert refused.error.data == {"uri": "mahavishnu://memory/99999"}


@pytest.mark.parametrize("name", [KEY, "no-such-prompt"])
def test_a_prompt_that_is_not_there_is_refused_as_invalid_params_without_the_secret(
    backing: mcp_server.Backing, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The server has no prompts: the SDK answered an unknown one with code 0, its name as sent (a
    key pasted there), and logged a traceback quoting it."""

    async def go() -> MCPError:
        async with Client(mcp_server.build_server(backing)) as client:
            with pytest.raises(MCPError) as refused:
                await client.get_prompt(name)
            return refused.value

    refused = anyio.run(go)
    assert refused.error.code == INVALID_PARAMS
    assert refused.error.message.startswith("Unknown prompt: "), refused.error.message
    assert KEY not in refused.error.message and KEY not in caplog.text
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.exc_info]


def test_a_method_that_is_not_there_is_refused_without_the_secret_given_as_its_name(
    backing: mcp_server.Backing,
) -> None:
    """A review: the SDK answered an unknown method with "Method not found" and the method as sent
    as its data: a key pasted there came back whole."""
    from starlette.testclient import TestClient

    app = mcp_server.http_app(mcp_server.build_server(backing))
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    with TestClient(app, base_url="http://127.0.0.1:8931") as client:
        answer = client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": KEY}, headers=headers)
    assert answer.status_code == 200 and "Method not found" in answer.text, answer.text
    assert KEY not in answer.text and "[REDACTED:" in answer.text, answer.text
