"""Five-hour billing windows, as Anthropic's subscription limits count them (and ccusage's
``blocks``): a window opens at the hour of its first request (UTC, floored) and lasts five hours;
a request after it closes, or after five idle hours, opens the next. The window still open now is
``active``: its burn rate (over the minutes it has been in use) and what it comes to at its end at
that rate, once there is enough to measure a rate on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mahavishnu.json_types import JSONObject, JSONValue
from mahavishnu.usage.records import UsageRecord

#: A window's length, in seconds.
WINDOW = 5 * 3600
_HOUR = 3600
#: Seconds of use (since a window's first request) a burn rate needs, besides a second request: one
#: request, or a minute or two, says nothing of the next hours (one 26,600-token request in the
#: first minute would project 7.6M tokens). ccusage gives one request no rate either.
MEASURED = 5 * 60


@dataclass
class Block:
    start: float
    first: float
    last: float
    requests: int = 0
    tokens: int = 0
    cost: float = 0.0
    unpriced_requests: int = 0
    models: set[str] = field(default_factory=set)
    active: bool = False

    @property
    def end(self) -> float:
        return self.start + WINDOW

    def burn(self, now: float) -> tuple[float, float] | None:
        """Tokens a minute and USD an hour since the window's first request; None while there is
        too little to go on (one request, or under ``MEASURED`` seconds of use)."""
        seconds = (now if self.active else self.last) - self.first
        if self.requests < 2 or seconds < MEASURED:
            return None
        minutes = seconds / 60
        return self.tokens / minutes, self.cost / minutes * 60

    def projected(self, now: float) -> tuple[int, float] | None:
        """Tokens and USD at the window's end if the burn rate holds (an ended one: its totals);
        None while there is no burn rate."""
        if not self.active:
            return self.tokens, self.cost
        rate = self.burn(now)
        if rate is None:
            return None
        tokens_a_minute, usd_an_hour = rate
        left = max(0.0, self.end - now)
        return self.tokens + round(tokens_a_minute * left / 60), self.cost + usd_an_hour * left / 3600

    def to_json(self, now: float) -> JSONObject:
        rate, at_end = self.burn(now), self.projected(now)
        return {
            "start": self.start,
            "end": self.end,
            "first_request": self.first,
            "last_request": self.last,
            "active": self.active,
            "requests": self.requests,
            "total_tokens": self.tokens,
            "cost_usd": round(self.cost, 6),
            "unpriced_requests": self.unpriced_requests,
            "models": list[JSONValue](sorted(self.models)),
            "tokens_per_minute": None if rate is None else round(rate[0], 1),
            "usd_per_hour": None if rate is None else round(rate[1], 6),
            "projected_tokens": None if at_end is None else at_end[0],
            "projected_cost_usd": None if at_end is None else round(at_end[1], 6),
            "minutes_left": round(max(0.0, self.end - now) / 60) if self.active else 0,
        }


def blocks(priced: Iterable[tuple[UsageRecord, float | None]], now: float) -> list[Block]:
    """The windows of ``priced`` (requests oldest first, each with its cost or None), oldest first."""
    found: list[Block] = []
    current: Block | None = None
    for record, cost in priced:
        at = record.time
        if current is None or at >= current.end or at - current.last >= WINDOW:
            current = Block(start=at - at % _HOUR, first=at, last=at)
            found.append(current)
        current.last = max(current.last, at)
        current.requests += 1
        current.tokens += record.total
        current.models.add(record.model)
        if cost is None:
            current.unpriced_requests += 1
        else:
            current.cost += cost
    if current is not None:
        current.active = now < current.end and now - current.last < WINDOW
    return found
