"""`switch-llm --tool all` that cannot switch every assistant says so: each skip carries its fix, a
summary counts what was switched, and skipping an installed assistant exits 3 (a partial switch);
skipping one that is not installed is not a failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.environments.secrets import store_secret

runner = CliRunner()
NO_KEYRING = "keyring.backends.fail.Keyring"


@pytest.fixture
def key_in_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without an OS keyring, qwen's key stored by `secrets set` (the 0600 file)."""
    import keyring.core
    from keyring.backends import fail

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", NO_KEYRING)
    keyring.core.set_keyring(fail.Keyring())
    store_secret("qwen", "sk-file-0123456789", "file")


def _on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *tools: str) -> None:
    """Only ``tools`` are installed (a do-nothing executable each on an otherwise empty PATH)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        exe = bin_dir / tool
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))


def test_skipping_installed_assistants_is_a_partial_switch_with_each_fix(
    key_in_file: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _on_path(tmp_path, monkeypatch, "claude", "codex", "qwen", "gemini")
    result = runner.invoke(app, ["ai", "switch-llm", "qwen", "--tool", "all"])
    assert result.exit_code == 3, result.output
    out = " ".join(result.output.split())
    assert 'export DASHSCOPE_API_KEY="$(mahavishnu secrets get qwen)"' in out
    assert "mahavishnu run qwen --tool qwen -- …" in out
    assert "mahavishnu ai switch-llm gemini --tool gemini" in out
    assert "4 of 6 switched; 2 skipped (Qwen Code, Gemini CLI: installed, so they keep the previous" in out


def test_skipping_assistants_that_are_not_installed_is_complete(
    key_in_file: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _on_path(tmp_path, monkeypatch, "claude", "codex")
    result = runner.invoke(app, ["ai", "switch-llm", "qwen", "--tool", "all"])
    assert result.exit_code == 0, result.output
    assert "4 of 6 switched; 2 skipped (Qwen Code, Gemini CLI: not installed)" in result.output
    assert "qwen: skipped (not installed)" in result.output


def test_the_json_output_carries_the_fixes_the_summary_and_the_exit_status(
    key_in_file: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _on_path(tmp_path, monkeypatch, "claude", "qwen")
    result = runner.invoke(app, ["ai", "switch-llm", "qwen", "--tool", "all", "--json"])
    assert result.exit_code == 3, result.output
    data = json.loads(result.output)
    skipped = {s["tool"]: s for s in data["skipped"]}
    assert skipped["qwen"]["installed"] is True and "DASHSCOPE_API_KEY" in skipped["qwen"]["fix"]
    assert skipped["gemini"]["installed"] is False and skipped["gemini"]["fix"]
    assert data["partial"] is True and data["exit_code"] == 3
    assert data["summary"].startswith("4 of 6 switched; 2 skipped")


def test_a_profile_without_a_wire_api_names_the_key_to_add(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = isolated_home / ".mahavishnu" / "mahavishnu.yaml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(
        "profiles:\n  mock:\n    secret: ['env:MOCK_KEY']\n"
        "    anthropic: {base_url: 'http://127.0.0.1:9000', model: m}\n"
        "    openai: {base_url: 'http://127.0.0.1:9000/v1', model: m}\n"
    )
    monkeypatch.setenv("MOCK_KEY", "sk-mock-0123456789")
    _on_path(tmp_path, monkeypatch, "codex")
    result = runner.invoke(app, ["ai", "switch-llm", "mock", "--tool", "all"])
    assert result.exit_code == 3, result.output
    out = " ".join(result.output.split())
    assert "wire_api = unset" in out
    assert "add `wire_api: responses` under `profiles.mock.openai`" in out


def test_the_fast_path_exits_3_too(
    key_in_file: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _on_path(tmp_path, monkeypatch, "qwen")
    done = subprocess.run(
        [sys.executable, "-m", "mahavishnu", "ai", "switch-llm", "qwen", "--tool", "all"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON_KEYRING_BACKEND": NO_KEYRING},
        timeout=60,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "4 of 6 switched; 2 skipped (Gemini CLI: not installed; Qwen Code: installed" in done.stdout


def test_several_assistants_named_are_switched_together_as_all_does_with_every_one(
    key_in_file: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--tool claude,codex`` (as mcp-servers and memory hooks take it) said "unknown tool
    'claude,codex'": a user switching two assistants ran two switches, two transactions."""
    _on_path(tmp_path, monkeypatch, "claude", "codex", "gemini")
    result = runner.invoke(app, ["ai", "switch-llm", "qwen", "--tool", "claude, codex,gemini", "--json"])
    assert result.exit_code == 3, result.output  # Gemini CLI, installed, has no endpoint in qwen
    data = json.loads(result.output)
    assert (data["tools"], data["tool"]) == (["claude", "codex"], "claude,codex,gemini")
    assert [s["tool"] for s in data["skipped"]] == ["gemini"]
    assert data["summary"].startswith("2 of 3 switched; 1 skipped")
    refused = runner.invoke(app, ["ai", "switch-llm", "qwen", "--tool", "claude,cursor"])
    assert refused.exit_code != 0 and "unknown tool 'cursor'" in refused.output
