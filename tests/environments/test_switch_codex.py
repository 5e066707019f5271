from __future__ import annotations

import json
import shlex
import stat
import tomllib
from pathlib import Path

import jsonschema
import pytest
from _switch_helpers import write_config, write_profiles
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.doctor import SHIPPED_SCHEMAS as SCHEMAS
from mahavishnu.environments.assistants.codex import remove_owned_tables
from mahavishnu.environments.profiles import all_profiles
from mahavishnu.environments.switcher import current, switch_llm
from mahavishnu.errors import (
    InvalidConfigFileError,
    InvalidInputError,
    ProtocolMismatchError,
    SecretNotFoundError,
)
from mahavishnu.files.safe_write import list_backups

# A config.toml as people have them: comments, trust entries, MCP servers, a provider of their own,
# hooks state written by Codex itself.
USER_FILE = """# ~/.codex/config.toml
model = "gpt-5.5"  # the default model
approval_policy = "on-request"
sandbox_mode = "workspace-write"

[projects."/home/me/src/app"]
trust_level = "trusted"

[projects."/home/me/tmp"]
trust_level = "untrusted"

# my own provider, keep it
[model_providers.mine]
name = "Mine"
base_url = "https://llm.example.com/v1"
env_key = "MINE_API_KEY"
wire_api = "responses"

[mcp_servers.docs]
command = "npx"
args = ["-y", "@acme/docs-mcp"]  # pinned by hand
env = { DOCS_TOKEN_FILE = "/home/me/.docs" }

[mcp_servers.remote]
url = "https://mcp.example.com/mcp"

[tui]
notifications = true
"""

SCHEMA = json.loads((SCHEMAS / "codex-config.schema.json").read_text())
RESPONSES_PROFILES = sorted(
    name
    for name, p in all_profiles(load_settings()).items()
    if p.settings.openai is not None and p.settings.openai.wire_api == "responses"
)
CHAT_PROFILES = sorted(
    name
    for name, p in all_profiles(load_settings()).items()
    if p.settings.openai is not None and p.settings.openai.wire_api == "chat"
)
runner = CliRunner()


