"""Damaged, hostile and growing logs: a broken line, a non-UTF-8 byte, a huge line, random bytes,
a line still being written, a log rewritten or deleted. Each is skipped and counted or read again;
none raises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mahavishnu.usage import ledger, logfile
from mahavishnu.usage.report import collect


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
    starts: list[int] = []
    real = ledger.read_tail
    monkeypatch.setattr(
        ledger, "read_tail", lambda path, start, wanted: starts.append(start) or real(path, start, wanted)
    )
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
