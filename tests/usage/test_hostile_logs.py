"""Damaged, hostile and growing logs: a broken line, a non-UTF-8 byte, a huge line, random bytes,
a line still being written, a log rewritten or deleted. Each is skipped and counted or read again;
none raises."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mahavishnu.usage import logfile
from mahavishnu.usage.records import Tool
from mahavishnu.usage.report import collect, report


def _claude_line(n: int, *, message_id: str | None = None, cwd: str = "/home/dev/src/shop") -> bytes:
    entry = {
        "type": "assistant",
        "sessionId": "s1",
        "cwd": cwd,
        "requestId": f"req_{n}",
        "timestamp": f"2026-01-0{1 + n % 9}T10:00:00.000Z",
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


def _read_starts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Where each read of a log starts from now on (the byte offset), as reads happen."""
    starts: list[int] = []
    real = logfile.Tail.pieces

    def pieces(tail: logfile.Tail) -> Iterator[logfile.Block]:
        starts.append(tail.start)
        return real(tail)

    monkeypatch.setattr(logfile.Tail, "pieces", pieces)
    return starts


def _inputs() -> list[int]:
    return [r.input for r in collect(["claude"], None, None)[0]]


def test_broken_lines_and_a_non_utf8_byte_are_skipped_and_counted(isolated_home: Path) -> None:
    log = _session(isolated_home)
    log.write_bytes(
        _claude_line(1)
        + b'{"type": "assistant", "message": {"usage": \n'  # cut off
        + b'{"type": "assistant", "usage": "\xff\xfe"}\n'  # not UTF-8
        + b'[1, 2, "usage"]\n'  # JSON, not an object
        + _claude_line(2)
    )
    records, refreshed, skipped = collect(["claude"], None, None)
    assert [r.input for r in records] == [1, 2]
    assert skipped == 3 and not refreshed.problems


def test_a_huge_line_is_skipped_without_being_held(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logfile, "PIECE_BYTES", 4096)
    monkeypatch.setattr(logfile, "MAX_LINE", 4096)
    log = _session(isolated_home)
    log.write_bytes(_claude_line(1) + b'{"usage": "' + b"x" * 50_000 + b'"}\n' + _claude_line(2))
    records, _, skipped = collect(["claude"], None, None)
    assert [r.input for r in records] == [1, 2] and skipped == 1


def test_a_long_line_that_ends_in_the_next_piece_is_skipped_and_the_lines_after_it_numbered(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logfile, "PIECE_BYTES", 4096)
    monkeypatch.setattr(logfile, "MAX_LINE", 4096)
    long = b'{"usage": "' + b"x" * 4200 + b'"}\n'  # begins in the first piece, ends in the second
    _session(isolated_home).write_bytes(_claude_line(1) + long + _claude_line(2) + b'{"usage": \n')
    built = report("daily", None, ["claude"], verbose=True)
    assert built.totals.requests == 2
    assert [(line, why) for _, line, why in built.bad_lines] == [(2, "longer than 0 MB"), (4, "not JSON")]


def test_a_line_still_being_written_waits_for_its_end(isolated_home: Path) -> None:
    log = _session(isolated_home)
    whole = _claude_line(2)
    log.write_bytes(_claude_line(1) + whole[:40])
    assert _inputs() == [1]
    with log.open("ab") as handle:
        handle.write(whole[40:])
    assert _inputs() == [1, 2]


