"""Output helpers shared by every command group: JSON for machines, Rich for people.

Typer is not imported here (``JSON_OPTION`` is made on first use), so the paths that skip Typer
(cli/fast.py) can print exactly as the commands do.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def __getattr__(name: str) -> Any:
    if name == "JSON_OPTION":  # the ``--json`` option every reading command takes
        import typer

        option = typer.Option(False, "--json", help="Print machine-readable JSON.")
        globals()[name] = option
        return option
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich.table import Table

    grid = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    console.print(grid)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/yellow] {message}")


def info(message: str) -> None:
    console.print(message)
