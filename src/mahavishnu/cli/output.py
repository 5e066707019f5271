"""Output helpers shared by every command group: JSON for machines, Rich for people.

``console`` and ``err_console`` print plain text (markup stripped, no styles, no wrapping) when
their stream is not a terminal, as well-behaved CLIs do in pipes and files, and hand everything to
a Rich ``Console`` (made on first use) when it is one, or when colour is forced as Rich reads the
environment (``TTY_COMPATIBLE``, ``FORCE_COLOR``), or when given something other than strings
(tables). So a command whose output goes to a pipe never imports Rich.

Typer is not imported here either (``JSON_OPTION`` is made on first use), so the paths that skip
Typer (cli/fast/) can print exactly as the commands do.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

from mahavishnu.clean_text import printable

if TYPE_CHECKING:
    from rich.console import Console as RichConsole


def __getattr__(name: str) -> Any:
    if name == "JSON_OPTION":  # the ``--json`` option every reading command takes
        from mahavishnu.cli.params import JSON, typer_param

        option = typer_param(JSON)
        globals()[name] = option
        return option
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- markup, as rich.markup reads it --------------------------------------------------------------

#: rich.markup's tag pattern: any backslashes, then ``[`` + a tag that starts like a style or a
#: closing tag, up to the first ``]`` (``[1, 2]`` and ``a[0]`` are not tags).
_TAGS = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")
_ESCAPE = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


class Markup(str):
    """Text written as markup (what ``escape`` returns): ``table`` renders such cells as markup."""

    __slots__ = ()


def escape(markup: str) -> Markup:
    """``rich.markup.escape`` without importing Rich: ``text`` as markup that prints as itself
    (less the control characters a terminal would act on: it is data)."""
    markup = _ESCAPE.sub(lambda match: f"{match[1]}{match[1]}\\{match[2]}", printable(markup))
    if markup.endswith("\\") and not markup.endswith("\\\\"):
        return Markup(markup + "\\")
    return Markup(markup)


def _parse(markup: str) -> Iterator[tuple[str | None, str | None]]:
    """rich.markup's parser: (plain text, None) and (None, tag) in order."""
    position = 0
    for match in _TAGS.finditer(markup):
        full_text, escapes, tag = match.groups()
        start, end = match.span()
        if start > position:
            yield markup[position:start], None
        if escapes:
            backslashes, escaped = divmod(len(escapes), 2)
            if backslashes:
                yield "\\" * backslashes, None
            if escaped:
                yield full_text[len(escapes) :], None
                position = end
                continue
        yield None, tag
        position = end
    if position < len(markup):
        yield markup[position:], None


def strip_markup(markup: str) -> str:
    """The text Rich prints for ``markup`` without its styles: tags dropped, ``\\[`` as ``[``.

    Raises rich's MarkupError where Rich would (a closing tag that closes nothing)."""
    if "[" not in markup:
        return markup
    parts: list[str] = []
    open_tags: list[str] = []
    for text, tag in _parse(markup):
        if text is not None:
            parts.append(text.replace("\\[", "["))
            continue
        assert tag is not None
        name = tag.partition("=")[0]
        if name.startswith("@"):  # a handler: its parameters must parse, as Rich checks
            return _rich_plain(markup)
        if not name.startswith("/"):
            open_tags.append(name.strip().lower())
            continue
        closing = name[1:].strip().lower()
        if not closing:
            if not open_tags:
                return _rich_plain(markup)  # raises, as Rich does
            open_tags.pop()
        elif closing in open_tags:
            del open_tags[len(open_tags) - 1 - open_tags[::-1].index(closing)]
        else:  # maybe the same style spelt otherwise ("red bold" closes "bold red"): Rich decides
            return _rich_plain(markup)
    return "".join(parts)


def _rich_plain(markup: str) -> str:
    from rich.markup import render

    return render(markup, emoji=False).plain


# -- the consoles ---------------------------------------------------------------------------------


