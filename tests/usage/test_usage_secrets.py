"""A key in a log's names (pasted as a model name, a key-shaped session id or file name) never
reaches a report, its JSON, a warning or the usage ledger: each shows ``[REDACTED:…]``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mahavishnu import paths
from mahavishnu.cli.main import app

MODEL_KEY = (
    "sk-ant-api03-" + "AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHHIIIIJJJJKKKKLLLLMMMMNNNNOOOOPPPPQQQQRRRRSSSS-TTTTUUUU"
)
SESSION_KEY = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789ABCD"
FILE_KEY = "sk-proj-ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjihgfedcba9876543210WXYZ"
runner = CliRunner()


def _line(session: str | None, model: str, message: str) -> str:
    entry = {
        "type": "assistant",
        "timestamp": "2026-11-21T10:00:00Z",
        "requestId": f"req-{message}",
        "message": {"id": message, "model": model, "usage": {"input_tokens": 100, "output_tokens": 10}},
    }
    if session:
        entry["sessionId"] = session
    return json.dumps(entry) + "\n"


def test_no_key_in_a_logs_names_reaches_any_report(isolated_home: Path) -> None:
    folder = isolated_home / ".claude" / "projects" / "-home-dev-shop"
    folder.mkdir(parents=True)
    (folder / "one.jsonl").write_text(_line(SESSION_KEY, MODEL_KEY, "m1"))
    (folder / f"{FILE_KEY}.jsonl").write_text(_line(None, "claude-sonnet-4-5", "m2"))
    said = ""
    for command in (
        ["usage"],
        ["usage", "--json"],
        ["usage", "--unpriced"],
        ["usage", "sessions", "-v"],
        ["usage", "sessions", "--by", "model", "--json"],
        ["usage", "daily", "--json"],
    ):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)
        said += result.output
    assert "[REDACTED:" in said
    for key in (MODEL_KEY, SESSION_KEY, FILE_KEY):
        assert key not in said
        assert key[:40] not in said
    for stored in paths.cache_dir().rglob("*"):  # the usage ledger
        if stored.is_file():
            assert (
                SESSION_KEY.encode() not in stored.read_bytes()
                and MODEL_KEY.encode() not in stored.read_bytes()
            )


def test_a_skipped_line_of_a_file_named_with_line_breaks_is_one_warning_line(isolated_home: Path) -> None:
    """A folder and file named with a line break and escapes printed as several lines, one of them
    a forged ``warning:``."""
    folder = isolated_home / ".claude" / "projects" / "-tmp-\x1b]0;TITLE\x07evil\nwarning: forged"
    folder.mkdir(parents=True)
    (folder / "a\nb.jsonl").write_text('{"usage": nope\n')
    result = runner.invoke(app, ["usage", "sessions", "-v"])
    assert result.exit_code == 0, result.output
    skipped = [line for line in result.stderr.splitlines() if "not JSON" in line or "forged" in line]
    assert len(skipped) == 1 and skipped[0].startswith("warning: skipped "), result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
