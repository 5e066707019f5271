"""What the Pi and OpenCode readers find in the sessions the real Pi 0.73.1 and OpenCode 1.18.33
wrote against the mock (``make_pi_opencode_fixtures.py``), whose replies reported (input, output,
cache write, cache read): (1200, 340, 5000, 20000), (800, 120, 0, 31000), (15, 7, 0, 0),
(4100, 2210, 900, 0), (60, 9, 0, 70000), then again from the first; and how they take damaged,
hostile and changing data."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.usage import ledger, sqlite_log
from mahavishnu.usage.attribution import Attribution, ProfileEndpoints, Provider, Switch
from mahavishnu.usage.records import Tool, UsageRecord
from mahavishnu.usage.report import collect

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pi-opencode-home"
DB = Path(".local/share/opencode/opencode.db")


@pytest.fixture
def home(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture sessions copied into the tmp HOME, where Pi and OpenCode keep them."""
    shutil.copytree(FIXTURES, isolated_home, dirs_exist_ok=True)
    monkeypatch.delenv("PI_CODING_AGENT_DIR", raising=False)
    return isolated_home


def _figures(records: list[UsageRecord]) -> list[tuple[str, str, int, int, int, int]]:
    return [(r.via, r.model, r.input, r.output, r.cache_write, r.cache_read) for r in records]


def _pi_file(home: Path, index: int) -> Path:
    return sorted((home / ".pi/agent/sessions").glob("*/*.jsonl"))[index]


def test_pi_reads_each_reply_with_the_provider_and_model_it_names(home: Path) -> None:
    records, refreshed, skipped = collect(["pi"], None, None)
    assert _figures(records) == [
        ("anthropic", "claude-sonnet-4-5", 1200, 340, 5000, 20000),
        ("openai", "gpt-5", 800, 120, 0, 31000),  # Pi splits the cached tokens out of prompt_tokens
        ("lab", "qwen3-coder-plus", 15, 7, 0, 0),
        ("lab", "qwen3-coder-plus", 4100, 2210, 0, 0),  # `pi -c`: the same session file
    ]
    assert refreshed.read == 3 and skipped == 0 and not refreshed.problems
    assert {r.project for r in records} == {"shop"} and {r.source for r in records} == {"main"}
    assert records[2].session == records[3].session == _pi_file(home, 2).stem.partition("_")[2]
    prefixes = ("pi:msg_mock_", "pi:resp_mock_", "pi:chatcmpl-mock", "pi:chatcmpl-mock")
    assert all(r.key.startswith(prefix) for r, prefix in zip(records, prefixes, strict=True))


def test_a_forked_pi_session_counts_the_replies_it_copies_once(home: Path) -> None:
    original = _pi_file(home, 0)
    lines = original.read_text().splitlines()
    header = json.loads(lines[0]) | {"id": "forked-session", "parentSession": str(original)}
    original.with_name("2026-11-26T00-00-00-000Z_forked-session.jsonl").write_text(
        "\n".join([json.dumps(header), *lines[1:]]) + "\n"
    )
    records, refreshed, _ = collect(["pi"], None, None)
    assert refreshed.read == 4 and len(records) == 4  # the copy's reply has the same responseId


def test_pi_replies_whose_provider_repeats_a_response_id_each_count(home: Path) -> None:
    """Ollama's OpenAI endpoint numbers its replies ``chatcmpl-0`` to ``chatcmpl-998``: keyed by the id
    alone, a reply that drew a number drawn before was dropped as a copy of it."""
    original = _pi_file(home, 2)  # two replies of the `lab` provider
    entries = [json.loads(line) for line in original.read_text().splitlines()]
    for entry in entries:
        if "responseId" in entry.get("message", {}):
            entry["message"]["responseId"] = "chatcmpl-42"
    original.write_text("".join(json.dumps(e) + "\n" for e in entries))
    records, _, _ = collect(["pi"], None, None)
    assert len(records) == 4
    assert sum(r.output for r in records if r.via == "lab") == 7 + 2210


