"""The one way Mahavishnu changes a user's config file.

``apply`` takes a pure transform (old text -> new text) and, under a per-file lock: re-reads the file,
applies the transform to what is on disk *now* (so a concurrent edit is built on, never lost),
validates the result, backs the old version up into a ring, writes a temp file in the same
directory, fsyncs it, ``os.replace``s it over the original (keeping mode and owner), and fsyncs the
directory. Just before the replace it checks the file once more and starts over if another program
wrote it meanwhile. A crash at any step leaves the old file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from mahavishnu import paths
from mahavishnu.errors import ConfigDriftError, ConfigFileError, NotFoundError, WriteFailedError
from mahavishnu.masking import mask, mask_assignments

Transform = Callable[[str | None], str]
Validate = Callable[[str], None]

#: Test seam: called with the name of each write step ("temp-written", "before-replace", "replaced")
#: and removal step ("before-remove", "removed").
fault_hook: Callable[[str], None] | None = None

LOCK_TIMEOUT_S = 30.0
DRIFT_RETRIES = 5
_TEMP_SUFFIX = ".mahavishnu-tmp"


@dataclass(frozen=True)
class Change:
    """A file's content before and after a transform (``before`` is None for a new file)."""

    path: Path
    before: str | None
    after: str
    backup: str | None = None  # id of the backup of ``before`` taken by this write

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self, secrets: Iterable[str] = ()) -> str:
        """Unified diff with every given secret value, and every secret-looking key's value, masked."""
        lines = difflib.unified_diff(
            (self.before or "").splitlines(keepends=True),
            self.after.splitlines(keepends=True),
            fromfile=f"{self.path} (current)" if self.before is not None else "/dev/null",
            tofile=f"{self.path} (new)",
        )
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        for secret in secrets:
            if secret:
                text = text.replace(secret, mask(secret))
        return mask_assignments(text)


