"""Claude Code (``~/.claude/projects/<encoded-cwd>/<session>.jsonl``): each ``assistant`` line carries
its API message's ``usage`` (Anthropic's: ``input_tokens`` fresh, ``cache_creation_input_tokens``,
``cache_read_input_tokens``, ``output_tokens``; ``cache_creation`` splits the writes by the cache's
lifetime, 5 minutes or 1 hour, priced apart), ``message.id``, ``message.model``, ``sessionId``,
``cwd`` and ``timestamp``. One API message may span several lines (one per content block, the same
usage on each) and a resumed or forked session repeats earlier messages in its new file: the key is
``message.id`` (one API response, billed once; not with the ``requestId``: a subagent's log may
replay a parent's reply under a new one, ccusage's issue 913) with the model (a gateway's ids may
repeat: two models' replies under one id were one request, the first's input with the most output
of either; a copy and a streamed reply's lines name the same model), and a request is counted
once, at the time of its first line, with the tokens of its line that reports the most output: Claude
Code writes a streamed reply as it comes, each line's usage the figures so far (the first line's
``output_tokens`` is a few tokens; older ccusage releases kept it, under-counting output two or
three times: its issues 901, 938; and a gateway that reports input and cache counts only at the
stream's end has 0 there on the first lines: Claude Code takes the end's).
Subagents' lines (``isSidechain``) are helpers'. The ``<synthetic>`` model's placeholders (an API
error shown as a message) used no tokens.

Most lines are read by ``decode_block``: msgspec decodes a block of lines in one call, filling
only the fields below, typed, and skipping the rest (the message's content, most of a line)
without making Python objects of it. A block with a line it cannot take as typed is read a line
at a time: each line by ``decode_block`` alone, or when it cannot take it either (another shape,
not UTF-8, any doubt), parsed whole by ``parse``; both make their record with ``_record``."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from pathlib import Path

import msgspec

from mahavishnu.json_types import JSONObject, JSONValue
from mahavishnu.usage.logfile import Block
from mahavishnu.usage.readers.fields import State, epoch, label, obj, project, text
from mahavishnu.usage.readers.reader import Reader
from mahavishnu.usage.records import FAST, FAST_SUFFIX, HELPER, MAIN, UsageRecord, count, snapshot

WANTED = (b'"usage"',)


def parse(path: Path, entries: Iterable[JSONObject], state: State) -> list[UsageRecord]:
    found = []
    for entry in entries:
        message = obj(entry.get("message"))
        usage = obj(message.get("usage"))
        record = _record(
            path, entry.get("type"), entry.get("timestamp"), message.get("model"),
            message.get("id"), entry.get("uuid"), entry.get("sessionId"),
            entry.get("cwd"), entry.get("isSidechain"),
            (
                usage.get("input_tokens"), usage.get("output_tokens"),
                usage.get("cache_creation_input_tokens"), usage.get("cache_read_input_tokens"),
                obj(usage.get("cache_creation")).get("ephemeral_1h_input_tokens"),
            ) if usage else None,
            usage.get("speed") if usage else None,
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
    speed: str | None = None


class _Message(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    usage: _Usage | None = None


class _Line(msgspec.Struct):
    type: str | None = None
    timestamp: str | None = None
    message: _Message | None = None
    uuid: str | None = None
    sessionId: str | None = None  # (Claude Code's names)
    cwd: str | None = None
    isSidechain: bool | None = None


_typed_lines = msgspec.json.Decoder(_Line).decode_lines
_NO_USAGE = _Usage()
#: What makes ``decode_block`` leave a line to ``parse`` (which then says why it is bad, if it is).
_DOUBT = (msgspec.MsgspecError, RecursionError, ValueError, TypeError, ArithmeticError)


def decode_block(path: Path, block: Block, seen: dict[Hashable, int]) -> list[UsageRecord] | None:
    """The records of a block of lines, decoded in one call, each request once with the tokens of
    its line that reports the most output (``seen``: its message id, and the output counted: a
    line of a request seen before makes a record only when it reports more, as ``ledger._once``
    lets it through); None when a line needs
    reading alone or by ``parse`` (one that is not JSON, not UTF-8, of another shape, bad: the block is
    then read a line at a time, which says which and why). msgspec reads a block as JSON values
    separated by white space: a count of values other than the block's lines (a blank line, a value
    over two lines, two values on one) sends it back too. Two differences with a line at a time,
    both on damaged logs: a block holding two values on one line *and* a blank line or a value over
    two lines has as many values as lines, and the requests in those values are counted (a line at
    a time skips those lines as not JSON); a line that spells ``"usage"`` with an escape is read
    here, and passed over by a line at a time, which keeps the lines that hold the word as such.
    Checking every line break instead costs a fifth of the reader's time."""
    new: dict[Hashable, int] = {}  # a request's key: where its record is in ``found``
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
            key = (message.id, message.model) if message.id else None  # (as ``_record`` keys it)
            if key is not None and key in new:  # a streamed reply's next line: its figures so far
                earlier = found[new[key]]
                if count(message.usage.output_tokens) > earlier.output:
                    later = _typed_record(path, entry)
                    if not later:
                        return None
                    found[new[key]] = snapshot(earlier, later[0])
                continue
            if key is not None and key in seen and count(message.usage.output_tokens) <= seen[key]:
                continue
            record = _typed_record(path, entry)
            if record is None:
                return None
            if record and key is not None:
                new[key] = len(found)
            found += record
    except _DOUBT:
        return None
    seen.update((key, found[at].output) for key, at in new.items())
    return found


