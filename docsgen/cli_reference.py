"""The CLI reference: every command of the Typer app, found by walking its Click command tree."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

# Typer 0.29 vendors Click (``typer._click``): its classes are private, so commands and parameters
# are told apart by what they have (``list_commands``; ``param_type_name``), not by isinstance.
Command = Any


def _is_group(command: Command) -> bool:
    return hasattr(command, "list_commands")


def _context(command: Command, name: str) -> Any:
    return command.context_class(command, info_name=name)


def root_command() -> Command:
    from mahavishnu.cli.main import app

    return typer.main.get_command(app)


def walk(command: Command | None = None, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path under ``command`` (groups included), depth first, in --help's order."""
    command = command or root_command()
    if path:
        yield path
    if _is_group(command):
        ctx = _context(command, path[-1] if path else "mahavishnu")
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from walk(sub, (*path, name))


def find(path: tuple[str, ...]) -> Command:
    """The command at ``path`` (KeyError naming the first unknown word)."""
    command: Command = root_command()
    for depth, word in enumerate(path):
        if not _is_group(command):
            raise KeyError(f"`mahavishnu {' '.join(path[:depth])}` has no subcommand {word!r}")
        ctx = _context(command, word)
        sub = command.get_command(ctx, word)
        if sub is None:
            raise KeyError(f"`mahavishnu {' '.join(path[:depth])}` has no command {word!r}")
        command = sub
    return command


def anchor(path: tuple[str, ...]) -> str:
    return "mahavishnu-" + "-".join(path)


def _param_row(param: Any, ctx: Any) -> str:
    """One row of a command's table, from the same help record ``--help`` prints."""
    record = param.get_help_record(ctx)
    names, help_text = record if record else (param.name, "")
    kind = "argument" if param.param_type_name == "argument" else "option"
    cell = " ".join(help_text.split()).replace("|", "\\|")
    return f"| `{names}` | {kind} | {cell} |"


def _usage(command: Command, path: tuple[str, ...]) -> str:
    ctx = _context(command, " ".join(("mahavishnu", *path)))
    pieces = command.collect_usage_pieces(ctx)
    return " ".join(["mahavishnu", *path, *pieces])


def section(path: tuple[str, ...], command: Command) -> str:
    level = "#" * min(len(path) + 1, 6)
    lines = [f"{level} mahavishnu {' '.join(path)} {{ #{anchor(path)} }}", ""]
    if command.help:
        lines += [_plain(command.help), ""]
    lines += ["```text", _usage(command, path), "```", ""]
    params = [p for p in command.params if not getattr(p, "hidden", False) and p.name != "help"]
    if params:
        lines += ["| Name | | What it does |", "| --- | --- | --- |"]
        ctx = _context(command, path[-1])
        lines += [_param_row(p, ctx) for p in params]
        lines.append("")
    if _is_group(command):
        ctx = _context(command, path[-1])
        subs = [n for n in command.list_commands(ctx) if not _hidden(command, ctx, n)]
        lines += [
            "Commands: " + ", ".join(f"[`{n}`](#{anchor((*path, n))})" for n in subs),
            "",
        ]
    return "\n".join(lines)


def _hidden(group: Command, ctx: Any, name: str) -> bool:
    sub = group.get_command(ctx, name)
    return sub is None or sub.hidden


def _plain(text: str) -> str:
    """Typer's help text (Click's \\b markers and rich markup aside) as Markdown paragraphs."""
    return "\n".join(line for line in text.replace("\b", "").splitlines()).strip()


def markdown() -> str:
    root = root_command()
    root_options = [p for p in root.params if p.param_type_name == "option" and p.name != "help"]
    parts = [
        "Options of `mahavishnu` itself, before any command:",
        "",
        "| Name | | What it does |",
        "| --- | --- | --- |",
        *[_param_row(p, _context(root, "mahavishnu")) for p in root_options],
        "",
    ]
    parts += [section(path, find(path)) for path in walk(root)]
    return "\n".join(parts)


def command_paths() -> list[str]:
    return [" ".join(path) for path in walk()]


def option_names(path: tuple[str, ...]) -> set[str]:
    """Every option spelling the command at ``path`` and its parents accept (the root's --force too)."""
    names: set[str] = {"--help", "-h"}
    for depth in range(len(path) + 1):
        command: Any = find(path[:depth])
        for param in command.params:
            if param.param_type_name == "option":
                names.update(param.opts)
                names.update(param.secondary_opts)
    return names
