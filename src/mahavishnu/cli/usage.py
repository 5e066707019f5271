"""``mahavishnu usage [daily|monthly|sessions]``: tokens and cost of every assistant's requests,
from the session logs they keep, attributed to the provider that served them (``usage/``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from mahavishnu.cli.output import JSON_OPTION, escape, info, print_json, table, warn
from mahavishnu.environments.assistants.registry import listed
from mahavishnu.errors import InvalidInputError

if TYPE_CHECKING:
    from mahavishnu.usage.records import Tool
    from mahavishnu.usage.report import By, Line, Period, Report

app = typer.Typer(
    help="Tokens and cost per day, month or session, from the assistants' own logs.",
    invoke_without_command=True,
)

BY_OPTION = typer.Option(
    None, "--by", help="Split each period by assistant, provider, model, project or source (main/helper)."
)
TOOL_OPTION = typer.Option(["all"], "--tool", "-t", help=f"{listed('all')} (repeat for several).")
SINCE_OPTION = typer.Option(None, "--since", help="From this day on (YYYY-MM-DD, local time).")
UNTIL_OPTION = typer.Option(None, "--until", help="Up to this day, included (YYYY-MM-DD).")
WATCH_OPTION = typer.Option(
    False, "--watch", "-w", help="Show the report again every few seconds, in place (Ctrl-C stops)."
)
UNPRICED_OPTION = typer.Option(
    False, "--unpriced", help="List only the models nobody prices, with their requests and tokens."
)
VERBOSE_OPTION = typer.Option(
    False, "--verbose", "-v", help="List the log lines skipped as damaged or hostile: file:line and why."
)


@app.callback()
def usage(
    ctx: typer.Context,
    by: str | None = BY_OPTION,
    tool: list[str] = TOOL_OPTION,
    since: str | None = SINCE_OPTION,
    until: str | None = UNTIL_OPTION,
    as_json: bool = JSON_OPTION,
    unpriced: bool = UNPRICED_OPTION,
    verbose: bool = VERBOSE_OPTION,
    watch: bool = WATCH_OPTION,
) -> None:
    """Tokens and cost per day (the default), month or session."""
    if ctx.invoked_subcommand is None:
        _show("daily", by, tool, since, until, as_json, unpriced, verbose, watch)


@app.command("daily")
def daily_cmd(
    by: str | None = BY_OPTION,
    tool: list[str] = TOOL_OPTION,
    since: str | None = SINCE_OPTION,
    until: str | None = UNTIL_OPTION,
    as_json: bool = JSON_OPTION,
    unpriced: bool = UNPRICED_OPTION,
    verbose: bool = VERBOSE_OPTION,
    watch: bool = WATCH_OPTION,
) -> None:
    """Tokens and cost per day."""
    _show("daily", by, tool, since, until, as_json, unpriced, verbose, watch)


@app.command("monthly")
def monthly_cmd(
    by: str | None = BY_OPTION,
    tool: list[str] = TOOL_OPTION,
    since: str | None = SINCE_OPTION,
    until: str | None = UNTIL_OPTION,
    as_json: bool = JSON_OPTION,
    unpriced: bool = UNPRICED_OPTION,
    verbose: bool = VERBOSE_OPTION,
    watch: bool = WATCH_OPTION,
) -> None:
    """Tokens and cost per month."""
    _show("monthly", by, tool, since, until, as_json, unpriced, verbose, watch)


@app.command("sessions")
def sessions_cmd(
    by: str | None = BY_OPTION,
    tool: list[str] = TOOL_OPTION,
    since: str | None = SINCE_OPTION,
    until: str | None = UNTIL_OPTION,
    as_json: bool = JSON_OPTION,
    unpriced: bool = UNPRICED_OPTION,
    verbose: bool = VERBOSE_OPTION,
    watch: bool = WATCH_OPTION,
) -> None:
    """Tokens and cost per session."""
    _show("sessions", by, tool, since, until, as_json, unpriced, verbose, watch)


@app.command("blocks")
def blocks_cmd(
    tool: list[str] = TOOL_OPTION,
    since: str | None = SINCE_OPTION,
    active: bool = typer.Option(False, "--active", help="Only the five-hour window still open."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Five-hour billing windows: tokens and cost, and the open one's burn rate and projection."""
    import time

    from mahavishnu.usage.blocks import blocks
    from mahavishnu.usage.report import parse_day, priced_requests

    start = parse_day(since).strftime("%s") if since else None
    requests, refreshed = priced_requests(_tools(tool), float(start) if start else None)
    for problem in refreshed.problems:
        warn(escape(problem))
    now = time.time()
    windows = [w for w in blocks(requests, now) if w.active or not active]
    if as_json:
        print_json({"blocks": [w.to_json(now) for w in windows]})
        return
    if not windows:
        info("No five-hour window is open." if active else "No requests in the assistants' logs.")
        return
    rows = []
    for window in windows:
        tokens_a_minute, usd_an_hour = window.burn(now)
        projected_tokens, projected_cost = window.projected(now)
        rows.append(
            [
                _window(window.start, window.end) + (" (open)" if window.active else ""),
                f"{window.requests:,}",
                f"{window.tokens:,}",
                f"{window.cost:.2f}" + (" + unpriced" if window.unpriced_requests else ""),
                f"{usd_an_hour:.2f}/h, {tokens_a_minute:,.0f} tok/min" if window.active else "",
                f"{projected_cost:.2f} ({projected_tokens:,} tokens)" if window.active else "",
            ]
        )
    table(None, ["Window", "Requests", "Tokens", "Cost (USD)", "Burn rate", "At its end"], rows)


