"""Read a Claude Code session transcript (``~/.claude/projects/<encoded-cwd>/<session-uuid>.jsonl``).

Each line is one JSON entry. The ones that carry conversation look like (Claude Code 1.x-2.x)::

    {"type": "user", "message": {"role": "user", "content": "fix the bug"}, "uuid": "...",
     "parentUuid": null, "sessionId": "...", "cwd": "/home/me/proj", "gitBranch": "main",
     "version": "2.1.3", "timestamp": "2025-11-02T10:00:00.000Z", "isSidechain": false, ...}
    {"type": "assistant", "message": {"id": "msg_...", "role": "assistant", "model": "claude-...",
     "content": [{"type": "text", "text": "..."}], ...}, "requestId": "req_...", ...}

Other entry types (``summary``, ``system``, ``file-history-snapshot``, ``queue-operation``,
``progress``, ``custom-title`` ...) are valid but carry no conversation and are ignored.

Only what a human would read as the conversation is kept:

* ``text`` blocks (and plain-string content); ``tool_use``, ``tool_result``, ``thinking``, images
  and any other block type are dropped.
* Synthetic entries are dropped: ``isMeta`` (caveats, skill bodies), ``isVisibleInTranscriptOnly`` and
  ``isCompactSummary`` (the "session is being continued" summary), ``isApiErrorMessage`` and the
  ``<synthetic>`` model's placeholders, and interruption markers.
* Slash-command and shell echo noise (``<command-name>``, ``<local-command-stdout>``, ``<bash-input>``,
  ``<system-reminder>`` ...) is cut out of user text; a turn left empty is dropped.
* Sidechain entries (``isSidechain``: a subagent's own prompt and replies) are dropped: they are the
  agent talking to itself, and its useful result reaches the main thread through the parent's reply.
  A subagent file (``agent-*.jsonl``) therefore yields no turns.
* Claude Code writes one line per content block of an API message, all with the same
  ``message.id``; consecutive lines of one message become a single assistant turn.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from mahavishnu.errors import InvalidInputError, NotFoundError
from mahavishnu.memory.core.projects import project_for
from mahavishnu.memory.loop.session_file import session_entry
from mahavishnu.paths import MAX_PATH_CHARS

Role = Literal["user", "assistant"]

# Wrappers Claude Code puts around command echoes, shell escapes and injected reminders.
_NOISE_TAGS = (
    "command-name",
    "command-message",
    "command-args",
    "command-contents",
    "local-command-stdout",
    "local-command-stderr",
    "local-command-caveat",
    "bash-input",
    "bash-stdout",
    "bash-stderr",
    "system-reminder",
    "task-notification",
)
_NOISE_OPEN = re.compile(r"<(" + "|".join(_NOISE_TAGS) + r")>")
_INTERRUPTIONS = frozenset({"[Request interrupted by user]", "[Request interrupted by user for tool use]"})
_SYNTHETIC_FLAGS = ("isMeta", "isVisibleInTranscriptOnly", "isCompactSummary", "isApiErrorMessage")
_SYNTHETIC_MODEL = "<synthetic>"
_HINT = "Pass a Claude Code session file: ~/.claude/projects/<encoded-cwd>/<session-uuid>.jsonl."


@dataclass(frozen=True)
class TranscriptTurn:
    role: Role
    content: str
    timestamp: datetime | None
    uuid: str | None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Transcript:
    path: Path
    session_id: str
    cwd: str | None
    project: str | None
    turns: list[TranscriptTurn]
    skipped_lines: int
    #: The number of the first turn in the whole file (a piece read from an offset starts later):
    #: a turn without an id of its own is stored under its number.
    first_turn: int = 0


def session_folder(cwd: object) -> str | None:
    """A session's working folder as its file (or a hook's JSON) gives it: a string of at most
    ``paths.MAX_PATH_CHARS``, else None (no folder known)."""
    return cwd if isinstance(cwd, str) and 0 < len(cwd) <= MAX_PATH_CHARS else None


def find_transcripts(root: Path) -> list[Path]:
    """Every ``*.jsonl`` under `root` (subagent files included), sorted."""
    if not root.exists():
        raise NotFoundError(
            f"No such directory: {root}", hint="Claude Code keeps sessions in ~/.claude/projects/."
        )
    if not root.is_dir():
        raise InvalidInputError(
            f"Not a directory: {root}", hint="Pass the directory that holds the .jsonl files."
        )
    from mahavishnu.memory.loop.session_file import session_files

    return session_files(root, "**/*.jsonl")


def read_transcript(path: Path) -> Transcript:
    """The human-readable turns of one whole session file (read safely: ``session_file``);
    malformed lines are skipped and counted. A capture reads a file in pieces instead."""
    from mahavishnu.memory.loop.session_file import open_session, read_pieces

    with open_session(path, what="Claude Code") as session:
        data = b"".join(piece.data for piece in read_pieces(session, whole=True))
    return parse_transcript(data, path)


def parse_transcript(data: bytes, path: Path, *, first_turn: int = 0) -> Transcript:
    """The turns in ``data``, lines of the session file ``path`` (all of it, or a piece)."""
    entries, skipped = _parse_lines(data, path)
    session_id = _first_str(entries, "sessionId") or path.stem
    cwd = session_folder(_first_str(entries, "cwd"))
    return Transcript(
        path=path,
        session_id=session_id,
        cwd=cwd,
        project=project_for(cwd),
        turns=_turns(entries),
        skipped_lines=skipped,
        first_turn=first_turn,
    )


def _parse_lines(data: bytes, path: Path) -> tuple[list[dict[str, Any]], int]:
    """Entries (JSON objects with a string ``type``) and the count of lines that are not."""
    entries: list[dict[str, Any]] = []
    skipped = 0
    for raw in data.removeprefix(b"\xef\xbb\xbf").split(b"\n"):
        if not raw.strip():
            continue
        entry = _parse_entry(raw)
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    if skipped and not entries:
        # One bad line is damage; nothing but bad lines means this was never a transcript.
        raise InvalidInputError(
            f"{path} is not a Claude Code transcript: none of its {skipped} lines is a JSONL entry",
            hint=_HINT,
        )
    return entries, skipped


def _parse_entry(raw: bytes) -> dict[str, Any] | None:
    try:
        value = session_entry(raw)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both derive from it
        return None
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return value
    return None


def _turns(entries: list[dict[str, Any]]) -> list[TranscriptTurn]:
    turns: list[TranscriptTurn] = []
    open_message: str | None = None  # message.id of the assistant turn still being written
    for entry in entries:
        kind = entry["type"]
        if kind not in ("user", "assistant"):
            continue
        message_id = _message_id(entry) if kind == "assistant" else None
        continues = message_id is not None and message_id == open_message
        open_message = message_id
        turn = _turn(entry)
        if turn is None:
            continue
        if continues and turns and turns[-1].metadata.get("message_id") == message_id:
            turns[-1] = _merged(turns[-1], turn)
        else:
            turns.append(turn)
    return turns


def _turn(entry: dict[str, Any]) -> TranscriptTurn | None:
    message = entry.get("message")
    if not isinstance(message, dict) or entry.get("isSidechain") is True or _is_synthetic(entry, message):
        return None
    role: Role = "user" if entry["type"] == "user" else "assistant"
    text = _text_of(message.get("content"))
    if role == "user":
        text = _strip_noise(text)
    text = text.strip()
    if not text or text in _INTERRUPTIONS:
        return None
    uuid = entry.get("uuid")
    return TranscriptTurn(
        role=role,
        content=text,
        timestamp=_timestamp(entry.get("timestamp")),
        uuid=uuid if isinstance(uuid, str) else None,
        metadata=_metadata(entry, message),
    )


def _is_synthetic(entry: dict[str, Any], message: dict[str, Any]) -> bool:
    return (
        any(entry.get(flag) is True for flag in _SYNTHETIC_FLAGS) or message.get("model") == _SYNTHETIC_MODEL
    )


def _text_of(content: object) -> str:
    """Plain-string content as is; of a block list, only the ``text`` blocks, blank-line separated."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = (
        block.get("text") for block in content if isinstance(block, dict) and block.get("type") == "text"
    )
    return "\n\n".join(text.strip() for text in texts if isinstance(text, str) and text.strip())


