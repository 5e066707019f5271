"""``mahavishnu mcp``: Mahavishnu's own MCP server, registered with the assistants."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from mahavishnu.cli.mcp_servers import backups_keep, report_changes
from mahavishnu.cli.output import JSON_OPTION

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from mahavishnu.environments.mcp_servers import McpChange

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"

app = typer.Typer(
    help="Mahavishnu's own MCP server and its registration with assistants.", no_args_is_help=True
)


@app.callback()
def _group() -> None:
    """Mahavishnu's own MCP server and its registration with assistants."""


@app.command("health")
def health_alias(
    no_probe: bool = typer.Option(
        False, "--no-probe", help="Do not send a request to each assistant's active provider."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """The same report as `mahavishnu health` (store, embedder, services, providers)."""
    from mahavishnu.cli.health import health

    health(no_probe=no_probe, as_json=as_json)


@app.command("install")
def install(
    tool: str = typer.Option(
        ...,
        "--tool",
        "-t",
        help="Assistants to register it with: claude, codex, qwen, gemini, opencode, a list or all.",
    ),
    scope: str = typer.Option(
        "user", "--scope", "-s", help="user, project (.mcp.json / .qwen / .gemini) or local (Claude only)."
    ),
    name: str = typer.Option("mahavishnu", "--name", help="Name of the server entry."),
    http: bool = typer.Option(
        False,
        "--http",
        help="Register the HTTP server (`mcp serve --http`) with its bearer token, instead of stdio.",
    ),
    port: int = typer.Option(8680, "--port", "-p", min=1, max=65535, help="Port of the HTTP server."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the diffs and write nothing."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Register `mahavishnu mcp serve` (stdio), or with --http the HTTP server and its bearer token,
    as an MCP server of the assistants."""
    from mahavishnu.environments.mcp_servers import install_self

    result = install_self(
        tool, scope, name=name, dry_run=dry_run, backups=backups_keep(), http_port=port if http else None
    )
    report_changes(result, as_json, _registration)


def _registration(change: McpChange, dry_run: bool) -> str:
    if change.action == "unchanged":
        return "already registered"
    return "would be registered" if dry_run else f"registered ({change.action})"


@app.command("serve")
def serve(
    ctx: typer.Context,
    http: bool = typer.Option(False, "--http", help="Serve streamable HTTP (path /mcp) instead of stdio."),
    port: int = typer.Option(8680, "--port", "-p", min=0, max=65535, help="HTTP port."),
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="HTTP address to bind (the bearer token is required on every request); an address other "
        "than loopback serves plain HTTP to the network (warned).",
    ),
    no_auth: bool = typer.Option(
        False,
        "--no-auth",
        help="Serve loopback HTTP without the bearer token: any local process (any user) can then call "
        "every tool. Off by default; loopback only (an error with another --host).",
    ),
) -> None:
    """Run Mahavishnu's MCP server: stdio by default (stdout carries only the protocol; logs go
    to stderr), or streamable HTTP with --http on 127.0.0.1, requiring the bearer token."""
    import logging

    from mahavishnu import mcp_server

    if http:
        host = host.removeprefix("[").removesuffix("]")  # ([::1], as a URL writes it: an address)
        _check_host(host, no_auth=no_auth)
    else:
        _refuse_http_options(ctx)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    backing = mcp_server.Backing()
    server = mcp_server.build_server(backing)
    try:
        _serve(server, http=http, host=host, port=port, no_auth=no_auth)
    finally:
        backing.close()  # the store, and the Session-Buddy session (and its stdio peer, if any)


def _refuse_http_options(ctx: typer.Context) -> None:
    """Without --http the server speaks on stdio: an HTTP option typed without it would be dropped,
    and the server would sit waiting on stdin where an HTTP one was meant."""
    from mahavishnu.errors import InvalidInputError

    flags = {"port": "--port", "host": "--host", "no_auth": "--no-auth"}
    given = " and ".join(flag for name, flag in flags.items() if _typed(ctx, name))
    if given:
        raise InvalidInputError(
            f"{given} {'go' if ' and ' in given else 'goes'} with --http: without it the server speaks "
            "MCP on stdin and stdout",
            hint=f"Add --http to serve streamable HTTP, or drop {given} to serve on stdio.",
        )


def _typed(ctx: typer.Context, name: str) -> bool:
    """Whether the option ``name`` was given on the command line (not its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def _check_host(host: str, *, no_auth: bool) -> None:
    """Before anything starts: a host that does not resolve is an error; ``--no-auth`` is for
    loopback only (an error elsewhere, never silently dropped); a host that is not this machine only
    (a loopback name or address, or a name resolving to loopback addresses only) gets a one-line
    warning, as it serves plain HTTP to the network."""
    import socket

    from mahavishnu.errors import InvalidInputError
    from mahavishnu.loopback import is_loopback

    if is_loopback(host):
        return
    try:
        addresses = {str(found[4][0]) for found in socket.getaddrinfo(host, None)}
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInputError(
            f"cannot serve on {host}: no such host ({getattr(exc, 'strerror', None) or exc})",
            hint="Give --host an address of this machine (127.0.0.1: this machine only; 0.0.0.0: every "
            "interface) or a name that resolves to one.",
        ) from None
    if no_auth:
        raise InvalidInputError(
            f"--no-auth is for loopback only: refusing to serve {host} without the bearer token",
            hint="Drop --no-auth (every request then needs the token), or serve on 127.0.0.1.",
        )
    if all(is_loopback(address) for address in addresses):
        return  # (a name for this machine only: 127.0.1.1, say)
    shown = f"[{host}]" if ":" in host else host  # (``serving on :::`` read as a typo)
    sys.stderr.write(
        f"mahavishnu mcp: WARNING: serving on {shown}: other machines can reach it over plain HTTP "
        "(no TLS: the bearer token and every call cross the network unencrypted)\n"
    )


def _serve(server: MCPServer, *, http: bool, host: str, port: int, no_auth: bool) -> None:
    from mahavishnu import mcp_server

    if not http:
        if sys.stdin is not None and sys.stdin.isatty():  # started by hand (stdout: the protocol's only)
            sys.stderr.write(
                "mahavishnu mcp: waiting for an MCP client on standard input (Ctrl-C to stop); an "
                "assistant starts this itself: see `mahavishnu mcp install`\n"
            )
            sys.stderr.flush()
        if mcp_server.serve_stdio(server):  # until stdin ends, or Ctrl-C: 130, as with --http
            raise typer.Exit(130)
        return
    token = None
    if no_auth:
        sys.stderr.write(
            "mahavishnu mcp: WARNING: --no-auth: any local process, of any user, can call every tool "
            "(switch providers, read and write memory, restart services)\n"
        )
    else:
        token = mcp_server.bearer_token()
        sys.stderr.write(
            f"mahavishnu mcp: bearer token required; read it with "
            f"`mahavishnu secrets get {mcp_server.TOKEN_SECRET}`\n"
        )

    def announce(url: str) -> None:
        sys.stderr.write(f"mahavishnu mcp: serving {url}\n")
        sys.stderr.flush()

    from mahavishnu.config import load_settings

    metrics = load_settings().telemetry.prometheus  # /metrics beside /mcp, behind the same token
    mcp_server.serve_http(server, host=host, port=port, token=token, announce=announce, metrics=metrics)
