"""The sums a report keeps in the ledger (``report.Sums``, ``ledger.kept_sums``): a later report
adds only the records appended since, and every change that could make the kept sums wrong (a log
truncated, rotated, rewritten or deleted, a request already counted appearing earlier, a switch,
a price, the time zone) makes it add everything up again. Each case: the report equals the same
report added up from the ledger's records (what it was before sums were kept), and the sums saw
only what they should have."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mahavishnu.files import switch_log
from mahavishnu.files.history import Entry
from mahavishnu.json_types import JSONObject
from mahavishnu.usage import ledger, settings
from mahavishnu.usage import report as report_module
from mahavishnu.usage.attribution import from_history
from mahavishnu.usage.pricing import Pricing
from mahavishnu.usage.records import UsageRecord
from mahavishnu.usage.report import By, Period, Sums, build, collect, report

DAY = 86_400
_COUNTING = [True]  # off while ``_checked`` adds everything up itself
JAN_1 = 1_767_225_600  # 2026-01-01 00:00 UTC


def _line(n: int, at: float = JAN_1 + 10 * 3600, *, message_id: str | None = None) -> bytes:
    entry = {
        "type": "assistant",
        "sessionId": "s1",
        "cwd": "/home/dev/src/shop",
        "requestId": f"req_{n}",
        "timestamp": datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z"),
        "message": {
            "id": message_id or f"msg_{n}",
            "model": "claude-sonnet-4-5",
            "usage": {"input_tokens": n, "output_tokens": 2 * n, "cache_read_input_tokens": 3 * n},
        },
    }
    return json.dumps(entry).encode() + b"\n"


def _session(home: Path, name: str = "s1") -> Path:
    folder = home / ".claude" / "projects" / "-home-dev-src-shop"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.jsonl"


@pytest.fixture
def added(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many records each ``Sums.add`` of a report was given (a report's new records only, or
    all of them when it added everything up again)."""
    counts: list[int] = []
    real = Sums.add

    def add(self: Sums, records: Iterable[UsageRecord], *args: object) -> None:
        given = list(records)
        if _COUNTING[0]:
            counts.append(len(given))
        real(self, given, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Sums, "add", add)
    return counts


def _figures(data: JSONObject) -> JSONObject:
    return {key: value for key, value in data.items() if key not in ("skipped_lines",)}


def _checked(period: Period = "daily", by: By | None = None) -> JSONObject:
    """The report (kept sums used), after checking it equals the one added up from every record."""
    shown = _figures(report(period, by, ["claude"]).to_json())
    _COUNTING[0] = False
    try:
        records = collect(["claude"], None, None)[0]
        pricing = Pricing(settings.own_prices(settings.load()))
        again = _figures(build(records, from_history(), pricing, period, by).to_json())
    finally:
        _COUNTING[0] = True
    assert shown == again
    return shown


def _column(data: JSONObject, name: str, period: str = "daily") -> list[object]:
    rows = data[period]
    assert isinstance(rows, list)
    return [row[name] for row in rows if isinstance(row, dict)]


def _total(data: JSONObject, name: str) -> int:
    totals = data["totals"]
    assert isinstance(totals, dict)
    value = totals[name]
    assert isinstance(value, int)
    return value


def _requests(data: JSONObject) -> int:
    return _total(data, "requests")


def test_an_append_adds_only_the_new_records_and_nothing_new_adds_none(
    isolated_home: Path, added: list[int]
) -> None:
    log = _session(isolated_home)
    log.write_bytes(_line(1) + _line(2) + _line(3, JAN_1 + 3 * DAY))
    assert _requests(_checked()) == 3 and added[0] == 3
    added.clear()
    assert _requests(_checked()) == 3 and added == []  # the kept sums, nothing added
    with log.open("ab") as handle:
        handle.write(_line(4, JAN_1 + 5 * DAY) + _line(5))
    added.clear()
    assert _requests(_checked()) == 5 and added == [2]


