"""What Mahavishnu added: the entries it wrote, in ``mcp-servers.json`` under the data dir.

Only these may be overwritten without ``--replace``; a server someone else added is never touched.
Each record keeps a fingerprint of the server as written (``fingerprint``): an entry that no longer
matches it was changed by hand and is the user's now (``owned``). A record from before fingerprints
has none and still counts as Mahavishnu's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from mahavishnu import paths
from mahavishnu.environments.mcp_servers.locations import Location
from mahavishnu.environments.mcp_servers.model import McpServer
from mahavishnu.files import safe_write
from mahavishnu.json_types import JSONObject

__all__ = [
    "Records",
    "changed_by_hand",
    "fingerprint",
    "forget",
    "load_state",
    "owned",
    "record_of",
    "remember",
    "state_path",
]

Records = dict[str, JSONObject]  # record key -> record


def state_path() -> Path:
    return paths.data_dir() / "mcp-servers.json"


def load_state() -> Records:
    """The entries Mahavishnu wrote."""
    return _records(safe_write.read_text(state_path()))


def record_of(state: Records, loc: Location, name: str) -> JSONObject | None:
    """The record of an entry Mahavishnu wrote; None for one it did not."""
    return state.get(_record_key(loc.key, name))


def fingerprint(server: McpServer) -> str:
    """A digest of the server as the model has it (what ``add`` wrote, whatever the file's layout)."""
    body = json.dumps(server.to_dict(masked=False), sort_keys=True, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(body.encode("utf-8")).hexdigest()


def changed_by_hand(record: JSONObject | None, server: McpServer | None) -> bool:
    """Mahavishnu wrote this entry, and it has been changed since (an old record cannot tell: no)."""
    digest = (record or {}).get("fingerprint")
    return isinstance(digest, str) and server is not None and digest != fingerprint(server)


def owned(record: JSONObject | None, server: McpServer | None) -> bool:
    """Mahavishnu wrote this entry and it is still as written: it may be updated or replaced."""
    return record is not None and not changed_by_hand(record, server)


def remember(loc: Location, server: McpServer, created_from: int | None) -> None:
    def change(index: Records) -> None:
        key = _record_key(loc.key, server.name)
        previous = index.get(key, {})
        index[key] = {
            "location": loc.key,
            "tool": loc.tool,
            "scope": loc.scope,
            "path": str(loc.path.absolute()),
            "name": server.name,
            "created_from": previous.get("created_from", created_from),
            "added": previous.get("added") or datetime.now(UTC).isoformat(timespec="seconds"),
            "fingerprint": fingerprint(server),
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
        body = {
            "version": 1,
            "servers": sorted(index.values(), key=lambda r: (str(r["location"]), str(r["name"]))),
        }
        return json.dumps(body, indent=2, ensure_ascii=False) + "\n"

    # 0600: a fingerprint covers env and header values, so it is kept as private as the configs
    safe_write.apply(state_path(), transform, validate=lambda text: None, mode=0o600, backups=2)


def _records(text: str | None) -> Records:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}  # a damaged state file only means we forget what we added; never fail on it
    records = data.get("servers", []) if isinstance(data, dict) else []
    return {
        _record_key(str(r["location"]), str(r["name"])): r
        for r in records
        if isinstance(r, dict) and "name" in r
    }


def _record_key(location_key: str, name: str) -> str:
    return f"{location_key}#{name}"
