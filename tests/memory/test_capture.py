"""Capture: every assistant's session files become turns, insights and decisions, once."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from _backends import Factory, open_store

from mahavishnu.errors import InvalidInputError
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.insights.cross_project import list_insights
from mahavishnu.memory.loop.capture import capture_hook, import_history, import_session
from mahavishnu.memory.loop.conversations import conversations
from mahavishnu.memory.loop.decisions import extract_decisions
from mahavishnu.memory.loop.session_logs import AGENT_IDS
from mahavishnu.memory.loop.session_logs import FILE_TOOLS as TOOLS

SAMPLES = Path(__file__).parent / "fixtures" / "sessions"


@pytest.fixture
def store(backend_factory: Factory) -> Iterator[MemoryStore]:
    with open_store(backend_factory) as opened:
        yield opened


def session_file(tool: str) -> Path:
    return next(p for p in (SAMPLES / tool).rglob("*.jsonl"))


@pytest.mark.parametrize("tool", TOOLS)
def test_a_session_imported_twice_adds_its_turns_once(store: MemoryStore, tool: str) -> None:
    first = import_session(store, tool, session_file(tool))  # type: ignore[arg-type]
    again = import_session(store, tool, session_file(tool))  # type: ignore[arg-type]
    assert (first.turns, first.added, first.project) == (2, 2, "proj")
    assert (again.turns, again.added) == (2, 0)
    turns = conversations(store, agent_id=AGENT_IDS[tool])  # type: ignore[index]
    assert sorted(t["role"] for t in turns) == ["assistant", "user"]


def test_insights_and_decisions_of_all_four_are_collected_once(store: MemoryStore) -> None:
    for tool in TOOLS:
        import_session(store, tool, session_file(tool))  # type: ignore[arg-type]
    [insight] = list_insights(store, project="proj")
    assert insight.memory.content == "- We keep retries in one place so backoff is consistent."
    decisions = store.recent({"types": ["decision"], "project": "proj"})
    # the same decision in one project is one memory, filed under the first assistant that heard it
    assert [(d.content, d.source_system) for d in decisions] == [
        ("We decided to use httpx for HTTP.", "claude-code")
    ]


def test_only_new_turns_are_added_when_a_session_grows(store: MemoryStore, tmp_path: Path) -> None:
    path = tmp_path / "chats" / "s.jsonl"
    path.parent.mkdir()
    lines = session_file("qwen").read_text().splitlines()
    path.write_text("\n".join(lines[:1]) + "\n")  # the user's turn only
    assert import_session(store, "qwen", path).added == 1
    path.write_text("\n".join(lines) + "\n")
    assert import_session(store, "qwen", path).added == 1


def test_capture_hook_imports_the_transcript_the_hook_names(store: MemoryStore, isolated_home: Path) -> None:
    shutil.copytree(SAMPLES / "codex", isolated_home / ".codex" / "sessions")
    path = next((isolated_home / ".codex" / "sessions").rglob("*.jsonl"))
    payload = {"session_id": "x", "transcript_path": str(path), "cwd": "/elsewhere"}
    report = capture_hook(store, "codex", payload)
    assert (report.added, report.project) == (2, "proj")


def test_capture_hook_needs_a_transcript_path(store: MemoryStore) -> None:
    with pytest.raises(InvalidInputError, match="transcript_path"):
        capture_hook(store, "gemini", {"session_id": "x"})


def test_import_history_reads_every_session_under_a_root(store: MemoryStore, tmp_path: Path) -> None:
    shutil.copytree(SAMPLES / "codex", tmp_path / "sessions")
    reports = import_history(store, "codex", tmp_path / "sessions")
    assert [r.added for r in reports] == [2]
    assert import_history(store, "codex") == []  # nothing under this HOME's ~/.codex


def test_a_damaged_log_is_reported_and_the_backfill_goes_on(store: MemoryStore, tmp_path: Path) -> None:
    shutil.copytree(SAMPLES / "codex", tmp_path / "sessions")
    (tmp_path / "sessions" / "rollout-0-broken.jsonl").write_text("not json\n")
    skipped: list[Path] = []
    reports = import_history(store, "codex", tmp_path / "sessions", on_error=lambda p, e: skipped.append(p))
    assert [r.added for r in reports] == [2] and [p.name for p in skipped] == ["rollout-0-broken.jsonl"]
    with pytest.raises(InvalidInputError, match="not a Codex session log"):
        import_history(store, "codex", tmp_path / "sessions")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("We decided to use httpx for HTTP. Say ok.", ["We decided to use httpx for HTTP."]),
        ("Decision: migrations are append-only", ["Decision: migrations are append-only"]),
        ("ok, let's go with PostgreSQL 18 for prod.\nthanks", ["ok, let's go with PostgreSQL 18 for prod."]),
        ("What did we decide about retries?", []),
        ("fix the failing test please", []),
        ("Let's use pydantic for config from now on.", ["Let's use pydantic for config from now on."]),
        # questions, requests and what is meant for the moment are not decisions
        ("Let's use print statements for now to see what's going on.", []),
        ("Can you check whether we will use the new API in prod?", []),
        ("Let's use git bisect to find it.", []),
        ("I chose the wrong file earlier, sorry.", []),
        ("We decided to use Redis? I don't remember that.", []),
        ("If we decided on Postgres, the tests need a server.", []),
    ],
)
def test_extract_decisions(text: str, found: list[str]) -> None:
    assert extract_decisions(text) == found


def test_a_turn_with_a_nul_or_half_an_emoji_does_not_stop_the_sessions_capture(
    store: MemoryStore, isolated_home: Path
) -> None:
    """Node's JSON.stringify writes a lone surrogate for an emoji it cut in half, and a pasted binary
    brings a NUL: the store refused the first ("not UTF-8 text") and PostgreSQL the second, so every
    later capture of the session failed on that turn and nothing after it was ever stored."""
    folder = isolated_home / ".claude" / "projects" / "-proj"
    folder.mkdir(parents=True)
    path = folder / "s.jsonl"
    said = ["cut emoji \\ud83d here", "a NUL \\u0000 here", "\\u0000", "the turn after them"]
    path.write_text(
        "".join(
            f'{{"type":"user","uuid":"u{n}","sessionId":"s","cwd":"/proj","message":'
            f'{{"role":"user","content":"{text}"}},"timestamp":"2026-11-22T09:0{n}:00Z"}}\n'
            for n, text in enumerate(said)
        )
    )

    report = capture_hook(store, "claude", {"session_id": "s", "transcript_path": str(path)})

    assert report.added == 3  # the turn of a NUL alone says nothing
    stored = [t["content"] for t in conversations(store, agent_id="claude-code")]
    assert sorted(stored) == sorted(["cut emoji \ufffd here", "a NUL  here", "the turn after them"])
    assert sorted(m.content for m in store.recent({"types": ["agent"]})) == sorted(stored)


@pytest.mark.parametrize("tool", ["claude", "qwen"])
def test_a_turn_with_bytes_that_are_not_utf_8_is_kept_with_them_replaced(
    store: MemoryStore, isolated_home: Path, tool: str
) -> None:
    """A damaged session file (a byte changed on disk, a write cut short): its line was skipped
    as not JSON, and the turn in it lost."""
    folder = isolated_home / (".claude/projects/-proj" if tool == "claude" else ".qwen/projects/-proj/chats")
    folder.mkdir(parents=True)
    path = folder / "s.jsonl"
    path.write_bytes(
        b'{"type":"user","uuid":"u0","sessionId":"s","cwd":"/proj","message":{"role":"user",'
        b'"parts":[{"text":"caf\xc3 au lait \xff"}],"content":"caf\xc3 au lait \xff"},'
        b'"timestamp":"2026-11-22T09:00:00Z"}\n'
    )

    report = capture_hook(store, tool, {"session_id": "s", "transcript_path": str(path)})  # type: ignore[arg-type]

    said = [t["content"] for t in conversations(store, agent_id=AGENT_IDS[tool])]  # type: ignore[index]
    assert said == ["caf\ufffd au lait \ufffd"] and report.skipped_lines == 0


@pytest.mark.parametrize("tool", ["claude", "qwen"])
def test_a_line_that_cannot_be_read_as_given_does_not_stop_the_sessions_capture(
    store: MemoryStore, isolated_home: Path, tool: str
) -> None:
    """A working directory holding half an emoji made the project's path unencodable, and a line
    nested deeper than Python's JSON reads raised: each failed every later capture of the session."""
    folder = isolated_home / (".claude/projects/-proj" if tool == "claude" else ".qwen/projects/-proj/chats")
    folder.mkdir(parents=True)
    path = folder / "s.jsonl"

    def line(n: int, cwd: str, extra: str = "") -> str:
        return (
            f'{{"type":"user","uuid":"u{n}","sessionId":"s","cwd":"{cwd}",{extra}"message":'
            f'{{"role":"user","parts":[{{"text":"turn {n}"}}],"content":"turn {n}"}},'
            f'"timestamp":"2026-11-22T09:0{n}:00Z"}}\n'
        )

    nested = '"deep":' + "[" * 100_000 + "]" * 100_000 + ","
    path.write_text(line(0, "/pr\\ud800oj") + line(1, "/proj", nested) + line(2, "/proj"))

    report = capture_hook(store, tool, {"session_id": "s", "transcript_path": str(path)})  # type: ignore[arg-type]

    said = sorted(t["content"] for t in conversations(store, agent_id=AGENT_IDS[tool]))  # type: ignore[index]
    assert said == ["turn 0", "turn 2"]
    assert report.skipped_lines == 1


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_timestamp_with_no_utc_time_does_not_stop_the_sessions_capture(
    store: MemoryStore, isolated_home: Path, when: str
) -> None:
    """A Pi line dated year 1 (or 9999) with an offset is ISO 8601, but moved to UTC it overflows: the
    store's conversion raised OverflowError, so every capture of the session failed (a traceback from
    `memory import`). The turn is stored with no time."""
    folder = isolated_home / ".pi" / "agent" / "sessions" / "--proj--"
    folder.mkdir(parents=True)
    path = folder / "2026-11-22T09-00-00-000Z_s.jsonl"
    lines = [{"type": "session", "id": "s", "cwd": "/proj", "timestamp": "2026-11-22T09:00:00Z"}]
    for n, stamp in enumerate([when, "2026-11-22T09:01:00Z"]):
        message = {"role": "user", "content": f"turn {n}"}
        lines.append({"type": "message", "id": f"u{n}", "timestamp": stamp, "message": message})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))

    report = capture_hook(store, "pi", {"session_id": "s", "transcript_path": str(path)})

    assert report.added == 2
    assert sorted(t["content"] for t in conversations(store, agent_id="pi")) == ["turn 0", "turn 1"]
