"""Capture: every assistant's sessions become memory, from a hook or as a backfill.

``import_session`` reads one session file of Claude Code, Codex, Qwen Code or Gemini CLI
(``session_logs.py``) and stores its turns through ``conversations.store_turns``: each turn keeps
a stable id (``<agent>:<session>:<entry id>``), so importing the same file again, as the
assistant's stop hook does after every turn, adds only the new turns. ★ Insights are collected
by ``store_turns``; decisions the user states ("we decided to…", "Decision: …") become
``decision`` memories of the project as well, so they come back at the next session's start.

``capture_hook`` takes the JSON an assistant's hook receives (``transcript_path``, ``session_id``,
``cwd``) and imports that session; ``import_history`` backfills every session an assistant kept.
Both read only the assistant's own session files (``session_file``: a regular file of this user;
a hook's path must lie under the assistant's session folder), in pieces, from where the last
capture of the file stopped (its ``Mark``, kept in the store), for at most ``CAPTURE_SECONDS``:
a long session costs only its new tail, and what one capture leaves, the next one reads. At most
one capture of a session file runs at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mahavishnu import paths, telemetry
from mahavishnu.errors import (
    InvalidInputError,
    MahavishnuError,
    NotFoundError,
    QueuedOfflineError,
    ServerUnreachableError,
    given_path,
    wrong_type,
)
from mahavishnu.json_types import JSONReadable
from mahavishnu.memory.core.given import check_store
from mahavishnu.memory.core.outbox import Outbox
from mahavishnu.memory.core.projects import project_for
from mahavishnu.memory.loop.conversations import TranscriptImport, store_transcript_turns
from mahavishnu.memory.loop.session_file import OpenSession, Piece, open_session, read_pieces
from mahavishnu.memory.loop.session_logs import (
    AGENT_IDS,
    SOURCES,
    Tool,
    find_sessions,
    parse_piece,
    session_root,
)
from mahavishnu.memory.loop.transcripts import Transcript

if TYPE_CHECKING:
    from mahavishnu.memory.core.store import MemoryStore


#: How long one capture reads and stores before it stops; the next capture goes on from there.
CAPTURE_SECONDS = 120.0
#: How long a capture waits for another capture of the same session file to finish.
LOCK_SECONDS = 30.0
_MARK_PREFIX = "capture:"
HEAD_BYTES = 4096


@dataclass(frozen=True)
class Mark:
    """How far the captures of one session file got, kept in the store's meta (so a store restored
    from a backup, or another store, reads the file again from where that store stands)."""

    device: int
    inode: int
    offset: int  #: the captures read every complete line before this byte
    turns: int  #: the turns found before ``offset`` (the next piece's turns are numbered on)
    session: str | None  #: the session id and working directory, from the file's first lines
    cwd: str | None
    #: A digest of the file's first ``head_size`` bytes: another file at the path (a reused inode) differs.
    head: str = ""
    head_size: int = 0

    @classmethod
    def start(cls, session: OpenSession) -> Mark:
        return cls(session.device, session.inode, 0, 0, None, None)

    def after(self, piece: Piece, transcript: Transcript) -> Mark:
        if self.offset > 0:
            return dataclasses.replace(self, offset=piece.end, turns=self.turns + len(transcript.turns))
        return dataclasses.replace(
            self,
            offset=piece.end,
            turns=len(transcript.turns),
            session=transcript.session_id,
            cwd=transcript.cwd,
            head=_digest(piece.data[:HEAD_BYTES]),
            head_size=min(HEAD_BYTES, len(piece.data)),
        )

    def fits(self, session: OpenSession) -> bool:
        """Whether ``session`` is the file this mark was taken of, grown or not."""
        if (self.device, self.inode) != (session.device, session.inode) or self.offset > session.size:
            return False
        return _digest(os.pread(session.fd, self.head_size, 0)) == self.head


def import_session(
    store: MemoryStore, tool: Tool, path: Path | str, *, project: str | None = None
) -> TranscriptImport:
    """Store the new turns (and their insights and decisions) of one session file, all of it."""
    check_store("import_session", store)
    _check_tool("import_session", tool)
    with open_session(Path(given_path("import_session", path)), what=SOURCES[tool].label) as session:
        return _import_pieces(store, tool, session, Mark.start(session), project=project, whole=True)


def _check_tool(function: str, tool: object) -> None:
    """A caller of the public API named an assistant whose sessions are read (not a KeyError)."""
    hint = f"Use one of: {', '.join(SOURCES)}."
    if not isinstance(tool, str):
        raise wrong_type(function, "an assistant's name", tool, hint=hint)
    if tool not in SOURCES:
        raise InvalidInputError(f"unknown assistant {tool[:40]!r}", hint=hint)


def store_transcript(
    store: MemoryStore, tool: Tool, transcript: Transcript, *, project: str | None = None
) -> TranscriptImport:
    report, _new = store_transcript_turns(store, transcript, AGENT_IDS[tool], project)  # decisions too
    return report


def import_history(
    store: MemoryStore,
    tool: Tool,
    root: Path | str | None = None,
    *,
    project: str | None = None,
    on_error: Callable[[Path, MahavishnuError], None] | None = None,
) -> list[TranscriptImport]:
    """Import every session file of ``tool`` under ``root`` (default: where it keeps them), each
    from where its last capture stopped. A file that cannot be read is passed to ``on_error`` and
    skipped (raised when there is no ``on_error``): one damaged log must not stop a backfill."""
    check_store("import_history", store)
    _check_tool("import_history", tool)
    base = Path(given_path("import_history", root)).expanduser() if root is not None else None
    if tool == "opencode":  # a database, not session files
        from mahavishnu.memory.loop import opencode_sessions

        return opencode_sessions.import_history(store, base, project=project)
    if base is not None and base.is_file():
        return [import_session(store, tool, base, project=project)]
    reports = []
    for path in find_sessions(tool, base):
        try:
            reports.append(capture_file(store, tool, path, project=project))
        except (InvalidInputError, NotFoundError) as error:
            if on_error is None:
                raise
            on_error(path, error)
    return reports


def capture_hook(
    store: MemoryStore, tool: Tool, payload: Mapping[str, JSONReadable], *, within: Path | None = None
) -> TranscriptImport:
    """Import the new part of the session a hook's JSON names (``transcript_path``, which must be
    one of the assistant's own session files: under ``within``, by default where it keeps them);
    its project comes from the hook's ``cwd`` when the session file does not say."""
    check_store("capture_hook", store)
    _check_tool("capture_hook", tool)
    if not isinstance(payload, Mapping):  # (a JSON text: "'str' object has no attribute 'get'")
        raise wrong_type("capture_hook", "the hook's JSON object (parsed)", payload)
    if tool == "opencode":  # its session, by id, in its database
        from mahavishnu.memory.loop import opencode_sessions

        return opencode_sessions.capture_hook(store, payload, within=within)
    path = payload.get("transcript_path")
    if not isinstance(path, str) or not path:
        raise InvalidInputError(
            "the hook's JSON on standard input has no transcript_path",
            hint="Run this from an assistant's stop hook (see `mahavishnu memory hooks install`).",
        )
    cwd = payload.get("cwd")
    folder = within or session_root(tool)
    with telemetry.measure("capture", assistant=tool) as measured:
        try:
            report = capture_file(
                store, tool, Path(path), within=folder, cwd=cwd if isinstance(cwd, str) else None
            )
        except (InvalidInputError, NotFoundError):  # not one of its session files, or gone
            measured.set(outcome="refused")
            measured.count("refusals")
            raise
        except ServerUnreachableError as exc:
            measured.set(outcome="queued")
            raise queue_capture(
                store, tool, path, folder, cwd if isinstance(cwd, str) else None, exc
            ) from exc
        measured.count("turns", report.added)
    return report


