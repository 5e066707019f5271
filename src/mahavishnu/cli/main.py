"""The ``mahavishnu`` command: one Typer app, one sub-app per command group."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from mahavishnu.__about__ import __version__
from mahavishnu.cli import (
    ai,
    claude,
    config_cmd,
    db,
    health,
    mcp,
    mcp_servers,
    memory,
    secrets,
    service,
    watch,
)
from mahavishnu.errors import MahavishnuError


class _Root(TyperGroup):
    """Turns every MahavishnuError into one line + hint on stderr and its exit code."""

    def invoke(self, ctx: Any) -> Any:  # Typer vendors click: its Context type is private
        try:
            return super().invoke(ctx)
        except MahavishnuError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            if exc.hint:
                typer.echo(f"hint: {exc.hint}", err=True)
            ctx.exit(exc.exit_code)


app = typer.Typer(
    cls=_Root,
    name="mahavishnu",
    help="Local control plane for AI coding assistants: provider environments, shared memory, services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(ai.app, name="ai")
app.add_typer(claude.app, name="claude")
app.add_typer(secrets.app, name="secrets")
app.add_typer(config_cmd.app, name="config")
app.add_typer(memory.app, name="memory")
app.add_typer(db.app, name="db")
app.add_typer(mcp_servers.app, name="mcp-servers")
app.add_typer(mcp.app, name="mcp")
app.add_typer(service.app, name="service")
app.add_typer(watch.app, name="watch")
app.command("health")(health.health)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"mahavishnu {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Local control plane for AI coding assistants."""
