"""The MCP server over its real transports, with the SDK's client.

stdio: ``python -m mahavishnu mcp serve`` as a subprocess (HOME and MAHAVISHNU_HOME in the tmp dir;
the configured local ONNX embedder, so embedding calls are kept few). HTTP: the same app the CLI
serves, on an ephemeral 127.0.0.1 port in this process with a FakeEmbedder store, and once through
``mahavishnu mcp serve --http`` as a subprocess (which requires its bearer token, on loopback too).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult
from testkit.ports import served_in_thread

from mahavishnu import mcp_server
from mahavishnu.config import load_settings
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore

#: One call per tool (memory ids assume a fresh store); what each must not answer with an error.
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("list_llms", {}),
    ("current_llm", {}),
    ("store_memory", {"content": "Transports carry the same tools", "tags": ["mcp"]}),
    ("search_memory", {"query": "transports tools", "limit": 3}),
    ("get_memory", {"memory_id": 1}),
    ("update_memory", {"memory_id": 1, "questions": ["do transports carry the same tools?"]}),
    ("delete_memory", {"memory_id": 1, "dry_run": True}),
    ("service_status", {"check_health": False}),
    ("restart_service", {"name": "mahavishnu-watch", "dry_run": True}),
    ("health_check", {}),
    (
        "store_conversation",
        {
            "agent_id": "claude",
            "session_id": "s1",
            "role": "assistant",
            "content": "`★ Insight ───`\nTransports carry the same tools over stdio and HTTP.\n`───`",
            "project": "mv",
        },
    ),
    ("list_insights", {"project": "mv"}),
    (
        "share_insight",
        {"insight": "Sharing works the same over every transport, stdio or HTTP.", "projects": ["x"]},
    ),
    (
        "store_workflow_execution",
        {"workflow_id": "wf", "adapter": "local", "duration": 1.5, "result": {"ok": True}},
    ),
    ("search_everywhere", {"query": "transports", "limit": 3}),
    ("describe_project", {"project": "mv", "description": "the control plane for coding assistants"}),
    ("delete_memory", {"memory_id": 1}),
]
#: Errors by design: no provider key in the tmp home, an unknown memory.
ERROR_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("switch_llm", {"name": "anthropic", "tool": "claude"}, "no API key for profile 'anthropic'"),
    ("get_memory", {"memory_id": 999}, "no memory #999"),
]


async def exercise(client: Client, repo: Path) -> None:
    tools = {t.name for t in (await client.list_tools()).tools}
    transcript = repo.parent / "session.jsonl"
    line = {"type": "user", "uuid": "u1", "sessionId": "s2", "message": {"role": "user", "content": "hello"}}
    transcript.write_text(json.dumps(line) + "\n")
    calls = [
        *CALLS,
        ("import_transcript", {"path": str(transcript)}),
        ("ingest_repository", {"path": str(repo), "repo_id": "demo"}),
        ("query_knowledge_base", {"query": "greeting", "repo_id": "demo", "limit": 2}),
    ]
    called = {name for name, _ in calls} | {name for name, _, _ in ERROR_CALLS}
    assert called == tools, f"tools not exercised: {tools - called}"
    for name, args in calls:
        result = await client.call_tool(name, args)
        assert not result.is_error, (name, result.content)
    for name, args, message in ERROR_CALLS:
        result = await client.call_tool(name, args)
        assert result.is_error and message in _text(result), (name, _text(result))


@pytest.fixture
def repo(isolated_home: Path) -> Path:
    (isolated_home / "repo").mkdir()
    (isolated_home / "repo" / "hello.py").write_text("def greeting():\n    return 'hello'\n")
    return isolated_home / "repo"


def _text(result: CallToolResult) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


# -- stdio ---------------------------------------------------------------------------------------------


def test_stdio_subprocess_lists_and_calls_every_tool(repo: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "mahavishnu", "mcp", "serve"], env=dict(os.environ)
    )

    async def go() -> None:
        async with Client(params) as client:
            await exercise(client, repo)

    anyio.run(go)


NOISY_SERVER = """
from mahavishnu import mcp_server

