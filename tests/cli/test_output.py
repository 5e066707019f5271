"""cli/output.py's consoles: plain text when the stream is not a terminal, Rich's otherwise."""

from __future__ import annotations

import io
import sys

import pytest
from rich.errors import MarkupError
from rich.markup import escape as rich_escape
from rich.markup import render
from rich.table import Table

from mahavishnu.cli import output
from mahavishnu.cli.output import PlainConsole, escape, strip_markup

MARKUP = [
    "plain text",
    "[bold]x[/bold]",
    "now uses [bold]qwen[/bold] here",
    "[bold red]alarm[/bold red] and [red]implicit[/]",
    "[red]a [b]b[/b] c[/]",
    "[bold]unclosed",
    "[1, 2]",
    "a[0] and b[-1]",
    "x[0:2] [] [ ] [[ ]]",
    "[A] upper case is not a tag",
    r"escaped \[bold] stays",
    r"escaped \[1] too",
    r"two backslashes \\[bold]x[/bold]",
    r"three \\\[bold]x",
    "trailing \\",
    "[link=https://example.com/a?b=1]link[/link]",
    "[#ff0000]hex[/#ff0000]",
    "[@click]handler[/]",
    "[@click('a')]handler[/@click]",
    "items[i] is a tag to Rich",
    "[bold red]order[/red bold]",
    "[ bold ]spaces[/ bold ]",
    "[bold]X[/BOLD]",
    ":smile: is not markup",
    "nested [b][i]x[/i][/b] [yellow]warning:[/yellow] done",
]


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "20")  # Rich would wrap anything longer


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("markup", MARKUP)
def test_strip_markup_gives_the_text_rich_renders(markup: str) -> None:
    try:
        expected = render(markup, emoji=False).plain
    except MarkupError:
        with pytest.raises(MarkupError):
            strip_markup(markup)
    else:
        assert strip_markup(markup) == expected


@pytest.mark.parametrize(
    ("markup", "plain"),
    [
        ("[bold]x[/bold]", "x"),
        ("now uses [bold]qwen[/bold]", "now uses qwen"),
        ("[1, 2]", "[1, 2]"),
        ("a[0]", "a[0]"),
        (r"escaped \[bold] stays", "escaped [bold] stays"),
        (r"\[1] and \[ are text", "[1] and [ are text"),  # Rich unescapes any "\["
        ("[yellow]warning:[/yellow] it", "warning: it"),
    ],
)
def test_strip_markup(markup: str, plain: str) -> None:
    assert strip_markup(markup) == plain


@pytest.mark.parametrize("markup", ["[/bold]", "x [/]", "[bold]x[/italic]", "[@click(]x[/@click]"])
def test_bad_markup_is_an_error_as_in_rich(markup: str) -> None:
    with pytest.raises(MarkupError):
        render(markup)
    with pytest.raises(MarkupError):
        strip_markup(markup)


@pytest.mark.parametrize("text", [*MARKUP, "back\\", "back\\\\", r"\[x]", "a\\[b]c[/d]"])
def test_escape_matches_rich(text: str) -> None:
    assert escape(text) == rich_escape(text)
    assert strip_markup(escape(text)) == render(escape(text), emoji=False).plain


