"""Running assistant sessions are found read-only in /proc and reported after a switch, never signalled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.environments.switcher import FileResult, SwitchResult
from mahavishnu.services import procs
from mahavishnu.services.sessions import Session, advise, running_sessions, which_tool

from .helpers import wait_for, write_settings

runner = CliRunner()


@pytest.fixture
def fake_claude() -> Iterator[subprocess.Popen[bytes]]:
    """A process whose argv[0] is `claude`, as the native Claude Code binary's is."""
    proc = subprocess.Popen(["claude", "-c", "import time; time.sleep(60)"], executable=sys.executable)
    try:
        wait_for(lambda: procs.cmdline(proc.pid))  # Popen can return before exec has set up argv
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(
    ("argv", "tool"),
    [
        (["/home/u/.local/bin/claude", "--resume"], "claude"),
        (["node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"], "claude"),
        (["node", "/usr/lib/node_modules/@openai/codex/bin/codex.js", "exec"], "codex"),
        (["codex"], "codex"),
        (["node", "/opt/node/lib/node_modules/@qwen-code/qwen-code/cli.js"], "qwen"),
        (["/usr/bin/gemini"], "gemini"),
        (["python", "-m", "pytest", "tests/e2e/claude_cli.py"], None),
        (["vim", "claude.md"], None),
        ([], None),
    ],
)
def test_which_tool_recognises_assistants_by_executable_or_package(argv: list[str], tool: str | None) -> None:
    assert which_tool(argv) == tool


def test_running_sessions_finds_an_assistant_process(fake_claude: subprocess.Popen[bytes]) -> None:
    found = [s for s in running_sessions(["claude"]) if s.pid == fake_claude.pid]
    assert len(found) == 1 and found[0].tool == "claude" and found[0].cwd == str(Path.cwd())
    assert running_sessions(["codex"]) == [] or all(
        s.pid != fake_claude.pid for s in running_sessions(["codex"])
    )


def test_switch_llm_says_which_sessions_need_a_restart_and_leaves_them_running(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, fake_claude: subprocess.Popen[bytes]
) -> None:
    monkeypatch.setenv("LAB_KEY", "sk-lab-0123456789abcdef")
    write_settings(
        {
            "profiles": {
                "lab": {
                    "secret": ["env:LAB_KEY"],
                    "anthropic": {"base_url": "http://127.0.0.1:9", "model": "m"},
                }
            }
        }
    )
    result = runner.invoke(app, ["ai", "switch-llm", "lab"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert f"pid {fake_claude.pid}" in text and "keep the old provider until restarted" in text
    assert "new sessions use lab" in text
    assert fake_claude.poll() is None and procs.alive(fake_claude.pid)
    again = json.loads(runner.invoke(app, ["ai", "switch-llm", "lab", "--json"]).stdout)
    assert again["sessions"] == []  # nothing changed, so nothing to restart


def test_a_session_of_another_home_is_not_ours(tmp_path: Path) -> None:
    """A session started with another HOME (a sandbox, another account's shell) reads other
    config files: a switch here does not concern it, and it is never listed or ended."""
    sleep = ["claude", "-c", "import time; time.sleep(60)"]
    elsewhere = {**os.environ, "HOME": str(tmp_path)}
    moved_here = {**elsewhere, "CLAUDE_CONFIG_DIR": str(Path(os.environ["HOME"]) / ".claude")}
    started = [subprocess.Popen(sleep, executable=sys.executable, env=env) for env in (elsewhere, moved_here)]
    try:
        for proc in started:
            wait_for(lambda proc=proc: procs.cmdline(proc.pid))
        pids = {s.pid for s in running_sessions(["claude"])}
        assert started[0].pid not in pids and started[1].pid in pids
    finally:
        for proc in started:
            proc.kill()
            proc.wait()


def test_a_switch_without_running_sessions_says_so(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = SwitchResult(
        "lab", "claude", "user", False, files=[FileResult("/x", True, "", "claude")], tools=["claude"]
    )
    [advice] = advise(result, sessions=[])
    assert not advice.needs_restart and advice.message == "claude: no running session; new sessions use lab"
    assert (
        advise(SwitchResult("lab", "claude", "user", True, files=[FileResult("/x", True, "", "claude")]))
        == []
    )


def test_a_project_scope_switch_only_concerns_sessions_inside_the_project(isolated_home: Path) -> None:
    project = isolated_home / "repo"
    (project / ".git").mkdir(parents=True)
    (project / "src").mkdir()
    result = SwitchResult(
        "lab", "claude", "project", False, files=[FileResult("/x", True, "", "claude")], tools=["claude"]
    )
    inside = Session("claude", 101, str(project / "src"), "claude")
    outside = Session("claude", 102, str(isolated_home), "claude")
    import os

    os.chdir(project)
    [advice] = advise(result, sessions=[inside, outside])
    assert [s.pid for s in advice.running] == [101] and advice.needs_restart
