"""`mahavishnu run PROFILE --tool qwen|gemini|pi -- -p …` with the real Qwen Code, Gemini CLI and Pi:
the request reaches the profile's loopback mock with its key and model, and no file changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _cli_env import TOOLS_BIN, base_env, find_tool
from _profiles import mahavishnu_env, switch, write_profiles
from mock_llm import MockLLM

KEY = "sk-run-qg-0123456789"
FILES = (
    ".qwen/settings.json",
    ".qwen/.env",
    ".gemini/settings.json",
    ".gemini/.env",
    ".pi/agent/settings.json",
    ".pi/agent/models.json",
)


def _snapshot(home: Path) -> dict[str, bytes | None]:
    return {f: (home / f).read_bytes() if (home / f).exists() else None for f in FILES}


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    extra = {**mahavishnu_env(), "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "LAB_KEY": KEY}
    env = base_env(home, extra)
    env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{env['PATH']}"
    env["GEMINI_CLI_TRUST_WORKSPACE"] = "true"
    env.update({"PI_OFFLINE": "1", "PI_SKIP_VERSION_CHECK": "1"})
    command = [sys.executable, "-m", "mahavishnu", "run", *args]
    return subprocess.run(
        command, env=env, cwd=home, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180
    )


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("tool", "path"),
    [("qwen", "/v1/chat/completions"), ("gemini", "GenerateContent"), ("pi", "/v1/chat/completions")],
)
def test_run_reaches_the_profile_without_touching_files(isolated_home: Path, tool: str, path: str) -> None:
    if find_tool(tool) is None:
        pytest.skip(f"{tool} CLI not installed: run `bash .ci/install-e2e.sh`")
    with MockLLM(reply="pong") as mock:
        write_profiles(
            isolated_home,
            {
                "lab": {
                    "secret": ["env:LAB_KEY"],
                    "openai": {"base_url": f"{mock.base_url}/v1", "model": "lab-model", "wire_api": "chat"},
                    "gemini": {"base_url": mock.base_url, "model": "lab-model"},
                }
            },
        )
        if tool == "gemini":  # a user of Gemini CLI with an API key (see launch._gemini)
            settings = isolated_home / ".gemini" / "settings.json"
            settings.parent.mkdir()
            settings.write_text('{"security": {"auth": {"selectedType": "gemini-api-key"}}}\n')
        if tool == "pi":  # a Pi user whose own default is another provider: the run outranks it
            agent = isolated_home / ".pi" / "agent"
            agent.mkdir(parents=True)
            (agent / "settings.json").write_text('{"defaultProvider": "google", "defaultModel": "x"}\n')
        before = _snapshot(isolated_home)
        done = _run(isolated_home, "lab", "--tool", tool, "--", "-p", "hi")
        assert done.returncode == 0, (done.stdout, done.stderr)
        hits = [r for r in mock.requests if r.path.endswith(path) or path in r.path]
        assert hits, [r.path for r in mock.requests]
        assert hits[0].api_key == KEY
        assert "lab-model" in (hits[0].path + str(hits[0].body))
        assert _snapshot(isolated_home) == before


@pytest.mark.e2e
@pytest.mark.parametrize("switched_before", [False, True])
def test_run_qwen_on_a_responses_endpoint_speaks_the_responses_api(
    isolated_home: Path, switched_before: bool
) -> None:
    """A profile with ``wire_api: responses`` (an endpoint that serves no Chat Completions): Qwen Code
    0.24 runs with ``--auth-type openai-responses`` and sends ``POST /v1/responses``, also when the
    user's settings select another provider (a switch to a Chat Completions profile) serving a model
    of the same name."""
    if find_tool("qwen") is None:
        pytest.skip("qwen CLI not installed: run `bash .ci/install-e2e.sh`")
    with MockLLM(reply="pong") as mock, MockLLM(reply="other") as other:
        write_profiles(
            isolated_home,
            {
                "lab": {
                    "secret": ["env:LAB_KEY"],
                    "openai": {
                        "base_url": f"{mock.base_url}/v1",
                        "model": "lab-model",
                        "wire_api": "responses",
                    },
                },
                "mine": {
                    "requires_key": False,
                    "openai": {"base_url": f"{other.base_url}/v1", "model": "lab-model", "wire_api": "chat"},
                },
            },
        )
        if switched_before:
            switch("mine", "--tool", "qwen")
        before = _snapshot(isolated_home)
        done = _run(isolated_home, "lab", "--tool", "qwen", "--", "-p", "hi")
        assert done.returncode == 0, (done.stdout, done.stderr)
        assert done.stdout.strip() == "pong"
        requests = [r for r in mock.requests if r.method == "POST"]
        assert requests and {r.path for r in requests} == {"/v1/responses"}
        assert {r.api_key for r in requests} == {KEY} and {r.body["model"] for r in requests} == {"lab-model"}
        assert other.requests == []
        after = _snapshot(isolated_home)
        if switched_before:  # Qwen Code itself adds "$version" to the settings it reads (a migration)
            [settings_before, settings_after] = (
                json.loads(s.pop(".qwen/settings.json") or "") for s in (before, after)
            )
            assert {k: v for k, v in settings_after.items() if k != "$version"} == settings_before
        assert after == before
