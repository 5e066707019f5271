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


def _subcommands(group: Command, path: tuple[str, ...]) -> list[tuple[str, Command]]:
    """A group's visible commands, in --help's order."""
    ctx = _context(group, path[-1] if path else "mahavishnu")
    found = [(name, group.get_command(ctx, name)) for name in group.list_commands(ctx)]
    return [(name, sub) for name, sub in found if sub is not None and not sub.hidden]


def walk(command: Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Command]]:
    """Every command under ``command`` (groups included) with its path, depth first, in --help's order."""
    if path:
        yield path, command
    if _is_group(command):
        for name, sub in _subcommands(command, path):
            yield from walk(sub, (*path, name))


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
        subs = [name for name, _ in _subcommands(command, path)]
        lines += [
            "Commands: " + ", ".join(f"[`{n}`](#{anchor((*path, n))})" for n in subs),
            "",
        ]
    return "\n".join(lines)


def _plain(text: str) -> str:
    """A command's help text as Markdown (Click's ``\\b`` no-rewrap markers dropped)."""
    return text.replace("\b", "").strip()


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
    parts += [section(path, command) for path, command in walk(root)]
    return "\n".join(parts)
