"""What the readers share: reading JSON fields defensively, timestamps, the session's project."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from mahavishnu.json_types import JSONObject, JSONValue

#: What a later read of the same log, from where this one stopped, needs (string values).
State = dict[str, str]


def obj(value: JSONValue | None) -> JSONObject:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def text(value: JSONValue | None) -> str | None:
    return value if isinstance(value, str) and value else None


def epoch(value: JSONValue | None) -> float | None:
    """An ISO 8601 timestamp (``…Z`` included) as seconds since the epoch; None if it is not one.
    A time without a zone is taken as UTC (the assistants write UTC)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@lru_cache(maxsize=4096)
def project(cwd: str | None) -> str | None:
    """The project a session's folder belongs to, as the memory loop names it."""
    from mahavishnu.memory.core.projects import project_for

    return project_for(cwd)
