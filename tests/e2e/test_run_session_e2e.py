"""`mahavishnu run PROFILE -- ARGS` with the real CLIs: two concurrent sessions reach two different
loopback mocks, each with its own key and model, and no config file changes by a byte (not even the
Claude settings.json a `switch-llm` pointed at the other provider)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _cli_env import TOOLS_BIN
from _profiles import mahavishnu_env, store_key, switch, write_profiles
from claude_cli import CLAUDE_ENV, build_env, find_claude
from codex_cli import find_codex
from mock_llm import MockLLM

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_claude() is None or find_codex() is None,
        reason="CLIs not installed: run `bash .ci/install-e2e.sh`",
    ),
]

KEYS = {"lab-one": "sk-run-one-0123456789", "lab-two": "sk-run-two-9876543210"}
CONFIG_FILES = (
    ".claude/settings.json",
    ".codex/config.toml",
    ".codex/.env",
    ".qwen/settings.json",
    ".gemini/.env",
)


def _profiles(home: Path, one: MockLLM, two: MockLLM) -> None:
    profiles = {}
    for name, mock, model in (("lab-one", one, "model-one"), ("lab-two", two, "model-two")):
        profiles[name] = {
            "anthropic": {"base_url": mock.base_url, "model": model},
            "openai": {"base_url": f"{mock.base_url}/v1", "model": model, "wire_api": "responses"},
        }
    write_profiles(home, profiles)


def _snapshot(home: Path) -> dict[str, bytes | None]:
    return {f: (home / f).read_bytes() if (home / f).exists() else None for f in CONFIG_FILES}


def _run(home: Path, *args: str) -> subprocess.Popen[str]:
    env = build_env(home, {**mahavishnu_env(), "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
    env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{env['PATH']}"
    command = [sys.executable, "-m", "mahavishnu", "run", *args]
    return subprocess.Popen(
        command,
        env=env,
        cwd=home,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


#: What `run`'s probe of an Anthropic-protocol provider sends (``services/probe.py``).
PING = [{"role": "user", "content": "ping"}]


def test_two_concurrent_sessions_use_two_providers_and_change_no_file(isolated_home: Path) -> None:
    assert CLAUDE_ENV["CLAUDE_CODE_MAX_RETRIES"] == "0"  # a failing mock fails the run at once
    with MockLLM(reply="one") as one, MockLLM(reply="two") as two:
        _profiles(isolated_home, one, two)
        for name, key in KEYS.items():
            store_key(name, key)
        switch("lab-two")  # the user's settings.json now points at lab-two, with its helper
        switch("lab-two", "--tool", "codex")
        before = _snapshot(isolated_home)
        claude_args = ("--", "-p", "hi", "--output-format", "json", "--setting-sources", "user")
        sessions = {
            "claude-one": _run(isolated_home, "lab-one", *claude_args),
            "claude-two": _run(isolated_home, "lab-two", *claude_args),
            "codex-one": _run(
                isolated_home, "lab-one", "--tool", "codex", "--", "exec", "--skip-git-repo-check", "hi"
            ),
        }
        for name, proc in sessions.items():
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, (name, out, err)
        for mock, name, model in ((one, "lab-one", "model-one"), (two, "lab-two", "model-two")):
            sent = mock.requests_to("/v1/messages")
            probes = [r for r in sent if r.body.get("max_tokens") == 1 and r.body.get("messages") == PING]
            messages = [r for r in sent if r not in probes]  # `run` probes the provider first
            assert probes and all(r.api_key == KEYS[name] for r in probes), (name, [r.path for r in sent])
            assert len(messages) == 1, (name, [r.path for r in mock.requests])
            assert messages[0].api_key == KEYS[name]
            assert messages[0].body["model"] == model
        [responses] = one.requests_to("/v1/responses")
        assert responses.headers["authorization"] == f"Bearer {KEYS['lab-one']}"
        assert responses.body["model"] == "model-one"
        assert two.requests_to("/v1/responses") == []
        assert _snapshot(isolated_home) == before
