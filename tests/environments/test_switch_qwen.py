from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from _switch_helpers import write_config, write_profiles
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.environments.assistants.qwen import MARK, is_ours, load
from mahavishnu.environments.profiles import all_profiles
from mahavishnu.environments.switcher import current, switch_llm
from mahavishnu.errors import InvalidConfigFileError, ProtocolMismatchError, SecretStoreError
from mahavishnu.files.json_document import JsonDocument
from mahavishnu.files.safe_write import list_backups
from mahavishnu.masking import mask

# JSONC as Qwen Code users write it: comments everywhere, their own providers, one-line objects.
USER_FILE = """{
  // Qwen Code settings (JSONC)
  "$version": 3,
  "modelProviders": {
    "openai": [
      // my self-hosted model, keep it
      {"id": "my-coder", "name": "My coder", "baseUrl": "https://llm.example.com/v1", "envKey": "MY_KEY"},
      {
        "id": "other",
        "envKey": "OTHER_KEY" /* a block comment */
      }
    ],
    "anthropic": [{"id": "claude-x", "envKey": "ANTHROPIC_API_KEY"}]
  },
  "security": {
    "auth": {"selectedType": "qwen-oauth"}, // was OAuth
    "folderTrust": {"enabled": true}
  },
  "general": {"vimMode": true},
  "mcpServers": {"docs": {"command": "npx", "args": ["-y", "docs"]}}
}
"""

OPENAI_PROFILES = sorted(n for n, p in all_profiles(load_settings()).items() if "openai" in p.protocols)
runner = CliRunner()


