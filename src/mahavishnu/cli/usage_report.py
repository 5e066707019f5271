"""The body of ``mahavishnu usage [daily|monthly|sessions]``: the report printed as a table or
JSON. Shared by the Typer command (``cli/usage.py``) and the fast path that parses a plainly spelled
command line without Typer (``cli/fast/usage.py``); imports neither Typer nor Rich (a table
imports Rich when it prints to a terminal)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mahavishnu.clean_text import one_line
from mahavishnu.cli.output import escape, info, print_json, table, warn
from mahavishnu.environments.assistants.registry import listed
from mahavishnu.errors import InvalidInputError
from mahavishnu.wording import count

if TYPE_CHECKING:
    from datetime import date

    from mahavishnu.usage.records import Tool
    from mahavishnu.usage.report import By, Line, Period, Report


def show(
    period: Period,
    by: str | None,
    tool: list[str] | None,
    since: str | None,
    until: str | None,
    as_json: bool,
    unpriced: bool,
    verbose: bool,
    watch: bool = False,
    timezone: str | None = None,
) -> None:
    if watch:
        if as_json:
            raise InvalidInputError("--watch shows a table", hint="Drop --json, or --watch.")
        _watch(lambda: show(period, by, tool, since, until, False, unpriced, verbose, timezone=timezone))
        return
    from mahavishnu.usage.report import parse_zone, report

    zone = parse_zone(timezone) if timezone is not None else None
    first, last = days(since, until)
    built = report(period, _by(by), tools(tool), first, last, verbose=verbose, zone=zone)
    for problem in built.problems:  # (a file's name may hold a line break or an escape: one line each)
        warn(escape(one_line(problem)))
    for file, line, why in built.bad_lines:
        warn(escape(one_line(f"skipped {file}:{line}: {why}")))
    if unpriced:
        _print_unpriced(built, as_json)
        return
    if as_json:
        print_json(built.to_json())
        return
    _print(built)


def days(since: str | None, until: str | None) -> tuple[date | None, date | None]:
    """The first and last day ``--since`` and ``--until`` name (None: not given)."""
    from mahavishnu.usage.report import parse_day

    first, last = parse_day(since) if since else None, parse_day(until) if until else None
    if first and last and first > last:  # (an empty report would say no request was made)
        raise InvalidInputError(
            f"--since {since} is after --until {until}", hint="Swap them: --since is the first day."
        )
    return first, last


def _watch(draw: Callable[[], None], every: float = 5.0) -> None:
    """``draw`` again every ``every`` seconds on a cleared screen, until Ctrl-C."""
    import time

    from mahavishnu.cli.output import console

    try:
        while True:
            if console.is_terminal:
                console.rich.clear()  # in place: the cursor home, the screen cleared
            draw()
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


def tools(values: list[str] | None) -> list[Tool]:
    """The assistants ``--tool`` names (comma-separated, repeated; none or ``all``: every one)."""
    from mahavishnu.usage.records import TOOLS

    wanted: list[Tool] = []
    for value in values or ["all"]:
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
            f"{count(built.skipped_lines, 'damaged, hostile or oversized log line')} "
            + ("was" if built.skipped_lines == 1 else "were")
            + " skipped"
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
            [[r["model"], f"{r['requests']:,}", f"{r['tokens']:,}"] for r in rows],
        )
        info("Price them under pricing: in usage.yaml (USD per million tokens; 0 for a subscription).")


def _figures(line: Line) -> list[str]:
    # A line of no request (`--by source`'s memory row) costs nothing: it is not unpriced.
    priced = line.requests > line.unpriced_requests or not line.requests
    cost = f"{line.cost:.2f}" if priced else "unpriced"
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
