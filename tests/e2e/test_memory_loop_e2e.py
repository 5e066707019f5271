"""The memory loop with the four real CLIs against the loopback mock, through the hooks that
`mahavishnu memory hooks install --tool all` writes (the real embedded store and local embedder):

1. a decision stated in a Codex session, and a ★ Insight in the mock's reply, become memories;
2. a later Claude Code session in the same project sends them to the mock in its context;
3. a decision stated in Claude Code reaches Qwen Code's and Gemini CLI's requests the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from _profiles import mahavishnu_env, switch, write_profiles
from claude_cli import find_claude, parse_result, run_claude
from codex_cli import find_codex, run_codex
from gemini_cli import find_gemini, run_gemini, trust
from mock_llm import MockLLM
from qwen_cli import find_qwen, run_qwen
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.memory.store import MemoryStore

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        None in (find_claude(), find_codex(), find_qwen(), find_gemini()),
        reason="the assistant CLIs are not installed: run `bash .ci/install-e2e.sh`",
    ),
]

KEY = "sk-memory-loop-0123456789"
INSIGHT = "Retries live in one module so every client backs off the same way."
RULE = "─" * 37
REPLY = f"Noted.\n\n`★ Insight {RULE}`\n{INSIGHT}\n`{RULE}{'─' * 12}`\n"
CODEX_DECISION = "We decided to use httpx for every HTTP call in this project."
CLAUDE_DECISION = "Decision: all timestamps are stored in UTC."


def memories(kind: str) -> list[tuple[str, str | None]]:
    with MemoryStore.open() as store:
        return [(m.content, m.source_system) for m in store.recent({"project": "shop", "types": [kind]})]


def captured(kind: str, *wanted: tuple[str, str]) -> list[tuple[str, str | None]]:
    """The memories of ``kind`` once ``wanted`` are among them: the capture hook returns at once
    and a detached process imports the session (``cli/fast.py``), so it may land a moment later."""
    deadline = time.monotonic() + 120
    found = memories(kind)
    while not set(wanted) <= set(found) and time.monotonic() < deadline:
        time.sleep(0.5)
        found = memories(kind)
    return found


def sent(requests: list[object]) -> str:
    return " ".join(json.dumps(getattr(r, "body", None)) for r in requests)


def test_memory_flows_between_the_assistants_through_their_hooks(isolated_home: Path) -> None:
    work = isolated_home / "src" / "shop"
    (work / "api").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    cwd = work / "api"  # a subfolder: the project is the git root's name
    trust(isolated_home, cwd)
    with MockLLM(reply=REPLY) as mock:
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
        os.environ["GEMINI_API_KEY"] = KEY
        switch("lab", "--tool", "all")
        installed = CliRunner().invoke(app, ["memory", "hooks", "install", "--tool", "all"])
        assert installed.exit_code == 0, installed.output
        env = {**mahavishnu_env(), "GEMINI_API_KEY": KEY, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}

        # 1. Codex: the decision and the mock's insight become memories through its Stop hook.
        codex = run_codex(
            isolated_home, f"{CODEX_DECISION} Acknowledge.", extra_env=env, cwd=cwd, timeout=180
        )
        assert codex.returncode == 0, codex.stderr[-3000:]
        assert "hook: Stop Completed" in codex.stderr, codex.stderr[-3000:]
        assert (CODEX_DECISION, "codex") in captured("decision", (CODEX_DECISION, "codex"))
        assert (INSIGHT, "codex") in captured("insight", (INSIGHT, "codex"))

        # 2. Claude Code, later, same project: both reach the mock inside its context.
        mock.clear()
        claude = run_claude(
            isolated_home, f"{CLAUDE_DECISION} Which HTTP client?", extra_env=env, cwd=cwd, timeout=180
        )
        assert claude.returncode == 0 and not parse_result(claude)["is_error"], claude.stderr[-3000:]
        to_claude = sent(mock.requests_to("/v1/messages")[:1])
        assert CODEX_DECISION in to_claude and INSIGHT in to_claude
        # given at session start, not again for the prompt, although the prompt is about it
        assert to_claude.count(CODEX_DECISION) == 1, to_claude[-3000:]
        assert (CLAUDE_DECISION, "claude-code") in captured("decision", (CLAUDE_DECISION, "claude-code"))

        # 3. Qwen Code and Gemini CLI get Claude's decision (and Codex's) the same way.
        for run, path in (
            (run_qwen, "/v1/responses"),
            (run_gemini, "/v1beta/models/m-gemini:streamGenerateContent"),
        ):
            mock.clear()
            proc = run(isolated_home, "How do we store dates?", extra_env=env, cwd=cwd, timeout=180)
            assert proc.returncode == 0, proc.stderr[-3000:]
            body = sent(mock.requests_to(path))
            assert CLAUDE_DECISION in body and CODEX_DECISION in body, (run.__name__, body[-3000:])
