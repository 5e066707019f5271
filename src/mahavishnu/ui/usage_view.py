"""The usage page's numbers: ``mahavishnu usage``'s daily report (``usage/report``) stacked by
assistant, provider or model, in tokens or in USD, as an SVG chart drawn on the server (no script,
no chart library: labelled axes, their units, a legend), the day rows and a table per project.

What the memory loop's recall added to the sessions is shown apart: those tokens are already part
of the requests' input, so stacking them on the bars would count them twice."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

from mahavishnu.errors import InvalidInputError
from mahavishnu.usage.records import TOOLS
from mahavishnu.usage.report import FIRST_DAY, LAST_DAY, Line, report

Stack = Literal["assistant", "provider", "model"]
Metric = Literal["tokens", "cost"]
STACKS: tuple[Stack, ...] = ("assistant", "provider", "model")
METRICS: tuple[Metric, ...] = ("tokens", "cost")
#: The plot area inside the SVG's viewBox (0 0 WIDTH HEIGHT): room on the left for the y axis'
#: labels and title, below for the days and the x axis' title.
WIDTH, HEIGHT = 760, 270
LEFT, TOP, RIGHT, BOTTOM = 70, 12, 750, 220
#: Series colours (``ui.css`` ``.c0``…): more series than colours share them, the legend names each.
COLOURS = 8


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # "DAY SERIES: VALUE", its tooltip
    series: str
    css: str


@dataclass(frozen=True, slots=True)
class Tick:
    at: float  # x or y in the viewBox
    label: str


@dataclass(frozen=True, slots=True)
class DayRow:
    day: str
    group: str
    requests: int
    tokens: int
    cost: str  # "0.1234", "unpriced", "0.12 (list)"
    memory_tokens: int


@dataclass(frozen=True, slots=True)
class ProjectRow:
    project: str
    requests: int
    tokens: int
    cost: float


@dataclass(frozen=True, slots=True)
class UsageView:
    days: int
    until: str  # the window's last day
    stack: Stack
    metric: Metric
    unit: str  # the y axis' title
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    legend: list[tuple[str, str]]  # series, its css class
    rows: list[DayRow]
    projects: list[ProjectRow]
    recall_tokens: int  # of the requests' tokens
    recall_unlogged: int  # added to sessions whose requests are in no log (not of the total)
    total_tokens: int
    total_cost: float
    peak: float
    problems: list[str]
    skipped_lines: int  # damaged, hostile or oversized log lines (``usage --verbose`` lists them)


def last_day(text: str) -> dt.date | None:
    """The window's last day as the address gives it (``YYYY-MM-DD``), none for today."""
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"until: not a date {text!r}", hint="As YYYY-MM-DD.") from None
    return _in_range(day)


def _in_range(day: dt.date) -> dt.date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInputError(
            f"until: {day.isoformat()} is out of range", hint=f"A day from {FIRST_DAY} to {LAST_DAY}."
        )
    return day


def build(
    days: int, until: dt.date | None = None, stack: Stack = "assistant", metric: Metric = "tokens"
) -> UsageView:
    """The ``days`` days up to ``until`` (today by default), stacked by ``stack``, in ``metric``."""
    days = max(1, min(days, 366))
    until = _in_range(until or dt.date.today())
    since = until - dt.timedelta(days=days - 1)
    made = report("daily", stack, TOOLS, since=since, until=until)
    by_project = report("monthly", "project", TOOLS, since=since, until=until)
    values: dict[str, dict[str, float]] = defaultdict(dict)
    for line in made.lines:
        if line.requests:
            values[line.period][line.group] = line.total if metric == "tokens" else line.cost
    series = sorted({name for day in values.values() for name in day})
    css = {name: f"c{i % COLOURS}" for i, name in enumerate(series)}
    dates = [(since + dt.timedelta(days=i)).isoformat() for i in range(days)]
    peak = max((sum(day.values()) for day in values.values()), default=0.0)
    return UsageView(
        days=days,
        until=until.isoformat(),
        stack=stack,
        metric=metric,
        unit="tokens per day" if metric == "tokens" else "USD per day",
        bars=_bars(dates, values, peak, series, css, metric),
        y_ticks=_y_ticks(peak, metric),
        x_ticks=_x_ticks(dates),
        legend=[(name, css[name]) for name in series],
        rows=[_row(line) for line in made.lines],
        projects=_projects(by_project.lines),
        recall_tokens=sum(line.memory_tokens for line in made.lines if line.requests),
        recall_unlogged=sum(line.memory_tokens for line in made.lines if not line.requests),
        total_tokens=made.totals.total,
        total_cost=made.totals.cost,
        peak=peak,
        problems=made.problems,
        skipped_lines=made.skipped_lines,
    )


def _row(line: Line) -> DayRow:
    if not line.requests:  # recall added tokens to a session whose requests are not in the logs
        return DayRow(line.period, "memory loop (no request logged)", 0, 0, "-", line.memory_tokens)
    cost = f"{line.cost:.4f}" if line.requests > line.unpriced_requests else "unpriced"
    if line.unpriced_requests and line.requests > line.unpriced_requests:
        cost += " + unpriced"
    if "list" in line.price_kinds:
        cost += " (list)"
    return DayRow(line.period, line.group, line.requests, line.total, cost, line.memory_tokens)


def _projects(lines: list[Line]) -> list[ProjectRow]:
    """Each project's requests, tokens and cost over the window (the months' lines added up)."""
    sums: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for line in lines:
        if line.requests:
            found = sums[line.group]
            found[0] += line.requests
            found[1] += line.total
            found[2] += line.cost
    ordered = sorted(sums.items(), key=lambda item: -item[1][1])
    return [ProjectRow(name, int(r), int(t), c) for name, (r, t, c) in ordered]


def _bars(
    dates: list[str],
    values: dict[str, dict[str, float]],
    peak: float,
    series: list[str],
    css: dict[str, str],
    metric: Metric,
) -> list[Bar]:
    """Stacked bars, one per day, bottom-up in ``series`` order, the busiest day the plot's height."""
    if peak <= 0:
        return []
    step = (RIGHT - LEFT) / len(dates)
    bars: list[Bar] = []
    for i, day in enumerate(dates):
        bottom = float(BOTTOM)
        for name in series:
            value = values.get(day, {}).get(name, 0)
            if not value:
                continue
            height = max(1.0, (BOTTOM - TOP) * value / peak)
            bottom -= height
            shown = f"{int(value):,} tokens" if metric == "tokens" else f"${value:.4f}"
            bar = Bar(
                LEFT + i * step + 1,
                bottom,
                max(1.0, step - 2),
                height,
                f"{day} {name}: {shown}",
                name,
                css[name],
            )
            bars.append(bar)
    return bars


def _y_ticks(peak: float, metric: Metric) -> list[Tick]:
    """0, half the peak and the peak, at their heights, in the metric's unit."""
    if peak <= 0:
        return []
    return [Tick(BOTTOM - (BOTTOM - TOP) * share, _amount(peak * share, metric)) for share in (0.0, 0.5, 1.0)]


def _amount(value: float, metric: Metric) -> str:
    if metric == "cost":
        return f"${value:,.2f}"
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.1f}{suffix}"
    return f"{value:.0f}"


def _x_ticks(dates: list[str]) -> list[Tick]:
    """The first, middle and last day under their bars (one day: itself)."""
    step = (RIGHT - LEFT) / len(dates)
    picked = sorted({0, len(dates) // 2, len(dates) - 1})
    return [Tick(LEFT + (i + 0.5) * step, dates[i][5:]) for i in picked]
