"""Credentials in the shell or in settings.json never reach another provider through Claude Code.

Claude Code 2.1.197 (checked against a mock server) sends a shell's ``ANTHROPIC_API_KEY`` as
``x-api-key`` beside the apiKeyHelper's key, and an ``ANTHROPIC_AUTH_TOKEN`` (shell or settings
``env``) instead of it; a settings ``env`` value of ``""`` replaces either, and flag settings
(``--settings``) outrank ``settings.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mahavishnu import doctor
from mahavishnu.config import load_settings
from mahavishnu.environments import launch as launch_module
from mahavishnu.environments.launch import RUN_KEY_VAR, exec_launch, plan
from mahavishnu.environments.switcher import switch_llm

QWEN_KEY = "sk-qwen-0123456789abcdef"
ZAI_KEY = "sk-zai-0123456789abcdef"
SHELL_API_KEY = "sk-ant-api03-SHELLCANARY0123456789"
SHELL_TOKEN = "tok-SHELLCANARY0123456789"


@pytest.fixture
def claude_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "claude").write_text("#!/bin/sh\n")
    (bin_dir / "claude").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DASHSCOPE_API_KEY", QWEN_KEY)
    monkeypatch.setenv("ZAI_API_KEY", ZAI_KEY)


def _settings_file(home: Path) -> Path:
    return home / ".claude" / "settings.json"


def _exec_env(monkeypatch: pytest.MonkeyPatch, launch: launch_module.Launch) -> dict[str, str]:
    seen: dict[str, dict[str, str]] = {}

    def fake_exec(file: str, argv: list[str], env: dict[str, str]) -> None:
        seen["env"] = dict(env)

    monkeypatch.setattr(launch_module.os, "execvpe", fake_exec)
    exec_launch(launch)
    return seen["env"]


def test_run_leaves_the_shells_anthropic_credentials_out_of_claude(
    isolated_home, claude_on_path, monkeypatch
):
    monkeypatch.setenv("ANTHROPIC_API_KEY", SHELL_API_KEY)
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", SHELL_TOKEN)
    monkeypatch.setenv("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-SHELLCANARY")
    env = _exec_env(monkeypatch, plan("qwen", load_settings(), tool="claude", args=["-p", "hi"]))
    assert env[RUN_KEY_VAR] == QWEN_KEY
    assert not {"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"} & set(env)
    assert SHELL_API_KEY not in json.dumps(env) and SHELL_TOKEN not in json.dumps(env)
    assert env["PATH"] == os.environ["PATH"]  # the rest of the environment is inherited


def test_run_blanks_a_token_that_settings_json_holds_so_the_runs_own_key_is_sent(
    isolated_home, claude_on_path, monkeypatch
):
    switch_llm("zai", load_settings(), inline_secret=True)  # env.ANTHROPIC_AUTH_TOKEN = the zai key
    assert ZAI_KEY in _settings_file(isolated_home).read_text()
    launch = plan("qwen", load_settings(), tool="claude", args=[])
    flag = json.loads(launch.argv[launch.argv.index("--settings") + 1])
    # flag settings outrank settings.json, key by key: "" leaves the helper's key the only one
    assert flag["env"]["ANTHROPIC_AUTH_TOKEN"] == "" and flag["env"]["ANTHROPIC_API_KEY"] == ""
    assert flag["apiKeyHelper"] == f"printenv {RUN_KEY_VAR}"
    assert launch.env[RUN_KEY_VAR] == QWEN_KEY
    assert QWEN_KEY not in json.dumps(launch.argv) and ZAI_KEY not in json.dumps(launch.argv)


def test_other_assistants_keep_the_environment_they_inherit(isolated_home, claude_on_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", SHELL_API_KEY)
    assert plan("qwen", load_settings(), tool="qwen", args=[]).unset == ()


def test_switch_blanks_the_shells_api_key_for_another_provider_and_warns(
    isolated_home, claude_on_path, monkeypatch
):
    monkeypatch.setenv("ANTHROPIC_API_KEY", SHELL_API_KEY)
    result = switch_llm("qwen", load_settings())
    env = json.loads(_settings_file(isolated_home).read_text())["env"]
    assert env["ANTHROPIC_API_KEY"] == ""
    assert any("ANTHROPIC_API_KEY" in w and "unset ANTHROPIC_API_KEY" in w for w in result.warnings)
    assert SHELL_API_KEY not in json.dumps(result.warnings)
    switch_llm("claude", load_settings())  # the subscription login: the blank goes with the rest
    assert "ANTHROPIC_API_KEY" not in _settings_file(isolated_home).read_text()
    # Anthropic's own API: the anthropic profile's helper reads that very variable, so it stays
    result = switch_llm("anthropic", load_settings())
    assert "ANTHROPIC_API_KEY" not in json.loads(_settings_file(isolated_home).read_text())["env"]
    assert not any("exports ANTHROPIC_API_KEY" in w for w in result.warnings)


def test_switch_blanks_a_shell_token_claude_would_send_instead_of_the_key(
    isolated_home, claude_on_path, monkeypatch
):
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", SHELL_TOKEN)
    result = switch_llm("zai", load_settings())
    assert json.loads(_settings_file(isolated_home).read_text())["env"]["ANTHROPIC_AUTH_TOKEN"] == ""
    said = [w for w in result.warnings if "ANTHROPIC_AUTH_TOKEN" in w]
    assert said and 'sets it to ""' in said[0] and "unset ANTHROPIC_AUTH_TOKEN" in said[0]
    assert SHELL_TOKEN not in said[0]


def test_doctor_warns_when_the_shell_credential_would_reach_the_provider(
    isolated_home, claude_on_path, monkeypatch
):
    switch_llm("zai", load_settings())
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", SHELL_TOKEN)
    assert doctor.check_keys(load_settings())[0].status == "ok"  # the switch blanked it in settings.json
    path = _settings_file(isolated_home)
    data = json.loads(path.read_text())
    del data["env"]["ANTHROPIC_AUTH_TOKEN"]  # a file switched before the blank existed
    path.write_text(json.dumps(data))
    found = {f.check: f for f in doctor.check_keys(load_settings())}["key:claude:user"]
    assert found.status == "warn" and "ANTHROPIC_AUTH_TOKEN" in found.detail
    assert "unset ANTHROPIC_AUTH_TOKEN" in found.hint and SHELL_TOKEN not in found.detail + found.hint


def test_doctor_warns_about_the_api_key_only_when_settings_do_not_blank_it(
    isolated_home, claude_on_path, monkeypatch
):
    monkeypatch.setenv("ANTHROPIC_API_KEY", SHELL_API_KEY)
    switch_llm("qwen", load_settings())  # writes the blank
    assert {f.check: f for f in doctor.check_keys(load_settings())}["key:claude:user"].status == "ok"
    path = _settings_file(isolated_home)
    data = json.loads(path.read_text())
    del data["env"]["ANTHROPIC_API_KEY"]  # a file switched before the blank existed
    path.write_text(json.dumps(data, indent=2))
    found = {f.check: f for f in doctor.check_keys(load_settings())}["key:claude:user"]
    assert found.status == "warn" and "ANTHROPIC_API_KEY" in found.detail
    assert "unset ANTHROPIC_API_KEY" in found.hint


def test_doctor_warns_for_a_keyless_profile_too(isolated_home, claude_on_path, monkeypatch):
    switch_llm("ollama", load_settings())  # env.ANTHROPIC_AUTH_TOKEN = "ollama" replaces a shell token
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", SHELL_TOKEN)
    assert not doctor.check_keys(load_settings())
    path = _settings_file(isolated_home)
    data = json.loads(path.read_text())
    data["env"].pop("ANTHROPIC_API_KEY", None)
    path.write_text(json.dumps(data, indent=2))
    monkeypatch.setenv("ANTHROPIC_API_KEY", SHELL_API_KEY)
    found = doctor.check_keys(load_settings())
    assert [f.status for f in found] == ["warn"] and "ANTHROPIC_API_KEY" in found[0].detail
