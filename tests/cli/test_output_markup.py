"""Table cells and info() lines are data, shown as written (``list[str]`` used to lose ``[str]``
and ``[profile, ...]`` vanished from ``watch events``), while styling the code adds stays."""

from __future__ import annotations

import io
import json

import pytest
from typer.testing import CliRunner

from mahavishnu.cli import memory as memory_cli
from mahavishnu.cli import output
from mahavishnu.cli.output import Markup, escape, info, table
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.embedders.fake import FakeEmbedder

DATA = [
    "def parse(items: list[str]) -> dict[str, int]: counts words",
    "no fallback chain for qwen: set fallback.chains.qwen: [profile, ...] in ~/.mahavishnu",
    "[/path] and [bold] and items[i]",
    "[a-z] ranges and [/] alone",
]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "300")


def _piped(capsys: pytest.CaptureFixture[str], rows: list[tuple[object, ...]]) -> str:
    table(None, ["cell", "status"], rows)
    return capsys.readouterr().out


@pytest.mark.parametrize("cell", DATA)
def test_piped_table_cells_are_shown_as_written(cell: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cell in _piped(capsys, [(cell, "ok")])


def test_code_made_styling_and_escaped_cells_keep_working(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [(escape("x [bold] y"), Markup("[green]ok[/]")), (Markup("[red]failed[/red]"), None)]
    out = _piped(capsys, rows)
    assert "x [bold] y" in out and "\\[" not in out
    assert "ok" in out and "[green]" not in out and "failed" in out and "[red]" not in out


def test_in_a_terminal_data_is_literal_and_styles_are_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    tty = _Tty()
    monkeypatch.setattr("sys.stdout", tty)
    output.console._rich = None
    try:
        table("t", ["cell", "status"], [(DATA[0], Markup("[green]ok[/]"))])
    finally:
        output.console._rich = None
    shown = tty.getvalue()
    assert "list[str]" in shown and "dict[str, int]" in shown
    assert "[green]" not in shown and "\x1b[" in shown


def test_info_prints_its_text_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    info("restored /tmp/[backup]/x.db from list[str]")
    assert capsys.readouterr().out == "restored /tmp/[backup]/x.db from list[str]\n"


def test_memory_search_shows_brackets_in_content(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())
    runner = CliRunner()
    stored = runner.invoke(memory_cli.app, ["store", DATA[0], "--type", "note", "--json"])
    assert stored.exit_code == 0, stored.output
    assert json.loads(stored.output)["content"] == DATA[0]
    found = runner.invoke(memory_cli.app, ["search", "parse counts words", "--mode", "text"])
    assert found.exit_code == 0, found.output
    assert "list[str]" in found.output and "dict[str, int]" in found.output