server = mcp_server.build_server()


@server.tool()
def noisy() -> str:
    print("stray output from a library")
    return "done"


mcp_server.serve_stdio(server)
"""


def test_stdio_stdout_carries_only_protocol_messages() -> None:
    """Whatever a tool prints goes to stderr: stdout stays pure JSON-RPC."""
    request = (
        '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
        '"capabilities":{},"clientInfo":{"name":"t","version":"1"}}}\n'
        '{"jsonrpc":"2.0","method":"notifications/initialized"}\n'
        '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"noisy","arguments":{}}}\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", NOISY_SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write(request)
    proc.stdin.flush()
    lines = [proc.stdout.readline(), proc.stdout.readline()]  # stdin stays open until both answers
    proc.stdin.close()
    proc.wait(30)
    rest, stderr = proc.stdout.read(), proc.stderr.read() if proc.stderr else ""
    assert all(line.startswith('{"jsonrpc":"2.0"') for line in lines) and not rest.strip(), [*lines, rest]
    assert '"id":2' in lines[1] and '"done"' in lines[1]
    assert "stray output from a library" in stderr


# -- HTTP, in process ------------------------------------------------------------------------------------


@contextmanager
def http_server(token: str | None = None) -> Iterator[str]:
    """Serve ``http_app`` on an ephemeral loopback port in a thread; yields the endpoint URL."""
    backing = mcp_server.Backing(store=lambda: MemoryStore.open(load_settings(), embedder=FakeEmbedder()))
    app = mcp_server.http_app(mcp_server.build_server(backing), token=token)
    try:
        with served_in_thread(app, lifespan="on") as port:
            yield f"http://127.0.0.1:{port}/mcp"
    finally:
        backing.close()


def authed(url: str, token: str) -> Any:
    client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return streamable_http_client(url, http_client=client)


def test_http_lists_and_calls_every_tool(repo: Path) -> None:
    with http_server() as url:

        async def go() -> None:
            async with Client(url) as client:
                await exercise(client, repo)

        anyio.run(go)


def test_http_200_concurrent_tool_calls_succeed() -> None:
    with http_server() as url:

        async def go() -> list[CallToolResult]:
            results: list[CallToolResult] = []
            async with Client(url) as client:
                first = await client.call_tool("store_memory", {"content": "concurrency is fine"})
                assert not first.is_error

                async def one(i: int) -> None:
                    if i % 2:
                        results.append(await client.call_tool("get_memory", {"memory_id": 1}))
                    else:
                        results.append(await client.call_tool("search_memory", {"query": f"concurrency {i}"}))

                async with anyio.create_task_group() as group:
                    for i in range(200):
                        group.start_soon(one, i)
            return results

        results = anyio.run(go)
    assert len(results) == 200
    assert not [r for r in results if r.is_error]
    assert all("concurrency is fine" in _text(r) for r in results)


def test_http_a_request_past_the_cap_is_answered_503_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: the requests served at once were not capped (each waiting for a worker thread with
    its body held). With the cap at 1 and a call in progress, the next is refused at once, saying
    why; once the first is done, a call is served again, an event stream held open beside it."""
    monkeypatch.setattr(mcp_server, "MAX_IN_FLIGHT", 1)
    entered, release = threading.Event(), threading.Event()

    def slow_store() -> MemoryStore:
        entered.set()
        release.wait(30)
        return MemoryStore.open(load_settings(), embedder=FakeEmbedder())

    backing = mcp_server.Backing(store=slow_store)
    app = mcp_server.http_app(mcp_server.build_server(backing))
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
    call["params"] = {"name": "store_memory", "arguments": {"content": "served under the cap"}}
    headers = {"Accept": "application/json, text/event-stream"}
    try:
        with served_in_thread(app, lifespan="on") as port:
            url = f"http://127.0.0.1:{port}/mcp"
            first: list[httpx.Response] = []
            waiting = threading.Thread(
                target=lambda: first.append(httpx.post(url, json=call, headers=headers, timeout=30))
            )
            waiting.start()
            assert entered.wait(30)
            refused = httpx.post(url, json=call, headers=headers, timeout=5)
            release.set()
            waiting.join(30)
            with httpx.stream("GET", url, headers={"Accept": "text/event-stream"}, timeout=30) as stream:
                assert stream.status_code == 200  # the event stream, held open: no call
                again = httpx.post(url, json=call, headers=headers, timeout=30)
    finally:
        release.set()
        backing.close()
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert "busy" in refused.json()["error"], refused.text
    assert [r.status_code for r in first] == [200] and again.status_code == 200


