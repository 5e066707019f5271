"""What the assistants' ``.env`` readers make of a file (``read_as``), so that ``env_file`` writes a
value each reads back as it is: models written from the readers' source and checked against it (the
npm ``dotenv`` package's ``parse`` as Gemini CLI 0.61 and Qwen Code 0.24 bundle it, run by node; the
``dotenvy`` crate through the real Codex 0.169): tests/environments/test_env_file_quoting.py and
tests/e2e/test_dotenv_quoting_e2e.py.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Literal

Reader = Literal["dotenv", "dotenvy"]
#: The label of each reader, for errors.
READERS: dict[Reader, str] = {
    "dotenv": "the npm dotenv package (Gemini CLI's and Qwen Code's reader)",
    "dotenvy": "the dotenvy crate (Codex's reader)",
}

#: The white space of Unicode that both JavaScript and Rust take for it (U+00A0, U+1680, U+2000 to
#: U+200A, U+2028, U+2029, U+202F, U+205F, U+3000).
_UNICODE_SPACE = "\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
#: What JavaScript's ``\s`` and ``trim()`` take for white space, and where its ``^``/``$`` (flag m)
#: and ``.`` see a line end.
JS_SPACE = "\t\n\v\f\r " + _UNICODE_SPACE + "\ufeff"
_JS_LINE_END = "\n\r\u2028\u2029"
_S = f"[{JS_SPACE}]"
_BOL = f"(?:\\A|(?<=[{_JS_LINE_END}]))"
_EOL = f"(?=[{_JS_LINE_END}]|\\Z)"
#: The npm package's ``LINE`` pattern (dotenv 17: ``lib/main.js``), with JavaScript's meaning.
_NPM_LINE = re.compile(
    rf"{_BOL}{_S}*(?:export{_S}+)?([A-Za-z0-9_.-]+)(?:{_S}*={_S}*?|:{_S}+?)"
    rf"""({_S}*'(?:\\'|[^'])*'|{_S}*"(?:\\"|[^"])*"|{_S}*`(?:\\`|[^`])*`|[^#\r\n]+)?"""
    rf"{_S}*(?:#[^{_JS_LINE_END}]*)?{_EOL}"
)
_NPM_QUOTED = re.compile(rf"""{_BOL}(['"`])([\s\S]*)\1{_EOL}""")
#: What Rust's ``char::is_whitespace`` takes for white space (dotenvy trims and skips it).
_RUST_SPACE = "\t\n\v\f\r \x85" + _UNICODE_SPACE


def read_as(reader: Reader, text: str) -> dict[str, str]:
    """The variables ``reader`` sets from a ``.env`` file's ``text`` (a line it drops, or whose value
    would take another variable's value, sets none)."""
    return _npm_dotenv(text) if reader == "dotenv" else _dotenvy(text)


def entry_lines(reader: Reader, text: str) -> list[range]:
    """The lines (counted from 0; a line ends at ``\\r\\n``, ``\\r`` or ``\\n``) of each entry ``reader``
    reads from ``text``: one line, or several while a quote it takes for open runs on (``env_file``
    names the user's line whose quote runs on into the lines it writes)."""
    if reader == "dotenv":
        text = re.sub(r"\r\n?", "\n", text)  # (as its ``parse`` does: each line end stays one)
        spans = [range(match.start(1), match.end()) for match in _NPM_LINE.finditer(text)]
    else:
        spans = [span for span, _ in _dotenvy_entries(text)]
    ends = [end.end() for end in re.finditer(r"\r\n|\r|\n", text)]
    return [range(bisect_right(ends, s.start), bisect_right(ends, s.stop - 1) + 1) for s in spans]


def _npm_dotenv(text: str) -> dict[str, str]:
    """The npm package's ``parse``: line ends made ``\\n``, then ``LINE`` matched again and again (the
    last value of a key wins); a value trimmed, its enclosing quotes taken off, and within double
    quotes ``\\n`` and ``\\r`` made line breaks."""
    found = {}
    for match in _NPM_LINE.finditer(re.sub(r"\r\n?", "\n", text)):
        value = (match[2] or "").strip(JS_SPACE)
        quoted = value[:1]
        value = _NPM_QUOTED.sub(lambda m: m[2], value)
        if quoted == '"':
            value = value.replace("\\n", "\n").replace("\\r", "\r")
        found[match[1]] = value
    return found


class _Dropped(Exception):
    """dotenvy refuses the line (Codex then skips it), or its value would take a variable's value."""


def _dotenvy(text: str) -> dict[str, str]:
    """dotenvy 0.15.7's ``Iter`` as Codex 0.169 loads it: lines joined while a quote is open
    (``_dotenvy_entries``), each parsed like a shell assignment (``_dotenvy_line``); a line it refuses
    is skipped, and the last value of a key wins (checked with the real CLI)."""
    found: dict[str, str] = {}
    for _, entry in _dotenvy_entries(text):
        try:
            parsed = None if entry is None else _dotenvy_line(entry)
        except _Dropped:
            continue
        if parsed is not None and "\0" not in parsed[1]:
            found[parsed[0]] = parsed[1]
    return found


def _dotenvy_entries(text: str) -> list[tuple[range, str | None]]:
    """dotenvy's ``QuotedLines``: where each entry is in ``text`` and its text (None for a quote left
    open at the end)."""
    lines = re.findall(r"[^\n]*\n|[^\n]+\Z", text)
    entries: list[tuple[range, str | None]] = []
    at = offset = 0
    while at < len(lines):
        begin, buf, state = offset, "", "complete"
        entry: str | None = None
        while at < len(lines):
            start = len(buf)
            buf += lines[at]
            offset += len(lines[at])
            at += 1
            if buf.lstrip(_RUST_SPACE).startswith("#"):
                entry = ""
                break
            end, state = _dotenvy_state(state, buf[start:])
            if state == "complete":
                entry = buf.removesuffix("\n").removesuffix("\r") if buf.endswith("\n") else buf
                break
            if state == "comment":
                entry = buf[: start + end]
                break
        entries.append((range(begin, offset), entry))
    return entries


#: dotenvy's ``eval_end_state``: each state's next state for a character (``_dotenvy_state``).
_STRONG = {"\\": "strong-escape", "'": "complete"}
_WEAK = {"\\": "weak-escape", '"': "complete"}
_OPENING = {"\\": "escape", '"': "weak", "'": "strong"}


def _dotenvy_state(state: str, chunk: str) -> tuple[int, str]:
    """The state of dotenvy's ``QuotedLines`` at the end of ``chunk`` (and where a comment starts)."""
    for at, char in enumerate(chunk):
        if state == "space" and char == "#":
            return at, "comment"
        if state == "space":
            state = _OPENING.get(char, "complete")
        elif state in ("escape", "weak-escape", "strong-escape"):
            state = {"escape": "complete", "weak-escape": "weak", "strong-escape": "strong"}[state]
        elif state == "complete":
            space = char in _RUST_SPACE and char not in "\r\n"
            state = "space" if space else _OPENING.get(char, "complete")
        elif state == "weak":
            state = _WEAK.get(char, "weak")
        else:
            state = _STRONG.get(char, "strong")
    return len(chunk) - 1, state


def _dotenvy_line(line: str) -> tuple[str, str] | None:
    """dotenvy's ``parse_line``: None for a blank line or a comment; _Dropped for a line it refuses."""
    line = line.rstrip(_RUST_SPACE).lstrip(_RUST_SPACE)
    if not line or line.startswith("#"):
        return None
    key, line = _dotenvy_key(line)
    if key == "export" and not line.startswith("="):
        key, line = _dotenvy_key(line)
    if not line.startswith("="):
        raise _Dropped
    line = line[1:].lstrip(_RUST_SPACE)
    if not line or line.startswith("#"):
        return key, ""
    return key, _dotenvy_value(line)


def _dotenvy_key(line: str) -> tuple[str, str]:
    """A key (an ASCII letter or ``_``, then letters, digits, ``_`` and ``.``), and the rest trimmed."""
    match = re.match(r"[A-Za-z_][A-Za-z0-9_.]*", line)
    if match is None:
        raise _Dropped
    return match[0], line[match.end() :].lstrip(_RUST_SPACE)


def _dotenvy_value(text: str) -> str:
    """dotenvy's ``parse_value``: quotes and escapes as a shell's; ``$`` outside single quotes (a
    variable's value in its place) is _Dropped here, as is a quote left open."""
    out: list[str] = []
    strong = weak = escaped = ending = False
    for char in text:
        if ending:
            if char == "#":
                break
            if char not in " \t":
                raise _Dropped
        elif escaped:
            if char not in "\\'\"$ n":
                raise _Dropped
            out.append("\n" if char == "n" else char)
            escaped = False
        elif strong:
            strong = char != "'"
            out.append(char if strong else "")
        elif char == "$":
            raise _Dropped
        elif weak:
            weak = char != '"'
            escaped = char == "\\"
            out.append(char if weak and not escaped else "")
        elif char in "'\"\\":
            strong, weak, escaped = char == "'", char == '"', char == "\\"
        elif char in " \t":
            ending = True
        else:
            out.append(char)
    if strong or weak:
        raise _Dropped
    return "".join(out)
