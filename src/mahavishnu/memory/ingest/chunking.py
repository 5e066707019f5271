"""Split a file into chunks that follow its structure, with exact line numbers.

Sizes are measured by a ``Sizes`` function (text -> size of each): characters by default, the
embedder's tokens for ingestion (``Embedder.count_tokens``), so a chunk fits the model's window and
its vector covers all of its text. Each line is measured once; a range of lines measures the sum of
its lines (exact for word-piece tokenizers, which split at whitespace, a close estimate for others).

Each line gets a *boundary strength*: how good a place it is to start a new chunk.

    3  a top-level definition: ``def``/``class`` at column 0 in Python (its decorators first), a
       declaration at column 0 after a blank line or a closing brace in brace languages, a heading
       in Markdown/reStructuredText, a top-level key or ``[table]`` in YAML/TOML
    2  a nested definition (a method)
    1  the start of a paragraph (after a blank line)
    0  any other line

A piece that is too long is split at its strongest boundaries, and the parts are packed greedily
back together while they fit; a part still too long is split again at the next strength down. One
line longer than the limit is cut at sentence ends, then spaces (a ``Starts`` function, where the
line's tokens start, spares measuring each candidate piece whole). Where a cut falls inside a block
(strength 1 or less), the next chunk repeats up to ``overlap`` of the lines before it.

The chunk text is exactly ``lines[start_line - 1 : end_line]`` joined (except a line cut in
pieces), so a result's ``path:start-end`` always points at what it shows.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

LANGUAGES = {
    **dict.fromkeys((".py", ".pyi"), "python"),
    **dict.fromkeys((".md", ".markdown"), "markdown"),
    ".rst": "rst",
    ".txt": "text",
    **dict.fromkeys((".yaml", ".yml"), "yaml"),
    ".toml": "toml",
    ".json": "json",
    **dict.fromkeys((".cfg", ".ini"), "ini"),
    **dict.fromkeys((".js", ".jsx", ".mjs", ".cjs"), "javascript"),
    **dict.fromkeys((".ts", ".tsx"), "typescript"),
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    **dict.fromkeys((".kt", ".kts"), "kotlin"),
    ".scala": "scala",
    **dict.fromkeys((".c", ".h"), "c"),
    **dict.fromkeys((".cc", ".cpp", ".hpp", ".cxx", ".hh"), "cpp"),
    ".cs": "csharp",
    ".swift": "swift",
    ".php": "php",
    ".rb": "ruby",
    ".lua": "lua",
    **dict.fromkeys((".sh", ".bash", ".zsh"), "shell"),
    ".sql": "sql",
    ".proto": "proto",
    ".graphql": "graphql",
    ".tf": "terraform",
    **dict.fromkeys((".html", ".vue", ".svelte"), "html"),
    **dict.fromkeys((".css", ".scss"), "css"),
}
BRACE_LANGUAGES = frozenset(
    {"javascript", "typescript", "go", "rust", "java", "kotlin", "scala", "c", "cpp", "csharp", "swift"}
    | {"php", "proto", "graphql", "terraform", "css", "json"}
)
_PY_DEF = re.compile(r"(async\s+def|def|class)\s")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")


Sizes = Callable[[Sequence[str]], list[int]]
# Where each of a text's tokens starts (character offsets), the tokens ``Sizes`` counts; None when
# the tokenizer cannot tell.
Starts = Callable[[str], list[int] | None]


def char_sizes(texts: Sequence[str]) -> list[int]:
    """Characters: the measure when no tokenizer is at hand."""
    return [len(text) for text in texts]


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    start_line: int  # 1-based, inclusive
    end_line: int


def language_for(path: str) -> str:
    return LANGUAGES.get(PurePosixPath(path).suffix.lower(), "text")


def chunk_text(
    text: str,
    language: str,
    limit: int = 1024,
    overlap: int = 128,
    sizes: Sizes = char_sizes,
    starts: Starts | None = None,
) -> list[Chunk]:
    """Chunks of at most ``limit`` (plus overlap) as ``sizes`` measures, blank-only ones dropped."""
    lines = text.splitlines(keepends=True)
    if not lines:
        return []
    measured = _Lines(lines, sizes(lines))
    strengths = boundary_strengths(lines, language)
    pieces = _split(measured, strengths, 0, len(lines), limit, 3)
    chunks: list[Chunk] = []
    previous_end = 0
    for start, end in pieces:
        if end - start == 1 and measured.size(start, end) > limit:
            parts = _cut_line(lines[start], limit, sizes, starts)
            chunks.extend(Chunk(part, start + 1, start + 1) for part in parts)
            previous_end = end
            continue
        first = _overlap_start(
            measured, start, overlap if strengths[start] <= 1 and start == previous_end else 0
        )
        previous_end = end
        body = "".join(lines[first:end])
        if not body.strip():
            continue
        chunks.append(Chunk(body, first + 1, end))
    return chunks


def _overlap_start(measured: _Lines, start: int, overlap: int) -> int:
    """Where a chunk starting at line ``start`` begins once it repeats up to ``overlap`` of the lines
    before it, whole lines (the caller passes 0 at a strong boundary: no repeat there)."""
    first = start
    if overlap and start > 0:
        while first > 0 and measured.size(first - 1, start) <= overlap:
            first -= 1
    return first


class _Lines:
    """A file's lines with the size of any range of them (prefix sums)."""

    def __init__(self, lines: Sequence[str], sizes: Sequence[int]) -> None:
        self.lines = lines
        self.prefix = [0, *itertools.accumulate(sizes)]

    def size(self, start: int, end: int) -> int:
        return self.prefix[end] - self.prefix[start]


