"""OpenCode: a switch writes one provider entry and ``model`` into opencode.json(c), the key by
reference only; everything else in the file, comments included, stays byte for byte."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import pytest
from _jsonc import GAPS, jsonc
from _switch_helpers import write_config, write_file, write_profiles
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.environments.assistants.base import Scope
from mahavishnu.environments.assistants.opencode import (
    MARK,
    OPENAI_COMPATIBLE,
    apply_profile,
    key_file,
    load,
    remove_profile,
)
from mahavishnu.environments.switcher import current, switch_llm
from mahavishnu.errors import ConfigError, InvalidConfigFileError, ProtocolMismatchError
from mahavishnu.files import json_document

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

# JSONC as OpenCode users write it: comments, trailing commas, a provider and an MCP server of their own.
USER_FILE = """{
  // OpenCode config (JSONC)
  "$schema": "https://opencode.ai/config.json",
  "theme": "tokyonight", // my theme
  "provider": {
    /* my local model, keep it */
    "ollama": {"npm": "@ai-sdk/openai-compatible", "options": {"baseURL": "http://127.0.0.1:11434/v1"}},
  },
  "model": "anthropic/claude-sonnet-4-5",
  "mcp": {"docs": {"type": "local", "command": ["npx", "-y", "docs"]}},
}
"""
runner = CliRunner()


@pytest.fixture
def config_file(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (isolated_home / ".config").mkdir()
    return write_config(isolated_home / ".config" / "opencode" / "opencode.jsonc", USER_FILE, monkeypatch)


def test_a_switch_writes_the_provider_and_model_and_keeps_everything_else(config_file: Path) -> None:
    switch_llm("deepseek", load_settings(), tool="opencode")
    text = config_file.read_text()
    data = load(text, config_file).data
    assert data["model"].startswith("mahavishnu/")
    model = data["model"].removeprefix("mahavishnu/")
    assert data["provider"]["mahavishnu"] == {
        "npm": "@ai-sdk/openai",  # (deepseek's openai endpoint has wire_api = "responses")
        "name": MARK + "deepseek",
        "options": {
            "baseURL": data["provider"]["mahavishnu"]["options"]["baseURL"],
            "apiKey": "{env:DEEPSEEK_API_KEY}",
        },
        "models": {model: {"name": model}},
    }
    assert data["provider"]["ollama"]["options"]["baseURL"] == "http://127.0.0.1:11434/v1"
    assert data["mcp"] == {"docs": {"type": "local", "command": ["npx", "-y", "docs"]}}
    for comment in ("// OpenCode config (JSONC)", "// my theme", "/* my local model, keep it */"):
        assert comment in text
    assert "sk-deepseek-secret" not in text
    [entry] = current(load_settings(), "opencode")
    assert (entry.profile, entry.model, entry.key_source) == ("deepseek", model, "env DEEPSEEK_API_KEY")


def test_switching_back_gives_the_same_bytes_and_stock_gives_the_users_own_back(config_file: Path) -> None:
    switch_llm("deepseek", load_settings(), tool="opencode")
    first = config_file.read_text()
    switch_llm("kimi", load_settings(), tool="opencode")
    switch_llm("deepseek", load_settings(), tool="opencode")
    assert config_file.read_text() == first
    switch_llm("stock", load_settings(), tool="opencode")
    assert config_file.read_text() == USER_FILE  # their own model is put back


def test_a_keyring_key_goes_into_our_own_file_at_0600_named_by_reference(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEEPSEEK_API_KEY")
    secret = "sk-in-keyring-0123456789"
    assert runner.invoke(app, ["secrets", "set", "deepseek"], input=secret + "\n").exit_code == 0
    result = switch_llm("deepseek", load_settings(), tool="opencode")
    text = config_file.read_text()
    assert secret not in text
    assert (
        load(text, config_file).data["provider"]["mahavishnu"]["options"]["apiKey"]
        == f"{{file:{key_file()}}}"
    )
    assert key_file().read_text() == secret + "\n"
    assert stat.S_IMODE(key_file().stat().st_mode) == 0o600
    assert all(secret not in f.diff for f in result.files)
    [entry] = current(load_settings(), "opencode")
    assert entry.key_source == f"file {key_file()}"


def test_inline_secret_still_never_writes_the_key_into_their_file(config_file: Path) -> None:
    switch_llm("deepseek", load_settings(), tool="opencode", inline_secret=True)
    assert "sk-deepseek-secret" not in config_file.read_text()
    assert key_file().read_text() == "sk-deepseek-secret-0123456789\n"


@pytest.mark.parametrize("folder", ["keys}", 'a"b', "a\\b"])
def test_a_key_file_path_opencode_would_read_another_way_is_refused(
    config_file: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    """OpenCode takes a {file:…} path up to its first '}', from the raw text (JSON escapes kept)."""
    monkeypatch.setenv("MAHAVISHNU_HOME", str(isolated_home / folder))
    refused = r"cannot read the key from .*the path in OpenCode's \{file:…\} cannot hold"
    with pytest.raises(ConfigError, match=refused):
        switch_llm("deepseek", load_settings(), tool="opencode", inline_secret=True)
    assert config_file.read_text() == USER_FILE
    assert not key_file().exists()


def test_rollback_is_byte_identical_and_removes_the_key_file_it_created(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEEPSEEK_API_KEY")
    assert (
        runner.invoke(app, ["secrets", "set", "deepseek"], input="sk-in-keyring-0123456789\n").exit_code == 0
    )
    switch_llm("deepseek", load_settings(), tool="opencode")
    assert key_file().exists()
    result = runner.invoke(app, ["ai", "rollback", "--tool", "opencode"])
    assert result.exit_code == 0, result.output
    assert config_file.read_text() == USER_FILE
    assert not key_file().exists()


def test_rollback_after_an_edit_by_hand_keeps_the_edited_file(config_file: Path) -> None:
    switch_llm("deepseek", load_settings(), tool="opencode")
    edited = config_file.read_text().replace('"tokyonight"', '"gruvbox"')
    config_file.write_text(edited)
    result = runner.invoke(app, ["ai", "rollback", "--tool", "opencode"])
    assert result.exit_code == 0, result.output
    assert config_file.read_text() == USER_FILE
    backups = runner.invoke(app, ["ai", "backups", "--file", str(config_file)])
    assert backups.exit_code == 0, backups.output
    from mahavishnu.files.safe_write import list_backups

    assert edited in [b.text() for b in list_backups() if Path(b.path) == config_file]


def test_a_new_config_file_is_created(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-moonshot-0123456789")
    switch_llm("kimi", load_settings(), tool="opencode")
    data = load((isolated_home / ".config" / "opencode" / "opencode.json").read_text(), "x").data
    assert set(data) == {"$schema", "provider", "model"}  # ($schema: as OpenCode writes a file of its own)
    assert data["provider"]["mahavishnu"]["options"]["apiKey"] == "{env:MOONSHOT_API_KEY}"


def test_a_provider_named_mahavishnu_of_the_users_is_refused(config_file: Path) -> None:
    config_file.write_text('{"provider": {"mahavishnu": {"npm": "x"}}}\n')
    with pytest.raises(InvalidConfigFileError, match="Mahavishnu did not write"):
        switch_llm("deepseek", load_settings(), tool="opencode")
    assert config_file.read_text() == '{"provider": {"mahavishnu": {"npm": "x"}}}\n'


def test_invalid_config_is_refused_and_left_alone(config_file: Path) -> None:
    config_file.write_text('{"provider": {"a": 1')
    with pytest.raises(InvalidConfigFileError):
        switch_llm("deepseek", load_settings(), tool="opencode")
    assert config_file.read_text() == '{"provider": {"a": 1'


def test_a_profile_without_openai_is_refused(
    config_file: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profiles(
        isolated_home, "  g-only:\n    secret: ['env:G']\n    gemini: {base_url: 'https://g', model: m}\n"
    )
    monkeypatch.setenv("G", "x")
    with pytest.raises(ProtocolMismatchError, match="OpenCode"):
        switch_llm("g-only", load_settings(), tool="opencode")
    assert config_file.read_text() == USER_FILE


@pytest.mark.parametrize(
    ("setting", "base_url", "model"),
    [
        ("base_url", "http://127.0.0.1:9/{file:~/.ssh/id_ed25519}", "m"),
        ("model", "http://127.0.0.1:9/v1", "m-{env:AWS_SECRET_ACCESS_KEY}"),
    ],
)
def test_a_profile_value_opencode_would_expand_is_refused(
    config_file: Path, isolated_home: Path, setting: str, base_url: str, model: str
) -> None:
    """OpenCode replaces {file:…} and {env:…} anywhere in its config's text: written as it is, a
    profile's URL would send a file of the user's to the endpoint."""
    write_profiles(
        isolated_home,
        f"  lab:\n    requires_key: false\n    openai: {{base_url: '{base_url}', model: '{model}'}}\n",
    )
    with pytest.raises(ConfigError, match=f"openai.{setting} holds .*OpenCode would replace"):
        switch_llm("lab", load_settings(), tool="opencode")
    assert config_file.read_text() == USER_FILE


def test_tool_all_includes_opencode(config_file: Path) -> None:
    result = switch_llm("deepseek", load_settings(), tool="all")
    assert "opencode" in result.tools
    assert load(config_file.read_text(), config_file).data["model"].startswith("mahavishnu/")


def test_stock_takes_out_the_model_and_provider_it_selected(config_file: Path) -> None:
    own = '{\n  // no model of my own\n  "theme": "tokyonight",\n}\n'
    config_file.write_text(own)
    switch_llm("deepseek", load_settings(), tool="opencode")
    switch_llm("opencode", load_settings(), tool="opencode")  # OpenCode's own stock profile
    assert config_file.read_text() == own
    assert current(load_settings(), "opencode") == []


def test_project_scope_writes_the_repository_roots_file_which_wins(
    config_file: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = isolated_home / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "pkg").mkdir()
    monkeypatch.chdir(repo / "pkg")  # OpenCode looks for opencode.json(c) up to the git root
    switch_llm("deepseek", load_settings(), tool="opencode", scope="project")
    assert load((repo / "opencode.json").read_text(), "x").data["model"].startswith("mahavishnu/")
    assert config_file.read_text() == USER_FILE
    project, user = current(load_settings(), "opencode")
    assert (project.scope, project.profile, user.scope, user.profile) == ("project", "deepseek", "user", None)


@pytest.mark.parametrize("winner", [".opencode/opencode.jsonc", "pkg/opencode.json"])
def test_a_project_file_no_switch_writes_that_wins_here_is_named(
    config_file: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch, winner: str
) -> None:
    """OpenCode also reads the .opencode folder's file and each folder's opencode.json up to the
    root (the nearest wins): one that sets a model outranks both files a switch writes."""
    repo = isolated_home / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "pkg").mkdir()
    write_file(repo / winner, '{"model": "anthropic/claude-sonnet-4-5"}\n')
    monkeypatch.chdir(repo / "pkg")
    scopes: tuple[Scope, ...] = ("user", "project")
    for scope in scopes:
        result = switch_llm("deepseek", load_settings(), tool="opencode", scope=scope)
        [outranked] = result.outranked
        assert outranked.path == str(repo / winner)
        assert any("take the provider and model out of that file" in w for w in result.warnings)
    assert current(load_settings(), "opencode")[0].path == str(repo / winner)


def test_the_home_opencode_folders_file_outranks_every_file_a_switch_writes(
    config_file: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenCode reads ~/.opencode/opencode.json(c) after every other file, from any folder."""
    repo = isolated_home / "repo"
    (repo / ".git").mkdir(parents=True)
    winner = write_file(
        isolated_home / ".opencode" / "opencode.json", '{"model": "anthropic/claude-sonnet-4-5"}\n'
    )
    monkeypatch.chdir(repo)
    scopes: tuple[Scope, ...] = ("user", "project")
    for scope in scopes:
        result = switch_llm("deepseek", load_settings(), tool="opencode", scope=scope)
        assert [(o.path, o.scope) for o in result.outranked] == [(str(winner), "home")]
    assert current(load_settings(), "opencode")[0].path == str(winner)


