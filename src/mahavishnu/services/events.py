"""What ``mahavishnu watch`` did and why: one JSON object per line in ``$MAHAVISHNU_HOME/watch/events.jsonl``.

Kinds: ``service-restart`` (config change, definition changed in the settings, exit, failed health
checks), ``service-failed`` (restart budget spent), ``fallback`` and ``switch-back`` (provider
switches), ``probe-failed`` (a failed probe short of the switch), ``fallback-unavailable`` (no
healthy profile left in the chain), ``fallback-no-chain`` (no other profile to try, and how to set
one), ``fallback-chain-unknown`` (chain entries naming no profile), ``switch-back-failed``,
``probe-skipped`` (an assistant's config cannot be read), ``notify-failed``, ``settings-reloaded``,
``watch-error``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mahavishnu import paths


def events_path() -> Path:
    return paths.data_dir() / "watch" / "events.jsonl"


def log_event(kind: str, **fields: Any) -> dict[str, Any]:
    event = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": kind, **fields}
    path = events_path()
    paths.make_dir(path.parent)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(event, ensure_ascii=False, default=str) + "\n")
    return event


def read_events(limit: int | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    """Events oldest first (the last ``limit`` of them); unreadable lines are skipped."""
    try:
        lines = events_path().read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and (kind is None or event.get("event") == kind):
            found.append(event)
    return found[-limit:] if limit else found
