"""One model request's usage, as an assistant's log recorded it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

Tool = Literal["claude", "codex", "qwen", "gemini"]
TOOLS: tuple[Tool, ...] = ("claude", "codex", "qwen", "gemini")
#: The request was the user's session's own (``main``) or a helper's the assistant ran for itself:
#: a subagent, Qwen Code's memory extractor… (``helper``).
MAIN = "main"
HELPER = "helper"


class UsageRecord(NamedTuple):
    """The tokens of one request (a named tuple: a report makes one per request, ten times faster
    than a frozen dataclass). ``input`` is fresh input only: cache reads and writes are apart
    (as Anthropic reports them; OpenAI's and Gemini's inclusive counts are split by the readers).
    ``output`` includes reasoning. ``key`` names the request across files (a resumed or forked
    session repeats its messages): the reader's tool, then the provider's message/response id."""

    tool: Tool
    key: str
    time: float  #: seconds since the epoch (UTC)
    model: str
    input: int
    output: int
    cache_write: int
    cache_read: int
    session: str
    project: str | None
    source: str = MAIN

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_write + self.cache_read

    def row(self) -> tuple[str, str, float, str, int, int, int, int, str, str | None, str]:
        """The record as a flat tuple (what the ledger stores)."""
        return self


def count(value: object) -> int:
    """A token count from a log: a non-negative integer, anything else 0 (a bool is not a count)."""
    if type(value) is int:  # the usual case, first
        return value if value > 0 else 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(0, int(value))


@dataclass(frozen=True)
class Provider:
    """Who served a request: ``name`` as reports show it (the profile, or a stock provider),
    the ``profile`` in force (None: no switch recorded), the ``base_url`` the assistant was pointed
    at (None: its own default) and the ``genai-prices`` provider id to price with when no base URL
    says it (None: unknown)."""

    name: str
    profile: str | None = None
    base_url: str | None = None
    price_id: str | None = None
