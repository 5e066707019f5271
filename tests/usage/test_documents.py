"""Logs that are one JSON document each, rewritten whole as the assistant goes: OpenCode's storage
before 1.2 (``fixtures/opencode-storage``: a message a file, as 0.6 to 1.1 wrote them) and Gemini
CLI's sessions before 0.39 (a session a file). Each is read whole every time it changes, and a
request both the old and the new shape hold counts once."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.usage import ledger, logfile
from mahavishnu.usage.readers import opencode
from mahavishnu.usage.records import UsageRecord
from mahavishnu.usage.report import collect

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DATA = Path(".local/share/opencode")
MAIN = "ses_4a7e1b2c3ffeAbCdEfGhIjKlMn"
SONNET = "msg_b581e4e9a001HhIiJjKkLlMmNn"
ABORTED = "msg_b581e7a11001VvWwXxYyZzAaBb"
_NO_CACHE = {"read": 0, "write": 0}


@pytest.fixture
def storage(isolated_home: Path) -> Path:
    """OpenCode 1.1's ``storage/`` folder in the tmp HOME (no database: it never ran 1.2)."""
    target = isolated_home / DATA / "storage"
    shutil.copytree(FIXTURES / "opencode-storage", target)
    return target


def _rows(records: list[UsageRecord]) -> list[tuple[str, str, int, int, int, int, str]]:
    return [(r.via, r.model, r.input, r.output, r.cache_write, r.cache_read, r.source) for r in records]


@pytest.mark.parametrize("pooled", [False, True])
def test_opencode_s_older_storage_is_read_a_message_file_at_a_time(
    storage: Path, monkeypatch: pytest.MonkeyPatch, pooled: bool
) -> None:
    if pooled:  # (read by worker processes, as a first read of many logs is)
        monkeypatch.setattr(ledger, "POOL_MIN", 1)
        monkeypatch.setattr(threading, "active_count", lambda: 1)  # (pytest's own threads: none fork here)
        monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    records, refreshed, skipped = collect(["opencode"], None, None)
    assert _rows(records) == [
        ("anthropic", "claude-sonnet-4-5", 2100, 410, 3000, 18000, "main"),
        ("anthropic", "claude-haiku-4-5", 700, 90, 0, 0, "helper"),  # its session names a parentID
        ("openai", "gpt-5", 900, 150 + 64, 0, 12000, "main"),  # reasoning is output
    ]
    # the prompt and the aborted reply hold no request; the step's part (same tokens) is not read
    assert refreshed.read == 5 and skipped == 0 and not refreshed.problems
    assert records[0].key == f"opencode:{SONNET}" and records[0].session == MAIN
    assert {r.project for r in records} == {"shop"}


def test_a_message_both_the_database_and_the_older_storage_hold_counts_once(
    storage: Path, isolated_home: Path
) -> None:
    """OpenCode 1.2 to 1.15 copy the files into the database on their first run, under the same
    ids, and leave them: ccusage's tests pin the same (the database's row wins)."""
    database = isolated_home / DATA / "opencode.db"
    shutil.copy(FIXTURES / "pi-opencode-home" / DATA / "opencode.db", database)
    message = json.loads((storage / "message" / MAIN / f"{SONNET}.json").read_text())
    with closing(sqlite3.connect(database)) as db, db:
        session = db.execute("SELECT id FROM session LIMIT 1").fetchone()[0]
        copied = {k: v for k, v in message.items() if k not in ("id", "sessionID")}
        db.execute(
            "INSERT INTO message VALUES (?, ?, ?, ?, ?)",
            (SONNET, session, 1768900002000, 1768900029000, json.dumps(copied)),
        )
    records, refreshed, _ = collect(["opencode"], None, None)
    assert [r.key for r in records].count(f"opencode:{SONNET}") == 1
    assert len(records) == 2 + 3  # the database's own two, and the files' three
    assert refreshed.read == 6 and not refreshed.problems


def test_a_message_file_rewritten_in_place_is_read_again_whole(storage: Path) -> None:
    """OpenCode writes a reply's file when it starts and again when it ends (the same file may
    grow in place): what it says now is what counts, never its bytes past the last read."""
    path = storage / "message" / MAIN / f"{ABORTED}.json"
    collect(["opencode"], None, None)
    message = json.loads(path.read_text())
    inode = path.stat().st_ino
    for fresh, output in ((30, 40), (35, 45)):  # a second step: more of each
        message["tokens"] = {"input": fresh, "output": output, "reasoning": 0, "cache": _NO_CACHE}
        path.write_text(json.dumps(message, indent=2) + "\n" * output)  # longer each time
        records, refreshed, skipped = collect(["opencode"], None, None)
        assert path.stat().st_ino == inode and refreshed.read == 1 and skipped == 0
        assert [(r.input, r.output) for r in records if r.key == f"opencode:{ABORTED}"] == [(fresh, output)]
    assert len(records) == 4