def boundary_strengths(lines: Sequence[str], language: str) -> list[int]:
    rule = _RULES.get(language) or (_brace if language in BRACE_LANGUAGES else _prose)
    out = []
    for i, line in enumerate(lines):
        previous = lines[i - 1] if i else "\n"
        out.append(rule(line, previous) if line.strip() else 0)
    return out


def _python(line: str, previous: str) -> int:
    stripped = line.lstrip()
    indented = len(line) != len(stripped)
    starts_def = bool(_PY_DEF.match(stripped)) or stripped.startswith("@")
    if starts_def and not previous.lstrip().startswith("@"):
        return 2 if indented else 3
    if not previous.strip():
        return 1
    return 0


def _brace(line: str, previous: str) -> int:
    stripped = line.lstrip()
    if line[0] not in " \t" and stripped[0] not in "})]" and (not previous.strip() or previous[0] == "}"):
        return 3
    return 1 if not previous.strip() else 0


def _markdown(line: str, previous: str) -> int:
    if line.startswith("#"):
        return 3
    return 1 if not previous.strip() else 0


def _rst(line: str, previous: str) -> int:
    return 1 if not previous.strip() else 0


def _config(line: str, previous: str) -> int:
    top_level = line[0] not in " \t-#" and (":" in line or line.startswith("["))
    if top_level and not previous.strip():
        return 3
    if line.startswith("["):
        return 3
    return 2 if top_level else (1 if not previous.strip() else 0)


def _prose(line: str, previous: str) -> int:
    return 1 if not previous.strip() else 0


_RULES: dict[str, Callable[[str, str], int]] = {
    "python": _python,
    "markdown": _markdown,
    "rst": _rst,
    "yaml": _config,
    "toml": _config,
    "ini": _config,
}


def _split(
    lines: _Lines, strengths: Sequence[int], start: int, end: int, limit: int, level: int
) -> list[tuple[int, int]]:
    """[start, end) line ranges of at most ``limit`` (single over-long lines excepted)."""
    if lines.size(start, end) <= limit or end - start <= 1:
        return [(start, end)]
    if level < 0:
        return [(i, i + 1) for i in range(start, end)]
    cuts = [i for i in range(start + 1, end) if strengths[i] >= level]
    if not cuts:
        return _split(lines, strengths, start, end, limit, level - 1)
    bounds = [start, *cuts, end]
    parts: list[tuple[int, int]] = []
    for a, b in itertools.pairwise(bounds):
        parts.extend(_split(lines, strengths, a, b, limit, level - 1))
    return _pack(lines, parts, limit)


def _pack(lines: _Lines, parts: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """Merge adjacent ranges greedily while the merged range fits."""
    packed: list[tuple[int, int]] = []
    for a, b in parts:
        if packed and lines.size(packed[-1][0], b) <= limit:
            packed[-1] = (packed[-1][0], b)
        else:
            packed.append((a, b))
    return packed


def _cut_line(text: str, limit: int, sizes: Sizes, starts: Starts | None) -> list[str]:
    """An over-long line in pieces: at sentence ends where possible, else at spaces, else hard."""
    token_starts = starts(text) if starts is not None else None
    pieces: list[str] = []
    done = 0  # characters of text already in pieces (not sliced off: that copied the rest each time)
    while (fits := _longest_prefix(text, done, limit, sizes, token_starts)) < len(text) - done:
        window = text[done : done + fits + 1]
        cut = max((m.end() for m in _SENTENCE_END.finditer(window) if m.end() <= fits), default=0)
        if cut < fits // 2:
            cut = window.rfind(" ", 0, fits) + 1
        if cut < fits // 2:
            cut = fits
        pieces.append(text[done : done + cut])
        done += cut
    pieces.append(text[done:])
    return [p for p in pieces if p.strip()]


def _longest_prefix(
    text: str, done: int, limit: int, sizes: Sizes, token_starts: Sequence[int] | None = None
) -> int:
    """The most characters of ``text[done:]`` that measure at most ``limit`` (at least one; all of
    it if it fits). Only a window a few times the answer is measured, never the whole rest of a long
    line (a 460 kB one-line JSON file took minutes when every step measured all of it)."""
    size = len(text) - done

    def fits(length: int) -> bool:
        end = done + length
        # With the whole line's token starts, the tokens up to its last space are counted from
        # them and only the rest is measured: a search measures a dozen prefixes (a 900 kB
        # minified file took 9 s measuring each whole). Exact where tokens never span a space
        # (word pieces); a piece that starts mid-word (a hard cut) does not start as the line did.
        space = text.rfind(" ", done, end) + 1
        if token_starts is None or space <= done or (done and not text[done - 1].isspace()):
            return sizes([text[done:end]])[0] <= limit
        before = bisect.bisect_left(token_starts, space) - bisect.bisect_left(token_starts, done)
        return before <= limit and before + sizes([text[space:end]])[0] <= limit

    low, high = 1, min(size, 8 * limit)  # most tokens are shorter than 8 characters
    while fits(high):
        if high == size:
            return high
        low, high = high, min(size, 2 * high)
    high -= 1  # the first high characters do not fit; the first low do (or low is 1)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low