def test_only_new_lines_are_read_again(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = _session(isolated_home)
    log.write_bytes(_claude_line(1) + _claude_line(2))
    assert _inputs() == [1, 2]
    starts = _read_starts(monkeypatch)
    with log.open("ab") as handle:
        handle.write(_claude_line(3))
    assert _inputs() == [1, 2, 3]
    assert starts == [len(_claude_line(1) + _claude_line(2))]
    assert _inputs() == [1, 2, 3] and starts == [starts[0]]  # unchanged: not opened at all


def test_a_rewritten_log_is_read_again_whole_and_a_deleted_one_forgotten(isolated_home: Path) -> None:
    log = _session(isolated_home)
    log.write_bytes(_claude_line(1) + _claude_line(2))
    assert _inputs() == [1, 2]
    log.write_bytes(_claude_line(7))  # shorter: replaced
    assert _inputs() == [7]
    other = _session(isolated_home, "s2")
    other.write_bytes(_claude_line(8))
    assert _inputs() == [7, 8]
    log.unlink()
    assert _inputs() == [8]


def test_a_message_repeated_in_another_file_counts_once(isolated_home: Path) -> None:
    _session(isolated_home, "a").write_bytes(_claude_line(1) + _claude_line(2))
    _session(isolated_home, "b").write_bytes(_claude_line(1) + _claude_line(3))  # a fork repeats msg_1
    assert _inputs() == [1, 2, 3]


def test_a_log_that_cannot_be_read_is_one_problem_line(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mahavishnu.memory.loop import session_logs

    ok = _session(isolated_home, "ok")
    ok.write_bytes(_claude_line(5))
    gone = _session(isolated_home, "gone")  # listed, then deleted before it was read
    monkeypatch.setattr(session_logs, "find_sessions", lambda tool: [gone, ok])
    records, refreshed, _ = collect(["claude"], None, None)
    assert [r.input for r in records] == [5]
    assert refreshed.problems == [f"cannot read {gone}: No such file or directory"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=300),
            st.builds(_claude_line, st.integers(min_value=0, max_value=10**6)),
            st.sampled_from([b'{"usage": {}}\n', b'{"type": "assistant", "message": {"usage": null}}\n']),
            st.builds(
                lambda n, t: json.dumps(
                    {
                        "type": "assistant",
                        "timestamp": t,
                        "message": {"id": "m", "model": n, "usage": {"input_tokens": t}},
                    }
                ).encode(),
                st.one_of(st.text(max_size=10), st.integers()),
                st.one_of(st.text(max_size=30), st.integers(), st.none(), st.floats()),
            ),
        ),
        max_size=20,
    )
)
def test_any_bytes_give_records_or_skipped_lines_never_an_exception(
    isolated_home: Path, pieces: list[bytes]
) -> None:
    log = _session(isolated_home, "fuzz")
    log.write_bytes(b"\n".join(pieces))
    records, refreshed, _ = collect(["claude"], None, None)
    assert not refreshed.problems
    assert all(r.input >= 0 and r.output >= 0 and r.cache_read >= 0 for r in records)


def _usage_line(n: int, usage: dict[str, object], **fields: object) -> bytes:
    entry: dict[str, object] = {
        "type": "assistant",
        "sessionId": "s1",
        "cwd": "/home/dev/src/shop",
        "requestId": f"req_{n}",
        "timestamp": "2026-01-02T10:00:00.000Z",
        "message": {"id": f"msg_{n}", "model": "claude-sonnet-4-5", "usage": usage},
    }
    entry.update(fields)
    return json.dumps(entry).encode() + b"\n"


@pytest.mark.parametrize(
    ("raw_count", "why"),
    [
        ("NaN", "not JSON"),  # Python's json takes these three, JSON does not
        ("Infinity", "not JSON"),
        ("-Infinity", "not JSON"),
        ("1e308", "outside 0..1e+12"),
        (str(2**63), "outside 0..1e+12"),  # past SQLite's integers
        (str(2**63 - 1), "outside 0..1e+12"),  # int64's maximum: 18e18 tokens, $55 trillion
        ("-5", "outside 0..1e+12"),
        ("1.5", "not a whole number"),  # never a token count: not 1 or 2 quietly
        ('"12"', "not a number"),
        ("true", "not a number"),
    ],
)
def test_a_count_that_cannot_be_a_bill_skips_its_line_and_every_report_still_works(
    isolated_home: Path, raw_count: str, why: str
) -> None:
    hostile = _usage_line(9, {"input_tokens": 0, "output_tokens": 0}).replace(
        b'"input_tokens": 0', f'"input_tokens": {raw_count}'.encode()
    )
    _session(isolated_home).write_bytes(_claude_line(1) + hostile + _claude_line(2))
    records, _, skipped = collect(["claude"], None, None)
    assert [r.input for r in records] == [1, 2] and skipped == 1
    built = report("daily", None, ["claude"], verbose=True)
    assert built.totals.input == 3 and built.totals.requests == 2
    [(file, line, reason)] = built.bad_lines
    assert file.endswith("s1.jsonl") and line == 2 and why in reason