def _stored(name: str, secret: str) -> None:
    result = runner.invoke(app, ["secrets", "set", name], input=secret + "\n")
    assert result.exit_code == 0, result.output


def test_deleting_the_secret_removes_opencodes_copy_and_its_backups(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mahavishnu.files.safe_write import list_backups

    monkeypatch.delenv("DEEPSEEK_API_KEY")
    monkeypatch.delenv("MOONSHOT_API_KEY", raising=False)
    monkeypatch.delenv("KIMI_API_KEY", raising=False)
    deepseek, kimi = "sk-deepseek-in-keyring-0123456789", "sk-kimi-in-keyring-0123456789"
    _stored("deepseek", deepseek)
    _stored("kimi", kimi)
    switch_llm("deepseek", load_settings(), tool="opencode")
    switch_llm("kimi", load_settings(), tool="opencode")  # the deepseek key now sits in a backup
    assert any(deepseek in b.text() for b in list_backups(key_file()))

    result = runner.invoke(app, ["secrets", "delete", "deepseek"])
    assert result.exit_code == 0, result.output
    assert not any(deepseek in b.text() for b in list_backups(key_file()))
    assert key_file().read_text() == kimi + "\n"  # another key's copy stays
    assert "OpenCode's copy" not in result.output

    result = runner.invoke(app, ["secrets", "delete", "kimi"])
    assert result.exit_code == 0, result.output
    assert not key_file().exists()
    assert "removed" in result.output and "OpenCode's copy" in result.output


def test_a_value_of_several_lines_on_stdin_is_refused_not_cut(isolated_home: Path) -> None:
    result = runner.invoke(app, ["secrets", "set", "deepseek"], input="sk-first-line-0123\nsecond-line\n")
    assert result.exit_code != 0
    assert "2 lines" in result.output and "nothing was stored" in result.output
    assert runner.invoke(app, ["secrets", "list", "--json"]).output.strip() == "[]"
    assert runner.invoke(app, ["secrets", "set", "deepseek"], input="\nsk-one-line-0123\n\n").exit_code == 0


# -- a large config file -------------------------------------------------------------------------

COMMENT = re.compile(r'"(?:[^"\\]|\\.)*"|(//[^\r\n]*|/\*.*?\*/)', re.DOTALL)


def comments(text: str) -> list[str]:
    """Every comment of a JSONC text, in order (strings skipped; a new line may end in CRLF)."""
    return [found for found in COMMENT.findall(text) if found]


def large_config(providers: int) -> str:
    """A user's config of their own providers, each under a comment, with keys OpenCode does not
    have (Mahavishnu must keep them too) and trailing commas."""
    entries = [
        f'    // gateway {i}\n    "gw-{i}": {{\n      "npm": "@ai-sdk/openai-compatible", /* mine */\n'
        f'      "options": {{"baseURL": "http://127.0.0.1:{1000 + i}/v1", "x-unknown": [{i}, "y",],}},\n'
        f'      "models": {{"m": {{"name": "M {i}"}},}},\n    }},'
        for i in range(providers)
    ]
    return (
        '{\n  // my config\n  "$schema": "https://opencode.ai/config.json",\n'
        '  "zz-unknown": {"keep": true},\n'
        '  "provider": {\n' + "\n".join(entries) + '\n  },\n  "model": "gw-0/m", // mine\n'
        '  "theme": "opencode",\n}\n'
    )


def test_a_large_config_keeps_every_comment_key_and_byte_the_switch_does_not_own(config_file: Path) -> None:
    original = large_config(2000)  # ~400 KB
    config_file.write_text(original)
    switch_llm("deepseek", load_settings(), tool="opencode")
    after = config_file.read_text()
    last_own = original.index("\n  },\n")  # the end of the user's last provider
    assert after[:last_own] == original[:last_own]
    assert after.endswith('  "theme": "opencode",\n}\n')
    assert comments(after) == comments(original)
    before_data, after_data = load(original, config_file).data, load(after, config_file).data
    assert list(after_data) == list(before_data)  # top-level keys, in their order
    assert list(after_data["provider"]) == [*before_data["provider"], "mahavishnu"]
    assert after_data["model"].startswith("mahavishnu/")
    after_data["provider"].pop("mahavishnu")
    assert {**after_data, "model": before_data["model"]} == before_data
    switch_llm("stock", load_settings(), tool="opencode")
    assert config_file.read_text() == original


@hypothesis.settings(max_examples=150, deadline=None, database=None)
@hypothesis.given(
    own=st.dictionaries(
        st.sampled_from(["gw", "ollama", "a b", "é"]),
        st.dictionaries(st.text(max_size=3), st.integers()),
        max_size=3,
    ),
    other=st.dictionaries(
        st.sampled_from(["theme", "zz-unknown", "mcp", "model"]), st.text(max_size=5), max_size=3
    ),
    draw=st.data(),
)
def test_the_switch_edits_a_config_as_it_did_through_json_five(
    own: dict[str, Any], other: dict[str, Any], draw: Any
) -> None:
    """OpenCode's JSONC, with comments between any two tokens: the switch and the stock switch write
    the same bytes through json_model as through json-five's model; the switch keeps every comment
    and every key that is not its own."""
    data = {**other, "provider": own} if own or draw.draw(st.booleans()) else other
    text = draw.draw(GAPS) + jsonc(draw.draw, data) + "\n"
    entry = {
        "npm": OPENAI_COMPATIBLE,
        "name": MARK + "deepseek",
        "options": {"baseURL": "https://x/v1"},
        "models": {"m": {"name": "m"}},
    }
    switched = apply_profile(text, "opencode.json", entry, "m")
    back = remove_profile(switched, "opencode.json")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(json_document, "_read_jsonc", lambda text: None)  # every text to json-five
        assert apply_profile(text, "opencode.json", entry, "m") == switched
        assert remove_profile(switched, "opencode.json") == back
    assert comments(switched) == comments(text)
    provider = {**data.get("provider", {}), "mahavishnu": entry}
    assert load(switched, "opencode.json").data == {**data, "provider": provider, "model": "mahavishnu/m"}
