"""Gemini CLI loads only the first ``.env`` it finds walking up from the folder it starts in: a
project's own ``.env`` hides the ``~/.gemini/.env`` a user switch writes. The switch says so, ``ai
current`` lists that file, and a later switch reports it as winning (a stock switch does not)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _switch_helpers import write_file, write_profiles
from typer.testing import CliRunner

from mahavishnu.cli.main import app

runner = CliRunner()
PROFILE = (
    "  gw:\n    secret: ['env:GEMINI_API_KEY']\n"
    "    gemini: {base_url: 'https://gw.example.com', model: g-1}\n"
)


@pytest.fixture
def repo_with_env(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with its own .env (no Gemini variables); the shell in it."""
    repo = isolated_home / "work" / "api"
    (repo / ".git").mkdir(parents=True)
    write_file(repo / ".env", "DATABASE_URL=postgres://localhost/api\n")
    write_profiles(isolated_home, PROFILE)
    monkeypatch.setenv("GEMINI_API_KEY", "sk-gw-0123456789")
    monkeypatch.setenv("GEMINI_CLI_TRUST_WORKSPACE", "true")
    monkeypatch.chdir(repo)
    return repo


def _switch(profile: str) -> dict[str, object]:
    result = runner.invoke(app, ["ai", "switch-llm", profile, "--tool", "gemini", "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_the_first_switch_says_the_project_env_is_read(repo_with_env: Path) -> None:
    data = _switch("gw")
    said = " ".join(str(w) for w in data["warnings"])  # type: ignore[union-attr]
    assert f"reads {repo_with_env / '.env'}, not " in said
    assert "--scope project" in said


def test_then_it_is_listed_and_said_to_win(repo_with_env: Path) -> None:
    _switch("gw")
    shown = runner.invoke(app, ["ai", "current", "--json"])
    gemini = [e for e in json.loads(shown.stdout) if e.get("tool") == "gemini"]
    assert (gemini[0]["scope"], gemini[0]["path"]) == ("project", str(repo_with_env / ".env"))
    again = _switch("gw")
    assert [o["path"] for o in again["outranked"]] == [str(repo_with_env / ".env")]  # type: ignore[union-attr, index]
    assert _switch("stock")["outranked"] == []


def test_no_note_where_the_switched_env_is_read(repo_with_env: Path) -> None:
    (repo_with_env / ".env").unlink()
    data = _switch("gw")
    assert not any("only the first .env" in str(w) for w in data["warnings"])  # type: ignore[union-attr]
    assert data["outranked"] == []
