"""What the readers share: reading JSON fields defensively, timestamps, the session's project."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

from mahavishnu.clean_text import ESCAPE_SEQUENCES
from mahavishnu.json_types import JSONObject, JSONValue
from mahavishnu.redaction.scrub import scrub
from mahavishnu.usage.records import BadLine

#: What a later read of the same log, from where this one stopped, needs (string values).
State = dict[str, str]


def obj(value: JSONValue | None) -> JSONObject:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def text(value: JSONValue | None) -> str | None:
    return value if isinstance(value, str) and value else None


#: C0 and C1 controls (ESC starts ANSI and OSC sequences; CR and LF forge lines), DEL, and the
#: bidirectional overrides that reorder what a terminal shows.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: Longer names are not names: a report's column, not a place for a log's essay.
LABEL_CHARS = 200


def label(value: JSONValue | None) -> str | None:
    """A name from a log that reports print (a model, a session id): its text with control
    characters taken out and at most ``LABEL_CHARS`` long (a provider's endpoint controls a model
    name: it must not move the cursor, retitle the terminal or forge a line)."""
    found = text(value)
    if found is None:
        return None
    if len(found) <= LABEL_CHARS and found.isprintable():  # nearly always: no copy
        return _shown(found)
    cleaned = _CONTROLS.sub("", ESCAPE_SEQUENCES.sub("", found))[:LABEL_CHARS]  # ("[2J" shows nothing)
    return _shown(cleaned) if cleaned else None


@lru_cache(maxsize=8192)
def _shown(name: str) -> str:
    """``name`` with a secret in it masked (a key pasted as a model name, a key-shaped session id or
    file name): reports, their JSON and the usage ledger never hold it. A few names repeat over
    every request of a log: each is read once."""
    return scrub(name)


def epoch(value: JSONValue | None) -> float:
    """A request's ISO 8601 timestamp (``…Z`` included) as seconds since the epoch. A time without
    a zone is taken as UTC (the assistants write UTC). ``BadLine`` when it is missing or not one:
    a request with no day cannot be reported, so it is skipped and counted, never dropped unseen
    (a reader calls this only once it knows the line is a request)."""
    if not isinstance(value, str):
        raise BadLine("no timestamp" if value is None else "a timestamp that is not text")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadLine("a timestamp that is not ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not _FIRST_YEAR <= moment.year < _LAST_YEAR:
        raise BadLine(f"a timestamp in the year {moment.year}")
    return moment.timestamp()


#: Usage logs are this century's: year 1 or 9999 is damage, and a local day cannot be made of it.
_FIRST_YEAR, _LAST_YEAR = 2000, 2200


@lru_cache(maxsize=4096)
def project(cwd: str | None) -> str | None:
    """The project a session's folder belongs to, as the memory loop names it."""
    from mahavishnu.memory.core.projects import project_for

    return label(project_for(cwd))
