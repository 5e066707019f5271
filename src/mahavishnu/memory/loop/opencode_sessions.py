"""OpenCode's sessions as memory: read from its SQLite database, not from session files.

OpenCode 1.18 keeps every session in ``$XDG_DATA_HOME/opencode/opencode.db`` (read from what the
pinned CLI wrote against the loopback mock): a ``session`` row ``(id, parent_id, directory, ...)``,
its ``message`` rows ``(id, session_id, time_created, data)`` whose ``data`` JSON has ``role``
(``user`` or ``assistant``; an assistant's reply has ``time.completed`` once it ended), and each
message's ``part`` rows ``(id, message_id, data)``: the conversation is the ``text`` parts, less
those OpenCode made itself (``synthetic``: a file's content read for an ``@`` mention, a note to the
model) or left out (``ignored``). Tool calls, reasoning and step markers are not conversation.

A capture reads the whole session again (each turn is stored once, by its message id: a turn
stored before is skipped before it is embedded); a reply still being written is left for the next
capture. A subagent's session (one with a ``parent_id``) is not captured: its "user" turns are the
agent's words, not the user's. The database is opened read-only (never created or written; in WAL
mode a reader never blocks OpenCode) and a read waits at most ``BUSY_MS`` for a writer's lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mahavishnu import paths, telemetry
from mahavishnu.errors import InvalidInputError, NotFoundError
from mahavishnu.json_types import JSONReadable
from mahavishnu.memory.core.projects import project_for
from mahavishnu.memory.loop.conversations import TranscriptImport, store_transcript_turns
from mahavishnu.memory.loop.session_logs import AGENT_IDS, session_root
from mahavishnu.memory.loop.transcripts import Role, Transcript, TranscriptTurn, session_folder

if TYPE_CHECKING:
    from mahavishnu.memory.core.store import MemoryStore

DATABASE = "opencode.db"
#: The longest a read waits for OpenCode's write lock.
BUSY_MS = 2000
#: How long a capture waits for another capture of the same session to finish.
LOCK_SECONDS = 30.0
_MAX_ID = 200  # longer is no OpenCode session id


def database(root: Path | None = None) -> Path:
    """The database under ``root`` (OpenCode's data folder by default); ``root`` may name it."""
    base = root or session_root("opencode")
    return base if base.name == DATABASE or base.is_file() else base / DATABASE


def capture_hook(
    store: MemoryStore, payload: Mapping[str, JSONReadable], *, within: Path | None = None
) -> TranscriptImport:
    """Store the new turns of the session the hook's JSON names (``session_id``), read from the
    database in ``within`` (the hook's OpenCode data folder): never from a path the JSON gives."""
    session = payload.get("session_id")
    if not isinstance(session, str) or not session or len(session) > _MAX_ID:
        raise InvalidInputError(
            "the hook's JSON on standard input has no OpenCode session_id",
            hint="Run this from OpenCode's plugin: `mahavishnu memory hooks install --tool opencode`.",
        )
    cwd = payload.get("cwd")
    with telemetry.measure("capture", assistant="opencode") as measured:
        try:
            report = capture_session(
                store, database(within), session, cwd=cwd if isinstance(cwd, str) else None
            )
        except (InvalidInputError, NotFoundError):
            measured.set(outcome="refused")
            measured.count("refusals")
            raise
        measured.count("turns", report.added)
    return report


def capture_session(
    store: MemoryStore, db: Path, session: str, *, cwd: str | None = None, project: str | None = None
) -> TranscriptImport:
    """Store the turns of one session not stored before (one capture of a session at a time)."""
    with _one_capture(db, session):
        transcript = read_session(db, session, cwd=cwd)
    if transcript is None:
        raise NotFoundError(f"OpenCode has no session {session!r} in {db}")
    report, _new = store_transcript_turns(store, transcript, AGENT_IDS["opencode"], project)
    return report


def import_history(
    store: MemoryStore, root: Path | None = None, *, project: str | None = None
) -> list[TranscriptImport]:
    """Every session OpenCode kept (but subagents'), each one's turns not stored before; none when
    OpenCode never ran here."""
    db = database(root)
    if root is None and not db.is_file():
        return []
    return [capture_session(store, db, session, project=project) for session in session_ids(db)]


def session_ids(db: Path) -> list[str]:
    """The ids of the database's sessions (but subagents'), oldest first."""
    with _reading(db) as conn:
        rows = conn.execute(
            "SELECT id FROM session WHERE parent_id IS NULL ORDER BY time_created, id"
        ).fetchall()
    return [_text(row[0]) for row in rows]


def read_session(db: Path, session: str, *, cwd: str | None = None) -> Transcript | None:
    """The conversation of one session (None: no such session; a subagent's has no turns)."""
    with _reading(db) as conn:
        found = conn.execute("SELECT directory, parent_id FROM session WHERE id = ?", (session,)).fetchone()
        if found is None:
            return None
        messages = conn.execute(
            "SELECT id, time_created, data FROM message WHERE session_id = ? ORDER BY time_created, id",
            (session,),
        ).fetchall()
        parts = conn.execute(
            "SELECT message_id, data FROM part WHERE session_id = ? ORDER BY id", (session,)
        ).fetchall()
    directory = session_folder(_text(found[0]) or cwd)
    texts: dict[str, list[str]] = {}
    skipped = 0
    for message_id, data in parts:
        part = _json(data)
        if part is None:
            skipped += 1
        elif part.get("type") == "text" and not part.get("synthetic") and not part.get("ignored"):
            text = part.get("text")  # (a damaged row's number or list is no text: not stored as "[…]")
            texts.setdefault(_text(message_id), []).append(text if isinstance(text, str) else "")
    turns = []
    if found[1] is None:  # (a subagent's session: none)
        for message_id, created, data in messages:
            turn = _turn(_text(message_id), created, _json(data), texts)
            skipped += turn is False
            if isinstance(turn, TranscriptTurn):
                turns.append(turn)
    return Transcript(db, session, directory, project_for(directory), turns, skipped)


def _turn(
    message_id: str, created: object, data: dict[str, Any] | None, texts: dict[str, list[str]]
) -> TranscriptTurn | bool | None:
    """The turn a message row makes; None when it makes none, False when its JSON is damaged."""
    if data is None:
        return False
    role = data.get("role")
    if role not in ("user", "assistant"):
        return None
    times = data.get("time")
    if role == "assistant" and not (isinstance(times, dict) and times.get("completed")):
        return None  # still being written: the next capture takes it whole
    text = "\n\n".join(t.strip() for t in texts.get(message_id, []) if t.strip())
    if not text:
        return None
    when = _time(created)
    model = data.get("modelID") if role == "assistant" else None
    metadata = {"model": model} if isinstance(model, str) and model else {}
    who: Role = "user" if role == "user" else "assistant"
    return TranscriptTurn(role=who, content=text, timestamp=when, uuid=message_id, metadata=metadata)


def _time(created: object) -> datetime | None:
    """A row's ``time_created`` (milliseconds since the epoch); None when it is not one a time can
    hold (a damaged row's year 146140482 raised, and failed every capture of its session)."""
    if not isinstance(created, int) or created <= 0:
        return None
    try:
        return datetime.fromtimestamp(created / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _json(data: object) -> dict[str, Any] | None:
    try:
        value = json.loads(data) if isinstance(data, bytes | str) else None
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


@contextlib.contextmanager
def _reading(db: Path) -> Iterator[sqlite3.Connection]:
    """``db`` opened read-only, its text as bytes (a row that is not UTF-8 is one damaged row); a
    clear error for a missing or unreadable database."""
    if not db.is_file():
        raise NotFoundError(
            f"no OpenCode database at {db}",
            hint="OpenCode writes it when it first runs; pass its folder or file if it is elsewhere.",
        )
    uri = f"file:{quote(os.fsdecode(db.resolve()))}?mode=ro"
    try:
        with closing(sqlite3.connect(uri, uri=True, timeout=BUSY_MS / 1000)) as conn:
            conn.text_factory = bytes
            yield conn
    except sqlite3.Error as error:
        raise InvalidInputError(
            f"cannot read OpenCode's database {db}: {error}",
            hint="It may be locked by a migration or damaged; the next capture tries again.",
        ) from error


@contextlib.contextmanager
def _one_capture(db: Path, session: str) -> Iterator[None]:
    """One capture of a session at a time (two at once could store a turn twice)."""
    import hashlib

    from filelock import FileLock, Timeout

    locks = paths.make_dir(paths.data_dir() / "capture" / "locks")
    digest = hashlib.sha256(f"{db.absolute()}\0{session}".encode()).hexdigest()[:32]
    try:
        with FileLock(locks / f"opencode-{digest}.lock", timeout=LOCK_SECONDS, mode=0o600):
            yield
    except Timeout as error:
        raise InvalidInputError(
            f"another capture of OpenCode session {session} has run for over {LOCK_SECONDS:g} s;"
            " this one is skipped",
            hint="The next capture of the session reads what this one would have.",
        ) from error
