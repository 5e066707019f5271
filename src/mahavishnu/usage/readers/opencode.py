"""OpenCode (``$XDG_DATA_HOME/opencode/opencode.db``, ``~/.local/share/opencode`` by default):
a SQLite database (``usage/sqlite_log`` reads it). Each model reply is a ``message`` row
``(id, session_id, time_created, time_updated, data)`` whose ``data`` JSON has ``role:
"assistant"``, the ``providerID`` and ``modelID`` it was sent to, ``path.cwd``, ``time.created``,
``cost`` and ``tokens`` ``{input (fresh), output (without reasoning), reasoning, cache {read,
write}}``. A row is written when the reply starts (no tokens yet) and updated when it ends: a
message counts once it has tokens, keyed by its id. A subagent's session has a ``parent_id``: its
requests are helpers'. Reasoning is billed as output and counted in it (ccusage leaves it out of
its token columns; its cost has it). Versions before 1.0 kept messages as JSON files under
``storage/``; OpenCode moves them into the database when it first runs as a newer version."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from mahavishnu import paths
from mahavishnu.errors import InvalidInputError
from mahavishnu.json_types import JSONObject, JSONValue
from mahavishnu.usage.readers.fields import State, label, obj, project, text
from mahavishnu.usage.readers.reader import Reader
from mahavishnu.usage.records import HELPER, MAIN, BadLine, UsageRecord, count
from mahavishnu.usage.sqlite_log import Table

TABLE = Table(
    table="message",
    data="message.data",
    updated="message.time_updated",
    columns=("message.id", "message.session_id", "session.parent_id"),
    joins="LEFT JOIN session ON session.id = message.session_id",
    wanted='"tokens"',  # a reply's (a prompt's row has none)
)


def parse(path: Path, entries: Iterable[JSONObject], state: State) -> list[UsageRecord]:
    found = []
    for entry in entries:
        row, data = obj(entry.get("row")), obj(entry.get("data"))
        tokens = obj(data.get("tokens"))
        model = label(data.get("modelID"))
        key = text(row.get("id"))
        if data.get("role") != "assistant" or not tokens or model is None or key is None:
            continue
        cache = obj(tokens.get("cache"))
        fresh, output, reasoning = (count(tokens.get(f)) for f in ("input", "output", "reasoning"))
        written, read = count(cache.get("write")), count(cache.get("read"))
        if not any((fresh, output, reasoning, written, read)):
            continue  # still being written (its tokens come when it ends), or failed before
        when = _epoch_ms(obj(data.get("time")).get("created"))
        found.append(
            UsageRecord(
                tool="opencode",
                key=f"opencode:{key}",
                time=when,
                model=model,
                input=fresh,
                output=output + reasoning,
                cache_write=written,
                cache_read=read,
                session=label(row.get("session_id")) or "-",
                project=project(text(obj(data.get("path")).get("cwd"))),
                source=HELPER if text(row.get("parent_id")) else MAIN,
                via=label(data.get("providerID")) or "",
            )
        )
    return found


def _epoch_ms(value: JSONValue | None) -> float:
    """OpenCode's times: milliseconds since the epoch (this century's, as ``fields.epoch`` takes);
    ``BadLine`` when a reply has none (skipped and counted, as ``fields.epoch``)."""
    if value is None:
        raise BadLine("no time")
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise BadLine("a time is not a number")
    if not _FIRST_MS <= value < _LAST_MS:
        raise BadLine(f"a time outside this century ({value:.3g} ms)")
    return value / 1000


_FIRST_MS, _LAST_MS = 946_684_800_000, 7_258_118_400_000  # 2000-01-01 and 2200-01-01, UTC


def data_dir() -> Path:
    """OpenCode's data folder: ``$XDG_DATA_HOME/opencode``, else ``~/.local/share/opencode``."""
    base = os.environ.get("XDG_DATA_HOME")
    return (Path(base) if base else paths.home() / ".local" / "share") / "opencode"


def find() -> list[Path]:
    """OpenCode's database, when it has one: a regular file in its folder (a link counts only when
    it stays there), and never a folder that leads out to one holding HOME."""
    folder = data_dir()
    database = folder / "opencode.db"
    if not folder.is_dir() or not os.path.lexists(database):
        return []
    base = folder.resolve()
    if paths.home().resolve().is_relative_to(base):
        raise InvalidInputError(
            f"refusing to read {folder}: it leads to {base}, which holds your home folder",
            hint="Make it OpenCode's own data folder again (not a link to / or to HOME).",
        )
    resolved = database.resolve()
    if not resolved.is_relative_to(base) or not resolved.is_file():
        raise InvalidInputError(
            f"refusing to read {database}: not a file in OpenCode's folder {folder}",
            hint="Make it OpenCode's own database again (not a link out of its folder).",
        )
    return [database]


READER = Reader("opencode", (), parse, find=find, table=TABLE)
