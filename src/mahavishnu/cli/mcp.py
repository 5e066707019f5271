"""``mahavishnu mcp``: Mahavishnu's own MCP server, registered with the assistants."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mahavishnu.cli.mcp_servers import backups_keep, report_changes
from mahavishnu.cli.output import JSON_OPTION

if TYPE_CHECKING:
    from mahavishnu.environments.mcp_servers import McpChange

app = typer.Typer(
    help="Mahavishnu's own MCP server and its registration with assistants.", no_args_is_help=True
)


@app.callback()
def _group() -> None:
    """Mahavishnu's own MCP server and its registration with assistants."""


@app.command("install")
def install(
    tool: str = typer.Option(
        ...,
        "--tool",
        "-t",
        help="Assistants to register it with: claude, codex, qwen, gemini, a list or all.",
    ),
    scope: str = typer.Option(
        "user", "--scope", "-s", help="user, project (.mcp.json / .qwen / .gemini) or local (Claude only)."
    ),
    name: str = typer.Option("mahavishnu", "--name", help="Name of the server entry."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the diffs and write nothing."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Register `mahavishnu mcp serve` (stdio) as an MCP server of the assistants."""
    from mahavishnu.environments.mcp_servers import install_self

    result = install_self(tool, scope, name=name, dry_run=dry_run, backups=backups_keep())
    report_changes(result, as_json, _registration)


def _registration(change: McpChange, dry_run: bool) -> str:
    if change.action == "unchanged":
        return "already registered"
    return "would be registered" if dry_run else f"registered ({change.action})"
