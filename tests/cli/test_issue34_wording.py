"""Messages that say what happened (issue 34, item 8): `memory hooks remove` took the hooks out of
the file (it did not delete it), and `memory share` of an unknown id points to `memory insights`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from mahavishnu.cli.main import app

runner = CliRunner()


def test_hooks_install_and_remove_say_what_went_into_and_out_of_the_file(isolated_home: Path) -> None:
    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{\n  "model": "opus"\n}\n')
    installed = runner.invoke(app, ["memory", "hooks", "install", "--tool", "claude"])
    assert installed.exit_code == 0, installed.output
    assert f"memory hooks installed in: {settings}" in " ".join(installed.output.split())
    removed = runner.invoke(app, ["memory", "hooks", "remove", "--tool", "claude"])
    assert removed.exit_code == 0, removed.output
    said = " ".join(removed.output.split())
    assert f"memory hooks removed from: {settings}" in said and f"removed: {settings}" not in said
    assert settings.read_text() == '{\n  "model": "opus"\n}\n'


def test_sharing_an_unknown_insight_points_to_memory_insights() -> None:
    assert runner.invoke(app, ["memory", "groups", "create", "backend", "api", "billing"]).exit_code == 0
    result = runner.invoke(app, ["memory", "share", "42", "--group", "backend"])
    assert result.exit_code == 1
    assert "no insight #42" in result.output and "mahavishnu memory insights" in result.output
    assert "memory search" not in result.output


def test_the_docs_account_for_the_empty_credential_entries_a_switch_writes(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = Path(__file__).resolve().parents[2] / "docs" / "assistants" / "claude-code.md"
    text = page.read_text(encoding="utf-8")
    section = text.split("## What a switch changes, and where")[1].split("\n## ")[0]
    assert '`"ANTHROPIC_API_KEY": ""`' in section and '`"ANTHROPIC_AUTH_TOKEN": ""`' in section
    monkeypatch.setenv("ZAI_API_KEY", "sk-zai-0123456789abcdef")
    assert runner.invoke(app, ["ai", "switch-llm", "zai"]).exit_code == 0
    env = json.loads((isolated_home / ".claude" / "settings.json").read_text())["env"]
    assert env["ANTHROPIC_API_KEY"] == "" and env["ANTHROPIC_AUTH_TOKEN"] == ""


def test_doctor_on_a_trailing_comma_says_where_and_its_fixes_work_on_that_file(isolated_home: Path) -> None:
    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{\n  "model": "opus",\n}\n')
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 1
    found = {f["check"]: f for f in json.loads(result.stdout)["findings"]}
    config, hooks = found["config:claude:user"], found["hooks:claude"]
    assert "line 2, column 18: a trailing comma before '}'" in config["detail"]
    assert "refusing to write" not in config["detail"]  # doctor writes nothing
    # a new user's file has no backups: the hint says to fix the line, not to restore one
    assert config["hint"].startswith(f"Fix line 2 col 18 of {settings} first")
    assert "ai backups" not in config["hint"] and "rollback" not in config["hint"]
    assert hooks["hint"].startswith(f"Fix line 2 col 18 of {settings} first; then ")
    assert "`mahavishnu memory hooks install --tool claude`" in hooks["hint"]
    # the hooks' fix fails on the file as it is, and works once line 2 is fixed
    assert runner.invoke(app, ["memory", "hooks", "install", "--tool", "claude"]).exit_code == 1
    settings.write_text('{\n  "model": "opus"\n}\n')
    assert runner.invoke(app, ["memory", "hooks", "install", "--tool", "claude"]).exit_code == 0


def test_doctor_points_at_backups_only_when_the_file_has_some(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{"model": "opus"}\n')
    monkeypatch.setenv("ZAI_API_KEY", "sk-zai-0123456789abcdef")
    assert runner.invoke(app, ["ai", "switch-llm", "zai"]).exit_code == 0  # backs the file up
    settings.write_text('{"model": "opus",}\n')
    result = runner.invoke(app, ["doctor", "--json"])
    config = {f["check"]: f for f in json.loads(result.stdout)["findings"]}["config:claude:user"]
    assert config["hint"].startswith(f"Fix line 1 col 17 of {settings} first, or put a backup back")
    assert f"`mahavishnu ai backups --file {settings}`" in config["hint"]


def test_import_transcript_of_claudes_folder_with_no_session_yet_says_so_and_what_to_do(
    isolated_home: Path,
) -> None:
    projects = isolated_home / ".claude" / "projects"
    for made in (False, True):  # a new user: no folder yet; then the folder, still without a session
        if made:
            projects.mkdir(parents=True)
        result = runner.invoke(app, ["memory", "import-transcript", str(projects)])
        said = " ".join(result.output.split())
        assert result.exit_code == 1, said
        assert "no Claude Code sessions" in said and "yet" in said
        assert "use it in a project, then run this again" in said
        assert "`mahavishnu memory hooks install --tool claude`" in said
        assert "session file" not in said and "No Claude Code session at" not in said


SAMPLES = Path(__file__).parents[1] / "memory" / "fixtures" / "sessions"


def _context(hook: dict[str, str]) -> Result:
    """`memory context` with no --tool, as a hook written by hand might run it."""
    return runner.invoke(app, ["memory", "context"], input=json.dumps(hook))


@pytest.mark.usefixtures("lenient_judge")  # the fake embedder's cosines are not the judge's
def test_memory_context_without_tool_tells_the_assistant_from_the_hooks_json(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mahavishnu.memory.core import store as store_module
    from mahavishnu.memory.core.embedders.fake import FakeEmbedder

    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())
    shutil.copytree(SAMPLES / "codex", isolated_home / ".codex" / "sessions")
    assert runner.invoke(app, ["memory", "import", "--tool", "codex"]).exit_code == 0
    qwen = isolated_home / ".qwen" / "projects" / "-home-dev-work-proj" / "chats" / "s.jsonl"
    claude = isolated_home / ".claude" / "projects" / "-home-dev-work-proj" / "s.jsonl"
    # Qwen Code's prompt is its submitted_prompt (what the user typed): read only for Qwen Code
    asked = {
        "hook_event_name": "UserPromptSubmit",
        "cwd": "/home/dev/work/proj",
        "submitted_prompt": "httpx?",
    }
    from_qwen = _context({**asked, "session_id": "q", "transcript_path": str(qwen)})
    assert from_qwen.exit_code == 0, from_qwen.output
    assert "We decided to use httpx" in from_qwen.stdout
    from_claude = _context({**asked, "session_id": "c", "transcript_path": str(claude)})
    assert (from_claude.exit_code, from_claude.stdout) == (0, "")  # Claude Code's prompt is "prompt"
    # an event only Gemini CLI sends, no transcript_path
    gemini = {"hook_event_name": "BeforeAgent", "cwd": "/home/dev/work/proj", "session_id": "g"}
    from_gemini = _context({**gemini, "prompt": "httpx?"})
    assert from_gemini.exit_code == 0 and "We decided to use httpx" in from_gemini.stdout
    from mahavishnu.memory.loop.hook_log import capture_log

    marks = capture_log().parent  # each assistant's recall that succeeded
    assert {p.name for p in marks.glob("ok.recall.*")} == {
        "ok.recall.qwen",
        "ok.recall.claude",
        "ok.recall.gemini",
    }


@pytest.mark.parametrize("typer", [False, True], ids=["fast path", "typer"])
def test_memory_context_that_cannot_tell_the_assistant_is_one_line_exiting_1_never_2(
    isolated_home: Path, typer: bool
) -> None:
    """Exit 2 (a usage error) is "block this prompt" to every assistant."""
    main = (
        "from mahavishnu.cli.main import app; app()"
        if typer
        else "from mahavishnu.cli.entry import run; run()"
    )
    hook = {"hook_event_name": "UserPromptSubmit", "session_id": "s", "cwd": "/tmp", "prompt": "hi"}
    for sent in (hook, {**hook, "transcript_path": "/elsewhere/s.jsonl"}):
        done = subprocess.run(
            [sys.executable, "-c", main, "memory", "context"],
            input=json.dumps(sent),
            env={**os.environ, "MAHAVISHNU_DAEMON": "off"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 1, done.stderr
        error, hint = done.stderr.splitlines()
        assert error.startswith("error: memory context: cannot tell which assistant sent this hook's JSON")
        tools = "claude, codex, qwen, gemini, pi, opencode"
        assert hint.startswith(f"hint: Add --tool ({tools}) to the hook's command")
        assert "Traceback" not in done.stderr and "Usage" not in done.stderr and done.stdout == ""