def test_two_pi_sessions_replies_of_one_response_id_in_the_same_millisecond_each_count(home: Path) -> None:
    """Two sessions (other projects, other models) on an Ollama that gave both replies the same id,
    logged in the same millisecond: keyed by the id and time, they were one request (the first's
    input with the other's output, at the first's model); ccusage counts both."""
    first, second = _pi_file(home, 0), _pi_file(home, 1)
    replies = []
    for path in (first, second):
        entries = [json.loads(line) for line in path.read_text().splitlines()]
        for entry in entries:
            if "responseId" in entry.get("message", {}):
                entry["message"]["responseId"] = "chatcmpl-42"
                entry["timestamp"] = "2026-11-25T01:00:00.000Z"
                replies.append(entry)
        path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    assert len(replies) == 2 and replies[0]["id"] != replies[1]["id"]
    records, _, _ = collect(["pi"], None, None)
    assert sorted(_figures(records))[:2] == [
        ("anthropic", "claude-sonnet-4-5", 1200, 340, 5000, 20000),
        ("lab", "qwen3-coder-plus", 15, 7, 0, 0),
    ] and ("openai", "gpt-5", 800, 120, 0, 31000) in _figures(records)


def test_a_forked_pi_session_without_response_ids_counts_the_replies_it_copies_once(home: Path) -> None:
    """An older Pi (and providers that send none) writes no ``responseId``: the fork copies each
    entry's id and timestamp, and the copy must not be counted again under the new session."""
    original = _pi_file(home, 2)  # two replies of the `lab` provider
    entries = [json.loads(line) for line in original.read_text().splitlines()]
    for entry in entries:
        entry.get("message", {}).pop("responseId", None)
    original.write_text("".join(json.dumps(e) + "\n" for e in entries))
    fork = [entries[0] | {"id": "forked-session", "parentSession": str(original)}, *entries[1:]]
    original.with_name("2026-11-26T00-00-00-000Z_forked-session.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in fork)
    )
    records, refreshed, _ = collect(["pi"], None, None)
    assert refreshed.read == 4 and len(records) == 4
    assert sum(r.output for r in records if r.via == "lab") == 7 + 2210


def test_a_pi_line_with_a_count_that_cannot_be_a_bill_is_skipped_and_counted(home: Path) -> None:
    path = _pi_file(home, 1)
    reply = json.loads(path.read_text().splitlines()[-1])
    reply["message"]["usage"]["output"] = 10**13
    reply["message"]["responseId"] = "resp_hostile"
    reply["message"]["model"] = "gpt-5\x1b]0;owned\x07\r\nfake"
    escaped = dict(reply, message=dict(reply["message"], usage=dict(reply["message"]["usage"], output=5)))
    escaped["message"]["responseId"] = "resp_escaped"
    with path.open("a") as handle:
        handle.write(json.dumps(reply) + "\n" + json.dumps(escaped) + "\n")
    records, _, skipped = collect(["pi"], None, None)
    assert skipped == 1 and len(records) == 5
    [escaped_record] = [r for r in records if r.key.startswith("pi:resp_escaped@")]
    assert escaped_record.model == "gpt-5fake"  # the escape sequences whole and CR/LF taken out
    result = CliRunner().invoke(app, ["usage", "daily", "--tool", "pi", "--verbose"])
    assert result.exit_code == 0, result.output
    assert f"{path}:6" in result.output and "outside 0..1e+12" in result.output


