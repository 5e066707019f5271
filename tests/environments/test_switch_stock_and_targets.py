"""Switching as a new user types it: back to an assistant's own login (no key at all), a profile
without --tool, a missing key in a dry run, and a project file a teammate can use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mahavishnu.config import load_settings
from mahavishnu.environments.switcher import current, switch_llm
from mahavishnu.errors import ProtocolMismatchError, SecretNotFoundError

USER_SETTINGS = (
    '{\n  "model": "opus",\n  "hooks": {},\n  "env": {\n    "MAX_THINKING_TOKENS": "31999"\n  }\n}\n'
)


@pytest.fixture
def claude_file(isolated_home: Path) -> Path:
    path = isolated_home / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(USER_SETTINGS)
    return path


def test_switch_llm_claude_with_no_key_returns_to_the_subscription_login(claude_file, monkeypatch):
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-qwen-0123456789abcdef")
    switch_llm("qwen", load_settings())
    assert "ANTHROPIC_BASE_URL" in claude_file.read_text()
    monkeypatch.delenv("DASHSCOPE_API_KEY")
    result = switch_llm("claude", load_settings(), tool=None)
    assert result.tools == ["claude"]
    assert claude_file.read_text() == USER_SETTINGS  # every key a profile owns removed, nothing else
    assert current(load_settings(), "claude") == []  # `ai current` shows it as stock


def test_anthropic_api_key_use_keeps_its_own_name(claude_file, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-0123456789abcdef")
    switch_llm("anthropic", load_settings())
    data = json.loads(claude_file.read_text())
    assert data["env"]["ANTHROPIC_BASE_URL"] == "https://api.anthropic.com"
    assert "secrets get anthropic" in data["apiKeyHelper"]


def test_stock_returns_every_assistant_to_its_own_login(isolated_home, monkeypatch):
    monkeypatch.setenv("ZAI_API_KEY", "sk-zai-0123456789abcdef")
    monkeypatch.setenv("GEMINI_API_KEY", "gm-0123456789abcdef")
    gemini_settings = isolated_home / ".gemini" / "settings.json"
    gemini_settings.parent.mkdir()
    gemini_settings.write_text('{"ui": {"theme": "dark"}}\n')
    switch_llm("zai", load_settings(), tool="all")
    switch_llm("gemini", load_settings(), tool="gemini")
    assert {e.tool for e in current(load_settings())} >= {"claude", "codex", "qwen", "gemini"}
    result = switch_llm("stock", load_settings(), tool="all")
    assert sorted(result.tools) == ["claude", "codex", "gemini", "opencode", "pi", "qwen"]
    assert current(load_settings()) == []
    # no login type the file never had (Qwen Code asks, as before), no empty shell: the switch
    # created the file, and it goes
    assert not (isolated_home / ".qwen" / "settings.json").exists()
    gemini = json.loads(gemini_settings.read_text())
    assert gemini == {"ui": {"theme": "dark"}}  # byte for byte what the user had, in values
    assert not (isolated_home / ".gemini" / ".env").exists()  # the switch created it: gone, not left empty
    codex = (isolated_home / ".codex" / "config.toml").read_text()
    assert "model_provider" not in codex and "mahavishnu" not in codex


def test_a_stock_profile_of_one_assistant_refuses_another():
    with pytest.raises(ProtocolMismatchError, match="own login of claude"):
        switch_llm("claude", load_settings(), tool="codex")


def test_without_tool_a_profile_goes_to_the_assistants_it_serves(isolated_home, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-0123456789abcdef")
    result = switch_llm("openai", load_settings(), tool=None)
    assert result.tools == ["codex", "qwen", "opencode", "pi"]
    assert result.notes and "has no endpoint for Claude Code" in result.notes[0]
    assert not (isolated_home / ".claude" / "settings.json").exists()
    codex_login = switch_llm("codex", load_settings(), tool=None)  # as the original design typed it
    assert codex_login.tools == ["codex"]


def test_missing_key_error_names_the_variables_and_the_command(claude_file):
    with pytest.raises(SecretNotFoundError) as info:
        switch_llm("qwen", load_settings())
    assert "DASHSCOPE_API_KEY" in info.value.message and "QWEN_API_KEY" in info.value.message
    assert "keyring" not in info.value.message  # the keyring of the tests is just empty: no failure to name
    assert "mahavishnu secrets set qwen" in info.value.hint
    assert claude_file.read_text() == USER_SETTINGS


def test_dry_run_without_a_key_shows_the_diff_and_warns(claude_file, isolated_home):
    result = switch_llm("qwen", load_settings(), dry_run=True, tool="all")
    assert any("no API key for profile 'qwen'" in w for w in result.warnings)
    claude_diff = next(f.diff for f in result.files if f.tool == "claude")
    assert "secrets get qwen" in claude_diff and "ANTHROPIC_BASE_URL" in claude_diff
    qwen_diff = next(f.diff for f in result.files if f.tool == "qwen")
    assert "DASHSCOPE_API_KEY" in qwen_diff
    assert claude_file.read_text() == USER_SETTINGS


def test_the_alias_variable_is_used_by_reference(isolated_home, monkeypatch):
    monkeypatch.setenv("QWEN_API_KEY", "sk-qwen-alias-0123456789")
    switch_llm("qwen", load_settings(), tool="qwen")
    text = (isolated_home / ".qwen" / "settings.json").read_text()
    assert '"envKey": "QWEN_API_KEY"' in text and "sk-qwen-alias" not in text


def test_project_scope_names_no_machine_path(isolated_home, monkeypatch):
    monkeypatch.setenv("ZAI_API_KEY", "sk-zai-0123456789abcdef")
    project = isolated_home / "repo"
    (project / ".git").mkdir(parents=True)
    monkeypatch.chdir(project)
    switch_llm("zai", load_settings(), scope="project")
    data = json.loads((project / ".claude" / "settings.json").read_text())
    assert data["apiKeyHelper"] == "mahavishnu secrets get zai"
    user = switch_llm("zai", load_settings(), scope="user")
    assert user.files[0].changed
    helper = json.loads((isolated_home / ".claude" / "settings.json").read_text())["apiKeyHelper"]
    assert helper.split()[-4].startswith("/")  # the user's own file may name this machine's path
