"""Every command's --help reads as a person writes it (issue 48, item 10): at 80 columns no line is
wider, no option shows a Python type as its placeholder (``<bool>``, ``<list[int]>``), no bracketed
text of the source is lost to Rich markup (``mahavishnu[aws]``), and no paragraph breaks where the
docstring's source happened to break its lines."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from mahavishnu.cli.main import app

runner = CliRunner()


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(prefix, group)]
    for name, command in getattr(group, "commands", {}).items():
        found += _commands(command, (*prefix, name))
    return found


ALL = _commands(typer.main.get_command(app))
IDS = [" ".join(path) or "mahavishnu" for path, _ in ALL]

#: What Typer shows for a Python type: ``<bool>``, ``<str>``, ``<list[int]>``, ``<path>``, ``<int range>``.
PYTHON_TYPE = re.compile(
    r"<(?:bool|str|int|float|path|file|directory|datetime|uuid|list\[[^>]*\]|\w+ range)>"
)
#: A bracketed word in the source help: ``[aws]``, ``[ui]`` (``[default: x]`` is Typer's own).
BRACKETED = re.compile(r"\[[A-Za-z][\w,-]*\]")
#: A panel's row starts its name within this many columns (``│ * --opt``); a continuation further in.
NAME_CELLS = 8
LIST_ITEM = re.compile(r"^\s*(?:[-*•]\s|\d+[.)]\s)")


def _help(path: tuple[str, ...], columns: int) -> str:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.stdout


def _source_texts(command: Any) -> list[str]:
    """The help the source wrote for ``command`` and its parameters (as markup-escaped, unescaped)."""
    texts = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
    return [text.replace("\\[", "[") for text in texts]


def test_the_walk_reaches_every_group_and_leaf() -> None:
    names = set(IDS)
    assert {"mahavishnu", "db backup", "memory search", "config show", "claude settings show"} <= names
    assert len(names) > 100


@pytest.mark.parametrize(("path", "command"), ALL, ids=IDS)
def test_help_fits_80_columns_and_shows_no_python_types(path: tuple[str, ...], command: Any) -> None:
    shown = _help(path, 80)
    too_wide = [line for line in shown.splitlines() if len(line) > 80]
    assert not too_wide, too_wide
    assert not PYTHON_TYPE.findall(shown), PYTHON_TYPE.findall(shown)
    flat = " ".join(shown.replace("│", " ").split())
    for text in _source_texts(command):
        for word in BRACKETED.findall(text):
            assert word in flat, f"{word!r} of the source is not in the help"


@pytest.mark.parametrize(("path", "command"), ALL, ids=IDS)
def test_no_paragraph_breaks_mid_sentence(path: tuple[str, ...], command: Any) -> None:
    """So wide that nothing needs wrapping: a paragraph still over two lines was broken by the
    source (a list item on a line of its own is fine)."""
    shown = _help(path, 3000)
    broken = []
    lines = shown.splitlines()
    edges = ("Usage:", "╭", "╰")
    for before, line in itertools.pairwise(lines):
        if (
            not before.strip()
            or not line.strip()
            or before.lstrip().startswith(edges)
            or line.startswith(edges)
        ):
            continue
        if line.startswith("│"):  # a row of a panel: a continuation leaves its name cells blank
            cells = line.strip("│ ")
            continued = len(line) - len(line.lstrip("│ ")) >= NAME_CELLS
            if continued and not LIST_ITEM.match(cells) and not before.strip("│ ").endswith(":"):
                broken.append((before.strip("│ "), cells))
        elif not LIST_ITEM.match(line) and not before.rstrip().endswith(":"):
            broken.append((before.strip(), line.strip()))
    assert not broken, broken


def test_a_bracket_in_help_survives_and_types_are_gone() -> None:
    """The two slips the issue saw, spelt out."""
    shown = _help(("db", "backup"), 80)
    assert "mahavishnu[aws]" in " ".join(shown.split())
    assert "<bool>" not in shown and "<str>" not in shown and "<int>" not in shown
