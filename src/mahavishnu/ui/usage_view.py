"""The usage page's numbers: ``mahavishnu usage``'s daily report by assistant (``usage/report``) and
the memory loop's own tokens (what recall added, ``memory/loop/recall_log``), as bars for an SVG
chart drawn on the server (no script, no chart library) and rows for a table."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from mahavishnu.memory.loop import recall_log
from mahavishnu.usage.records import TOOLS
from mahavishnu.usage.report import ASSISTANTS, report

WIDTH, HEIGHT = 720, 200


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    css: str  # the series: an assistant, or "recall"


@dataclass(frozen=True, slots=True)
class DayRow:
    day: str
    assistant: str
    tokens: int
    cost: float
    requests: int


@dataclass(frozen=True, slots=True)
class UsageView:
    days: int
    until: str  # the window's last day
    bars: list[Bar]
    rows: list[DayRow]
    recall_tokens: dict[str, int]
    total_tokens: int
    total_cost: float
    peak: int
    problems: list[str]
    series: list[str]


def build(days: int, until: dt.date | None = None) -> UsageView:
    """The ``days`` days up to ``until`` (today by default)."""
    days = max(1, min(days, 366))
    until = until or dt.date.today()
    since = until - dt.timedelta(days=days - 1)
    made = report("daily", "assistant", TOOLS, since=since, until=until)
    rows = [DayRow(line.period, line.group, line.total, line.cost, line.requests) for line in made.lines]
    recall = _recall_tokens(since, until)
    by_day: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        by_day[row.day][row.assistant] = by_day[row.day].get(row.assistant, 0) + row.tokens
    for day, tokens in recall.items():
        by_day[day]["recall"] = tokens
    dates = [(since + dt.timedelta(days=i)).isoformat() for i in range(days)]
    peak = max((sum(v.values()) for v in by_day.values()), default=0)
    series = sorted({name for v in by_day.values() for name in v})
    return UsageView(
        days,
        until.isoformat(),
        _bars(dates, by_day, peak, series),
        rows,
        recall,
        made.totals.total,
        made.totals.cost,
        peak,
        made.problems,
        series,
    )


def _recall_tokens(since: dt.date, until: dt.date) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for entry in recall_log.read(100_000):
        day = dt.date.fromtimestamp(entry.at)
        if since <= day <= until:
            out[day.isoformat()] += entry.tokens
    return dict(out)


def _bars(dates: list[str], by_day: dict[str, dict[str, int]], peak: int, series: list[str]) -> list[Bar]:
    """Stacked bars, one per day, bottom-up in ``series`` order."""
    if peak <= 0:
        return []
    step = WIDTH / len(dates)
    bars: list[Bar] = []
    for i, day in enumerate(dates):
        bottom = float(HEIGHT)
        for name in series:
            tokens = by_day.get(day, {}).get(name, 0)
            if not tokens:
                continue
            height = max(1.0, HEIGHT * tokens / peak)
            bottom -= height
            css = name if name in ("recall", *_NAMES) else "other"
            bars.append(
                Bar(i * step + 1, bottom, max(1.0, step - 2), height, f"{day} {name}: {tokens:,}", css)
            )
    return bars


_NAMES = tuple(ASSISTANTS.values())