def test_an_append_on_a_day_and_model_seen_looks_no_price_up(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _session(isolated_home)
    log.write_bytes(_line(1) + _line(2, JAN_1 + DAY))
    _checked()
    looked_up: list[float] = []
    real = report_module._served

    def served(tool: str, time: float, *args: Any) -> Any:
        if _COUNTING[0]:
            looked_up.append(time)
        return real(tool, time, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(report_module, "_served", served)
    with log.open("ab") as handle:
        handle.write(_line(3, JAN_1 + 5 * 3600) + _line(4, JAN_1 + 3 * DAY))
    assert _requests(_checked()) == 4 and looked_up == [JAN_1 + 3 * DAY]  # msg_4: its day is new


def test_each_report_asked_for_keeps_its_own_sums(isolated_home: Path, added: list[int]) -> None:
    _session(isolated_home).write_bytes(_line(1) + _line(2, JAN_1 + 40 * DAY))
    for period in ("daily", "monthly", "sessions"):
        for by in (None, "model", "provider"):
            _checked(period, by)  # type: ignore[arg-type]
    added.clear()
    assert len(_checked("monthly", "model")["monthly"]) == 2 and added == []  # type: ignore[arg-type]


def test_a_repeat_of_a_counted_request_is_not_counted_again(isolated_home: Path, added: list[int]) -> None:
    log = _session(isolated_home)
    log.write_bytes(_line(1) + _line(2))
    _checked()
    # a streamed answer's later line, and a resumed session's copy, of a request already counted
    with log.open("ab") as handle:
        handle.write(_line(2, JAN_1 + 10 * 3600 + 5))
    _session(isolated_home, "s2").write_bytes(_line(1) + _line(6))
    added.clear()
    assert _requests(_checked()) == 3 and added == [1]  # only msg_6 is new


def test_a_repeat_that_comes_first_adds_everything_up_again(isolated_home: Path, added: list[int]) -> None:
    _session(isolated_home).write_bytes(_line(1, JAN_1 + 3 * DAY) + _line(2))
    first = _checked()
    # a copy of msg_1 two days earlier: it is the one that counts (its day), not the kept one
    _session(isolated_home, "s0").write_bytes(_line(1, JAN_1 + DAY))
    added.clear()
    again = _checked()
    assert added == [2] and _requests(again) == 2
    assert _column(again, "date") != _column(first, "date")


def test_a_request_counted_before_since_is_not_counted_again_in_a_later_window(
    isolated_home: Path, added: list[int]
) -> None:
    """A request counts once, at its first time: a later copy of it (a resumed session's, stamped
    when copied; a streamed reply's line past midnight) is not --since's, whether the window is
    added up on a first read, from the ledger or by an append (it was: two reports that split
    the days between them counted it twice)."""
    since = datetime(2026, 1, 2).date()
    _session(isolated_home).write_bytes(_line(1))
    copy = _line(1, JAN_1 + 2 * DAY + 60)
    _session(isolated_home, "s2").write_bytes(copy + _line(2, JAN_1 + 2 * DAY) + _line(6, JAN_1 + 2 * DAY))
    assert _requests(report("daily", None, ["claude"], since=since).to_json()) == 2  # a first read
    start = report_module.day_start(since)
    assert sorted(r.key for r in collect(["claude"], start, None)[0]) == [
        "claude:msg_2@claude-sonnet-4-5",
        "claude:msg_6@claude-sonnet-4-5",
    ]
    _session(isolated_home, "s3").write_bytes(_line(1, JAN_1 + 3 * DAY) + _line(7, JAN_1 + 3 * DAY))
    added.clear()
    assert _requests(report("daily", None, ["claude"], since=since).to_json()) == 3 and added == [1]


def test_a_truncated_rotated_rewritten_or_deleted_log_adds_everything_up_again(
    isolated_home: Path, added: list[int]
) -> None:
    log = _session(isolated_home)
    other = _session(isolated_home, "s2")
    other.write_bytes(_line(9))
    log.write_bytes(_line(1) + _line(2) + _line(3))
    assert _requests(_checked()) == 4
    with log.open("r+b") as handle:  # truncated in place
        handle.truncate(len(_line(1)))
    added.clear()
    assert _requests(_checked()) == 2 and added == [2]
    log.rename(isolated_home / "rotated.jsonl.1")  # rotated: another file under the name
    log.write_bytes(_line(1) + _line(4))
    added.clear()
    assert _requests(_checked()) == 3 and added == [3]
    log.write_bytes(_line(5) + _line(6) + _line(7))  # rewritten: longer, its first bytes others
    added.clear()
    assert _requests(_checked()) == 4 and added == [4]
    log.unlink()
    added.clear()
    assert _requests(_checked()) == 1 and added == [1]


def test_a_touched_log_adds_nothing(isolated_home: Path, added: list[int]) -> None:
    log = _session(isolated_home)
    log.write_bytes(_line(1) + _line(2))
    _checked()
    os.utime(log, ns=(0, 1_000_000_000))
    added.clear()
    assert _requests(_checked()) == 2 and added == []


def test_a_switch_in_the_journal_adds_everything_up_again(isolated_home: Path, added: list[int]) -> None:
    now = time.time()
    log = _session(isolated_home)
    log.write_bytes(_line(1, now + 3600) + _line(2, now + 3600))
    before = _checked(by="provider")
    assert _column(before, "provider") == ["anthropic"]
    config = isolated_home / ".claude" / "settings.json"
    config.write_text("{}")
    switch_log.record("lab", ["claude"], "user", [Entry(config, None)])
    added.clear()
    after = _checked(by="provider")
    assert _column(after, "provider") == ["lab"] and added == [2]


def test_a_price_or_time_zone_change_adds_everything_up_again(isolated_home: Path, added: list[int]) -> None:
    _session(isolated_home).write_bytes(_line(1_000_000) + _line(2, JAN_1 + 23 * 3600 + 1800))
    listed = _checked()
    assert len(listed["daily"]) == 1  # type: ignore[arg-type]
    settings.settings_file().parent.mkdir(parents=True, exist_ok=True)
    settings.settings_file().write_text(
        "pricing:\n  anthropic:\n    claude-sonnet-4-5: {input: 1.0, output: 1.0}\n"
    )
    added.clear()
    own = _checked()
    assert added == [2] and own["totals"] != listed["totals"]
    was = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"  # +05:30: the second request moves to January 2nd
    time.tzset()
    try:
        added.clear()
        shifted = _checked()
        assert added == [2] and len(shifted["daily"]) == 2  # type: ignore[arg-type]
    finally:
        if was is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = was
        time.tzset()


def test_damaged_kept_sums_are_added_up_again(isolated_home: Path, added: list[int]) -> None:
    _session(isolated_home).write_bytes(_line(1) + _line(2))
    _checked()
    with ledger.opened() as db, db:
        db.execute("UPDATE sums SET data = X'7b2273756d73223a'")  # cut short
    added.clear()
    assert _requests(_checked()) == 2 and added == [2]


def test_logs_read_on_every_core_give_the_ledger_one_process_gives(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many logs read by worker processes (``ledger._read_all``) leave the same rows, in the same
    order, as read here one after another (their first bytes too, which a worker's read gives); a
    log too big for a worker is read here meanwhile."""
    for s in range(12):
        lines = [_line(n, JAN_1 + n * 3600) for n in range(s * 50, s * 50 + 50)]
        lines.insert(10, b"not json, a damaged line\n")
        _session(isolated_home, f"s{s}").write_bytes(b"".join(lines) + _line(1))  # msg_1 repeated
    big = _session(isolated_home, "big")
    big.write_bytes(b"".join(_line(n, JAN_1 + n * 60) for n in range(1000, 1400)))

    def rows() -> list[tuple[object, ...]]:
        with ledger.opened() as db:
            return [
                *ledger.stored(db),
                *db.execute("SELECT path, tool, end_offset, lines, skipped, head FROM files ORDER BY rowid"),
                *db.execute("SELECT * FROM bad_lines ORDER BY rowid"),
            ]

    alone = report("daily", None, ["claude"]).to_json()
    one_process = rows()
    ledger.ledger_file().unlink()
    workers: list[int] = []
    real = ledger._workers

    def counted(new_bytes: int) -> int:
        workers.append(real(new_bytes))
        return workers[-1]

    monkeypatch.setattr(ledger, "POOL_MIN", 1)
    monkeypatch.setattr(ledger, "POOL_FILE_MAX", big.stat().st_size - 1)
    monkeypatch.setattr(ledger, "_workers", counted)
    monkeypatch.setattr(threading, "active_count", lambda: 1)  # (pytest's own threads: none fork here)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    assert report("daily", None, ["claude"]).to_json() == alone
    assert workers == [2] and rows() == one_process


def test_a_first_read_adds_up_the_rows_as_it_stores_them_without_reading_them_back(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _session(isolated_home)
    log.write_bytes(_line(1) + _line(2, JAN_1 + DAY) + _line(1) + _line(3, JAN_1 - DAY))
    _session(isolated_home, "s2").write_bytes(_line(2, JAN_1 + DAY) + _line(4))  # msg_2 copied here
    read_back: list[str] = []
    real = ledger.records

    def records(*args: Any, **kwargs: Any) -> list[UsageRecord]:
        if _COUNTING[0]:
            read_back.append("records")
        return real(*args, **kwargs)

    monkeypatch.setattr(ledger, "records", records)
    first = _checked("sessions", "model")  # the same as added up from the records read back
    assert read_back == [] and _requests(first) == 4
    with log.open("ab") as handle:
        handle.write(_line(5))
    ledger.ledger_file().unlink()  # deleted: a first read again, of another query
    assert _requests(_checked("monthly")) == 5 and read_back == []
    ledger.ledger_file().unlink()
    # a request's row that comes after another of it with a later time: the earlier counts, and
    # so the first read's rows are added up again, from the ledger
    _session(isolated_home, "s3").write_bytes(_line(2, JAN_1 - 2 * DAY))
    again = _checked("daily")
    assert read_back == ["records"] and _requests(again) == 5
    assert _column(again, "date")[0] == "2025-12-30"  # msg_2 on its earliest day


def test_an_append_unpickles_only_the_reads_whose_key_crcs_match(
    isolated_home: Path, added: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether an append's requests were counted before is asked of the reads whose keys' CRCs
    hold one of theirs: the read of msg_2 (a streamed answer's last line, read again) is
    unpickled, the other log's is not; a CRC shared by chance unpickles a read and still finds
    the request new."""
    log = _session(isolated_home)
    log.write_bytes(_line(1) + _line(2))
    _session(isolated_home, "s2").write_bytes(_line(3))
    assert _requests(_checked()) == 3
    unpickled: list[int] = []
    real = ledger._decoded

    def decoded(blob: bytes) -> list[ledger.Row]:
        rows = real(blob)
        if _COUNTING[0]:
            unpickled.append(len(rows))
        return rows

    monkeypatch.setattr(ledger, "_decoded", decoded)
    with log.open("ab") as handle:
        handle.write(_line(2) + _line(4))  # msg_2 again, and a new one
    added.clear()
    assert _requests(_checked()) == 4 and added == [1]
    assert unpickled == [2, 2]  # the new read (the records above the kept sums), and msg_1-2's
    # every key's CRC the same, from a first read on: each read matches, and nothing is counted twice
    monkeypatch.setattr(ledger, "crc32", lambda data: 7)
    ledger.ledger_file().unlink()
    assert _requests(_checked()) == 4
    with log.open("ab") as handle:
        handle.write(_line(5) + _line(3))  # a new request, and one the other log holds
    unpickled.clear()
    added.clear()
    assert _requests(_checked()) == 5 and added == [1]
    assert sorted(unpickled) == [1, 2, 3]  # the new read (msg_5, msg_3); then both before it


def _indexed() -> int:
    """The reads the ledger's CRC index covers (0: none made)."""
    with ledger.opened() as db:
        row = db.execute("SELECT upto FROM crc_covered").fetchone()
    return 0 if row is None else int(row[0])


def test_the_crc_index_made_for_one_report_never_hides_another_reports_new_requests(
    isolated_home: Path, added: list[int]
) -> None:
    """The CRC index is made when an append first asks and merged again as reads come; one made
    for the daily report's sums covers reads the monthly report's sums never counted, and those
    are still new to it."""
    log = _session(isolated_home)
    log.write_bytes(_line(1))
    assert _requests(_checked("daily")) == 1 and _requests(_checked("monthly")) == 1
    for new in ((2, 3), (5, 6)):
        with log.open("ab") as handle:
            handle.write(b"".join(_line(n) for n in new))
        assert _requests(_checked("daily")) == new[1] - (new[0] == 5)
    assert _indexed() == 2  # reads 1 (msg_1) and 2 (msg_2-3), merged as the daily report asked
    added.clear()
    assert _requests(_checked("monthly")) == 5 and added == [4]
    with log.open("ab") as handle:
        handle.write(_line(2))  # a repeat: found by the index
    added.clear()
    assert _requests(_checked("daily")) == 5 and added == [0]


def test_a_read_another_report_stores_between_a_first_read_and_its_sums_is_counted(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first read adds up what it stored; when another process stores a read before this report
    keeps its sums, they are added up again from the ledger (else they would claim it counted)."""
    _session(isolated_home).write_bytes(_line(1))
    real = report_module._refreshed
    once = [True]

    def refreshed(db: sqlite3.Connection, tools: list[Any], *args: Any) -> ledger.Refresh:
        done = real(db, tools, *args)
        if once and args:  # the report's own refresh (with its fold); another process reads meanwhile
            once.clear()
            _session(isolated_home, "s2").write_bytes(_line(2))
            collect(["claude"], None, None)  # (its own connection: stores msg_2's read and commits)
        return done

    monkeypatch.setattr(report_module, "_refreshed", refreshed)
    assert report("daily", None, ["claude"]).totals.requests == 2
    assert report("daily", None, ["claude"]).totals.requests == 2


def test_a_failed_first_read_leaves_the_ledger_as_it_was(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _session(isolated_home)
    log.write_bytes(_line(1) + _line(2))
    real_store = ledger._store
    stored: list[int] = []

    def failing(*args: Any, **kwargs: Any) -> None:
        real_store(*args, **kwargs)
        stored.append(1)
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(ledger, "_store", failing)
    with (
        pytest.raises(ledger.Failed, match=r"the usage cache failed \(database or disk is full"),
        ledger.opened() as db,
    ):
        ledger.refresh(db, {"claude": [log]})
    assert stored == [1]
    with ledger.opened() as db:
        assert ledger.stored(db) == [] and db.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 0


def _streamed(output: int, at: float = JAN_1 + 11 * 3600) -> bytes:
    """A line of one streamed reply (Claude Code writes one as it comes: the output so far)."""
    line = json.loads(_line(7, at))
    line["message"]["usage"]["output_tokens"] = output
    return json.dumps(line).encode() + b"\n"


def _output(data: JSONObject) -> int:
    return _total(data, "output_tokens")


def test_a_streamed_reply_counts_its_final_output_once_however_its_lines_are_read(
    isolated_home: Path, added: list[int]
) -> None:
    """Its lines share the message and request ids, their ``output_tokens`` growing (9, 9, 159):
    the request is counted once, with 159, when its lines are read at once, across an append
    (a report ran while it streamed) and in a resumed session's copy."""
    log = _session(isolated_home)
    log.write_bytes(_line(1) + _streamed(9) + _streamed(9, JAN_1 + 11 * 3600 + 1))
    first = _checked()
    assert (_requests(first), _output(first)) == (2, 2 + 9)
    with log.open("ab") as handle:
        handle.write(_streamed(159, JAN_1 + 11 * 3600 + 4) + _line(2))
    again = _checked()
    assert (_requests(again), _output(again)) == (3, 2 + 159 + 4)
    _session(isolated_home, "s2").write_bytes(_streamed(12) + _streamed(159))  # resumed: a copy
    assert (_requests(_checked()), _output(_checked())) == (3, 2 + 159 + 4)
    whole = _session(isolated_home, "s3")
    log.rename(whole)  # the same lines read in one go
    assert (_requests(_checked()), _output(_checked())) == (3, 2 + 159 + 4)


def _ended(output: int, fresh: int, read: int, at: float = JAN_1 + 11 * 3600) -> bytes:
    """A line of a streamed reply whose input and cache read a gateway reports only at its end."""
    line = json.loads(_streamed(output, at))
    line["message"]["usage"].update(input_tokens=fresh, cache_read_input_tokens=read)
    return json.dumps(line).encode() + b"\n"


def test_a_streamed_reply_has_its_last_lines_input_and_cache_when_only_its_end_reports_them(
    isolated_home: Path, added: list[int]
) -> None:
    """A gateway may report a reply's input and cache tokens only at the stream's end: the first
    lines Claude Code writes of it have 0 there, the last one the reply's (Claude Code takes the
    end's counts). The request has the tokens of its line with the most output, as ccusage 20.0.24
    counts it: read at once, across an append, in a resumed copy."""
    log = _session(isolated_home)
    log.write_bytes(_line(1) + _ended(1, 0, 0) + _ended(5, 0, 0, JAN_1 + 11 * 3600 + 1))
    first = _checked()
    assert (_total(first, "input_tokens"), _total(first, "cache_read_tokens")) == (1, 3)
    with log.open("ab") as handle:
        handle.write(_ended(80, 1200, 4000, JAN_1 + 11 * 3600 + 4))
    counted = (2, 1 + 1200, 2 + 80, 3 + 4000)
    again = _checked()
    figures = ("requests", "input_tokens", "output_tokens", "cache_read_tokens")
    assert tuple(_total(again, name) for name in figures) == counted
    _session(isolated_home, "s2").write_bytes(_ended(1, 0, 0) + _ended(80, 1200, 4000))  # resumed
    assert tuple(_total(_checked(), name) for name in figures) == counted
    log.rename(_session(isolated_home, "s3"))  # the same lines read in one go
    assert tuple(_total(_checked(), name) for name in figures) == counted


def test_a_subagents_replay_of_a_parents_reply_is_not_counted_again(isolated_home: Path) -> None:
    """A subagent's log (``isSidechain``) may write a parent's reply again under a new request id
    (ccusage's issue 913): one message id is one API response, billed once."""
    _session(isolated_home).write_bytes(_line(1) + _line(2))
    replay = json.loads(_line(2, JAN_1 + 10 * 3600 + 30))
    replay["isSidechain"], replay["requestId"] = True, "req_9"
    agents = _session(isolated_home).parent / "s1" / "subagents"
    agents.mkdir(parents=True)
    (agents / "agent-1.jsonl").write_bytes(json.dumps(replay).encode() + b"\n" + _line(3))
    shown = _checked()
    assert _requests(shown) == 3 and _output(shown) == 2 * (1 + 2 + 3)


def test_the_cache_keeps_no_copy_of_a_logs_first_bytes(isolated_home: Path) -> None:
    """The cache tells a rewritten log by its first bytes: it keeps their digest, never the bytes
    (a session's first prompt may hold a key; the cache would be a second copy of it)."""
    key = "sk-ant-api03-" + "Q" * 40
    prompt = {"type": "user", "sessionId": "s1", "message": {"role": "user", "content": f"use {key}"}}
    log = _session(isolated_home)
    log.write_bytes(json.dumps(prompt).encode() + b"\n" + _line(1))
    assert _requests(_checked()) == 1
    kept = b"".join(path.read_bytes() for path in ledger.ledger_file().parent.glob("usage.sqlite3*"))
    assert key.encode() not in kept and b"sk-ant-api03" not in kept
    log.write_bytes(json.dumps(prompt).encode().replace(b"use", b"USE") + b"\n" + _line(1) + _line(2))
    assert _requests(_checked()) == 2  # its first bytes changed: read again whole