def test_the_largest_count_a_line_may_have_is_reported_and_kept_past_int64_picodollars(
    isolated_home: Path,
) -> None:
    # two lines of 10^12 output tokens at Sonnet's USD 15 a million: USD 30 million, 3e19
    # picodollars, past what a 64-bit integer holds
    huge = [_usage_line(n, {"input_tokens": 0, "output_tokens": 10**12}) for n in (8, 9)]
    _session(isolated_home).write_bytes(b"".join(huge) + _claude_line(1))
    first = report("daily", None, ["claude"])
    again = report("daily", None, ["claude"])  # (from the sums the first kept)
    for built in (first, again):
        assert built.totals.output == 2 * 10**12 + 2
        assert built.totals.units == 30 * 10**18 + 3 * 10**6 + 30 * 10**6 + 9 * 10**5


def test_a_timestamp_in_the_year_1_skips_its_line(isolated_home: Path) -> None:
    hostile = _usage_line(9, {"input_tokens": 5}, timestamp="0001-01-01T00:00:00Z")
    _session(isolated_home).write_bytes(hostile + _claude_line(1))
    for period in ("daily", "monthly", "sessions"):
        built = report(period, "model", ["claude"], verbose=True)  # type: ignore[arg-type]
        assert built.totals.input == 1
    assert [why for _, _, why in built.bad_lines] == ["a timestamp in the year 1"]


def test_a_line_nested_100000_deep_is_skipped_not_the_report(isolated_home: Path) -> None:
    deep = b'{"usage": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    _session(isolated_home).write_bytes(_claude_line(1) + deep + _claude_line(2))
    built = report("daily", None, ["claude"], verbose=True)
    assert built.totals.input == 3
    assert [(line, why) for _, line, why in built.bad_lines] == [(2, "nested too deeply")]


def test_line_numbers_go_on_across_reads_of_a_growing_log(isolated_home: Path) -> None:
    log = _session(isolated_home)
    log.write_bytes(_claude_line(1) + b'{"usage": not json\n')
    report("daily", None, ["claude"])
    with log.open("ab") as handle:
        handle.write(_claude_line(2) + b'{"usage": broken\n')
    built = report("daily", None, ["claude"], verbose=True)
    assert [(line, why) for _, line, why in built.bad_lines] == [(2, "not JSON"), (4, "not JSON")]


@pytest.mark.parametrize(
    "model",
    [
        "claude\x1b[2J\x1b[Hcleared",  # ANSI: clear the screen
        "claude\x1b]0;pwned\x07",  # OSC: retitle the terminal
        "claude\r\nfake-row 999,999",  # CR/LF: forge a line
        "claude\x9b31m\u202eevil",  # C1 CSI and a right-to-left override
    ],
)
def test_control_characters_in_a_model_name_never_reach_the_terminal(isolated_home: Path, model: str) -> None:
    from typer.testing import CliRunner

    from mahavishnu.cli.main import app

    line = _usage_line(1, {"input_tokens": 7, "output_tokens": 1})
    _session(isolated_home).write_bytes(line.replace(b'"claude-sonnet-4-5"', json.dumps(model).encode()))
    result = CliRunner().invoke(app, ["usage", "--by", "model", "--tool", "claude"])
    assert result.exit_code == 0, result.output
    shown = result.output
    assert not any(ch in shown for ch in "\x1b\x07\r\x9b\u202e"), repr(shown)
    assert "7" in shown and not any(row.startswith("fake-row") for row in shown.splitlines())
    [record] = collect(["claude"], None, None)[0]
    assert record.model.startswith("claude") and record.model.isprintable()
    assert not any(rest in record.model for rest in ("[2J", "[H", "]0;")), record.model  # sequences whole


