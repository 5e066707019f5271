"""OpenCode's sessions become memory from its SQLite database (opencode.db): the user's and the
model's text, once, never what OpenCode added itself, a reply half-written or a subagent's session;
a hostile capture payload is refused with one line and never names the file read."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from _backends import Factory, open_store

from mahavishnu.errors import InvalidInputError, NotFoundError
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.loop.capture import capture_hook, import_history
from mahavishnu.memory.loop.conversations import conversations
from mahavishnu.memory.loop.opencode_sessions import read_session

# The tables as OpenCode 1.18.33 creates them (the columns a capture reads, and their constraints).
SCHEMA = """
CREATE TABLE session (id text PRIMARY KEY, project_id text NOT NULL, parent_id text, slug text NOT NULL,
  directory text NOT NULL, title text NOT NULL, version text NOT NULL, time_created integer NOT NULL,
  time_updated integer NOT NULL);
CREATE TABLE message (id text PRIMARY KEY, session_id text NOT NULL, time_created integer NOT NULL,
  time_updated integer NOT NULL, data text NOT NULL);
CREATE TABLE part (id text PRIMARY KEY, message_id text NOT NULL, session_id text NOT NULL,
  time_created integer NOT NULL, time_updated integer NOT NULL, data text NOT NULL);
"""
T0 = 1_795_575_281_358
DECISION = "Decision: all timestamps are stored in UTC."


@pytest.fixture
def store(backend_factory: Factory) -> Iterator[MemoryStore]:
    with open_store(backend_factory) as opened:
        yield opened


class OpenCodeDb:
    """An opencode.db under ``$XDG_DATA_HOME/opencode`` (the test's HOME), written as OpenCode does."""

    def __init__(self, home: Path) -> None:
        self.path = home / ".local" / "share" / "opencode" / "opencode.db"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(self.path) as db:
            db.executescript(SCHEMA)
        self.n = 0

    def session(self, sid: str, directory: str, parent: str | None = None) -> None:
        self._insert("session", (sid, "global", parent, "slug", directory, "t", "1.18.33", T0, T0))

    def message(self, sid: str, role: str, *texts: str | dict[str, object], done: bool = True) -> str:
        self.n += 1
        mid = f"msg_{self.n:04d}"
        data: dict[str, object] = {"role": role, "time": {"created": T0 + self.n}}
        if role == "assistant":
            ended = {"completed": T0} if done else {}
            data.update(modelID="m-chat", time={"created": T0 + self.n, **ended})
        self._insert("message", (mid, sid, T0 + self.n, T0 + self.n, json.dumps(data)))
        for i, text in enumerate(texts):
            part = {"type": "text", "text": text} if isinstance(text, str) else text
            self._insert("part", (f"prt_{self.n:04d}{i}", mid, sid, T0, T0, json.dumps(part)))
        return mid

    def raw_part(self, sid: str, mid: str, data: str) -> None:
        self._insert("part", (f"prt_{mid}_raw", mid, sid, T0, T0, data))

    def _insert(self, table: str, row: tuple[object, ...]) -> None:
        with sqlite3.connect(self.path) as db:
            db.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)


@pytest.fixture
def opencode(isolated_home: Path) -> OpenCodeDb:
    db = OpenCodeDb(isolated_home)
    cwd = str(isolated_home / "src" / "proj")
    db.session("ses_1", cwd)
    added = {"type": "text", "text": "<file>", "synthetic": True}  # OpenCode's own, not the user's
    db.message("ses_1", "user", f"{DECISION} Which client?", added)
    thought = {"type": "reasoning", "text": "thinking"}
    db.message("ses_1", "assistant", {"type": "step-start"}, "We use httpx.", thought)
    db.message("ses_1", "assistant", "Half of a repl", done=False)  # still being written
    db.session("ses_child", cwd, parent="ses_1")
    db.message("ses_child", "user", "Search the code for retries, as the agent asked you to do.")
    return db


def test_the_conversation_is_the_text_the_user_and_the_model_wrote(opencode: OpenCodeDb) -> None:
    transcript = read_session(opencode.path, "ses_1")
    assert transcript is not None
    assert [(t.role, t.content) for t in transcript.turns] == [
        ("user", f"{DECISION} Which client?"),
        ("assistant", "We use httpx."),
    ]
    assert transcript.project == "proj" and transcript.session_id == "ses_1"
    child = read_session(opencode.path, "ses_child")
    assert child is not None and child.turns == []  # a subagent's prompt is the agent's, not the user's


