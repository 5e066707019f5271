"""Claude Code's lines are read two ways: ``decode`` (typed, skipping the content) for the usual
shape, ``parse`` (the whole line) for anything else. Whichever reads a line, its record and its
reason for being bad are the same."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from mahavishnu.usage import ledger
from mahavishnu.usage.logfile import parse_object
from mahavishnu.usage.readers import claude
from mahavishnu.usage.records import BadLine, UsageRecord

FIXTURES = Path(__file__).parent / "fixtures" / "home" / ".claude" / "projects"
LOG = Path("/home/dev/.claude/projects/-home-dev-src-shop/0b5e2ad4.jsonl")


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
        decoded = claude.decode(LOG, line, {})
        assert decoded is not None, line[:200]  # the real shape is the typed one
        assert decoded == _parsed(line)
    assert sum(len(claude.decode(LOG, line, {}) or []) for line in usage_lines) >= 3


def test_a_typical_line_decodes_with_its_one_hour_cache_writes_and_its_sidechain() -> None:
    (record,) = claude.decode(LOG, _line(isSidechain=True), {}) or []
    assert (record.input, record.output, record.cache_write, record.cache_read) == (1200, 340, 5000, 20000)
    assert (record.cache_write_1h, record.source, record.project) == (2000, "helper", "shop")
    assert record.key == "claude:msg_01:req_01" and record.session == "0b5e2ad4"


def test_lines_of_another_shape_are_left_to_the_whole_parse() -> None:
    for odd in (
        _line(message={"id": "m", "model": "claude-sonnet-4-5", "usage": {}}),  # no usage: not a request
        _line(isSidechain="true"),  # not a bool: the parse's rule (only true is a helper) decides
        _line(message={"id": 7, "model": "claude-sonnet-4-5", "usage": {"input_tokens": 1}}),
        _line(message="text"),
        _line(cwd="/home/dev/src/cafe").replace(b"cafe", "café".encode()),  # the whole parse checks UTF-8
        _line(message={"id": "m", "model": "x", "usage": {"input_tokens": True}}),
        _line(message={"id": "m", "model": "x", "usage": {"input_tokens": 1e308}}),
        _line(timestamp="0001-01-01T00:00:00Z"),
    ):
        assert claude.decode(LOG, odd, {}) is None, odd


def test_the_ledger_keeps_the_lines_order_when_some_lines_need_the_whole_parse(tmp_path: Path) -> None:
    lines = [
        _line(message={"id": f"m{n}", "model": "claude-sonnet-4-5", "usage": {"input_tokens": n}},
              requestId=f"r{n}", cwd="/home/dev/src/cafe" if n % 3 == 0 else "/home/dev/src/shop")
        for n in range(1, 10)
    ]  # fmt: skip
    lines = [line.replace(b"cafe", "café".encode()) for line in lines]  # these need the whole parse
    bad: list[tuple[int, str]] = []
    found = ledger._parse(claude.READER, LOG, list(enumerate(lines, 1)), {}, bad, set())
    assert [r.input for r in found] == list(range(1, 10)) and not bad
    assert [r.project for r in found][:3] == ["shop", "shop", "café"]


_counts = st.one_of(
    st.none(), st.integers(-5, 2**70), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(max_size=3),
)  # fmt: skip
_texts = st.one_of(st.none(), st.text(max_size=12), st.integers(0, 9))
_TIMES = [
    "2026-03-04T05:06:07.000Z", "2026-03-04", "1999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "soon",
    "2026-03-04T05:06:07+02:00",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["assistant", "user", None, 3]),
    model=st.one_of(st.sampled_from(["claude-opus-4-1", "<synthetic>", "", "a\x1b[2Jb"]), _texts),
    message_id=_texts,
    request=_texts,
    session=_texts,
    sidechain=st.one_of(st.booleans(), st.none(), st.just("true")),
    timestamp=st.sampled_from(_TIMES),
    counts=st.lists(_counts, min_size=5, max_size=5),
    usage_extra=st.booleans(),
)
def test_decode_and_the_whole_parse_agree_on_any_line(
    kind: object, model: object, message_id: object, request: object, session: object,
    sidechain: object, timestamp: str, counts: list[object], usage_extra: bool,
) -> None:  # fmt: skip
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
    if usage_extra:
        usage["service_tier"] = "standard"
    try:
        line = orjson.dumps(
            {"type": kind, "timestamp": timestamp, "requestId": request, "sessionId": session,
             "isSidechain": sidechain, "uuid": "u1",
             "message": {"id": message_id, "model": model, "usage": usage, "content": [{"type": "text"}]}},
        )  # fmt: skip
    except orjson.JSONEncodeError:  # an integer beyond 64 bits: no log can hold it as JSON here
        return
    decoded = claude.decode(LOG, line, {})
    if decoded is not None:
        assert decoded == _parsed(line)
