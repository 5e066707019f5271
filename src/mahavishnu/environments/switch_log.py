"""The switches made, newest first: what ``ai backups`` lists and ``ai rollback`` undoes.

Every switch that changed files records one entry: when, which profile, which assistants and scope,
and for each file the backup taken just before it was written (None when the switch created it).
``ai rollback`` puts back the files of the most recent switch, whatever they were, in one
transaction; a rollback is recorded as a switch too, so it can itself be undone.

Entries are small JSON files under the backups dir (paths and backup ids, never file content).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mahavishnu import paths
from mahavishnu.environments import safe_write
from mahavishnu.environments.history import Entry
from mahavishnu.environments.safe_write import read_text

KEEP = 200


@dataclass(frozen=True)
class SwitchRecord:
    id: str
    time: str  # ISO 8601, UTC
    profile: str  # or "rollback of <id>"
    tools: list[str]
    scope: str
    files: list[Entry]
    #: Each file's SHA-256 right after the switch: a later change is someone else's edit.
    after: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        return {
            "id": self.id,
            "time": self.time,
            "profile": self.profile,
            "tools": self.tools,
            "scope": self.scope,
            "files": [{"path": str(e.path), "backup": e.backup} for e in self.files],
        }


def log_dir() -> Path:
    return paths.backups_dir() / "switches"


def record(profile: str, tools: Iterable[str], scope: str, files: list[Entry]) -> SwitchRecord | None:
    """Save one switch (nothing when it changed no file) and trim the oldest."""
    if not files:
        return None
    now = datetime.now(UTC)
    entry = SwitchRecord(
        id=now.strftime("%Y%m%dT%H%M%S.%fZ") + "-" + uuid.uuid4().hex[:6],
        time=now.isoformat(timespec="seconds"),
        profile=profile,
        tools=list(tools),
        scope=scope,
        files=files,
        after={safe_write.source_key(e.path): digest(read_text(e.path)) for e in files},
    )
    directory = log_dir()
    paths.make_dir(directory)
    data = {
        **entry.summary(),
        "files": [{"path": safe_write.source_key(e.path), "backup": e.backup} for e in files],
        "after": entry.after,
    }
    safe_write.write_private(directory / f"{entry.id}.json", json.dumps(data) + "\n")
    for old in sorted(directory.glob("*.json"))[:-KEEP]:
        old.unlink(missing_ok=True)
    return entry


def records() -> list[SwitchRecord]:
    """Every recorded switch, newest first (damaged entries skipped)."""
    found = []
    directory = log_dir()
    for file in sorted(directory.glob("*.json"), reverse=True) if directory.is_dir() else []:
        try:
            data = json.loads(read_text(file) or "{}")
            files = [Entry(Path(f["path"]), f["backup"]) for f in data["files"]]
            after = data.get("after") if isinstance(data.get("after"), dict) else {}
            found.append(
                SwitchRecord(
                    data["id"], data["time"], data["profile"], data["tools"], data["scope"], files, after
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
    return found


def digest(text: str | None) -> str:
    """A file's fingerprint (an absent file has one too)."""
    return hashlib.sha256(b"\0absent" if text is None else text.encode()).hexdigest()


def changed_since(switch: SwitchRecord, path: Path) -> bool:
    """Whether ``path`` changed after ``switch`` wrote it (unknown for switches recorded before)."""
    after = switch.after.get(safe_write.source_key(path))
    return after is not None and after != digest(read_text(path))


def referenced_backups(path: Path) -> set[str]:
    """The ids of ``path``'s backups that a recorded switch (or rollback) took: what ``ai rollback``
    needs, so the backup ring never prunes them (``safe_write.backup``)."""
    key = safe_write.source_key(path)
    return {e.backup for entry in records() for e in entry.files if e.backup and str(e.path) == key}


def latest(tool: str | None = None) -> SwitchRecord | None:
    """The most recent switch (that involved ``tool``, when given)."""
    for entry in records():
        if tool is None or tool in entry.tools:
            return entry
    return None
