"""What a usage reader is: the parts of one assistant's reader module that ``usage`` calls."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, replace
from functools import cached_property
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
    #: parses a log that is one JSON document, a ``.json`` file ``find`` lists beside the others
    #: (an older version's: Gemini CLI's sessions before 0.39, OpenCode's messages before 1.2);
    #: its entry is the document (None: the reader has no such logs)
    document: Parse | None = None

    def whole(self, path: Path) -> bool:
        """Whether ``path`` is one of its JSON documents: read whole each time it changes, never
        from where a read stopped (the assistant rewrote it: it did not append)."""
        return self.document is not None and path.suffix == ".json"

    def of(self, path: Path) -> Reader:
        """This reader as it reads ``path``: a document is parsed by ``document``, as no database
        and not a block of lines at a time."""
        return self._of_documents if self.whole(path) else self

    @cached_property
    def _of_documents(self) -> Reader:
        return replace(self, parse=self.document or self.parse, table=None, decode_block=None)