def test_a_pi_reply_with_no_timestamp_or_one_that_is_not_iso_is_skipped_and_counted(home: Path) -> None:
    path = _pi_file(home, 1)
    reply = json.loads(path.read_text().splitlines()[-1])
    with path.open("a") as handle:
        for n, stamp in enumerate([None, "yesterday", "2026-11-23T15:22:00Zx"]):
            reply["timestamp"], reply["message"]["responseId"] = stamp, f"resp_undated_{n}"
            handle.write(json.dumps(reply) + "\n")
    records, _, skipped = collect(["pi"], None, None)
    assert skipped == 3 and len(records) == 4
    result = CliRunner().invoke(app, ["usage", "daily", "--tool", "pi", "--verbose"])
    assert f"{path}:6" in result.output and "no timestamp" in result.output
    assert f"{path}:8" in result.output and "a timestamp that is not ISO 8601" in result.output


def test_a_pi_reply_whose_provider_reported_only_a_total_counts_the_rest_as_output(home: Path) -> None:
    """Pi keeps the provider's ``totalTokens`` beside the parts, which stay 0 when the provider
    split nothing out (and Pi's cost is then 0): the tokens are real, counted as output as ccusage
    counts them; a reply with a part as well counts the rest of its total as output."""
    path = _pi_file(home, 1)
    reply = json.loads(path.read_text().splitlines()[-1])
    with path.open("a") as handle:
        for n, usage in enumerate(
            [
                {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 333},
                {"input": 100, "output": 0, "cacheRead": 20, "cacheWrite": 0, "totalTokens": 150},
                {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 0},  # an error
                {"input": 40, "output": 2, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 90},
            ]
        ):
            zero = {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "total": 0}
            reply["message"] |= {"usage": usage | {"cost": zero}, "responseId": f"resp_total_{n}"}
            handle.write(json.dumps(reply) + "\n")
    records, _, skipped = collect(["pi"], None, None)
    assert skipped == 0
    assert {
        r.key.partition("@")[0]: (r.input, r.output, r.cache_read) for r in records if "total" in r.key
    } == {
        "pi:resp_total_0": (0, 333, 0),
        "pi:resp_total_1": (100, 30, 20),
        "pi:resp_total_3": (40, 2, 0),  # it has an output: its parts as they are
    }


def test_opencode_reads_its_database_with_the_provider_and_model_each_reply_names(home: Path) -> None:
    records, refreshed, skipped = collect(["opencode"], None, None)
    # each run's title request (the mock's 2nd and 4th figures) is not in OpenCode's database
    assert _figures(records) == [
        ("anthropic", "claude-sonnet-4-5", 1200, 340, 5000, 20000),
        ("lab", "gpt-5", 15, 7, 0, 0),
    ]
    assert refreshed.read == 1 and skipped == 0 and not refreshed.problems
    assert {r.project for r in records} == {"shop"} and {r.source for r in records} == {"main"}
    assert all(r.key.startswith("opencode:msg_") and r.session.startswith("ses_") for r in records)


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / DB, isolation_level=None)


def _reply(message_id: str, updated: int, tokens: dict[str, object], **data: object) -> tuple[object, ...]:
    body = {
        "role": "assistant",
        "path": {"cwd": "/home/dev/src/shop", "root": "/"},
        "tokens": tokens,
        "modelID": "claude-sonnet-4-5",
        "providerID": "anthropic",
        "time": {"created": updated - 1000, "completed": updated},
        **data,
    }
    return (message_id, updated, json.dumps(body))


def _add(home: Path, *rows: tuple[object, ...], session: str | None = None) -> None:
    with closing(_db(home)) as db:
        session = session or db.execute("SELECT id FROM session ORDER BY time_created LIMIT 1").fetchone()[0]
        db.executemany(
            "INSERT INTO message (id, session_id, time_created, time_updated, data) VALUES (?, ?, ?, ?, ?)",
            [(mid, session, updated - 1000, updated, data) for mid, updated, data in rows],
        )


def _tokens(fresh: int, output: int, reasoning: int = 0, read: int = 0, write: int = 0) -> dict[str, object]:
    return {"input": fresh, "output": output, "reasoning": reasoning, "cache": {"read": read, "write": write}}


