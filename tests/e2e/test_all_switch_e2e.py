"""`switch-llm NAME --tool all` points the four real CLIs at one profile in one transaction, and each
one's request reaches that profile's mock in its own protocol with the profile's key."""

from __future__ import annotations

from pathlib import Path

import pytest
from _profiles import mahavishnu_env, switch, write_profiles
from claude_cli import find_claude, parse_result, run_claude
from codex_cli import find_codex, run_codex
from gemini_cli import find_gemini, run_gemini, trust
from mock_llm import MockLLM
from qwen_cli import find_qwen, run_qwen

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        None in (find_claude(), find_codex(), find_qwen(), find_gemini()),
        reason="the assistant CLIs are not installed: run `bash .ci/install-e2e.sh`",
    ),
]

KEY = "sk-all-tools-0123456789"


def test_one_switch_for_every_assistant(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = isolated_home / "work"
    work.mkdir()
    trust(isolated_home, work)
    with MockLLM(reply="pong") as mock:
        write_profiles(
            isolated_home,
            {
                "lab": {
                    "secret": ["env:GEMINI_API_KEY"],
                    "anthropic": {"base_url": mock.base_url, "model": "m-anthropic"},
                    "openai": {
                        "base_url": f"{mock.base_url}/v1",
                        "model": "m-openai",
                        "wire_api": "responses",
                    },
                    "gemini": {"base_url": mock.base_url, "model": "m-gemini"},
                }
            },
        )
        monkeypatch.setenv("GEMINI_API_KEY", KEY)
        output = switch("lab", "--tool", "all")
        assert "skipped" not in output
        env = {**mahavishnu_env(), "GEMINI_API_KEY": KEY}  # the one variable every tool reads the key from

        claude = run_claude(isolated_home, "hi", extra_env=env, cwd=work)
        assert claude.returncode == 0, claude.stderr
        assert parse_result(claude)["result"].strip() == "pong"
        for tool_run in (run_codex, run_qwen, run_gemini):
            proc = tool_run(isolated_home, "hi", extra_env=env, cwd=work)
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.strip() == "pong"

        seen = {(r.path, r.api_key, (r.body or {}).get("model")) for r in mock.requests if r.method == "POST"}
        assert ("/v1/messages", KEY, "m-anthropic") in seen
        assert ("/v1/responses", KEY, "m-openai") in seen
        assert ("/v1beta/models/m-gemini:streamGenerateContent", KEY, None) in seen
        agents = {r.headers.get("user-agent", "").split("/")[0] for r in mock.requests_to("/v1/responses")}
        assert {"codex_exec", "QwenCode"} <= agents
