"""The memory hooks' failures: a closed standard input, and what the hook log and `hooks status` say."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app

SESSIONS = Path(__file__).parents[1] / "memory" / "fixtures" / "sessions"


def _run(
    home: Path, args: list[str], stdin: str | None, *, closed: bool = False, closed_stdout: bool = False
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mahavishnu.cli.entry", *args]
    if closed:  # as `sh -c "mahavishnu memory context --tool claude" <&-` starts it
        command = ["sh", "-c", 'exec "$@" <&-', "sh", *command]
    if closed_stdout:  # (`... >&-`)
        command = ["sh", "-c", 'exec "$@" >&-', "sh", *command]
    return subprocess.run(
        command,
        input=None if closed else stdin,
        stdin=None if not closed else subprocess.DEVNULL,
        env={**os.environ, "MAHAVISHNU_DAEMON": "off"},
        cwd=home,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args", [["memory", "context", "--tool", "claude"], ["memory", "import", "--tool", "claude", "-"]]
)
def test_a_closed_standard_input_is_an_empty_one(isolated_home: Path, args: list[str]) -> None:
    closed = _run(isolated_home, args, None, closed=True)
    empty = _run(isolated_home, args, "")
    assert empty.returncode == 1 and empty.stderr.startswith("error: standard input holds no hook JSON")
    assert (closed.returncode, closed.stdout, closed.stderr) == (1, "", empty.stderr)


@pytest.mark.parametrize(
    "args", [["memory", "context", "--tool", "claude"], ["memory", "import", "--tool", "claude", "-"]]
)
def test_a_closed_standard_output_prints_no_traceback(isolated_home: Path, args: list[str]) -> None:
    """An assistant that starts its hook with descriptor 1 closed: the hook's work is done (there is
    nothing to print it to) and no traceback is shown."""
    sent = {"hook_event_name": "SessionStart", "session_id": "s1", "cwd": str(isolated_home)}
    done = _run(isolated_home, args, json.dumps(sent), closed_stdout=True)
    assert (done.returncode, done.stderr) == (0, "")


def test_the_recall_hook_of_a_session_whose_folder_was_deleted_still_recalls(isolated_home: Path) -> None:
    """The session's folder deleted while the assistant runs in it (its hooks start there): the
    recall hook recalled nothing and said "the memory hook failed unexpectedly: FileNotFoundError"."""
    stored = CliRunner().invoke(app, ["memory", "store", "We use httpx for every HTTP client call"])
    assert stored.exit_code == 0, stored.output
    gone = isolated_home / "gone"
    gone.mkdir()
    prompt = {
        "hook_event_name": "UserPromptSubmit",
        "cwd": str(gone),
        "prompt": "which HTTP client do we use?",
    }
    # (a shell removes the folder it then starts the hook in)
    command = [sys.executable, "-m", "mahavishnu.cli.entry", "memory", "context", "--tool", "claude"]
    done = subprocess.run(
        ["sh", "-c", 'cd "$1" && rmdir "$1" && shift && exec "$@"', "sh", str(gone), *command],
        input=json.dumps(prompt),
        env={**os.environ, "MAHAVISHNU_DAEMON": "off"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert "httpx" in json.loads(done.stdout)["hookSpecificOutput"]["additionalContext"]


def _log(home: Path) -> Path:
    return home / ".mahavishnu" / "capture" / "capture.log"


def _old_failure(home: Path, tool: str, text: str, *, role: str = "") -> None:
    """A failure line as the hooks write it, a minute ago."""
    log = _log(home)
    log.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 60))
    with log.open("a") as handle:
        handle.write(f"{stamp} {tool}{role}: error: {text}\n")


def _status(tool: str = "all") -> str:
    return CliRunner().invoke(app, ["memory", "hooks", "status", "--tool", tool]).stderr


def test_a_capture_that_succeeds_ends_the_last_failure_shown(isolated_home: Path) -> None:
    _old_failure(isolated_home, "claude", "cannot write to the memory store: database is locked")
    assert "the last failed capture" in _status() and "database is locked" in _status("claude")
    shutil.copytree(SESSIONS / "claude", isolated_home / ".claude" / "projects")
    transcript = next((isolated_home / ".claude" / "projects").rglob("*.jsonl"))
    sent = {"hook_event_name": "Stop", "session_id": "x", "transcript_path": str(transcript)}
    done = CliRunner().invoke(app, ["memory", "import", "--tool", "claude", "-"], input=json.dumps(sent))
    assert done.exit_code == 0, done.output
    assert "failed" not in _status()
    _old_failure(isolated_home, "codex", "the session file is gone")  # another assistant's: still shown
    assert "the session file is gone" in _status() and "failed" not in _status("claude")


def test_removing_the_hooks_ends_their_failures(isolated_home: Path) -> None:
    _old_failure(isolated_home, "gemini", "database is locked")
    assert "database is locked" in _status("gemini")
    assert CliRunner().invoke(app, ["memory", "hooks", "remove", "--tool", "gemini"]).exit_code == 0
    assert "failed" not in _status("gemini")


def test_a_failed_recall_is_logged_and_shown_until_one_succeeds(isolated_home: Path) -> None:
    args = ["memory", "context", "--tool", "codex"]
    done = _run(isolated_home, args, '{"prompt": "my password is hunter2"')  # cut short: not JSON
    assert done.returncode == 1 and done.stderr.startswith("error: standard input holds no hook JSON")
    lines = _log(isolated_home).read_text().splitlines()
    assert len(lines) == 1 and " codex recall: error: standard input holds no hook JSON object" in lines[0]
    assert "hunter2" not in _log(isolated_home).read_text()
    shown = _status("codex")
    assert "the last failed recall" in shown and "no hook JSON" in shown
    assert "failed" not in _status("claude")  # another assistant's hooks
    time.sleep(1.1)  # (the log's stamps are to the second)
    sent = {"hook_event_name": "SessionStart", "session_id": "s", "cwd": str(isolated_home)}
    done = _run(isolated_home, args, json.dumps(sent))
    assert done.returncode == 0, done.stderr
    assert "failed" not in _status("codex")


@pytest.mark.parametrize("second", [False, True])
def test_a_failure_in_the_hour_a_clock_change_repeats_is_read_as_when_it_was(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, second: bool
) -> None:
    """Berlin's clocks went from 03:00 back to 02:00 on 2026-10-25: 02:30 came twice, at 00:30 and
    at 01:30 UTC. The hook log stamps each line with its offset, so a success at 01:00 UTC ends a
    failure at the first 02:30 and not one at the second; local time alone reads both as one."""
    from mahavishnu.memory.loop import hook_log

    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    failed_at = 1_792_891_800 if second else 1_792_888_200  # 01:30 / 00:30 UTC
    succeeded_at = 1_792_890_000  # 01:00 UTC
    monkeypatch.setattr(time, "time", lambda: float(failed_at))
    hook_log.log_hook_line("claude", "capture", "error: database is locked")
    line = _log(isolated_home).read_text().rstrip("\n")
    assert line == f"2026-10-25 02:30:00{'+0100' if second else '+0200'} claude: error: database is locked"
    marker = _log(isolated_home).with_name("ok.capture.claude")
    marker.touch()
    os.utime(marker, (succeeded_at, succeeded_at))
    assert hook_log.last_failures() == ({"capture": line} if second else {})


def test_a_failure_line_of_an_earlier_release_without_an_offset_is_still_read(isolated_home: Path) -> None:
    from mahavishnu.memory.loop import hook_log

    _old_failure(isolated_home, "claude", "database is locked")  # "YYYY-MM-DD HH:MM:SS claude: ..."
    assert "database is locked" in hook_log.last_failures()["capture"]
    hook_log.mark_success("claude", "capture")
    assert hook_log.last_failures() == {}


def test_a_failure_naming_a_path_with_terminal_controls_is_logged_and_shown_without_them(
    isolated_home: Path,
) -> None:
    """A hook's payload names its transcript's path: an ESC in it must not reach the log, nor the
    terminal `hooks status` prints to (a log written before may still hold one)."""
    from mahavishnu.memory.loop.hook_log import StampedErrors, log_hook_line

    hostile = "/tmp/\x1b]52;c;Y3VybCBldmlsLnNofHNo\x07x\x1b[2J.jsonl"
    log_hook_line("claude", "recall", f"error: the session file {hostile} is gone")
    with _log(isolated_home).open("a") as handle:
        StampedErrors(handle, "claude").write(f"error: the session file {hostile} is gone\n")
    written = _log(isolated_home).read_text()
    assert "\x1b" not in written and "\x07" not in written and written.count("is gone") == 2
    _old_failure(isolated_home, "codex", f"the session file {hostile} is gone")  # an older release's line
    shown = _status()
    assert "the last failed" in shown and "is gone" in shown and "\x1b" not in shown and "\x07" not in shown


#: Token-shaped values in a hook payload's path: a GitHub token and an AWS access key id.
TOKENS = ("ghp_1234567890abcdefghijklmnopqrstuvwxyzAB", "AKIAIOSFODNN7EXAMPLE")


def test_the_hook_log_scrubs_secrets_from_what_it_writes(isolated_home: Path) -> None:
    from mahavishnu.memory.loop.hook_log import StampedErrors, log_hook_line

    path = "/tmp/{}/{}".format(*TOKENS)
    log_hook_line("claude", "recall", f"error: the session file {path} is gone")
    with _log(isolated_home).open("a") as handle:
        StampedErrors(handle, "claude").write(f"error: refusing to read {path}\n")
    written = _log(isolated_home).read_text()
    assert not [token for token in TOKENS if token in written]
    assert written.count("[REDACTED:github-token]/[REDACTED:aws-access-key-id]") == 2


def test_a_capture_refusing_a_transcript_path_holding_tokens_logs_it_scrubbed(isolated_home: Path) -> None:
    sent = {"hook_event_name": "Stop", "session_id": "z", "transcript_path": "/tmp/{}/{}".format(*TOKENS)}
    done = _run(isolated_home, ["memory", "import", "--tool", "claude", "-"], json.dumps(sent))
    assert (done.returncode, done.stderr) == (0, "")
    log = _log(isolated_home)
    deadline = time.monotonic() + 60  # the detached capture writes it
    while "hint: " not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.2)
    written = log.read_text()
    assert "refusing to read /tmp/[REDACTED:github-token]/[REDACTED:aws-access-key-id]" in written
    assert not [token for token in TOKENS if token in written]
