"""Daily, monthly and per-session totals of tokens and cost, grouped by assistant, provider,
model, project or source (the user's session or a helper the assistant ran for itself).

What the memory loop itself costs is shown apart: the tokens the recall hooks added to each session
(``memory/loop/recall_log``), priced at the input rate of the session's requests (its provider and
model; unpriced when the session's requests are not in the logs or nobody prices them). Those
tokens are already part of the requests' input (the assistant sent them on): they are never added
to the totals again. With ``--by source`` they are the ``memory`` group.

``collect`` brings the ledger up to date with the logs and returns the requests of a time range,
each once; ``build`` attributes and prices them and adds them up. Days and months are the local
calendar's (as ccusage counts them), or a named time zone's (``--timezone``, ccusage's ``-z``)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time as clock
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, available_timezones

import orjson

from mahavishnu import collector, telemetry
from mahavishnu.errors import InvalidInputError, MahavishnuError
from mahavishnu.json_types import JSONObject, JSONValue
from mahavishnu.memory.loop.recall_log import Recalled, session_digest
from mahavishnu.usage import ledger, metrics
from mahavishnu.usage.pricing import PICO, Pricing, Rates
from mahavishnu.usage.readers import READERS
from mahavishnu.usage.records import FAST, FAST_SUFFIX, MAIN, TOOLS, Provider, Tool, UsageRecord

if TYPE_CHECKING:
    from mahavishnu.usage.attribution import Attribution

Period = Literal["daily", "monthly", "sessions"]
By = Literal["assistant", "provider", "model", "project", "source"]
PERIODS: tuple[Period, ...] = ("daily", "monthly", "sessions")
BYS: tuple[By, ...] = ("assistant", "provider", "model", "project", "source")
#: The ``--by source`` group of the tokens recall added (``main`` and ``helper`` are requests').
MEMORY = "memory"
ASSISTANTS: dict[str, str] = {
    "claude": "claude-code",
    "codex": "codex",
    "qwen": "qwen-code",
    "gemini": "gemini-cli",
    "pi": "pi",
    "opencode": "opencode",
}


@dataclass
class Line:
    """One row: a period (a day, a month, a session) and a group (the ``--by`` value, or "")."""

    period: str
    group: str
    input: int = 0
    output: int = 0
    cache_write: int = 0
    cache_read: int = 0
    #: the cost of the priced requests in picodollars (``Rates.units``: exact, in any order)
    units: int = 0
    requests: int = 0
    unpriced_requests: int = 0
    unpriced_tokens: int = 0
    #: where the prices of the priced requests come from (``Rates.kind``: own, provider, list)
    price_kinds: set[str] = field(default_factory=set)
    models: set[str] = field(default_factory=set)
    assistants: set[str] = field(default_factory=set)
    projects: set[str] = field(default_factory=set)
    first: float = 0.0
    last: float = 0.0
    #: what recall added to the sessions (already in the input above, never added to it again)
    recalls: int = 0
    memory_tokens: int = 0
    memory_cost: float = 0.0
    memory_unpriced_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_write + self.cache_read

    @property
    def cost(self) -> float:
        """USD, of the priced requests."""
        return self.units / PICO

    @property
    def price_source(self) -> str | None:
        """Where the line's prices come from: ``own``, ``provider`` or ``list`` (a gateway's
        requests at their model's list price), ``mixed`` for several, None when nothing is priced."""
        if not self.price_kinds:
            return None
        return next(iter(self.price_kinds)) if len(self.price_kinds) == 1 else "mixed"

    def add_recall(self, recalled: Recalled, cost: float | None) -> None:
        """Adds one recall's tokens, at the session's input rate (None: unpriced)."""
        self.recalls += 1
        self.memory_tokens += recalled.tokens
        if cost is None:
            self.memory_unpriced_tokens += recalled.tokens
        else:
            self.memory_cost += cost
        self.assistants.add(ASSISTANTS.get(recalled.tool, recalled.tool))
        if recalled.project:
            self.projects.add(recalled.project)
        self.first = min(self.first, recalled.at) if self.first else recalled.at
        self.last = max(self.last, recalled.at)

    def add_sum(self, tool: Tool, model: str, project: str | None, part: _Sum) -> None:
        """Adds the requests of one assistant, model and project that ``build`` summed up."""
        self.input += part.input
        self.output += part.output
        self.cache_write += part.cache_write
        self.cache_read += part.cache_read
        self.units += part.units
        self.requests += part.requests
        self.unpriced_requests += part.unpriced_requests
        self.unpriced_tokens += part.unpriced_tokens
        self.price_kinds |= part.kinds
        self.models.add(model)
        self.assistants.add(ASSISTANTS[tool])
        if project:
            self.projects.add(project)
        self.first = min(self.first, part.first) if self.first else part.first
        self.last = max(self.last, part.last)

    def to_json(self) -> JSONObject:
        return {
            "input_tokens": self.input,
            "output_tokens": self.output,
            "cache_write_tokens": self.cache_write,
            "cache_read_tokens": self.cache_read,
            "total_tokens": self.total,
            "cost_usd": round(self.cost, 6),
            "price_source": self.price_source,
            "requests": self.requests,
            "unpriced_requests": self.unpriced_requests,
            "unpriced_tokens": self.unpriced_tokens,
            "models": list[JSONValue](sorted(self.models)),
            "memory_tokens": self.memory_tokens,
            "memory_cost_usd": round(self.memory_cost, 6),
            "memory_unpriced_tokens": self.memory_unpriced_tokens,
            "recalls": self.recalls,
        }


