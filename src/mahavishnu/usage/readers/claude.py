"""Claude Code (``~/.claude/projects/<encoded-cwd>/<session>.jsonl``): each ``assistant`` line
carries its API message's ``usage`` (Anthropic's: ``input_tokens`` fresh, ``cache_creation_input_tokens``,
``cache_read_input_tokens``, ``output_tokens``; ``cache_creation`` splits the writes by the
cache's lifetime, 5 minutes or 1 hour, priced apart), ``message.id``, ``message.model``, the ``requestId``,
``sessionId``, ``cwd`` and ``timestamp``. One API message may span several lines (one per content
block, the same usage on each) and a resumed or forked session repeats earlier messages in its new
file: the key is ``message.id`` + ``requestId``, and the first line of a key is the one counted
(as ccusage does). Subagents' lines (``isSidechain``) are helpers'. The ``<synthetic>`` model's
placeholders (an API error shown as a message) used no tokens.

Most lines are read by ``decode``: msgspec fills only the fields below, typed, and skips the rest
(the message's content, most of a line) without making Python objects of it: a third of the time
of parsing the whole line. A line it cannot take as typed (another shape, not plain ASCII, any
doubt) is parsed whole by ``parse``; both make their record with ``_record``."""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable
from pathlib import Path

import msgspec

from mahavishnu.json_types import JSONObject, JSONValue
from mahavishnu.usage.logfile import Block
from mahavishnu.usage.readers.fields import State, epoch, label, obj, project, text
from mahavishnu.usage.readers.reader import Reader
from mahavishnu.usage.records import HELPER, MAIN, UsageRecord, count

WANTED = (b'"usage"',)
#: Claude Code writes ``"message":{"id":…`` and ``"requestId":…`` in every assistant line; a value
#: holds no unescaped quote, so the first of each is the line's own.
_MESSAGE_ID = re.compile(rb'"message":\{"id":"([^"\\]*)"')
_REQUEST_ID = re.compile(rb'"requestId":"([^"\\]*)"')


def line_key(line: bytes) -> tuple[bytes, bytes] | None:
    """The line's message and request id, read off its bytes (None: not found so): what ``parse``
    makes the request's key of (left as bytes: only compared with other lines')."""
    message, request = _MESSAGE_ID.search(line), _REQUEST_ID.search(line)
    if message is None or request is None:
        return None
    return message[1], request[1]


def parse(path: Path, entries: Iterable[JSONObject], state: State) -> list[UsageRecord]:
    found = []
    for entry in entries:
        message = obj(entry.get("message"))
        usage = obj(message.get("usage"))
        record = _record(
            path, entry.get("type"), entry.get("timestamp"), message.get("model"),
            message.get("id"), entry.get("uuid"), entry.get("requestId"), entry.get("sessionId"),
            entry.get("cwd"), entry.get("isSidechain"),
            (
                usage.get("input_tokens"), usage.get("output_tokens"),
                usage.get("cache_creation_input_tokens"), usage.get("cache_read_input_tokens"),
                obj(usage.get("cache_creation")).get("ephemeral_1h_input_tokens"),
            ) if usage else None,
        )  # fmt: skip
        if record is not None:
            found.append(record)
    return found


Count = int | float | None


class _CacheCreation(msgspec.Struct):
    ephemeral_1h_input_tokens: Count = None


class _Usage(msgspec.Struct):
    input_tokens: Count = None
    output_tokens: Count = None
    cache_creation_input_tokens: Count = None
    cache_read_input_tokens: Count = None
    cache_creation: _CacheCreation | None = None