def _strip_noise(text: str) -> str:
    """Cut complete ``<tag>...</tag>`` noise spans; each closing tag is searched for at most once per miss."""
    if "<" not in text:
        return text
    kept: list[str] = []
    position = 0
    unclosed: set[str] = set()  # once a closing tag is missing after p, it is missing after any later p
    for match in _NOISE_OPEN.finditer(text):
        tag = match.group(1)
        if match.start() < position or tag in unclosed:
            continue
        close = text.find(f"</{tag}>", match.end())
        if close < 0:
            unclosed.add(tag)
            continue
        kept.append(text[position : match.start()])
        position = close + len(tag) + 3
    kept.append(text[position:])
    return "".join(kept)


def _merged(first: TranscriptTurn, more: TranscriptTurn) -> TranscriptTurn:
    """One assistant turn from two lines of the same API message: text joined, first line's identity."""
    return TranscriptTurn(
        role=first.role,
        content=f"{first.content}\n\n{more.content}",
        timestamp=first.timestamp,
        uuid=first.uuid,
        metadata={**more.metadata, **first.metadata},
    )


def _metadata(entry: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    candidates = {
        "message_id": message.get("id"),
        "model": message.get("model"),
        "parent_uuid": entry.get("parentUuid"),
        "git_branch": entry.get("gitBranch"),
        "version": entry.get("version"),
        "cwd": entry.get("cwd"),
    }
    return {key: value for key, value in candidates.items() if isinstance(value, str) and value}


def _message_id(entry: dict[str, Any]) -> str | None:
    message = entry.get("message")
    value = message.get("id") if isinstance(message, dict) else None
    return value if isinstance(value, str) and value else None


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)  # 3.11 accepts the trailing "Z" Claude Code writes
        # in UTC, as the store keeps it: year 1 or 9999 with an offset has no UTC time (unknown)
        return moment if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _first_str(entries: list[dict[str, Any]], key: str) -> str | None:
    return next(_strings(entries, key), None)


def _strings(entries: list[dict[str, Any]], key: str) -> Iterator[str]:
    for entry in entries:
        value = entry.get(key)
        if isinstance(value, str) and value:
            yield value