@dataclass
class Report:
    period: Period
    by: By | None
    lines: list[Line]
    totals: Line
    unpriced_models: list[str]
    skipped_lines: int = 0
    #: each unpriced provider/model: its requests and tokens (``usage --unpriced``)
    unpriced_counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: the skipped lines kept (file, line number, why), when asked for (``usage --verbose``)
    bad_lines: list[tuple[str, int, str]] = field(default_factory=list)
    #: the time zone of its days, months and times (None: the local one)
    zone: tzinfo | None = None

    def to_json(self) -> JSONObject:
        rows: list[JSONObject] = []
        for line in self.lines:
            row: JSONObject = {_PERIOD_KEY[self.period]: line.period}
            if self.by is not None:
                row[self.by] = line.group
            if self.period == "sessions":
                row["assistants"] = list[JSONValue](sorted(line.assistants))
                row["projects"] = list[JSONValue](sorted(line.projects))
                row["first"] = _iso(line.first, self.zone)
                row["last"] = _iso(line.last, self.zone)
            rows.append({**row, **line.to_json()})
        listed: list[JSONValue] = list(rows)
        return {
            "period": self.period,
            "by": self.by,
            str(self.period): listed,
            "totals": self.totals.to_json(),
            "unpriced_models": list[JSONValue](self.unpriced_models),
            "unpriced": [
                {"model": name, "requests": requests, "tokens": tokens}
                for name, (requests, tokens) in self.unpriced_counts.items()
            ],
            "skipped_lines": self.skipped_lines,
            **(
                {"bad_lines": [{"file": f, "line": n, "reason": why} for f, n, why in self.bad_lines]}
                if self.bad_lines
                else {}
            ),
        }


_PERIOD_KEY = {"daily": "date", "monthly": "month", "sessions": "session"}


class _Sum:
    """What ``build`` adds up per period, group, assistant, model and project."""

    __slots__ = (
        "cache_read",
        "cache_write",
        "first",
        "input",
        "kinds",
        "last",
        "output",
        "requests",
        "units",
        "unpriced_requests",
        "unpriced_tokens",
    )

    def __init__(self, time: float) -> None:
        self.input = self.output = self.cache_write = self.cache_read = 0
        self.requests = self.unpriced_requests = self.unpriced_tokens = 0
        self.units = 0
        self.kinds: set[str] = set()
        self.first = self.last = time

    def dump(self) -> list[object]:
        # ``units`` as text: orjson stops at 2^64 picodollars, USD 18 million, which one request of
        # 10^12 tokens (a line may have) at Opus' rates passes; ``restore``'s ``int`` reads both forms
        return [
            self.input, self.output, self.cache_write, self.cache_read, self.requests,
            self.unpriced_requests, self.unpriced_tokens, str(self.units), sorted(self.kinds),
            self.first, self.last,
        ]  # fmt: skip

    @classmethod
    def restore(cls, value: list[Any]) -> _Sum:
        part = cls(float(value[9]))
        part.input, part.output, part.cache_write, part.cache_read = (int(n) for n in value[:4])
        part.requests, part.unpriced_requests, part.unpriced_tokens = (int(n) for n in value[4:7])
        part.units, part.kinds, part.last = int(value[7]), {str(k) for k in value[8]}, float(value[10])
        return part