@pytest.fixture
def config(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return write_config(isolated_home / ".codex" / "config.toml", USER_FILE, monkeypatch)


def _without_owned(text: str) -> str:
    """The file minus what a profile owns: top-level model/model_provider and our provider tables."""
    import tomlkit

    doc = tomlkit.parse(remove_owned_tables(text))
    for key in ("model", "model_provider"):
        if key in doc:
            doc.remove(key)
    return doc.as_string()


def test_the_responses_and_chat_profiles_exist() -> None:
    assert {"openai", "deepseek", "qwen", "zai", "openrouter", "ollama"} <= set(RESPONSES_PROFILES)
    assert {"kimi", "gemini", "anthropic"} <= set(CHAT_PROFILES)


def test_every_responses_profile_round_trips_and_keeps_everything_else_byte_identical(config: Path) -> None:
    baseline = _without_owned(USER_FILE)
    for name in [*RESPONSES_PROFILES, *reversed(RESPONSES_PROFILES)]:
        switch_llm(name, load_settings(), tool="codex")
        text = config.read_text()
        data = tomllib.loads(text)
        jsonschema.validate(data, SCHEMA)
        endpoint = all_profiles(load_settings())[name].settings.openai
        assert endpoint is not None
        provider = data["model_providers"][data["model_provider"]]
        assert data["model_provider"] == f"mahavishnu-{name}"
        assert data["model"] == endpoint.model
        assert provider["base_url"] == endpoint.base_url
        assert provider["wire_api"] == "responses"
        assert [p for p in data["model_providers"] if p.startswith("mahavishnu-")] == [f"mahavishnu-{name}"]
        assert "profile" not in data and "profiles" not in data
        assert _without_owned(text) == baseline, name
        assert "# my own provider, keep it" in text and "# pinned by hand" in text


def test_switching_back_gives_the_same_bytes(config: Path) -> None:
    switch_llm("deepseek", load_settings(), tool="codex")
    first = config.read_text()
    switch_llm("zai", load_settings(), tool="codex")
    switch_llm("deepseek", load_settings(), tool="codex")
    assert config.read_text() == first


@pytest.mark.parametrize(
    ("before", "switched"),
    [
        (  # a comment over the first table is the table's: our keys go above it
            '# My Codex settings\n\n# Keep history\n[history]\npersistence = "save-all"\n',
            "# My Codex settings\n\nmodel = @M@\nmodel_provider = @P@\n# Keep history\n[history]\n",
        ),
        (  # after the root's own keys, before the blank line and the comment of the first table
            'approval_policy = "never"\n\n# Keep history\n[history]\npersistence = "none"\n',
            'approval_policy = "never"\nmodel = @M@\nmodel_provider = @P@\n\n# Keep history\n[history]\n',
        ),
        (  # Windows line ends: ours too
            '# Keep history\r\n[history]\r\npersistence = "none"\r\n',
            "model = @M@\r\nmodel_provider = @P@\r\n# Keep history\r\n[history]\r\n",
        ),
        (  # a line opening with [ inside a root array is no table
            "x = [\n[1, 2],\n]\n# Keep history\n[history]\n",
            "x = [\n[1, 2],\n]\nmodel = @M@\nmodel_provider = @P@\n# Keep history\n[history]\n",
        ),
        (  # a line opening with # that ends a root's multi-line string is no comment: not into it
            'notes = """\nBe terse.\n# Style"""\n[history]\npersistence = "none"\n',
            'notes = """\nBe terse.\n# Style"""\nmodel = @M@\nmodel_provider = @P@\n[history]\n',
        ),
    ],
)
def test_a_comment_over_the_first_table_stays_over_it_and_stock_gives_the_same_bytes(
    before: str, switched: str, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(isolated_home / ".codex" / "config.toml", before, monkeypatch)
    path.write_bytes(before.encode())  # (as written: the line ends too)
    switch_llm("zai", load_settings(), tool="codex")
    model = all_profiles(load_settings())["zai"].settings.openai
    assert model is not None
    expected = switched.replace("@M@", f'"{model.model}"').replace("@P@", '"mahavishnu-zai"')
    assert path.read_bytes().decode().startswith(expected)
    switch_llm("stock", load_settings(), tool="codex")
    assert path.read_bytes().decode() == before


@pytest.mark.parametrize("edit", ["mcp-servers add", "memory hooks install and remove"])
def test_our_table_stays_ours_after_mahavishnu_edits_the_table_above_it(edit: str, config: Path) -> None:
    """tomlkit counts the marker line above our table as the end of the table before it: adding a
    table after that one put it between the marker and our table, and deleting that one deleted the
    marker, so the next switch refused its own table ("Mahavishnu did not write") or left it behind."""
    from mahavishnu.environments import memory_hooks
    from mahavishnu.environments.mcp_servers import McpServer, add_server

    config.write_text(USER_FILE.removesuffix("\n[tui]\nnotifications = true\n"))  # MCP servers last
    if edit == "memory hooks install and remove":
        memory_hooks.install(["codex"])  # [hooks.state.…] tables at the end, our table below them
    switch_llm("deepseek", load_settings(), tool="codex")
    if edit == "mcp-servers add":
        add_server(McpServer.stdio("later", "npx", ["-y", "@acme/later"], {}), "codex")
    else:
        memory_hooks.remove(["codex"])
    text = config.read_text()
    assert "switch-llm`)\n[model_providers.mahavishnu-deepseek]\n" in text  # the marker right above

    switch_llm("zai", load_settings(), tool="codex")
    data = tomllib.loads(config.read_text())
    assert [p for p in data["model_providers"] if p.startswith("mahavishnu-")] == ["mahavishnu-zai"]
    switch_llm("deepseek", load_settings(), tool="codex")  # not refused as a table of the user's


def test_what_codex_appends_after_our_table_stays(config: Path) -> None:
    switch_llm("deepseek", load_settings(), tool="codex")
    appended = config.read_text() + '\n# trusted later\n[projects."/home/me/new"]\ntrust_level = "trusted"\n'
    config.write_text(appended)
    switch_llm("zai", load_settings(), tool="codex")
    text = config.read_text()
    assert '# trusted later\n[projects."/home/me/new"]\ntrust_level = "trusted"\n' in text
    assert "mahavishnu-deepseek" not in text
    assert tomllib.loads(text)["projects"]["/home/me/new"] == {"trust_level": "trusted"}


def test_an_env_reference_names_the_variable_and_writes_no_key(config: Path) -> None:
    result = switch_llm("deepseek", load_settings(), tool="codex")
    provider = tomllib.loads(config.read_text())["model_providers"]["mahavishnu-deepseek"]
    assert provider["env_key"] == "DEEPSEEK_API_KEY"
    assert "auth" not in provider
    assert "sk-deepseek-secret" not in config.read_text()
    assert not (config.parent / ".env").exists()
    assert [f.path for f in result.files] == [str(config)]


def test_a_keyring_key_is_fetched_by_codex_through_an_auth_command(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEEPSEEK_API_KEY")
    assert (
        runner.invoke(app, ["secrets", "set", "deepseek"], input="sk-from-keyring-0123456789\n").exit_code
        == 0
    )
    switch_llm("deepseek", load_settings(), tool="codex")
    text = config.read_text()
    provider = tomllib.loads(text)["model_providers"]["mahavishnu-deepseek"]
    assert "env_key" not in provider
    command = [provider["auth"]["command"], *provider["auth"]["args"]]
    assert command[-3:] == ["secrets", "get", "deepseek"]
    assert "sk-from-keyring" not in text
    jsonschema.validate(tomllib.loads(text), SCHEMA)
    [entry] = current(load_settings(), "codex")
    assert entry.profile == "deepseek"
    assert entry.key_source == "auth command: " + shlex.join(command)


def test_inline_secret_goes_into_a_private_env_file_and_leaves_with_the_next_switch(config: Path) -> None:
    dotenv = config.parent / ".env"
    dotenv.write_text("# my own\nOTHER_TOOL_TOKEN=keep-me\n")
    result = switch_llm("zai", load_settings(), tool="codex", inline_secret=True)
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600
    assert dotenv.read_text() == (
        "# my own\nOTHER_TOOL_TOKEN=keep-me\n"
        "# mahavishnu: profile 'zai' (Codex CLI)\nZAI_API_KEY=sk-zai-secret-0123456789\n"
    )
    assert tomllib.loads(config.read_text())["model_providers"]["mahavishnu-zai"]["env_key"] == "ZAI_API_KEY"
    assert "sk-zai-secret" not in config.read_text()
    assert any(".env (mode 600)" in w for w in result.warnings)
    assert all("sk-zai-secret-0123456789" not in f.diff for f in result.files)

    switch_llm("deepseek", load_settings(), tool="codex")  # by reference: the old key must go
    assert dotenv.read_text() == "# my own\nOTHER_TOOL_TOKEN=keep-me\n"


def test_codex_home_is_honoured(config: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    custom = isolated_home / "codex-home"
    monkeypatch.setenv("CODEX_HOME", str(custom))
    switch_llm("openai", load_settings(), tool="codex")
    assert tomllib.loads((custom / "config.toml").read_text())["model_provider"] == "mahavishnu-openai"
    assert config.read_text() == USER_FILE


def test_a_local_server_needs_no_key(config: Path) -> None:
    switch_llm("ollama", load_settings(), tool="codex")
    provider = tomllib.loads(config.read_text())["model_providers"]["mahavishnu-ollama"]
    assert provider == {
        "name": "Ollama (local) (Mahavishnu)",
        "base_url": "http://localhost:11434/v1",
        "wire_api": "responses",
    }


@pytest.mark.parametrize("name", CHAT_PROFILES)
def test_chat_only_profiles_are_refused_for_codex(config: Path, name: str) -> None:
    with pytest.raises(ProtocolMismatchError, match="Responses API"):
        switch_llm(name, load_settings(), tool="codex")
    assert config.read_text() == USER_FILE


def test_a_profile_without_an_openai_endpoint_is_refused(
    config: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profiles(
        isolated_home, "  only-claude:\n    anthropic: {base_url: 'https://a.example', model: m}\n"
    )
    monkeypatch.setenv("ONLY", "x")
    with pytest.raises(ProtocolMismatchError, match="no openai endpoint"):
        switch_llm("only-claude", load_settings(), tool="codex")
    assert config.read_text() == USER_FILE


def test_bad_inputs_leave_the_file_unchanged(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPSEEK_API_KEY")
    with pytest.raises(SecretNotFoundError):
        switch_llm("deepseek", load_settings(), tool="codex")
    with pytest.raises(InvalidInputError, match="no project scope"):
        switch_llm("openai", load_settings(), tool="codex", scope="project")
    assert config.read_text() == USER_FILE


def test_invalid_toml_is_refused_with_its_line(config: Path) -> None:
    broken = USER_FILE.replace('approval_policy = "on-request"', "approval_policy = on-request")
    config.write_text(broken)
    with pytest.raises(InvalidConfigFileError, match="line 3"):
        switch_llm("openai", load_settings(), tool="codex")
    assert config.read_text() == broken
    assert list_backups() == []


def test_an_array_left_open_says_so_rather_than_naming_a_nul(config: Path) -> None:
    broken = USER_FILE + 'notify = ["notify-send", "Codex"\n'
    config.write_text(broken)
    with pytest.raises(InvalidConfigFileError, match=r"Unclosed array \(at end of document\)") as error:
        switch_llm("openai", load_settings(), tool="codex")
    assert "\\x00" not in str(error.value)
    assert config.read_text() == broken


def test_dry_run_shows_masked_diffs_and_writes_nothing(config: Path) -> None:
    result = switch_llm("zai", load_settings(), tool="codex", dry_run=True, inline_secret=True)
    assert config.read_text() == USER_FILE
    assert not (config.parent / ".env").exists()
    assert [f.path for f in result.files] == [str(config), str(config.parent / ".env")]
    assert '+model_provider = "mahavishnu-zai"' in result.files[0].diff
    assert "+ZAI_API_KEY=" in result.files[1].diff
    assert "sk-zai-secret-0123456789" not in result.files[1].diff
    assert list_backups() == []


def test_current_reads_the_provider_back(config: Path) -> None:
    assert current(load_settings(), "codex") == []  # the user's own provider is not selected
    switch_llm("openrouter", load_settings(), tool="codex")
    [entry] = current(load_settings(), "codex")
    assert (entry.tool, entry.scope, entry.profile) == ("codex", "user", "openrouter")
    assert entry.base_url == "https://openrouter.ai/api/v1"
    assert entry.model == "~openai/gpt-latest"
    assert entry.key_source == "env_key OPENROUTER_API_KEY"


def test_cli_switch_never_prints_the_key(config: Path) -> None:
    result = runner.invoke(
        app, ["ai", "switch-llm", "zai", "--tool", "codex", "--inline-secret", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "sk-zai-secret-0123456789" not in result.output
    assert "ZAI_API_KEY=" in result.output


def test_a_file_saved_with_a_bom_is_switched_and_keeps_it(config: Path) -> None:
    # Codex's TOML reader (toml_edit) skips a leading BOM, as Windows editors write it
    config.write_text("\ufeff" + USER_FILE, encoding="utf-8")
    switch_llm("deepseek", load_settings(), tool="codex")
    text = config.read_text(encoding="utf-8")
    assert text.startswith("\ufeff# ~/.codex/config.toml") and text.count("\ufeff") == 1
    assert tomllib.loads(text[1:])["model_provider"] == "mahavishnu-deepseek"
    [entry] = current(load_settings(), "codex")
    assert entry.profile == "deepseek"
    switch_llm("stock", load_settings(), tool="codex")
    assert config.read_text(encoding="utf-8") == "\ufeff" + USER_FILE


OWN_TABLE = '\n[model_providers.mahavishnu-lab]\nname = "my own, by hand"\nbase_url = "http://lab:8000/v1"\n'


def test_a_mahavishnu_named_table_the_user_wrote_is_kept(config: Path) -> None:
    config.write_text(USER_FILE + OWN_TABLE)
    switch_llm("deepseek", load_settings(), tool="codex")
    switch_llm("zai", load_settings(), tool="codex")
    text = config.read_text()
    assert OWN_TABLE in text and "mahavishnu-deepseek" not in text
    assert set(tomllib.loads(text)["model_providers"]) == {"mine", "mahavishnu-lab", "mahavishnu-zai"}
    switch_llm("stock", load_settings(), tool="codex")
    assert config.read_text() == USER_FILE + OWN_TABLE


def test_a_switch_to_the_name_of_a_table_the_user_wrote_is_refused(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config.write_text(USER_FILE + OWN_TABLE.replace("mahavishnu-lab", "mahavishnu-deepseek"))
    before = config.read_text()
    with pytest.raises(InvalidConfigFileError) as info:
        switch_llm("deepseek", load_settings(), tool="codex")
    assert "Mahavishnu did not write" in info.value.message and "nothing was written" in info.value.hint
    assert config.read_text() == before
    # selected by the user, their table stays selected through a stock switch
    chosen = 'model = "gpt-5.5"\nmodel_provider = "mahavishnu-deepseek"'
    config.write_text(before.replace('model = "gpt-5.5"', chosen))
    selected = config.read_text()
    switch_llm("stock", load_settings(), tool="codex")
    assert config.read_text() == selected