def test_a_pipe_gets_plain_unwrapped_text(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    console = PlainConsole()
    long = "a long line that Rich would wrap at twenty columns " * 3
    console.print(f"[bold]{long}[/bold]", style="red", soft_wrap=False, highlight=True)
    console.print("[1, 2] a[0] \\[bold]")
    console.print("[bold]kept[/bold]", markup=False)
    console.print("a", "b", sep="-", end="!")
    console.print()
    assert out.getvalue() == f"{long}\n[1, 2] a[0] [bold]\n[bold]kept[/bold]\na-b!\n"
    assert console._rich is None  # Rich was not even made


def test_warn_writes_a_plain_warning_to_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    err, out = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(output, "err_console", PlainConsole(stderr=True))
    output.warn(escape("profile [x] not found"))
    assert (err.getvalue(), out.getvalue()) == ("warning: profile [x] not found\n", "")


def test_a_pipe_plain_runs_into_no_rich_import() -> None:
    import subprocess

    code = (
        "import sys\n"
        "from mahavishnu.cli.output import console, warn\n"
        "console.print('now uses [bold]qwen[/bold]'); warn('careful')\n"
        "assert 'rich' not in sys.modules, sorted(m for m in sys.modules if m.startswith('rich'))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "TERM": "xterm"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "now uses qwen\n", "warning: careful\n")


@pytest.mark.parametrize("force", [{"FORCE_COLOR": "1"}, {"TTY_COMPATIBLE": "1"}])
def test_forced_colour_uses_rich(monkeypatch: pytest.MonkeyPatch, force: dict[str, str]) -> None:
    for name, value in force.items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    console = PlainConsole()
    assert console.is_terminal
    console.print("now uses [bold]qwen[/bold]")
    assert "\x1b[1mqwen\x1b[0m" in out.getvalue()
    assert console.rich.is_terminal


def test_a_terminal_gets_rich_wrapping_and_styles(monkeypatch: pytest.MonkeyPatch) -> None:
    tty = _Tty()
    monkeypatch.setattr(sys, "stdout", tty)
    console = PlainConsole()
    assert console.is_terminal
    console.print("[bold]one two three four five six seven[/bold]")
    lines = tty.getvalue().splitlines()
    assert len(lines) > 1 and "\x1b[1m" in lines[0]


@pytest.mark.parametrize(
    ("environ", "terminal"),
    [
        ({"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"}, False),  # TTY_COMPATIBLE wins, as in Rich
        ({"FORCE_COLOR": ""}, False),
        ({"NO_COLOR": "1"}, True),  # still a terminal (Rich's, without colours)
        ({"TERM": "dumb"}, True),
    ],
)
def test_terminal_detection_follows_rich(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], terminal: bool
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    from rich.console import Console

    text = "[bold]styled[/bold] [red]and red[/red] " + "word " * 20
    tty, rich_tty = _Tty(), _Tty()
    monkeypatch.setattr(sys, "stdout", tty)
    console = PlainConsole()
    assert console.is_terminal is Console().is_terminal is terminal
    console.print(text)
    if terminal:  # exactly what Rich prints there (wrapped, without colours)
        Console(file=rich_tty, highlight=False).print(text)
        assert tty.getvalue() == rich_tty.getvalue()
        assert "\x1b[31m" not in tty.getvalue()
    else:
        assert tty.getvalue() == "styled and red " + "word " * 20 + "\n"


def test_renderables_go_to_rich_even_in_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    console = PlainConsole()
    grid = Table("name", "value")
    grid.add_row("a", "1")
    console.print(grid)
    assert "name" in out.getvalue() and "─" in out.getvalue()
    console.print("[bold]after[/bold] " + "word " * 10)  # strings stay plain afterwards
    assert out.getvalue().endswith("after " + "word " * 10 + "\n")


def test_a_table_cell_shows_colon_names_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setenv("COLUMNS", "80")
    grid = Table("check")
    grid.add_row("config:gemini:user")  # Rich's emoji codes would make it "config♊user"
    PlainConsole().print(grid)
    assert "config:gemini:user" in out.getvalue()


def test_a_table_in_a_pipe_keeps_each_row_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.delenv("COLUMNS", raising=False)
    provider = "Qwen (Alibaba Model Studio / DashScope), OpenAI-compatible and Anthropic-compatible"
    output.table("profiles", ["name", "provider", "key from"], [("qwen", provider, "env:DASHSCOPE_API_KEY")])
    rows = [line for line in out.getvalue().splitlines() if line.lstrip().startswith("qwen")]
    assert len(rows) == 1 and provider in rows[0] and "env:DASHSCOPE_API_KEY" in rows[0]


def test_a_table_in_a_pipe_fits_columns_when_set_and_cuts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """``COLUMNS`` asks for a width (issue 48, item 10): wrapped within it, every character kept."""
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setenv("COLUMNS", "40")
    provider = "Qwen (Alibaba Model Studio / DashScope), OpenAI-compatible and Anthropic-compatible"
    output.table("profiles", ["name", "provider", "key from"], [("qwen", provider, "env:DASHSCOPE_API_KEY")])
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 40 and "…" not in out.getvalue()
    shown = "".join(line.split("│")[2] for line in lines if line.count("│") == 2)
    assert shown.replace(" ", "") == "env:DASHSCOPE_API_KEY"


def test_progress_gets_a_rich_console() -> None:
    from rich.console import Console

    assert isinstance(output.console.rich, Console)
    assert output.err_console.rich.stderr
