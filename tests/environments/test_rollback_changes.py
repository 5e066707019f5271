"""`ai rollback` undoes the most recent change Mahavishnu recorded, whatever it was (an `mcp-servers`
edit over several assistants' files, not only a `switch-llm`), as one group; `--to` puts back any
backup `ai backups` lists; and Claude Code's state file `~/.claude.json` gets back only its MCP
servers, every key Claude wrote there since staying as it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.files import safe_write

runner = CliRunner()
SETTINGS = '{\n  "model": "opus"\n}\n'
CLAUDE_STATE = '{\n  "numStartups": 3,\n  "projects": {}\n}\n'
CODEX = 'model = "gpt-5.5"  # mine\n'
QWEN = '{\n  // mine\n  "ui": {"theme": "GitHub"}\n}\n'


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _files(home: Path) -> dict[str, str | None]:
    names = [".claude/settings.json", ".claude.json", ".codex/config.toml", ".qwen/settings.json"]
    names.append(".gemini/settings.json")
    return {n: (home / n).read_text() if (home / n).exists() else None for n in names}


def _backup_ids(path: Path) -> list[str]:
    listed = json.loads(_run("ai", "backups", "--file", str(path), "--json"))
    return [b["id"] for b in listed["backups"]]


def _as_claude_would(path: Path, **keys: object) -> dict[str, object]:
    """Claude Code rewriting its state file after the change: new keys of its own."""
    data = json.loads(path.read_text())
    data.update(keys)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return data


def test_a_plain_rollback_undoes_the_mcp_change_not_an_older_settings_edit(isolated_home: Path) -> None:
    settings = _write(isolated_home / ".claude" / "settings.json", SETTINGS)
    _write(isolated_home / ".codex" / "config.toml", CODEX)
    _write(isolated_home / ".qwen" / "settings.json", QWEN)
    _run("claude", "hooks", "add", "Stop", "--command", "say done")
    hooked = settings.read_text()
    before = _files(isolated_home)
    _run("mcp-servers", "add", "docs", "--command", "npx", "--tool", "all")
    added = _files(isolated_home)
    assert all("docs" in str(added[n]) for n in added if n != ".claude/settings.json")

    out = _run("ai", "rollback")
    assert "undid the change of" in out and "mcp-servers add docs" in out
    assert settings.read_text() == hooked  # the older Stop hook stays
    after = _files(isolated_home)
    assert after[".codex/config.toml"] == CODEX and after[".qwen/settings.json"] == QWEN  # byte for byte
    assert after == before  # gemini's file and ~/.claude.json, created by the change, are gone

    again = runner.invoke(app, ["ai", "rollback"])  # a stack, like undo: nothing older was recorded
    assert again.exit_code == 1 and "nothing left to undo" in again.output
    assert _files(isolated_home) == before  # the rollback itself is not undone


def test_a_plain_rollback_with_no_settings_backup_at_all(isolated_home: Path) -> None:
    """No settings.json was ever written: the MCP change is still what is undone."""
    _run("mcp-servers", "add", "docs", "--command", "npx", "--tool", "all")
    out = _run("ai", "rollback")
    assert "mcp-servers add docs" in out
    assert all(text is None or "docs" not in text for text in _files(isolated_home).values())


def test_rollback_tool_undoes_the_last_change_that_involved_that_assistant(isolated_home: Path) -> None:
    _write(isolated_home / ".codex" / "config.toml", CODEX)
    _run("mcp-servers", "add", "docs", "--command", "npx", "--tool", "codex")
    _run("mcp-servers", "add", "other", "--command", "npx", "--tool", "qwen")
    out = _run("ai", "rollback", "--tool", "codex")
    assert "mcp-servers add docs" in out
    assert (isolated_home / ".codex" / "config.toml").read_text() == CODEX
    assert "other" in (isolated_home / ".qwen" / "settings.json").read_text()


def test_backups_lists_changes_with_their_command_and_kind(isolated_home: Path) -> None:
    _run("mcp-servers", "add", "docs", "--command", "npx", "--tool", "claude,codex")
    [change] = json.loads(_run("ai", "backups", "--json"))["switches"]
    assert change["kind"] == "change" and change["profile"] == "mcp-servers add docs"
    assert change["tools"] == ["claude", "codex"]
    assert "mcp-servers add docs" in _run("ai", "backups")


def test_rollback_to_a_backup_of_claude_json(isolated_home: Path) -> None:
    state = _write(isolated_home / ".claude.json", CLAUDE_STATE)
    _run("mcp-servers", "add", "docs", "--command", "npx", "--tool", "claude")
    [backup] = _backup_ids(state)
    out = _run("ai", "rollback", "--to", backup)
    assert f"putting back the backup {backup} of {state}" in out
    assert state.read_text() == CLAUDE_STATE

    _run("mcp-servers", "add", "docs", "--command", "npx", "--tool", "claude")
    _run("ai", "rollback", "--to", backup, "--tool", "claude")  # the id says which file, --tool or not
    assert state.read_text() == CLAUDE_STATE


def test_a_group_rollback_keeps_what_claude_wrote_into_its_state_file_since(isolated_home: Path) -> None:
    state = _write(isolated_home / ".claude.json", CLAUDE_STATE)
    _run("mcp-servers", "add", "docs", "--command", "npx", "--tool", "all")
    [backup] = _backup_ids(state)
    now = _as_claude_would(
        state,
        numStartups=4,
        userID="f00d",
        firstStartTime="2026-01-01T00:00:00.000Z",
        projects={"/src/api": {"allowedTools": [], "hasTrustDialogAccepted": True}},
    )
    out = _run("ai", "rollback", "--to", backup)
    assert "Claude Code's own state in it kept as it is" in out
    assert json.loads(state.read_text()) == {k: v for k, v in now.items() if k != "mcpServers"}
    assert not (isolated_home / ".gemini" / "settings.json").exists()  # the group's other files too


def test_a_plain_rollback_takes_out_only_the_servers_the_change_added(isolated_home: Path) -> None:
    state = _write(isolated_home / ".claude.json", CLAUDE_STATE)
    _run("mcp-servers", "add", "docs", "--command", "npx", "--tool", "claude,codex")
    data = _as_claude_would(state, numStartups=9, userID="f00d")
    data["mcpServers"]["theirs"] = {
        "type": "stdio",
        "command": "uvx",
        "args": [],
        "env": {},
    }  # `claude mcp add`
    state.write_text(json.dumps(data, indent=2) + "\n")
    _run("ai", "rollback")
    kept = json.loads(state.read_text())
    assert kept["numStartups"] == 9 and kept["userID"] == "f00d"
    assert list(kept["mcpServers"]) == ["theirs"]


def test_local_scope_servers_go_and_the_project_entry_claude_filled_stays(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = isolated_home / "src" / "app"
    (project / ".git").mkdir(parents=True)
    monkeypatch.chdir(project)
    state = _write(isolated_home / ".claude.json", CLAUDE_STATE)
    _run("mcp-servers", "add", "docs", "--command", "npx", "--tool", "claude", "--scope", "local")
    data = json.loads(state.read_text())
    data["projects"][str(project)]["lastCost"] = 0.5  # Claude's own, in the entry Mahavishnu created
    data["numStartups"] = 4
    state.write_text(json.dumps(data, indent=2) + "\n")
    _run("ai", "rollback")
    kept = json.loads(state.read_text())
    assert kept["numStartups"] == 4
    assert "mcpServers" not in kept["projects"][str(project)]
    assert kept["projects"][str(project)]["lastCost"] == 0.5

    pristine = _write(isolated_home / ".claude.json", CLAUDE_STATE)  # not run since: the entry goes
    _run("mcp-servers", "add", "docs", "--command", "npx", "--tool", "claude", "--scope", "local")
    _run("ai", "rollback")
    assert pristine.read_text() == CLAUDE_STATE


def test_a_server_changed_since_is_left_and_said(isolated_home: Path) -> None:
    state = _write(isolated_home / ".claude.json", CLAUDE_STATE)
    _run("mcp-servers", "add", "docs", "--command", "npx", "--tool", "claude")
    data = json.loads(state.read_text())
    data["mcpServers"]["docs"]["args"] = ["-y", "@acme/docs"]  # edited by hand since
    state.write_text(json.dumps(data, indent=2) + "\n")
    result = runner.invoke(app, ["ai", "rollback"])
    assert result.exit_code == 0, result.output
    assert "MCP server 'docs' had changed since: left as it is" in " ".join(result.stderr.split())
    assert json.loads(state.read_text()) == data


def test_an_unreadable_state_file_stops_a_group_rollback_before_any_write(isolated_home: Path) -> None:
    state = _write(isolated_home / ".claude.json", CLAUDE_STATE)
    _write(isolated_home / ".codex" / "config.toml", CODEX)
    _run("mcp-servers", "add", "docs", "--command", "npx", "--tool", "claude,codex")
    state.write_text('{"numStartups": 4, ')  # broken meanwhile
    files = _files(isolated_home)
    result = runner.invoke(app, ["ai", "rollback"])
    assert result.exit_code != 0
    assert f"cannot roll back {state}" in " ".join(result.output.split())
    assert _files(isolated_home) == files  # the codex file was not rolled back alone either
    [backup] = _backup_ids(state)  # the one the change took (none for the failed try: nothing written)
    _run("ai", "rollback", "--to", backup)  # named explicitly: the whole backup goes back
    assert state.read_text() == CLAUDE_STATE


def _unrecorded_write(path: Path, text: str) -> None:
    """A write of Mahavishnu's outside a transaction, so not recorded (as `claude hooks add` and
    `claude permissions` write today)."""
    safe_write.apply(path, lambda _old: text, validate=lambda _text: None)


def test_an_unrecorded_settings_edit_after_the_change_is_left_and_named(isolated_home: Path) -> None:
    settings = _write(isolated_home / ".claude" / "settings.json", SETTINGS)
    _run("mcp-servers", "add", "docs", "--command", "npx", "--tool", "codex")
    allowed = '{\n  "model": "opus",\n  "permissions": {"allow": ["Bash(ls)"]}\n}\n'
    _unrecorded_write(settings, allowed)
    result = runner.invoke(app, ["ai", "rollback"])
    assert result.exit_code == 0, result.output
    assert settings.read_text() == allowed and not (isolated_home / ".codex" / "config.toml").exists()
    said = " ".join(result.stderr.split())
    assert f"{settings} was changed after that change by a Mahavishnu edit that is not recorded" in said
    backup = said.split("ai rollback --to ")[1].split("`")[0]
    _run("ai", "rollback", "--to", backup)
    assert settings.read_text() == SETTINGS


def test_without_any_record_it_says_which_backup_it_puts_back(isolated_home: Path) -> None:
    settings = _write(isolated_home / ".claude" / "settings.json", SETTINGS)
    _unrecorded_write(settings, '{\n  "model": "sonnet"\n}\n')
    [backup] = _backup_ids(settings)
    out = _run("ai", "rollback")
    said = f"no switch or change of Claude Code is recorded: putting back the newest backup of {settings}"
    assert said in out
    assert f"{settings}: restored from backup {backup}" in out
    assert settings.read_text() == SETTINGS
