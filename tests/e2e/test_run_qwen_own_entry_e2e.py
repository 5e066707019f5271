"""`mahavishnu run PROFILE --tool qwen` with the real Qwen Code when the user's own settings define a
model of the same id for another provider: the session still goes to the profile's endpoint with the
profile's key, and no file changes (also not the shipped system settings the run names)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _cli_env import TOOLS_BIN, base_env, find_tool
from _profiles import mahavishnu_env, write_profiles
from mock_llm import MockLLM

from mahavishnu.environments.launch import QWEN_RUN_SETTINGS

KEY = "sk-run-own-entry-0123456789"
THEIRS = "sk-users-own-provider-987654"
PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses"}


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    extra = {**mahavishnu_env(), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    env = base_env(home, {**extra, "LAB_KEY": KEY, "THEIR_KEY": THEIRS})
    env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{env['PATH']}"
    command = [sys.executable, "-m", "mahavishnu", "run", *args]
    return subprocess.run(
        command, env=env, cwd=home, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180
    )


#: Where a user's entry of the model sits: Qwen Code's ``openai`` list, its legacy ``openai-responses``
#: list, or a provider of the user's own naming the protocol it speaks (``providerProtocol``).
WHERE = {
    "openai": ({}, "openai"),
    "legacy": ({}, "openai-responses"),
    "own provider": ({"providerProtocol": {"mine": "openai"}}, "mine"),
}


@pytest.mark.e2e
@pytest.mark.parametrize("where", list(WHERE))
@pytest.mark.parametrize("theirs", [None, "chat-completions", "responses"])
@pytest.mark.parametrize("wire", ["chat", "responses"])
def test_run_qwen_outranks_an_entry_of_the_same_model_in_the_users_settings(
    isolated_home: Path, wire: str, theirs: str | None, where: str
) -> None:
    """Qwen Code 0.24.4 takes a ``modelProviders`` entry whose id is ``--model``'s over
    ``OPENAI_BASE_URL`` and ``--openai-base-url``: its base URL, and its ``envKey``'s key. Without the
    run's system settings every case but (responses profile, entry without wireApi) went there."""
    if find_tool("qwen") is None:
        pytest.skip("qwen CLI not installed: run `bash .ci/install-e2e.sh`")
    with MockLLM(reply="pong") as mock, MockLLM(reply="other") as other:
        write_profiles(
            isolated_home,
            {
                "lab": {
                    "secret": ["env:LAB_KEY"],
                    "openai": {"base_url": f"{mock.base_url}/v1", "model": "lab-model", "wire_api": wire},
                }
            },
        )
        entry = {"id": "lab-model", "name": "mine", "baseUrl": f"{other.base_url}/v1", "envKey": "THEIR_KEY"}
        entry |= {"wireApi": theirs} if theirs else {}
        extra, key = WHERE[where]
        model = {"name": "lab-model", "baseUrl": entry["baseUrl"]}  # (as Qwen Code's /model leaves it)
        user = {"$version": 4, **extra, "modelProviders": {key: [entry]}, "model": model}
        user |= {"security": {"auth": {"selectedType": "openai"}}}
        settings = isolated_home / ".qwen" / "settings.json"
        settings.parent.mkdir()
        settings.write_text(json.dumps(user, indent=2) + "\n")
        before = (settings.read_bytes(), QWEN_RUN_SETTINGS.read_bytes())
        done = _run(isolated_home, "lab", "--tool", "qwen", "--", "-p", "hi")
        assert done.returncode == 0, (done.stdout, done.stderr)
        assert done.stdout.strip() == "pong"
        assert other.requests == []
        posts = [r for r in mock.requests if r.method == "POST"]
        assert posts and {r.path for r in posts} == {PATHS[wire]}
        assert {r.api_key for r in mock.requests} == {KEY}
        assert {r.body["model"] for r in posts} == {"lab-model"}
        assert (settings.read_bytes(), QWEN_RUN_SETTINGS.read_bytes()) == before
