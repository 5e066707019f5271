"""`mahavishnu mcp serve` (stdio) answers a request whose id is no JSON-RPC id (an object, an array,
true, 1.5, null): the SDK read it as a notification and answered nothing, and its client waited
forever. A request it cannot read for another reason (``"jsonrpc": "1.0"``, a method that is a
number, params that are a string) is answered with its id, where the id is one."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from test_mcp_stdio_hostile import Wire


@pytest.fixture(scope="module")
def wire() -> Iterator[Wire]:
    served = Wire()
    yield served
    assert "Traceback" not in served.close()


@pytest.mark.parametrize(
    ("line", "answered_id"),
    [
        (b'{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}', None),
        (b'{"jsonrpc":"2.0","id":[1],"method":"ping"}', None),
        (b'{"jsonrpc":"2.0","id":true,"method":"ping"}', None),
        (b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}', None),
        (b'{"jsonrpc":"2.0","id":null,"method":"ping"}', None),
        (b'{"jsonrpc":"2.0","id":{"x":1},"method":"tools/call","params":{"name":"list_llms"}}', None),
        (b'{"jsonrpc":"1.0","id":20,"method":"ping"}', 20),
        (b'{"jsonrpc":"2.0","id":21}', 21),
        (b'{"jsonrpc":"2.0","id":22,"method":5}', 22),
        (b'{"jsonrpc":"2.0","id":23,"method":"tools/list","params":"x"}', 23),
        (b'{"jsonrpc":"1.0","id":"twenty-four","method":"ping"}', "twenty-four"),
    ],
)
def test_an_invalid_request_is_answered_invalid_request_with_its_id_where_it_has_one(
    wire: Wire, line: bytes, answered_id: object
) -> None:
    wire.send(line)
    answer = wire.answer(seconds=10)
    assert answer["id"] == answered_id, answer
    assert answer["error"]["code"] == -32600, answer
    wire.send(b'{"jsonrpc":"2.0","id":99,"method":"ping"}')
    assert wire.answer() == {"jsonrpc": "2.0", "id": 99, "result": {}}  # still serving, in order


def test_a_notification_still_gets_no_answer(wire: Wire) -> None:
    wire.send(b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7,"id":1}}')
    wire.send(b'{"jsonrpc":"2.0","method":"notifications/x","params":{"id":{"a":1}}}')
    wire.send(b'{"jsonrpc":"2.0","id":98,"method":"ping"}')
    assert wire.answer() == {"jsonrpc": "2.0", "id": 98, "result": {}}  # the next line is the ping's


@pytest.mark.parametrize(
    ("line", "said"),
    [
        (
            b'{"jsonrpc":"2.0","id":30,"method":"tools/call","params":{"name":"list_llms","arguments":[1]}}',
            "params.arguments: Input should be a valid dictionary",
        ),
        (
            b'{"jsonrpc":"2.0","id":30,"method":"tools/call","params":{"name":5}}',
            "params.name: Input should be",
        ),
        (
            b'{"jsonrpc":"2.0","id":30,"method":"resources/read","params":{"uri":5}}',
            "params.uri: Input should be",
        ),
    ],
)
def test_params_of_the_wrong_type_are_refused_naming_the_param(wire: Wire, line: bytes, said: str) -> None:
    """The SDK said "Invalid request parameters", and not which, nor why."""
    wire.send(line)
    answer = wire.answer(seconds=10)
    assert answer["id"] == 30 and answer["error"]["code"] == -32602, answer
    assert answer["error"]["message"].startswith(f"Invalid request parameters: {said}"), answer
    wire.send(b'{"jsonrpc":"2.0","id":99,"method":"ping"}')
    assert wire.answer() == {"jsonrpc": "2.0", "id": 99, "result": {}}


def test_a_request_before_initialize_says_to_initialize_first() -> None:
    """The SDK refused it with "Invalid request parameters" alone, though every param was right."""
    lines = [
        b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
        b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_llms","arguments":{}}}',
        b'{"jsonrpc":"2.0","id":3,"method":"ping"}',
    ]
    served = subprocess.run(
        [sys.executable, "-m", "mahavishnu", "mcp", "serve"],
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        timeout=60,
        check=False,
    )
    listed, called, pinged = (json.loads(line) for line in served.stdout.splitlines())
    for answer, method in ((listed, "tools/list"), (called, "tools/call")):
        assert answer["error"]["code"] == -32602, answer
        said = answer["error"]["message"]
        assert said.startswith(f"Invalid request parameters: {method} before initialize; send initialize")
        assert "\n" not in said
    assert pinged == {"jsonrpc": "2.0", "id": 3, "result": {}}  # ping needs no initialize
    assert "Traceback" not in served.stderr.decode()
