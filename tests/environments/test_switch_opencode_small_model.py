"""OpenCode's ``small_model`` (the model it asks for a session's title, a request carrying the
user's first prompt): a switch owns it as it owns ``model``, so that after a switch no model
setting of the file names the provider the user had; a stock switch, or a rollback, gives the
user's own back byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _switch_helpers import write_config, write_file, write_profiles
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.environments.assistants.opencode import load
from mahavishnu.environments.switcher import switch_llm
from mahavishnu.errors import ConfigError
from mahavishnu.json_types import JSONObject

# The reviewer's set-up: their Anthropic models, the small one for titles.
USER_FILE = """{
  // my OpenCode config
  "$schema": "https://opencode.ai/config.json",
  "model": "anthropic/claude-sonnet-4-5",
  "small_model": "anthropic/claude-haiku-4-5", // titles: cheap
  "theme": "tokyonight",
}
"""
STRICT_FILE = (
    '{\n  "$schema": "https://opencode.ai/config.json",\n  "model": "anthropic/claude-sonnet-4-5",\n'
    '  "small_model": "anthropic/claude-haiku-4-5",\n  "theme": "tokyonight"\n}\n'
)
LAB = (
    "  lab:\n    requires_key: false\n"
    "    openai: {base_url: 'http://127.0.0.1:9/v1', model: lab-big, haiku_model: lab-small}\n"
)
runner = CliRunner()


def model_settings(data: JSONObject) -> dict[str, str]:
    """Every setting of an OpenCode config that names a "provider/model"."""
    found = {key: str(data[key]) for key in ("model", "small_model") if key in data}
    for section in ("agent", "mode", "command"):
        entries = data.get(section)
        for name, entry in entries.items() if isinstance(entries, dict) else []:
            if isinstance(entry, dict) and "model" in entry:
                found[f"{section}.{name}.model"] = str(entry["model"])
    return found


@pytest.fixture
def config_file(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (isolated_home / ".config").mkdir()
    write_profiles(isolated_home, LAB)
    return write_config(isolated_home / ".config" / "opencode" / "opencode.jsonc", USER_FILE, monkeypatch)


@pytest.mark.parametrize("profile", ["deepseek", "kimi", "lab"])
def test_after_a_switch_no_model_setting_names_the_old_provider(config_file: Path, profile: str) -> None:
    switch_llm(profile, load_settings(), tool="opencode")
    text = config_file.read_text()
    data = load(text, config_file).data
    settings = model_settings(data)
    assert set(settings) == {"model", "small_model"}
    assert all(value.startswith("mahavishnu/") for value in settings.values()), settings
    assert "anthropic" not in text.replace("https://opencode.ai", "")
    models = data["provider"]["mahavishnu"]["models"]
    for value in settings.values():  # each names a model of our provider (else OpenCode falls back)
        assert value.removeprefix("mahavishnu/") in models
    assert "// my OpenCode config" in text and '"theme": "tokyonight"' in text


def test_a_profile_with_a_small_model_gets_it_for_titles(config_file: Path) -> None:
    switch_llm("lab", load_settings(), tool="opencode")
    data = load(config_file.read_text(), config_file).data
    assert (data["model"], data["small_model"]) == ("mahavishnu/lab-big", "mahavishnu/lab-small")
    assert data["provider"]["mahavishnu"]["models"] == {
        "lab-big": {"name": "lab-big"},
        "lab-small": {"name": "lab-small"},
    }


def test_a_profile_without_one_gets_its_own_model_for_titles(config_file: Path) -> None:
    switch_llm("deepseek", load_settings(), tool="opencode")
    data = load(config_file.read_text(), config_file).data
    assert data["small_model"] == data["model"]


def test_a_profile_with_a_small_model_sets_it_where_the_user_had_none(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_home / ".config").mkdir()
    write_profiles(isolated_home, LAB)
    own = '{\n  "theme": "tokyonight"\n}\n'
    path = write_config(isolated_home / ".config" / "opencode" / "opencode.json", own, monkeypatch)
    switch_llm("lab", load_settings(), tool="opencode")
    assert load(path.read_text(), path).data["small_model"] == "mahavishnu/lab-small"
    switch_llm("stock", load_settings(), tool="opencode")
    assert path.read_text() == own


@pytest.mark.parametrize("name", ["opencode.jsonc", "opencode.json"])
def test_stock_gives_the_users_small_model_back_byte_for_byte(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    (isolated_home / ".config").mkdir()
    write_profiles(isolated_home, LAB)
    own = USER_FILE if name.endswith("c") else STRICT_FILE
    path = write_config(isolated_home / ".config" / "opencode" / name, own, monkeypatch)
    result = switch_llm("lab", load_settings(), tool="opencode")
    assert any("your own provider settings are replaced" in w for w in result.warnings)
    switch_llm("deepseek", load_settings(), tool="opencode")
    result = switch_llm("stock", load_settings(), tool="opencode")
    assert path.read_text() == own
    assert any("your own provider settings are back" in w for w in result.warnings)


@pytest.mark.parametrize("name", ["opencode.jsonc", "opencode.json"])
def test_stock_keeps_the_users_edits_made_while_switched(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    (isolated_home / ".config").mkdir()
    write_profiles(isolated_home, LAB)
    own = (USER_FILE if name.endswith("c") else STRICT_FILE).replace(
        '"theme"', '"share": "manual",\n  "theme"'
    )
    path = write_config(isolated_home / ".config" / "opencode" / name, own, monkeypatch)
    switch_llm("lab", load_settings(), tool="opencode")
    path.write_text(path.read_text().replace('"tokyonight"', '"gruvbox"'))
    switch_llm("stock", load_settings(), tool="opencode")
    edited = own.replace('"tokyonight"', '"gruvbox"')
    if name.endswith("c"):  # merged line by line
        assert path.read_text() == edited
    else:  # key by key: the settings put back come last
        assert load(path.read_text(), path).data == load(edited, path).data


def test_an_edit_next_to_them_in_a_jsonc_file_keeps_them_and_says_where(config_file: Path) -> None:
    """A .jsonc file is merged line by line: an edit on the line next to the model settings
    conflicts with putting them back. Nothing is lost silently: the user is told where they are."""
    switch_llm("lab", load_settings(), tool="opencode")
    config_file.write_text(config_file.read_text().replace('"tokyonight"', '"gruvbox"'))
    result = switch_llm("stock", load_settings(), tool="opencode")
    after = load(config_file.read_text(), config_file).data
    assert "small_model" not in after and "model" not in after and after["theme"] == "gruvbox"
    assert any("could not be put back" in w for w in result.warnings), result.warnings


def test_the_dry_run_diff_shows_the_small_model_replaced(config_file: Path) -> None:
    result = switch_llm("lab", load_settings(), tool="opencode", dry_run=True)
    [diff] = [f.diff for f in result.files if f.path == str(config_file)]
    removed = [line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert any('"small_model": "anthropic/claude-haiku-4-5"' in line for line in removed), diff
    assert any('"small_model": "mahavishnu/lab-small"' in line for line in added), diff
    assert config_file.read_text() == USER_FILE


def test_rollback_gives_the_users_file_back_byte_for_byte(config_file: Path) -> None:
    switch_llm("lab", load_settings(), tool="opencode")
    result = runner.invoke(app, ["ai", "rollback", "--tool", "opencode"])
    assert result.exit_code == 0, result.output
    assert config_file.read_text() == USER_FILE


def test_a_project_switch_outranks_the_users_own_small_model(
    config_file: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenCode merges its files: the user file's small_model holds unless the project file sets one."""
    repo = isolated_home / "repo"
    (repo / ".git").mkdir(parents=True)
    monkeypatch.chdir(repo)
    switch_llm("deepseek", load_settings(), tool="opencode", scope="project")
    data = load((repo / "opencode.json").read_text(), "x").data
    assert data["small_model"] == data["model"]
    assert data["model"].startswith("mahavishnu/")
    assert config_file.read_text() == USER_FILE
    switch_llm("stock", load_settings(), tool="opencode", scope="project")
    assert "small_model" not in load((repo / "opencode.json").read_text(), "x").data
    assert config_file.read_text() == USER_FILE


