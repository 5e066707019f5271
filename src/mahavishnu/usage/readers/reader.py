"""What a usage reader is: the parts of one assistant's reader module that ``usage`` calls."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path

from mahavishnu.json_types import JSONObject
from mahavishnu.usage.logfile import Block
from mahavishnu.usage.readers.fields import State
from mahavishnu.usage.records import Tool, UsageRecord
from mahavishnu.usage.sqlite_log import Table

Parse = Callable[[Path, Iterable[JSONObject], State], list[UsageRecord]]
#: The records of a block of lines decoded in one call, each request once (its key and output put
#: in those ``seen``; a request seen before again only when a line reports more output), or None
#: when a line of it needs reading on its own (then nothing is added to ``seen``).
DecodeBlock = Callable[[Path, Block, dict[Hashable, int]], list[UsageRecord] | None]


@dataclass(frozen=True)
class Reader:
    tool: Tool
    wanted: tuple[bytes, ...]
    parse: Parse
    #: the assistant's log files, when ``session_logs`` does not know where they are
    find: Callable[[], list[Path]] | None = None
    #: the table of a log that is a SQLite database (None: a log of JSON lines)
    table: Table | None = None
    #: a faster read of a block of lines of the usual shape (None: every line is parsed whole)
    decode_block: DecodeBlock | None = None