NOW = 1_795_600_000_000  # ms, after the fixture's replies


def test_opencode_counts_reasoning_as_output_and_a_subagents_requests_as_helpers(home: Path) -> None:
    with closing(_db(home)) as db:
        parent, project = db.execute("SELECT id, project_id FROM session LIMIT 1").fetchone()
        db.execute(
            "INSERT INTO session (id, project_id, parent_id, slug, directory, title, version,"
            " time_created, time_updated)"
            " VALUES ('ses_child', ?, ?, 'child', '/home/dev/src/shop', 'task', '1.18.33', ?, ?)",
            (project, parent, NOW, NOW),
        )
    _add(home, _reply("msg_think", NOW, _tokens(10, 20, reasoning=300)))
    _add(home, _reply("msg_task", NOW + 1, _tokens(5, 6)), session="ses_child")
    records, _, _ = collect(["opencode"], None, None)
    assert [(r.key, r.output, r.source) for r in records[-2:]] == [
        ("opencode:msg_think", 320, "main"),
        ("opencode:msg_task", 6, "helper"),
    ]


def test_hostile_opencode_rows_are_skipped_and_counted_never_the_report(home: Path) -> None:
    _add(
        home,
        _reply("msg_huge", NOW, _tokens(10**13, 1)),
        _reply("msg_neg", NOW, _tokens(-5, 1)),
        _reply("msg_year1", NOW, _tokens(1, 1), time={"created": 1}),
        ("msg_nan", NOW, '{"role": "assistant", "tokens": {"input": NaN}}'),
        ("msg_deep", NOW, '{"tokens": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        _reply("msg_ok", NOW, _tokens(7, 8), modelID="claude-\x1b[31msonnet-4-5\r\n"),
    )
    with closing(_db(home)) as db:  # a value that is not UTF-8 text: {"tokens":\xff}
        not_utf8 = "CAST(X'7b22746f6b656e73223aff7d' AS TEXT)"
        db.execute(f"INSERT INTO message VALUES ('msg_bytes', 'x', 0, ?, {not_utf8})", (NOW,))
        good = _reply("", NOW, _tokens(100, 1))[2]  # a good reply whose id is not UTF-8: kept
        db.execute("INSERT INTO message VALUES (CAST(X'6d7367ff' AS TEXT), 'x', 0, ?, ?)", (NOW, good))
    records, refreshed, skipped = collect(["opencode"], None, None)
    assert skipped == 6 and not refreshed.problems
    assert {r.key: r.model for r in records[-2:]} == {
        "opencode:msg_ok": "claude-sonnet-4-5",
        "opencode:msg\ufffd": "claude-sonnet-4-5",
    }
    result = CliRunner().invoke(app, ["usage", "daily", "--tool", "opencode", "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["totals"]["input_tokens"] == 1215 + 7 + 100


def test_an_opencode_reply_with_tokens_and_no_time_is_skipped_and_counted(home: Path) -> None:
    _add(home, _reply("msg_undated", NOW, _tokens(7, 8), time={}), _reply("msg_ok", NOW, _tokens(9, 1)))
    records, _, skipped = collect(["opencode"], None, None)
    assert skipped == 1 and [r.key for r in records[-1:]] == ["opencode:msg_ok"]
    assert "opencode:msg_undated" not in {r.key for r in records}


def test_only_rows_written_since_the_last_read_are_read_and_an_update_replaces_its_record(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    collect(["opencode"], None, None)
    seen: list[int] = []
    real = sqlite_log.Rows.pieces

    def counted(self: sqlite_log.Rows) -> Iterator[list[sqlite_log.Row]]:
        for piece in real(self):
            seen.extend(number for number, _ in piece)
            yield piece

    monkeypatch.setattr(sqlite_log.Rows, "pieces", counted)
    records, refreshed, _ = collect(["opencode"], None, None)
    assert refreshed.read == 0 and seen == [] and len(records) == 2  # unchanged: not opened
    _add(home, _reply("msg_new", NOW, {}))  # a reply being written: no tokens yet
    records, refreshed, _ = collect(["opencode"], None, None)
    # read: the row written at the newest time read before (written again in that millisecond?), and it
    assert refreshed.read == 1 and len(seen) == 2 and len(records) == 2
    with closing(_db(home)) as db:  # it ends: OpenCode updates the row
        db.execute(
            "UPDATE message SET time_updated = ?, data = ? WHERE id = 'msg_new'",
            _reply("msg_new", NOW + 5, _tokens(3, 4))[1:],
        )
    records, _, _ = collect(["opencode"], None, None)
    assert len(seen) == 3  # only that row again: the one updated since
    with closing(_db(home)) as db:
        db.execute(
            "UPDATE message SET time_updated = ?, data = ? WHERE id = 'msg_new'",
            _reply("msg_new", NOW + 9, _tokens(30, 40))[1:],
        )
    records, _, _ = collect(["opencode"], None, None)
    assert [(r.key, r.input, r.output) for r in records[2:]] == [("opencode:msg_new", 30, 40)]


def test_a_new_opencode_reply_adds_to_the_kept_sums_and_a_changed_one_adds_all_up_again(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A later read takes the row at the newest time read before again: as it was, it keeps its
    record (and the report's kept sums); changed, its record is replaced and the sums added up
    again."""
    from mahavishnu.usage.report import Sums, report

    added: list[int] = []
    real = Sums.add

    def add(self: Sums, records: Iterator[UsageRecord], *args: object) -> None:
        given = list(records)
        added.append(len(given))
        real(self, given, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Sums, "add", add)
    assert report("daily", None, ["opencode"]).totals.requests == 2
    _add(home, _reply("msg_a", NOW, _tokens(3, 4)))
    added.clear()
    assert report("daily", None, ["opencode"]).totals.requests == 3 and added == [1]
    with closing(_db(home)) as db:
        db.execute(
            "UPDATE message SET time_updated = ?, data = ? WHERE id = 'msg_a'",
            _reply("msg_a", NOW + 20, _tokens(30, 40))[1:],
        )
    added.clear()
    shown = report("daily", None, ["opencode"])
    assert (
        shown.totals.requests == 3
        and added == [3]
        and shown.totals.output
        == 40 + sum(r.output for r in collect(["opencode"], None, None)[0] if r.key != "opencode:msg_a")
    )


def test_deleted_rows_or_a_replaced_database_are_read_again_whole(home: Path) -> None:
    _add(home, _reply("msg_gone", NOW, _tokens(3, 4)))
    assert len(collect(["opencode"], None, None)[0]) == 3
    with closing(_db(home)) as db:
        db.execute("DELETE FROM message WHERE id = 'msg_gone'")
    assert len(collect(["opencode"], None, None)[0]) == 2
    copy = home / "other.db"
    shutil.copy(FIXTURES / DB, copy)
    with closing(sqlite3.connect(copy, isolation_level=None)) as db:
        db.execute("DELETE FROM message WHERE data LIKE '%claude%'")
    os.replace(copy, home / DB)  # another file under the name (a restore from a backup)
    records, _, _ = collect(["opencode"], None, None)
    assert [r.model for r in records] == ["gpt-5"]
    (home / DB).unlink()
    assert collect(["opencode"], None, None)[0] == []


def test_the_database_is_read_without_writing_it_or_holding_its_writer_back(home: Path) -> None:
    path = home / DB
    with closing(_db(home)) as db:
        db.execute("PRAGMA journal_mode = WAL")  # as OpenCode keeps it
    before = path.read_bytes(), path.stat().st_mtime_ns
    rows = sqlite_log.Rows(path, sqlite_log.Table("message", "data", "time_updated"), -1)
    pieces = rows.pieces()
    next(pieces)  # a read under way, its statement open
    _add(home, _reply("msg_meanwhile", NOW, _tokens(1, 1)))  # OpenCode writes meanwhile: not locked out
    list(pieces)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before  # the write went to the WAL file
    with (
        pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|attempt to write"),
        closing(sqlite_log._connect(path)) as db,
    ):
        db.execute("DELETE FROM message")


def test_a_database_locked_by_its_writer_is_one_problem_line_after_a_short_wait(home: Path) -> None:
    with closing(sqlite3.connect(home / DB, isolation_level=None)) as writer:
        writer.execute("BEGIN EXCLUSIVE")  # rollback-journal mode: an exclusive lock shuts readers out
        records, refreshed, _ = collect(["opencode"], None, None)
        writer.execute("ROLLBACK")
    assert records == [] and len(refreshed.problems) == 1
    assert "cannot read" in refreshed.problems[0] and "locked" in refreshed.problems[0]
    assert len(collect(["opencode"], None, None)[0]) == 2  # read on the next report


def test_an_opencode_database_linked_from_outside_its_folder_is_not_read(home: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.db"
    shutil.copy(home / DB, outside)
    (home / DB).unlink()
    (home / DB).symlink_to(outside)
    records, refreshed, _ = collect(["opencode"], None, None)
    assert records == [] and len(refreshed.problems) == 1 and "refusing to read" in refreshed.problems[0]


def test_a_pi_sessions_folder_that_leads_to_the_root_is_refused_in_one_line(home: Path) -> None:
    sessions = home / ".pi/agent/sessions"
    shutil.rmtree(sessions)
    sessions.symlink_to("/")
    result = CliRunner().invoke(app, ["usage", "daily", "--tool", "pi"])
    assert result.exit_code == 0
    assert "refusing to read" in result.output and "holds your home folder" in result.output


LAB_PROFILE = {"lab": ProfileEndpoints(stock=(), base_urls={"openai": "http://127.0.0.1:4000/v1"}, own=True)}


@pytest.mark.parametrize("tool", ["pi", "opencode"])
def test_the_provider_pi_and_opencode_name_on_a_message_decides_who_served_it(tool: Tool) -> None:
    attribution = Attribution([Switch(100, tool, "lab", None, "s1")], LAB_PROFILE)
    # a provider genai-prices knows by that id: that provider, whatever was switched
    assert attribution.provider(tool, 150, None, "gpt-5", "openai") == Provider("openai", price_id="openai")
    router = Provider("openrouter", price_id="openrouter")
    assert attribution.provider(tool, 150, None, "x", "openrouter") == router
    # a switch's provider, under the profile's name or as mahavishnu-<profile>: that profile (a gateway)
    lab = Provider("lab", "lab", "http://127.0.0.1:4000/v1", gateway=True)
    assert attribution.provider(tool, 50, None, "gpt-5", "lab") == lab
    assert attribution.provider(tool, 50, None, "gpt-5", "mahavishnu-lab") == lab
    # a name of the user's own: that name (unpriced unless usage.yaml prices it), switched or not
    assert attribution.provider(tool, 150, None, "gpt-5", "mine") == Provider("mine")
    assert attribution.provider(tool, 50, None, "gpt-5", "mine") == Provider("mine")
    assert attribution.provider(tool, 50, None, "my-model", "mine") == Provider("mine")


def test_the_dashboard_s_usage_page_stacks_pi_and_opencode_beside_the_others(home: Path) -> None:
    import datetime as dt

    from mahavishnu.ui import usage_view

    day = dt.date.fromtimestamp(collect(["pi"], None, None)[0][0].time)
    by_assistant = usage_view.build(7, until=day, stack="assistant")
    assert [name for name, _ in by_assistant.legend] == ["opencode", "pi"]
    assert by_assistant.total_tokens == 64792 + 26562  # what ccusage reports for each (e2e)
    by_provider = usage_view.build(7, until=day, stack="provider")
    assert [name for name, _ in by_provider.legend] == ["anthropic", "lab", "openai"]


def test_a_row_added_with_an_older_time_than_the_newest_read_is_read(home: Path) -> None:
    assert len(collect(["opencode"], None, None)[0]) == 2
    _add(home, _reply("msg_migrated", NOW - 10**10, _tokens(3, 4)))  # e.g. moved in from old storage/
    records, _, _ = collect(["opencode"], None, None)
    assert records[0].key == "opencode:msg_migrated" and len(records) == 3


def test_our_own_read_of_a_database_in_wal_mode_does_not_make_it_look_changed(tmp_path: Path) -> None:
    """Opening a WAL database read-only that nothing else has open creates an empty ``-wal`` and a
    ``-shm`` beside it: the next report must not take that for OpenCode's writing (it read the
    whole database again and dropped every kept sum); a real write to the ``-wal`` still counts."""
    path = tmp_path / "opencode.db"
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x)")
        db.execute("INSERT INTO t VALUES (1)")
        db.commit()
    hour_ago = path.stat().st_mtime_ns - 3600 * 10**9  # whatever the clock's grain, the -wal is newer
    os.utime(path, ns=(hour_ago, hour_ago))
    before = sqlite_log.signature(path)
    with closing(sqlite_log._connect(path)) as read:
        assert read.execute("SELECT COUNT(*) FROM t").fetchone() == (1,)
    assert Path(f"{path}-wal").exists() and sqlite_log.signature(path) == before

    writer = sqlite3.connect(path)  # OpenCode running: its write sits in the -wal
    writer.execute("INSERT INTO t VALUES (2)")
    writer.commit()
    assert sqlite_log.signature(path) != before
    writer.close()


def _read_by_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reports from here on read the database in a worker process (``ledger._read_all``'s pool)."""
    monkeypatch.setattr(ledger, "POOL_MIN", 1)
    monkeypatch.setattr(threading, "active_count", lambda: 1)  # (pytest's own threads: none fork here)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1}, raising=False)


_READ_TABLE = ledger._read_table


def _read_table_noted(plan: ledger._TablePlan) -> ledger._TableRead:
    """``ledger._read_table``, noting the process it ran in (in a worker, nothing else it does
    reaches the test's process)."""
    with Path(os.environ["TEST_TABLE_READERS"]).open("a") as out:
        out.write(f"{os.getpid()}\n")
    return _READ_TABLE(plan)


def _ledger_rows() -> list[tuple[object, ...]]:
    with ledger.opened() as db:
        return [
            *ledger.stored(db),
            *db.execute("SELECT path, tool, end_offset, state, lines, skipped FROM files"),
            *db.execute("SELECT * FROM bad_lines ORDER BY rowid"),
        ]


def test_a_worker_process_reads_the_database_as_this_one_does(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large first read reads OpenCode's database in a worker process while others read the logs:
    the same records, bad rows and state as read here; and so for what changes after."""
    _add(home, _reply("msg_huge", NOW, _tokens(10**13, 1)), _reply("msg_new", NOW, {}))
    _add(home, *(_reply(f"msg_{n}", NOW + n, _tokens(n, 1)) for n in range(1, 1200)))  # pieces of rows

    def changed(step: int) -> None:
        with closing(_db(home)) as db:
            if step == 0:  # a reply ends: its row is updated
                db.execute(
                    "UPDATE message SET time_updated = ?, data = ? WHERE id = 'msg_new'",
                    _reply("msg_new", NOW + 5000, _tokens(3, 4))[1:],
                )
            else:  # a session deleted: read again whole
                db.execute("DELETE FROM message WHERE id = 'msg_7'")

    def reports() -> list[object]:
        ledger.ledger_file().unlink(missing_ok=True)
        seen: list[object] = []
        for step in (0, 1, 2):
            records, refreshed, skipped = collect(["opencode", "pi"], None, None)
            seen += [[tuple(r) for r in records], refreshed.read, refreshed.problems, skipped, _ledger_rows()]
            if step < 2:
                changed(step)
        return seen

    shutil.copy(home / DB, home / "start.db")
    here = reports()
    shutil.copy(home / "start.db", home / DB)
    used: list[int] = []
    real = ledger._workers
    monkeypatch.setattr(ledger, "_workers", lambda new: used.append(real(new)) or used[-1])
    readers = home / "readers"
    monkeypatch.setenv("TEST_TABLE_READERS", str(readers))
    monkeypatch.setattr(ledger, "_read_table", _read_table_noted)
    _read_by_workers(monkeypatch)
    assert reports() == here
    assert used[0] == 2 and len(here[0]) > 1200  # type: ignore[arg-type]
    assert str(os.getpid()) not in readers.read_text().split()  # every read of it by a worker


def test_a_database_locked_by_its_writer_read_by_a_worker_is_one_problem_line(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _read_by_workers(monkeypatch)
    with closing(sqlite3.connect(home / DB, isolation_level=None)) as writer:
        writer.execute("BEGIN EXCLUSIVE")
        records, refreshed, _ = collect(["opencode", "pi"], None, None)
        writer.execute("ROLLBACK")
    assert [r.tool for r in records] == ["pi"] * len(records) and len(records) > 0
    assert len(refreshed.problems) == 1 and "locked" in refreshed.problems[0]
    assert {r.tool for r in collect(["opencode", "pi"], None, None)[0]} == {"pi", "opencode"}


def test_a_database_that_turns_unreadable_keeps_what_was_read_and_says_so(home: Path) -> None:
    """The report kept the requests read before from a database damaged since (while a first read
    of it found none): the problem line says they still count."""
    assert len(collect(["opencode"], None, None)[0]) == 2
    (home / DB).write_bytes(b"garbage, not a database" * 100)
    records, refreshed, _ = collect(["opencode"], None, None)
    assert len(records) == 2 and len(refreshed.problems) == 1, refreshed.problems
    assert "rows read from it before still count" in refreshed.problems[0], refreshed.problems


@pytest.mark.parametrize("how", ["setting", "setting-tilde", "environment"])
def test_pi_sessions_where_its_session_dir_puts_them_are_read_and_captured(
    home: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Pi 0.73 keeps its sessions where ``PI_CODING_AGENT_SESSION_DIR`` or ``sessionDir`` in its
    settings.json says, each file in that folder: usage found none, and the extension's capture was
    refused as a file outside Pi's session folder (``paths.pi_sessions_dir``)."""
    elsewhere = home / "pi-sessions"
    elsewhere.mkdir()
    for n, path in enumerate(sorted((home / ".pi/agent/sessions").glob("*/*.jsonl"))):
        path.rename(elsewhere / f"{n}-{path.name}")
    shutil.rmtree(home / ".pi/agent/sessions")
    settings = home / ".pi/agent/settings.json"
    if how == "environment":
        monkeypatch.setenv("PI_CODING_AGENT_SESSION_DIR", str(elsewhere))
    else:
        chosen = "~/pi-sessions" if how == "setting-tilde" else str(elsewhere)
        settings.write_text(json.dumps({"sessionDir": chosen}))

    records, refreshed, _ = collect(["pi"], None, None)
    assert len(records) == 4 and refreshed.read == 3

    session = sorted(elsewhere.glob("*.jsonl"))[0]
    payload = json.dumps({"hook_event_name": "agent_end", "transcript_path": str(session), "cwd": str(home)})
    result = CliRunner().invoke(app, ["memory", "import", "--tool", "pi", "-"], input=payload)
    assert result.exit_code == 0, result.output
    from mahavishnu.memory.core.store import MemoryStore

    with MemoryStore.open() as store:
        turns = store.recent(limit=50)
    assert turns and {m.memory_type for m in turns} == {"agent"}  # the session's turns, captured
