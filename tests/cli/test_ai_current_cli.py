"""`mahavishnu ai current` lists each Codex profile file ($CODEX_HOME/NAME.config.toml) as its own row,
labelled as used only by `codex --profile NAME`; a broken one is reported, not a crash, and the other
files are still shown (exit 1 once everything readable is shown)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.environments.profiles import all_profiles

runner = CliRunner()


@pytest.fixture
def codex_dir(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, profile in all_profiles(load_settings()).items():
        for ref in profile.settings.secret:
            monkeypatch.setenv(ref.removeprefix("env:"), f"sk-{name}-secret-0123456789")
    directory = isolated_home / ".codex"
    directory.mkdir()
    (directory / "config.toml").write_text('model = "gpt-5.5"\n')
    for args in (["deepseek"], ["zai", "--codex-profile", "work"]):
        done = runner.invoke(app, ["ai", "switch-llm", "--tool", "codex", *args])
        assert done.exit_code == 0, done.output
    return directory


def _json(*args: str, exit_code: int = 0) -> list[dict]:
    result = runner.invoke(app, ["ai", "current", "--json", *args])
    assert result.exit_code == exit_code, result.output
    assert "secret-0123456789" not in result.output
    rows: list[dict] = json.loads(result.stdout)
    return rows


def test_json_has_a_row_per_profile_file(codex_dir: Path) -> None:
    codex = [r for r in _json() if r["tool"] == "codex"]
    assert [(r["scope"], r["profile"], r["used_with"], r["error"]) for r in codex] == [
        ("user", "deepseek", None, None),
        ("profile:work", "zai", "codex --profile work", None),
    ]
    assert codex[1]["path"] == str(codex_dir / "work.config.toml")
    assert all(set(r) == set(codex[0]) for r in _json())  # every row has the same fields
    assert [r["scope"] for r in _json("--tool", "codex")] == ["user", "profile:work"]


def test_a_broken_profile_file_is_a_row_with_its_error(codex_dir: Path) -> None:
    (codex_dir / "bad.config.toml").write_text("model = [\n")
    rows = {r["scope"]: r for r in _json(exit_code=1) if r["tool"] == "codex"}
    assert rows["profile:bad"]["profile"] is None and "invalid TOML" in rows["profile:bad"]["error"]
    assert rows["profile:work"]["profile"] == "zai" and rows["user"]["profile"] == "deepseek"
    table = runner.invoke(app, ["ai", "current"], env={"COLUMNS": "250"})
    assert table.exit_code == 1, table.output
    assert "unreadable" in table.output and "invalid TOML" in table.output


def test_a_broken_config_toml_keeps_its_error_row_and_the_profile_rows(codex_dir: Path) -> None:
    (codex_dir / "config.toml").write_text("model = [\n")
    codex = [r for r in _json(exit_code=1) if r["tool"] == "codex"]
    assert [(r["scope"], r["profile"]) for r in codex] == [(None, None), ("profile:work", "zai")]
    assert "invalid TOML" in codex[0]["error"]


def test_the_table_labels_profile_files_with_the_command_that_uses_them(codex_dir: Path) -> None:
    result = runner.invoke(app, ["ai", "current"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "codex" in line]
    assert any("only with `codex --profile work`" in line and "zai" in line for line in lines), result.stdout
    assert any(" user " in line and "deepseek" in line for line in lines), result.stdout


def test_a_broken_user_file_keeps_the_project_row_of_the_same_assistant(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZAI_API_KEY", "sk-zai-secret-0123456789")
    (isolated_home / "app" / ".git").mkdir(parents=True)
    monkeypatch.chdir(isolated_home / "app")
    assert runner.invoke(app, ["ai", "switch-llm", "zai", "--scope", "project"]).exit_code == 0
    (isolated_home / ".claude").mkdir(exist_ok=True)
    (isolated_home / ".claude" / "settings.json").write_text('{"env": {')

    claude = [r for r in _json("--tool", "claude", exit_code=1)]

    assert [(r["scope"], r["profile"]) for r in claude] == [("project", "zai"), ("user", None)]
    assert "invalid JSON" in claude[1]["error"]
