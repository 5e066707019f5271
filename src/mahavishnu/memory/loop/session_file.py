"""An assistant's session file, read as a hook may read it: safely, in bounded pieces.

A hook's JSON names the file to read (``transcript_path``), and whoever can write that JSON (a
hostile repository's hook configuration, a broken assistant) could name anything: a FIFO on a hung
mount, ``/dev/zero``, ``/etc/shadow``, a 300 MB log. So:

* ``open_session`` opens only a regular file the user owns, without blocking (a FIFO or a device
  is refused at once instead of read forever); a hook's path must also lie, links resolved, under
  the assistant's own session folder (``within``).
* ``read_pieces`` reads complete lines from an offset, at most ``PIECE_BYTES`` at a time and no
  further than the file's size when opened (the assistant may be appending): a capture resumes
  where the last one stopped, so a long session costs only its new tail, and its memory is bounded
  by one piece. A line longer than a piece is skipped (and counted), not held.
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mahavishnu.clean_text import clean_tree
from mahavishnu.errors import InvalidInputError, NotFoundError
from mahavishnu.wording import a

#: The most one read holds: the lines of one piece are parsed and stored before the next is read.
PIECE_BYTES = 16 * 1024 * 1024
_SCAN_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Piece:
    """Complete lines of a session file: ``data`` spans ``start`` to ``end`` (the next piece's start)."""

    data: bytes
    start: int
    end: int
    skipped_lines: int  #: lines longer than a piece, passed over


@dataclass(frozen=True)
class OpenSession:
    """A session file opened for reading: its descriptor, identity and size when opened."""

    fd: int
    path: Path
    device: int
    inode: int
    size: int

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> OpenSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_session(path: Path, *, what: str, within: Path | None = None) -> OpenSession:
    """``path`` opened for reading when it is a regular file of this user (and, with ``within``,
    lies under that folder once links are resolved); a clear error for anything else."""
    if within is not None:  # first: say nothing of what exists elsewhere (it checks the spelling too)
        require_within(path, within, what)
    else:
        _check_spelling(path)
    resolved = _resolved(path, what)
    try:
        fd = os.open(resolved, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as error:
        raise InvalidInputError(
            f"cannot read {path}: {error.strerror or error}", hint="Check the file's permissions."
        ) from error
    info = os.fstat(fd)
    problem = _not_a_session_file(info)
    if problem is not None:
        os.close(fd)
        raise InvalidInputError(
            f"refusing to read {path}: {problem}", hint=f"Pass {a(what)} session file (a .jsonl log)."
        )
    return OpenSession(fd, resolved, info.st_dev, info.st_ino, info.st_size)


def _resolved(path: Path, what: str) -> Path:
    try:
        return path.expanduser().resolve(strict=True)
    except FileNotFoundError as error:
        raise NotFoundError(
            f"No {what} session at {path}",
            hint="Pass one of the assistant's session files (.jsonl), or the folder that holds them.",
        ) from error
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop
        raise InvalidInputError(f"cannot read {path}: {error}") from error


def require_within(path: Path, folder: Path, what: str) -> None:
    """Refuse ``path`` unless, links resolved, it lies under ``folder`` (where ``what`` keeps its
    sessions): what a hook's ``transcript_path`` must satisfy."""
    _check_spelling(path)
    resolved = path.expanduser().resolve()
    if not _is_under(resolved, folder):
        raise InvalidInputError(
            f"refusing to read {path}: not {a(what)} session file (those are under {folder})",
            hint="A hook's transcript_path must name the assistant's own session file.",
        )


def session_files(root: Path, *patterns: str) -> list[Path]:
    """Every regular file under ``root`` that one of ``patterns`` names (``**/NAME`` at any depth,
    else one name per level: ``*/chats/*.jsonl``), sorted, in one walk that no link takes out of ``root``:
    linked folders are not entered, a linked file counts only when it resolves under ``root``, and
    a ``root`` that resolves to a folder holding HOME (``~/.claude/projects -> /``) is refused."""
    base = root.expanduser().resolve()
    if Path.home().resolve().is_relative_to(base):
        raise InvalidInputError(
            f"refusing to read {root}: it leads to {base}, which holds your home folder",
            hint="Make it the assistant's own session folder again (not a link to / or to HOME).",
        )
    wanted = [pattern.split("/") for pattern in patterns]
    deepest = None if any(parts[0] == "**" for parts in wanted) else max(len(parts) for parts in wanted) - 1
    found: list[tuple[tuple[str, ...], Path]] = []
    for folders, entries in _walk(root, deepest):
        # (a pattern's folder parts are matched once per folder, not once per file in it)
        names = [parts[-1] for parts in wanted if _folders_named(parts, folders)]
        for entry in entries:
            if any(fnmatch.fnmatchcase(entry.name, name) for name in names) and _regular_within(entry, base):
                found.append(((*folders, entry.name), Path(entry.path)))
    found.sort(key=lambda item: item[0])  # (as sorting the paths would, without pathlib's compare)
    return [path for _, path in found]


def _walk(root: Path, deepest: int | None) -> Iterator[tuple[tuple[str, ...], list[os.DirEntry[str]]]]:
    """Each folder under ``root`` (as its names from ``root``) with its entries that are not
    folders, at most ``deepest`` folders down (None: all): one listing per folder, whose entries
    know their kind without a stat each. A linked folder is not entered (one of the entries)."""
    stack: list[tuple[str, tuple[str, ...]]] = [(str(root), ())]
    while stack:
        folder, folders = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:  # gone meanwhile, unreadable: as os.walk, passed over
            continue
        files = []
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                files.append(entry)
            elif deepest is None or len(folders) < deepest:
                stack.append((entry.path, (*folders, entry.name)))
        yield folders, files


def _folders_named(parts: list[str], folders: tuple[str, ...]) -> bool:
    """Whether files in ``folders`` may match the pattern ``parts``: any depth for ``**/NAME``,
    else each folder as the pattern names it."""
    if parts[0] == "**":
        return True
    if len(folders) != len(parts) - 1:
        return False
    return all(fnmatch.fnmatchcase(folder, want) for folder, want in zip(folders, parts, strict=False))


def _regular_within(entry: os.DirEntry[str], base: Path) -> bool:
    """A regular file (its kind as listed: no stat); through a link only when it resolves under
    ``base``."""
    try:
        if entry.is_file(follow_symlinks=False):
            return True
        if not entry.is_symlink():
            return False  # a FIFO, socket or device
        path = Path(entry.path)
        return path.resolve().is_relative_to(base) and stat.S_ISREG(path.stat().st_mode)
    except (OSError, RuntimeError):  # gone meanwhile, a link loop
        return False


def _check_spelling(path: Path) -> None:
    """Refuse a path no file system can name (a NUL, a lone surrogate from a hook's JSON)."""
    try:
        os.fsencode(path)
    except UnicodeEncodeError:
        valid = False
    else:
        valid = "\0" not in str(path)
    if not valid:
        raise InvalidInputError(f"not a file path: {str(path)!r}", hint="Pass the session file's path.")


def _is_under(path: Path, folder: Path) -> bool:
    try:
        return path.is_relative_to(folder.expanduser().resolve())
    except OSError:
        return False


def _not_a_session_file(info: os.stat_result) -> str | None:
    if stat.S_ISDIR(info.st_mode):
        return "it is a directory"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file (a pipe, socket or device)"
    if info.st_uid != os.getuid():
        return "it belongs to another user"
    return None


def session_entry(raw: bytes) -> object:
    """One line of a session file as JSON, its text as any store takes it: a lone surrogate (half an
    emoji Node's JSON cut, or its bytes) and bytes that are not UTF-8 (a damaged file: the line's
    turn was lost whole) as U+FFFD, no NUL (``clean_text``). ValueError for a line that is not JSON
    or is nested too deeply to read (a capture skips it and goes on: one line that raised stopped
    every capture of the session at it)."""
    try:
        try:
            value = json.loads(raw)
        except UnicodeDecodeError:
            value = json.loads(raw.decode("utf-8", "replace"))
        # (only a \u escape or the UTF-8 bytes of a surrogate make one: most lines are kept as read)
        return clean_tree(value) if b"\\u" in raw or b"\xed" in raw else value
    except RecursionError:
        raise ValueError("nested too deeply") from None


def read_pieces(session: OpenSession, start: int = 0, *, whole: bool = False) -> Iterator[Piece]:
    """The complete lines from ``start`` to the size the file had when opened, a piece at a time;
    a last line without its newline is left for the next read (the assistant is writing it),
    unless the file is read ``whole`` (imported by hand: it is complete)."""
    position = start
    while position < session.size:
        data = os.pread(session.fd, min(PIECE_BYTES, session.size - position), position)
        if not data:
            return
        cut = data.rfind(b"\n") + 1
        if cut:
            yield Piece(data[:cut], position, position + cut, 0)
            position += cut
            continue
        if position + len(data) >= session.size:
            if whole:
                yield Piece(data, position, position + len(data), 0)
            return  # (else) an unfinished last line
        after = _next_line(session, position + len(data))
        if after is None:
            return
        yield Piece(b"", position, after, 1)
        position = after


def _next_line(session: OpenSession, position: int) -> int | None:
    """The offset after the next newline from ``position``, or None when the file ends first."""
    while position < session.size:
        data = os.pread(session.fd, min(_SCAN_BYTES, session.size - position), position)
        if not data:
            return None
        newline = data.find(b"\n")
        if newline >= 0:
            return position + newline + 1
        position += len(data)
    return None