def read_text(path: Path) -> str | None:
    """The file's text, or None if it does not exist; unreadable files are a clear error."""
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except IsADirectoryError as exc:
        raise ConfigFileError(f"{path} is a directory, not a config file") from exc
    except PermissionError as exc:
        raise ConfigFileError(
            f"cannot read {path}: permission denied", hint="Check the file's permissions."
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigFileError(
            f"{path} is not UTF-8 text", hint="Fix or move the file; nothing was written."
        ) from exc


def plan(path: Path, transform: Transform) -> Change:
    """What ``apply`` would write now, without writing (for ``--dry-run``)."""
    before = read_text(path)
    return Change(path, before, transform(before))


def apply(
    path: Path,
    transform: Transform,
    *,
    validate: Validate,
    mode: int | None = None,
    backups: int = 10,
    expected_before: str | object | None = ...,
) -> Change:
    """Transform the file on disk under its lock and write the result safely.

    ``expected_before``: when given, refuse with ConfigDriftError if the file no longer holds that
    text (for callers that showed the user a plan and must not apply it to something else).
    """
    with file_lock(path):
        _remove_stale_temps(path)
        for _ in range(DRIFT_RETRIES):
            before = read_text(path)
            if expected_before is not ... and before != expected_before:
                raise ConfigDriftError(f"{path} changed since it was read")
            after = transform(before)
            validate(after)
            change = Change(path, before, after)
            if not change.changed:
                return change
            written, backup_id = _write_if_unchanged(path, before, after, mode, backups)
            if written:
                return dataclasses.replace(change, backup=backup_id)
        raise ConfigDriftError(f"{path} kept changing while it was being written ({DRIFT_RETRIES} attempts)")


def _write_if_unchanged(
    path: Path, before: str | None, after: str, mode: int | None, backups: int
) -> tuple[bool, str | None]:
    """Whether the file was replaced, and the id of the backup of ``before`` (None for a new file)."""
    backup_id = backup(path, before, keep=backups).id if before is not None else None
    with _temp_file(path, after, mode if mode is not None else _existing_mode(path)) as temp:
        _fault("before-replace")
        if read_text(path) != before:  # someone else (e.g. the assistant itself) wrote meanwhile
            return False, backup_id
        _replace(temp, path)
    _fault("replaced")
    return True, backup_id


def remove(path: Path, expected: str) -> bool:
    """Delete ``path`` if it still holds ``expected`` (False, and nothing done, when another program
    wrote it meanwhile), then fsync its directory so the removal lasts. The caller holds the file's
    lock and has backed the file up."""
    _fault("before-remove")
    if read_text(path) != expected:
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise WriteFailedError(f"cannot remove {path}: {exc.strerror}") from exc
    _fsync_dir(path.parent)
    _fault("removed")
    return True


def write_private(path: Path, text: str) -> None:
    """Atomically write a file only its owner can read (secrets file and the like); no backup."""
    with file_lock(path), _temp_file(path, text, 0o600) as temp:
        _replace(temp, path)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    lock_path = paths.data_dir() / "locks" / f"{_slug(path)}.lock"
    paths.make_dir(lock_path.parent)
    try:
        with FileLock(lock_path, timeout=LOCK_TIMEOUT_S):
            yield
    except Timeout as exc:
        raise ConfigFileError(
            f"{path} is locked by another mahavishnu process", hint="Wait for it to finish, then retry."
        ) from exc


@contextlib.contextmanager
def _temp_file(path: Path, text: str, mode: int | None) -> Iterator[Path]:
    """A fully written, fsynced sibling temp file; removed unless it was moved into place."""
    try:
        paths.make_dir(path.parent)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TEMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise WriteFailedError(f"cannot write in {path.parent}: {exc.strerror}") from exc
    temp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        _copy_owner_and_mode(path, temp, mode)
        _fault("temp-written")
        yield temp
    finally:
        temp.unlink(missing_ok=True)


def _remove_stale_temps(path: Path) -> None:
    """Temp files a killed writer left behind; safe to remove because we hold the file's lock."""
    for stale in path.parent.glob(f".{path.name}.*{_TEMP_SUFFIX}"):
        stale.unlink(missing_ok=True)


def _replace(temp: Path, path: Path) -> None:
    try:
        os.replace(temp, path)
    except OSError as exc:
        raise WriteFailedError(f"cannot replace {path}: {exc.strerror}") from exc
    _fsync_dir(path.parent)


def _existing_mode(path: Path) -> int | None:
    try:
        return path.stat().st_mode & 0o7777
    except (FileNotFoundError, NotADirectoryError):
        return None


def _copy_owner_and_mode(original: Path, temp: Path, mode: int | None) -> None:
    os.chmod(temp, mode if mode is not None else 0o666 & ~_umask())
    with contextlib.suppress(FileNotFoundError, NotADirectoryError, PermissionError):
        st = original.stat()
        if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
            os.chown(temp, st.st_uid, st.st_gid)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fault(step: str) -> None:
    if fault_hook is not None:
        fault_hook(step)


def _slug(path: Path) -> str:
    resolved = str(path.expanduser().absolute())
    return f"{path.name}-{hashlib.sha256(resolved.encode()).hexdigest()[:12]}"


# -- backups ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backup:
    id: str
    path: Path  # the config file it is a copy of
    file: Path  # the backup itself
    size: int


def _backup_dir(path: Path) -> Path:
    return paths.backups_dir() / _slug(path)


def backup(path: Path, text: str, *, keep: int) -> Backup:
    """Save ``text`` as the newest backup of ``path`` (0600: it may hold a token) and trim the ring."""
    directory = _backup_dir(path)
    paths.make_dir(directory)
    (directory / "source").write_text(source_key(path), encoding="utf-8")
    backup_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    while (directory / f"{backup_id}.bak").exists():  # same microsecond: keep ids unique and ordered
        time.sleep(1e-6)
        backup_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    target = directory / f"{backup_id}.bak"
    with _temp_file(target, text, 0o600) as temp:
        _replace(temp, target)
    for old in sorted(directory.glob("*.bak"))[:-keep]:
        old.unlink(missing_ok=True)
    return Backup(backup_id, path, target, len(text.encode()))


def source_key(path: Path) -> str:
    """How backups name the file they copy (``Backup.path`` holds this)."""
    return str(path.expanduser().absolute())


def list_backups(path: Path | None = None) -> list[Backup]:
    """Backups of one file, or of every file, newest first."""
    dirs = [_backup_dir(path)] if path is not None else sorted(paths.backups_dir().glob("*"))
    found = []
    for directory in dirs:
        source = directory / "source"
        if not source.exists():
            continue
        original = Path(source.read_text(encoding="utf-8"))
        for file in directory.glob("*.bak"):
            found.append(Backup(file.stem, original, file, file.stat().st_size))
    return sorted(found, key=lambda b: b.id, reverse=True)


def find_backup(path: Path, backup_id: str | None) -> Backup:
    """One backup of ``path`` (the newest when no id is given), or NotFoundError."""
    candidates = list_backups(path)
    if backup_id is not None:
        candidates = [b for b in candidates if b.id == backup_id]
    if not candidates:
        which = f"backup '{backup_id}'" if backup_id else "backup"
        raise NotFoundError(f"no {which} of {path} found", hint="List them with `mahavishnu ai backups`.")
    return candidates[0]


def restore(path: Path, backup_id: str | None, *, validate: Validate, backups: int = 10) -> Change:
    """Put a backup (the newest when no id is given) back in place, itself through ``apply`` so the
    current content is backed up first and a rollback can be rolled back."""
    text = find_backup(path, backup_id).file.read_text(encoding="utf-8")
    return apply(path, lambda _old: text, validate=validate, backups=backups)
