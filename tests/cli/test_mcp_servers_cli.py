"""``mahavishnu mcp-servers …`` and ``mcp install`` through a root app with main.py's error handler."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from mahavishnu.cli import mcp, mcp_servers
from mahavishnu.cli.main import _Root
from mahavishnu.files.json_document import JsonDocument

root = typer.Typer(cls=_Root, no_args_is_help=True, pretty_exceptions_enable=False)
root.add_typer(mcp_servers.app, name="mcp-servers")
root.add_typer(mcp.app, name="mcp")

runner = CliRunner()
SECRET = "sk-cli-secret-0123456789abcdef"


def mv(*args: str) -> Any:
    return runner.invoke(root, list(args))


def ok(*args: str) -> Any:
    result = mv(*args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def project(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = isolated_home / "work" / "repo"
    (path / ".git").mkdir(parents=True)
    monkeypatch.chdir(path)
    return path


def _walk(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, command)]
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            found += _walk(sub, (*path, name))
    return found


def test_every_command_and_option_has_help() -> None:
    commands = _walk(get_command(root))
    names = {" ".join(path) for path, _ in commands}
    assert {
        "mcp-servers list",
        "mcp-servers add",
        "mcp-servers remove",
        "mcp-servers sync",
        "mcp install",
    } <= names
    for path, command in commands[1:]:
        assert (command.help or "").strip(), f"{' '.join(path)} has no help"
        for param in command.params:
            if param.param_type_name == "option":
                assert (param.help or "").strip(), f"{' '.join(path)} {param.name} has no help"
        assert mv(*path, "--help").exit_code == 0


def test_the_help_names_every_assistant_it_writes() -> None:
    """Each assistant ``--tool all`` writes, by the name its page uses, in the group's help."""
    from mahavishnu.environments.mcp_servers import TOOLS
    from mahavishnu.environments.switcher import LABELS

    group = get_command(root).commands["mcp-servers"]  # type: ignore[attr-defined]
    missing = [LABELS[tool] for tool in TOOLS if LABELS[tool] not in (group.help or "")]
    assert missing == []


def test_add_with_options_then_list_and_remove(isolated_home: Path, project: Path) -> None:
    ok(
        "mcp-servers",
        "add",
        "files",
        "--tool",
        "claude,codex",
        "--command",
        "npx",
        "--arg",
        "-y",
        "--arg",
        "@acme/files",
        "-e",
        f"ACME_TOKEN={SECRET}",
        "-e",
        "LEVEL=debug",
    )
    codex = tomllib.loads((isolated_home / ".codex" / "config.toml").read_text())
    assert codex["mcp_servers"]["files"] == {
        "command": "npx",
        "args": ["-y", "@acme/files"],
        "env": {"ACME_TOKEN": SECRET, "LEVEL": "debug"},
    }

    listing = json.loads(ok("mcp-servers", "list", "--json").stdout)
    assert [(r["tool"], r["scope"], r["name"], r["managed"]) for r in listing] == [
        ("claude", "user", "files", True),
        ("codex", "user", "files", True),
    ]
    assert SECRET not in json.dumps(listing)
    assert listing[0]["env"]["LEVEL"] == "debug"
    table = ok("mcp-servers", "list", "--tool", "codex").stdout
    assert "files" in table and "mahavishnu" in table and "claude" not in table
    assert SECRET not in table

    out = ok("mcp-servers", "remove", "files", "--tool", "codex").stdout
    assert "'files' removed" in out
    assert "files" not in tomllib.loads((isolated_home / ".codex" / "config.toml").read_text()).get(
        "mcp_servers", {}
    )
    assert [r["tool"] for r in json.loads(ok("mcp-servers", "list", "--json").stdout)] == ["claude"]


def test_add_with_the_command_after_double_dash(isolated_home: Path) -> None:
    ok("mcp-servers", "add", "py", "--tool", "gemini", "--", "python3", "-m", "server", "--port", "0")
    entry = json.loads((isolated_home / ".gemini" / "settings.json").read_text())["mcpServers"]["py"]
    assert entry == {"command": "python3", "args": ["-m", "server", "--port", "0"]}


