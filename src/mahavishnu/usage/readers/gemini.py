"""Gemini CLI (``~/.gemini/tmp/<project>/chats/session-<time>-<id>.jsonl``): a first line with the
``sessionId``, then messages; a reply (``type: "gemini"``) has an ``id``, ``model``, ``timestamp``
and ``tokens`` ``{input (cached included), output, cached, thoughts, tool, total}``. A ``{"$set":
{"messages": [...]}}`` line may hold messages again (a resumed session's history): keyed by id,
each counts once. Thoughts are billed as output, tool-use prompt tokens as input. The folder the
session ran in is in ``.project_root`` beside the ``chats`` folder. A subagent's session (first
line ``kind: "subagent"``) is a file of its own under ``chats/<parent session id>/``: its requests
are helpers'.

From 0.4 to 0.38 (September 2025 to April 2026) a session was one JSON document,
``session-<time>-<id>.json`` (a subagent's ``<parent session id>/<id>.json``), rewritten whole
at each message: ``{"sessionId", "kind", "messages": [...]}``, its messages as above. 0.39 and
later resume one into a ``.jsonl`` beside it, its messages under the same ids, and leave it: both
are read (``parse`` takes the document as an entry), each message once. Before 0.4 Gemini CLI
kept no token counts on disk: ``logs.json`` holds the prompts only, a ``/chat save`` checkpoint
the conversation's text."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mahavishnu.json_types import JSONObject, JSONValue
from mahavishnu.usage.readers.fields import State, epoch, label, obj, project, text
from mahavishnu.usage.readers.reader import Reader
from mahavishnu.usage.records import HELPER, MAIN, UsageRecord, count

WANTED = (b'"sessionId"', b'"tokens"')


def parse(path: Path, entries: Iterable[JSONObject], state: State) -> list[UsageRecord]:
    if "cwd" not in state:
        state["cwd"] = _project_root(path)
    found = []
    for entry in entries:
        if "session" not in state and text(entry.get("sessionId")):
            state["session"] = label(entry.get("sessionId")) or ""
            if entry.get("kind") == "subagent":
                state["source"] = HELPER
        updates = obj(entry.get("$set")).get("messages")
        every = entry.get("messages")  # (the whole session: 0.38's document)
        for message in [entry, *_listed(updates), *_listed(every)]:
            record = _record(path, state, obj(message))
            if record is not None:
                found.append(record)
    return found


def _listed(value: JSONValue | None) -> list[JSONValue]:
    return value if isinstance(value, list) else []


def _record(path: Path, state: State, message: JSONObject) -> UsageRecord | None:
    tokens = obj(message.get("tokens"))
    key = text(message.get("id"))
    model = label(message.get("model"))
    if message.get("type") != "gemini" or not tokens or key is None or model is None:
        return None
    when = epoch(message.get("timestamp"))
    inclusive = count(tokens.get("input"))
    cached = count(tokens.get("cached"))
    return UsageRecord(
        tool="gemini",
        key=f"gemini:{key}",
        time=when,
        model=model,
        input=max(0, inclusive - cached) + count(tokens.get("tool")),
        output=count(tokens.get("output")) + count(tokens.get("thoughts")),
        cache_write=0,
        cache_read=cached,
        session=state.get("session") or label(path.stem) or "-",
        project=project(state.get("cwd") or None),
        source=state.get("source") or MAIN,
    )


def _project_root(path: Path) -> str:
    """The folder the session ran in: ``.project_root`` beside the ``chats`` folder ("" unknown)."""
    chats = next((folder for folder in path.parents if folder.name == "chats"), path.parent)
    marker = chats.parent / ".project_root"
    try:  # a regular file's first bytes only: never a FIFO or /dev/zero behind a link
        if not marker.is_file():
            return ""
        with marker.open("rb") as handle:
            return handle.read(4096).decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def find() -> list[Path]:
    """Every Gemini CLI session file: the main sessions' ``*/chats/*.jsonl`` (as the memory loop
    reads them) and their subagents' ``*/chats/<parent id>/*.jsonl``, which it does not; and the
    ``.json`` documents of both that versions before 0.39 wrote."""
    from mahavishnu.memory.loop.session_file import session_files
    from mahavishnu.memory.loop.session_logs import SOURCES

    main = SOURCES["gemini"]  # (the memory loop's folder and pattern: ``*/chats/*.jsonl``)
    root = main.root()
    if not root.is_dir():
        return []
    return session_files(root, *main.patterns, "*/chats/*/*.jsonl", "*/chats/*.json", "*/chats/*/*.json")


READER = Reader("gemini", WANTED, parse, find=find, document=parse)
