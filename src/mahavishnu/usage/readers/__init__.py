"""One reader per assistant: the lines of its session log that carry usage, as ``UsageRecord``s.

Each reader module, named as the assistant is in the registry, has ``WANTED`` (byte strings one of
which a useful line contains: a cheap filter before JSON parsing) and ``parse(path, entries, state)``,
put together as its ``READER``. ``state`` (``fields.State``) is what a
later read of the same file, from where this one stopped, needs to know (the session, its folder,
the model in use): string values, kept by the ledger with the offset.

Where an assistant's logs are: ``memory/loop/session_logs`` knows the session folders of those the
memory loop reads; a reader may name its own ``find`` instead (Claude Code's, Gemini CLI's,
OpenCode's). A reader with a ``table`` reads a SQLite database (``usage/sqlite_log``) instead of
lines: its entries are rows. One with a ``document`` parse reads the ``.json`` files its ``find``
lists (an older version's logs) whole, each one JSON document: its entry is the document."""

from __future__ import annotations

import importlib

from mahavishnu.usage.readers.fields import State
from mahavishnu.usage.readers.reader import Parse, Reader
from mahavishnu.usage.records import TOOLS, Tool


def _reader(tool: Tool) -> Reader:
    """The ``READER`` of ``usage/readers/<tool>.py``: a reader module per registered assistant."""
    found: Reader = importlib.import_module(f"{__name__}.{tool}").READER
    return found


READERS: dict[Tool, Reader] = {tool: _reader(tool) for tool in TOOLS}

__all__ = ["READERS", "Parse", "Reader", "State"]
