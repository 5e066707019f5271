"""`mahavishnu run`'s plans: the provider in the process's environment and flags, the key only in
the environment, never in a file or on the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _switch_helpers import write_profiles

from mahavishnu.config import load_settings
from mahavishnu.environments.assistants.registry import NAMES
from mahavishnu.environments.launch import (
    PI_EXTENSION,
    PI_PROVIDER_VAR,
    RUN_KEY_VAR,
    exec_launch,
    plan,
)
from mahavishnu.errors import ConfigError, NotFoundError, ProtocolMismatchError, SecretNotFoundError

KEY = "sk-launch-0123456789abcdef"


@pytest.fixture
def tools_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in NAMES:
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize(
    ("profile", "tool", "var", "flag"),
    [
        ("zai", "claude", RUN_KEY_VAR, "--settings"),
        ("zai", "codex", RUN_KEY_VAR, "-c"),
        ("qwen", "qwen", "OPENAI_API_KEY", "--openai-base-url"),
        ("gemini", "gemini", "GEMINI_API_KEY", "--model"),
    ],
)
def test_the_key_is_in_the_environment_only(tools_on_path, monkeypatch, profile, tool, var, flag):
    for name in ("ZAI_API_KEY", "DASHSCOPE_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.setenv(name, KEY)
    launch = plan(profile, load_settings(), tool=tool, args=["--extra"])
    assert Path(launch.argv[0]).name == tool and launch.argv[-1] == "--extra" and flag in launch.argv
    assert launch.env[var] == KEY
    assert KEY not in json.dumps(launch.argv) and KEY not in json.dumps(launch.shown_env())


def test_opencode_gets_the_provider_as_inline_config_and_the_key_by_reference(tools_on_path, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
    launch = plan("deepseek", load_settings(), tool="opencode", args=["run", "hi"])
    assert launch.argv[1:] == ["run", "hi"] and launch.env[RUN_KEY_VAR] == KEY
    content = json.loads(launch.env["OPENCODE_CONFIG_CONTENT"])
    provider = content["provider"]["mahavishnu-run"]
    assert content["model"] == "mahavishnu-run/" + next(iter(provider["models"]))
    assert provider["options"]["apiKey"] == "{env:" + RUN_KEY_VAR + "}"
    assert KEY not in json.dumps(launch.argv) and KEY not in launch.env["OPENCODE_CONFIG_CONTENT"]


def test_opencode_refuses_a_profile_its_inline_config_would_expand(tools_on_path, isolated_home):
    """OPENCODE_CONFIG_CONTENT is expanded as a file is: {file:…} in the URL would send the file."""
    write_profiles(
        isolated_home,
        "  lab:\n    requires_key: false\n"
        "    openai: {base_url: 'http://127.0.0.1:9/{file:/etc/shadow}', model: m}\n",
    )
    with pytest.raises(ConfigError, match=r"openai\.base_url holds"):
        plan("lab", load_settings(), tool="opencode", args=["run", "hi"])


def test_pi_gets_the_provider_from_the_shipped_extension_and_the_key_by_name(tools_on_path, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
    launch = plan("deepseek", load_settings(), tool="pi", args=["-p", "hi"])
    assert launch.argv[1:3] == ["--extension", str(PI_EXTENSION)] and PI_EXTENSION.is_file()
    provider = json.loads(launch.env[PI_PROVIDER_VAR])
    model = provider["models"][0]["id"]
    assert launch.argv[3:] == ["--provider", "mahavishnu-run", "--model", model, "-p", "hi"]
    assert provider["apiKey"] == RUN_KEY_VAR and launch.env[RUN_KEY_VAR] == KEY
    assert KEY not in json.dumps(launch.argv) and KEY not in launch.env[PI_PROVIDER_VAR]


def test_claude_flag_settings_carry_the_provider_and_a_helper_reading_the_env(tools_on_path, monkeypatch):
    monkeypatch.setenv("ZAI_API_KEY", KEY)
    launch = plan("zai", load_settings(), tool=None, args=[])
    flag = json.loads(launch.argv[launch.argv.index("--settings") + 1])
    assert flag["env"]["ANTHROPIC_BASE_URL"] == "https://api.z.ai/api/anthropic"
    assert flag["apiKeyHelper"] == f"printenv {RUN_KEY_VAR}"


def test_refusals_are_clear(tools_on_path, monkeypatch):
    with pytest.raises(ProtocolMismatchError):
        plan("claude", load_settings(), tool="claude", args=[])  # a login, not a provider
    with pytest.raises(SecretNotFoundError, match="DEEPSEEK_API_KEY"):
        plan("deepseek", load_settings(), tool="claude", args=[])
    monkeypatch.setenv("PATH", "/nonexistent")
    launch = plan("ollama", load_settings(), tool="claude", args=[])  # --show needs no install
    assert launch.argv[0] == "claude"
    with pytest.raises(NotFoundError, match="Claude Code is not installed"):
        exec_launch(launch)
