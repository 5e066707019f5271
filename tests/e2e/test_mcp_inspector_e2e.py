"""The MCP Inspector's CLI mode (``@modelcontextprotocol/inspector --cli``, installed by
.ci/install-e2e.sh) lists and calls tools of ``mahavishnu mcp serve`` over stdio and over HTTP.

The Inspector passes only a minimal environment to the server it spawns, so the test's HOME,
MAHAVISHNU_HOME and keyring backend go in with ``-e``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _cli_env import base_env, find_tool, run_tool

pytestmark = pytest.mark.e2e

INSPECTOR = find_tool("mcp-inspector")
needs_inspector = pytest.mark.skipif(INSPECTOR is None, reason="run .ci/install-e2e.sh for the MCP Inspector")
PASSED_ENV = ("HOME", "MAHAVISHNU_HOME", "XDG_DATA_HOME", "PYTHON_KEYRING_BACKEND")


def mahavishnu_argv() -> list[str]:
    beside = Path(sys.executable).parent / "mahavishnu"
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "mahavishnu"]


def inspector(home: Path, *args: str, server: list[str] | None = None) -> Any:
    env_flags = [flag for name in PASSED_ENV for flag in ("-e", f"{name}={os.environ[name]}")]
    argv = [str(INSPECTOR), "--cli", *(env_flags if server else []), *(server or []), *args]
    proc = run_tool(argv, base_env(home), home, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout[proc.stdout.index("{") :])


def stdio_server() -> list[str]:
    return [*mahavishnu_argv(), "mcp", "serve"]


@needs_inspector
def test_inspector_lists_tools_over_stdio(isolated_home: Path) -> None:
    listed = inspector(isolated_home, "--method", "tools/list", server=stdio_server())
    tools = {t["name"]: t for t in listed["tools"]}
    assert {"list_llms", "switch_llm", "store_memory", "search_memory", "health_check"} <= set(tools)
    assert tools["switch_llm"]["annotations"]["destructiveHint"] is True
    assert tools["store_memory"]["inputSchema"]["required"] == ["content"]


@needs_inspector
def test_inspector_calls_tools_over_stdio(isolated_home: Path) -> None:
    stored = inspector(
        isolated_home,
        *("--method", "tools/call", "--tool-name", "store_memory"),
        *("--tool-arg", "content=Inspector was here", "--tool-arg", 'tags=["e2e"]'),
        server=stdio_server(),
    )
    assert stored["isError"] is False
    assert stored["structuredContent"]["tags"] == ["e2e"]
    missing = inspector(
        isolated_home,
        *("--method", "tools/call", "--tool-name", "get_memory", "--tool-arg", "memory_id=4242"),
        server=stdio_server(),
    )
    assert missing["isError"] is True and "no memory #4242" in missing["content"][0]["text"]


@pytest.fixture
def http_endpoint() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [*mahavishnu_argv(), "mcp", "serve", "--http", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@needs_inspector
def test_inspector_lists_and_calls_tools_over_http(isolated_home: Path, http_endpoint: str) -> None:
    target = (http_endpoint, "--transport", "http")
    listed = inspector(isolated_home, *target, "--method", "tools/list")
    assert "service_status" in {t["name"] for t in listed["tools"]}
    called = inspector(isolated_home, *target, "--method", "tools/call", "--tool-name", "list_llms")
    assert called["isError"] is False
    assert "anthropic" in {p["name"] for p in called["structuredContent"]["result"]}
