"""Tables fit the width they are given (issue 48, item 10): ``COLUMNS`` is honoured in a pipe too, a
long cell wraps inside its column and a long word is folded, never cut. ``config show`` printed
lines of 416 characters with ``COLUMNS=100``; ``claude settings show --effective`` one row of
~700 for the hooks."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from mahavishnu.cli.main import app

runner = CliRunner()
TABLE = set("│┃━╇")  # a table's lines (a file's path above it is a path, not wrapped)


def _column(shown: str, index: int, first_cell: str) -> str:
    """The text of column ``index`` of the row whose first cell is ``first_cell`` and the
    continuation lines under it, whitespace removed."""
    pieces: list[str] = []
    inside = False
    for line in shown.splitlines():
        cells = line.split("│")
        if len(cells) < 3:
            continue
        first = cells[0].strip()
        if first:
            inside = first == first_cell
        if inside:
            pieces.append(cells[index])
    return re.sub(r"\s", "", "".join(pieces))


def test_config_show_fits_columns_and_keeps_every_value(isolated_home: Path) -> None:
    chain = [f"provider-profile-number-{i}-with-a-long-name" for i in range(12)]
    settings = isolated_home / ".mahavishnu" / "mahavishnu.yaml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"fallback": {"chains": {"claude": chain}}}))
    result = runner.invoke(app, ["config", "show"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    widths = [len(line) for line in result.stdout.splitlines() if set(line) & TABLE]
    assert max(widths) <= 100, max(widths)
    value = _column(result.stdout, 1, "fallback.chains.claude")
    assert value == json.dumps(chain).replace(" ", "")
    assert "…" not in result.stdout


def test_claude_effective_settings_fit_and_keep_the_hooks_whole(isolated_home: Path) -> None:
    command = "env MAHAVISHNU_HOME=/home/someone/.mahavishnu /opt/python/bin/python3 -S -m mahavishnu memory"
    hooks = {
        event: [{"hooks": [{"type": "command", "command": f"{command} {event}", "timeout": 30}]}]
        for event in ("SessionStart", "UserPromptSubmit", "Stop")
    }
    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"hooks": hooks, "model": "opus"}))
    assert len(json.dumps(hooks)) > 500
    result = runner.invoke(app, ["claude", "settings", "show", "--effective"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    widths = [len(line) for line in result.stdout.splitlines() if set(line) & TABLE]
    assert max(widths) <= 80, max(widths)
    assert _column(result.stdout, 1, "hooks") == re.sub(r"\s", "", json.dumps(hooks))
    assert "…" not in result.stdout


def test_without_columns_a_pipe_gets_one_line_per_row(isolated_home: Path) -> None:
    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"env": {"A_LONG_VARIABLE": "x" * 300}}))
    result = runner.invoke(app, ["claude", "settings", "show", "--effective"], env={"COLUMNS": None})
    assert result.exit_code == 0, result.output
    assert [line for line in result.stdout.splitlines() if "x" * 300 in line]
