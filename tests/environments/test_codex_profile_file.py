"""`switch-llm --tool codex --codex-profile NAME` writes $CODEX_HOME/NAME.config.toml (what
`codex --profile NAME` layers over config.toml), never config.toml, never `[profiles]` or `profile =`."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from _switch_helpers import set_profile_secrets
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.environments.profiles import all_profiles
from mahavishnu.environments.switcher import SwitchResult, switch_llm
from mahavishnu.errors import InvalidInputError
from mahavishnu.files.safe_write import list_backups

CONFIG = '# my config\nmodel = "gpt-5.5"\n\n[tui]\nnotifications = true\n'
# A profile file the user wrote by hand: settings of their own, with comments.
PROFILE_FILE = """# work profile: careful settings
approval_policy = "on-request"  # ask first
sandbox_mode = "workspace-write"

[mcp_servers.docs]
command = "npx"  # pinned by hand
"""
runner = CliRunner()


@pytest.fixture
def codex_dir(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = isolated_home / ".codex"
    directory.mkdir()
    (directory / "config.toml").write_text(CONFIG)
    set_profile_secrets(monkeypatch)
    return directory


def _switch(
    name: str, codex_profile: str = "work", *, dry_run: bool = False, inline: bool = False
) -> SwitchResult:
    return switch_llm(
        name,
        load_settings(),
        tool="codex",
        codex_profile=codex_profile,
        dry_run=dry_run,
        inline_secret=inline,
    )


def test_the_profile_file_gets_the_profile_and_config_toml_stays(codex_dir: Path) -> None:
    result = _switch("deepseek")
    path = codex_dir / "work.config.toml"
    data = tomllib.loads(path.read_text())
    endpoint = all_profiles(load_settings())["deepseek"].settings.openai
    assert endpoint is not None
    assert data["model"] == endpoint.model
    assert data["model_provider"] == "mahavishnu-deepseek"
    provider = data["model_providers"]["mahavishnu-deepseek"]
    assert provider["base_url"] == endpoint.base_url and provider["wire_api"] == "responses"
    assert provider["env_key"] == "DEEPSEEK_API_KEY"
    assert "profile" not in data and "profiles" not in data
    assert "[profiles" not in path.read_text()
    assert (codex_dir / "config.toml").read_text() == CONFIG
    assert [f.path for f in result.files] == [str(path)]
    assert any("codex --profile work" in w for w in result.warnings)


def test_round_trip_keeps_the_users_lines_and_comments(codex_dir: Path) -> None:
    path = codex_dir / "work.config.toml"
    path.write_text(PROFILE_FILE)
    _switch("deepseek")
    first = path.read_text()
    _switch("zai")
    text = path.read_text()
    users_part = PROFILE_FILE.replace(
        'sandbox_mode = "workspace-write"\n',
        'sandbox_mode = "workspace-write"\nmodel = "glm-5.3"\nmodel_provider = "mahavishnu-zai"\n',
    )
    assert text.startswith(users_part + "\n# mahavishnu: provider profile 'zai'")
    data = tomllib.loads(text)
    assert list(data["model_providers"]) == ["mahavishnu-zai"]
    assert data["approval_policy"] == "on-request" and data["mcp_servers"]["docs"]["command"] == "npx"
    _switch("deepseek")
    assert path.read_text() == first  # switching back gives the same bytes
    assert (codex_dir / "config.toml").read_text() == CONFIG


def test_dry_run_writes_nothing(codex_dir: Path) -> None:
    result = _switch("zai", dry_run=True)
    assert not (codex_dir / "work.config.toml").exists()
    [file] = result.files
    assert file.path == str(codex_dir / "work.config.toml")
    assert '+model_provider = "mahavishnu-zai"' in file.diff
    assert list_backups() == []


def test_each_write_is_backed_up_like_config_toml(codex_dir: Path) -> None:
    path = codex_dir / "work.config.toml"
    path.write_text(PROFILE_FILE)
    _switch("deepseek")
    [backup] = list_backups(path)
    assert backup.file.read_text() == PROFILE_FILE


@pytest.mark.parametrize("name", ["a.b", "a/b", "../x", "a b", ""])
def test_names_codex_refuses_are_refused(codex_dir: Path, name: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid Codex profile name") as info:
        _switch("deepseek", codex_profile=name)
    assert "letters, digits" in str(info.value.hint)
    assert sorted(p.name for p in codex_dir.iterdir()) == ["config.toml"]


def test_only_with_codex_and_never_with_an_inline_key(codex_dir: Path) -> None:
    with pytest.raises(InvalidInputError, match="Codex only"):
        switch_llm("deepseek", load_settings(), tool="qwen", codex_profile="work")
    with pytest.raises(InvalidInputError, match="Codex only"):
        switch_llm("deepseek", load_settings(), tool="all", codex_profile="work")
    with pytest.raises(InvalidInputError, match="--inline-secret"):
        _switch("deepseek", inline=True)
    assert sorted(p.name for p in codex_dir.iterdir()) == ["config.toml"]


def test_cli_writes_and_rolls_back_the_profile_file(codex_dir: Path) -> None:
    path = codex_dir / "lab.config.toml"
    args = ["ai", "switch-llm", "--tool", "codex", "--codex-profile", "lab"]
    first = runner.invoke(app, [*args, "deepseek"])
    assert first.exit_code == 0, first.output
    assert f"{path}: now uses deepseek" in " ".join(first.stdout.split())
    assert runner.invoke(app, [*args, "zai"]).exit_code == 0
    rolled = runner.invoke(app, ["ai", "rollback", "--tool", "codex", "--codex-profile", "lab"])
    assert rolled.exit_code == 0, rolled.output
    assert tomllib.loads(path.read_text())["model_provider"] == "mahavishnu-deepseek"
    assert (codex_dir / "config.toml").read_text() == CONFIG
    bad = runner.invoke(app, [*args[:-1], "a.b", "zai"])
    assert bad.exit_code != 0 and "invalid Codex profile name" in bad.output


# -- `ai current`: each profile file is an entry of its own -------------------------------------------


def _codex_entries() -> list:
    from mahavishnu.environments.switcher import overview

    statuses, _ = overview(load_settings())
    [codex] = [s for s in statuses if s.tool == "codex"]
    assert codex.error is None
    return codex.entries


def test_current_lists_each_profile_file_as_its_own_entry(codex_dir: Path) -> None:
    switch_llm("deepseek", load_settings(), tool="codex")
    _switch("zai", "work")
    main, work = _codex_entries()
    assert (main.scope, main.profile, main.used_with) == ("user", "deepseek", None)
    assert work.scope == "profile:work" and work.used_with == "codex --profile work"
    assert work.path == str(codex_dir / "work.config.toml")
    endpoint = all_profiles(load_settings())["zai"].settings.openai
    assert endpoint is not None
    assert (work.profile, work.base_url, work.model) == ("zai", endpoint.base_url, endpoint.model)
    assert work.key_source and work.key_source.startswith("env_key ") and work.error is None


def test_a_profile_file_without_a_provider_and_one_using_config_tomls_provider(codex_dir: Path) -> None:
    switch_llm("deepseek", load_settings(), tool="codex")
    (codex_dir / "careful.config.toml").write_text(PROFILE_FILE)
    (codex_dir / "alias.config.toml").write_text('model = "x-1"\nmodel_provider = "mahavishnu-deepseek"\n')
    _, alias, careful = _codex_entries()
    assert (alias.scope, alias.profile, alias.model) == ("profile:alias", "deepseek", "x-1")
    assert alias.base_url  # the table comes from config.toml, as Codex layers the two
    assert (careful.profile, careful.base_url, careful.model, careful.error) == (None, None, None, None)


def test_an_invalid_profile_file_is_reported_with_its_error(codex_dir: Path) -> None:
    _switch("zai", "good")
    (codex_dir / "broken.config.toml").write_text('model = "x"\nmodel = \n')
    (codex_dir / "latin.config.toml").write_bytes(b'model = "caf\xe9"\n')
    broken, good, latin = _codex_entries()
    assert broken.scope == "profile:broken" and broken.profile is None
    assert broken.error and "invalid TOML" in broken.error and "line 2" in broken.error
    assert latin.error and "not UTF-8" in latin.error
    assert good.profile == "zai" and good.error is None


def test_a_broken_config_toml_still_lists_the_profile_files(codex_dir: Path) -> None:
    from mahavishnu.environments.switcher import overview

    _switch("zai", "work")
    (codex_dir / "config.toml").write_text("model = [\n")
    statuses, _ = overview(load_settings())
    [codex] = [s for s in statuses if s.tool == "codex"]
    assert codex.error and "invalid TOML" in codex.error
    assert [(e.scope, e.profile) for e in codex.entries] == [("profile:work", "zai")]


def test_only_files_codex_can_use_as_profiles_are_listed(codex_dir: Path) -> None:
    (codex_dir / "a.b.config.toml").write_text('model = "x"\n')  # `codex --profile a.b` is refused
    (codex_dir / ".config.toml").write_text('model = "x"\n')
    (codex_dir / "dir.config.toml").mkdir()
    (codex_dir / "ok.config.toml").write_text('model = "x"\n')
    assert [e.scope for e in _codex_entries()] == ["profile:ok"]


def test_an_inline_token_in_a_profile_file_is_masked(codex_dir: Path) -> None:
    token = "sk-inline-secret-0123456789abcdef"
    (codex_dir / "tok.config.toml").write_text(
        'model_provider = "mine"\n[model_providers.mine]\nbase_url = "http://127.0.0.1:9"\n'
        f'experimental_bearer_token = "{token}"\n'
    )
    [entry] = _codex_entries()
    assert entry.key_source and entry.key_source.startswith("inline token") and token not in entry.key_source


def test_probes_and_health_still_read_only_config_toml(codex_dir: Path) -> None:
    from mahavishnu.services.probe import active

    _switch("zai", "work")
    assert active("codex", load_settings()) is None  # config.toml names no provider
    switch_llm("deepseek", load_settings(), tool="codex")
    found = active("codex", load_settings())
    assert found is not None and found.profile == "deepseek"


@pytest.mark.parametrize("then", ["zai", "stock", "deepseek"])
def test_a_table_a_profile_file_selects_stays_in_config_toml(codex_dir: Path, then: str) -> None:
    """alias.config.toml selects config.toml's provider (Codex layers the two): a switch of config.toml
    that took that table out left `codex --profile alias` with a provider that does not exist."""
    switch_llm("deepseek", load_settings(), tool="codex")
    switched = (codex_dir / "config.toml").read_text()
    (codex_dir / "alias.config.toml").write_text('model = "x-1"\nmodel_provider = "mahavishnu-deepseek"\n')
    result = switch_llm(then, load_settings(), tool="codex")
    config = tomllib.loads((codex_dir / "config.toml").read_text())
    assert "mahavishnu-deepseek" in config["model_providers"]
    assert config.get("model_provider") == (None if then == "stock" else f"mahavishnu-{then}")
    stays = [w for w in result.warnings if "stays in" in w]
    assert len(stays) == (then != "deepseek") and all("alias.config.toml" in w for w in stays)
    switch_llm("deepseek", load_settings(), tool="codex")
    assert (codex_dir / "config.toml").read_text() == switched
    (codex_dir / "alias.config.toml").unlink()  # none selects it now: stock takes it out
    switch_llm("stock", load_settings(), tool="codex")
    assert (codex_dir / "config.toml").read_text() == CONFIG


@pytest.mark.parametrize("then", ["zai", "stock"])
def test_a_table_kept_for_a_profile_file_is_no_setting_of_the_users(codex_dir: Path, then: str) -> None:
    """A table kept for a profile file took the switch's own settings for the user's: `zai` kept
    deepseek's as "your own provider settings", which the next stock switch put back, and a stock
    switch said it "removed provider settings Mahavishnu did not write"."""
    (codex_dir / "config.toml").write_text("[tui]\nnotifications = true\n")  # no provider of the user's
    switch_llm("deepseek", load_settings(), tool="codex")
    (codex_dir / "alias.config.toml").write_text('model_provider = "mahavishnu-deepseek"\n')
    result = switch_llm(then, load_settings(), tool="codex")
    assert not [w for w in result.warnings if "own provider settings" in w or "did not write" in w]
    switch_llm("stock", load_settings(), tool="codex")
    config = tomllib.loads((codex_dir / "config.toml").read_text())
    assert "model_provider" not in config and "model" not in config  # Codex's own login
    assert list(config["model_providers"]) == ["mahavishnu-deepseek"]
