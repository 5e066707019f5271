"""MCP tools refuse arguments they do not take (a guessed ``project`` or ``repo`` used to be dropped
silently, widening the answer), searches without hits say so in their text, the HTTP server's 401
says where the token is, and ``mcp serve`` warns about, or refuses, addresses off loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.types import CallToolResult

from mahavishnu import mcp_server
from mahavishnu.cli import mcp as mcp_cli
from mahavishnu.errors import InvalidInputError
from mcp_calls import run


def text(result: CallToolResult) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


@pytest.mark.parametrize(
    ("tool", "args", "unknown", "accepted"),
    [
        ("store_memory", {"content": "a note", "bogus_arg": 1}, "bogus_arg", "content, type, tags"),
        ("search_memory", {"query": "pytest", "project": "nope"}, "project", "query, mode, limit, filters"),
        ("query_knowledge_base", {"query": "x", "repo": "nope"}, "repo", "query, repo_id"),
        ("list_llms", {"verbose": True}, "verbose", "none"),
    ],
)
def test_an_unknown_argument_is_an_error_naming_it_and_the_accepted_ones(
    backing: mcp_server.Backing, tool: str, args: dict[str, Any], unknown: str, accepted: str
) -> None:
    refused, listed = run(backing, [(tool, args), ("search_memory", {"query": "a note", "mode": "text"})])
    assert refused.is_error
    message = text(refused)
    assert f"'{unknown}'" in message and f"accepted: {accepted}" in message, message
    assert listed.structured_content == {"result": []}  # nothing was stored by the refused call


def test_every_tool_schema_forbids_additional_properties(backing: mcp_server.Backing) -> None:
    async def go() -> dict[str, Any]:
        async with Client(mcp_server.build_server(backing)) as client:
            return {t.name: t.input_schema for t in (await client.list_tools()).tools}

    schemas = anyio.run(go)
    assert len(schemas) >= 18
    assert all(schema.get("additionalProperties") is False for schema in schemas.values()), schemas


def test_known_arguments_still_work(backing: mcp_server.Backing) -> None:
    stored, found = run(
        backing,
        [
            ("store_memory", {"content": "pytest fixtures scope", "project": "p"}),
            ("search_memory", {"query": "pytest fixtures", "mode": "text", "filters": {"project": "p"}}),
        ],
    )
    assert not stored.is_error and not found.is_error
    assert found.structured_content is not None
    hits = found.structured_content["result"]
    assert [h["memory"]["content"] for h in hits] == ["pytest fixtures scope"]
    assert json.loads(text(found))["memory"]["content"] == "pytest fixtures scope"


def test_searches_without_hits_say_so_and_stay_an_empty_list(backing: mcp_server.Backing) -> None:
    memories, chunks = run(
        backing, [("search_memory", {"query": "zzqqxx"}), ("query_knowledge_base", {"query": "zzqqxx"})]
    )
    for result, words in ((memories, "no relevant memories"), (chunks, "no relevant chunks")):
        assert not result.is_error
        assert result.structured_content == {"result": []}
        assert words in text(result)


def test_a_401_says_which_command_prints_the_token() -> None:
    app = mcp_server.http_app(mcp_server.build_server(), token="secret-token")

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.post("/mcp", json={})

    response = anyio.run(go)
    assert response.status_code == 401
    assert f"mahavishnu secrets get {mcp_server.TOKEN_SECRET}" in response.json()["hint"]


def test_no_auth_off_loopback_is_an_error_and_nothing_is_served() -> None:
    argv = ["mcp", "serve", "--http", "--port", "0", "--host", "0.0.0.0", "--no-auth"]
    proc = subprocess.run(
        [sys.executable, "-m", "mahavishnu", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert "--no-auth is for loopback only" in proc.stderr
    assert "serving" not in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::"])
def test_a_non_loopback_address_is_warned_in_one_line(host: str, capsys: pytest.CaptureFixture[str]) -> None:
    mcp_cli._check_host(host, no_auth=False)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "WARNING" in err and host in err and "plain HTTP" in err
    with pytest.raises(InvalidInputError):
        mcp_cli._check_host(host, no_auth=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_is_not_warned(host: str, capsys: pytest.CaptureFixture[str]) -> None:
    mcp_cli._check_host(host, no_auth=True)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("tool", "args", "said"),
    [
        ("search_memory", {"query": "pytest", "limit": 2.5}, "limit: Input should be a valid integer"),
        ("store_memory", {"content": "a note", "type": "bogus"}, "type: Input should be 'agent'"),
        ("store_memory", {"content": "a note", "tags": [1]}, "tags.0: Input should be a valid string"),
        ("get_memory", {}, "memory_id: Field required"),
        # a review: true was read as #1 (and delete_memory takes the same argument), "1" as 1
        ("get_memory", {"memory_id": True}, "memory_id: Input should be a valid integer"),
        ("delete_memory", {"memory_id": "1"}, "memory_id: Input should be a valid integer"),
        # pydantic's lax mode read "no" as false (a deletion, not its dry run), true as 1, "5" as 5
        ("delete_memory", {"memory_id": 1, "dry_run": "no"}, "dry_run: Input should be a valid boolean"),
        ("restart_service", {"name": "x", "dry_run": "yes"}, "dry_run: Input should be a valid boolean"),
        ("health_check", {"probe_providers": 0}, "probe_providers: Input should be a valid boolean"),
        ("search_memory", {"query": "pytest", "limit": True}, "limit: Input should be a valid integer"),
        ("search_memory", {"query": "pytest", "limit": "5"}, "limit: Input should be a valid integer"),
        ("list_insights", {"limit": 5.0}, "limit: Input should be a valid integer"),
        ("search_memory", {"query": "x", "min_score": "0.5"}, "min_score: Input should be a valid number"),
        ("share_insight", {"insight": True}, "insight.int: Input should be a valid integer"),
    ],
)
def test_an_argument_of_the_wrong_type_is_refused_in_one_line_naming_it(
    backing: mcp_server.Backing, tool: str, args: dict[str, Any], said: str
) -> None:
    (refused,) = run(backing, [(tool, args)])
    assert refused.is_error
    message = text(refused)
    assert said in message, message
    assert "\n" not in message, message  # not pydantic's report: no count, class name nor docs URL
    assert "validation error" not in message and "errors.pydantic.dev" not in message, message


def test_a_dry_run_given_as_a_string_deletes_nothing(backing: mcp_server.Backing) -> None:
    _, refused, kept = run(
        backing,
        [
            ("store_memory", {"content": "kept through a refused deletion"}),
            ("delete_memory", {"memory_id": 1, "dry_run": "no"}),
            ("get_memory", {"memory_id": 1}),
        ],
    )
    assert refused.is_error and not kept.is_error
    assert kept.structured_content is not None
    assert kept.structured_content["content"] == "kept through a refused deletion"


def test_json_booleans_and_numbers_are_taken_as_given(backing: mcp_server.Backing) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("store_memory", {"content": "pytest fixtures scope"}),
        ("delete_memory", {"memory_id": 1, "dry_run": True}),
        ("search_memory", {"query": "pytest fixtures", "mode": "text", "limit": 1, "min_score": 0}),
        ("store_workflow_execution", {"workflow_id": "wf", "adapter": "local", "duration": 2}),
        ("delete_memory", {"memory_id": 1, "dry_run": False}),
    ]
    _, dry, found, workflow, deleted = run(backing, calls)
    answers = (dry, found, workflow, deleted)
    assert not any(r.is_error for r in answers), [text(r) for r in answers]
    assert dry.structured_content is not None and dry.structured_content["deleted"] is False
    assert found.structured_content is not None and len(found.structured_content["result"]) == 1
    assert deleted.structured_content is not None and deleted.structured_content["deleted"] is True


def test_text_that_reads_as_json_is_taken_as_the_text_given(backing: mcp_server.Backing) -> None:
    """The SDK parsed a string as JSON for every argument not typed exactly ``str``: an optional
    text given ``'{"port": 8080}'`` became an object (refused), ``"null"`` became not given."""
    _, edited, renamed = run(
        backing,
        [
            ("store_memory", {"content": "the config"}),
            ("update_memory", {"memory_id": 1, "content": '{"port": 8080}'}),
            ("update_memory", {"memory_id": 1, "project": "null"}),
        ],
    )
    assert not edited.is_error, text(edited)
    assert edited.structured_content is not None
    assert edited.structured_content["content"] == '{"port": 8080}'
    assert renamed.structured_content is not None and renamed.structured_content["changed"] == ["project"]


def test_only_arguments_that_take_text_keep_a_string_as_given() -> None:
    """A list or an object may come as JSON text (the SDK parses it); a text argument never is."""
    assert mcp_server._takes_text(str) and mcp_server._takes_text(str | None)
    assert mcp_server._takes_text(int | str)
    assert not mcp_server._takes_text(list[str]) and not mcp_server._takes_text(dict[str, int])
    assert not mcp_server._takes_text(list[str] | None) and not mcp_server._takes_text(int)
