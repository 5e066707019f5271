"""One model request's usage, as an assistant's log recorded it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple, cast

from mahavishnu.environments.assistants.registry import NAMES
from mahavishnu.memory.loop.recall_log import MAX_TOKENS  # the most one request can use

#: An assistant's tool name (mypy needs the ``Literal``; tests/test_assistant_lists.py checks it is
#: the registry's list), and every one in the registry's order.
Tool = Literal["claude", "codex", "qwen", "gemini", "opencode", "pi"]
TOOLS = cast("tuple[Tool, ...]", NAMES)
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
    #: of ``cache_write``, the tokens written to Anthropic's 1-hour cache (priced at 2x input, the
    #: 5-minute cache at 1.25x): ``usage.cache_creation.ephemeral_1h_input_tokens``
    cache_write_1h: int = 0
    #: the provider the log itself names, when it does (Codex's ``model_provider``: ``openai``, or
    #: ``mahavishnu-<profile>`` as a switch writes it; Pi's ``provider``, OpenCode's ``providerID``):
    #: it wins over the switch history
    via: str = ""
    #: Anthropic's fast mode (``usage.speed`` ``"fast"``): ``FAST``, priced at the model's fast
    #: rates (several times the standard ones), its model named with ``FAST_SUFFIX`` as ccusage
    #: names it; OpenAI's service tier a Codex session asked for (``PRIORITY``, ``FLEX``), priced at
    #: that tier's rates; "" for a standard request
    speed: str = ""

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_write + self.cache_read

    def row(self) -> tuple[str, str, float, str, int, int, int, int, str, str | None, str, int, str, str]:
        """The record as a flat tuple (what the ledger stores)."""
        return self


def snapshot(first: UsageRecord, later: UsageRecord) -> UsageRecord:
    """A request logged more than once, as a streamed reply is (each line its figures so far): at
    ``first``'s time and place, with the tokens of ``later``, a line of it with more output. Claude
    Code updates a reply's input and cache counts too when the stream's end reports them (a gateway
    may report them only there): a later line's counts are the reply's, not the first's."""
    return first._replace(
        input=later.input,
        output=later.output,
        cache_write=later.cache_write,
        cache_read=later.cache_read,
        cache_write_1h=later.cache_write_1h,
    )


FAST = "fast"
FAST_SUFFIX = "-fast"
#: OpenAI's service tiers as a request names them: priority processing (Codex's "Fast", 2 to 2.5
#: times the standard rates) and flex (half of them).
PRIORITY = "priority"
FLEX = "flex"


class BadLine(ValueError):
    """A log line that looks like usage but cannot be: skipped and counted, with the reason."""


def count(value: object) -> int:
    """A token count from a log: an integer in ``0..MAX_TOKENS`` (a float with no fraction too);
    absent (None) is 0. Anything else (NaN, infinity, negative, too large, a fraction, text, a bool) is a
    ``BadLine``: the whole line is skipped, never counted as 0 or as a trillion."""
    if type(value) is int and 0 <= value <= MAX_TOKENS:  # the usual case, first
        return value
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadLine(f"a token count is not a number ({type(value).__name__})")
    if value != value or value in (float("inf"), float("-inf")):
        raise BadLine(f"a token count is not finite ({value})")
    if not 0 <= value <= MAX_TOKENS:
        raise BadLine(f"a token count is outside 0..{MAX_TOKENS:.0e} ({value:.3g})")
    if value != int(value):
        raise BadLine(f"a token count is not a whole number ({value:.3g})")
    return int(value)


@dataclass(frozen=True)
class Provider:
    """Who served a request: ``name`` as reports show it (the profile, or a stock provider),
    the ``profile`` in force (None: no switch recorded), the ``base_url`` the assistant was pointed
    at (None: its own default), the ``genai-prices`` provider id to price with when no base URL
    says it (None: unknown) and whether it is a ``gateway`` to other providers' models."""

    name: str
    profile: str | None = None
    base_url: str | None = None
    price_id: str | None = None
    #: a profile of the user's own (a gateway, a company proxy, a local router): when nothing
    #: prices it, its requests are priced at their model's list price (marked ``list``)
    gateway: bool = False