_QUARTER = 900  # seconds: every time zone's offset and change is a multiple of a quarter hour


def build(
    records: Iterable[UsageRecord],
    attribution: Attribution,
    pricing: Pricing,
    period: Period,
    by: By | None,
    recalls: Iterable[Recalled] = (),
    zone: tzinfo | None = None,
) -> Report:
    """``records`` added up by the days or months of ``zone`` (None: the local ones); ``recalls``
    (what recall added to sessions, in the same range and assistants) shown apart as memory's figures."""
    recalled = [recall for recall in recalls if recall.tool in _TOOL_OF]
    requests: list[UsageRecord] = []
    if recalled:  # read again to find each recall's session
        records = requests = records if isinstance(records, list) else list(records)
    sums = Sums(period, by, zone)
    sums.add(records, attribution, pricing)
    lines, totals = sums.lines()
    if recalled:
        _add_recalls(recalled, requests, lines, totals, attribution, pricing, period, by, zone)
    return sums.report(lines, totals)


class Sums:
    """Requests summed per (period, group, assistant, model, project): a few thousand sums for a
    year of logs, one small update per request; then the sums into lines. They can be dumped and
    restored (the ledger keeps them) and added to (an append). Days and months are ``zone``'s
    (None: the local ones)."""

    def __init__(self, period: Period, by: By | None, zone: tzinfo | None = None) -> None:
        self.period, self.by, self.zone = period, by, zone
        self._sums: dict[tuple[str, str, Tool, str, str | None], _Sum] = {}
        self._unpriced: dict[str, list[int]] = {}  # provider/model: requests, tokens
        #: who served and at which rates, per ``_Where``: kept with the sums (an append's requests
        #: mostly fall on days and models seen, and need no price data loaded)
        self._known: dict[_Where, tuple[Provider, Rates | None]] = {}
        #: the local date of each quarter hour seen (one strftime per quarter, however often
        #: ``add`` is called: a first read calls it for each log)
        self._day_of: dict[int, str] = {}

    def add(self, records: Iterable[UsageRecord], attribution: Attribution, pricing: Pricing) -> None:
        period, by, sums, unpriced = self.period, self.by, self._sums, self._unpriced
        day_of, known, zone = self._day_of, self._known, self.zone
        era = attribution.era
        for record in records:  # (priced() inlined: this loop is most of a report's time)
            (tool, _, time, model, fresh, output, cache_write, cache_read,
             session, project, source, hour, via, speed) = record  # fmt: skip
            where = (tool, project, model, int(time // 86_400), era(tool, project, time), via, speed)
            found = known.get(where)
            if found is None:
                found = known[where] = _served(tool, time, project, model, via, speed, attribution, pricing)
            provider, rates = found
            if rates is not None and rates.hourly:  # (off-peak hours: its own time's rates)
                rates = pricing.rates(provider, model, time, speed)
            if period == "sessions":
                when = session
            else:
                quarter = int(time // _QUARTER)
                day = day_of.get(quarter)
                if day is None:
                    day = day_of[quarter] = _day(time, zone)
                when = day if period == "daily" else day[:7]
            group = "" if by is None else _group(by, tool, provider.name, model, project, source)
            key = (when, group, tool, model, project)
            part = sums.get(key)
            if part is None:
                part = sums[key] = _Sum(time)
            part.input += fresh
            part.output += output
            part.cache_write += cache_write
            part.cache_read += cache_read
            part.requests += 1
            if rates is None:
                tokens = fresh + output + cache_write + cache_read
                counts = unpriced.setdefault(f"{provider.name}/{model}", [0, 0])
                counts[0] += 1
                counts[1] += tokens
                part.unpriced_requests += 1
                part.unpriced_tokens += tokens
            else:
                part.units += rates.units(fresh, output, cache_write, cache_read, hour)
                part.kinds.add(rates.kind)
            if time < part.first:
                part.first = time
            elif time > part.last:
                part.last = time

    def lines(self) -> tuple[dict[tuple[str, str], Line], Line]:
        """The lines by (period, group), and the totals."""
        lines: dict[tuple[str, str], Line] = {}
        totals = Line("total", "")
        for (when, group, tool, model, project), part in self._sums.items():
            line = lines.get((when, group))
            if line is None:
                line = lines[(when, group)] = Line(when, group)
            line.add_sum(tool, model, project, part)
            totals.add_sum(tool, model, project, part)
        return lines, totals

    def report(self, lines: dict[tuple[str, str], Line], totals: Line) -> Report:
        ordered = sorted(
            lines.values(),
            key=(lambda x: (x.first, x.group))
            if self.period == "sessions"
            else (lambda x: (x.period, x.group)),
        )
        listed = {name: (counts[0], counts[1]) for name, counts in sorted(self._unpriced.items())}
        return Report(
            self.period, self.by, ordered, totals, list(listed), unpriced_counts=listed, zone=self.zone
        )

    def dump(self) -> bytes:
        providers: dict[Provider, int] = {}  # each once: a few, for thousands of ``_Where``s
        rates: dict[Rates | None, int] = {None: -1}
        known = [
            [list(where), providers.setdefault(who, len(providers)), rates.setdefault(at, len(rates) - 1)]
            for where, (who, at) in self._known.items()
        ]
        return orjson.dumps(
            {
                "sums": [[list(key), part.dump()] for key, part in self._sums.items()],
                "unpriced": self._unpriced,
                "providers": [[p.name, p.profile, p.base_url, p.price_id, p.gateway] for p in providers],
                "rates": [at.dump() for at in rates if at is not None],
                "known": known,
            }
        )

    @classmethod
    def restore(cls, period: Period, by: By | None, zone: tzinfo | None, data: bytes) -> Sums:
        """The sums ``dump`` gave (ValueError, KeyError or TypeError when ``data`` is not that)."""
        value = orjson.loads(data)
        sums = cls(period, by, zone)
        for key, part in value["sums"]:
            when, group, tool, model, project = key
            sums._sums[(when, group, tool, model, project)] = _Sum.restore(part)
        sums._unpriced = {name: [int(n) for n in counts] for name, counts in value["unpriced"].items()}
        providers = [Provider(*fields) for fields in value["providers"]]
        rates = [Rates.restore(fields) for fields in value["rates"]]
        for where, who, at in value["known"]:
            tool, project, model, day, era, via, speed = where
            seen: _Where = (tool, project, model, day, (era[0], era[1], era[2]), via, speed)
            sums._known[seen] = (providers[who], None if at < 0 else rates[at])
        return sums


#: What decides who served a request and at which rates: the assistant, project, model, UTC day,
#: how many switches came before (``Attribution.era``), the provider the log names and the speed.
_Where = tuple[str, str | None, str, int, tuple[int, int, bool], str, str]


def priced(
    records: Iterable[UsageRecord], attribution: Attribution, pricing: Pricing
) -> Iterator[tuple[UsageRecord, Provider, float | None]]:
    """Each record with the provider that served it and its cost (None: unpriced)."""
    known: dict[_Where, tuple[Provider, Rates | None]] = {}  # looked up once each
    era = attribution.era
    for record in records:
        tool, _, time, model, fresh, output, cache_write, cache_read, _, project, _, hour, via, speed = record
        where = (tool, project, model, int(time // 86_400), era(tool, project, time), via, speed)
        found = known.get(where)
        if found is None:
            found = known[where] = _served(tool, time, project, model, via, speed, attribution, pricing)
        provider, rates = found
        if rates is not None and rates.hourly:
            rates = pricing.rates(provider, model, time, speed)
        yield (
            record,
            provider,
            None if rates is None else rates.cost(fresh, output, cache_write, cache_read, hour),
        )


def _served(
    tool: Tool,
    time: float,
    project: str | None,
    model: str,
    via: str,
    speed: str,
    attribution: Attribution,
    pricing: Pricing,
) -> tuple[Provider, Rates | None]:
    """Who served a request and at which rates (a fast-mode request at its model's fast ones)."""
    served = model.removesuffix(FAST_SUFFIX) if speed == FAST else model
    provider = attribution.provider(tool, time, project, served, via)
    return provider, pricing.rates(provider, model, time, speed)


def _add_recalls(
    recalled: list[Recalled],
    requests: list[UsageRecord],
    lines: dict[tuple[str, str], Line],
    totals: Line,
    attribution: Attribution,
    pricing: Pricing,
    period: Period,
    by: By | None,
    zone: tzinfo | None = None,
) -> None:
    """Each recall into its line: its day (or month, or session) and group, priced at the input
    rate of the request that carried it."""
    sessions = _Sessions(requests, recalled)
    for recall in recalled:
        tool = _TOOL_OF[recall.tool]
        request = sessions.request_of(recall)
        cost: float | None = None
        if request is None:  # the session's requests are not in the logs read: unpriced
            provider = attribution.provider(tool, recall.at, recall.project, "")
            model, project, session = "-", recall.project, recall.session or "-"
        else:
            provider, rates = _served(
                request.tool, request.time, request.project, request.model, request.via, request.speed,
                attribution, pricing,
            )  # (Pricing remembers rates)  # fmt: skip
            cost = None if rates is None else rates.cost(recall.tokens, 0, 0, 0)
            model, project, session = request.model, request.project, request.session
        if period == "sessions":
            when = session
        else:
            day = _day(recall.at, zone)
            when = day if period == "daily" else day[:7]
        group = "" if by is None else _group(by, tool, provider.name, model, project, MEMORY)
        line = lines.get((when, group))
        if line is None:
            line = lines[(when, group)] = Line(when, group)
        line.add_recall(recall, cost)
        totals.add_recall(recall, cost)


_TOOL_OF: dict[str, Tool] = {tool: tool for tool in TOOLS}


class _Sessions:
    """The requests of the sessions recalls were made in, found by the session's digest (the recall
    log names a session by it, never by its id)."""

    def __init__(self, records: list[UsageRecord], recalls: list[Recalled]) -> None:
        wanted = {recall.session for recall in recalls if recall.session}
        digests: dict[tuple[str, str], str] = {}
        self._requests: dict[str, list[UsageRecord]] = {}
        for record in records:
            named = (record.tool, record.session)
            digest = digests.get(named)
            if digest is None:
                digest = digests[named] = session_digest(*named)
            if digest in wanted:
                self._requests.setdefault(digest, []).append(record)
        self._times: dict[str, list[float]] = {}
        for digest, requests in self._requests.items():
            own = [r for r in requests if r.source == MAIN] or requests  # the session's, not a helper's
            self._requests[digest] = own
            self._times[digest] = [r.time for r in own]

    def request_of(self, recall: Recalled) -> UsageRecord | None:
        """The request that carried what ``recall`` added: the session's first at or after it, else
        its last (records are oldest first); None when the session made none in the logs read."""
        requests = self._requests.get(recall.session or "")
        if not requests:
            return None
        index = bisect_left(self._times[recall.session or ""], recall.at)
        return requests[min(index, len(requests) - 1)]


def _group(by: By, tool: Tool, provider: str, model: str, project: str | None, source: str) -> str:
    """The ``--by`` group of a request (or of a recall: its ``source`` is ``memory``)."""
    if by == "assistant":
        return ASSISTANTS[tool]
    if by == "provider":
        return provider
    if by == "model":
        return model
    if by == "project":
        return project or "-"
    return source


def collect(
    tools: Iterable[Tool], since: float | None, until: float | None
) -> tuple[list[UsageRecord], ledger.Refresh, int]:
    """The requests of ``tools`` in ``[since, until)``, each once, after reading what the logs
    gained since the last report; what the refresh did; the damaged lines of all logs read."""
    wanted = list(tools)
    with ledger.opened() as db:
        refreshed = _refreshed(db, wanted)
        return ledger.records(db, wanted, since, until), refreshed, ledger.skipped_lines(db)


def _refreshed(
    db: sqlite3.Connection,
    tools: list[Tool],
    meanwhile: Callable[[], object] | None = None,
    fold: ledger.Fold | None = None,
) -> ledger.Refresh:
    """The ledger brought up to date with the logs of ``tools`` (``meanwhile``, ``fold``: see
    ``ledger.refresh``)."""
    from mahavishnu.memory.loop.session_logs import check_tool, find_sessions

    logs: dict[Tool, list[Path]] = {}
    problems: list[str] = []
    for tool in tools:
        find = READERS[tool].find
        try:
            logs[tool] = find() if find is not None else find_sessions(check_tool(tool))
        except MahavishnuError as error:  # its folder leads out of HOME: one line, the rest reported
            problems.append(error.message)
            logs[tool] = []  # and what an earlier read kept of it is not shown as if read now
    refreshed = ledger.refresh(db, logs, meanwhile, fold)
    refreshed.problems[:0] = problems
    return refreshed


def _pricing() -> tuple[Attribution, Pricing]:
    """This machine's switch history and the prices (``usage.yaml``, profiles' ``pricing:`` and
    ``genai-prices``)."""
    from mahavishnu.usage import settings
    from mahavishnu.usage.attribution import from_history

    return from_history(), Pricing(settings.own_prices(settings.load()))


def report(
    period: Period,
    by: By | None,
    tools: Iterable[Tool],
    since: date | None = None,
    until: date | None = None,
    *,
    verbose: bool = False,
    zone: tzinfo | None = None,
) -> Report:
    """The whole report, for the CLI: logs read, attributed with this machine's switch history,
    priced with ``usage.yaml`` and ``genai-prices`` (both made ready while other processes read
    logs: a broken ``usage.yaml`` then stops the report with nothing stored). A first read adds
    its rows up as it stores them. A ledger found damaged while read is made again from the logs.
    Days (``since`` and ``until`` too) and months are ``zone``'s (None: the local ones)."""
    return _again_if_damaged(lambda: _report(period, by, list(tools), since, until, verbose, zone))


_Made = TypeVar("_Made")


def _again_if_damaged(make: Callable[[], _Made]) -> _Made:
    """``make()``, and once more when the ledger turned out damaged (``ledger.Damaged``: it is gone
    then, and ``make`` reads every log again)."""
    try:
        return make()
    except ledger.Damaged:
        return make()


def _report(
    period: Period,
    by: By | None,
    wanted: list[Tool],
    since: date | None,
    until: date | None,
    verbose: bool,
    zone: tzinfo | None,
) -> Report:
    start, end = _start(since, zone), _start(until + timedelta(days=1), zone) if until else None
    ready: list[tuple[Attribution, Pricing]] = []

    def prices() -> tuple[Attribution, Pricing]:
        if not ready:
            ready.append(_pricing())
        return ready[0]

    recalled, damaged = recalls(wanted, start, end)
    every = bool(recalled) or telemetry.enabled()  # they need every request: nothing kept
    with collector.paused(), ledger.opened() as db:
        folding = None if every else _Folding(Sums(period, by, zone), wanted, start, end, prices)
        refreshed = _refreshed(db, wanted, lambda: prices()[1].load(), folding)
        attribution, pricing = prices()
        if every:
            records = ledger.records(db, wanted, start, end)
            built = build(records, attribution, pricing, period, by, recalled, zone)
            metrics.record(priced(records, attribution, pricing), since, until)
        else:
            assert folding is not None
            folded = folding.sums if refreshed.whole else None
            sums = _kept_sums(
                db, wanted, start, end, attribution, pricing, period, by, zone, folded, refreshed.top
            )
            built = sums.report(*sums.lines())
        built.skipped_lines = ledger.skipped_lines(db) + len(damaged)
        built.problems = refreshed.problems
        if verbose:
            built.bad_lines = ledger.bad_lines(db, wanted)
            built.bad_lines += [(path, number, "not a recall the hook wrote") for path, number in damaged]
    return built


class _Folding:
    """A first read's rows added up as the ledger stores them (``ledger.refresh``'s ``fold``), those
    of ``tools`` in ``[since, until)``: each request once, the first of its rows (as ``ledger.records``
    gives them, oldest first). ``sums`` becomes None when a request's row comes after one of it
    with a later time or less output (the earlier one counts, with the most output: then all is
    added up again from the ledger)."""

    def __init__(
        self,
        sums: Sums,
        tools: list[Tool],
        since: float | None,
        until: float | None,
        prices: Callable[[], tuple[Attribution, Pricing]],
    ) -> None:
        self.sums: Sums | None = sums
        self._tools = set(tools)
        self._low, self._high = ledger.window(since, until)
        self._prices = prices
        self._first: dict[str, tuple[float, int]] = {}  # each request's key: its first row

    def __call__(self, rows: list[tuple[Any, ...]]) -> None:
        """The records of one read (one log's: one assistant's, each request once) added up."""
        if self.sums is None or not rows or rows[0][0] not in self._tools:
            return
        low, high, first = self._low, self._high, self._first
        if high < float("inf"):
            rows = [row for row in rows if row[2] < high]  # (tool, key, time, ...)
        # (a row before ``low`` is not counted, but is its request's first: a later row is not counted)
        keys = [row[1] for row in rows]
        before = len(first)
        if first.keys().isdisjoint(keys):  # none counted before (most reads): in one go
            first.update(zip(keys, [(row[2], row[5]) for row in rows], strict=True))
            counted = rows
            if len(first) - before != len(keys):  # a streamed reply's lines in two blocks of one read
                self.sums = None
                return
        else:
            counted = []
            for row in rows:
                seen = first.get(row[1])
                if seen is None:
                    first[row[1]] = (row[2], row[5])
                    counted.append(row)
                elif _counts_instead(seen, row[2], row[5]):
                    self.sums = None
                    return
        if low > float("-inf"):
            counted = [row for row in counted if row[2] >= low]
        self.sums.add(counted, *self._prices())  # type: ignore[arg-type]


#: Bumped when what ``Sums`` adds up or dumps changes: sums kept before are then not used.
#: 16: a Codex request priced at its service tier's rates (readers.codex); 15: Opus 4.6's and
#: 4.7's fast mode priced (pricing._FAST_TIMES); 14: a Qwen Code reply's tool-use prompt tokens
#: (readers.qwen); 13: a streamed reply's tokens are its most-output line's (records.snapshot); 12:
#: a model id led by its owner (pricing._by_prefix); 11: a Bedrock model id is Bedrock's
#: (pricing._owner); 10: a row before --since (ledger.records)
SUMS_VERSION = 16


def _kept_sums(
    db: sqlite3.Connection,
    tools: list[Tool],
    since: float | None,
    until: float | None,
    attribution: Attribution,
    pricing: Pricing,
    period: Period,
    by: By | None,
    zone: tzinfo | None = None,
    folded: Sums | None = None,
    folded_upto: int = 0,
) -> Sums:
    """The report's sums: those the ledger kept for the same query and signature plus the records
    added since (an append), else all records added up again (``folded``: by a first read, as it
    stored them, the reads up to ``folded_upto``: not used when another report stored more since);
    kept for the next report."""
    query = orjson.dumps(
        [period, by, sorted(tools), since, until, None if zone is None else str(zone)]
    ).decode()
    signature = hashlib.sha256(
        repr(
            (SUMS_VERSION, attribution.signature(), pricing.signature(), os.environ.get("TZ"),
             clock.tzname, clock.timezone, clock.altzone)
        ).encode()
    ).hexdigest()  # fmt: skip
    with ledger.locked(db):
        top = ledger.last_row(db)
        kept = ledger.kept_sums(db, query)
        usable = kept if kept is not None and kept.signature == signature else None
        sums = _added_since(db, usable, tools, since, until, attribution, pricing, period, by, zone)
        if sums is None:
            if folded is None or folded_upto != top:
                folded = Sums(period, by, zone)
                folded.add(ledger.records(db, tools, since, until), attribution, pricing)
            sums = folded
        if kept is None or kept.upto != top or kept.signature != signature:
            ledger.keep_sums(db, query, ledger.Kept(signature, top, sums.dump()))
    return sums


def _added_since(
    db: sqlite3.Connection,
    kept: ledger.Kept | None,
    tools: list[Tool],
    since: float | None,
    until: float | None,
    attribution: Attribution,
    pricing: Pricing,
    period: Period,
    by: By | None,
    zone: tzinfo | None,
) -> Sums | None:
    """``kept`` plus the records above the row it counted up to; None when it cannot be: none
    kept, or a new row is a request already counted at a later time (then it counts instead) or
    with less output (a streamed reply's later line)."""
    if kept is None:
        return None
    try:
        sums = Sums.restore(period, by, zone, kept.data)
    except (ValueError, KeyError, TypeError):  # a damaged cache: added up again
        return None
    new = ledger.records(db, tools, since, until, after=kept.upto)
    if new:
        counted = ledger.first_times(db, tools, since, until, kept.upto, [r.key for r in new])
        if any(_counts_instead(counted[r.key], r.time, r.output) for r in new if r.key in counted):
            return None  # counted at a later time, or with less of a streamed reply's output
        sums.add((r for r in new if r.key not in counted), attribution, pricing)
    return sums


def _counts_instead(counted: tuple[float, int], time: float, output: int) -> bool:
    """Whether a request's new record (its ``time`` and ``output``) changes what was counted of it
    (``counted``: the time and output of the one counted): it is earlier, or reports more of a
    streamed reply's output."""
    return counted[0] > time or output > counted[1]


def priced_requests(
    tools: Iterable[Tool], since: float | None = None
) -> tuple[list[tuple[UsageRecord, float | None]], ledger.Refresh]:
    """Every request of ``tools`` since ``since`` (seconds), oldest first, with its cost (None:
    unpriced): what ``usage blocks`` and the status line add up."""
    wanted = list(tools)
    with collector.paused():
        records, refreshed, _ = _again_if_damaged(lambda: collect(wanted, since, None))
        attribution, pricing = _pricing()
        return [(record, cost) for record, _, cost in priced(records, attribution, pricing)], refreshed


def recalls(
    tools: Iterable[Tool], since: float | None, until: float | None
) -> tuple[list[Recalled], list[tuple[str, int]]]:
    """What the recall hooks of ``tools`` added in ``[since, until)`` (``memory/loop/recall_log``),
    and the log's damaged lines (file, line number), skipped."""
    from mahavishnu.memory.loop import recall_log

    wanted = {tool for tool in tools if tool in TOOLS}
    logged, damaged = recall_log.every()
    return [
        entry
        for entry in logged
        if entry.tool in wanted
        and entry.tokens > 0
        and (since is None or entry.at >= since)
        and (until is None or entry.at < until)
    ], damaged


def _start(day: date | None, zone: tzinfo | None = None) -> float | None:
    """The first second of ``day`` in ``zone`` (None: local time)."""
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


#: The days a report can count from or to: it reads a day from its local midnight as seconds since
#: 1970, and the day after the last (``date.max`` has none).
FIRST_DAY, LAST_DAY = date(1971, 1, 1), date(9999, 12, 30)


def parse_day(value: str) -> date:
    """``2026-01-31`` or ``20260131`` (as ccusage takes it), from ``FIRST_DAY`` to ``LAST_DAY``."""
    for form in ("%Y-%m-%d", "%Y%m%d"):
        try:
            day = datetime.strptime(value, form).date()
        except ValueError:
            continue
        if not FIRST_DAY <= day <= LAST_DAY:
            raise InvalidInputError(f"{value} is out of range", hint=f"A day from {FIRST_DAY} to {LAST_DAY}.")
        return day
    raise InvalidInputError(f"not a date: {value!r}", hint="Write it as YYYY-MM-DD (or YYYYMMDD).")


def day_start(day: date, zone: tzinfo | None = None) -> float:
    """The Unix time of ``day``'s midnight in ``zone`` (None: the local one, a report's day)."""
    if zone is None:
        return clock.mktime(day.timetuple())
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


def _day(moment: float, zone: tzinfo | None) -> str:
    """The day (``YYYY-MM-DD``) of ``moment`` in ``zone`` (None: local time)."""
    if zone is None:
        return clock.strftime("%Y-%m-%d", clock.localtime(moment))
    return datetime.fromtimestamp(moment, zone).strftime("%Y-%m-%d")


def _iso(moment: float, zone: tzinfo | None = None) -> str:
    return datetime.fromtimestamp(moment, UTC).astimezone(zone).isoformat(timespec="seconds")


def parse_zone(name: str) -> tzinfo | None:
    """The IANA time zone ``name`` (``Asia/Tokyo``, ``UTC``; in any case, as ccusage takes it);
    ``local``: None, the system's (``TZ``)."""
    if name.lower() == "local":
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, KeyError):  # unknown, a folder ("Asia"), a path, not a zone file
        pass
    for known in available_timezones():  # (read only for a name not spelled as the file is)
        if known.lower() == name.lower():
            return ZoneInfo(known)
    raise InvalidInputError(
        f"unknown time zone {name!r}",
        hint="Use an IANA name such as UTC, Europe/Paris or Asia/Tokyo, or local.",
    )