def test_http_an_event_stream_past_the_cap_is_answered_503_and_calls_still_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A review: a client could hold any number of event streams (GET) open at once, each a
    connection and a server task. With the cap at 1 and one stream held, the next GET is refused at
    once, saying why; a call is still served beside it; once it is closed, a stream opens again."""
    monkeypatch.setattr(mcp_server, "MAX_STREAMS", 1)
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
    call["params"] = {"name": "list_llms", "arguments": {}}
    sse = {"Accept": "text/event-stream"}
    with http_server() as url:
        with httpx.stream("GET", url, headers=sse, timeout=30) as held:
            assert held.status_code == 200
            refused = httpx.get(url, headers=sse, timeout=5)
            served = httpx.post(url, json=call, headers={"Accept": "application/json, text/event-stream"})
        deadline = time.monotonic() + 10  # (the server sees the close a moment later)
        while True:
            with httpx.stream("GET", url, headers=sse, timeout=30) as again:
                if again.status_code == 200 or time.monotonic() > deadline:
                    break
            time.sleep(0.05)
    assert again.status_code == 200
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert "event streams" in refused.json()["error"], refused.text
    assert served.status_code == 200, served.text


def test_http_sessions_left_open_keep_no_client_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: the SDK kept each session until it was deleted or idle for 30 minutes, at most
    10,000: a client with the token that opened 10,000 (in about a minute) and closed none had every
    other refused (503) for half an hour. The server keeps none (stateless): with the SDK's cap at
    3, twenty sessions opened and left do not keep the SDK's client out."""
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    made = StreamableHTTPSessionManager.__init__

    def capped(self: StreamableHTTPSessionManager, *args: Any, **kwargs: Any) -> None:
        made(self, *args, **{**kwargs, "max_sessions": 3})

    monkeypatch.setattr(StreamableHTTPSessionManager, "__init__", capped)
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    with http_server() as url:
        left = [httpx.post(url, json=initialize, headers=headers, timeout=10) for _ in range(20)]

        async def go() -> CallToolResult:
            async with Client(url) as client:
                return await client.call_tool("store_memory", {"content": "a newcomer is served"})

        stored = anyio.run(go)
    assert [r.status_code for r in left] == [200] * 20
    assert all('"serverInfo"' in r.text for r in left), left[0].text  # each one opened
    assert not [r for r in left if "mcp-session-id" in r.headers]  # nothing held for them
    assert not stored.is_error, stored.content


def test_http_with_a_token_refuses_requests_without_it() -> None:
    token = "t0ken-for-tests-0123456789abcdef"
    with http_server(token=token) as url:
        initialize = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t"}},
        }
        headers = {"Accept": "application/json, text/event-stream"}
        bare = httpx.post(url, json=initialize, headers=headers, timeout=10)
        wrong = httpx.post(
            url, json=initialize, headers={**headers, "Authorization": "Bearer nope"}, timeout=10
        )
        assert (bare.status_code, wrong.status_code) == (401, 401)
        assert bare.headers["www-authenticate"].startswith("Bearer")

        async def go() -> int:
            async with Client(authed(url, token)) as client:
                return len((await client.list_tools()).tools)

        assert anyio.run(go) >= 10


