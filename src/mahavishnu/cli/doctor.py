"""``mahavishnu doctor``: is this machine set up right? One line per finding, each with a fix."""

from __future__ import annotations

import typer
from rich.markup import escape

from mahavishnu.cli.output import JSON_OPTION, Markup, console, print_json, table

_STYLE = {"ok": "green", "skipped": "dim", "warn": "yellow", "error": "red"}


def doctor(as_json: bool = JSON_OPTION) -> None:
    """Check the assistants' CLIs and versions, their config files against the published schemas,
    that each current profile's key resolves (never shown), the keyring, private file modes, the
    store's migrations and Mahavishnu's MCP registration. Exits 0 only when all is well."""
    from mahavishnu.config import load_settings
    from mahavishnu.doctor import healthy, run_checks

    findings = run_checks(load_settings())
    if as_json:
        print_json({"healthy": healthy(findings), "findings": [f.to_dict() for f in findings]})
    else:
        table(
            None,
            ["check", "status", "detail", "fix"],
            [
                (
                    escape(f.check),
                    Markup(f"[{_STYLE[f.status]}]{f.status}[/]"),
                    escape(f.detail),
                    escape(f.hint),
                )
                for f in findings
            ],
        )
        console.print("\n[green]all is well[/]" if healthy(findings) else "\n[red]needs attention[/]")
    if not healthy(findings):
        raise typer.Exit(1)