def test_a_nearer_file_setting_small_model_is_named_in_a_warning(
    config_file: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = isolated_home / "repo"
    (repo / ".git").mkdir(parents=True)
    winner = write_file(
        repo / ".opencode" / "opencode.json", '{"small_model": "anthropic/claude-haiku-4-5"}\n'
    )
    monkeypatch.chdir(repo)
    result = switch_llm("deepseek", load_settings(), tool="opencode")
    assert any(str(winner) in w and "anthropic/claude-haiku-4-5" in w for w in result.warnings), (
        result.warnings
    )


def test_an_agent_keeping_a_model_of_its_own_is_named_in_a_warning(config_file: Path) -> None:
    own = (
        '{\n  "model": "anthropic/claude-sonnet-4-5",\n'
        '  "agent": {"plan": {"model": "anthropic/claude-opus-4-5"}}\n}\n'
    )
    config_file.write_text(own)
    result = switch_llm("deepseek", load_settings(), tool="opencode")
    assert any("agent.plan.model" in w and "anthropic/claude-opus-4-5" in w for w in result.warnings), (
        result.warnings
    )


def test_the_outranking_warning_names_the_model_the_winning_file_sets(
    config_file: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = isolated_home / "repo"
    (repo / ".git").mkdir(parents=True)
    write_file(repo / ".opencode" / "opencode.json", '{"model": "lmstudio/qwen3-coder"}\n')
    monkeypatch.chdir(repo)
    result = switch_llm("deepseek", load_settings(), tool="opencode", scope="project")
    [warning] = [w for w in result.warnings if "wins over" in w]
    assert "lmstudio/qwen3-coder" in warning
    assert "take the provider and model out of that file" in warning


def test_a_small_model_opencode_would_expand_is_refused(config_file: Path, isolated_home: Path) -> None:
    write_profiles(
        isolated_home,
        "  lab:\n    requires_key: false\n"
        "    openai: {base_url: 'http://127.0.0.1:9/v1', model: m,\n"
        "             haiku_model: 's-{env:AWS_SECRET_ACCESS_KEY}'}\n",
    )
    with pytest.raises(ConfigError, match=r"openai\.haiku_model holds .*OpenCode would replace"):
        switch_llm("lab", load_settings(), tool="opencode")
    assert config_file.read_text() == USER_FILE


def test_a_file_the_switch_creates_carries_the_schema_opencode_would_add(isolated_home: Path) -> None:
    """OpenCode writes ``$schema`` into a config that lacks it as it loads it: a created file that
    lacked it changed at OpenCode's first start, and a rollback warned of an edit by hand."""
    from mahavishnu.environments.assistants.opencode import SCHEMA, apply_profile

    created = json.loads(apply_profile(None, "opencode.json", {"name": "[mahavishnu] profile x"}, "m"))
    assert next(iter(created)) == "$schema" and created["$schema"] == SCHEMA
    theirs = '{\n  "theme": "dark"\n}\n'
    assert "$schema" not in apply_profile(theirs, "opencode.json", {"name": "[mahavishnu] profile x"}, "m")
