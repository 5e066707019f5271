"""A profile whose endpoint speaks the Responses API only (``wire_api: responses``) with the real
OpenCode: after `ai switch-llm --tool opencode`, and in `mahavishnu run --tool opencode`, OpenCode
sends ``POST /v1/responses`` (its ``@ai-sdk/openai`` package, which the binary ships: this runs with
no route off the machine) with the profile's key and model, never ``/chat/completions``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _cli_env import TOOLS_BIN, base_env
from _profiles import mahavishnu_env, switch, write_profiles
from mock_llm import MockLLM, RecordedRequest, Reply
from opencode_cli import OFFLINE, find_opencode, run_opencode

from mahavishnu.environments.launch import run_provider

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_opencode() is None, reason="OpenCode CLI not installed: run `bash .ci/install-e2e.sh`"
    ),
]

KEY = "sk-opencode-responses-0123456789"
#: No proxy reaches anything: a package OpenCode would fetch from npm fails the run.
NO_NETWORK = {
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
    "npm_config_registry": "http://127.0.0.1:9/",
}


class ResponsesOnly(MockLLM):
    """An endpoint of the Responses API only: Chat Completions is not found."""

    def _handle_openai_chat(self, req: RecordedRequest) -> Reply:
        return Reply.json({"error": {"message": "no chat completions here"}}, status=404)


def _profile(home: Path, mock: MockLLM) -> None:
    endpoint = {"base_url": f"{mock.base_url}/v1", "model": "resp-model", "wire_api": "responses"}
    write_profiles(home, {"lab": {"secret": ["env:LAB_KEY"], "openai": endpoint}})


def _check(mock: MockLLM, stdout: str) -> None:
    assert "pong" in stdout
    paths = [r.path for r in mock.requests]
    assert not [p for p in paths if p.endswith("/chat/completions")], paths
    sent = [r for r in mock.requests_to("/v1/responses") if "stream" in (r.body or {})]  # (not run's probe)
    assert len(sent) >= 2, paths  # the session's title and its answer
    assert {r.api_key for r in sent} == {KEY}
    assert {r.body["model"] for r in sent} == {"resp-model"}
    assert {r.body.get("store") for r in sent} == {False}  # (nothing the endpoint must keep)


def test_switch_makes_opencode_speak_the_responses_api(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_KEY", KEY)
    with ResponsesOnly(reply="pong") as mock:
        _profile(isolated_home, mock)
        switch("lab", "--tool", "opencode")
        done = run_opencode(isolated_home, "say hi", extra_env={"LAB_KEY": KEY, **NO_NETWORK})
        assert done.returncode == 0, done.stderr[-2000:]
        _check(mock, done.stdout)


def test_run_makes_opencode_speak_the_responses_api_and_writes_no_file(isolated_home: Path) -> None:
    with ResponsesOnly(reply="pong") as mock:
        _profile(isolated_home, mock)
        extra = {**mahavishnu_env(), "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "LAB_KEY": KEY}
        env = base_env(isolated_home, {**extra, **OFFLINE, **NO_NETWORK})
        env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{env['PATH']}"
        command = [sys.executable, "-m", "mahavishnu", "run", "lab", "--tool", "opencode", "--", "run", "hi"]
        done = subprocess.run(
            command,
            env=env,
            cwd=isolated_home,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        _check(mock, done.stdout)
        assert not list((isolated_home / ".config" / "opencode").glob("opencode.json*"))
        content = json.loads(
            subprocess.run(
                [*command[:7], "--show"], env=env, capture_output=True, text=True, timeout=60, check=True
            ).stdout
        )["env"]["OPENCODE_CONFIG_CONTENT"]
        assert json.loads(content)["provider"][run_provider("lab")]["npm"] == "@ai-sdk/openai"
