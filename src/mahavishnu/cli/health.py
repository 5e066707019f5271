"""``mahavishnu health``: one report of every component (the MCP ``health_check`` tool's data)."""

from __future__ import annotations

import typer
from rich.markup import escape

from mahavishnu.cli.output import JSON_OPTION, Markup, console, print_json, table

_STYLE = {"ok": "green", "stopped": "dim", "skipped": "dim", "warn": "yellow", "error": "red"}


def health(
    no_probe: bool = typer.Option(
        False, "--no-probe", help="Do not send a request to each assistant's active provider."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check the store, embedder, PostgreSQL, Session-Buddy, services and assistants' providers.

    Exits 1 when any component is in error. Results are recorded as performance metrics."""
    from mahavishnu.health import health_report

    report = health_report(probe_providers=not no_probe)
    if as_json:
        print_json(report.to_dict())
    else:
        table(
            None,
            ["component", "status", "latency", "detail"],
            [
                (
                    escape(c.component),
                    Markup(f"[{_STYLE[c.status]}]{c.status}[/]"),
                    f"{c.latency_ms:g} ms" if c.latency_ms is not None else "",
                    escape(c.detail),
                )
                for c in report.components
            ],
        )
        verdict = "[green]healthy[/]" if report.ok else "[red]unhealthy[/]"
        if report.recorded_to:
            where = f" (recorded to {escape(report.recorded_to)})"
        elif any(c.component == "store" and c.status == "error" for c in report.components):
            where = " (not recorded: nothing is written to a store in error)"
        else:
            where = ""
        console.print(f"\n{verdict}{where}")
    if not report.ok:
        raise typer.Exit(1)
