"""``mahavishnu usage [daily|monthly|sessions]``: tokens and cost of every assistant's requests,
from the session logs they keep, attributed to the provider that served them (``usage/``)."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

import typer

from mahavishnu.cli.output import JSON_OPTION, escape, info, print_json, table, warn
from mahavishnu.cli.params import (
    JSON,
    USAGE_BLOCKS_SINCE,
    USAGE_BLOCKS_TIMEZONE,
    USAGE_BLOCKS_UNTIL,
    USAGE_BY,
    USAGE_REPORT,
    USAGE_SINCE,
    USAGE_TIMEZONE,
    USAGE_TOOLS,
    USAGE_UNPRICED,
    USAGE_UNTIL,
    USAGE_VERBOSE,
    USAGE_WATCH,
    typer_param,
    typer_params,
)
from mahavishnu.cli.usage_report import days, show, tools

app = typer.Typer(
    help="Tokens and cost per day, month or session, from the assistants' own logs.",
    invoke_without_command=True,
)


# The report's parameters are declared in cli/params.py, from which cli/fast/ also parses plainly
# spelled command lines without Typer (see cli/entry.py); both run usage_report.show.
@app.callback()
def usage(
    ctx: typer.Context,
    by: str | None = typer_param(USAGE_BY),
    tool: list[str] | None = typer_param(USAGE_TOOLS),
    since: str | None = typer_param(USAGE_SINCE),
    until: str | None = typer_param(USAGE_UNTIL),
    timezone: str | None = typer_param(USAGE_TIMEZONE),
    as_json: bool = typer_param(JSON),
    unpriced: bool = typer_param(USAGE_UNPRICED),
    verbose: bool = typer_param(USAGE_VERBOSE),
    watch: bool = typer_param(USAGE_WATCH),
) -> None:
    """Tokens and cost per day (the default), month or session."""
    if ctx.invoked_subcommand is None:
        show("daily", by, tool, since, until, as_json, unpriced, verbose, watch, timezone)


@app.command("daily")
@typer_params(USAGE_REPORT)
def daily_cmd(**values: Any) -> None:
    """Tokens and cost per day."""
    show("daily", **values)


@app.command("monthly")
@typer_params(USAGE_REPORT)
def monthly_cmd(**values: Any) -> None:
    """Tokens and cost per month."""
    show("monthly", **values)


@app.command("sessions")
@typer_params(USAGE_REPORT)
def sessions_cmd(**values: Any) -> None:
    """Tokens and cost per session."""
    show("sessions", **values)


@app.command("blocks")
def blocks_cmd(
    tool: list[str] | None = typer_param(USAGE_TOOLS),
    since: str | None = typer_param(USAGE_BLOCKS_SINCE),
    until: str | None = typer_param(USAGE_BLOCKS_UNTIL),
    timezone: str | None = typer_param(USAGE_BLOCKS_TIMEZONE),
    active: bool = typer.Option(False, "--active", help="Only the five-hour window still open."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Five-hour billing windows: tokens and cost, and the open one's burn rate and projection."""
    import time

    from mahavishnu.usage.blocks import MEASURED, blocks
    from mahavishnu.usage.report import day_start, parse_zone, priced_requests

    zone = parse_zone(timezone) if timezone is not None else None
    first, last = days(since, until)
    start = day_start(first, zone) if first else None
    end = day_start(last + timedelta(days=1), zone) if last else None
    # Every request: where a window opens depends on the requests before it (a window opened at
    # 22:00 runs to 03:00; cut at midnight, it was shown as one from 00:00 to 05:00).
    requests, refreshed = priced_requests(tools(tool))
    for problem in refreshed.problems:
        warn(escape(problem))
    now = time.time()
    windows = [
        w
        for w in blocks(requests, now)
        # a window is the day's it opens on, as ccusage's
        if (w.active or not active) and (start is None or w.start >= start) and (end is None or w.start < end)
    ]
    if as_json:
        print_json({"blocks": [w.to_json(now) for w in windows]})
        return
    if not windows:
        if active:
            info("No five-hour window is open" + (" that opened in this period." if since or until else "."))
        else:
            info(
                "No five-hour window opened in this period."
                if since or until
                else "No requests in the assistants' logs."
            )
        return
    rows = []
    for window in windows:
        rows.append(
            [
                _window(window.start, window.end, zone) + (" (open)" if window.active else ""),
                f"{window.requests:,}",
                f"{window.tokens:,}",
                f"{window.cost:.2f}" + (" + unpriced" if window.unpriced_requests else ""),
                _burn(window.burn(now)) if window.active else "",
                _at_end(window.projected(now)) if window.active else "",
            ]
        )
    heading = "Window" if zone is None else f"Window ({zone})"
    table(None, [heading, "Requests", "Tokens", "Cost (USD)", "Burn rate", "At its end"], rows)
    if any(w.active and w.burn(now) is None for w in windows):
        info(
            f"too early: a burn rate needs two requests and {MEASURED // 60} minutes since the window's "
            "first request (less, projected over five hours, is noise)."
        )


def _burn(rate: tuple[float, float] | None) -> str:
    if rate is None:
        return "too early"
    tokens_a_minute, usd_an_hour = rate
    return f"{usd_an_hour:.2f}/h, {tokens_a_minute:,.0f} tok/min"


def _at_end(projected: tuple[int, float] | None) -> str:
    return "too early" if projected is None else f"{projected[1]:.2f} ({projected[0]:,} tokens)"


def _window(start: float, end: float, zone: tzinfo | None) -> str:
    """The window's day and hours in ``zone`` (None: the local one)."""
    return f"{datetime.fromtimestamp(start, zone):%Y-%m-%d %H:%M}–{datetime.fromtimestamp(end, zone):%H:%M}"


@app.command("statusline")
def statusline_cmd(
    refresh: bool = typer.Option(False, "--refresh", help="Recompute the summary it prints from."),
) -> None:
    """One line for Claude Code's statusLine: model, session and today's cost, the open window.

    Set it in ~/.claude/settings.json as {"statusLine": {"type": "command", "command":
    "mahavishnu usage statusline"}}. It answers from a summary refreshed in the background.
    """
    from mahavishnu.usage.statusline import main

    raise typer.Exit(main(["--refresh"] if refresh else []))
