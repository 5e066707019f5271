"""`mahavishnu mcp serve` (stdio) fed what a hostile or broken client sends: a lone surrogate
(``"\\ud800"``, which Node's JSON.stringify writes for half an emoji), NUL, 10 MB strings, JSON
nested too deep, a line that is no JSON. Every request gets an answer with its id, a result or an
error, at once; stdout carries only JSON-RPC; the server keeps serving. The SDK's parser refuses the
first and the deep ones, and used to drop them without a word: its client then waited forever."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}


def _call(number: int, tool: str, arguments: str) -> bytes:
    """A tools/call line whose arguments are the raw JSON text ``arguments``."""
    head = f'{{"jsonrpc":"2.0","id":{number},"method":"tools/call","params":{{"name":"{tool}","arguments":'
    return (head + arguments + "}}").encode()


#: Raw lines, as a client may write them (the Python SDK cannot serialise a lone surrogate); the
#: id of each is its place here, from 1.
HOSTILE: dict[str, bytes] = {
    "lone surrogate stored": _call(
        1, "store_memory", r'{"content":"deploys \ud800 go blue-green","project":"p\udc00"}'
    ),
    "lone surrogate searched": _call(2, "search_memory", r'{"query":"\ud83d"}'),
    "lone surrogate as a key": _call(3, "store_memory", r'{"content":"c","metadata":{"\ud800":"\udfff"}}'),
    "lone surrogate as a tool's name": (
        b'{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"\\ud800"}}'
    ),
    "lone surrogate in a resource": b'{"jsonrpc":"2.0","id":5,"method":"resources/read","params":{"uri":"mahavishnu://memory/\\ud800"}}',
    "NUL in a path": _call(6, "import_transcript", r'{"path":"/tmp/a\u0000b.jsonl"}'),
    "NUL in a name": _call(7, "restart_service", r'{"name":"\u0000","dry_run":true}'),
    "nested 100000 deep": _call(
        8, "store_memory", '{"content":"c","metadata":{"a":' + "[" * 100_000 + "]" * 100_000 + "}}"
    ),
    "nested 500 deep": _call(
        9, "store_memory", '{"content":"c","metadata":' + '{"a":' * 500 + "1" + "}" * 500 + "}"
    ),
    "10 MB stored": _call(10, "store_memory", json.dumps({"content": "x" * 10_000_000})),
    "10 MB with a lone surrogate": _call(11, "search_memory", '{"query":"' + "y " * 5_000_000 + r'\udfff"}'),
    "no JSON": b'{"jsonrpc":"2.0","id":12,"method":"tools/call","params":',
    "no JSON-RPC": b'{"jsonrpc":"2.0","id":13}',
    "id last, rest broken": (
        b'{"method":"tools/call","params":{"name":"x","arguments":[}},"jsonrpc":"2.0","id":14}'
    ),
}


class Wire:
    """A ``mahavishnu mcp serve`` process spoken to line by line."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mahavishnu", "mcp", "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.send(json.dumps(INIT).encode())
        assert self.answer()["id"] == 0
        self.send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')

    def send(self, line: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + b"\n")
        self.proc.stdin.flush()

    def answer(self, seconds: float = 60.0) -> dict[str, Any]:
        """The next line on stdout, which must be one JSON-RPC message."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], seconds)
        assert ready, f"no answer within {seconds:g} s"
        line = self.proc.stdout.readline()
        message = json.loads(line)
        assert message["jsonrpc"] == "2.0" and ("result" in message or "error" in message), line[:300]
        return dict(message)

    def close(self) -> str:
        """End the server (its stdin closed); its stderr."""
        assert self.proc.stdin is not None and self.proc.stderr is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.stderr.read().decode(errors="replace")


@pytest.fixture
def wire() -> Iterator[Wire]:
    served = Wire()
    yield served
    served.close()


@pytest.mark.parametrize("name", list(HOSTILE))
def test_every_hostile_request_gets_an_answer_with_its_id_at_once(wire: Wire, name: str) -> None:
    began = time.monotonic()
    wire.send(HOSTILE[name])
    answer = wire.answer()
    assert time.monotonic() - began < 30
    assert answer["id"] == list(HOSTILE).index(name) + 1
    wire.send(b'{"jsonrpc":"2.0","id":99,"method":"ping"}')
    assert wire.answer() == {"jsonrpc": "2.0", "id": 99, "result": {}}  # still serving


def test_a_lone_surrogate_is_read_as_a_replacement_character(wire: Wire) -> None:
    wire.send(HOSTILE["lone surrogate stored"])
    stored = wire.answer()
    assert stored["result"]["isError"] is False, stored
    assert stored["result"]["structuredContent"]["content"] == "deploys \ufffd go blue-green"
    wire.send(HOSTILE["lone surrogate as a tool's name"])
    assert "Unknown tool" in wire.answer()["result"]["content"][0]["text"]


def test_what_cannot_be_read_is_a_json_rpc_error_that_quotes_none_of_it(wire: Wire) -> None:
    wire.send(HOSTILE["nested 100000 deep"])
    deep = wire.answer()
    assert deep["error"]["code"] == -32700 and "recursion limit" in deep["error"]["message"]
    wire.send(HOSTILE["no JSON-RPC"])
    assert wire.answer()["error"]["code"] == -32600
    wire.send(b'{"jsonrpc":"2.0","method":"notifications/x","params":{"a":' + b"[" * 300 + b"]" * 300 + b"}}")
    wire.send(HOSTILE["NUL in a path"])  # (a notification that cannot be read gets no answer)
    refused = wire.answer()
    assert refused["id"] == 6 and refused["result"]["isError"] is True
    assert "holds a NUL character" in refused["result"]["content"][0]["text"]
    assert "unexpected" not in refused["result"]["content"][0]["text"]


def test_no_traceback_anywhere(wire: Wire) -> None:
    for line in HOSTILE.values():
        wire.send(line)
        wire.answer()
    assert "Traceback" not in wire.close()


def test_the_sdk_client_sends_10_mb_nul_and_deep_arguments_and_gets_answers() -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "mahavishnu", "mcp", "serve"], env=dict(os.environ)
    )
    deep: Any = "leaf"
    for _ in range(150):  # deep, yet within what the SDK's parser reads
        deep = {"a": deep}

    async def go() -> list[Any]:
        async with Client(params) as client:
            with anyio.fail_after(120):
                return [
                    await client.call_tool("store_memory", {"content": "z" * 10_000_000}),
                    await client.call_tool("search_memory", {"query": "q " * 5_000_000}),
                    await client.call_tool("store_memory", {"content": "a\0b", "project": "p\0q"}),
                    await client.call_tool("ingest_repository", {"path": "/tmp/\0"}),
                    await client.call_tool("store_memory", {"content": "deep", "metadata": deep}),
                    await client.list_tools(),
                ]

    big, search, nul, path, nested, listed = anyio.run(go)
    assert big.is_error and "over the limit" in big.content[0].text
    assert not search.is_error
    assert nul.is_error and "invalid project name" in nul.content[0].text
    assert path.is_error and "NUL character" in path.content[0].text
    assert nested.is_error or nested.structured_content is not None
    assert len(listed.tools) > 10