def test_verbose_lists_each_skipped_line_as_file_line_and_why(isolated_home: Path) -> None:
    from typer.testing import CliRunner

    from mahavishnu.cli.main import app

    log = _session(isolated_home)
    log.write_bytes(_claude_line(1) + _usage_line(2, {"input_tokens": 1e308}))
    quiet = CliRunner().invoke(app, ["usage", "--tool", "claude"])
    assert quiet.exit_code == 0
    assert "1 damaged, hostile or oversized log line was skipped" in " ".join(quiet.output.split())
    assert "--verbose lists them" in quiet.output
    loud = CliRunner().invoke(app, ["usage", "--tool", "claude", "--verbose", "--json"])
    assert loud.exit_code == 0
    why = "a token count is outside 0..1e+12 (1e+308)"
    assert f"skipped {log}:2: {why}" in " ".join(loud.stderr.split())
    data = json.loads(loud.stdout)
    assert data["bad_lines"] == [{"file": str(log), "line": 2, "reason": why}]


def test_a_session_file_linked_from_outside_the_folder_is_not_read(
    isolated_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("elsewhere") / "secret.jsonl"
    outside.write_bytes(_claude_line(50))
    inside = _session(isolated_home, "real")
    inside.write_bytes(_claude_line(1))
    (inside.parent / "linked.jsonl").symlink_to(outside)
    (inside.parent / "subdir-link").symlink_to(outside.parent, target_is_directory=True)
    (inside.parent / "fifo.jsonl").symlink_to("/dev/zero")
    (inside.parent / "local-link.jsonl").symlink_to(inside)  # a link that stays inside is fine
    assert _inputs() == [1]
    files = collect(["claude"], None, None)[1]
    assert not files.problems


def test_a_session_folder_that_leads_to_the_root_is_refused_in_one_line(isolated_home: Path) -> None:
    (isolated_home / ".claude").mkdir()
    (isolated_home / ".claude" / "projects").symlink_to("/")
    gemini = isolated_home / ".gemini" / "tmp" / "p" / "chats"
    gemini.mkdir(parents=True)
    built = report("daily", None, ["claude", "gemini"], verbose=True)
    assert built.totals.requests == 0
    assert len(built.problems) == 1 and "which holds your home folder" in built.problems[0]


def test_a_log_read_in_many_pieces_counts_every_line_once(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logfile, "PIECE_BYTES", 1024)
    monkeypatch.setattr(logfile, "MAX_LINE", 1024)
    pieces: list[int] = []
    real = logfile.Tail.pieces

    def blocks(tail: logfile.Tail) -> Iterator[logfile.Block]:
        for block in real(tail):
            pieces.append(len(block.data))
            yield block

    monkeypatch.setattr(logfile.Tail, "pieces", blocks)
    _session(isolated_home).write_bytes(b"".join(_claude_line(n) for n in range(1, 61)))
    assert sorted(_inputs()) == list(range(1, 61))
    assert len(pieces) > 10 and max(pieces) <= 2 * 1024  # a piece and the line it cut, at most


def test_a_rotated_log_another_file_under_the_same_name_is_read_again_whole(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _session(isolated_home)
    log.write_bytes(_claude_line(1) + _claude_line(2))
    assert _inputs() == [1, 2]
    # rotation: the old file moved away (and out of the folder), a new one under the name that
    # starts with the same bytes and is longer: not an append, whatever its head and size say
    log.rename(isolated_home / "rotated.jsonl.1")
    log.write_bytes(_claude_line(1) + _claude_line(2) + _claude_line(3) + _claude_line(4))
    starts = _read_starts(monkeypatch)
    assert _inputs() == [1, 2, 3, 4] and starts == [0]


def test_a_truncated_log_is_read_again_and_a_touched_one_reads_nothing_new(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    log = _session(isolated_home)
    log.write_bytes(_claude_line(1) + _claude_line(2) + _claude_line(3))
    assert _inputs() == [1, 2, 3]
    with log.open("r+b") as handle:  # truncated in place: the same file, shorter
        handle.truncate(len(_claude_line(1)))
    assert _inputs() == [1]
    starts = _read_starts(monkeypatch)
    os.utime(log, ns=(0, 1_000_000_000))  # only the time changed: opened, nothing new read
    assert _inputs() == [1] and starts == [len(_claude_line(1))]


def _codex_count(stamp: object, fresh: int) -> dict[str, object]:
    usage = {"input_tokens": fresh, "output_tokens": 1}
    return {
        "type": "event_msg",
        "timestamp": stamp,
        "payload": {"type": "token_count", "info": {"last_token_usage": usage}},
    }


#: Each assistant's log (under HOME): its first lines, and a request line with a timestamp and fresh input.
_REQUESTS: dict[Tool, tuple[str, list[dict[str, object]], Callable[[object, int], dict[str, object]]]] = {
    "claude": (
        ".claude/projects/-x/s9.jsonl",
        [],
        lambda stamp, n: {
            "type": "assistant", "sessionId": "s9", "timestamp": stamp,
            "message": {
                "id": f"m{n}", "model": "claude-sonnet-4-5", "usage": {"input_tokens": n, "output_tokens": 1},
            },
        },
    ),
    "codex": (  # an older Codex: token_count lines only
        ".codex/sessions/2026/01/02/rollout-2026-01-02T10-00-00-s9.jsonl",
        [
            {"type": "session_meta", "timestamp": "2026-01-02T10:00:00Z", "payload": {"id": "s9"}},
            {"type": "turn_context", "timestamp": "2026-01-02T10:00:00Z", "payload": {"model": "gpt-5"}},
        ],
        _codex_count,
    ),
    "qwen": (
        ".qwen/projects/-x/chats/s9.jsonl",
        [],
        lambda stamp, n: {
            "type": "system", "sessionId": "s9", "uuid": f"u{n}", "timestamp": stamp,
            "systemPayload": {"uiEvent": {
                "event.name": "qwen-code.api_response", "response_id": f"r{n}", "model": "gpt-5",
                "input_token_count": n, "output_token_count": 1,
            }},
        },
    ),
    "gemini": (
        ".gemini/tmp/x/chats/session-s9.jsonl",
        [{"sessionId": "s9"}],
        lambda stamp, n: {
            "id": f"g{n}", "type": "gemini", "timestamp": stamp, "model": "gemini-2.5-pro",
            "tokens": {"input": n, "output": 1},
        },
    ),
}  # fmt: skip


@pytest.mark.parametrize("tool", sorted(_REQUESTS))
def test_a_request_with_no_timestamp_or_one_that_is_not_iso_is_skipped_and_counted(
    isolated_home: Path, tool: str
) -> None:
    where, first, request = _REQUESTS[tool]
    log = isolated_home / where
    log.parent.mkdir(parents=True)
    stamps = [None, "yesterday", "2026-01-02T10:00:00Zx", 1767348000, "2026-01-02T10:00:00Z"]
    lines = [*first, *(request(stamp, 1000 + n) for n, stamp in enumerate(stamps))]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    built = report("daily", None, [tool], verbose=True)
    assert built.totals.input == 1004 and built.totals.requests == 1
    assert [(line, why) for _, line, why in built.bad_lines] == [
        (len(first) + 1, "no timestamp"),
        (len(first) + 2, "a timestamp that is not ISO 8601"),
        (len(first) + 3, "a timestamp that is not ISO 8601"),
        (len(first) + 4, "a timestamp that is not text"),
    ]
