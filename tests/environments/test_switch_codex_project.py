"""Codex merges a trusted project's ``.codex/config.toml`` files (from the repository root down to the
folder it starts in) over ``$CODEX_HOME/config.toml``: one that sets ``model_provider`` or ``model``
wins there, so ``ai current`` lists it and a switch says so."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from _switch_helpers import set_profile_secrets, write_file, write_profiles
from typer.testing import CliRunner

from mahavishnu.cli.main import app

runner = CliRunner()
PROFILE = (
    "  alpha:\n    secret: ['env:ALPHA_KEY']\n"
    "    openai: {base_url: 'https://a.example/v1', model: a-1, wire_api: responses}\n"
)


def _repo(home: Path, monkeypatch: pytest.MonkeyPatch, *, trusted: bool) -> Path:
    """A repository (the shell in its ``sub`` folder) whose root's .codex/config.toml picks a model."""
    repo = home / "work" / "api"
    (repo / ".git").mkdir(parents=True)
    (repo / "sub").mkdir()
    write_file(repo / ".codex" / "config.toml", 'model = "their-model"\n')
    trust = f'[projects."{repo}"]\ntrust_level = "trusted"\n' if trusted else ""
    write_file(home / ".codex" / "config.toml", f"# mine\n{trust}")
    write_profiles(home, PROFILE)
    monkeypatch.setenv("ALPHA_KEY", "sk-alpha-0123456789")
    set_profile_secrets(monkeypatch)
    monkeypatch.chdir(repo / "sub")
    return repo


def test_a_trusted_project_file_wins_and_is_said(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(isolated_home, monkeypatch, trusted=True)
    result = runner.invoke(app, ["ai", "switch-llm", "alpha", "--tool", "codex", "--json"])
    assert result.exit_code == 0, result.output
    outranked = json.loads(result.stdout)["outranked"]
    assert [(o["tool"], o["path"], o["scope"]) for o in outranked] == [
        ("codex", str(repo / ".codex" / "config.toml"), "project")
    ]
    shown = runner.invoke(app, ["ai", "current", "--json"])
    codex = [e for e in json.loads(shown.stdout) if e.get("tool") == "codex"]
    assert [(e["scope"], e["model"], e["base_url"]) for e in codex][:2] == [
        ("project", "their-model", "https://a.example/v1"),
        ("user", "a-1", "https://a.example/v1"),
    ]


def test_an_untrusted_project_file_is_not_read(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _repo(isolated_home, monkeypatch, trusted=False)
    result = runner.invoke(app, ["ai", "switch-llm", "alpha", "--tool", "codex", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outranked"] == []


@pytest.mark.parametrize("where", ["sub", "elsewhere"])
def test_a_table_a_project_file_selects_stays_in_config_toml(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """The project's .codex/config.toml selects config.toml's provider (Codex merges the two): a switch
    to stock, run in the project or anywhere else, took that table out and Codex no longer started
    there ('model provider mahavishnu-alpha not found')."""
    repo = _repo(isolated_home, monkeypatch, trusted=True)
    assert runner.invoke(app, ["ai", "switch-llm", "alpha", "--tool", "codex"]).exit_code == 0
    config = isolated_home / ".codex" / "config.toml"
    switched = config.read_text()
    write_file(repo / ".codex" / "config.toml", 'model_provider = "mahavishnu-alpha"\n')
    if where == "elsewhere":
        monkeypatch.chdir(isolated_home)
    result = runner.invoke(app, ["ai", "switch-llm", "stock", "--tool", "codex", "--json"])
    assert result.exit_code == 0, result.output
    data = tomllib.loads(config.read_text())
    assert "mahavishnu-alpha" in data["model_providers"] and "model_provider" not in data
    stays = [w for w in json.loads(result.stdout)["warnings"] if "stays in" in w]
    assert len(stays) == 1 and str(repo / ".codex" / "config.toml") in stays[0]
    assert f"Codex started in {repo}" in stays[0]
    assert runner.invoke(app, ["ai", "switch-llm", "alpha", "--tool", "codex"]).exit_code == 0
    assert config.read_text() == switched
    (repo / ".codex" / "config.toml").unlink()  # none selects it now: stock takes it out
    assert runner.invoke(app, ["ai", "switch-llm", "stock", "--tool", "codex"]).exit_code == 0
    assert "mahavishnu-alpha" not in config.read_text()
