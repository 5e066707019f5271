"""`ai rollback` undoes the most recent switch, whatever files it touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app

runner = CliRunner()
CLAUDE_BEFORE = '{\n  "model": "opus"\n}\n'


def _home_files(home: Path) -> dict[str, str | None]:
    files = [
        ".claude/settings.json",
        ".codex/config.toml",
        ".qwen/settings.json",
        ".qwen/.env",
        ".gemini/.env",
    ]
    return {f: (home / f).read_text() if (home / f).exists() else None for f in files}


def test_rollback_undoes_a_switch_that_did_not_touch_claude(isolated_home, monkeypatch):
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-dash-0123456789abc")
    monkeypatch.setenv("ZAI_API_KEY", "sk-zai-0123456789abc")
    (isolated_home / ".claude").mkdir()
    (isolated_home / ".claude" / "settings.json").write_text(CLAUDE_BEFORE)
    assert runner.invoke(app, ["ai", "switch-llm", "zai"]).exit_code == 0  # an older Claude backup
    before = _home_files(isolated_home)
    switched = runner.invoke(app, ["ai", "switch-llm", "qwen", "--tool", "codex"])
    assert switched.exit_code == 0, switched.output
    assert _home_files(isolated_home) != before
    listed = json.loads(runner.invoke(app, ["ai", "backups", "--json"]).stdout)["switches"]
    assert listed[0]["profile"] == "qwen" and listed[0]["tools"] == ["codex"]
    assert runner.invoke(app, ["ai", "rollback"]).exit_code == 0
    assert _home_files(isolated_home) == before  # Claude's file still on zai: only the codex switch undone


def test_rollback_tool_all_and_tool_codex_are_accepted(isolated_home, monkeypatch):
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-dash-0123456789abc")
    before = _home_files(isolated_home)
    assert runner.invoke(app, ["ai", "switch-llm", "qwen", "--tool", "all"]).exit_code == 0
    undone = runner.invoke(app, ["ai", "rollback", "--tool", "all"])
    assert undone.exit_code == 0, undone.output
    assert _home_files(isolated_home) == before
    assert runner.invoke(app, ["ai", "switch-llm", "qwen", "--tool", "codex"]).exit_code == 0
    by_tool = runner.invoke(app, ["ai", "rollback", "--tool", "codex"])
    assert by_tool.exit_code == 0, by_tool.output
    assert _home_files(isolated_home) == before
    again = runner.invoke(app, ["ai", "rollback"])  # both switches are undone: nothing left to undo
    assert again.exit_code == 1 and "nothing left to undo" in again.output
    assert _home_files(isolated_home) == before


def test_undoing_a_switch_says_when_the_file_was_edited_since_and_how_to_get_it_back(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-dash-0123456789abc")
    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text("{}\n")
    assert runner.invoke(app, ["ai", "switch-llm", "qwen"]).exit_code == 0
    data = json.loads(settings.read_text())
    data["permissions"] = {"allow": ["Bash(git:*)"]}  # an edit after the switch
    settings.write_text(json.dumps(data))
    undone = runner.invoke(app, ["ai", "rollback"])
    assert undone.exit_code == 0 and settings.read_text() == "{}\n"
    said = " ".join(undone.stderr.split())
    assert (
        "had changed since that switch (by hand or by the assistant), and those changes are undone too"
        in said
    )
    backup = said.split("ai rollback --to ")[1].split("`")[0]
    assert runner.invoke(app, ["ai", "rollback", "--to", backup]).exit_code == 0
    assert json.loads(settings.read_text())["permissions"] == {"allow": ["Bash(git:*)"]}
    quiet = runner.invoke(app, ["ai", "switch-llm", "qwen"])
    assert quiet.exit_code == 0 and "had changed" not in runner.invoke(app, ["ai", "rollback"]).stderr
