"""Pi: a switch writes one provider into ~/.pi/agent/models.json and the default provider and model
into settings.json, the key by reference only; everything else stays byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _switch_helpers import set_profile_secrets, write_file, write_profiles
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.environments.assistants.pi import MARK, NO_KEY, load_models
from mahavishnu.environments.launch import PI_EXTENSION
from mahavishnu.environments.profiles import all_profiles
from mahavishnu.environments.switcher import current, switch_llm
from mahavishnu.errors import InvalidConfigFileError

SETTINGS = '{\n  "theme": "dark",\n  "defaultThinkingLevel": "low"\n}\n'
MODELS = """{
  // my local model, keep it
  "providers": {
    "ollama": {"baseUrl": "http://127.0.0.1:11434/v1", "api": "openai-completions", "apiKey": "ollama",
               "models": [{"id": "llama3.1:8b"}]}
  }
}
"""
runner = CliRunner()


@pytest.fixture
def agent(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = isolated_home / ".pi" / "agent"
    write_file(folder / "settings.json", SETTINGS)
    write_file(folder / "models.json", MODELS)
    set_profile_secrets(monkeypatch)
    return folder


def test_a_switch_writes_the_provider_and_default_and_keeps_everything_else(agent: Path) -> None:
    switch_llm("deepseek", load_settings(), tool="pi")
    models = (agent / "models.json").read_text()
    provider = load_models(models, "x").data["providers"]["mahavishnu"]
    model = provider["models"][0]["id"]
    wire = all_profiles(load_settings())["deepseek"].endpoint("openai", "Pi").wire_api
    assert provider["api"] == ("openai-responses" if wire == "responses" else "openai-completions")
    assert provider["apiKey"] == "DEEPSEEK_API_KEY"
    assert provider["models"] == [{"id": model, "name": MARK + "deepseek"}]
    assert "// my local model, keep it" in models and '"apiKey": "ollama"' in models
    settings = (agent / "settings.json").read_text()
    assert settings == SETTINGS.replace(
        '"low"\n}', f'"low",\n  "defaultProvider": "mahavishnu",\n  "defaultModel": "{model}"\n}}'
    )
    assert "sk-deepseek-secret" not in models + settings
    [entry] = current(load_settings(), "pi")
    assert (entry.profile, entry.model, entry.key_source) == ("deepseek", model, "env DEEPSEEK_API_KEY")


def test_a_keyring_key_is_fetched_by_command_never_written(
    agent: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEEPSEEK_API_KEY")
    secret = "sk-in-keyring-0123456789"
    assert runner.invoke(app, ["secrets", "set", "deepseek"], input=secret + "\n").exit_code == 0
    result = switch_llm("deepseek", load_settings(), tool="pi", inline_secret=True)
    models = (agent / "models.json").read_text()
    api_key = load_models(models, "x").data["providers"]["mahavishnu"]["apiKey"]
    assert api_key.startswith("!") and api_key.endswith("secrets get deepseek")
    assert secret not in models + (agent / "settings.json").read_text()
    assert any("--inline-secret writes no key" in w for w in result.warnings)
    [entry] = current(load_settings(), "pi")
    assert entry.key_source == "secrets get deepseek"


def test_stock_and_rollback_give_back_the_same_bytes(agent: Path) -> None:
    switch_llm("deepseek", load_settings(), tool="pi")
    switch_llm("pi-agent", load_settings(), tool="pi")
    assert (agent / "settings.json").read_text() == SETTINGS
    assert (agent / "models.json").read_text() == MODELS
    switch_llm("kimi", load_settings(), tool="pi")
    result = runner.invoke(app, ["ai", "rollback", "--tool", "pi"])
    assert result.exit_code == 0, result.output
    assert (agent / "settings.json").read_text() == SETTINGS
    assert (agent / "models.json").read_text() == MODELS


def test_a_model_picked_in_pi_after_a_switch_is_not_undone_by_stock(agent: Path) -> None:
    """Pi's model picker writes defaultProvider and defaultModel: stock put back the model the user
    had before the switch over the one they picked since, and said it was their own settings."""
    own = '{\n  "defaultProvider": "anthropic",\n  "defaultModel": "claude-sonnet-4-5"\n}\n'
    settings = write_file(agent / "settings.json", own)
    assert any("are replaced" in w for w in switch_llm("deepseek", load_settings(), tool="pi").warnings)
    picked = {"defaultProvider": "openai", "defaultModel": "gpt-5"}
    settings.write_text(json.dumps(picked, indent=2) + "\n")  # as Pi saves it

    warnings = switch_llm("pi-agent", load_settings(), tool="pi").warnings

    assert json.loads(settings.read_text()) == picked
    assert any("could not be put back" in w for w in warnings), warnings


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{/* mine */ "providers": {}}\n', "a /\\* \\*/ comment"),  # Pi 0.73 strips // comments only
        ('{"providers": {},,}\n', "trailing comma"),  # one comma it strips, not two
        ("{'providers': {}}\n", "single-quoted"),
    ],
)
def test_a_models_file_pi_cannot_read_is_refused_and_nothing_is_written(
    agent: Path, text: str, problem: str
) -> None:
    (agent / "models.json").write_text(text)
    with pytest.raises(InvalidConfigFileError, match=problem):
        switch_llm("deepseek", load_settings(), tool="pi")
    assert (agent / "settings.json").read_text() == SETTINGS
    assert (agent / "models.json").read_text() == text


def test_trailing_commas_pi_reads_are_kept_through_a_switch_and_stock(agent: Path) -> None:
    """Pi 0.73 takes trailing commas out of models.json before JSON.parse: such a file is the user's
    working set-up, not one to refuse."""
    text = MODELS.replace('"llama3.1:8b"}]}', '"llama3.1:8b"},],},').replace("  }\n}", "  },\n}")
    (agent / "models.json").write_text(text)
    switch_llm("deepseek", load_settings(), tool="pi")
    assert load_models((agent / "models.json").read_text(), "x").data["providers"]["mahavishnu"]
    switch_llm("pi-agent", load_settings(), tool="pi")
    assert (agent / "models.json").read_text() == text


def test_a_settings_file_with_a_byte_order_mark_is_refused_without_naming_another_assistant(
    agent: Path,
) -> None:
    (agent / "settings.json").write_bytes(b"\xef\xbb\xbf{}")  # Pi's JSON.parse refuses the BOM
    with pytest.raises(InvalidConfigFileError, match="byte order mark") as refused:
        switch_llm("deepseek", load_settings(), tool="pi")
    assert "Claude" not in refused.value.message
    assert (agent / "settings.json").read_bytes() == b"\xef\xbb\xbf{}"
    assert (agent / "models.json").read_text() == MODELS


def test_tool_all_includes_pi_and_run_shows_its_one_session_extension(
    agent: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "pi" in switch_llm("deepseek", load_settings(), tool="all").tools
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-deepseek-0123456789abcdef")
    result = runner.invoke(app, ["run", "deepseek", "--tool", "pi", "--show"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["argv"][1:4] == ["--extension", str(PI_EXTENSION), "--provider"]
    assert "sk-deepseek-0123456789abcdef" not in result.output


def test_a_keyless_profile_gets_an_api_key_pi_cannot_read_as_a_variable(
    agent: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pi reads apiKey as a variable's name first: a key-less profile named after a variable that
    holds a secret must not send that secret to its endpoint."""
    write_profiles(
        isolated_home,
        "  GITHUB_TOKEN:\n    requires_key: false\n    openai: {base_url: 'http://h', model: m}\n",
    )
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-secret")
    switch_llm("GITHUB_TOKEN", load_settings(), tool="pi")
    provider = load_models((agent / "models.json").read_text(), "x").data["providers"]["mahavishnu"]
    assert provider["apiKey"] == NO_KEY and "=" in NO_KEY  # no variable is named with an '='
    [entry] = current(load_settings(), "pi")
    assert (entry.profile, entry.key_source) == ("GITHUB_TOKEN", None)


