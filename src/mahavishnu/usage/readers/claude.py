"""Claude Code (``~/.claude/projects/<encoded-cwd>/<session>.jsonl``): each ``assistant`` line
carries its API message's ``usage`` (Anthropic's: ``input_tokens`` fresh, ``cache_creation_input_tokens``,
``cache_read_input_tokens``, ``output_tokens``; ``cache_creation`` splits the writes by the
cache's lifetime, 5 minutes or 1 hour, priced apart), ``message.id``, ``message.model``, the ``requestId``,
``sessionId``, ``cwd`` and ``timestamp``. One API message may span several lines (one per content
block, the same usage on each) and a resumed or forked session repeats earlier messages in its new
file: the key is ``message.id`` + ``requestId``, and the first line of a key is the one counted
(as ccusage does). Subagents' lines (``isSidechain``) are helpers'. The ``<synthetic>`` model's
placeholders (an API error shown as a message) used no tokens."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from mahavishnu.json_types import JSONObject
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
        model = label(message.get("model"))
        when = epoch(entry.get("timestamp"))
        if entry.get("type") != "assistant" or not usage or model is None or when is None:
            continue
        if model == "<synthetic>":
            continue
        message_id = text(message.get("id")) or text(entry.get("uuid"))
        if message_id is None:
            continue
        request = text(entry.get("requestId"))
        cwd = text(entry.get("cwd"))
        written = count(usage.get("cache_creation_input_tokens"))
        hour = count(obj(usage.get("cache_creation")).get("ephemeral_1h_input_tokens"))
        found.append(
            UsageRecord(
                tool="claude",
                key=f"claude:{message_id}:{request or ''}",
                time=when,
                model=model,
                input=count(usage.get("input_tokens")),
                output=count(usage.get("output_tokens")),
                cache_write=written,
                cache_read=count(usage.get("cache_read_input_tokens")),
                session=label(entry.get("sessionId")) or label(path.stem) or "-",
                project=project(cwd),
                source=HELPER if entry.get("isSidechain") is True else MAIN,
                cache_write_1h=min(hour, written),
            )
        )
    return found


READER = Reader("claude", WANTED, parse, line_key)