@pytest.mark.parametrize(
    ("token", "headers"),
    [
        ("t0ken-for-tests-0123456789abcdef", "Host: 127.0.0.1\r\n"),
        ("t0ken-for-tests-0123456789abcdef", "Host: 127.0.0.1\r\nAuthorization: a\r\nAuthorization: b\r\n"),
        (None, "Host: 127.0.0.1:1@attacker.example\r\n"),
    ],
    ids=["no-token", "two-tokens", "malformed-host"],
)
def test_http_a_refused_websocket_upgrade_is_a_403_not_a_500(token: str | None, headers: str) -> None:
    """A review: the bearer and Host checks answered an upgrade with an HTTP response, which uvicorn
    refuses on a websocket: a 500, and a traceback in the server's log for each such request."""
    upgrade = (
        "GET /mcp HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{headers}\r\n"
    )
    with http_server(token=token) as url:
        port = int(url.split(":")[2].split("/")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(upgrade.encode())
            status = sock.recv(4096).split(b"\r\n")[0]
    assert status.split()[1] == b"403", status


def test_http_a_malformed_request_is_answered_without_the_secret_it_carried() -> None:
    """A review: a JSON-RPC body the SDK cannot validate was answered with pydantic's dump of it,
    the GitHub token pasted into it repeated whole."""
    token = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
    with http_server() as url:
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        for body in ([token], {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": token}):
            answer = httpx.post(url, json=body, headers=headers, timeout=10)  # (stateless: no session)
            assert answer.status_code >= 400 and answer.text
            assert token not in answer.text and "aB3dE5fG7hJ9" not in answer.text, answer.text[:300]


# -- HTTP, the real command ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(params=[[], ["--host", "0.0.0.0"]], ids=["loopback", "all-addresses"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mahavishnu", "mcp", "serve", "--http", "--port", str(port), *request.param],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(10)


def test_mcp_serve_http_command_requires_its_stored_token(
    served: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, proc = served
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    assert httpx.post(url, json={}, timeout=5).status_code == 401
    token = mcp_server.bearer_token(create=False)  # generated and stored by the server
    assert token

    async def go() -> dict[str, Any]:
        async with Client(authed(url, token)) as client:
            result = await client.call_tool("list_llms", {})
            assert not result.is_error
            return {"tools": len((await client.list_tools()).tools)}

    assert anyio.run(go)["tools"] >= 10
    proc.terminate()
    out, err = proc.communicate(timeout=10)
    assert out == b""  # HTTP mode logs to stderr only
    assert b"bearer token required" in err and token.encode() not in err


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1"])
def test_a_loopback_server_refuses_a_rebinding_pages_host_and_origin(host: str) -> None:
    """``--no-auth`` serves any loopback address; a page whose name resolves to it (DNS rebinding)
    must not reach the tools: the SDK guarded 127.0.0.1, localhost and ::1 only, not 127.0.0.2."""
    from starlette.testclient import TestClient

    app = mcp_server.http_app(mcp_server.build_server(), host=host)
    own = f"[{host}]:8931" if ":" in host else f"{host}:8931"
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    with TestClient(app, base_url=f"http://{own}") as client:
        rebound = client.post("/mcp", json=body, headers={**headers, "Host": "attacker.example:8931"})
        foreign = client.post(
            "/mcp", json=body, headers={**headers, "Origin": "http://attacker.example:8931"}
        )
        ours = client.post("/mcp", json=body, headers={**headers, "Host": own, "Origin": f"http://{own}"})
        hidden = [  # its own name first, then more: the SDK's "name:*" took any Host starting so
            client.post("/mcp", json=body, headers={**headers, "Host": f"{own}{tail}"}).status_code
            for tail in ("@attacker.example", " attacker.example", "/x", ":1")
        ]
    assert rebound.status_code == 421 and foreign.status_code == 403
    assert ours.status_code not in (403, 421)
    assert hidden == [421] * 4