@pytest.fixture
def settings_file(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return write_config(isolated_home / ".qwen" / "settings.json", USER_FILE, monkeypatch)


def _without_owned(text: str) -> str:
    doc = load(text, "test")
    doc.remove_elements(["modelProviders", "openai"], is_ours)
    doc.delete(["security", "auth", "selectedType"])
    doc.delete(["model", "name"], prune_empty_parents=True)
    doc.delete(["model", "baseUrl"], prune_empty_parents=True)
    return doc.dumps()


def _check_shape(data: dict[str, Any]) -> None:
    """What Qwen Code 0.24 accepts: modelProviders.<protocol> arrays of {id, ...} with string fields
    and wireApi one of chat-completions/responses (checked against the real CLI in tests/e2e)."""
    for entries in data["modelProviders"].values():
        assert isinstance(entries, list)
        for entry in entries:
            assert isinstance(entry["id"], str) and entry["id"]
            for key in ("name", "baseUrl", "envKey", "description"):
                assert isinstance(entry.get(key, ""), str)
            assert entry.get("wireApi", "chat-completions") in ("chat-completions", "responses")


def test_every_openai_profile_round_trips_and_keeps_everything_else_byte_identical(
    settings_file: Path,
) -> None:
    baseline = _without_owned(USER_FILE)
    for name in [*OPENAI_PROFILES, *reversed(OPENAI_PROFILES)]:
        switch_llm(name, load_settings(), tool="qwen")
        text = settings_file.read_text()
        data = JsonDocument.parse(text, comments=True).data
        _check_shape(data)
        endpoint = all_profiles(load_settings())[name].settings.openai
        assert endpoint is not None
        ours = [e for e in data["modelProviders"]["openai"] if is_ours(e)]
        assert ours == [
            {
                "id": endpoint.model,
                "name": f"{all_profiles(load_settings())[name].label} (Mahavishnu)",
                "baseUrl": endpoint.base_url,
                "envKey": all_profiles(load_settings())[name].settings.secret[0].removeprefix("env:")
                if name != "ollama"
                else "MAHAVISHNU_OLLAMA_API_KEY",
                **({"wireApi": "responses"} if endpoint.wire_api == "responses" else {}),
                "description": MARK + name,
            }
        ]
        responses = endpoint.wire_api == "responses"  # (the auth type of the Responses API selects it)
        assert data["security"]["auth"]["selectedType"] == ("openai-responses" if responses else "openai")
        assert data["model"] == {"name": endpoint.model, "baseUrl": endpoint.base_url}
        assert [e["id"] for e in data["modelProviders"]["openai"][:2]] == ["my-coder", "other"]
        assert _without_owned(text) == baseline, name
        for comment in ("// my self-hosted model, keep it", "/* a block comment */", "// was OAuth"):
            assert comment in text


def test_switching_back_gives_the_same_bytes(settings_file: Path) -> None:
    switch_llm("deepseek", load_settings(), tool="qwen")
    first = settings_file.read_text()
    switch_llm("kimi", load_settings(), tool="qwen")
    switch_llm("deepseek", load_settings(), tool="qwen")
    assert settings_file.read_text() == first


def test_a_new_settings_file_is_created(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-moonshot-0123456789")
    switch_llm("kimi", load_settings(), tool="qwen")
    data = JsonDocument.parse((isolated_home / ".qwen" / "settings.json").read_text()).data
    assert data == {
        "modelProviders": {
            "openai": [
                {
                    "id": "kimi-k3",
                    "name": "Kimi (Moonshot AI) (Mahavishnu)",
                    "baseUrl": "https://api.moonshot.ai/v1",
                    "envKey": "MOONSHOT_API_KEY",
                    "description": MARK + "kimi",
                }
            ]
        },
        "security": {"auth": {"selectedType": "openai"}},
        "model": {"name": "kimi-k3", "baseUrl": "https://api.moonshot.ai/v1"},
    }
    switch_llm("stock", load_settings(), tool="qwen")  # not left holding {}
    assert not (isolated_home / ".qwen" / "settings.json").exists()


def test_the_key_stays_a_reference(settings_file: Path) -> None:
    switch_llm("deepseek", load_settings(), tool="qwen")
    assert "sk-deepseek-secret" not in settings_file.read_text()
    assert not (settings_file.parent / ".env").exists()


def test_a_keyring_key_needs_inline_secret(settings_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPSEEK_API_KEY")
    assert (
        runner.invoke(app, ["secrets", "set", "deepseek"], input="sk-in-keyring-0123456789\n").exit_code == 0
    )
    with pytest.raises(SecretStoreError, match="only from an environment variable"):
        switch_llm("deepseek", load_settings(), tool="qwen")
    assert settings_file.read_text() == USER_FILE

    result = switch_llm("deepseek", load_settings(), tool="qwen", inline_secret=True)
    dotenv = settings_file.parent / ".env"
    assert (
        dotenv.read_text()
        == "# mahavishnu: profile 'deepseek' (Qwen Code)\nDEEPSEEK_API_KEY=sk-in-keyring-0123456789\n"
    )
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600
    assert "sk-in-keyring" not in settings_file.read_text()
    assert all("sk-in-keyring-0123456789" not in f.diff for f in result.files)
    [entry] = current(load_settings(), "qwen")
    assert entry.key_source == f"envKey DEEPSEEK_API_KEY {mask('sk-in-keyring-0123456789')} in {dotenv}"

    monkeypatch.setenv("ZAI_API_KEY", "sk-zai-0123456789")
    switch_llm("zai", load_settings(), tool="qwen")  # by reference: the written key goes
    assert not dotenv.exists()  # and with it the file, which held nothing else


def test_project_scope_writes_the_workspace_file_qwen_reads(
    settings_file: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Qwen Code reads <cwd>/.qwen/settings.json (loadSettings(process.cwd())), not the git root's
    repo = isolated_home / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "sub").mkdir()
    monkeypatch.chdir(repo / "sub")
    result = switch_llm("zai", load_settings(), tool="qwen", scope="project")
    written = repo / "sub" / ".qwen" / "settings.json"
    assert [f.path for f in result.files] == [str(written)]
    assert JsonDocument.parse(written.read_text()).data["model"]["name"] == "glm-5.3"
    assert not (repo / ".qwen").exists()
    assert settings_file.read_text() == USER_FILE
    [note] = [w for w in result.warnings if "only when started in" in w]
    assert str(written) in note and str(repo) in note
    assert [(c.scope, c.profile) for c in current(load_settings(), "qwen")] == [("project", "zai")]
    monkeypatch.chdir(repo)
    assert [c.scope for c in current(load_settings(), "qwen")] == []


def test_a_profile_without_openai_is_refused(
    settings_file: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profiles(
        isolated_home, "  g-only:\n    secret: ['env:G']\n    gemini: {base_url: 'https://g', model: m}\n"
    )
    monkeypatch.setenv("G", "x")
    with pytest.raises(ProtocolMismatchError, match="Qwen Code"):
        switch_llm("g-only", load_settings(), tool="qwen")
    assert settings_file.read_text() == USER_FILE


def test_invalid_jsonc_is_refused_with_its_line(settings_file: Path) -> None:
    broken = USER_FILE.replace('"general": {"vimMode": true},', '"general": {"vimMode": true}')
    settings_file.write_text(broken)
    with pytest.raises(InvalidConfigFileError, match="line 20, column 3"):
        switch_llm("deepseek", load_settings(), tool="qwen")
    assert settings_file.read_text() == broken
    assert list_backups() == []


def test_modelproviders_of_the_wrong_type_is_refused(settings_file: Path) -> None:
    odd = '{"modelProviders": {"openai": {"id": "x"}}}\n'
    settings_file.write_text(odd)
    with pytest.raises(InvalidConfigFileError, match="not an array"):
        switch_llm("deepseek", load_settings(), tool="qwen")
    assert settings_file.read_text() == odd


def test_dry_run_writes_nothing(settings_file: Path) -> None:
    result = switch_llm("zai", load_settings(), tool="qwen", dry_run=True, inline_secret=True)
    assert settings_file.read_text() == USER_FILE
    assert not (settings_file.parent / ".env").exists()
    assert len(result.files) == 2 and "sk-zai-secret-0123456789" not in result.files[1].diff
    assert '+        "envKey": "ZAI_API_KEY",' in result.files[0].diff


def test_current_reads_the_entry_back(settings_file: Path) -> None:
    assert current(load_settings(), "qwen") == []  # model.name unset: nothing selected
    switch_llm("openai", load_settings(), tool="qwen")
    [entry] = current(load_settings(), "qwen")
    assert (entry.profile, entry.base_url, entry.model) == (
        "openai",
        "https://api.openai.com/v1",
        "gpt-6.1-sol",
    )
    assert entry.key_source == "envKey OPENAI_API_KEY"


def test_an_invalid_env_line_is_refused_without_quoting_it(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A .env line that is not an assignment is often a key written wrong (``KEY: sk-…``): the
    refusal names the line, never its text, which would print the key."""
    monkeypatch.delenv("DEEPSEEK_API_KEY")
    runner.invoke(app, ["secrets", "set", "deepseek", "--store", "file"], input="sk-in-file-0123456789\n")
    dotenv = settings_file.parent / ".env"
    mistyped = "MY_KEY: sk-ant-api03-Xq8Zx7Lm2Pv9Rt4Wk6Ny3Bh5Jd1Fs0Gc\n"
    dotenv.write_text(mistyped)
    with pytest.raises(InvalidConfigFileError, match=r"its line 1 is not KEY=value") as refused:
        switch_llm("deepseek", load_settings(), tool="qwen", inline_secret=True)
    assert "Xq8Zx7Lm" not in refused.value.message and "sk-ant" not in refused.value.message
    assert dotenv.read_text() == mistyped