def queue_capture(
    store: MemoryStore, tool: Tool, path: str, within: Path, cwd: str | None, cause: ServerUnreachableError
) -> ServerUnreachableError:
    """The store did not answer: the session file goes to the outbox (its path, never its text: the
    file stays, and its mark in the store says where the next capture goes on), to be captured
    again once the store is back (``sync.deliver``). What the capture had stored before it
    stopped is stored; the turns it could not store come back with that capture."""
    target = store.outbox_target
    if target is None:
        return cause
    body = {"tool": tool, "path": path, "within": str(within), "cwd": cwd}
    with Outbox() as box:
        box.put(target, "capture", [body])
        waiting = box.waiting(target).count
    return QueuedOfflineError(
        f"queued: the team store {target} is unreachable; this session's capture and {waiting - 1} "
        "other item(s) wait, delivered when it is back",
        hint="`mahavishnu team status` shows what waits; `mahavishnu team sync` delivers it now.",
        waiting=waiting,
    )


def capture_file(
    store: MemoryStore,
    tool: Tool,
    path: Path,
    *,
    within: Path | None = None,
    cwd: str | None = None,
    project: str | None = None,
) -> TranscriptImport:
    """Import what was added to a session file since its last capture (one capture of a file at a
    time; ``within``: the folder the file must lie under)."""
    with open_session(path, what=SOURCES[tool].label, within=within) as session, _one_capture(session):
        mark = _load_mark(store, tool, session)
        return _import_pieces(store, tool, session, mark, project=project, cwd=cwd, keep=True)


