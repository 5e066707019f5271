"""What Mahavishnu added: the entries it wrote, in ``mcp-servers.json`` under the data dir.

Only these may be overwritten without ``--replace``; a server someone else added is never touched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mahavishnu import paths
from mahavishnu.environments import safe_write
from mahavishnu.environments.mcp_servers.locations import Location

__all__ = ["Records", "forget", "load_state", "record_of", "remember", "state_path"]

Records = dict[str, dict[str, Any]]  # record key -> record


def state_path() -> Path:
    return paths.data_dir() / "mcp-servers.json"


def load_state() -> Records:
    """The entries Mahavishnu wrote."""
    return _records(safe_write.read_text(state_path()))


def record_of(state: Records, loc: Location, name: str) -> dict[str, Any] | None:
    """The record of an entry Mahavishnu wrote; None for one it did not."""
    return state.get(_record_key(loc.key, name))


def remember(loc: Location, name: str, created_from: int | None) -> None:
    def change(index: Records) -> None:
        key = _record_key(loc.key, name)
        previous = index.get(key, {})
        index[key] = {
            "location": loc.key,
            "tool": loc.tool,
            "scope": loc.scope,
            "path": str(loc.path.absolute()),
            "name": name,
            "created_from": previous.get("created_from", created_from),
            "added": previous.get("added") or datetime.now(UTC).isoformat(timespec="seconds"),
        }

    _update_state(change)


def forget(loc: Location, name: str) -> None:
    def change(index: Records) -> None:
        index.pop(_record_key(loc.key, name), None)

    _update_state(change)


def _update_state(change: Callable[[Records], None]) -> None:
    def transform(text: str | None) -> str:
        index = _records(text)
        change(index)
        body = {"version": 1, "servers": sorted(index.values(), key=lambda r: (r["location"], r["name"]))}
        return json.dumps(body, indent=2, ensure_ascii=False) + "\n"

    safe_write.apply(state_path(), transform, validate=lambda text: None, backups=2)


def _records(text: str | None) -> Records:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}  # a damaged state file only means we forget what we added; never fail on it
    records = data.get("servers", []) if isinstance(data, dict) else []
    return {_record_key(r["location"], r["name"]): r for r in records if isinstance(r, dict) and "name" in r}


def _record_key(location_key: str, name: str) -> str:
    return f"{location_key}#{name}"
