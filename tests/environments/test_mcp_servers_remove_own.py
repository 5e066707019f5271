"""``mcp-servers remove`` refuses a server Mahavishnu did not add unless ``--force`` (as ``add`` needs
``--replace`` to overwrite one), in every file or none; ``list`` warns once about an invalid file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from mahavishnu.cli import mcp_servers
from mahavishnu.cli.main import _Root
from mahavishnu.environments.mcp_servers import McpServer, add_server, list_servers, remove_server
from mahavishnu.errors import InvalidInputError

root = typer.Typer(cls=_Root, no_args_is_help=True, pretty_exceptions_enable=False)
root.add_typer(mcp_servers.app, name="mcp-servers")
runner = CliRunner()

USERS_OWN = '{\n  "mcpServers": {\n    "github": {"command": "my-github-mcp"}\n  }\n}\n'


def mv(*args: str) -> Any:
    return runner.invoke(root, list(args))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- 3. remove leaves the user's own server alone unless forced -----------------------------------


def test_remove_all_refuses_the_users_own_server_and_removes_nothing(isolated_home: Path) -> None:
    add_server(McpServer.stdio("docs", "npx", ["-y", "docs-mcp"]), "all")  # Mahavishnu's: no flag needed
    removed = mv("mcp-servers", "remove", "docs", "--tool", "all")
    assert removed.exit_code == 0 and removed.stdout.count("'docs' removed\n") == 5, removed.output

    claude = write(isolated_home / ".claude.json", USERS_OWN)
    gemini = write(isolated_home / ".gemini" / "settings.json", USERS_OWN)
    result = mv("mcp-servers", "remove", "github", "--tool", "all")
    assert result.exit_code == 2, result.output
    assert "did not add" in result.stderr and "--force" in result.stderr
    assert str(claude) in result.stderr and str(gemini) in result.stderr  # which files hold it
    assert claude.read_text() == USERS_OWN and gemini.read_text() == USERS_OWN

    dry = mv("mcp-servers", "remove", "github", "--tool", "all", "--dry-run")
    assert dry.exit_code == 2 and "did not add" in dry.stderr

    forced = mv("mcp-servers", "remove", "github", "--tool", "all", "--force")
    assert forced.exit_code == 0, forced.output
    assert forced.stdout.count("'github' removed") == 2
    for path in (claude, gemini):
        assert json.loads(path.read_text())["mcpServers"] == {}


def test_one_users_server_among_mahavishnus_stops_the_whole_removal(isolated_home: Path) -> None:
    add_server(McpServer.stdio("github", "gh-mcp"), "claude,codex")
    qwen = write(isolated_home / ".qwen" / "settings.json", USERS_OWN)
    claude_before = (isolated_home / ".claude.json").read_text()
    codex_before = (isolated_home / ".codex" / "config.toml").read_text()
    with pytest.raises(InvalidInputError) as refused:
        remove_server("github", "all")
    assert str(qwen) in refused.value.message
    assert ".claude.json" not in refused.value.message  # Mahavishnu's own entries are not named
    assert "--force" in (refused.value.hint or "")
    assert (isolated_home / ".claude.json").read_text() == claude_before
    assert (isolated_home / ".codex" / "config.toml").read_text() == codex_before
    assert qwen.read_text() == USERS_OWN

    changes = remove_server("github", "all", force=True).changes
    assert {c.tool: c.action for c in changes} == {
        "claude": "removed",
        "codex": "removed",
        "qwen": "removed",
        "gemini": "absent",
        "opencode": "absent",
    }
    assert {c.tool: c.reason for c in changes if c.action == "removed"}["qwen"].startswith(
        "Mahavishnu did not add it"
    )


# -- 4. one warning per invalid file ---------------------------------------------------------------


def test_list_warns_once_about_an_invalid_claude_json(isolated_home: Path) -> None:
    write(isolated_home / ".claude.json", '{"mcpServers": {\n')  # its user and local maps: one file
    found, warnings = list_servers("all")
    assert found == [] and len(warnings) == 1 and "invalid JSON" in warnings[0]
    result = mv("mcp-servers", "list")
    assert result.exit_code == 1
    assert result.stderr.count("invalid JSON") == 1, result.stderr
