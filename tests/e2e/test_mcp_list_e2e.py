"""The real assistant CLIs list the MCP servers that `mcp-servers add`/`sync` and `mcp install` registered.

Each CLI runs in the test's tmp HOME with an environment built from scratch, stdin /dev/null and a
timeout. `claude mcp list` and `qwen mcp list` connect to every server for a health check: the stdio
servers here are real commands that exit at once, the HTTP ones point at a closed loopback port, so
"Failed to connect" / "Disconnected" is expected; only the listing itself is checked.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from _cli_env import base_env, find_tool, run_tool
from typer.testing import CliRunner

from mahavishnu.cli import mcp, mcp_servers
from mahavishnu.cli.main import _Root

pytestmark = pytest.mark.e2e

CLOSED_PORT_URL = "http://127.0.0.1:9/mcp"  # discard port: nothing listens, connections fail fast
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: On top of the bare environment: no colours, and Claude Code contacts nothing of its own.
LIST_ENV = {"NO_COLOR": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}

root = typer.Typer(cls=_Root, pretty_exceptions_enable=False)
root.add_typer(mcp_servers.app, name="mcp-servers")
root.add_typer(mcp.app, name="mcp")
runner = CliRunner()


def needs(tool: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        find_tool(tool) is None, reason=f"{tool} CLI not installed: run `bash .ci/install-e2e.sh`"
    )


def run_cli(tool: str, args: list[str], home: Path, cwd: Path, timeout: float = 120) -> str:
    """Run the real CLI; its stdout and stderr without colours (it must exit 0)."""
    cli = find_tool(tool)
    assert cli is not None
    proc = run_tool([str(cli), *args], base_env(home, tool_env=LIST_ENV), cwd, timeout)
    output = ANSI.sub("", proc.stdout + proc.stderr)
    assert proc.returncode == 0, f"{tool} {' '.join(args)} exited {proc.returncode}:\n{output[-3000:]}"
    return output


def mv(*args: str) -> None:
    result = runner.invoke(root, list(args))
    assert result.exit_code == 0, result.output


def stdio_args(name: str) -> list[str]:
    """A stdio server whose command exists (it exits at once, so health checks fail quickly)."""
    return ["--command", sys.executable, "--arg", "-c", "--arg", f"print('{name}')"]


def listed_line(output: str, name: str) -> str:
    for line in output.splitlines():
        if re.match(rf"^\W*{re.escape(name)}: ", line.strip()):
            return line
    raise AssertionError(f"{name} not listed:\n{output}")


@pytest.fixture
def project(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = isolated_home / "work" / "repo"
    (path / ".git").mkdir(parents=True)
    monkeypatch.chdir(path)
    return path


@needs("claude")
def test_claude_lists_servers_at_every_scope(isolated_home: Path, project: Path) -> None:
    mv("mcp-servers", "add", "mv-user", "--tool", "claude", *stdio_args("user"), "-e", "LEVEL=debug")
    mv("mcp-servers", "add", "mv-http", "--tool", "claude", "--url", CLOSED_PORT_URL, "-H", "X-Team: blue")
    mv("mcp-servers", "add", "mv-local", "--tool", "claude", "--scope", "local", *stdio_args("local"))
    mv("mcp-servers", "add", "mv-project", "--tool", "claude", "--scope", "project", *stdio_args("project"))
    mv("mcp", "install", "--tool", "claude")

    output = run_cli("claude", ["mcp", "list"], isolated_home, project)
    for name in ("mv-user", "mv-http", "mv-local", "mv-project", "mahavishnu"):
        listed_line(output, name)
    assert CLOSED_PORT_URL in listed_line(output, "mv-http") and "(HTTP)" in listed_line(output, "mv-http")
    assert "mcp serve" in listed_line(output, "mahavishnu")

    scopes = {"mv-user": "User config", "mv-local": "Local config", "mv-project": "Project config"}
    for name, scope in scopes.items():
        details = run_cli("claude", ["mcp", "get", name], isolated_home, project)
        assert f"Scope: {scope}" in details, details
    assert "LEVEL=debug" in run_cli("claude", ["mcp", "get", "mv-user"], isolated_home, project)


@needs("codex")
def test_codex_mcp_list_json_shows_what_was_registered(isolated_home: Path, project: Path) -> None:
    mv("mcp-servers", "add", "mv-stdio", "--tool", "codex", *stdio_args("codex"), "-e", "LEVEL=debug")
    mv("mcp-servers", "add", "mv-http", "--tool", "claude", "--url", CLOSED_PORT_URL, "-H", "X-Team: blue")
    mv("mcp-servers", "sync", "mv-http", "--from", "claude", "--to", "codex")
    mv("mcp", "install", "--tool", "codex")

    output = run_cli("codex", ["mcp", "list", "--json"], isolated_home, project)
    servers: dict[str, Any] = {s["name"]: s for s in json.loads(output[output.index("[") :])}
    assert set(servers) == {"mv-stdio", "mv-http", "mahavishnu"}
    stdio = servers["mv-stdio"]["transport"]
    assert stdio["type"] == "stdio"
    assert [stdio["command"], *stdio["args"]] == [sys.executable, "-c", "print('codex')"]
    assert stdio["env"] == {"LEVEL": "debug"}
    http = servers["mv-http"]["transport"]
    assert http["type"] == "streamable_http"
    assert http["url"] == CLOSED_PORT_URL and http["http_headers"] == {"X-Team": "blue"}
    assert servers["mahavishnu"]["transport"]["args"][-2:] == ["mcp", "serve"]
    assert all(s["enabled"] for s in servers.values())


@needs("codex")
def test_codex_forwards_the_variables_a_server_was_given_by_reference(
    isolated_home: Path, project: Path
) -> None:
    """Codex expands no ${VAR}: `GITHUB_TOKEN=${GITHUB_TOKEN}` written as it is reached the server as
    those characters; it is now a variable Codex forwards, and a header's a variable it sends."""
    token = ["-e", "GITHUB_TOKEN=${GITHUB_TOKEN}", "-e", "LEVEL=debug"]
    mv("mcp-servers", "add", "mv-gh", "--tool", "codex", *stdio_args("codex"), *token)
    headers = ["-H", "Authorization: Bearer ${WEB_TOKEN}", "-H", "X-Team: ${TEAM}", "-H", "X-Plain: 1"]
    mv("mcp-servers", "add", "mv-web", "--tool", "codex", "--url", CLOSED_PORT_URL, *headers)

    output = run_cli("codex", ["mcp", "list", "--json"], isolated_home, project)
    servers: dict[str, Any] = {s["name"]: s["transport"] for s in json.loads(output[output.index("[") :])}
    assert (servers["mv-gh"]["env"], servers["mv-gh"]["env_vars"]) == ({"LEVEL": "debug"}, ["GITHUB_TOKEN"])
    web = servers["mv-web"]
    assert (web["bearer_token_env_var"], web["env_http_headers"]) == ("WEB_TOKEN", {"X-Team": "TEAM"})
    assert web["http_headers"] == {"X-Plain": "1"}


