"""Both local servers raise their soft limit of open files to the hard one as they start: neither
closes a connection that never sends a request, and under a soft 1024 a local user holding that many
idle ones left no descriptor for the user's own requests, which hung."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
import uvicorn

resource = pytest.importorskip("resource")  # (POSIX only)

RAISED = """
import json, resource
from mahavishnu.loopback import raise_open_files_limit
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
raise_open_files_limit()
print(json.dumps([hard, resource.getrlimit(resource.RLIMIT_NOFILE)]))
"""


def test_the_soft_limit_is_raised_to_the_hard_one() -> None:
    """In a child process: the test's own limits stay as they are."""
    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] <= 64:
        pytest.skip("the hard limit of open files is 64 or less here")
    done = subprocess.run([sys.executable, "-c", RAISED], capture_output=True, text=True, check=True)
    hard, (soft_after, hard_after) = json.loads(done.stdout)
    expected = 10_240 if hard == resource.RLIM_INFINITY else hard  # (macOS refuses infinity)
    assert (soft_after, hard_after) == (expected, hard)


def test_both_servers_raise_it_as_they_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from mahavishnu import loopback, mcp_server
    from mahavishnu.ui import server

    raised: list[str] = []
    monkeypatch.setattr(loopback, "raise_open_files_limit", lambda: raised.append("dashboard"))
    monkeypatch.setattr(mcp_server, "raise_open_files_limit", lambda: raised.append("mcp"))
    monkeypatch.setattr(mcp_server, "scrub_sdk_logs", lambda: None)  # (the test process's logging)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: None)
    with socket.socket() as unused:  # (uvicorn's run, which would serve on it, is stubbed)
        server._serve(unused, "t0ken", "http://127.0.0.1:8690/login", open_browser=False, announce=print)
    mcp_server.serve_http(mcp_server.build_server(), host="127.0.0.1", port=0, token="t0ken")
    assert raised == ["dashboard", "mcp"]
