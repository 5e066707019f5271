"""A client that pipes its requests to `mahavishnu mcp serve` (stdio) and closes stdin gets every
answer: the requests still running when stdin ended were cut off unanswered, while what they did
(a memory stored) was done."""

from __future__ import annotations

import json
import subprocess
import sys

from test_mcp_stdio_hostile import INIT

NOTE = "Piped note: the staging cluster is called kestrel-42"


def test_requests_running_when_stdin_ends_are_answered_before_the_server_exits() -> None:
    requests = [
        INIT,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        *(
            {
                "jsonrpc": "2.0",
                "id": n,
                "method": "tools/call",
                "params": {"name": "store_memory", "arguments": {"content": f"{NOTE} ({n})"}},
            }
            for n in (2, 3, 4)
        ),
        {"jsonrpc": "2.0", "id": 5, "method": "ping"},
    ]
    done = subprocess.run(
        [sys.executable, "-m", "mahavishnu", "mcp", "serve"],
        input="".join(json.dumps(r) + "\n" for r in requests),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    answers = {json.loads(line)["id"]: json.loads(line) for line in done.stdout.splitlines()}
    assert sorted(answers) == [0, 2, 3, 4, 5], done.stdout
    assert all("result" in answers[n] and not answers[n]["result"].get("isError") for n in (2, 3, 4))
    assert "Traceback" not in done.stderr
