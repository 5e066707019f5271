"""OpenCode (``$XDG_DATA_HOME/opencode``, ``~/.local/share/opencode`` by default).

Since 1.2 (February 2026) a SQLite database, ``opencode.db`` (``usage/sqlite_log`` reads it).
Each model reply is a ``message`` row ``(id, session_id, time_created, time_updated, data)``
whose ``data`` JSON has ``role: "assistant"``, the ``providerID`` and ``modelID`` it was sent to,
``path.cwd``, ``time.created``, ``cost`` and ``tokens`` ``{input (fresh), output (without
reasoning), reasoning, cache {read, write}}``. A row is written when the reply starts (no tokens
yet) and updated when it ends: a message counts once it has tokens, keyed by its id. A
subagent's session has a ``parent_id``: its requests are helpers'. Reasoning is billed as output
and counted in it (ccusage leaves it out of its token columns; its cost has it).

From 0.6 to 1.1 (September 2025 to February 2026) it kept JSON files under ``storage/``: a
message in ``message/<session id>/<message id>.json`` (the same object, its ``id`` and
``sessionID`` in it), a session in ``session/<project id>/<session id>.json`` (a subagent's
names its ``parentID``), parts apart. A file is rewritten whole as the reply comes (``parse_file``
reads it as a document). Versions 1.2 to 1.15 copy them into the database on their first run,
under the same ids, and leave them; 1.16 and later no longer copy them. So they are read too,
and a message both hold is one request (its key is its id either way). Versions before 0.6 kept
them per project, ``project/<folder>/storage/session/...``, which 0.6 and later copy into
``storage/`` on their first run: those are not read."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from mahavishnu import paths
from mahavishnu.errors import InvalidInputError
from mahavishnu.json_types import JSONObject, JSONValue
from mahavishnu.usage.logfile import parse_object
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
    """The replies in rows of the database."""
    found = []
    for entry in entries:
        row = obj(entry.get("row"))
        record = _record(obj(entry.get("data")), text(row.get("id")), label(row.get("session_id")))
        if record is not None:
            found.append(record._replace(source=HELPER) if text(row.get("parent_id")) else record)
    return found


def parse_file(path: Path, entries: Iterable[JSONObject], state: State) -> list[UsageRecord]:
    """The reply in a message file of the older storage, ``message/<session id>/<id>.json``: its
    id and session are its file's and folder's names (as OpenCode's copy into the database takes
    them)."""
    session = path.parent.name
    found = []
    for data in entries:
        record = _record(data, path.stem, label(session))
        if record is not None:
            helper = _subagent(path.parents[2], session)
            found.append(record._replace(source=HELPER) if helper else record)
    return found


def _record(data: JSONObject, key: str | None, session: str | None) -> UsageRecord | None:
    """The request of a message (None when it is no finished reply)."""
    tokens = obj(data.get("tokens"))
    model = label(data.get("modelID"))
    if data.get("role") != "assistant" or not tokens or model is None or key is None:
        return None
    cache = obj(tokens.get("cache"))
    fresh, output, reasoning = (count(tokens.get(f)) for f in ("input", "output", "reasoning"))
    written, read = count(cache.get("write")), count(cache.get("read"))
    if not any((fresh, output, reasoning, written, read)):
        return None  # still being written (its tokens come when it ends), or failed before
    return UsageRecord(
        tool="opencode",
        key=f"opencode:{key}",
        time=_epoch_ms(obj(data.get("time")).get("created")),
        model=model,
        input=fresh,
        output=output + reasoning,
        cache_write=written,
        cache_read=read,
        session=session or "-",
        project=project(text(obj(data.get("path")).get("cwd"))),
        source=MAIN,
        via=label(data.get("providerID")) or "",
    )


def _subagent(storage: Path, session: str) -> bool:
    """Whether ``session`` of the older storage is a subagent's: its file,
    ``session/<project id>/<session id>.json``, names a ``parentID``. Remembered once its file was
    read whole: a session whose file is not there yet (its first messages are written before it),
    or is still being written, is looked for again, in a long-lived process too (the dashboard)."""
    known = _SUBAGENTS.get((storage, session))
    if known is not None:
        return known
    try:
        projects = [folder for folder in (storage / "session").iterdir() if folder.is_dir()]
    except OSError:
        return False
    for folder in projects:
        info = folder / f"{session}.json"
        try:  # a regular file's first bytes only: never a FIFO or /dev/zero behind a link
            if not info.is_file():
                continue
            with info.open("rb") as handle:
                value, _ = parse_object(handle.read(_SESSION_BYTES))
        except OSError:
            continue
        if value is None:  # still being written: read again next time
            return False
        helper = text(value.get("parentID")) is not None
        if len(_SUBAGENTS) >= _SUBAGENTS_KEPT:
            _SUBAGENTS.clear()
        _SUBAGENTS[(storage, session)] = helper
        return helper
    return False


#: Sessions found a subagent's or not (``_subagent``), at most ``_SUBAGENTS_KEPT`` of them.
_SUBAGENTS: dict[tuple[Path, str], bool] = {}
_SUBAGENTS_KEPT = 4096
_SESSION_BYTES = 1024 * 1024  # a session's file is a few hundred bytes


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


def find() -> list[Path]:
    """OpenCode's database, when it has one (a regular file in its folder: a link counts only when
    it stays there), and its older storage's message files; never from a folder that leads out to
    one holding HOME."""
    from mahavishnu.memory.loop.session_file import session_files

    folder = paths.opencode_data_dir()
    if not folder.is_dir():
        return []
    base = folder.resolve()
    if paths.home().resolve().is_relative_to(base):
        raise InvalidInputError(
            f"refusing to read {folder}: it leads to {base}, which holds your home folder",
            hint="Make it OpenCode's own data folder again (not a link to / or to HOME).",
        )
    messages = folder / "storage" / "message"
    older = session_files(messages, "*/*.json") if messages.is_dir() else []
    return [*_database(folder, base), *older]


def _database(folder: Path, base: Path) -> list[Path]:
    database = folder / "opencode.db"
    if not os.path.lexists(database):
        return []
    resolved = database.resolve()
    if not resolved.is_relative_to(base) or not resolved.is_file():
        raise InvalidInputError(
            f"refusing to read {database}: not a file in OpenCode's folder {folder}",
            hint="Make it OpenCode's own database again (not a link out of its folder).",
        )
    return [database]


READER = Reader("opencode", (), parse, find=find, table=TABLE, document=parse_file)
