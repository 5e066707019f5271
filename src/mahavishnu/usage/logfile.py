"""A session log's complete lines from an offset, read in bounded pieces.

The assistants append to their logs while they run: a line without its newline yet is left for
the next read, so the ledger can resume at ``end``. A line longer than ``MAX_LINE`` (a pasted
image, a runaway tool output) is skipped and counted, never held; so is a line that is not a JSON
object (damage, a non-UTF-8 byte)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from mahavishnu.json_types import JSONObject

#: The most one read holds in memory.
PIECE_BYTES = 8 * 1024 * 1024
#: Longer lines carry no usage worth holding them for (Claude Code's are ~2-10 KB).
MAX_LINE = PIECE_BYTES


@dataclass
class Tail:
    """What reading a log from ``start`` found: its end (where the next read starts) and the
    lines passed over."""

    start: int
    end: int = 0
    skipped: int = 0
    lines: list[bytes] = field(default_factory=list)


def read_tail(path: Path, start: int, wanted: tuple[bytes, ...]) -> Tail:
    """The complete lines of ``path`` from byte ``start`` that contain one of ``wanted`` (a cheap
    filter before JSON parsing), up to the size the file had when opened. OSError propagates."""
    tail = Tail(start=start, end=start)
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(start)
        position = start
        carry = b""
        while position < size:
            piece = handle.read(min(PIECE_BYTES, size - position))
            if not piece:
                break
            position += len(piece)
            data = carry + piece
            cut = data.rfind(b"\n")
            if cut < 0:
                if len(data) > MAX_LINE:  # one huge line: skip to its end
                    tail.skipped += 1
                    carry = b""
                    tail.end = _skip_line(handle, position, size)
                    position = tail.end
                    handle.seek(position)
                else:
                    carry = data
                continue
            carry = data[cut + 1 :]
            tail.end = position - len(carry)
            _keep(data[:cut], wanted, tail)
    return tail


def _skip_line(handle: BinaryIO, position: int, size: int) -> int:
    """The offset after the end of the line ``position`` is in (``size`` when it has none yet)."""
    while position < size:
        block = handle.read(min(1024 * 1024, size - position))
        if not block:
            break
        newline = block.find(b"\n")
        if newline >= 0:
            return position + newline + 1
        position += len(block)
    return position  # the line is still being written: it is skipped from here on


def _keep(data: bytes, wanted: tuple[bytes, ...], tail: Tail) -> None:
    search = _pattern(wanted).search
    keep = tail.lines.append
    for line in data.split(b"\n"):
        if len(line) > MAX_LINE:
            tail.skipped += 1
        elif search(line) is not None:
            keep(line)


@lru_cache(maxsize=16)
def _pattern(wanted: tuple[bytes, ...]) -> re.Pattern[bytes]:
    """One search for any of ``wanted`` (literally), in C rather than a loop per line."""
    return re.compile(b"|".join(re.escape(marker) for marker in wanted))


def objects(lines: list[bytes]) -> Iterator[JSONObject | None]:
    """Each line as a JSON object, or None when it is not one (damaged, not UTF-8, not an object)."""
    for line in lines:
        try:  # json.loads less its encoding detection (a log is UTF-8)
            text = line.decode()
            start = len(text) - len(text.lstrip(_SPACE)) if text[:1] in _SPACE else 0
            value, end = _decode(text, start)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            yield None
            continue
        if end != len(text) and text[end:].strip(_SPACE):
            yield None  # more after the value
            continue
        yield value if isinstance(value, dict) else None


_decode = json.JSONDecoder().raw_decode
_SPACE = " \t\n\r"  # what JSON calls whitespace