def test_a_capture_stores_each_turn_once_and_a_finished_reply_later(
    store: MemoryStore, opencode: OpenCodeDb
) -> None:
    first = capture_hook(store, "opencode", {"session_id": "ses_1", "cwd": "/elsewhere"})
    again = capture_hook(store, "opencode", {"session_id": "ses_1"})
    assert (first.added, again.added) == (2, 0)
    opencode.message("ses_1", "assistant", "The full reply, now that it ended.")
    assert capture_hook(store, "opencode", {"session_id": "ses_1"}).added == 1
    turns = conversations(store, agent_id="opencode")
    assert sorted(t["role"] for t in turns) == ["assistant", "assistant", "user"]
    [decision] = store.recent({"types": ["decision"], "project": "proj"})
    assert (decision.content, decision.source_system) == (DECISION, "opencode")


def test_a_backfill_reads_every_session_but_subagents(store: MemoryStore, opencode: OpenCodeDb) -> None:
    reports = import_history(store, "opencode")
    assert [(r.session_id, r.added) for r in reports] == [("ses_1", 2)]
    assert import_history(store, "opencode", opencode.path)[0].added == 0  # the file named: the same


def test_a_damaged_row_is_counted_not_fatal(store: MemoryStore, opencode: OpenCodeDb) -> None:
    mid = opencode.message("ses_1", "user", "A later prompt about the release train.")
    opencode.raw_part("ses_1", mid, "{not json")
    transcript = read_session(opencode.path, "ses_1")
    assert transcript is not None and transcript.skipped_lines == 1
    assert transcript.turns[-1].content == "A later prompt about the release train."


def test_a_text_part_whose_text_is_no_string_adds_nothing(opencode: OpenCodeDb) -> None:
    """A damaged part's text (a list, a number) went into the turn as Python's rendering of it."""
    opencode.message("ses_1", "user", "A later prompt.", {"type": "text", "text": ["a", {"b": 1}]})
    opencode.message("ses_1", "user", {"type": "text", "text": 12345})
    transcript = read_session(opencode.path, "ses_1")
    assert transcript is not None and transcript.turns[-1].content == "A later prompt."


def test_a_row_whose_time_is_out_of_range_is_kept_untimed(store: MemoryStore, opencode: OpenCodeDb) -> None:
    """A message's time_created past any year a time holds made every capture of its session fail."""
    mid = opencode.message("ses_1", "user", "A prompt from the far future.")
    with sqlite3.connect(opencode.path) as db:
        db.execute("UPDATE message SET time_created = ? WHERE id = ?", (2**63 - 1, mid))
    report = capture_hook(store, "opencode", {"session_id": "ses_1"})
    assert report.added == 3
    turn = next(t for t in read_session(opencode.path, "ses_1").turns if t.uuid == mid)  # type: ignore[union-attr]
    assert turn.content == "A prompt from the far future." and turn.timestamp is None


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"session_id": ""},
        {"session_id": "x" * 500},
        {"transcript_path": "/etc/passwd"},  # a path is never what a capture reads
    ],
)
def test_a_hook_payload_without_a_session_is_refused(
    store: MemoryStore, opencode: OpenCodeDb, payload: dict[str, str]
) -> None:
    with pytest.raises(InvalidInputError, match="no OpenCode session_id"):
        capture_hook(store, "opencode", payload)


@pytest.mark.parametrize("session", ["ses_nope", "ses_1' OR '1'='1", "../../etc/passwd"])
def test_an_unknown_session_is_not_found(store: MemoryStore, opencode: OpenCodeDb, session: str) -> None:
    with pytest.raises(NotFoundError, match="no session"):
        capture_hook(store, "opencode", {"session_id": session, "transcript_path": str(opencode.path)})
    assert conversations(store, agent_id="opencode") == []


def test_no_database_is_a_clear_error(store: MemoryStore, isolated_home: Path) -> None:
    with pytest.raises(NotFoundError, match="no OpenCode database"):
        capture_hook(store, "opencode", {"session_id": "ses_1"})
    assert import_history(store, "opencode") == []  # OpenCode never ran here: nothing to backfill
