"""The ``mahavishnu`` command: one Typer app, one sub-app per command group.

Command groups are registered lazily: a group's module is imported, and its Click group built
(Typer converts every parameter of every command through pydantic, which is not free), only when
the command line uses that group, or when something lists them all (``--help``, a test walking
``commands``). ``mahavishnu ai switch-llm`` thus never loads the memory, service or MCP commands.
Measured (``benchmarks/startup_indirection.py``, CPU ms per process, loaded 2-core box): root plus
the ``memory`` group 170, every group built 196, a bare interpreter 63: laziness saves ~26 ms (~25 %
of what the CLI adds) on every command that goes through Typer.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from mahavishnu.__about__ import __version__
from mahavishnu.cli import doctor, health, help_text, run, ui
from mahavishnu.cli.repeats import refuse_repeats
from mahavishnu.errors import MahavishnuError, from_unexpected

#: Command group name -> the module whose ``app`` it is, in the order ``--help`` lists them.
GROUPS: dict[str, str] = {
    "ai": "mahavishnu.cli.ai",
    "claude": "mahavishnu.cli.claude",
    "secrets": "mahavishnu.cli.secrets",
    "config": "mahavishnu.cli.config_cmd",
    "memory": "mahavishnu.cli.memory",
    "db": "mahavishnu.cli.db",
    "team": "mahavishnu.cli.team",
    "mcp-servers": "mahavishnu.cli.mcp_servers",
    "mcp": "mahavishnu.cli.mcp",
    "service": "mahavishnu.cli.service",
    "watch": "mahavishnu.cli.watch",
    "usage": "mahavishnu.cli.usage",
}


class _Root(TyperGroup):
    """Turns every MahavishnuError (and what ``from_unexpected`` recognises: a read-only or damaged
    store, a permission error, too-deep nesting) into one line + hint on stderr and its exit code."""

    def invoke(self, ctx: Any) -> Any:  # Typer vendors click: its Context type is private
        try:
            return super().invoke(ctx)
        except MahavishnuError as exc:
            _report(ctx, exc)
        except TyperException as exc:  # a usage error quotes what was typed: a key pasted as an argument too
            if isinstance(getattr(exc, "message", None), str):
                exc.message = _scrubbed(exc.message)
            raise
        except Exception as exc:
            translated = from_unexpected(exc)
            if translated is None:
                raise
            _report(ctx, translated)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """Click's resolution, naming the command for its telemetry span (``cli/command_span.py``)."""
        name, command, rest = super().resolve_command(ctx, args)
        from mahavishnu.cli.command_span import name_command

        name_command(command, rest)
        return name, command, rest


def _scrubbed(message: str) -> str:
    """A usage error's ``message`` with the secrets in it redacted: Click writes the line breaks of
    what it quotes as ``\\x0a``, read as line breaks here (a private key's lines)."""
    from mahavishnu.redaction.scrub import scrub

    return scrub(message.replace("\\x0a", "\n")).replace("\n", "\\x0a")


def _report(ctx: Any, exc: MahavishnuError) -> None:
    """One line and a hint (``fast.common.error_lines``, scrubbed as a usage error is)."""
    from mahavishnu.cli.fast.common import error_lines

    typer.echo(error_lines(exc), err=True, nl=False)
    ctx.exit(exc.exit_code)


class _LazyCommands(MutableMapping[str, Any]):
    """A group's ``commands``: the built ones, plus named groups built on first access."""

    def __init__(self, built: MutableMapping[str, Any], lazy: dict[str, str]) -> None:
        self._built = dict(built)
        self._lazy = {name: module for name, module in lazy.items() if name not in self._built}
        self._order = [*self._built, *self._lazy]

    def __getitem__(self, name: str) -> Any:
        if name not in self._built and name in self._lazy:
            self._built[name] = _build_group(name, self._lazy.pop(name))
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._lazy.pop(name, None)
        if name not in self._order:
            self._order.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._built and name not in self._lazy:
            raise KeyError(name)
        self._built.pop(name, None)
        self._lazy.pop(name, None)
        self._order.remove(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._built or name in self._lazy


def _build_group(name: str, module: str) -> Any:
    """The Click group ``app.add_typer(module.app, name=name)`` would have built."""
    holder = typer.Typer(
        rich_markup_mode=app.rich_markup_mode,
        pretty_exceptions_short=app.pretty_exceptions_short,
        suggest_commands=app.suggest_commands,
    )
    holder.add_typer(importlib.import_module(module).app, name=name)
    group = typer.main.get_group(holder).commands[name]
    help_text.humanise(group)
    refuse_repeats(group)
    return group


class _LazyRoot(_Root):
    """The root group, with the command groups of ``GROUPS`` registered lazily."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        help_text.humanise(self)  # before the lazy groups: they are tidied as they are built
        refuse_repeats(self)
        self.commands = _LazyCommands(self.commands, GROUPS)


app = typer.Typer(
    cls=_LazyRoot,
    name="mahavishnu",
    help="Local control plane for AI coding assistants: provider environments, shared memory, services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("health")(health.health)
app.command("run", context_settings=run.RUN_CONTEXT)(run.run)
app.command("doctor")(doctor.doctor)
app.command("ui")(ui.ui)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"mahavishnu {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
    ),
    force: bool = typer.Option(
        False, "--force", help="Write config files you made read-only anyway (their mode is kept)."
    ),
) -> None:
    """Local control plane for AI coding assistants."""
    if ctx.invoked_subcommand != "config":  # `config` shows it, and `config trust` acts on it
        from mahavishnu.cli.fast.switch import warn_if_project_ignored

        warn_if_project_ignored()
    if force:
        from mahavishnu.files import safe_write

        safe_write.force_read_only(True)
