"""Qwen Code loads a trusted workspace's ``.env`` before ``~/.qwen/.env`` and keeps a variable's
first value: a key a switch writes into ``~/.qwen/.env`` under a name that ``.env`` sets too is
not the one used there (that one would go to the profile's provider). The switch says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from _switch_helpers import write_file, write_profiles
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.environments.switcher import switch_llm

runner = CliRunner()
PROFILE = "  gw:\n    secret: ['file:gw']\n    openai: {base_url: 'https://gw.example.com/v1', model: m-1}\n"


@pytest.fixture
def repo(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = isolated_home / "work" / "api"
    (repo / ".git").mkdir(parents=True)
    write_profiles(isolated_home, PROFILE)
    stored = runner.invoke(app, ["secrets", "set", "gw", "--store", "file"], input="sk-gw-0123456789\n")
    assert stored.exit_code == 0, stored.output
    monkeypatch.chdir(repo)
    return repo


@pytest.mark.parametrize("name", [".env", ".qwen/.env"])
def test_a_workspace_env_setting_the_key_is_said_to_win(repo: Path, name: str) -> None:
    write_file(repo / name, "MAHAVISHNU_GW_API_KEY=sk-their-own-key\nDATABASE_URL=x\n")
    result = switch_llm("gw", load_settings(), tool="qwen", inline_secret=True)
    said = " ".join(result.warnings)
    assert f"reads {repo / name} first, and its MAHAVISHNU_GW_API_KEY wins" in said


def test_no_warning_when_the_workspace_env_sets_other_keys(repo: Path) -> None:
    write_file(repo / ".env", "DATABASE_URL=x\n")
    result = switch_llm("gw", load_settings(), tool="qwen", inline_secret=True)
    assert not any("wins over" in w for w in result.warnings)