def _import_pieces(
    store: MemoryStore,
    tool: Tool,
    session: OpenSession,
    mark: Mark,
    *,
    project: str | None,
    cwd: str | None = None,
    keep: bool = False,
    whole: bool = False,
) -> TranscriptImport:
    """Store the pieces from ``mark`` on for at most ``CAPTURE_SECONDS`` (``keep``: saving the
    mark after each; ``whole``: an unfinished last line too); one report for them all."""
    deadline = time.monotonic() + CAPTURE_SECONDS
    total = TranscriptImport(str(session.path), mark.session or session.path.stem, project, 0, 0, 0, 0)
    for piece in read_pieces(session, mark.offset, whole=whole):
        transcript = _parse(tool, piece, session, mark)
        where = project or transcript.project or (project_for(cwd) if cwd else None)
        total = total.plus(store_transcript(store, tool, transcript, project=where))
        mark = mark.after(piece, transcript)
        if keep:
            _save_mark(store, tool, session, mark)
        if time.monotonic() > deadline:
            break
    return total


def _parse(tool: Tool, piece: Piece, session: OpenSession, mark: Mark) -> Transcript:
    """The turns of one piece; a later piece takes the session and folder the first one named, and
    one with nothing readable counts its lines as skipped (the file's start decides what it is)."""
    try:
        transcript = parse_piece(tool, piece.data, session.path, mark.turns)
    except InvalidInputError:
        if piece.start == 0:
            raise
        lines = piece.data.count(b"\n")
        transcript = Transcript(session.path, mark.session or "", mark.cwd, None, [], lines, mark.turns)
    if piece.start > 0 and mark.session is not None:
        cwd = mark.cwd
        transcript = dataclasses.replace(
            transcript, session_id=mark.session, cwd=cwd, project=project_for(cwd)
        )
    skipped = transcript.skipped_lines + piece.skipped_lines
    return dataclasses.replace(transcript, skipped_lines=skipped)


def _mark_key(tool: Tool, session: OpenSession) -> str:
    return f"{_MARK_PREFIX}{tool}:{_digest(bytes(session.path))}"


def _digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()[:32]


def _load_mark(store: MemoryStore, tool: Tool, session: OpenSession) -> Mark:
    """Where the last capture of this file stopped; the start for a new file, another file now at
    that path (a new inode) or one that shrank."""
    key, kept = _mark_key(tool, session), _marks_here(store)
    raw = None
    if kept is not None:
        with contextlib.suppress(OSError):
            raw = (kept / key.replace(":", "-")).read_text(encoding="utf-8")
    if raw is None:  # (on a server store: a mark kept there by an earlier version)
        raw = store.backend.get_meta(key)
    try:
        mark = Mark(**json.loads(raw)) if raw else None
    except (ValueError, TypeError):
        mark = None
    return mark if mark is not None and mark.fits(session) else Mark.start(session)


def _save_mark(store: MemoryStore, tool: Tool, session: OpenSession, mark: Mark) -> None:
    key, kept = _mark_key(tool, session), _marks_here(store)
    text = json.dumps(dataclasses.asdict(mark))
    if kept is None:
        store.backend.set_meta({key: text})
        return
    paths.make_dir(kept)
    path = kept / key.replace(":", "-")
    from mahavishnu.files.safe_write import write_private

    write_private(path, text, lock=False)  # (the capture's file lock is held)


def _marks_here(store: MemoryStore) -> Path | None:
    """Where the marks of a PostgreSQL store's captures are kept: on this machine (they say how far
    this machine's session files were read), a folder per store (its location names its role),
    since the server's ``meta`` is read-only to a team's members and shared by every machine. None
    for the embedded store, whose ``meta`` keeps them in the store itself."""
    if getattr(store.backend, "name", "") != "postgres":
        return None
    location = str(getattr(store.backend, "location", ""))
    return paths.data_dir() / "capture" / "marks" / _digest(location.encode())


@contextlib.contextmanager
def _one_capture(session: OpenSession) -> Iterator[None]:
    """Hold the file's capture lock (``LOCK_SECONDS`` at most to get it)."""
    from filelock import FileLock, Timeout

    locks = paths.make_dir(paths.data_dir() / "capture" / "locks")
    try:
        with FileLock(locks / f"{_digest(bytes(session.path))}.lock", timeout=LOCK_SECONDS, mode=0o600):
            yield
    except Timeout as error:
        raise InvalidInputError(
            f"another capture of {session.path} has run for over {LOCK_SECONDS:g} s; this one is skipped",
            hint="The next capture of the session reads what this one would have.",
        ) from error
