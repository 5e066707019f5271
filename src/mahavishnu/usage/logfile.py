"""A session log's complete lines from an offset, read in bounded pieces.

The assistants append to their logs while they run: a line without its newline yet is left for
the next read, so the ledger can resume at ``end``. Lines come out a piece at a time (at most
``PIECE_BYTES`` of the file), so memory stays bounded whatever the log's size. A line longer than
``MAX_LINE`` (a pasted image, a runaway tool output) is skipped and noted, never held; so is a line
that is not a JSON object (damage, a non-UTF-8 byte, nesting too deep to parse).

A log that is one JSON document (an older assistant's session file, rewritten whole each time)
is read whole, as one line (``Tail.whole``): up to ``MAX_DOCUMENT``, a bigger one is skipped
and noted."""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, NamedTuple

import orjson

from mahavishnu.json_types import JSONObject

#: The most one read holds in memory.
PIECE_BYTES = 8 * 1024 * 1024
#: Longer lines carry no usage worth holding them for (Claude Code's are ~2-10 KB). Not less
#: than ``PIECE_BYTES``: only a line carried over from one piece to the next can be longer.
MAX_LINE = PIECE_BYTES
#: The bytes of a log's start that ``Tail.head`` keeps (a read from the start has them in hand).
HEAD_BYTES = 256
#: A JSON document is held whole to be parsed: a long session's (Gemini CLI's kept each tool's
#: output) may be tens of MB; a bigger one is no usage log worth twice its size in memory.
MAX_DOCUMENT = 64 * 1024 * 1024

#: A line of the log: its number (1 for the file's first) and its bytes.
Numbered = tuple[int, bytes]


class Block(NamedTuple):
    """Whole lines of the log, ``data`` (no last newline), the first of which is line ``first``;
    ``lines`` of them. None is longer than ``MAX_LINE``."""

    data: bytes
    first: int
    lines: int


@dataclass
class Tail:
    """Reading ``path`` from byte ``start`` (the start of line ``line + 1``): ``pieces()`` gives
    its complete lines a block at a time, up to the size the file had when opened, and
    ``wanted_lines(block)`` the lines of a block that contain one of ``wanted`` (a cheap filter before
    JSON parsing); then ``end`` is where the next read starts, ``line`` the lines before it, and
    ``passed`` the lines passed over (number, why), and ``head``, read from the start, its first
    ``HEAD_BYTES``. A ``whole`` file is one JSON document, given as one line (from its start)."""

    path: Path
    start: int
    line: int
    wanted: tuple[bytes, ...]
    whole: bool = False
    end: int = 0
    passed: list[tuple[int, str]] = field(default_factory=list)
    head: bytes = b""

    def pieces(self) -> Iterator[Block]:
        """The complete lines, a piece of the file at a time. OSError propagates."""
        if self.whole:
            yield from self._document()
            return
        self.end = self.start
        with self.path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(self.start)
            position = self.start
            carry = b""
            while position < size:
                piece = handle.read(min(PIECE_BYTES, size - position))
                if not piece:
                    break
                if not position:
                    self.head = piece[:HEAD_BYTES]
                position += len(piece)
                data = carry + piece
                cut = data.rfind(b"\n")
                if cut < 0:
                    if len(data) > MAX_LINE:  # one huge line: skip to its end
                        carry = b""
                        self._pass()
                        position = self.end = _skip_line(handle, position, size)
                        handle.seek(position)
                    else:
                        carry = data
                    continue
                carry, data = data[cut + 1 :], data[:cut]
                self.end = position - len(carry)
                first = data.find(b"\n")
                if (len(data) if first < 0 else first) > MAX_LINE:
                    self._pass()  # the line carried over (a piece's own lines are shorter)
                    if first < 0:
                        continue
                    data = data[first + 1 :]
                block = Block(data, self.line + 1, data.count(b"\n") + 1)
                self.line += block.lines
                yield block

    def _document(self) -> Iterator[Block]:
        """The file as one line: a JSON document written over many lines, whose line breaks are
        white space between its tokens (a JSON string holds none unescaped), so that taking them
        for spaces changes nothing it says."""
        data = _read_document(self.path)
        self.end = len(data)
        if len(data) > MAX_DOCUMENT:
            self._pass(MAX_DOCUMENT)
            return
        self.line = 1
        yield Block(data.replace(b"\n", b" "), 1, 1)

    def _pass(self, limit: int | None = None) -> None:
        """The next line is passed over: longer than ``limit`` (``MAX_LINE`` by default)."""
        self.line += 1
        self.passed.append((self.line, f"longer than {(limit or MAX_LINE) // 2**20} MB"))

    def wanted_lines(self, block: Block) -> list[Numbered]:
        """The lines of ``block`` that contain one of ``wanted``."""
        search = _pattern(self.wanted).search
        kept: list[Numbered] = []
        number = block.first - 1
        for line in block.data.split(b"\n"):
            number += 1
            if search(line) is not None:
                kept.append((number, line))
        return kept


def _read_document(path: Path) -> bytes:
    """Up to ``MAX_DOCUMENT`` bytes of ``path`` and one more (a bigger one is told so), in system
    calls: opened without blocking and read only when a regular file (a FIFO put in its place since
    it was listed is refused, never waited on), its size and a byte more first (a read of
    ``MAX_DOCUMENT`` would allocate it all: 20 us a file, more than its read). OSError propagates."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a pipe, socket or device)")
        parts: list[bytes] = []
        ask, left = info.st_size + 1, MAX_DOCUMENT + 1
        while left > 0 and (chunk := os.read(fd, min(ask, left))):
            parts.append(chunk)
            left -= len(chunk)
            ask = 2**20  # (it grew since: the rest a MB at a time)
        return b"".join(parts)
    finally:
        os.close(fd)


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


@lru_cache(maxsize=16)
def _pattern(wanted: tuple[bytes, ...]) -> re.Pattern[bytes]:
    """One search for any of ``wanted`` (literally), in C rather than a loop per line."""
    return re.compile(b"|".join(re.escape(marker) for marker in wanted))


def parse_object(line: bytes) -> tuple[JSONObject | None, str]:
    """The line as a JSON object, or None and why it is not one. Strict JSON (orjson: no NaN or
    Infinity, integers up to 64 bits, at most 1,024 levels deep, UTF-8 checked)."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        if "surrogate" not in str(error):
            return None, _why(str(error))
        try:  # JSON (and Node's JSON.stringify) allows a lone surrogate escape; orjson does not
            value = orjson.loads(_LONE_SURROGATE.sub(rb"\\ufffd", line))
        except orjson.JSONDecodeError as again:
            return None, _why(str(again))
    if not isinstance(value, dict):
        return None, "not a JSON object"
    return value, ""


#: A ``\\uD800``-``\\uDBFF`` escape not followed by a low one, or a low one not after a high one:
#: text cut between the halves of an emoji (a reply or prompt clipped by the assistant).
_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def _why(message: str) -> str:
    if message.startswith("depth limit"):
        return "nested too deeply"
    if "byte order mark" in message:  # (valid UTF-8: JSON lines have no BOM; an editor added it)
        return "not JSON: starts with a byte order mark (BOM)"
    if "UTF-8" in message:
        return "not UTF-8"
    return "not JSON"


def objects(lines: list[bytes]) -> Iterator[JSONObject | None]:
    """Each line as a JSON object, or None when it is not one (damaged, not UTF-8, not an object)."""
    for line in lines:
        yield parse_object(line)[0]
