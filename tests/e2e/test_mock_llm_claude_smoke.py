"""The real Claude Code CLI talks to the loopback mock, configured only by ~/.claude/settings.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from claude_cli import find_claude, parse_result, run_claude, write_settings
from mock_llm import MockLLM

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_claude() is None,
        reason="Claude Code CLI not installed: run `bash .ci/install-e2e.sh` (installs into .e2e-tools/)",
    ),
]

REPLY = "mock-reply-7f3a: hello from the loopback server"
MODEL = "some-model"


def _settings(base_url: str, helper: str) -> dict[str, object]:
    return {"env": {"ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_MODEL": MODEL}, "apiKeyHelper": helper}


def test_claude_uses_settings_json_and_picks_up_a_changed_api_key_helper(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with MockLLM(reply=REPLY) as mock:
        write_settings(home, _settings(mock.base_url, "echo sk-test-one"))
        first = run_claude(home, "hi")
        out = parse_result(first)
        assert first.returncode == 0, first.stderr
        assert out["is_error"] is False
        assert REPLY in out["result"]

        [req] = mock.requests_to("/v1/messages")
        assert req.headers["x-api-key"] == "sk-test-one"
        assert req.headers["authorization"] == "Bearer sk-test-one"
        assert req.body["model"] == MODEL
        assert req.body["stream"] is True
        assert "hi" in json.dumps(req.body["messages"])

        mock.clear()
        write_settings(home, _settings(mock.base_url, "echo sk-test-two"))
        second = run_claude(home, "hi again")
        assert second.returncode == 0, second.stderr
        assert REPLY in parse_result(second)["result"]

        [req] = mock.requests_to("/v1/messages")
        assert req.api_key == "sk-test-two"
        assert req.headers["authorization"] == "Bearer sk-test-two"
        assert "sk-test-one" not in json.dumps(req.headers)


def test_an_auth_token_in_settings_env_wins_over_the_api_key_helper(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with MockLLM(reply=REPLY) as mock:
        settings = _settings(mock.base_url, "echo sk-from-helper")
        settings["env"] = {**settings["env"], "ANTHROPIC_AUTH_TOKEN": "tok-from-settings"}  # type: ignore[dict-item]
        write_settings(home, settings)
        proc = run_claude(home, "hi")
        assert proc.returncode == 0, proc.stderr
        assert REPLY in parse_result(proc)["result"]

        [req] = mock.requests_to("/v1/messages")
        assert req.headers["authorization"] == "Bearer tok-from-settings"
        # Claude 2.1.197 still runs the helper concurrently; about one run in ten its
        # key also lands in x-api-key. Writers should drop apiKeyHelper when they set a token.
        assert req.headers.get("x-api-key") in (None, "sk-from-helper")
