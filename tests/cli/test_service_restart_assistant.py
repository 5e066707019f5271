"""`mahavishnu service restart claude`: an assistant is not a service. It lists the sessions that
still use the old provider, ends one-shot ones only when asked, and never an interactive one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mahavishnu.services.sessions import SessionState, end_session


@pytest.fixture
def fake_claude(isolated_home: Path):
    """A process whose argv[0] is `claude` (a copy of sleep), with no terminal."""
    binary = isolated_home / "bin" / "claude"
    binary.parent.mkdir()
    shutil.copy(shutil.which("sleep") or "/bin/sleep", binary)
    proc = subprocess.Popen([str(binary), "120"], start_new_session=True, cwd=isolated_home)
    yield proc
    proc.kill()
    proc.wait()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mahavishnu", *args]
    return subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), timeout=120)


def test_restart_claude_lists_the_session_that_keeps_the_old_provider(fake_claude, isolated_home):
    time.sleep(0.05)
    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{"env": {"ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}}\n')  # changed after its start
    listed = _cli("service", "restart", "claude", "--json")
    assert listed.returncode == 0, listed.stderr
    mine = [s for s in json.loads(listed.stdout) if s["pid"] == fake_claude.pid]
    assert mine and mine[0]["old_provider"] and not mine[0]["interactive"] and not mine[0]["ended"]
    assert mine[0]["cwd"] == str(isolated_home)
    assert fake_claude.poll() is None  # not ended unasked
    text = _cli("service", "restart", "claude")
    assert "new sessions pick up the change" in text.stdout and str(fake_claude.pid) in text.stdout
    # Named claude, without a terminal, but no `claude -p` run of the installed package: listed, kept
    # (tests/services/test_hardening.py ends a real one-shot run).
    ended = _cli("service", "restart", "claude", "--end-non-interactive", "--json")
    assert [s["ended"] for s in json.loads(ended.stdout) if s["pid"] == fake_claude.pid] == [False]
    assert fake_claude.poll() is None


def test_an_interactive_session_is_never_ended(fake_claude):
    from mahavishnu.services.sessions import Session

    state = SessionState(Session("claude", fake_claude.pid, None, "claude"), None, True, True)
    assert end_session(state) is False
    assert fake_claude.poll() is None


def test_mcp_health_is_an_alias_of_health():
    done = _cli("mcp", "health", "--no-probe", "--json")
    assert done.returncode in (0, 1), done.stderr
    assert {"store", "embedder"} <= {c["component"] for c in json.loads(done.stdout)["components"]}


def test_a_dead_service_reads_failing_not_failing_none():
    from mahavishnu.cli.service import _health

    assert _health(False, None) == "failing" and _health(False, "HTTP 500") == "failing: HTTP 500"
    assert _health(True, "HTTP 200") == "ok (HTTP 200)" and _health(None, None) is None
