"""One reader per assistant: the lines of its session log that carry usage, as ``UsageRecord``s.

Each reader module has ``WANTED`` (byte strings one of which a useful line contains: a cheap filter
before JSON parsing) and ``parse(path, entries, state)``. ``state`` (``fields.State``) is what a
later read of the same file, from where this one stopped, needs to know (the session, its folder,
the model in use): string values, kept by the ledger with the offset."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from mahavishnu.json_types import JSONObject
from mahavishnu.usage.readers import claude, codex, gemini, qwen
from mahavishnu.usage.readers.fields import State
from mahavishnu.usage.records import Tool, UsageRecord

Parse = Callable[[Path, Iterable[JSONObject], State], list[UsageRecord]]


@dataclass(frozen=True)
class Reader:
    tool: Tool
    wanted: tuple[bytes, ...]
    parse: Parse
    #: a line's request key read off its bytes, when the format allows (None: parse it): a line
    #: repeating a request already read is then skipped before it is parsed
    line_key: Callable[[bytes], str | None] | None = None


READERS: dict[Tool, Reader] = {
    "claude": Reader("claude", claude.WANTED, claude.parse, claude.line_key),
    "codex": Reader("codex", codex.WANTED, codex.parse),
    "qwen": Reader("qwen", qwen.WANTED, qwen.parse),
    "gemini": Reader("gemini", gemini.WANTED, gemini.parse),
}

__all__ = ["READERS", "Parse", "Reader", "State"]
