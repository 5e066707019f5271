"""Five-hour billing windows, as Anthropic's subscription limits count them (and ccusage's
``blocks``): a window opens at the hour of its first request (UTC, floored) and lasts five hours;
a request after it closes, or after five idle hours, opens the next. The window still open now is
``active``: its burn rate (over the minutes it has been in use) and what it comes to at its end at
that rate."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mahavishnu.json_types import JSONObject, JSONValue
from mahavishnu.usage.records import UsageRecord

#: A window's length, in seconds.
WINDOW = 5 * 3600
_HOUR = 3600


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

    def burn(self, now: float) -> tuple[float, float]:
        """Tokens a minute and USD an hour since the window's first request (at least a minute)."""
        minutes = max(1.0, ((now if self.active else self.last) - self.first) / 60)
        return self.tokens / minutes, self.cost / minutes * 60

    def projected(self, now: float) -> tuple[int, float]:
        """Tokens and USD at the window's end if the burn rate holds (an ended one: its totals)."""
        if not self.active:
            return self.tokens, self.cost
        tokens_a_minute, usd_an_hour = self.burn(now)
        left = max(0.0, self.end - now)
        return self.tokens + round(tokens_a_minute * left / 60), self.cost + usd_an_hour * left / 3600

    def to_json(self, now: float) -> JSONObject:
        tokens_a_minute, usd_an_hour = self.burn(now)
        tokens, cost = self.projected(now)
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
            "tokens_per_minute": round(tokens_a_minute, 1),
            "usd_per_hour": round(usd_an_hour, 6),
            "projected_tokens": tokens,
            "projected_cost_usd": round(cost, 6),
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