def _typed_record(path: Path, entry: _Line) -> list[UsageRecord] | None:
    """What ``decode_block`` makes of a line msgspec decoded: None when ``parse`` must say why it is
    not a request. ``BadLine`` (one of ``_DOUBT``) for a count or time that cannot be."""
    message = entry.message or _Message()
    usage = message.usage
    if usage is not None and usage == _NO_USAGE:
        return None  # ``{}`` (no usage) or only fields it does not know: ``parse`` tells which
    hour = usage.cache_creation.ephemeral_1h_input_tokens if usage and usage.cache_creation else None
    record = _record(
        path, entry.type, entry.timestamp, message.model, message.id, entry.uuid,
        entry.sessionId, entry.cwd, entry.isSidechain,
        (
            usage.input_tokens, usage.output_tokens, usage.cache_creation_input_tokens,
            usage.cache_read_input_tokens, hour,
        ) if usage else None,
        usage.speed if usage else None,
    )  # fmt: skip
    return [] if record is None else [record]


def _record(
    path: Path,
    kind: JSONValue | None,
    timestamp: JSONValue | None,
    model_name: JSONValue | None,
    message_id: JSONValue | None,
    uuid: JSONValue | None,
    session: JSONValue | None,
    cwd: JSONValue | None,
    sidechain: JSONValue | None,
    counts: tuple[JSONValue | None, JSONValue | None, JSONValue | None, JSONValue | None, JSONValue | None]
    | None,
    speed: JSONValue | None = None,
) -> UsageRecord | None:
    """The record of an assistant line with usage (None for any other line). ``counts``: input,
    output, cache write, cache read and the 1-hour cache write, as the line has them (None or
    empty: no usage); ``speed``: the usage's (``"fast"``: Anthropic's fast mode). ``BadLine`` for
    a count or time that cannot be."""
    model = label(model_name)
    if kind != "assistant" or not counts or model is None or model == "<synthetic>":
        return None
    named = text(message_id) or text(uuid)
    if named is None:
        return None
    when = epoch(timestamp)
    fresh, output, written, read, hour = counts
    cache_write, cache_write_1h = count(written), count(hour)
    fast = speed == FAST
    return UsageRecord(  # (in order, not by name: a third of the time)
        "claude",
        f"claude:{named}@{model}",
        when,
        model + FAST_SUFFIX if fast else model,
        count(fresh),
        count(output),
        cache_write,
        count(read),
        label(session) or label(path.stem) or "-",
        project(text(cwd)),
        HELPER if sidechain is True else MAIN,
        min(cache_write_1h, cache_write),
        "",
        FAST if fast else "",
    )


def find() -> list[Path]:
    """Every Claude Code session file: under its config folder's ``projects`` (as the memory loop
    reads them) and under ``~/.config/claude/projects`` (``paths.claude_xdg_dir``), unless that is
    the same folder; a request found in both is counted once (by its ids, as any resumed copy)."""
    from mahavishnu import paths
    from mahavishnu.memory.loop.session_logs import find_sessions, session_root

    found = find_sessions("claude")
    xdg = paths.claude_xdg_dir()
    older = xdg / "projects" if xdg is not None else None
    if older is None or not older.is_dir() or _same_folder(older, session_root("claude")):
        return found
    return found + find_sessions("claude", older)


def _same_folder(one: Path, other: Path) -> bool:
    try:
        return one.samefile(other)
    except OSError:  # (the other is not there)
        return False


READER = Reader("claude", WANTED, parse, decode_block=decode_block, find=find)
