"""The memory loop with the four real CLIs against the loopback mock, through the hooks that
`mahavishnu memory hooks install --tool all` writes (the real embedded store and local embedder):

1. a decision stated in a Codex session, and a ★ Insight in the mock's reply, become memories;
2. a later Claude Code session in the same project sends them to the mock in its context;
3. a decision stated in Claude Code reaches Qwen Code's and Gemini CLI's requests the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _memory_loop import captured, project_folder, sent, turn_the_loop_on
from claude_cli import find_claude, parse_result, run_claude
from codex_cli import find_codex, run_codex
from gemini_cli import find_gemini, run_gemini
from mock_llm import MockLLM
from qwen_cli import find_qwen, run_qwen

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        None in (find_claude(), find_codex(), find_qwen(), find_gemini()),
        reason="the assistant CLIs are not installed: run `bash .ci/install-e2e.sh`",
    ),
]

INSIGHT = "Retries live in one module so every client backs off the same way."
RULE = "─" * 37
REPLY = f"Noted.\n\n`★ Insight {RULE}`\n{INSIGHT}\n`{RULE}{'─' * 12}`\n"
CODEX_DECISION = "We decided to use httpx for every HTTP call in this project."
CLAUDE_DECISION = "Decision: all timestamps are stored in UTC."


def test_memory_flows_between_the_assistants_through_their_hooks(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = project_folder(isolated_home)
    with MockLLM(reply=REPLY) as mock:
        env = turn_the_loop_on(isolated_home, mock, monkeypatch)

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
