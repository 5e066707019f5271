"""Who can reach the MCP server and what its tools may read (issue 14, item 2): the bearer token by
default on HTTP (loopback too), case-insensitive scheme, ``--no-auth`` warned, ``mcp install --http``
writing the token into each assistant's entry, a busy port failing before "serving", allowed roots."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
import yaml
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from mahavishnu import mcp_server
from mahavishnu.config import load_settings
from mahavishnu.environments.mcp_access import bearer_token
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.paths import user_settings_file

PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAACanaryKeyMaterial\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(*args: str) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mahavishnu", "mcp", "serve", "--http", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    return proc, url


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc, url = _serve(*getattr(request, "param", ()))
    try:
        yield proc, url
    finally:
        proc.terminate()
        proc.wait(10)


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


def _post(url: str, authorization: str | None = None) -> int:
    headers = {**ACCEPT, **({"Authorization": authorization} if authorization else {})}
    return httpx.post(url, json=INITIALIZE, headers=headers, timeout=10).status_code


def test_loopback_http_requires_the_token_by_default_in_any_scheme_case(
    served: tuple[subprocess.Popen[str], str],
) -> None:
    proc, url = served
    assert proc.poll() is None
    token = bearer_token(create=False)
    assert token, "the server generated and stored its token"
    assert _post(url) == 401
    assert _post(url, "Bearer wrong-token") == 401
    assert _post(url, f"Basic {token}") == 401
    for scheme in ("Bearer", "bearer", "BEARER"):
        assert _post(url, f"{scheme} {token}") == 200, scheme


@pytest.mark.parametrize("served", [("--no-auth",)], indirect=True)
def test_no_auth_is_an_explicit_warned_opt_out(served: tuple[subprocess.Popen[str], str]) -> None:
    proc, url = served
    assert _post(url) == 200
    proc.terminate()
    _, err = proc.communicate(timeout=10)
    assert "WARNING: --no-auth" in err


def test_off_loopback_the_token_is_required_and_the_address_warned(isolated_home: Path) -> None:
    proc, url = _serve("--host", "0.0.0.0")
    try:
        assert _post(url) == 401
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "WARNING: serving on 0.0.0.0" in err


def test_a_busy_port_fails_in_one_line_before_serving_is_printed() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "mahavishnu", "mcp", "serve", "--http", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode != 0
    assert "serving" not in proc.stderr and "Traceback" not in proc.stderr
    assert f"error: cannot serve on 127.0.0.1:{port}" in proc.stderr


def test_mcp_install_http_writes_the_token_and_the_assistant_entry_reaches_the_server(
    isolated_home: Path,
) -> None:
    port = _free_port()
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mahavishnu",
            "mcp",
            "install",
            "--tool",
            "all",
            "--http",
            "--port",
            str(port),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    token = bearer_token(create=False)
    assert token and token not in installed.stdout + installed.stderr
    entry = json.loads((isolated_home / ".claude.json").read_text())["mcpServers"]["mahavishnu"]
    assert entry["url"] == f"http://127.0.0.1:{port}/mcp"
    assert entry["headers"] == {"Authorization": f"Bearer {token}"}
    for other in (".qwen/settings.json", ".gemini/settings.json", ".codex/config.toml"):
        assert f"Bearer {token}" in (isolated_home / other).read_text(), other

    proc = subprocess.Popen(
        [sys.executable, "-m", "mahavishnu", "mcp", "serve", "--http", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(entry["url"], timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)

        async def call() -> CallToolResult:
            client = httpx2.AsyncClient(headers=entry["headers"], timeout=30)
            async with Client(streamable_http_client(entry["url"], http_client=client)) as session:
                return await session.call_tool("list_llms", {})

        assert not anyio.run(call).is_error
    finally:
        proc.terminate()
        proc.wait(10)


# -- allowed roots -------------------------------------------------------------------------------


@pytest.fixture
def backing() -> Iterator[mcp_server.Backing]:
    backing = mcp_server.Backing(store=lambda: MemoryStore.open(load_settings(), embedder=FakeEmbedder()))
    yield backing
    backing.close()


def _call(backing: mcp_server.Backing, calls: list[tuple[str, dict[str, Any]]]) -> list[CallToolResult]:
    async def go() -> list[CallToolResult]:
        async with Client(mcp_server.build_server(backing)) as client:
            return [await client.call_tool(name, args) for name, args in calls]

    return anyio.run(go)


def _text(result: CallToolResult) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


@pytest.fixture
def home_with_a_key(isolated_home: Path) -> Path:
    ssh = isolated_home / ".ssh"
    ssh.mkdir()
    (ssh / "id_ed25519").write_text(PRIVATE_KEY)
    (ssh / "notes.md").write_text(PRIVATE_KEY)
    (isolated_home / "work").mkdir()
    (isolated_home / "work" / "main.py").write_text("def main():\n    return 'PRIVATE KEY handling'\n")
    return isolated_home


def test_file_reading_tools_refuse_secret_dirs_mahavishnu_home_and_paths_outside_home(
    backing: mcp_server.Backing, home_with_a_key: Path, tmp_path: Path
) -> None:
    own = home_with_a_key / ".mahavishnu"
    own.mkdir(exist_ok=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    sneaky = home_with_a_key / "work" / "keys"
    sneaky.symlink_to(home_with_a_key / ".ssh")
    results = _call(
        backing,
        [
            ("ingest_repository", {"path": str(home_with_a_key / ".ssh")}),
            ("ingest_repository", {"path": "~/.ssh"}),
            ("ingest_repository", {"path": str(sneaky)}),
            ("ingest_repository", {"path": str(own)}),
            ("ingest_repository", {"path": str(outside)}),
            ("import_transcript", {"path": str(home_with_a_key / ".ssh" / "notes.md")}),
        ],
    )
    assert all(r.is_error for r in results), [_text(r) for r in results]
    assert "may not read it" in _text(results[0]) and "may not read it" in _text(results[2])
    assert "outside the folders MCP tools may read" in _text(results[4])


def test_ingesting_home_then_querying_for_a_key_finds_none(
    backing: mcp_server.Backing, home_with_a_key: Path
) -> None:
    ingested, found = _call(
        backing,
        [
            ("ingest_repository", {"path": str(home_with_a_key), "include": ["*"]}),
            ("query_knowledge_base", {"query": "PRIVATE KEY", "mode": "text"}),
        ],
    )
    assert not ingested.is_error, _text(ingested)
    assert not found.is_error
    assert "CanaryKeyMaterial" not in _text(found)
    assert "work/main.py" in _text(found)  # the search works; the key was never stored


def test_allowed_roots_is_a_setting(backing: mcp_server.Backing, tmp_path: Path) -> None:
    elsewhere = tmp_path / "src"
    elsewhere.mkdir()
    (elsewhere / "a.py").write_text("x = 1\n")
    refused, _ = _call(backing, [("ingest_repository", {"path": str(elsewhere)}), ("list_llms", {})])
    assert refused.is_error
    settings_file = user_settings_file()
    settings_file.parent.mkdir(parents=True, exist_ok=True)
    settings_file.write_text(yaml.safe_dump({"mcp": {"allowed_roots": [str(tmp_path)]}}))
    (taken,) = _call(backing, [("ingest_repository", {"path": str(elsewhere)})])
    assert not taken.is_error, _text(taken)


def test_the_services_mcp_health_check_sends_the_token(served: tuple[subprocess.Popen[str], str]) -> None:
    from mahavishnu.config import HealthCheckSettings
    from mahavishnu.environments.mcp_access import TOKEN_SECRET
    from mahavishnu.services.definitions import all_services
    from mahavishnu.services.health import check

    _, url = served
    without = check(HealthCheckSettings(mcp=url))
    assert not without.ok and "401" in without.detail
    assert check(HealthCheckSettings(mcp=url, bearer_secret=TOKEN_SECRET)).ok
    assert all_services(load_settings())["mahavishnu-mcp"].health.bearer_secret == TOKEN_SECRET


def test_an_ipv6_host_is_warned_in_brackets(capsys: pytest.CaptureFixture[str]) -> None:
    from mahavishnu.cli.mcp import _check_host

    _check_host("::", no_auth=False)
    assert "WARNING: serving on [::]: other machines can reach it" in capsys.readouterr().err