def _window(start: float, end: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(start)) + time.strftime(
        "–%H:%M", time.localtime(end)
    )


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


def _show(
    period: Period,
    by: str | None,
    tool: list[str],
    since: str | None,
    until: str | None,
    as_json: bool,
    unpriced: bool,
    verbose: bool,
    watch: bool = False,
) -> None:
    if watch:
        if as_json:
            raise InvalidInputError("--watch shows a table", hint="Drop --json, or --watch.")
        _watch(lambda: _show(period, by, tool, since, until, False, unpriced, verbose))
        return
    from mahavishnu.usage.report import parse_day, report

    built = report(
        period,
        _by(by),
        _tools(tool),
        parse_day(since) if since else None,
        parse_day(until) if until else None,
        verbose=verbose,
    )
    for problem in built.problems:
        warn(escape(problem))
    for file, line, why in built.bad_lines:
        warn(escape(f"skipped {file}:{line}: {why}"))
    if unpriced:
        _print_unpriced(built, as_json)
        return
    if as_json:
        print_json(built.to_json())
        return
    _print(built)


def _watch(show: Callable[[], None], every: float = 5.0) -> None:
    """``show`` again every ``every`` seconds on a cleared screen, until Ctrl-C."""
    import time

    from mahavishnu.cli.output import console

    try:
        while True:
            if console.is_terminal:
                console.rich.clear()  # in place: the cursor home, the screen cleared
            show()
            info(time.strftime("Updated %H:%M:%S; Ctrl-C stops."))
            time.sleep(every)
    except KeyboardInterrupt:
        return


def _by(value: str | None) -> By | None:
    from mahavishnu.usage.report import BYS

    if value is None:
        return None
    for by in BYS:
        if value == by:
            return by
    raise InvalidInputError(f"cannot split by {value!r}", hint=f"Use one of: {', '.join(BYS)}.")


def _tools(values: list[str]) -> list[Tool]:
    from mahavishnu.usage.records import TOOLS

    wanted: list[Tool] = []
    for value in values:
        for part in value.split(","):
            if part == "all":
                wanted += TOOLS
                continue
            known = [tool for tool in TOOLS if tool == part]
            if not known:
                hint = f"Use {listed('all')}."
                raise InvalidInputError(f"unknown assistant {part!r}", hint=hint)
            wanted += known
    return [tool for tool in TOOLS if tool in wanted]


def _print(built: Report) -> None:
    if not built.lines:
        info("No requests in the assistants' logs for this period.")
        return
    heading = {"daily": "Day", "monthly": "Month", "sessions": "Session"}[built.period]
    columns = [
        heading,
        *([built.by.capitalize()] if built.by else []),
        "Input",
        "Output",
        "Cache write",
        "Cache read",
        "Total",
        "Cost (USD)",
    ]
    memory = built.totals.recalls > 0  # a column only when recall added anything
    if memory:
        columns.append("Memory (tokens, USD)")
    rows = [
        [
            line.period,
            *([line.group] if built.by else []),
            *_figures(line),
            *([_memory(line)] if memory else []),
        ]
        for line in built.lines
    ]
    rows.append(
        [
            "Total",
            *([""] if built.by else []),
            *_figures(built.totals),
            *([_memory(built.totals)] if memory else []),
        ]
    )
    table(None, columns, rows)
    if memory:
        info(
            "Memory: the tokens recall added to the sessions, at their requests' input rate "
            "(already part of the input above, not added again)."
        )
    if "list" in built.totals.price_kinds:
        info(
            "(list): a gateway's requests at their model's list price; set the gateway's own "
            "rates under pricing: in usage.yaml."
        )
    if built.unpriced_models:
        warn(escape(f"unpriced (no price known, not guessed): {', '.join(built.unpriced_models)}"))
    if built.skipped_lines:
        warn(
            f"{built.skipped_lines} damaged, hostile or oversized log lines were skipped"
            + ("" if built.bad_lines else " (--verbose lists them)")
        )


def _print_unpriced(built: Report, as_json: bool) -> None:
    rows = [
        {"model": name, "requests": requests, "tokens": tokens}
        for name, (requests, tokens) in built.unpriced_counts.items()
    ]
    if as_json:
        print_json({"unpriced": rows})
    elif not rows:
        info("Every request of this period is priced.")
    else:
        table(
            None,
            ["Provider/model", "Requests", "Tokens"],
            [[r["model"], r["requests"], r["tokens"]] for r in rows],
        )
        info("Price them under pricing: in usage.yaml (USD per million tokens; 0 for a subscription).")


def _figures(line: Line) -> list[str]:
    cost = f"{line.cost:.2f}" if line.requests > line.unpriced_requests else "unpriced"
    if "list" in line.price_kinds:
        cost += " (list)"
    if line.unpriced_requests and line.requests > line.unpriced_requests:
        cost += " + unpriced"
    return [f"{n:,}" for n in (line.input, line.output, line.cache_write, line.cache_read, line.total)] + [
        cost
    ]


def _memory(line: Line) -> str:
    """What recall added to the line's sessions: tokens, and their cost or "unpriced"."""
    if not line.recalls:
        return ""
    priced = line.memory_tokens > line.memory_unpriced_tokens
    cost = f"{line.memory_cost:.4f}" if priced else "unpriced"
    if priced and line.memory_unpriced_tokens:
        cost += " + unpriced"
    return f"{line.memory_tokens:,} ({cost})"