class PlainConsole:
    """``rich.console.Console.print`` for one standard stream, as plain text when the stream is not
    a terminal; otherwise (and for anything but strings) Rich's own console, ``.rich``."""

    def __init__(self, *, stderr: bool = False) -> None:
        self.stderr = stderr
        self._rich: RichConsole | None = None

    @property
    def file(self) -> IO[str]:
        return sys.stderr if self.stderr else sys.stdout

    @property
    def rich(self) -> RichConsole:
        """The Rich console behind this one (e.g. for ``rich.progress.Progress(console=...)``)."""
        if self._rich is None:
            from rich.console import Console

            # no emoji codes: names such as ``config:gemini:user`` are shown as written
            self._rich = Console(stderr=self.stderr, highlight=False, emoji=False)
        return self._rich

    @property
    def is_terminal(self) -> bool:
        """Whether Rich would treat the stream as a terminal (``Console.is_terminal``'s rules)."""
        if hasattr(builtins, "get_ipython"):  # maybe Jupyter: Rich knows
            return self.rich.is_terminal
        if getattr(sys.stdin, "__module__", "").startswith("idlelib"):
            return False
        environ = os.environ
        tty_compatible = environ.get("TTY_COMPATIBLE", "")
        if tty_compatible in ("0", "1"):
            return tty_compatible == "1"
        force_color = environ.get("FORCE_COLOR")
        if force_color is not None:
            return force_color != ""
        isatty = getattr(self.file, "isatty", None)
        try:
            return False if isatty is None else bool(isatty())
        except ValueError:  # a closed file
            return False

    def _plain(self) -> bool:
        """Plain text: not a terminal (as Rich decides, decided again for each print, as the
        stream may change), and not under IPython/Jupyter (whose rules are Rich's business)."""
        return not self.is_terminal and not hasattr(builtins, "get_ipython")

    def print(
        self,
        *objects: Any,
        sep: str = " ",
        end: str = "\n",
        style: Any = None,
        markup: bool | None = None,
        **options: Any,
    ) -> None:
        """Rich's ``Console.print`` (same arguments); in plain mode ``style`` and the layout
        options (``soft_wrap``, ``highlight``, ...) do not apply and emoji codes stay as written."""
        if not all(isinstance(each, str) for each in objects) or not self._plain():
            self.rich.print(*objects, sep=sep, end=end, style=style, markup=markup, **options)
            return
        texts = objects if markup is False else [strip_markup(each) for each in objects]
        file = self.file
        file.write(sep.join(texts) + end)
        file.flush()


console = PlainConsole()
err_console = PlainConsole(stderr=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


_UNWRAPPED = 1000  # characters: wider than any row a table here has


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Rows as a table. Cells are data, shown as written (``list[str]`` stays ``list[str]``),
    except ``Markup`` the code made (what ``escape`` returns, ``Markup("[green]ok[/]")``). The
    title and the column names are literal too.

    It fits the terminal, or ``COLUMNS`` when set (also in a pipe): a long cell wraps within its
    column, and a word too long for it is folded, never cut. In a pipe or a file without
    ``COLUMNS``, each row is one line whatever its length (for grep, awk, cut)."""
    from rich.table import Table
    from rich.text import Text

    grid = Table(
        title=None if title is None else Text(title),
        title_justify="left",
        show_edge=False,
        header_style="bold",
    )
    for column in columns:
        grid.add_column(Text(column), overflow="fold")
    for row in rows:
        grid.add_row(*(_cell(cell) for cell in row))
    if console._plain():
        from rich.console import Console

        width = _columns() or _UNWRAPPED
        Console(file=console.file, width=width, highlight=False, emoji=False).print(grid)
        return
    console.print(grid)


def _columns() -> int | None:
    """``COLUMNS`` when it holds a width (Rich reads it for a terminal; we for a pipe too)."""
    value = os.environ.get("COLUMNS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def warn(message: str) -> None:
    """``warning: message`` on stderr (``message`` is markup: escape() what it quotes)."""
    err_console.print(f"[yellow]warning:[/yellow] {message}")


def _cell(cell: Any) -> Any:
    if cell is None:
        return ""
    if isinstance(cell, Markup):
        return str(cell)
    from rich.text import Text

    return Text(printable(str(cell)))


def info(message: str) -> None:
    """``message`` on stdout, as written (it is text, not markup: paths and data print as they are)."""
    console.print(message, markup=False)
