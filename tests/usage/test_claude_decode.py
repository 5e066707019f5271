"""Claude Code's lines are read two ways: ``decode_block`` (typed, skipping the content: a block
of lines in one call, or one line when the block has a line it cannot take) and ``parse`` (the
whole line) for a line of another shape. Whichever reads a line, its record and its reason for
being bad are the same, and so is what a block makes and what its lines make one at a time."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Hashable
from pathlib import Path
from unittest import mock

import orjson
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mahavishnu.usage import ledger
from mahavishnu.usage.logfile import Block, parse_object
from mahavishnu.usage.readers import READERS, claude
from mahavishnu.usage.records import BadLine, UsageRecord

FIXTURES = Path(__file__).parent / "fixtures" / "home" / ".claude" / "projects"
LOG = Path("/home/dev/.claude/projects/-home-dev-src-shop/0b5e2ad4.jsonl")


def _decoded(line: bytes) -> list[UsageRecord] | None:
    """What the typed decode makes of ``line`` on its own (None: it leaves it to ``parse``)."""
    return claude.decode_block(LOG, Block(line, 1, 1), set())


def _parsed(line: bytes) -> list[UsageRecord] | str:
    """What the whole parse makes of ``line``: its records, or why it is bad."""
    value, why = parse_object(line)
    if value is None:
        return why
    try:
        return claude.parse(LOG, [value], {})
    except (BadLine, ValueError, TypeError, ArithmeticError) as error:
        return str(error)


def _line(**fields: object) -> bytes:
    usage = {
        "input_tokens": 1200, "output_tokens": 340, "cache_creation_input_tokens": 5000,
        "cache_read_input_tokens": 20000,
        "cache_creation": {"ephemeral_5m_input_tokens": 3000, "ephemeral_1h_input_tokens": 2000},
    }  # fmt: skip
    entry: dict[str, object] = {
        "parentUuid": "p1", "isSidechain": False, "cwd": "/home/dev/src/shop", "sessionId": "0b5e2ad4",
        "message": {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                    "content": [{"type": "text", "text": "Done.\nok"}], "usage": usage},
        "requestId": "req_01", "type": "assistant", "uuid": "u1", "timestamp": "2026-03-04T05:06:07.000Z",
    }  # fmt: skip
    entry.update(fields)
    return json.dumps(entry, separators=(",", ":")).encode()


def test_every_line_the_real_claude_code_wrote_decodes_to_what_the_whole_parse_makes() -> None:
    lines = [line for file in sorted(FIXTURES.rglob("*.jsonl")) for line in file.read_bytes().splitlines()]
    usage_lines = [line for line in lines if b'"usage"' in line]
    assert len(usage_lines) >= 3
    for line in usage_lines:
        decoded = _decoded(line)
        assert decoded is not None, line[:200]  # the real shape is the typed one
        assert decoded == _parsed(line)
    assert sum(len(_decoded(line) or []) for line in usage_lines) >= 3


def test_a_typical_line_decodes_with_its_one_hour_cache_writes_and_its_sidechain() -> None:
    (record,) = _decoded(_line(isSidechain=True)) or []
    assert (record.input, record.output, record.cache_write, record.cache_read) == (1200, 340, 5000, 20000)
    assert (record.cache_write_1h, record.source, record.project) == (2000, "helper", "shop")
    assert record.key == "claude:msg_01@claude-sonnet-4-5" and record.session == "0b5e2ad4"


def test_lines_of_another_shape_are_left_to_the_whole_parse() -> None:
    for odd in (
        _line(message={"id": "m", "model": "claude-sonnet-4-5", "usage": {}}),  # no usage: not a request
        _line(isSidechain="true"),  # not a bool: the parse's rule (only true is a helper) decides
        _line(message={"id": 7, "model": "claude-sonnet-4-5", "usage": {"input_tokens": 1}}),
        _line(message="text"),
        _line(cwd="/home/dev/src/cafe").replace(b"cafe", b"caf\xe9"),  # not UTF-8
        _line(message={"id": "m", "model": "x", "usage": {"input_tokens": True}}),
        _line(message={"id": "m", "model": "x", "usage": {"input_tokens": 1e308}}),
        _line(timestamp="0001-01-01T00:00:00Z"),
    ):
        assert _decoded(odd) is None, odd


def test_the_ledger_keeps_the_lines_order_when_some_lines_need_the_whole_parse(tmp_path: Path) -> None:
    lines = [
        _line(message={"id": f"m{n}", "model": "claude-sonnet-4-5", "usage": {"input_tokens": n}},
              requestId=f"r{n}", cwd="/home/dev/src/cafe" if n % 3 == 0 else "/home/dev/src/shop")
        for n in range(1, 10)
    ]  # fmt: skip
    lines = [line.replace(b"cafe", b"ca\\u0066e") for line in lines]  # escaped: for the whole parse
    bad: list[tuple[int, str]] = []
    found = ledger._parse(claude.READER, LOG, list(enumerate(lines, 1)), {}, bad, set())
    assert [r.input for r in found] == list(range(1, 10)) and not bad
    assert [r.project for r in found][:3] == ["shop", "shop", "cafe"]


_counts = st.one_of(
    st.none(), st.integers(-5, 2**70), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(max_size=3),
)  # fmt: skip
_texts = st.one_of(st.none(), st.text(max_size=12), st.integers(0, 9))
_TIMES = [
    "2026-03-04T05:06:07.000Z", "2026-03-04", "1999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "soon",
    "2026-03-04T05:06:07+02:00",
]  # fmt: skip


#: Lines of no usual shape, holding "usage" (else a line at a time would pass over them unread): a
#: blank line, two values on one line, a value over two lines, usage null, a placeholder, a repeat
#: of msg_01 with a bad count, text with a byte that is not UTF-8.
_BLANK, _TWO_ON_ONE, _OVER_TWO = (
    b"",
    _line() + b" " + _line(requestId="r2"),
    _line()[:90] + b"\n" + _line()[90:],
)
_ODD = [
    _BLANK, _TWO_ON_ONE, _OVER_TWO,
    _line(message={"id": "msg_01", "model": "claude-sonnet-4-5", "usage": None}),
    _line(message={"id": "msg_01", "model": "<synthetic>", "usage": {"input_tokens": 0}}),
    _line(message={"id": "msg_01", "model": "x", "usage": {"input_tokens": -1}}),
    _line().replace(b"Done.", b"Don\xff"), _line(), b"[1]",
]  # fmt: skip


@st.composite
def _any_line(draw: st.DrawFn) -> bytes | None:
    """A line of the shape Claude Code writes, any of its fields odd (None: not JSON-able)."""
    counts = draw(st.lists(_counts, min_size=5, max_size=5))
    usage: dict[str, object] = {
        name: value
        for name, value in zip(
            ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"),
            counts,
            strict=False,
        )
        if value is not None
    }
    if counts[4] is not None:
        usage["cache_creation"] = {"ephemeral_1h_input_tokens": counts[4]}
    if draw(st.booleans()):
        usage["service_tier"] = "standard"
    models = st.one_of(st.sampled_from(["claude-opus-4-1", "<synthetic>", "", "a\x1b[2Jb"]), _texts)
    message = {"id": draw(_texts), "usage": usage, "content": [{"type": "text"}], "model": draw(models)}
    try:
        return orjson.dumps(
            {"type": draw(st.sampled_from(["assistant", "user", None, 3])),
             "uuid": draw(st.sampled_from(["u1", "u2"])), "timestamp": draw(st.sampled_from(_TIMES)),
             "requestId": draw(_texts), "sessionId": draw(_texts),
             "isSidechain": draw(st.one_of(st.booleans(), st.none(), st.just("true"))), "message": message},
        )  # fmt: skip
    except orjson.JSONEncodeError:  # an integer beyond 64 bits: no log can hold it as JSON here
        return None


@settings(max_examples=300, deadline=None)
@given(line=_any_line())
def test_decode_and_the_whole_parse_agree_on_any_line(line: bytes | None) -> None:
    decoded = None if line is None else _decoded(line)
    if line is not None and decoded is not None:
        assert decoded == _parsed(line)


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(st.one_of(_any_line(), st.sampled_from(_ODD)), max_size=6))
def test_a_block_of_any_lines_reads_as_its_lines_read_one_at_a_time(lines: list[bytes | None]) -> None:
    assume(_TWO_ON_ONE not in lines or not {_BLANK, _OVER_TWO} & set(lines))  # (the gap below)
    _both_ways(b"".join(line + b"\n" for line in lines if line is not None))


def _read(log: Path, blocks: bool) -> tuple[list[UsageRecord], list[tuple[int, str]]]:
    """The records and bad lines of ``log`` as a worker reads it: in blocks, or a line at a time."""

    def lines_only(path: Path, block: Block, seen: set[Hashable]) -> list[UsageRecord] | None:
        return claude.decode_block(path, block, seen) if block.lines == 1 else None

    reader = dataclasses.replace(claude.READER, decode_block=claude.decode_block if blocks else lines_only)
    plan = ledger._Plan("claude", log, 0, 0, {}, log.stat().st_size, 0, b"", "")
    with mock.patch.dict(READERS, {"claude": reader}):
        encoded, bad, *_ = ledger._read_whole(plan)
    return [UsageRecord(*row) for row in ledger._decoded(encoded[0])] if encoded[1] else [], bad


def _both_ways(data: bytes) -> tuple[list[UsageRecord], list[tuple[int, str]]]:
    """``data`` read as a log in blocks and a line at a time: the same (else the test fails)."""
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "s.jsonl"
        log.write_bytes(data)
        found = _read(log, blocks=True)
        assert found == _read(log, blocks=False)
        return found


def test_a_block_decodes_to_what_reading_its_lines_one_at_a_time_makes() -> None:
    for file in sorted(FIXTURES.rglob("*.jsonl")):
        data = file.read_bytes()
        records, bad = _both_ways(data)
        assert claude.decode_block(LOG, Block(data.rstrip(b"\n"), 1, data.count(b"\n")), {}) is not None
        assert not bad and (records or b'"usage"' not in data)
    # one reply on two lines, then replayed under another request id (a subagent's log): once
    streamed = _line() + b"\n" + _line() + b"\n" + _line(requestId="req_02") + b"\n"
    assert [r.key for r in _both_ways(streamed)[0]] == ["claude:msg_01@claude-sonnet-4-5"]
    placeholder = _line(message={"id": "msg_01", "model": "<synthetic>", "usage": {"input_tokens": 0}})
    assert [r.model for r in _both_ways(placeholder + b"\n" + _line() + b"\n")[0]] == ["claude-sonnet-4-5"]
    unnamed = {"model": "claude-sonnet-4-5", "usage": {"input_tokens": 3}}  # keyed by their uuids
    apart = _line(message=unnamed, requestId=None) + b"\n" + _line(message=unnamed, requestId=None, uuid="u2")
    assert [r.key for r in _both_ways(apart + b"\n")[0]] == [
        "claude:u1@claude-sonnet-4-5",
        "claude:u2@claude-sonnet-4-5",
    ]


def test_a_block_with_a_line_it_cannot_take_is_left_to_the_line_at_a_time_read() -> None:
    good = _line(message={"id": "m1", "model": "claude-sonnet-4-5", "usage": {"input_tokens": 5}})
    for odd in (
        b"",  # a blank line: msgspec would pass over it, and number the lines after it wrong
        good + b" " + _line(),  # two values on one line: msgspec would take both
        _line()[:90] + b"\n" + _line()[90:],  # a line cut in a key: two lines, neither JSON
        _line()[:40] + b"\n" + _line()[40:],  # ... cut between two values
        _line().replace(b"Done.", b"Don\xff"),  # not UTF-8 (in the content msgspec skips)
        _line(message={"id": "m", "model": "x", "usage": {"input_tokens": 1e308}}),
        b"[1, 2]",
        b'{"type": "assistant", "message": {"usage": ',
    ):
        data = b"\n".join([good, odd, _line(requestId="req_09")])
        seen: dict[Hashable, int] = {"earlier": 3}
        assert claude.decode_block(LOG, Block(data, 1, data.count(b"\n") + 1), seen) is None, odd
        assert seen == {"earlier": 3}  # nothing counted as seen
        records, _ = _both_ways(data + b"\n")
        assert records[0].key == "claude:m1@claude-sonnet-4-5"


def test_two_damages_that_cancel_out_in_one_block_are_read_as_msgspec_reads_them() -> None:
    """The gap ``decode_block`` documents: two values on one line and a blank line make as many
    values as lines; the block is then taken as decoded (a line at a time skips the line of two
    as not JSON). Checking every line break for it would cost a fifth of the reader's time."""
    data = _TWO_ON_ONE + b"\n" + _BLANK + b"\n" + _line(requestId="r3")
    records = claude.decode_block(LOG, Block(data, 1, 3), {})
    assert records is not None and [r.key for r in records] == ["claude:msg_01@claude-sonnet-4-5"]


