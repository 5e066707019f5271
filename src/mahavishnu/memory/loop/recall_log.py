"""What recall added to which session: an append-only log, for "why did my assistant see this?".

Each time the recall hook adds memories to an assistant's context, one JSON line is appended to
``$MAHAVISHNU_HOME/recall/log.jsonl`` (0600): when, which assistant, which event, the project, a
digest of the session id (the one naming the session's ``SentMemories`` record), the memory ids and
the tokens the context grew by. Never a memory's text, a prompt or anything else a session said:
the dashboard (``mahavishnu ui``) shows the memories themselves from the store, as they are now.

Appending never fails the hook (an unwritable folder loses the line, quietly). The file is rotated
once past ``MAX_BYTES`` (the previous one kept as ``log.1.jsonl``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mahavishnu import paths

LOG_NAME = "log.jsonl"
OLD_NAME = "log.1.jsonl"
MAX_BYTES = 4 * 1024 * 1024
#: 3000-01-01 UTC: a later time (or one before 1970, NaN, infinity) was written by no hook, and
#: ``datetime.fromtimestamp`` refuses some of them, which failed the whole Recall page.
LATEST = 32_503_680_000.0
#: The most tokens one recall can add, and one request use (``usage.records`` reads it from here:
#: usage may import memory, not the reverse): a count beyond it (``1e30`` typed into the log,
#: ``1e308`` in an assistant's) is a damaged line, never a context or a bill (the largest context
#: windows are a few million tokens).
MAX_TOKENS = 10**12


@dataclass(frozen=True, slots=True)
class Recalled:
    """One recall: what one hook call added to one session."""

    at: float  # seconds since the epoch
    tool: str
    event: str
    project: str | None
    session: str | None  # the digest of the session id (``SentMemories``), not the id itself
    ids: tuple[int, ...]
    tokens: int


def log_dir() -> Path:
    return paths.data_dir() / "recall"


def session_digest(tool: str, session: str) -> str:
    """What names an assistant's session in the log (and its ``SentMemories`` record): a digest of
    the assistant and the session id, never the id itself. ``mahavishnu usage`` matches it to the
    session's requests in the assistant's own log."""
    return hashlib.sha256(f"{tool}\0{session}".encode()).hexdigest()[:32]


def append(
    tool: str, event: str, project: str | None, session: str | None, ids: Sequence[int], tokens: int
) -> None:
    """Record one recall (never raises: the hook must answer whatever happens to the log)."""
    line = {
        "at": round(time.time(), 3),
        "tool": tool,
        "event": event,
        "project": project,
        "session": session,
        "ids": [int(i) for i in ids],
        "tokens": int(tokens),
    }
    data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
    with contextlib.suppress(OSError, ValueError):
        directory = paths.make_dir(log_dir())
        path = directory / LOG_NAME
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size + len(data) > MAX_BYTES:
                os.replace(path, directory / OLD_NAME)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)  # one write of one line: appends from several hooks do not interleave
        finally:
            os.close(fd)


def read(limit: int = 500) -> list[Recalled]:
    """The newest ``limit`` recalls, newest first (a damaged line is skipped)."""
    found: list[Recalled] = []
    for name in (LOG_NAME, OLD_NAME):
        lines = list(_lines(log_dir() / name))
        for raw in reversed(lines):
            entry = _parse(raw)
            if entry is not None:
                found.append(entry)
            if len(found) >= limit:
                return found
    return found


def every() -> tuple[list[Recalled], list[tuple[str, int]]]:
    """Every recall still logged (the rotated file's, then the current one's), oldest first, and
    the damaged lines passed over, as file and line number (``mahavishnu usage`` counts them)."""
    found: list[Recalled] = []
    damaged: list[tuple[str, int]] = []
    for name in (OLD_NAME, LOG_NAME):
        path = log_dir() / name
        for number, raw in enumerate(_lines(path), 1):
            entry = _parse(raw)
            if entry is not None:
                found.append(entry)
            elif raw.strip():
                damaged.append((str(path), number))
    return found, damaged


def _lines(path: Path) -> Iterator[str]:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            yield from handle
    except OSError:
        return


def _parse(raw: str) -> Recalled | None:
    try:
        data = json.loads(raw)
        at = float(data["at"])
        if not 0 <= at < LATEST:
            return None
        ids = tuple(int(i) for i in data["ids"])
        tokens = int(data.get("tokens") or 0)
        if not 0 <= tokens <= MAX_TOKENS:
            return None
        project, session = data.get("project"), data.get("session")
        return Recalled(
            at=at,
            tool=str(data["tool"]),
            event=str(data.get("event") or ""),
            project=project if isinstance(project, str) else None,
            session=session if isinstance(session, str) else None,
            ids=ids,
            tokens=tokens,
        )
    except (ValueError, KeyError, TypeError, OverflowError):  # (int() of an infinite count)
        return None
