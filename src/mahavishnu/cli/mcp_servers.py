"""``mahavishnu mcp-servers``: the MCP servers of every assistant, listed, added, removed and synced."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING

import typer

from mahavishnu.cli.output import JSON_OPTION, console, escape, print_json, table, warn

if TYPE_CHECKING:
    from mahavishnu.environments.mcp_servers import McpChange, McpResult, McpServer, Registered

app = typer.Typer(
    help="MCP servers across Claude Code, Codex CLI, Qwen Code, Gemini CLI and OpenCode: "
    "list, add, remove, sync.",
    no_args_is_help=True,
)

TOOLS_HELP = "claude, codex, qwen, gemini, opencode, a comma-separated list, or all"
ScopeOption = typer.Option(
    "user",
    "--scope",
    "-s",
    help="user, project (.mcp.json / .qwen / .gemini / opencode.json) or local (Claude only).",
)
DryRunOption = typer.Option(False, "--dry-run", help="Print the diffs (secrets masked) and write nothing.")
ReplaceOption = typer.Option(
    False, "--replace", help="Overwrite a same-named server that Mahavishnu did not add."
)


@app.command("list")
def list_servers(
    tool: str = typer.Option("all", "--tool", "-t", help=f"Only these assistants: {TOOLS_HELP}."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List every MCP server of the assistants, with its scope and whether Mahavishnu added it.

    Exits 1 (after listing the rest) when a config file could not be read."""
    from mahavishnu.environments import mcp_servers

    found, warnings = mcp_servers.list_servers(tool)
    for message in warnings:
        warn(escape(message))
    _list(found, as_json, unreadable=bool(warnings))
    if warnings:
        raise typer.Exit(1)


def _list(found: list[Registered], as_json: bool, *, unreadable: bool) -> None:
    if as_json:
        print_json([entry.to_dict() for entry in found])
        return
    if not found:
        if not unreadable:
            console.print("No MCP servers configured: add one with `mahavishnu mcp-servers add`.")
        return
    table(
        None,
        ["tool", "scope", "name", "transport", "command / url", "env / headers", "added by"],
        [
            (
                e.tool,
                e.scope,
                e.server.name,
                e.server.transport,
                e.server.describe(),
                _pairs(e.to_dict()),
                "mahavishnu" if e.managed else "changed by hand" if e.changed_by_hand else "-",
            )
            for e in found
        ],
    )


@app.command("add")
def add(
    name: str = typer.Argument(..., help="Server name: letters, digits, '-' and '_'."),
    command_line: list[str] | None = typer.Argument(
        None, help="Alternatively the stdio command and its arguments after `--`."
    ),
    command: str | None = typer.Option(None, "--command", help="Executable of a stdio server."),
    arg: list[str] = typer.Option([], "--arg", help="Argument of the stdio command (repeatable)."),
    env: list[str] = typer.Option([], "--env", "-e", help="KEY=VALUE for the stdio server (repeatable)."),
    url: str | None = typer.Option(None, "--url", help="URL of a streamable HTTP or SSE server."),
    header: list[str] = typer.Option([], "--header", "-H", help="'Name: value' HTTP header (repeatable)."),
    transport: str | None = typer.Option(
        None, "--transport", help="http (default with --url) or sse; stdio with --command."
    ),
    tool: str = typer.Option(..., "--tool", "-t", help=f"Assistants to configure: {TOOLS_HELP}."),
    scope: str = ScopeOption,
    replace: bool = ReplaceOption,
    dry_run: bool = DryRunOption,
    as_json: bool = JSON_OPTION,
) -> None:
    """Add (or update) one MCP server in the assistants' config files, leaving every other one alone."""
    from mahavishnu.environments import mcp_servers

    server = _server(name, command_line or [], command, arg, env, url, header, transport)
    result = mcp_servers.add_server(
        server, tool, scope, dry_run=dry_run, replace=replace, backups=backups_keep()
    )
    report_changes(result, as_json, _what_happened)


