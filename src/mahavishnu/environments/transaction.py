"""Write several config files as one: every file gets its new content, or none does.

``apply_all`` runs each edit through ``safe_write.apply`` (lock, re-read, validate, backup, atomic
replace), one after the other. Before a file is replaced, a journal under the Mahavishnu data dir
records what it held (its text, or that it did not exist) and a hash of what is about to be written.
When an edit fails, the files already written are put back from the journal, newest first; then the
journal goes and the error is raised. A process killed half-way leaves the journal behind, and
``recover`` (run by the next command) rolls it back the same way.

A rollback restores a file only if it still holds exactly what the transaction wrote: a file that
another program changed since (an assistant rewrites its own config) is left alone and reported.
The journal holds config text that may include tokens: it is written 0600, like backups.

One transaction runs at a time (a lock beside the journal); per-file locks are taken by
``safe_write.apply`` for each file in turn, never two at once, so nothing can deadlock.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from filelock import FileLock, Timeout

from mahavishnu import paths
from mahavishnu.environments import history, safe_write
from mahavishnu.environments.safe_write import Change, Transform, Validate, read_text
from mahavishnu.errors import ConfigFileError

LOCK_TIMEOUT_S = 60.0


class Edit(Protocol):
    """What one file of a transaction needs (``assistants.base.FileEdit`` is one)."""

    @property
    def path(self) -> Path: ...
    @property
    def transform(self) -> Transform: ...
    @property
    def validate(self) -> Validate: ...
    @property
    def mode(self) -> int | None: ...


@dataclass(frozen=True)
class Recovery:
    """What rolling back an interrupted (or failed) transaction did."""

    transaction: str
    restored: list[str]  # files put back as they were
    left: list[str]  # files changed by someone else since: not touched

    def messages(self) -> list[str]:
        out = [f"rolled back an interrupted switch: restored {path}" for path in self.restored]
        out += [f"{path} changed after an interrupted switch wrote it: left as it is" for path in self.left]
        return out


def journal_dir() -> Path:
    return paths.data_dir() / "transactions"


def journal_path() -> Path:
    return journal_dir() / "journal.json"


def apply_all(edits: Sequence[Edit], *, backups: int = 10, record: bool = True) -> list[Change]:
    """Apply every edit, or none: on any error the files already written are restored. The files
    changed are recorded as one group (``history``) unless ``record`` is false, so that a rollback
    puts them all back together."""
    with _transaction_lock():
        _recover_locked()
        journal: dict[str, Any] = {
            "version": 1,
            "id": uuid.uuid4().hex,
            "started": datetime.now(UTC).isoformat(),
            "pid": os.getpid(),
            "files": [],
        }
        _save(journal)
        changes: list[Change] = []
        try:
            for edit in edits:
                changes.append(
                    safe_write.apply(
                        edit.path,
                        _journaled(journal, edit),
                        validate=edit.validate,
                        mode=edit.mode,
                        backups=backups,
                    )
                )
        except BaseException as failure:
            _roll_back_after(failure, journal, backups)
            raise
        _forget()
        if record:
            history.record(history.entries(changes))
        return changes


def _roll_back_after(failure: BaseException, journal: dict[str, Any], backups: int) -> None:
    """Undo what a failed transaction wrote; the failure stays the error the caller sees."""
    try:
        recovery = _roll_back(journal, backups)
    except Exception as error:  # the journal stays: the next command tries again
        failure.add_note(f"rolling the other files back failed too ({error}); the next command retries")
        return
    for path in recovery.left:
        failure.add_note(f"{path} was changed by another program meanwhile: it was not rolled back")


def recover(*, backups: int = 10) -> Recovery | None:
    """Roll back a transaction a killed process left half done; None when there was none."""
    if not journal_path().exists():
        return None
    with _transaction_lock():
        return _recover_locked(backups)


def pending() -> bool:
    return journal_path().exists()


# -- the journal -------------------------------------------------------------------------------


def _journaled(journal: dict[str, Any], edit: Edit) -> Transform:
    """The edit's transform, recording the file's current content before it returns (so before the
    file can be replaced); ``apply`` may call it again when the file drifts, and the record follows."""

    def transform(before: str | None) -> str:
        after = edit.transform(before)
        entry = {
            "path": str(edit.path),
            "before": before,
            "mode": _mode(edit.path),
            "after_sha256": _sha(after),
        }
        journal["files"] = [f for f in journal["files"] if f["path"] != entry["path"]] + [entry]
        _save(journal)
        return after

    return transform


def _recover_locked(backups: int = 10) -> Recovery | None:
    journal = _load()
    if journal is None:
        return None
    return _roll_back(journal, backups)


def _roll_back(journal: dict[str, Any], backups: int) -> Recovery:
    """Restore every journaled file still holding what the transaction wrote; keep the journal if a
    restore fails, so the next command tries again."""
    restored: list[str] = []
    left: list[str] = []
    for entry in reversed(journal.get("files", [])):
        path = Path(entry["path"])
        current = read_text(path)
        before: str | None = entry["before"]
        if current == before:
            continue  # never written, or already restored
        if current is None or _sha(current) != entry["after_sha256"]:
            left.append(str(path))
            continue
        if before is None:
            _remove_created(path, entry["after_sha256"])
        else:
            _restore(path, before, entry["after_sha256"], entry.get("mode"), backups)
        restored.append(str(path))
    _forget()
    return Recovery(str(journal.get("id", "?")), restored[::-1], left[::-1])


def _restore(path: Path, before: str, sha: str, mode: int | None, backups: int) -> None:
    def put_back(now: str | None) -> str:
        if now is None:
            return before  # deleted meanwhile: its old content is still the best state
        return before if _sha(now) == sha else now

    safe_write.apply(path, put_back, validate=_accept_anything, mode=mode, backups=backups)


def _remove_created(path: Path, sha: str) -> None:
    with safe_write.file_lock(path):
        current = read_text(path)
        if current is not None and _sha(current) == sha:
            path.unlink()


def _accept_anything(text: str) -> None:
    """A restore puts back what the user had, valid or not."""


def _save(journal: dict[str, Any]) -> None:
    safe_write.write_private(journal_path(), json.dumps(journal, indent=1) + "\n")


def _load() -> dict[str, Any] | None:
    text = read_text(journal_path())
    if text is None:
        return None
    try:
        journal = json.loads(text)
    except ValueError as exc:
        raise ConfigFileError(
            f"the transaction journal {journal_path()} is corrupt",
            hint="Check the files it names by hand (or restore them with `mahavishnu ai rollback`), "
            "then delete it.",
        ) from exc
    return journal if isinstance(journal, dict) else None


def _forget() -> None:
    journal_path().unlink(missing_ok=True)


@contextlib.contextmanager
def _transaction_lock() -> Iterator[None]:
    journal_dir().mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(journal_dir() / "transaction.lock", timeout=LOCK_TIMEOUT_S):
            yield
    except Timeout as exc:
        raise ConfigFileError(
            "another mahavishnu process is switching assistants", hint="Wait for it to finish, then retry."
        ) from exc


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _mode(path: Path) -> int | None:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return None
