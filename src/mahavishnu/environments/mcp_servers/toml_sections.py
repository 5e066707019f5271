"""config.toml as lines cut into table sections, to take a table out the way a person would.

A section is a ``[table]`` header with the comment lines right above it (no blank line between)
and everything up to the next section. Taking out ``[mcp_servers.docs]`` and its sub-tables removes
their sections whole: the comment that named the server and the blank line after it go too, and the
tables around it keep every byte. The caller checks the result means what it should (a header-like
line inside a multi-line string could fool this); anything else is left to tomlkit.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Section", "drop_sections", "sections"]


@dataclass(frozen=True)
class Section:
    start: int  # index of the first line: the comment lines right above the header, or the header
    header: int  # index of the header line
    end: int  # index after the last line
    path: tuple[str, ...]  # the table's keys; () for an array of tables ``[[...]]``

    def empty(self, lines: list[str]) -> bool:
        """The header holds no keys (only blank lines and comments follow it)."""
        return all(
            not line.strip() or line.lstrip().startswith("#") for line in lines[self.header + 1 : self.end]
        )


def sections(lines: list[str]) -> list[Section]:
    """Every table section of the file, in order (the keys before the first header are not one)."""
    headers = [(index, path) for index, line in enumerate(lines) if (path := _header(line)) is not None]
    found = []
    previous = -1
    starts = []
    for index, _ in headers:
        start = index
        while start - 1 > previous and lines[start - 1].lstrip().startswith("#"):
            start -= 1
        starts.append(start)
        previous = index
    for number, (index, path) in enumerate(headers):
        end = starts[number + 1] if number + 1 < len(headers) else len(lines)
        found.append(Section(starts[number], index, end, path))
    return found


def drop_sections(text: str, doomed: Callable[[Section, list[str]], bool]) -> str | None:
    """``text`` without the sections ``doomed`` picks; None when it picks none."""
    lines = text.splitlines(keepends=True)
    gone = [section for section in sections(lines) if doomed(section, lines)]
    if not gone:
        return None
    keep = [True] * len(lines)
    for section in gone:
        keep[section.start : section.end] = [False] * (section.end - section.start)
    return "".join(line for line, kept in zip(lines, keep, strict=True) if kept)


def _header(line: str) -> tuple[str, ...] | None:
    """The keys of a ``[table]`` header line, () for ``[[array]]``, None for any other line."""
    stripped = line.strip()
    if not stripped.startswith("["):
        return None
    if stripped.startswith("[["):
        return ()
    try:
        data: object = tomllib.loads(stripped)
    except tomllib.TOMLDecodeError:
        return None  # e.g. a line of a multi-line array
    path: list[str] = []
    while isinstance(data, dict) and len(data) == 1:
        key, data = next(iter(data.items()))
        path.append(key)
    return tuple(path) if path and data == {} else None
