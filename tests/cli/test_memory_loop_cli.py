"""``mahavishnu memory context``, ``memory import --tool`` and ``memory hooks``, end to end in-process
(the real embedded store under the tmp MAHAVISHNU_HOME; only the embedder is the fake)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from mahavishnu.cli import memory as memory_cli
from mahavishnu.errors import InvalidInputError, NotFoundError
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.embedders.fake import FakeEmbedder

runner = CliRunner()
SAMPLES = Path(__file__).parents[1] / "memory" / "fixtures" / "sessions"


@pytest.fixture(autouse=True)
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())


def memory(*args: str, stdin: str | None = None) -> Result:
    return runner.invoke(memory_cli.app, list(args), input=stdin)


def ok(*args: str, stdin: str | None = None) -> Any:
    result = memory(*args, stdin=stdin)
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout) if "--json" in args else result.stdout


def backfill_home(home: Path) -> None:
    """Put the four sample sessions where each assistant keeps them under this HOME."""
    shutil.copytree(SAMPLES / "claude", home / ".claude" / "projects")
    shutil.copytree(SAMPLES / "codex", home / ".codex" / "sessions")
    shutil.copytree(SAMPLES / "qwen", home / ".qwen" / "projects")
    shutil.copytree(SAMPLES / "gemini", home / ".gemini" / "tmp")


def test_import_tool_all_backfills_every_assistant_once(isolated_home: Path) -> None:
    backfill_home(isolated_home)
    reports = ok("import", "--tool", "all", "--json")
    assert [(r["turns"], r["added"], r["project"]) for r in reports] == [(2, 2, "proj")] * 4
    assert "4 sessions: 0 new turns" in ok("import", "--tool", "all")
    agents = {t["agent_id"] for t in ok("conversations", "--json")}
    assert agents == {"claude-code", "codex", "qwen-code", "gemini-cli"}


def test_import_dash_reads_the_hooks_json_and_is_quiet(isolated_home: Path) -> None:
    backfill_home(isolated_home)
    path = next((isolated_home / ".gemini" / "tmp").rglob("*.jsonl"))
    hook = json.dumps({"session_id": "x", "transcript_path": str(path), "hook_event_name": "AfterAgent"})
    assert ok("import", "--tool", "gemini", "-", stdin=hook) == ""
    assert len(ok("conversations", "--agent", "gemini-cli", "--json")) == 2


def test_a_path_needs_one_tool_and_import_needs_a_file_or_a_tool() -> None:
    result = memory("import", "--tool", "all", "some.jsonl")
    assert isinstance(result.exception, InvalidInputError) and "one assistant" in str(result.exception)
    result = memory("import")
    assert isinstance(result.exception, InvalidInputError) and "--tool all" in (result.exception.hint or "")


def test_context_prints_the_hook_json_with_the_projects_memories(isolated_home: Path) -> None:
    backfill_home(isolated_home)
    ok("import", "--tool", "codex")
    start = {"hook_event_name": "SessionStart", "session_id": "new", "cwd": "/home/dev/work/proj"}
    answer = json.loads(ok("context", "--tool", "claude", stdin=json.dumps(start)))
    text = answer["hookSpecificOutput"]["additionalContext"]
    assert answer["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    assert "decision · user ·" in text and "We decided to use httpx for HTTP." in text
    assert "insight · kept ·" in text and "We keep retries in one place" in text
    assert ok("context", "--tool", "claude", stdin=json.dumps(start)) == ""  # already sent


def test_context_with_bad_input_is_a_one_line_error() -> None:
    result = memory("context", "--tool", "claude", stdin="not json")
    assert isinstance(result.exception, InvalidInputError) and "no hook JSON" in str(result.exception)
    result = memory("context", "--tool", "cursor", stdin="{}")
    assert isinstance(result.exception, InvalidInputError) and "unknown assistant" in str(result.exception)
    result = memory("context", "--tool", "all", stdin="{}")  # one hook is one assistant's
    assert isinstance(result.exception, InvalidInputError)
    assert result.exception.hint == "Use one of: claude, codex, qwen, gemini, pi or opencode."


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["context", "--tool", "claude"], 'Pipe one in, e.g. echo \'{"hook_event_name": "SessionStart"'),
        (["import", "--tool", "codex", "-"], "Pass the session file instead of '-'"),
    ],
)
def test_a_hook_command_run_by_hand_on_a_terminal_says_what_to_do_instead_of_waiting(
    args: list[str], hint: str
) -> None:
    _, terminal = os.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mahavishnu", "memory", *args],
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=60,  # it used to wait for input here
            check=False,
        )
    finally:
        os.close(terminal)
    assert done.returncode == 1 and "none was piped in" in done.stderr, done.stderr
    assert hint in done.stderr and "Traceback" not in done.stderr


def test_a_failing_hook_exits_1_which_no_assistant_reads_as_block(isolated_home: Path) -> None:
    """Exit 2 is "block" to the assistants: Claude Code would drop the user's prompt
    (UserPromptSubmit) or keep the agent going (Stop). By hand, a bad argument is still 2."""
    from mahavishnu.cli.main import app

    damaged = isolated_home / ".codex" / "sessions" / "rollout.jsonl"
    damaged.parent.mkdir(parents=True)
    damaged.write_text("not json\n")
    hook = json.dumps({"session_id": "s", "transcript_path": str(damaged), "hook_event_name": "Stop"})
    runs = {
        "recall, bad payload": runner.invoke(app, ["memory", "context", "--tool", "claude"], input="[]"),
        "capture, damaged log": runner.invoke(app, ["memory", "import", "--tool", "codex", "-"], input=hook),
    }
    assert {name: r.exit_code for name, r in runs.items()} == dict.fromkeys(runs, 1)
    assert "not a Codex session log" in runs["capture, damaged log"].stderr
    assert runner.invoke(app, ["memory", "import", "--tool", "codex", str(damaged)]).exit_code == 2


def test_import_of_a_missing_path_says_what_to_pass() -> None:
    result = memory("import", "--tool", "codex", "/nowhere/rollout.jsonl")
    assert isinstance(result.exception, NotFoundError)
    assert "No such file or directory: /nowhere/rollout.jsonl" in str(result.exception)
    assert "session file" in (result.exception.hint or "")


def test_hooks_install_status_remove(isolated_home: Path) -> None:
    assert "memory hooks installed in:" in ok("hooks", "install", "--tool", "all")
    assert "already done" in ok("hooks", "install", "--tool", "all")
    states = {t["tool"]: t["state"] for t in ok("hooks", "status", "--json")}
    assert "~/.codex/hooks.json" in ok("hooks", "status")  # short enough for the table
    assert states == dict.fromkeys(("claude", "codex", "qwen", "gemini", "pi", "opencode"), "installed")
    assert "memory hooks removed from:" in ok("hooks", "remove", "--tool", "codex")
    assert ok("hooks", "status", "--tool", "codex", "--json")[0]["state"] == "not installed"
    assert "would change" in ok("hooks", "install", "--tool", "codex", "--dry-run")


def test_hooks_install_takes_a_comma_separated_list_and_leaves_a_customised_hook(isolated_home: Path) -> None:
    assert "memory hooks installed in:" in ok("hooks", "install", "--tool", "claude,qwen")
    states = {t["tool"]: t["state"] for t in ok("hooks", "status", "--json")}
    assert states == {
        "claude": "installed",
        "codex": "not installed",
        "qwen": "installed",
        "gemini": "not installed",
        "pi": "not installed",
        "opencode": "not installed",
    }
    settings = isolated_home / ".claude" / "settings.json"
    data = json.loads(settings.read_text())
    data["hooks"]["Stop"][0]["hooks"][0]["timeout"] = 45
    settings.write_text(json.dumps(data, indent=2))
    again = ok("hooks", "install", "--tool", "claude")
    assert "the Stop hook is already installed (customised: timeout 45)" in again and "already done" in again
    assert json.loads(settings.read_text()) == data
    assert "Stop (customised: timeout 45)" in ok("hooks", "status", "--tool", "claude")


def test_import_says_how_many_decisions_the_user_stated(isolated_home: Path, tmp_path: Path) -> None:
    """The decision was stored as a memory, and the command said only "2 new turns, 0 insights"."""
    at = {"sessionId": "s1", "cwd": "/work/ledger", "timestamp": "2026-11-28T10:00:00Z"}
    said = "We decided to use PostgreSQL 16 for the ledger. Scaffold it."
    rows = [
        {"type": "user", "uuid": "u1", **at, "message": {"role": "user", "content": said}},
        {"type": "assistant", "uuid": "a1", **at, "message": {"role": "assistant", "content": "Done."}},
    ]
    session = tmp_path / "s1.jsonl"
    session.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert "1 session: 2 new turns, 0 insights, 1 decision" in ok("import", "--tool", "claude", str(session))
    assert ok("import", "--tool", "claude", str(session), "--json")[0]["decisions"] == 0  # said once
    assert [m["memory_type"] for m in ok("list", "--type", "decision", "--json")] == ["decision"]
