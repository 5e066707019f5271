"""The one way Mahavishnu changes a user's config file.

``apply`` takes a pure transform (old text -> new text) and, under a per-file lock: re-reads the file,
applies the transform to what is on disk *now* (so a concurrent edit is built on, never lost),
validates the result, backs the old version up into a ring, writes a temp file in the same
directory, fsyncs it, renames it over the original (keeping mode and owner), and fsyncs the
directory. A crash at any step leaves the old file or the new one, never a mix.

Outside writers (the assistant itself, an editor) are not lost: just before the rename the file is
read once more (a change starts over on the new text), and on Linux the rename is an atomic
*exchange* (``renameat2(RENAME_EXCHANGE)``), so the file it displaced is still there to look at: if
another program replaced the file in the instant between that last read and the exchange, its text
is what the next attempt builds on. What remains: a program that opened the file before the
exchange and writes into it after (an in-place writer mid-write) writes into the displaced copy.

A symlinked config file (GNU stow, chezmoi, yadm) is written through the link: lock, temp file and
rename happen beside the link's target, and the link stays; a dangling link is an error. A file the
user made read-only (no owner write bit) is refused unless ``force`` (``mahavishnu --force``), and
then keeps its mode. Before any write, a transaction a killed process left half done is rolled
back (``transaction.recover``), so a later edit never builds on half a switch.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import functools
import hashlib
import os
import re
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from mahavishnu import paths
from mahavishnu.errors import ConfigDriftError, ConfigFileError, NotFoundError, WriteFailedError

# (the module, not ``from mahavishnu.files import``: that waits for the package, whose __init__ may be
# importing this module on another thread: a deadlock)
from mahavishnu.files.text_diff import unified_diff
from mahavishnu.masking import mask, mask_text

Transform = Callable[[str | None], str]
Validate = Callable[[str], None]

#: Test seam: called with the name of each write step ("temp-written", "before-replace", "checked"
#: (after the last re-read, right before the rename), "replaced") and removal step ("before-remove",
#: "removed").
fault_hook: Callable[[str], None] | None = None

#: Registered by the modules above this one that keep state across writes (``files/__init__.py``
#: imports them, so any use of this package has them): run before every write (``transaction``
#: rolls back a switch a killed process left half done), and the backup ids a prune must keep
#: (``switch_log``: the backups ``ai rollback`` needs).
_before_write: list[Callable[[], object]] = []
_pinned_backups: list[Callable[[Path], set[str]]] = []


def before_every_write(hook: Callable[[], object]) -> None:
    _before_write.append(hook)


def pin_backups_with(finder: Callable[[Path], set[str]]) -> None:
    _pinned_backups.append(finder)


#: Set by ``mahavishnu --force``: read-only files are written anyway (their mode is kept).
_force_read_only: ContextVar[bool] = ContextVar("force_read_only", default=False)

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
        lines = unified_diff(
            (self.before or "").splitlines(keepends=True),
            self.after.splitlines(keepends=True),
            fromfile=f"{self.path} (current)" if self.before is not None else "/dev/null",
            tofile=f"{self.path} (new)",
        )
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        for secret in secrets:
            if secret:
                text = text.replace(secret, mask(secret))
        return mask_text(text)


def read_text(path: Path) -> str | None:
    """The file's text exactly as it is (CRLF line endings included: no newline translation), or
    None if it does not exist; unreadable files are a clear error."""
    try:
        # Non-blocking, so a FIFO in a config file's place is refused below instead of waiting
        # for a writer forever (it has no effect on a regular file); a directory opens too.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except PermissionError as exc:
        raise ConfigFileError(
            f"cannot read {path}: permission denied", hint="Check the file's permissions."
        ) from exc
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise link_error(path, exc) from exc
    kind = os.fstat(fd).st_mode
    if not stat.S_ISREG(kind):
        os.close(fd)
        what = "a directory" if stat.S_ISDIR(kind) else "not a regular file"
        raise ConfigFileError(
            f"{path} is {what}, not a config file", hint="Move it away; nothing was written."
        )
    try:
        with open(fd, encoding="utf-8", newline="") as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        raise ConfigFileError(
            f"{path} is not UTF-8 text", hint="Fix or move the file; nothing was written."
        ) from exc


def check_writable(path: Path, transform: Transform | None) -> None:
    """Refuse now what ``apply`` (``transform``) or ``remove`` (None) would refuse at ``path``: a
    dangling or looping link, a directory or other non-file, unreadable or non-UTF-8 text, a
    transform's own refusal, or a read-only file it would change (``mahavishnu --force`` aside).
    A transaction checks every file so before it writes the first (``transaction.run``)."""
    target = write_target(path)
    before = read_text(target)
    if before is None:
        return
    if transform is None or keep_line_endings(before, transform(before)) != before:
        _refuse_read_only(target, None)


def plan(path: Path, transform: Transform) -> Change:
    """What ``apply`` would write now, without writing (for ``--dry-run``)."""
    write_target(path)  # a dangling link or a loop is the same error as for ``apply``
    before = read_text(path)
    return Change(path, before, keep_line_endings(before, transform(before)))


def keep_line_endings(before: str | None, after: str) -> str:
    """``after`` with the line endings of ``before``: when every line of the file ended in CRLF, a
    line a writer added with a bare LF (tomlkit, a new block) gets CRLF too. A file with LF or mixed
    endings gets what the writer made of it."""
    if before is None or "\r\n" not in before or _BARE_LF.search(before) or not _BARE_LF.search(after):
        return after
    return _BARE_LF.sub("\r\n", after)


_BARE_LF = re.compile(r"(?<!\r)\n")


def keep_final_newlines(before: str | None, after: str) -> str:
    """``after`` ending with the line breaks ``before`` ended with, byte for byte (LF or CRLF; none
    when it had none; one LF for a new file): tomlkit adds or leaves blank lines at the end (the one
    before a table it took out)."""
    body = _FINAL_BREAKS.sub("", after)
    if not body:
        return ""
    tail = before[len(_FINAL_BREAKS.sub("", before)) :] if before and before.strip() else "\n"
    return body + tail


_FINAL_BREAKS = re.compile(r"(?:\r?\n)+\Z")


def apply(
    path: Path,
    transform: Transform,
    *,
    validate: Validate,
    mode: int | None = None,
    backups: int = 10,
    expected_before: str | object | None = ...,
    line_endings: bool = True,
    back_up: bool = True,
) -> Change:
    """Transform the file on disk under its lock and write the result safely.

    The file keeps its line endings (``keep_line_endings``) unless ``line_endings`` is false (a
    restore puts back exactly what the backup holds).

    ``expected_before``: when given, refuse with ConfigDriftError if the file no longer holds that
    text (for callers that showed the user a plan and must not apply it to something else).
    ``path`` may be a symlink: its target is written and the link stays.
    ``back_up``: false when the caller holds a backup of what the file had already (a transaction
    that writes the same file twice keeps the first).
    """
    for hook in _before_write:
        hook()
    target = write_target(path)
    with file_lock(target):
        _remove_stale_temps(target)
        for _ in range(DRIFT_RETRIES):
            before = read_text(target)
            if expected_before is not ... and before != expected_before:
                raise ConfigDriftError(f"{path} changed since it was read")
            after = transform(before)
            if line_endings:
                after = keep_line_endings(before, after)
            validate(after)
            change = Change(path, before, after)
            if not change.changed:
                return change
            write_mode = _refuse_read_only(target, mode)
            keep = backups if back_up else None
            written, backup_id = _write_if_unchanged(path, target, before, after, write_mode, keep)
            if written:
                return dataclasses.replace(change, backup=backup_id)
        raise ConfigDriftError(f"{path} kept changing while it was being written ({DRIFT_RETRIES} attempts)")


def write_target(path: Path) -> Path:
    """The file a write to ``path`` changes: ``path`` itself, or the end of its chain of symlinks.
    A link whose target does not exist (even when the target's folder does: writing would create a
    file the user never made, say an untracked one in a dotfiles repository) or a loop of links is
    an error naming the link and its target."""
    if not path.is_symlink():
        return path
    try:
        target = Path(os.path.realpath(path, strict=True))
    except OSError as exc:
        raise link_error(path, exc) from exc
    if target.is_dir():
        raise ConfigFileError(
            f"{path} is a symlink to {target}, a directory, not a config file",
            hint=f"Point the link at a file (`ln -sfn FILE {path}`) or remove it; nothing was written.",
        )
    return target


def link_error(path: Path, exc: OSError) -> ConfigFileError:
    """The error for a symlink that leads nowhere: a loop, or a target that does not exist."""
    remove = "or remove the link to let Mahavishnu create a plain file; nothing was written."
    if exc.errno == errno.ELOOP:
        return ConfigFileError(
            f"{path} is a symlink loop ({_link_chain(path)})",
            hint=f"Point {path} at a real file (`ln -sfn FILE {path}`), {remove}",
        )
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        target = Path(os.path.realpath(path))
        return ConfigFileError(
            f"{path} is a symlink to {target}, which does not exist",
            hint=f"Create {target} (or restore it where it is kept), point the link at an existing "
            f"file, {remove}",
        )
    reason = exc.strerror or str(exc)
    return ConfigFileError(
        f"cannot follow the symlink {path}: {reason}", hint=f"Check the link and its target, {remove}"
    )


def _link_chain(path: Path, limit: int = 8) -> str:
    """``a -> b -> a``: the links followed from ``path`` until one repeats (at most ``limit``)."""
    chain = [str(path)]
    seen: set[str] = set()
    current = Path(os.path.abspath(path))
    while current.is_symlink() and str(current) not in seen and len(chain) <= limit:
        seen.add(str(current))
        try:
            nxt = Path(os.path.normpath(current.parent / os.readlink(current)))
        except OSError:
            break
        chain.append(str(nxt))
        current = nxt
    return " -> ".join(chain)


def _refuse_read_only(target: Path, mode: int | None) -> int | None:
    """The mode to write with; a file without its owner's write bit is refused unless forced, and
    then keeps its mode."""
    existing = _existing_mode(target)
    if existing is None or existing & 0o200:
        return mode
    if not _force_read_only.get():
        raise WriteFailedError(
            f"{target} is read-only (mode {existing:o}): refusing to overwrite it",
            hint=f"Make it writable (`chmod u+w {target}`), or run the command as `mahavishnu --force ...`.",
        )
    return existing


@contextlib.contextmanager
def allow_read_only(enabled: bool = True) -> Iterator[None]:
    """Within this block, read-only files are written (``mahavishnu --force``), keeping their mode."""
    token = _force_read_only.set(enabled)
    try:
        yield
    finally:
        _force_read_only.reset(token)


def force_read_only(enabled: bool) -> None:
    """``allow_read_only`` for the rest of this process (the CLI's ``--force``)."""
    _force_read_only.set(enabled)


def _write_if_unchanged(
    path: Path, target: Path, before: str | None, after: str, mode: int | None, backups: int | None
) -> tuple[bool, str | None]:
    """Whether the file was replaced (False: another program wrote it meanwhile, and that text is in
    place for the next attempt), and the id of the backup of ``before`` (None for a new file, or when
    ``backups`` is None: no backup taken)."""
    backup_id = None
    if before is not None and backups is not None:
        backup_id = backup(path, before, keep=backups).id
    links = _links(target)
    with _temp_file(target, after, mode if mode is not None else _existing_mode(target)) as temp:
        _fault("before-replace")
        if read_text(target) != before:  # someone else (e.g. the assistant itself) wrote meanwhile
            return False, backup_id
        _fault("checked")
        if not _swap_in(temp, target, before):
            return False, backup_id
    _fault("replaced")
    if links > 1:  # (a symlink is written through: ``write_target``; a hard link cannot be)
        sys.stderr.write(
            f"mahavishnu: {target} had {links} hard links: the new text is in a new file there, and "
            "the other links still hold what it held (use a symlink to share one file)\n"
        )
    return True, backup_id


def _links(path: Path) -> int:
    try:
        return path.stat().st_nlink
    except OSError:
        return 1


def _swap_in(temp: Path, target: Path, before: str | None) -> bool:
    """Move ``temp`` over ``target`` if it still holds ``before`` at that instant. On Linux a new
    file is renamed with RENAME_NOREPLACE (fails if someone created it) and an existing one is
    exchanged with RENAME_EXCHANGE, then the displaced file is read: if an outside write landed in
    the gap, it is put back (and False returned, so the caller builds on it). Elsewhere: a plain
    rename, right after the last check."""
    flag = _RENAME_NOREPLACE if before is None else _RENAME_EXCHANGE
    outcome = _renameat2(temp, target, flag)
    if outcome is None:  # not supported here
        _replace(temp, target)
        return True
    _fsync_dir(target.parent)
    if not outcome:  # RENAME_NOREPLACE: the file was created meanwhile
        return False
    if before is None:
        return True
    displaced = read_text(temp)
    if displaced == before:
        return True
    # ``temp`` now holds the outside text, ``target`` ours: swap back (atomic again), retry on it.
    _renameat2(temp, target, _RENAME_EXCHANGE)
    _fsync_dir(target.parent)
    return False


_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2(source: Path, destination: Path, flag: int) -> bool | None:
    """Linux ``renameat2``: True when done, False when RENAME_NOREPLACE found the destination,
    None where the call or the flag is not available (other OS, filesystem)."""
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is None:
        return None
    src, dst = os.fsencode(source), os.fsencode(destination)
    if renameat2(_AT_FDCWD, src, _AT_FDCWD, dst, flag) == 0:
        return True
    error = ctypes.get_errno()
    if error == errno.EEXIST and flag == _RENAME_NOREPLACE:
        return False
    if error == errno.ENOENT and flag == _RENAME_EXCHANGE:  # removed meanwhile: nothing to displace
        return _renameat2(source, destination, _RENAME_NOREPLACE)
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return None
    raise WriteFailedError(f"cannot replace {destination}: {os.strerror(error)}")


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def remove(path: Path, expected: str) -> bool:
    """Delete ``path`` if it still holds ``expected`` (False, and nothing done, when another program
    wrote it meanwhile), then fsync its directory so the removal lasts. The caller holds the file's
    lock and has backed the file up."""
    _fault("before-remove")
    if read_text(path) != expected:
        return False
    _refuse_read_only(path, None)  # a file the user made read-only is not deleted either
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise WriteFailedError(f"cannot remove {path}: {exc.strerror}") from exc
    _fsync_dir(path.parent)
    _fault("removed")
    return True


def write_private(path: Path, text: str, *, lock: bool = True, errors: str = "strict") -> None:
    """Atomically write a file only its owner can read (secrets file and the like); no backup.
    ``lock=False`` for a file no one else writes (a new, uniquely named one): no lock file for it;
    ``errors`` as ``open()`` takes it (``surrogateescape``: a path's bytes as they are)."""
    with file_lock(path) if lock else contextlib.nullcontext():
        if lock:
            _remove_stale_temps(path)
        with _temp_file(path, text, 0o600, errors) as temp:
            _replace(temp, path)


@contextlib.contextmanager
def held_now(lock_path: Path, refused: Exception) -> Iterator[None]:
    """Hold the lock file ``lock_path`` for the block, or raise ``refused`` at once when another
    process (or thread) holds it. The OS lets go of it when its holder dies: a killed run never
    blocks the next."""
    lock = FileLock(lock_path, timeout=0, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise refused from None
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """The lock of one file (of its symlink target): one lock file per file, ever."""
    lock_path = paths.data_dir() / "locks" / f"{_slug(write_target(path))}.lock"
    try:
        paths.make_dir(lock_path.parent)
        with FileLock(lock_path, timeout=LOCK_TIMEOUT_S, mode=0o600):
            yield
    except Timeout as exc:
        raise ConfigFileError(
            f"{path} is locked by another mahavishnu process", hint="Wait for it to finish, then retry."
        ) from exc
    except PermissionError as exc:
        if exc.filename is None or not str(exc.filename).startswith(str(lock_path.parent)):
            raise
        raise WriteFailedError(
            f"cannot create the lock file in {lock_path.parent}: permission denied",
            hint=f"Make {lock_path.parent} writable by you (it is Mahavishnu's own directory).",
        ) from exc


@contextlib.contextmanager
def _temp_file(path: Path, text: str, mode: int | None, errors: str = "strict") -> Iterator[Path]:
    """A fully written, fsynced sibling temp file; removed unless it was moved into place."""
    try:
        paths.make_dir(path.parent)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TEMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise WriteFailedError(f"cannot write in {path.parent}: {exc.strerror}") from exc
    temp = Path(name)
    try:
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors=errors, newline="") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:  # a full disk, a quota: the error names no file, so it is said here
            raise WriteFailedError(
                f"cannot write {path}: {exc.strerror}",
                hint=f"Make room on the disk that holds {path.parent}, then retry; nothing was changed.",
            ) from exc
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
    # a new file as the umask makes it, but never writable by others: an assistant's config names
    # the commands (hooks, a key helper) it runs as its user (under a umask of 000, 0666 it was)
    os.chmod(temp, mode if mode is not None else 0o644 & ~_umask())
    with contextlib.suppress(FileNotFoundError, NotADirectoryError, PermissionError):
        st = original.stat()
        if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
            os.chown(temp, st.st_uid, st.st_gid)


def _umask() -> int:
    """The process's umask, read from /proc where it can be: setting it to learn it (the fallback)
    leaves it 0 for an instant, in which another thread's new file would be world-writable."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
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
    # fsencode: a path's name may hold bytes that are not UTF-8 (a surrogate in ``str``), which
    # ``str.encode()`` refuses; for every other path the same bytes, so the same slug as before
    resolved = os.fsencode(path.expanduser().absolute())
    return f"{path.name}-{hashlib.sha256(resolved).hexdigest()[:12]}"


# -- backups ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backup:
    id: str
    path: Path  # the config file it is a copy of
    file: Path  # the backup itself
    size: int

    def text(self) -> str:
        """What the backup holds, exactly (CRLF line endings included)."""
        text = read_text(self.file)
        if text is None:
            raise NotFoundError(
                f"backup '{self.id}' of {self.path} is gone", hint="List them with `mahavishnu ai backups`."
            )
        return text

    def mode(self) -> int | None:
        """The permission bits the file had when the backup was taken (None: not recorded, a backup
        older than the record): a rollback that brings back a removed file gives it them."""
        try:
            return int(self.file.with_suffix(_MODE_SUFFIX).read_text(encoding="ascii"), 8) & 0o777
        except (OSError, ValueError):
            return None


#: Beside a backup ``ID.bak``, ``ID.mode``: the file's permission bits then, in octal.
_MODE_SUFFIX = ".mode"


def _backup_dir(path: Path) -> Path:
    return paths.backups_dir() / _slug(path)


def backup(path: Path, text: str, *, keep: int) -> Backup:
    """Save ``text`` as the newest backup of ``path`` (0600: it may hold a token) and trim the ring.
    The caller holds the file's lock, so temp files a killed backup left are stale."""
    directory = _backup_dir(path)
    try:
        paths.make_dir(directory)
        # the path's own bytes: a folder's name need not be UTF-8 (list_backups reads them back)
        write_private(directory / "source", source_key(path), lock=False, errors="surrogateescape")
    except PermissionError as exc:
        raise WriteFailedError(
            f"cannot write a backup in {directory}: permission denied",
            hint=f"Make {paths.backups_dir()} writable by you (it is Mahavishnu's own directory).",
        ) from exc
    for stale in directory.glob(f".*{_TEMP_SUFFIX}"):
        stale.unlink(missing_ok=True)
    backup_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    while (directory / f"{backup_id}.bak").exists():  # same microsecond: keep ids unique and ordered
        time.sleep(1e-6)
        backup_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    target = directory / f"{backup_id}.bak"
    with _temp_file(target, text, 0o600) as temp:
        _replace(temp, target)
    mode = _existing_mode(path)
    if mode is not None:
        write_private(target.with_suffix(_MODE_SUFFIX), f"{mode & 0o777:o}\n", lock=False)
    _prune(path, directory, keep)
    return Backup(backup_id, path, target, len(text.encode()))


def _prune(path: Path, directory: Path, keep: int) -> None:
    """Keep the newest ``keep`` backups, and every backup a recorded switch took: ``ai rollback``
    puts those back however many edits (hooks, permissions) came after."""
    found = sorted(directory.glob("*.bak"))
    if len(found) <= keep:
        return
    pinned = {backup for finder in _pinned_backups for backup in finder(path)}
    for old in [f for f in found if f.stem not in pinned][:-keep]:
        old.unlink(missing_ok=True)
        old.with_suffix(_MODE_SUFFIX).unlink(missing_ok=True)


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
        original = Path(source.read_text(encoding="utf-8", errors="surrogateescape"))
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
    text = find_backup(path, backup_id).text()
    return apply(path, lambda _old: text, validate=validate, backups=backups, line_endings=False)


def missing_parents(path: Path) -> list[Path]:
    """The folders above ``path`` that do not exist yet (a write would create them), deepest first."""
    out, folder = [], path.parent
    while not folder.exists() and folder != folder.parent:
        out.append(folder)
        folder = folder.parent
    return out


def remove_empty_folders(folders: Iterable[str]) -> set[str]:
    """Remove those of ``folders`` (ones Mahavishnu created) that are empty now, deepest first; the
    ones removed or gone already. A folder the user keeps something in stays."""
    gone = set()
    for folder in sorted(folders, key=lambda name: name.count(os.sep), reverse=True):
        try:
            Path(folder).rmdir()
        except FileNotFoundError:
            pass
        except OSError:  # not empty: it stays
            continue
        gone.add(folder)
    return gone
