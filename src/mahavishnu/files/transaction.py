"""Write (and delete) several config files as one: every file gets its new state, or none does.

``run`` takes edits and deletions in order. Each edit goes through ``safe_write.apply`` (lock,
re-read, validate, backup, atomic replace); each ``Delete`` backs the file up and removes it
(``safe_write.remove``), under the same per-file lock. Before a file is replaced or removed, a
journal under the Mahavishnu data dir records what it held (its text, or that it did not exist) and
what it is about to hold (a hash of the new text, or null for "no file"). What a later file would
refuse (read-only, a dangling link, a directory, text that does not parse) is refused before the
first file is written (``safe_write.check_writable``). When a step fails all the same, the
files already changed are put back from the journal, newest first (a removed file is written back
with its mode); then the journal goes and the error is raised. A process killed half-way leaves the
journal behind, and ``recover`` rolls it back the same way: ``safe_write.apply`` runs it before
every write (``recover_pending``), so no later edit of any file builds on half a switch. Removing the
journal is the commit: until then every file can be put back, after it every file is new.
``apply_all`` is ``run`` for edits only.

What a transaction changed is recorded (unless ``record`` is false) as one group (``history``) and
one entry of the switch log (``switch_log``, named by ``label`` or else by the command running, with
the folders its writes created), so ``ai rollback`` undoes it as a whole. Both are written before
the commit and name the transaction, so a roll-back removes them too: a switch is never in place
unrecorded, nor recorded undone.

A rollback restores a file only if it still holds exactly what the transaction left there (that
content, or no file at all): a file that another program changed (or re-created) since is left alone
and reported.
The journal holds config text that may include tokens: it is written 0600, like backups.

One transaction runs at a time (a lock beside the journal); per-file locks are taken by
``safe_write.apply`` for each file in turn, never two at once, so nothing can deadlock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from filelock import FileLock, Timeout

from mahavishnu import paths
from mahavishnu.errors import ConfigDriftError, ConfigFileError
from mahavishnu.files import history, safe_write, switch_log
from mahavishnu.files.safe_write import Change, Transform, Validate, read_text

LOCK_TIMEOUT_S = 60.0

#: True while this thread runs (or rolls back) a transaction: its own writes must not recover it.
_inside: ContextVar[bool] = ContextVar("inside_transaction", default=False)


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


def holds_nothing(text: str) -> bool:
    """Whether a file holding ``text`` holds nothing: no text, or a JSON object of no keys (a
    settings file whose every key a switch took out)."""
    return text.strip() in ("", "{}")


@dataclass(frozen=True)
class Delete:
    """A file a transaction removes (a backup of it is kept, like before a write); with ``if_empty``,
    only when it holds nothing then (``holds_nothing``: an earlier step emptied it)."""

    path: Path
    if_empty: bool = False


@dataclass(frozen=True)
class Removal:
    """What a ``Delete`` did: ``before`` is what the file held (None: there was no file, nothing was
    done) and ``backup`` the id of its backup."""

    path: Path
    before: str | None
    backup: str | None = None

    @property
    def changed(self) -> bool:
        return self.before is not None


@dataclass(frozen=True)
class Outcome:
    """What ``run`` did: one ``Change`` per edit and one ``Removal`` per ``Delete``, in order."""

    changes: list[Change]
    removals: list[Removal]


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


def apply_all(
    edits: Sequence[Edit],
    *,
    backups: int = 10,
    record: bool = True,
    label: switch_log.Label | None = None,
) -> list[Change]:
    """Apply every edit, or none (``run`` with edits only)."""
    return run(edits, backups=backups, record=record, label=label).changes


def run(
    steps: Sequence[Edit | Delete],
    *,
    backups: int = 10,
    record: bool = True,
    label: switch_log.Label | None = None,
) -> Outcome:
    """Apply every edit and deletion, or none: on any error the files already changed are restored.
    The files changed are recorded as one group (``history``) and one entry of the switch log
    (``label``; None: a change named by the command running) unless ``record`` is false, so that a
    rollback puts them all back together (a removed file by its backup)."""
    with _transaction_lock():
        _recover_locked()
        for step in steps:  # what a later file refuses, refused before the first is written
            safe_write.check_writable(step.path, None if isinstance(step, Delete) else step.transform)
        journal: dict[str, Any] = {
            "version": 1,
            "id": uuid.uuid4().hex,
            "started": datetime.now(UTC).isoformat(),
            "pid": os.getpid(),
            "files": [],
        }
        _save(journal)
        changes: list[Change] = []
        removals: list[Removal] = []
        firsts = _FirstBackups()
        folders: list[Path] = []  # those a write may create
        try:
            for number, step in enumerate(steps):
                first = firsts.first_touch(step.path)
                if isinstance(step, Delete):
                    removal = _delete(journal, step, backups, step=number, back_up=first)
                    removals.append(firsts.note(removal))
                    continue
                folders += safe_write.missing_parents(step.path)
                change = safe_write.apply(
                    step.path,
                    _journaled(journal, step, number),
                    validate=step.validate,
                    mode=step.mode,
                    backups=backups,
                    back_up=first,
                )
                changes.append(firsts.note(change))
            if record:
                made = [str(folder.absolute()) for folder in folders if folder.is_dir()]
                _record(journal, firsts.entries(), changes, label, made)
        except BaseException as failure:
            _roll_back_after(failure, journal, backups)
            raise
        _forget()
        return Outcome(changes, removals)


def _record(
    journal: dict[str, Any],
    found: list[history.Entry],
    changes: list[Change],
    label: switch_log.Label | None,
    folders: list[str],
) -> None:
    """Record what the transaction changed (its group and its switch-log entry, each naming it)
    before the commit: a process killed between the files and the records had switched them
    unrecorded (``ai backups`` did not list it, ``ai rollback`` undid the switch before). Killed
    now, the journal stays and the roll-back removes the records with the files."""
    if not found:
        return
    journal["recorded"] = True
    _save(journal)
    history.record(found, transaction=journal["id"])
    switch_log.record_change(label, found, changes, transaction=journal["id"], folders=folders)


_Done = TypeVar("_Done", Change, Removal)


class _FirstBackups:
    """One backup per file per transaction, the first: a file written twice (``memory hooks remove``
    empties Codex's hooks.json, then deletes it) is backed up before the first write only, and every
    step on it, like the recorded group, names that backup (a rollback puts back what the file held
    before the transaction, never a state halfway through it)."""

    def __init__(self) -> None:
        self._taken: dict[str, history.Entry] = {}  # by source_key, in the order first changed

    def first_touch(self, path: Path) -> bool:
        """Whether no earlier step of this transaction changed ``path`` (so this step backs it up)."""
        return safe_write.source_key(path) not in self._taken

    def note(self, done: _Done) -> _Done:
        """Record ``done``'s backup if it is the file's first change; give it the file's first backup."""
        if not done.changed:
            return done
        key = safe_write.source_key(done.path)
        first = self._taken.setdefault(key, history.Entry(done.path, done.backup))
        return dataclasses.replace(done, backup=first.backup)

    def entries(self) -> list[history.Entry]:
        return list(self._taken.values())


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


def recover_pending() -> Recovery | None:
    """``recover``, unless this thread is inside a transaction already (``safe_write.apply`` calls
    it before every write). What it restored is reported on stderr: the user's command goes on."""
    if _inside.get() or not journal_path().exists():
        return None
    recovery = recover()
    if recovery is not None:
        for message in recovery.messages():
            sys.stderr.write(f"mahavishnu: {message}\n")
    return recovery


def pending() -> bool:
    return journal_path().exists()


# -- the journal -------------------------------------------------------------------------------


def _journaled(journal: dict[str, Any], edit: Edit, step: int) -> Transform:
    """The edit's transform, recording the file's current content before it returns (so before the
    file can be replaced); ``apply`` may call it again when the file drifts, and the record follows."""

    def transform(before: str | None) -> str:
        after = safe_write.keep_line_endings(before, edit.transform(before))
        entry = {
            "path": str(edit.path),
            "step": step,
            "before": before,
            "mode": _mode(edit.path),
            "after_sha256": _sha(after),
        }
        _note(journal, entry)
        return after

    return transform


def _note(journal: dict[str, Any], entry: dict[str, Any]) -> None:
    """Record (or update) a file's entry and save the journal before the file is touched. A file an
    earlier step wrote keeps what it held before the transaction (its ``before`` and mode); only
    what it is about to hold changes."""
    earlier = [f for f in journal["files"] if f["path"] == entry["path"] and f.get("step") != entry["step"]]
    if earlier:
        entry = {**entry, **{k: earlier[0][k] for k in ("step", "before", "mode")}}
    journal["files"] = [f for f in journal["files"] if f["path"] != entry["path"]] + [entry]
    _save(journal)


def _delete(journal: dict[str, Any], delete: Delete, backups: int, *, step: int, back_up: bool) -> Removal:
    """Back the file up (unless an earlier step did: ``back_up`` false), journal it as "held this,
    about to be gone", then remove it; a file another program rewrites meanwhile is backed up and
    journaled again before the next try."""
    path = delete.path
    with safe_write.file_lock(path):
        for _ in range(safe_write.DRIFT_RETRIES):
            before = read_text(path)
            if delete.if_empty and before and not holds_nothing(before):  # (written meanwhile): it stays
                return Removal(path, None)
            if before is None:  # never there, or removed by someone else meanwhile: not ours to undo
                mine = {"path": str(path), "step": step}
                journal["files"] = [f for f in journal["files"] if {k: f.get(k) for k in mine} != mine]
                _save(journal)
                return Removal(path, None)
            taken = safe_write.backup(path, before, keep=backups).id if back_up else None
            entry = {"path": str(path), "step": step, "before": before, "mode": _mode(path)}
            _note(journal, {**entry, "after_sha256": None})
            if safe_write.remove(path, before):
                return Removal(path, before, taken)
    tries = safe_write.DRIFT_RETRIES
    raise ConfigDriftError(f"{path} kept changing while it was being removed ({tries} attempts)")


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
        after_sha: str | None = entry["after_sha256"]  # None: the transaction removed the file
        if current == before:
            continue  # never written, or already restored
        if after_sha is None:
            holds_ours = current is None
        else:
            holds_ours = current is not None and _sha(current) == after_sha
        if not holds_ours:
            left.append(str(path))
            continue
        if before is None:
            _remove_created(path, str(after_sha))
        else:
            _restore(path, before, after_sha, entry.get("mode"), backups)
        restored.append(str(path))
    if journal.get("recorded"):
        history.forget(str(journal["id"]))
        switch_log.forget(str(journal["id"]))
    _forget()
    return Recovery(str(journal.get("id", "?")), restored[::-1], left[::-1])


def _restore(path: Path, before: str, sha: str | None, mode: int | None, backups: int) -> None:
    """Put ``before`` back where the file holds what the transaction wrote (hash ``sha``) or, for a
    removed file (``sha`` None), where there is no file."""

    def put_back(now: str | None) -> str:
        if now is None:
            return before  # removed (by the transaction, or meanwhile): its old content goes back
        return before if sha is not None and _sha(now) == sha else now

    # no backup of what it held: a state the transaction never committed, which `ai rollback`
    # (finding no recorded change) would have put back as the newest backup
    safe_write.apply(path, put_back, validate=_accept_anything, mode=mode, backups=backups, back_up=False)


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


def exclusive() -> contextlib.AbstractContextManager[None]:
    """The one-transaction-at-a-time lock held across more than one step (transactions inside it
    take it again at no cost): a switch reads the files it replaces and whose settings they hold,
    writes them, and records whose they are now; another process's switch in between read a
    half-done state, and kept its profile as the user's own settings (``own_settings``)."""
    return _transaction_lock()


@contextlib.contextmanager
def _transaction_lock() -> Iterator[None]:
    """The one-transaction-at-a-time lock; while held, this thread's writes skip recovery (and
    taking it again is a no-op)."""
    if _inside.get():
        yield
        return
    paths.make_dir(journal_dir())
    try:
        with FileLock(journal_dir() / "transaction.lock", timeout=LOCK_TIMEOUT_S, mode=0o600):
            token = _inside.set(True)
            try:
                yield
            finally:
                _inside.reset(token)
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


safe_write.before_every_write(recover_pending)