def test_add_remote_server_with_header(isolated_home: Path) -> None:
    ok(
        "mcp-servers",
        "add",
        "remote",
        "--tool",
        "qwen",
        "--url",
        "https://mcp.example.org/sse",
        "--transport",
        "sse",
        "-H",
        f"Authorization: Bearer {SECRET}",
    )
    entry = JsonDocument.parse((isolated_home / ".qwen" / "settings.json").read_text()).data["mcpServers"]
    assert entry == {
        "remote": {"url": "https://mcp.example.org/sse", "headers": {"Authorization": f"Bearer {SECRET}"}}
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x", "--tool", "claude"], "exactly one of --command"),
        (["x", "--tool", "claude", "--command", "a", "--url", "https://h/mcp"], "exactly one of --command"),
        (["x", "--tool", "claude", "--command", "a", "-e", "NOVALUE"], "invalid --env"),
        (["x", "--tool", "claude", "--url", "https://h/mcp", "-H", "nocolon"], "invalid --header"),
        (["x", "--tool", "claude", "--url", "https://h/mcp", "--arg", "a"], "go with --command"),
        (["x", "--tool", "claude", "--command", "a", "-H", "A: b"], "go with --url"),
        (["x", "--tool", "cursor", "--command", "a"], "unknown tool 'cursor'"),
        (["x", "--tool", "claude", "--scope", "global", "--command", "a"], "unknown scope 'global'"),
        (["x", "--tool", "codex", "--url", "https://h/sse", "--transport", "sse"], "codex cannot use an SSE"),
        (["x.y", "--tool", "claude", "--command", "a"], "invalid MCP server name"),
    ],
)
def test_bad_input_is_exit_code_2_with_a_message(args: list[str], message: str, isolated_home: Path) -> None:
    result = mv("mcp-servers", "add", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "hint: " in result.output
    assert not (isolated_home / ".claude.json").exists()


def test_dry_run_prints_masked_diffs_and_writes_nothing(isolated_home: Path) -> None:
    result = ok(
        "mcp-servers",
        "add",
        "remote",
        "--tool",
        "all",
        "--url",
        "https://h.example/mcp",
        "-H",
        f"Authorization: Bearer {SECRET}",
        "--dry-run",
    )
    assert result.stdout.count("+++ ") == 5
    assert '"remote"' in result.stdout and "[mcp_servers.remote]" in result.stdout
    assert SECRET not in result.output
    assert not any(p.name in {".claude.json", ".codex", ".qwen", ".gemini"} for p in isolated_home.iterdir())


def test_sync_copies_to_all_without_touching_others(isolated_home: Path) -> None:
    gemini = isolated_home / ".gemini" / "settings.json"
    gemini.parent.mkdir()
    gemini.write_text('{\n  "mcpServers": {\n    "keep": {"command": "keep-me"}\n  }\n}\n')
    ok("mcp-servers", "add", "shared", "--tool", "claude", "--command", "shared-mcp")
    out = ok("mcp-servers", "sync", "shared", "--from", "claude", "--to", "all").stdout
    assert out.count("'shared' added") == 4
    assert json.loads(gemini.read_text())["mcpServers"] == {
        "keep": {"command": "keep-me"},
        "shared": {"command": "shared-mcp"},
    }
    listing = {
        (r["tool"], r["name"]): r["managed"] for r in json.loads(ok("mcp-servers", "list", "--json").stdout)
    }
    assert listing[("gemini", "keep")] is False and listing[("gemini", "shared")] is True


def test_a_conflict_and_a_missing_server_are_errors(isolated_home: Path) -> None:
    claude_json = isolated_home / ".claude.json"
    claude_json.write_text('{"mcpServers": {"theirs": {"type": "stdio", "command": "a"}}}')
    result = mv("mcp-servers", "add", "theirs", "--tool", "claude", "--command", "b")
    assert result.exit_code == 2 and "did not add" in result.output and "--replace" in result.output
    ok("mcp-servers", "add", "theirs", "--tool", "claude", "--command", "b", "--replace")
    assert json.loads(claude_json.read_text())["mcpServers"]["theirs"]["command"] == "b"

    missing = mv("mcp-servers", "remove", "ghost", "--tool", "claude")
    assert missing.exit_code == 1 and "no MCP server 'ghost'" in missing.output
    assert "hint: List them with `mahavishnu mcp-servers list`" in missing.output
    not_found = mv("mcp-servers", "sync", "ghost", "--from", "codex", "--to", "claude")
    assert not_found.exit_code == 1 and "codex has no MCP server 'ghost'" in not_found.output


def test_invalid_file_is_reported_with_its_line_and_nothing_is_written(isolated_home: Path) -> None:
    claude_json = isolated_home / ".claude.json"
    claude_json.write_text('{\n  "numStartups": 1,\n  "projects": {\n}\n')
    result = mv("mcp-servers", "add", "x", "--tool", "all", "--command", "x")
    assert result.exit_code == 1
    assert "invalid JSON in" in result.output and "line 5" in result.output
    assert "nothing was written" in result.output
    assert not (isolated_home / ".codex").exists()
    warned = mv("mcp-servers", "list", "--tool", "claude")
    assert warned.exit_code == 1 and "invalid JSON" in warned.output


def test_mcp_install_registers_the_server_once(isolated_home: Path) -> None:
    dry = ok("mcp", "install", "--tool", "claude", "--dry-run").stdout
    assert "mcp" in dry and "serve" in dry and not (isolated_home / ".claude.json").exists()
    first = ok("mcp", "install", "--tool", "all").stdout
    assert first.count("registered (added)") == 5
    again = ok("mcp", "install", "--tool", "all").stdout
    assert again.count("already registered") == 5
    entry = json.loads((isolated_home / ".claude.json").read_text())["mcpServers"]["mahavishnu"]
    assert entry["type"] == "stdio" and entry["args"][-2:] == ["mcp", "serve"]
    data = json.loads(ok("mcp", "install", "--tool", "codex", "--json").stdout)
    assert data["changes"][0]["action"] == "unchanged"


def test_mcp_install_local_scope_is_claude_only(isolated_home: Path, project: Path) -> None:
    result = mv("mcp", "install", "--tool", "codex", "--scope", "local")
    assert result.exit_code == 2 and "codex keeps no MCP servers at local scope" in result.output
    out = ok("mcp", "install", "--tool", "all", "--scope", "local")
    assert "skipped" in out.output
    saved = json.loads((isolated_home / ".claude.json").read_text())
    assert "mahavishnu" in saved["projects"][str(project)]["mcpServers"]


def test_list_exits_1_when_a_file_is_unreadable_and_still_lists_the_others(isolated_home: Path) -> None:
    ok("mcp-servers", "add", "files", "--tool", "codex", "--command", "npx")
    (isolated_home / ".claude.json").write_text('{\n  "mcpServers": {\n}\n')
    table = mv("mcp-servers", "list")
    assert table.exit_code == 1, table.output
    assert "invalid JSON" in table.output and "files" in table.stdout
    listing = mv("mcp-servers", "list", "--json")
    assert listing.exit_code == 1
    assert [(r["tool"], r["name"]) for r in json.loads(listing.stdout)] == [("codex", "files")]


def test_an_entry_changed_by_hand_needs_replace(isolated_home: Path) -> None:
    ok("mcp-servers", "add", "docs", "--tool", "codex", "--command", "npx", "--arg", "docs-mcp")
    config = isolated_home / ".codex" / "config.toml"
    config.write_text('[mcp_servers.docs]\ncommand = "my-docs"\n')
    assert "changed by hand" in ok("mcp-servers", "list", "--tool", "codex").stdout
    result = mv("mcp-servers", "add", "docs", "--tool", "codex", "--command", "npx", "--arg", "docs-mcp")
    assert result.exit_code == 2 and "did not add" in result.output and "--replace" in result.output
    assert config.read_text() == '[mcp_servers.docs]\ncommand = "my-docs"\n'
    removed = ok("mcp-servers", "remove", "docs", "--tool", "codex").stdout
    assert "'docs' removed (Mahavishnu added it; it was changed by hand since)" in removed