def test_a_damaged_or_oversized_message_file_is_skipped_and_listed_never_the_report(
    storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = storage / "message" / MAIN
    (folder / "msg_cut.json").write_text('{\n  "id": "msg_cut",\n  "role": "assistant",\n  "tok')
    (folder / "msg_bytes.json").write_bytes(b'{"role": "assistant", "modelID": "\xff"}')
    huge = json.loads((folder / f"{SONNET}.json").read_text()) | {"id": "msg_huge", "pad": "x" * 5000}
    (folder / "msg_huge.json").write_text(json.dumps(huge, indent=2))
    monkeypatch.setattr(logfile, "MAX_DOCUMENT", 4096)
    records, refreshed, skipped = collect(["opencode"], None, None)
    assert len(records) == 3 and skipped == 3 and not refreshed.problems
    result = CliRunner().invoke(app, ["usage", "daily", "--tool", "opencode", "--verbose"])
    assert result.exit_code == 0, result.output
    for name, why in [("msg_cut", "not JSON"), ("msg_bytes", "not UTF-8"), ("msg_huge", "longer than 0 MB")]:
        assert f"{folder / name}.json:1" in result.output.replace("\n", "") and why in result.output


def test_a_storage_folder_linked_from_outside_opencode_s_is_not_walked(
    storage: Path, isolated_home: Path
) -> None:
    outside = isolated_home / "elsewhere"
    shutil.copytree(storage / "message" / MAIN, outside)
    for message in outside.iterdir():
        message.rename(message.with_name(message.name.replace("msg_", "msg_x")))
    os.symlink(outside, storage / "message" / "ses_linked")
    records, _, _ = collect(["opencode"], None, None)
    assert len(records) == 3


HELPER = "ses_4a7e0f9d1ffeZyXwVuTsRqPoNm"  # a subagent's session (its file names a parentID)
HAIKU = "msg_b581e6c2b001CcDdEeFfGgHhIi"


def _reply(storage: Path, session: str, key: str, fresh: int) -> Path:
    """A finished reply ``key`` in ``session``'s folder: the Sonnet reply's file with another id
    and ``fresh`` input tokens."""
    message = json.loads((storage / "message" / MAIN / f"{SONNET}.json").read_text())
    message |= {"id": key, "sessionID": session}
    message["tokens"] = {"input": fresh, "output": 1, "reasoning": 0, "cache": _NO_CACHE}
    path = storage / "message" / session / f"{key}.json"
    path.write_text(json.dumps(message, indent=2))
    return path


def test_a_new_message_file_in_a_session_folder_read_before_is_found_and_read_alone(storage: Path) -> None:
    collect(["opencode"], None, None)
    _reply(storage, MAIN, "msg_next", 123)
    records, refreshed, _ = collect(["opencode"], None, None)
    assert refreshed.read == 1 and [r.input for r in records if r.key == "opencode:msg_next"] == [123]
    assert len(records) == 4 and not refreshed.problems


def test_a_message_file_replaced_by_a_rename_or_removed_replaces_or_drops_its_request(storage: Path) -> None:
    """OpenCode may write a reply's file anew (another inode under the same name): its record is
    replaced, never counted twice; a file gone takes its record with it."""
    collect(["opencode"], None, None)
    path = storage / "message" / MAIN / f"{SONNET}.json"
    message = json.loads(path.read_text())
    message["tokens"]["input"] = 2500
    written = path.with_name("written.tmp")
    written.write_text(json.dumps(message, indent=2))
    written.rename(path)
    records, refreshed, _ = collect(["opencode"], None, None)
    assert refreshed.read == 1 and [r.input for r in records if r.key == f"opencode:{SONNET}"] == [2500]
    assert len(records) == 3
    path.unlink()
    records, _, _ = collect(["opencode"], None, None)
    assert [r.key for r in records] == [f"opencode:{HAIKU}", "opencode:msg_b581e61f0001OoPpQqRrSsTtUu"]


def test_a_subagent_s_session_stays_a_helper_s_as_it_gains_replies(storage: Path) -> None:
    collect(["opencode"], None, None)
    _reply(storage, HELPER, "msg_helper_next", 50)
    _reply(storage, MAIN, "msg_main_next", 60)
    records, _, _ = collect(["opencode"], None, None)
    sources = {r.key.removeprefix("opencode:"): r.source for r in records}
    assert sources[HAIKU] == sources["msg_helper_next"] == "helper" and sources["msg_main_next"] == "main"


def test_a_subagent_whose_session_file_comes_after_its_first_reply_is_found_once_it_is_there(
    storage: Path,
) -> None:
    """OpenCode writes a subagent's first message before its session's file: that read found no
    file, and a long-lived process (the dashboard) went on reading the session as the main one's."""
    late = "ses_4a7e0f9d1ffeLateLateLateLa"
    (storage / "message" / late).mkdir()
    _reply(storage, late, "msg_late_first", 10)
    collect(["opencode"], None, None)
    [folder] = (storage / "session").iterdir()
    told = json.dumps(json.loads((folder / f"{HELPER}.json").read_text()) | {"id": late})
    (folder / f"{late}.json").write_text(told[: len(told) // 2])  # still being written
    _reply(storage, late, "msg_late_half", 15)
    collect(["opencode"], None, None)
    (folder / f"{late}.json").write_text(told)
    _reply(storage, late, "msg_late_next", 20)
    records, _, _ = collect(["opencode"], None, None)
    assert {r.key: r.source for r in records}["opencode:msg_late_next"] == "helper"


@pytest.mark.parametrize("held", [1, ledger._WRITES_BYTES])  # each read written on its own, or all at once
def test_many_message_files_read_at_once_keep_each_request_and_its_order(
    storage: Path, monkeypatch: pytest.MonkeyPatch, held: int
) -> None:
    """The rows a first read makes are written many at a time: as many flushes as the files need,
    each request once, in the order the files were listed (a read's id keeps it)."""
    keys = [f"msg_many{n:03d}" for n in range(40)]
    for n, key in enumerate(keys):
        _reply(storage, HELPER if n % 4 == 0 else MAIN, key, n + 1)
    monkeypatch.setattr(ledger, "_WRITES_BYTES", held)
    records, refreshed, skipped = collect(["opencode"], None, None)
    assert refreshed.read == 5 + 40 and skipped == 0 and len(records) == 3 + 40
    assert sorted(r.input for r in records if r.key.startswith("opencode:msg_many")) == list(range(1, 41))
    with ledger.opened() as db:
        listed = sorted(storage.glob("message/*/msg_many*.json"), key=lambda p: (p.parent.name, p.name))
        paths = [row[0] for row in ledger.stored(db) if "msg_many" in row[0]]
        assert paths == [str(p) for p in listed]
        assert db.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 5 + 40


def test_many_small_message_files_are_read_by_worker_processes_many_to_a_task(
    storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening and parsing a file of a few hundred bytes costs as much as ``LOG_WORK`` bytes of
    lines: thousands of them are read on every core (the parent loads the prices meanwhile),
    ``_TASK_BYTES`` of that work to a task, not one hand-off per file."""
    for n in range(40):
        _reply(storage, MAIN, f"msg_many{n:03d}", n + 1)
    monkeypatch.setattr(ledger, "POOL_MIN", 45 * ledger.LOG_WORK)  # (the 45 files' work, not their bytes)
    monkeypatch.setattr(ledger, "_TASK_BYTES", 10 * ledger.LOG_WORK)
    monkeypatch.setattr(threading, "active_count", lambda: 1)  # (pytest's own threads: none fork here)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    tasks: list[int] = []

    class Pool(ledger.ProcessPoolExecutor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            tasks.append(len(args[0]))
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(ledger, "ProcessPoolExecutor", Pool)
    records, refreshed, skipped = collect(["opencode"], None, None)
    assert tasks == [10, 10, 10, 10, 5] and refreshed.read == 45 and skipped == 0
    assert sorted(r.input for r in records if r.key.startswith("opencode:msg_many")) == list(range(1, 41))


def test_only_regular_message_files_in_opencode_s_folder_are_listed(
    storage: Path, isolated_home: Path
) -> None:
    """One listing per session folder tells each entry's kind: a FIFO, a file linked from outside,
    a linked session folder or a file deeper than ``message/<session>/`` is not a message file."""
    folder = storage / "message" / MAIN
    os.mkfifo(folder / "msg_fifo.json")
    outside = isolated_home / "outside.json"
    outside.write_text((folder / f"{SONNET}.json").read_text())
    os.symlink(outside, folder / "msg_out.json")
    os.symlink(folder / f"{SONNET}.json", storage / "message" / HELPER / "msg_in.json")
    (folder / "deeper").mkdir()
    _reply(storage, f"{MAIN}/deeper", "msg_deep", 1)
    os.symlink(folder, storage / "message" / "ses_linked")
    found = opencode.find()
    names = sorted(path.name for path in found)
    assert names == sorted([f"{HAIKU}.json", "msg_in.json", *(p.name for p in folder.glob("msg_b*.json"))])
    assert found == sorted(found)


def test_a_fifo_put_in_a_message_file_s_place_after_it_was_listed_is_refused_not_waited_on(
    storage: Path,
) -> None:
    path = storage / "message" / MAIN / f"{SONNET}.json"
    listed = opencode.find()
    path.unlink()
    os.mkfifo(path)
    with ledger.opened() as db:
        refreshed = ledger.refresh(db, {"opencode": listed})
    assert refreshed.problems == [f"cannot read {path}: not a regular file (a pipe, socket or device)"]
    assert refreshed.read == 4


SESSION = "chats/session-2026-03-02T09-14-5c1e0a77"


@pytest.fixture
def gemini(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Gemini CLI 0.38's ``tmp/shop`` folder in the tmp HOME: a session and its subagent's."""
    monkeypatch.delenv("GEMINI_CLI_HOME", raising=False)
    target = isolated_home / ".gemini" / "tmp" / "shop"
    shutil.copytree(FIXTURES / "gemini-sessions" / "shop", target)
    return target


def _gemini_rows(records: list[UsageRecord]) -> list[tuple[str, int, int, int, str]]:
    return [(r.model, r.input, r.output, r.cache_read, r.source) for r in records]


def test_gemini_cli_s_session_documents_before_0_39_are_read(gemini: Path) -> None:
    records, refreshed, skipped = collect(["gemini"], None, None)
    assert _gemini_rows(records) == [
        ("gemini-2.5-pro", 6400 - 4000, 220 + 180, 4000, "main"),  # thoughts are output
        ("gemini-2.5-flash", 3000, 60 + 25, 0, "helper"),  # the subagent's own file
        ("gemini-2.5-pro", 9100 - 6000 + 12, 95 + 40, 6000, "main"),  # tool-use prompt is input
    ]
    assert refreshed.read == 2 and skipped == 0 and not refreshed.problems
    assert {r.project for r in records} == {"shop"}
    assert records[0].session == "5c1e0a77-3b9d-4e21-8f6a-0d2c9b7e4a13" and records[1].session == "k3x9qa"


def test_a_session_0_39_resumed_into_a_jsonl_counts_each_message_once(gemini: Path) -> None:
    """Gemini CLI 0.39 resumes a ``.json`` session into a ``.jsonl`` beside it: its metadata, each
    message again under its id, then what the resumed session adds."""
    document = json.loads((gemini / f"{SESSION}.json").read_text())
    metadata = {k: v for k, v in document.items() if k != "messages"}
    added = document["messages"][2] | {
        "id": "9a0c7e31-5b2d-4f68-a1e9-0c3b7d5f2e18",
        "timestamp": "2026-05-04T10:00:00Z",
    }
    lines = [metadata, *document["messages"], {"$set": {"sessionId": metadata["sessionId"]}}, added]
    (gemini / f"{SESSION}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    records, refreshed, _ = collect(["gemini"], None, None)
    assert len(records) == 3 + 1 and refreshed.read == 3


def test_a_session_document_rewritten_or_cut_short_is_read_again_whole_never_failing(gemini: Path) -> None:
    path = gemini / f"{SESSION}.json"
    collect(["gemini"], None, None)
    document = json.loads(path.read_text())
    document["messages"].append(document["messages"][2] | {"id": "2e6f", "timestamp": "2026-03-02T09:18:00Z"})
    path.write_text(json.dumps(document, indent=2))  # the next message: the whole file again
    records, refreshed, skipped = collect(["gemini"], None, None)
    assert len(records) == 4 and refreshed.read == 1 and skipped == 0
    path.write_text(json.dumps(document, indent=2)[:-300])  # a write the disk filling cut short
    records, _, skipped = collect(["gemini"], None, None)
    assert len(records) == 1 and skipped == 1  # the subagent's; the session's file is damage
    result = CliRunner().invoke(app, ["usage", "daily", "--tool", "gemini", "--verbose"])
    assert result.exit_code == 0 and "not JSON" in result.output
