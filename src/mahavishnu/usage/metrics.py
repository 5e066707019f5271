"""Usage as telemetry: when ``mahavishnu usage`` runs with telemetry on, its figures as gauges.

One gauge per figure, over the report's range (``mahavishnu.since`` / ``mahavishnu.until``: a day,
or ``all`` when open, so a plain ``mahavishnu usage`` gives the totals of every log kept), split
by the assistant (``mahavishnu.assistant``: claude, codex, qwen, gemini), the provider that served
the requests and the model, named as the OpenTelemetry GenAI semantic conventions name them:

* ``mahavishnu.usage.tokens`` (``{token}``): ``gen_ai.system`` (the provider's price id, e.g.
  ``anthropic``, or its name), ``gen_ai.request.model``, ``gen_ai.token.type`` (``input``,
  ``output``, ``cache_write``, ``cache_read``), ``mahavishnu.provider`` (the profile or stock
  provider the report shows);
* ``mahavishnu.usage.cost`` (``USD``; priced requests only) and ``mahavishnu.usage.requests`` with
  ``mahavishnu.priced`` (true/false), by the same attributes less the token type.

Gauges, not counters: a report reads the assistants' logs again (a resumed session repeats its
messages, a rewritten log is read whole), so the same request would be counted twice; a gauge of
the range's total says the same thing every time it is set. Nothing else of a request (its
session, project or text) is an attribute.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from mahavishnu import telemetry
from mahavishnu.usage.records import Provider, UsageRecord

_Key = tuple[str, str, str, str]  # assistant, provider, gen_ai.system, model


def record(
    priced: Iterable[tuple[UsageRecord, Provider, float | None]], since: date | None, until: date | None
) -> None:
    """Sets the usage gauges from the report's priced records (a no-op when telemetry is off)."""
    if not telemetry.enabled():
        return
    tokens: dict[_Key, list[int]] = {}
    cost: dict[_Key, float] = {}
    requests: dict[tuple[_Key, bool], int] = {}
    for request, provider, price in priced:
        key: _Key = (request.tool, provider.name, provider.price_id or provider.name, request.model)
        counts = tokens.setdefault(key, [0, 0, 0, 0])
        for i, n in enumerate((request.input, request.output, request.cache_write, request.cache_read)):
            counts[i] += n
        if price is not None:
            cost[key] = cost.get(key, 0.0) + price
        requests[(key, price is not None)] = requests.get((key, price is not None), 0) + 1
    window = {"since": since.isoformat() if since else "all", "until": until.isoformat() if until else "all"}
    for key, counts in tokens.items():
        for kind, n in zip(("input", "output", "cache_write", "cache_read"), counts, strict=True):
            telemetry.gauge(
                "usage.tokens", n, unit="{token}", description="Tokens in the assistants' logs",
                **_attributes(key), **window, **{"gen_ai.token.type": kind},
            )  # fmt: skip
    for key, usd in cost.items():
        telemetry.gauge("usage.cost", usd, unit="USD", description="Cost", **_attributes(key), **window)
    for (key, was_priced), n in requests.items():
        telemetry.gauge(
            "usage.requests", n, unit="{request}", description="Model requests",
            **_attributes(key), **window, priced=was_priced,
        )  # fmt: skip


def _attributes(key: _Key) -> dict[str, str]:
    assistant, provider, system, model = key
    return {
        "assistant": assistant,
        "provider": provider,
        "gen_ai.system": system,
        "gen_ai.request.model": model,
    }
