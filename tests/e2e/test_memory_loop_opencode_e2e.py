"""The memory loop with the real OpenCode CLI against the loopback mock, through the plugin that
`mahavishnu memory hooks install --tool opencode` writes (the real embedded store and embedder):
a decision stored before reaches the model's request for a prompt that asks about it, and the turn
(a decision the user states in it, the mock's ★ Insight) is captured from OpenCode's database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _cli_env import run_cli
from _memory_loop import KEY, PROJECT, captured, memories, project_folder, run_mahavishnu, sent
from _profiles import mahavishnu_env, switch, write_profiles
from mock_llm import MockLLM
from opencode_cli import OFFLINE, find_opencode
from typer.testing import CliRunner

from mahavishnu.cli.main import app

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_opencode() is None, reason="OpenCode CLI not installed: run `bash .ci/install-e2e.sh`"
    ),
]

STORED = "We decided to use httpx for every HTTP call in this project."
STATED = "Decision: all timestamps are stored in UTC."
INSIGHT = "Retries live in one module so every client backs off the same way."
RULE = "─" * 37
REPLY = f"Noted.\n\n`★ Insight {RULE}`\n{INSIGHT}\n`{RULE}{'─' * 12}`\n"


def test_recall_into_the_prompt_and_capture_of_the_turn(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = project_folder(isolated_home)
    stored = run_mahavishnu("memory", "store", STORED, "--type", "decision", "--project", PROJECT)
    assert stored.returncode == 0, stored.stderr
    with MockLLM(reply=REPLY) as mock:
        write_profiles(
            isolated_home,
            {
                "lab": {
                    "secret": ["env:LAB_KEY"],
                    "openai": {"base_url": f"{mock.base_url}/v1", "model": "m-chat", "wire_api": "chat"},
                }
            },
        )
        monkeypatch.setenv("LAB_KEY", KEY)
        switch("lab", "--tool", "opencode")
        installed = CliRunner().invoke(app, ["memory", "hooks", "install", "--tool", "opencode"])
        assert installed.exit_code == 0, installed.output
        env = {**mahavishnu_env(), "LAB_KEY": KEY}

        # The words apart, as typed: `opencode run` quotes a single argument holding spaces.
        words = ["run", *f"{STATED} Which HTTP client do we use?".split()]
        proc = run_cli("opencode", words, isolated_home, 180, {**OFFLINE, **env}, cwd)
        assert proc.returncode == 0, proc.stderr[-3000:]
        requests = mock.requests_to("/v1/chat/completions")
        assert requests, mock.requests
        assert STORED in sent(requests), sent(requests)[-3000:]
        # with the prompt, as the user's message: never in the system prompt
        messages = [m for r in requests for m in r.body["messages"]]
        assert all(STORED not in json.dumps(m) for m in messages if m["role"] == "system")

    # The turn, read from opencode.db by the capture the plugin ran when the session went idle.
    assert (STATED, "opencode") in captured("decision", (STATED, "opencode"))
    assert (INSIGHT, "opencode") in captured("insight", (INSIGHT, "opencode"))
    turns = [content for content, _ in memories("agent")]
    assert any(STATED in turn for turn in turns), turns
    assert not any("<recalled-memory>" in turn for turn in turns)  # recall is never captured back
