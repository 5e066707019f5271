"""Split a file into chunks that follow its structure, with exact line numbers.

Each line gets a *boundary strength*: how good a place it is to start a new chunk.

    3  a top-level definition: ``def``/``class`` at column 0 in Python (its decorators first), a
       declaration at column 0 after a blank line or a closing brace in brace languages, a heading
       in Markdown/reStructuredText, a top-level key or ``[table]`` in YAML/TOML
    2  a nested definition (a method)
    1  the start of a paragraph (after a blank line)
    0  any other line

A piece that is too long is split at its strongest boundaries, and the parts are packed greedily
back together while they fit; a part still too long is split again at the next strength down. One
line longer than the limit is cut at sentence ends, then spaces. Where a cut falls inside a block
(strength 1 or less), the next chunk repeats up to ``overlap`` characters of the lines before it.

The chunk text is exactly ``lines[start_line - 1 : end_line]`` joined (except a line cut in
pieces), so a result's ``path:start-end`` always points at what it shows.
"""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    start_line: int  # 1-based, inclusive
    end_line: int


def language_for(path: str) -> str:
    return LANGUAGES.get(PurePosixPath(path).suffix.lower(), "text")


def chunk_text(text: str, language: str, chunk_chars: int = 1024, overlap: int = 128) -> list[Chunk]:
    """Chunks of at most ``chunk_chars`` characters (plus overlap), blank-only ones dropped."""
    lines = text.splitlines(keepends=True)
    if not lines:
        return []
    strengths = boundary_strengths(lines, language)
    pieces = _split(lines, strengths, 0, len(lines), chunk_chars, 3)
    chunks: list[Chunk] = []
    previous_end = 0
    for start, end in pieces:
        if end - start == 1 and len(lines[start]) > chunk_chars:
            chunks.extend(Chunk(part, start + 1, start + 1) for part in _cut_line(lines[start], chunk_chars))
            previous_end = end
            continue
        first = start
        if overlap and start > 0 and strengths[start] <= 1 and start == previous_end:
            used = 0
            while first > 0 and used + len(lines[first - 1]) <= overlap:
                first -= 1
                used += len(lines[first])
        previous_end = end
        body = "".join(lines[first:end])
        if not body.strip():
            continue
        chunks.append(Chunk(body, first + 1, end))
    return chunks


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
    lines: Sequence[str], strengths: Sequence[int], start: int, end: int, limit: int, level: int
) -> list[tuple[int, int]]:
    """[start, end) line ranges of at most ``limit`` characters (single over-long lines excepted)."""
    if sum(len(line) for line in lines[start:end]) <= limit or end - start <= 1:
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


def _pack(lines: Sequence[str], parts: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """Merge adjacent ranges greedily while the merged text fits."""
    packed: list[tuple[int, int]] = []
    size = 0
    for a, b in parts:
        part_size = sum(len(line) for line in lines[a:b])
        if packed and size + part_size <= limit:
            packed[-1] = (packed[-1][0], b)
            size += part_size
        else:
            packed.append((a, b))
            size = part_size
    return packed


def _cut_line(text: str, limit: int) -> list[str]:
    """An over-long line in pieces: at sentence ends where possible, else at spaces, else hard."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = max((m.end() for m in _SENTENCE_END.finditer(window) if m.end() <= limit), default=0)
        if cut < limit // 2:
            cut = window.rfind(" ", 0, limit) + 1
        if cut < limit // 2:
            cut = limit
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    return [p for p in pieces if p.strip()]