@app.command("remove")
def remove(
    name: str = typer.Argument(..., help="Server name."),
    tool: str = typer.Option(..., "--tool", "-t", help=f"Assistants to remove it from: {TOOLS_HELP}."),
    scope: str = ScopeOption,
    force: bool = typer.Option(
        False, "--force", help="Remove it also where Mahavishnu did not add it (your own server)."
    ),
    dry_run: bool = DryRunOption,
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove the named MCP server at one scope; no other server is touched.

    A server Mahavishnu did not add is refused (and nothing removed anywhere) unless --force."""
    from mahavishnu.environments import mcp_servers

    result = mcp_servers.remove_server(
        name, tool, scope, dry_run=dry_run, backups=backups_keep(), force=force
    )
    report_changes(result, as_json, _what_happened)


@app.command("sync")
def sync(
    name: str = typer.Argument(..., help="Server name."),
    source: str = typer.Option(..., "--from", help="The assistant that has the server."),
    to: str = typer.Option(..., "--to", help=f"Assistants to copy it to: {TOOLS_HELP}."),
    source_scope: str | None = typer.Option(
        None, "--from-scope", help="Scope to read it from (default: the one the assistant uses)."
    ),
    scope: str = ScopeOption,
    replace: bool = ReplaceOption,
    dry_run: bool = DryRunOption,
    as_json: bool = JSON_OPTION,
) -> None:
    """Copy one MCP server to other assistants; servers Mahavishnu did not add are never removed."""
    from mahavishnu.environments import mcp_servers

    result = mcp_servers.sync_server(
        name,
        source,
        to,
        source_scope=source_scope,
        scope=scope,
        dry_run=dry_run,
        replace=replace,
        backups=backups_keep(),
    )
    report_changes(result, as_json, _what_happened)


def _server(
    name: str,
    command_line: list[str],
    command: str | None,
    args: list[str],
    env: list[str],
    url: str | None,
    headers: list[str],
    transport: str | None,
) -> McpServer:
    from mahavishnu.environments.mcp_servers import McpServer, parse_env, parse_headers
    from mahavishnu.errors import InvalidInputError

    if command_line:
        if command:
            raise InvalidInputError("give the command either with --command or after `--`, not both")
        command, args = command_line[0], [*command_line[1:], *args]
    if bool(command) == bool(url):
        raise InvalidInputError(
            "give exactly one of --command (stdio server) and --url (HTTP or SSE server)",
            hint="e.g. `--command npx --arg -y --arg some-mcp` or `--url https://host/mcp`.",
        )
    if command:
        if transport not in (None, "stdio") or headers:
            raise InvalidInputError(
                "--transport http/sse and --header go with --url, not --command",
                hint=_FLAGS_OF_EACH,
            )
        return McpServer.stdio(name, command, args, parse_env(env))
    if args or env:
        raise InvalidInputError(
            "--arg and --env go with --command, not --url",
            hint=_FLAGS_OF_EACH,
        )
    assert url is not None
    return McpServer.remote(name, url, transport or "http", parse_headers(headers))


_FLAGS_OF_EACH = "A stdio server takes --command, --arg and --env; an HTTP or SSE one --url and --header."


def report_changes(result: McpResult, as_json: bool, what_happened: Callable[[McpChange, bool], str]) -> None:
    """Print a result: as JSON, or the warnings then, per file, the diff (dry run) or what happened."""
    if as_json:
        print_json(asdict(result))
        return
    for message in result.warnings:
        warn(escape(message))  # plain text: a path or a masked value may hold "[...]"
    for change in result.changes:
        if result.dry_run and change.diff:
            console.print(change.diff, markup=False, end="", soft_wrap=True)
        elif change.action != "skipped":  # a skip was already said in a warning
            where = f"{change.tool} ({change.scope}) {change.path}"
            message = what_happened(change, result.dry_run)
            console.print(f"{where}: {message}", markup=False, soft_wrap=True)


def _what_happened(change: McpChange, dry_run: bool) -> str:
    reason = f" ({change.reason})" if change.reason else ""
    verb = f"would be {change.action}" if dry_run and change.action != "unchanged" else change.action
    return f"'{change.name}' {verb}{reason}"


def _pairs(entry: dict[str, object]) -> str:
    env = entry.get("env") or {}
    headers = entry.get("headers") or {}
    assert isinstance(env, dict) and isinstance(headers, dict)
    return ", ".join([*(f"{k}={v}" for k, v in env.items()), *(f"{k}: {v}" for k, v in headers.items())])


def backups_keep() -> int:
    """How many backups of each file to keep, as the user's settings say."""
    from mahavishnu.config import load_settings

    return load_settings().environments.backups_keep
