"""What `memory ingest` and `memory query` print of a cloned repository is data: its file names and
text may hold ESC (a terminal would clear the screen or retitle the window), Rich markup or a line
break (a forged result line); none of it acts on the terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli import memory as memory_cli
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.embedders.fake import FakeEmbedder

NAME = "[bold red]loud\x1b[2J\x1b]0;pwned\x07\nforged.py"


@pytest.fixture
def repo(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())
    root = isolated_home / "hostile"
    root.mkdir()
    (root / NAME).write_text("zebra_marker = '\x1b[31mred\x1b]8;;http://evil.example\x07link'\n")
    outside = isolated_home / "outside.txt"
    outside.write_text("elsewhere\n")
    (root / "\x1b[2Jlink[bold].py").symlink_to(outside)  # skipped, with a warning naming it
    return root


def test_ingest_warnings_and_query_results_print_no_escape_and_no_markup(repo: Path) -> None:
    runner = CliRunner()
    ingested = runner.invoke(memory_cli.app, ["ingest", str(repo), "--repo-id", "hostile"])
    assert ingested.exit_code == 0, ingested.output
    assert "link[bold].py" in ingested.stderr and "\x1b" not in ingested.output + ingested.stderr

    found = runner.invoke(memory_cli.app, ["query", "zebra_marker", "--repo", "hostile", "--mode", "text"])
    assert found.exit_code == 0, found.output
    out = found.stdout
    assert "\x1b" not in out and "\x07" not in out
    assert "[bold red]loud[2J]0;pwned\\nforged.py:1-1" in out  # as named, on one line
    assert "zebra_marker = 'redlink'" in out  # the text's escapes were not stored, whole