def test_a_model_scope_of_the_users_gets_our_model_so_pi_starts_on_it(agent: Path) -> None:
    """With enabledModels set, Pi starts on its first model unless the default is in it: the
    switch would have left Pi on the user's own model."""
    scoped = '{\n  "defaultProvider": "lab",\n  "enabledModels": ["lab/*"]\n}\n'
    (agent / "settings.json").write_text(scoped)
    for profile in ("deepseek", "kimi"):  # the second replaces the first's model
        switch_llm(profile, load_settings(), tool="pi")
        [entry] = current(load_settings(), "pi")
        data = json.loads((agent / "settings.json").read_text())
        assert data["enabledModels"] == ["lab/*", f"mahavishnu/{entry.model}"]
    switch_llm("pi-agent", load_settings(), tool="pi")
    assert (agent / "settings.json").read_text() == scoped


def test_no_model_scope_is_made_up(agent: Path) -> None:
    switch_llm("deepseek", load_settings(), tool="pi")
    assert "enabledModels" not in json.loads((agent / "settings.json").read_text())


def test_a_projects_pi_settings_that_set_a_model_are_named(
    agent: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pi merges <folder>/.pi/settings.json over its own: a default model there wins over the switch."""
    project = write_file(
        isolated_home / "repo" / ".pi" / "settings.json",
        '{"defaultProvider": "ollama", "defaultModel": "llama3.1:8b"}\n',
    )
    monkeypatch.chdir(isolated_home / "repo")
    result = switch_llm("deepseek", load_settings(), tool="pi")
    assert [(o.path, o.scope) for o in result.outranked] == [(str(project), "project")]
    assert any("take the provider and model out of that file" in w for w in result.warnings)
    assert [e.scope for e in current(load_settings(), "pi")] == ["project", "user"]


def test_a_scope_pi_does_not_have_names_the_one_it_has(agent: Path) -> None:
    from mahavishnu.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="Pi has no project settings file") as refused:
        switch_llm("qwen", load_settings(), tool="pi", scope="project")
    assert refused.value.hint == "Use --scope user."
