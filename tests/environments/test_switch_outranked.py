"""A switch in a folder whose own settings file (a repository's .claude/settings.json) sets another
provider says which file wins there, instead of "new sessions use" the profile it wrote elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app

runner = CliRunner()


@pytest.fixture
def repo_on_zai(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose project file points Claude Code at zai; the shell is in it."""
    repo = isolated_home / "work" / "api"
    (repo / ".git").mkdir(parents=True)
    monkeypatch.chdir(repo)
    monkeypatch.setenv("ZAI_API_KEY", "sk-zai-0123456789abcdef")
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-dash-0123456789abcdef")
    done = runner.invoke(app, ["ai", "switch-llm", "zai", "--scope", "project"])
    assert done.exit_code == 0, done.output
    return repo


def _said(result: object) -> str:
    return " ".join(str(getattr(result, "output", "")).split())


def test_a_user_switch_says_the_project_file_wins_here(repo_on_zai: Path) -> None:
    result = runner.invoke(app, ["ai", "switch-llm", "claude"])
    assert result.exit_code == 0, result.output
    said = _said(result)
    project_file = repo_on_zai / ".claude" / "settings.json"
    assert f"{project_file} (project scope) wins over the user file and points at zai" in said
    assert "sessions started here use zai, not claude" in said
    assert "mahavishnu ai switch-llm claude --tool claude --scope project" in said
    assert "already uses its own login" not in said


def test_the_session_advice_names_the_provider_used_here(repo_on_zai: Path) -> None:
    result = runner.invoke(app, ["ai", "switch-llm", "qwen"])
    assert result.exit_code == 0, result.output
    said = _said(result)
    assert "new sessions use qwen (in this folder: zai, its project file wins)" in said


def test_a_project_file_on_the_same_profile_is_not_said_to_win(repo_on_zai: Path) -> None:
    """It said "sessions started here use zai, not zai" and "(in this folder: zai, its project file
    wins)": sessions here use the profile just switched to either way."""
    result = runner.invoke(app, ["ai", "switch-llm", "zai", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["outranked"] == []
    assert "wins" not in _said(result)


def test_the_json_output_lists_the_winning_file(repo_on_zai: Path) -> None:
    data = json.loads(runner.invoke(app, ["ai", "switch-llm", "qwen", "--json"]).stdout)
    [outranked] = data["outranked"]
    assert outranked["scope"] == "project" and outranked["profile"] == "zai"
    assert outranked["path"] == str(repo_on_zai / ".claude" / "settings.json")


def test_no_warning_where_no_file_outranks_the_switch(repo_on_zai: Path, isolated_home: Path) -> None:
    project = runner.invoke(app, ["ai", "switch-llm", "qwen", "--scope", "project"])
    assert "wins over" not in _said(project)
    outside = isolated_home / "elsewhere"
    outside.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(outside)
        result = runner.invoke(app, ["ai", "switch-llm", "qwen"])
    assert result.exit_code == 0, result.output
    assert "wins over" not in _said(result) and "new sessions use qwen" in _said(result)


@pytest.mark.parametrize("keyed", [False, True])
def test_a_project_file_with_a_url_and_no_key_is_said_to_get_the_profiles_key(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, keyed: bool
) -> None:
    """A repository's .claude/settings.json naming its own endpoint and no key: Claude Code merges
    the files key by key, so the user file's apiKeyHelper sends the switched profile's key there.
    The switch said only that sessions here use "the provider it sets"."""
    repo = isolated_home / "work" / "api"
    (repo / ".claude").mkdir(parents=True)
    (repo / ".git").mkdir()
    theirs = {"env": {"ANTHROPIC_BASE_URL": "https://proj.example/anthropic"}}
    if keyed:
        theirs["apiKeyHelper"] = "/usr/local/bin/proj-key"  # its own key: nothing of ours goes there
    (repo / ".claude" / "settings.json").write_text(json.dumps(theirs))
    monkeypatch.chdir(repo)
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-dash-0123456789abcdef")
    result = runner.invoke(app, ["ai", "switch-llm", "qwen", "--tool", "claude"])
    assert result.exit_code == 0, result.output
    said = _said(result)
    warned = "sets no key of its own: Claude Code started here sends the key of profile 'qwen'"
    assert (warned in said and "to https://proj.example/anthropic" in said) is not keyed, said