def test_two_models_replies_under_one_message_id_each_count(isolated_home: Path) -> None:
    """A gateway whose message ids repeat (Ollama's ``chatcmpl-0`` to ``chatcmpl-998``, no
    ``requestId``): two sessions' replies of two models under one id, in the same millisecond, were
    one request, the first's input and model with the other's output; ccusage counts both. A
    streamed reply's lines and a resumed session's copy name the same model: still once."""
    from mahavishnu.usage.report import collect

    folder = isolated_home / ".claude" / "projects"
    for name, model, fresh, output in (
        ("a", "claude-sonnet-4-5", 100, 10),
        ("b", "claude-opus-4-1", 900, 70),
    ):
        message = {
            "id": "chatcmpl-7",
            "model": model,
            "usage": {"input_tokens": fresh, "output_tokens": output},
        }
        line = _line(message=message, requestId=None, sessionId=name, cwd=f"/home/dev/{name}")
        (folder / f"-home-dev-{name}").mkdir(parents=True)
        (folder / f"-home-dev-{name}" / f"{name}.jsonl").write_bytes(line + b"\n" + line + b"\n")
    (folder / "-home-dev-a" / "resumed.jsonl").write_bytes((folder / "-home-dev-a" / "a.jsonl").read_bytes())
    records = collect(["claude"], None, None)[0]
    assert sorted((r.model, r.input, r.output, r.project) for r in records) == [
        ("claude-opus-4-1", 900, 70, "b"),
        ("claude-sonnet-4-5", 100, 10, "a"),
    ]
