"""Which files one transaction changed, so a rollback puts all of them back together.

A switch writes several files (Gemini CLI: settings.json and ``.env``; Codex: config.toml and, when
asked, ``.env``), each backed up into its own ring (``safe_write``). After every transaction that
changed something, ``record`` saves one group under the backups dir: for each file, the id of the
backup taken just before it was written, or None when the transaction created it. ``group_of`` finds
the group a backup belongs to, so ``switcher.rollback`` restores its siblings from the same switch.

Groups are small JSON files (paths and ids, never file content); the newest ``KEEP`` are kept.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mahavishnu import paths
from mahavishnu.errors import MahavishnuError
from mahavishnu.files import safe_write
from mahavishnu.files.safe_write import Change, read_text

KEEP = 200


@dataclass(frozen=True)
class Entry:
    """One file of a group: the backup of what it held before, or None if it did not exist."""

    path: Path
    backup: str | None


def groups_dir() -> Path:
    # beside the per-file rings; list_backups skips it (it holds no "source" file)
    return paths.backups_dir() / "groups"


def entries(changes: Iterable[Change]) -> list[Entry]:
    return [Entry(change.path, change.backup) for change in changes if change.changed]


def first_per_file(found: Iterable[Entry]) -> list[Entry]:
    """Each file's first entry: what it held before the transaction. Groups recorded before a
    transaction kept one backup per file may name a file twice (``memory hooks remove`` backed up
    Codex's hooks.json, then the ``{}`` it wrote there before deleting it)."""
    firsts: dict[str, Entry] = {}
    for entry in found:
        firsts.setdefault(str(entry.path), entry)
    return list(firsts.values())


def record(found: list[Entry], *, transaction: str | None = None) -> None:
    """Save ``found`` as one group (nothing when it is empty) and trim the oldest groups.
    ``transaction``: the id of the transaction recording it (``forget`` removes its group)."""
    if not found:
        return
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    data: dict[str, object] = {
        "files": [{"path": safe_write.source_key(e.path), "backup": e.backup} for e in found]
    }
    if transaction is not None:
        data["transaction"] = transaction
    directory = groups_dir()
    paths.make_dir(directory)
    for stale in directory.glob(".*.mahavishnu-tmp"):  # a killed record's; records run one at a time
        stale.unlink(missing_ok=True)  # (under the transaction lock)
    name = f"{stamp}-{uuid.uuid4().hex[:8]}.json"  # unique: no lock (and no lock file) needed
    safe_write.write_private(directory / name, json.dumps(data) + "\n", lock=False)
    for old in sorted(directory.glob("*.json"))[:-KEEP]:
        old.unlink(missing_ok=True)


def forget(transaction: str, directory: Path | None = None) -> None:
    """Remove the record ``transaction`` made in ``directory`` (its group: ``groups_dir``; the switch
    log's entry: ``switch_log.log_dir``): it was rolled back after recording it."""
    directory = groups_dir() if directory is None else directory
    for file in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        if recorded_by(file) == transaction:
            file.unlink(missing_ok=True)


def recorded_by(file: Path) -> str | None:
    """The id of the transaction that recorded ``file`` (a group or a switch-log entry), if named."""
    try:
        data = json.loads(read_text(file) or "{}")
    except (ValueError, MahavishnuError):
        return None
    found = data.get("transaction") if isinstance(data, dict) else None
    return found if isinstance(found, str) else None


def group_of(path: Path, backup_id: str) -> list[Entry] | None:
    """The newest group in which ``path`` was backed up as ``backup_id``; None when there is none
    (a backup taken by a single-file write, or a group trimmed away)."""
    key = safe_write.source_key(path)
    for file in sorted(groups_dir().glob("*.json"), reverse=True):
        group = _load(file)
        if any(str(e.path) == key and e.backup == backup_id for e in group):
            return group
    return None


def _load(file: Path) -> list[Entry]:
    try:
        data = json.loads(read_text(file) or "{}")
        return first_per_file(Entry(Path(f["path"]), f["backup"]) for f in data["files"])
    except (ValueError, KeyError, TypeError):
        return []  # a damaged group only means its files roll back one by one