@needs("qwen")
def test_qwen_lists_stdio_http_and_sse_servers(isolated_home: Path, project: Path) -> None:
    mv("mcp-servers", "add", "mv-stdio", "--tool", "qwen", *stdio_args("qwen"))
    mv("mcp-servers", "add", "mv-http", "--tool", "qwen", "--url", CLOSED_PORT_URL)
    mv(
        "mcp-servers",
        "add",
        "mv-sse",
        "--tool",
        "qwen",
        "--url",
        "http://127.0.0.1:9/sse",
        "--transport",
        "sse",
    )
    mv("mcp-servers", "add", "mv-project", "--tool", "qwen", "--scope", "project", *stdio_args("project"))
    mv("mcp", "install", "--tool", "qwen")

    output = run_cli("qwen", ["mcp", "list"], isolated_home, project)
    assert "(stdio)" in listed_line(output, "mv-stdio")
    assert f"{CLOSED_PORT_URL} (http)" in listed_line(output, "mv-http")
    assert "(sse)" in listed_line(output, "mv-sse")
    assert "mcp serve" in listed_line(output, "mahavishnu")
    listed_line(output, "mv-project")


@needs("gemini")
def test_gemini_lists_stdio_http_and_sse_servers(isolated_home: Path, project: Path) -> None:
    mv("mcp-servers", "add", "mv-stdio", "--tool", "gemini", *stdio_args("gemini"))
    mv("mcp-servers", "add", "mv-http", "--tool", "claude", "--url", CLOSED_PORT_URL)
    mv("mcp-servers", "sync", "mv-http", "--from", "claude", "--to", "gemini")
    mv(
        "mcp-servers",
        "add",
        "mv-sse",
        "--tool",
        "gemini",
        "--url",
        "http://127.0.0.1:9/sse",
        "--transport",
        "sse",
    )
    mv("mcp-servers", "add", "mv-project", "--tool", "gemini", "--scope", "project", *stdio_args("project"))
    mv("mcp", "install", "--tool", "gemini")

    # Gemini lists every configured server, and marks them disabled in an untrusted folder.
    output = run_cli("gemini", ["mcp", "list"], isolated_home, project)
    assert "(stdio)" in listed_line(output, "mv-stdio")
    assert f"{CLOSED_PORT_URL} (http)" in listed_line(output, "mv-http")
    assert "(sse)" in listed_line(output, "mv-sse")
    assert "mcp serve" in listed_line(output, "mahavishnu")
    listed_line(output, "mv-project")


@needs("opencode")
def test_opencode_mcp_list_shows_what_was_registered(isolated_home: Path, project: Path) -> None:
    config = isolated_home / ".config" / "opencode" / "opencode.json"
    config.parent.mkdir(parents=True)
    config.write_text('{\n  // mine\n  "share": "disabled",\n}\n')
    mv("mcp-servers", "add", "mv-stdio", "--tool", "opencode", *stdio_args("opencode"), "-e", "LEVEL=debug")
    mv("mcp-servers", "add", "mv-http", "--tool", "opencode", "--url", CLOSED_PORT_URL, "-H", "X-Team: blue")
    mv("mcp", "install", "--tool", "opencode")

    # `opencode mcp list` connects to each: ours answers (the others exit at once or are not there)
    output = run_cli("opencode", ["mcp", "list"], isolated_home, project)
    listed = {m[1]: m[0] for m in re.findall(r"([✓✗○⚠]) (\S+) ", output)}
    assert listed == {"mv-stdio": "✗", "mv-http": "✗", "mahavishnu": "✓"}, output
    assert f"{sys.executable} -c print('opencode')" in output and CLOSED_PORT_URL in output
    assert "mcp serve" in output.split("mahavishnu connected")[1]
    text = config.read_text()
    # (OpenCode adds a "$schema" line to the file when it runs: not ours)
    assert '  // mine\n  "share": "disabled",' in text and '"LEVEL": "debug"' in text