class _Message(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    usage: _Usage | None = None


class _Line(msgspec.Struct):
    type: str | None = None
    timestamp: str | None = None
    message: _Message | None = None
    uuid: str | None = None
    requestId: str | None = None  # (Claude Code's names)
    sessionId: str | None = None
    cwd: str | None = None
    isSidechain: bool | None = None


_typed = msgspec.json.Decoder(_Line).decode
_typed_lines = msgspec.json.Decoder(_Line).decode_lines
_NO_USAGE = _Usage()
#: What makes ``decode`` leave a line to ``parse`` (which then says why it is bad, if it is).
_DOUBT = (msgspec.MsgspecError, RecursionError, ValueError, TypeError, ArithmeticError)


def decode(path: Path, line: bytes, state: State) -> list[UsageRecord] | None:
    """The record of one line (a list of none or one), or None when ``parse`` must read it: a
    line that is not plain ASCII (the full parse checks its UTF-8) or not of the typed shape."""
    if not line.isascii():
        return None
    try:
        return _typed_record(path, _typed(line))
    except _DOUBT:
        return None


def decode_block(path: Path, block: Block, seen: set[Hashable]) -> list[UsageRecord] | None:
    """The records of a block of lines, decoded in one call, each request once; None when a line
    needs ``decode`` or ``parse`` (one that is not JSON, not valid UTF-8, of another shape, bad:
    the block is then read a line at a time, which says which and why). msgspec reads a block as
    JSON values separated by white space: a count of values other than the block's lines (a blank
    line, two values on one) sends it back too."""
    new: set[Hashable] = set()
    found: list[UsageRecord] = []
    try:
        if not block.data.isascii():
            block.data.decode()  # (msgspec checks the UTF-8 of the fields it reads only)
        entries = _typed_lines(block.data)
        if len(entries) != block.lines:
            return None
        for entry in entries:
            message = entry.message
            if message is None or message.usage is None:
                continue  # (not a request: a prompt, a tool's result, a summary)
            if message.id is not None and entry.requestId is not None:  # as ``line_key`` finds it
                key = (message.id, entry.requestId)
                if key in seen or key in new:
                    continue
                new.add(key)
            record = _typed_record(path, entry)
            if record is None:
                return None
            found += record
    except _DOUBT:
        return None
    seen.update(new)
    return found


def _typed_record(path: Path, entry: _Line) -> list[UsageRecord] | None:
    """What ``decode`` makes of a line msgspec decoded: None when ``parse`` must say why it is
    not a request. ``BadLine`` (one of ``_DOUBT``) for a count or time that cannot be."""
    message = entry.message or _Message()
    usage = message.usage
    if usage is not None and usage == _NO_USAGE:
        return None  # ``{}`` (no usage) or only fields it does not know: ``parse`` tells which
    hour = usage.cache_creation.ephemeral_1h_input_tokens if usage and usage.cache_creation else None
    record = _record(
        path, entry.type, entry.timestamp, message.model, message.id, entry.uuid, entry.requestId,
        entry.sessionId, entry.cwd, entry.isSidechain,
        (
            usage.input_tokens, usage.output_tokens, usage.cache_creation_input_tokens,
            usage.cache_read_input_tokens, hour,
        ) if usage else None,
    )  # fmt: skip
    return [] if record is None else [record]


def _record(
    path: Path,
    kind: JSONValue | None,
    timestamp: JSONValue | None,
    model_name: JSONValue | None,
    message_id: JSONValue | None,
    uuid: JSONValue | None,
    request: JSONValue | None,
    session: JSONValue | None,
    cwd: JSONValue | None,
    sidechain: JSONValue | None,
    counts: tuple[JSONValue | None, JSONValue | None, JSONValue | None, JSONValue | None, JSONValue | None]
    | None,
) -> UsageRecord | None:
    """The record of an assistant line with usage (None for any other line). ``counts``: input,
    output, cache write, cache read and the 1-hour cache write, as the line has them (None or
    empty: no usage). ``BadLine`` for a count or time that cannot be."""
    model = label(model_name)
    when = epoch(timestamp)
    if kind != "assistant" or not counts or model is None or when is None or model == "<synthetic>":
        return None
    named = text(message_id) or text(uuid)
    if named is None:
        return None
    fresh, output, written, read, hour = counts
    cache_write, cache_write_1h = count(written), count(hour)
    return UsageRecord(  # (in order, not by name: a third of the time)
        "claude",
        f"claude:{named}:{text(request) or ''}",
        when,
        model,
        count(fresh),
        count(output),
        cache_write,
        count(read),
        label(session) or label(path.stem) or "-",
        project(text(cwd)),
        HELPER if sidechain is True else MAIN,
        min(cache_write_1h, cache_write),
    )


READER = Reader("claude", WANTED, parse, line_key, decode=decode, decode_block=decode_block)
