"""Edit JSON and JSONC config files without disturbing anything but the keys we touch.

A :class:`JsonDocument` wraps a round-trip model: ``parse(text).dumps() == text`` byte for byte,
comments, key order, indentation, one-line arrays, CRLF and the trailing newline included. Strict
JSON (``comments=False``, as Claude Code's settings.json) and JSON with comments and trailing commas
that ``json`` reads once they are blanked (OpenCode's, Qwen Code's, Gemini CLI's files) get
``json_model``'s: json-five's layout, read one level at a time and only where an edit goes, so
neither json-five nor the regex and sly packages under it (~40 ms to import) are loaded. JSON5
(single quotes, unquoted keys, hex numbers...) gets json-five's own model, read whole.
tests/environments/test_json_model.py holds the two to the same bytes. Measured
(benchmarks/switch_llm.py, docs/benchmarks.md): json-five's parser takes ~3 s for a 500 KB file.
``set`` and ``delete`` change only the member they address:

* replacing a value keeps the key where it is, with the whitespace and comments around it;
* a new key goes at the end of its object, on its own line indented like its siblings (or one
  indent unit deeper than the object when it was empty); new objects and arrays are written in
  the file's indent style, strings as UTF-8; inside a one-line object, or in place of a one-line
  array or object, the new value is written on one line too;
* deleting a member removes its line: key, value, separating comma and any comment on the same
  line after it. Comments on the lines above it stay, so no user text is lost by accident.

How json-five lays the whitespace and comments ("wsc") of an object out, which the code below relies on::

    {  leading_wsc  key0 key0.wsc_after : value0.wsc_before value0 value0.wsc_after ,
       key1.wsc_before  key1 ... value1 value1.wsc_after  [, trailing_comma.wsc_after]  }

So the "gap" in front of member ``i`` is ``leading_wsc`` for the first one and ``key.wsc_before``
for the others, and the text before ``}`` is the last value's ``wsc_after`` (or the trailing comma's).
"""

from __future__ import annotations

import functools
import json
import re
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self, TypeVar

from mahavishnu.errors import InvalidConfigFileError, restore_hint
from mahavishnu.files import json_model
from mahavishnu.json_types import JSONObject as JSONData
from mahavishnu.json_types import JSONReadable, JSONValue

if TYPE_CHECKING:
    from json5.model import Comment
    from json5.utils import JSON5DecodeError

__all__ = ["JsonDocument", "check_jsonc", "load_json5"]

_JSON5_LOCK = threading.Lock()
_JSON5_LOADED = False


def load_json5() -> None:
    """Import json-five once, in one thread at a time. Its modules import one another in a cycle, so
    two threads importing them at once (``mahavishnu health`` reads the assistants' settings in
    parallel) deadlock or see a partially initialised module. Every import of json5 goes through here
    first; afterwards it is a flag check."""
    global _JSON5_LOADED
    if _JSON5_LOADED:
        return
    with _JSON5_LOCK:
        if not _JSON5_LOADED:
            import json5.dumper
            import json5.loader
            import json5.model
            import json5.utils  # noqa: F401

            _JSON5_LOADED = True


# Nodes are json-five's model classes (JSONC and JSON5 files) or, for strict JSON, the small
# look-alikes below: the same attributes and layout, so the editing code serves both. json-five (and
# the regex and sly packages under it, ~40 ms to import) is loaded only for a file that needs it.
Node = Any
JSONText = Any
JSONObject = Any
JSONArray = Any
Value = Any
Key = Any
DoubleQuotedString = Any
#: Whitespace and comments between tokens, as json-five stores them (json_model's comments are its own)
Wsc = list["str | Comment | json_model.Comment"]

_DEFAULT_INDENT = "  "
_EMPTY_DOCUMENT = "{}\n"
# Comments and single-quoted strings are matched only so that the quotes inside them are skipped.
_STRING_OR_COMMENT = re.compile(
    r"""//[^\n]*|/\*.*?\*/|'(?:[^'\\]|\\.)*'|(?P<string>"(?:[^"\\]|\\.)*")""", re.DOTALL
)
_NEEDS_PROTECTION = re.compile("[\\\\\u2028\u2029]")
# Lines that start with JSON structure (not comment text) show the file's indentation.
_INDENTED_LINE = re.compile(r"^([ \t]+)[\"{}\[\]]", re.MULTILINE)


@dataclass(frozen=True)
class _Style:
    """How new text is laid out: the file's line ending and indent unit."""

    newline: str
    unit: str


@dataclass(frozen=True)
class _Frame:
    """An object on the way down a key path, with the indentation of the line that opens it."""

    obj: JSONObject
    indent: str


class JsonDocument:
    """A parsed JSON / JSONC document that can be edited in place and written back."""

    def __init__(self, model: JSONText, *, source: str, text: str) -> None:
        if not _is_object(model.value):
            raise InvalidConfigFileError(
                f"invalid JSON in {source}: the top level must be an object, not {_kind(model.value)}",
                hint=restore_hint(source),
            )
        self._model = model
        self._own = isinstance(model, json_model.Text)  # json_model's, not json-five's
        self._root: JSONObject = model.value
        self._source = source
        self._text = text

    @functools.cached_property
    def _style(self) -> _Style:
        """Found when an edit first writes something new (a scan of the whole text)."""
        return _detect_style(self._text)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str, *, source: str = "<text>", comments: bool = True) -> Self:
        """Parse ``text``; ``comments=False`` accepts strict JSON only (as Claude Code reads it)."""
        try:
            return cls._parse(text, source=source, comments=comments)
        except RecursionError as exc:  # "[[[[..." thousands deep: both parsers recurse per level
            raise InvalidConfigFileError(
                f"{source} is nested too deeply to read", hint=restore_hint(source)
            ) from exc

    @classmethod
    def _parse(cls, text: str, *, source: str, comments: bool) -> Self:
        if _is_blank(text):
            text = _EMPTY_DOCUMENT
        if not comments:
            model = json_model.read_strict(text)
            if model is None:  # json.loads refuses it: the check says where and why
                _check_strict_json(text, source)
                model = json_model.read(text)
            return cls(model, source=source, text=text)
        read = _read_jsonc(text)
        if read is not None:
            return cls(json_model.read(text, read[0]), source=source, text=text)
        load_json5()
        from json5.utils import JSON5DecodeError

        try:
            model = _parse_model(text)
        except JSON5DecodeError as exc:
            raise _jsonc_error(exc, text, source) from exc
        _to_python(model)  # json-five parses any depth, but every walk of the model recurses: fail here
        return cls(model, source=source, text=text)

    @classmethod
    def empty(cls) -> Self:
        """A document with no keys; it dumps as ``{}`` plus a newline, 2-space indented once filled."""
        return cls.parse(_EMPTY_DOCUMENT, source="<new>")

    # -- reading ------------------------------------------------------------------------------

    @property
    def data(self) -> JSONData:
        """A plain Python copy of the whole document."""
        return {_key_name(key): _to_python(value) for key, value in _members(self._root)}

    def get(self, keys: Sequence[str], default: JSONValue = None) -> JSONValue:
        """The value at ``keys`` as plain Python, or ``default`` when any key on the way is missing."""
        node: Value = self._root
        for key in keys:
            if not _is_object(node):
                return default
            index = _find(node, key)
            if index is None:
                return default
            node = _child(node, index)
        return _to_python(node)

    def dumps(self) -> str:
        """The document as text: the original bytes wherever nothing was edited."""
        return _dump(self._model)

    # -- editing ------------------------------------------------------------------------------

    def set(self, keys: Sequence[str], value: JSONReadable, *, like: JsonDocument | None = None) -> None:
        """Set the value at ``keys`` (plain JSON-able Python), creating missing objects on the way. A
        new member goes last; with ``like`` (the file it is put back from), in an object of a member a
        line, right after the last of the keys before it there that the object has (first when it was
        first there), and on one line if it was."""
        if not keys:
            raise ValueError("set needs at least one key")
        frames = self._descend(keys[:-1])
        frame = frames[-1]
        remaining = list(keys[len(frames) - 1 :])
        key = remaining[0]
        for inner_key in reversed(remaining[1:]):
            value = {inner_key: value}
        index = _find(frame.obj, key)
        if index is None:
            there = like._member_at(keys) if like is not None and len(remaining) == 1 else None
            place = None if there is None else _place(frame.obj, there[0])
            if place is None or not self._insert(frame, place, key, value, one_line=bool(there and there[1])):
                self._append(frame, key, value)
            return
        current = _child(frame.obj, index)
        if len(remaining) > 1 and not _is_null(current):
            path = ".".join(keys[: len(frames)])
            raise InvalidConfigFileError(
                f"cannot set {'.'.join(keys)} in {self._source}: {path} is {_kind(current)}, not an object",
                hint="Fix or remove that key by hand, then run the command again.",
            )
        self._replace(frame, index, value)

    def delete(self, keys: Sequence[str], *, prune_empty_parents: bool = False) -> bool:
        """Remove the member at ``keys``; True if something was removed.

        With ``prune_empty_parents``, objects on the path that this leaves without members (and
        without comments) are removed too; the top-level object always stays.
        """
        if not keys:
            raise ValueError("delete needs at least one key")
        frames = self._descend(keys[:-1])
        if len(frames) < len(keys):
            return False
        removed = False
        while (index := _find(frames[-1].obj, keys[-1])) is not None:  # duplicates too: the last one wins
            _remove_member(frames[-1].obj, index)
            removed = True
        if removed and prune_empty_parents:
            self._prune(frames, keys)
        return removed

    # -- helpers ------------------------------------------------------------------------------

    def _descend(self, keys: Sequence[str]) -> list[_Frame]:
        """The root and every object found along ``keys``; stops at the first missing or non-object."""
        frames = [_Frame(self._root, _line_indent(self._model.wsc_before) or "")]
        for key in keys:
            frame = frames[-1]
            index = _find(frame.obj, key)
            if index is None or not _is_object(child := _child(frame.obj, index)):
                break
            frames.append(_Frame(child, _indent_of_member(frame, index)))
        return frames

    def _prune(self, frames: list[_Frame], keys: Sequence[str]) -> None:
        for depth in range(len(frames) - 1, 0, -1):
            obj = frames[depth].obj
            if obj.keys or _has_comment(obj.leading_wsc):
                return
            parent = frames[depth - 1].obj
            index = _find(parent, keys[depth - 1])
            if index is None or parent.values[index] is not obj:
                return
            _remove_member(parent, index)

    def _append(self, frame: _Frame, key: str, value: JSONReadable) -> None:
        obj, newline = frame.obj, self._style.newline
        if not obj.keys:
            inner = frame.indent + self._style.unit
            node = _render(value, inner, self._style, own=self._own)
            _append_to_empty(obj, _make_key(key, self._own), node, newline + inner, newline + frame.indent)
            return
        indent = _member_indent(obj)
        node = _render(value, indent, self._style, own=self._own)
        if indent is None:
            _append_inline(obj, _make_key(key, self._own), node)
        else:
            _append_line(obj, _make_key(key, self._own), node, newline + indent)

    def _member_at(self, keys: Sequence[str]) -> tuple[list[str], bool] | None:
        """The keys before the member at ``keys`` in its object, and whether its value is a
        container on one line; None when there is no such member."""
        frames = self._descend(keys[:-1])
        index = _find(frames[-1].obj, keys[-1]) if len(frames) == len(keys) else None
        if index is None:
            return None
        obj = frames[-1].obj
        return [_key_name(key) for key in obj.keys[:index]], _is_one_line_container(_child(obj, index))

    def _insert(self, frame: _Frame, index: int, key: str, value: JSONReadable, *, one_line: bool) -> bool:
        """A new member on its own line before member ``index``, the comment ending the line above
        left there; False (nothing done) in a one-line object, or past the last member."""
        obj = frame.obj
        indent = _member_indent(obj)
        if indent is None or index >= len(obj.keys):
            return False
        end_of_line, rest = _split_line(_gap(obj, index))
        if not rest:  # it shares the line of the member before it
            return False
        node = _render(value, None if one_line else indent, self._style, own=self._own)
        name = _make_key(key, self._own)
        name.wsc_after, node.wsc_before = _separators(obj)
        node.wsc_after = []  # the comma right after the value
        obj.keys.insert(index, name)
        obj.values.insert(index, node)
        _set_gap(obj, index, _coalesce([*end_of_line, self._style.newline + indent]))
        _set_gap(obj, index + 1, rest)
        return True

    def _replace(self, frame: _Frame, index: int, value: JSONReadable) -> None:
        old = _child(frame.obj, index)
        if _json_equal(_to_python(old), value):
            return  # keep the original spelling (escapes, number format, layout)
        one_line = _member_indent(frame.obj) is None or _is_one_line_container(old)
        indent = None if one_line else _indent_of_member(frame, index)
        node = _render(value, indent, self._style, own=self._own)
        node.wsc_before, node.wsc_after = old.wsc_before, old.wsc_after
        frame.obj.values[index] = node


# -- parsing and errors --------------------------------------------------------------------------


def json_data(text: str, *, source: str = "<text>", comments: bool = True) -> JSONData:
    """``JsonDocument.parse(text, ...).data``, the same errors for the same texts; JSON, and JSON
    with comments once they are blanked, is read by ``json.loads`` alone (a 28 MB settings.json:
    0.3 s, where json-five's model of a 500 KB JSONC file takes 3 s)."""
    if _is_blank(text):
        return JsonDocument.parse(text, source=source, comments=comments).data
    try:
        read = _read_jsonc(text) if comments else (text, _check_strict_json(text, source))
    except RecursionError as exc:
        raise InvalidConfigFileError(
            f"{source} is nested too deeply to read", hint=restore_hint(source)
        ) from exc
    if read is None or not isinstance(read[1], dict):
        return JsonDocument.parse(text, source=source, comments=comments).data  # json-five's, or its error
    return read[1]


def _is_blank(text: str) -> bool:
    """``not text.strip()``, without a copy of the text (a settings file ends in a line break)."""
    return not text or text.isspace()


def _read_jsonc(text: str) -> tuple[str, object] | None:
    """What ``json.loads`` reads of a JSONC ``text``, and the text it read: ``text`` itself when it
    has no comments or trailing commas, else them blanked (``json_model.plain_text``); None when
    json reads neither (JSON5, or a mistake: json-five reads it, or names the mistake)."""
    try:
        return text, json_model.loads(text)
    except ValueError:
        pass
    plain = json_model.plain_text(text)
    if plain == text:
        return None
    try:
        return plain, json_model.loads(plain)
    except ValueError:
        return None


def _bom_refused(source: str, who_refuses: str) -> InvalidConfigFileError:
    return InvalidConfigFileError(
        f"{source} starts with a byte order mark (BOM), which {who_refuses}",
        hint='Save it as UTF-8 without a BOM (in most editors: encoding "UTF-8", not "UTF-8 with '
        'BOM"); nothing was written.',
    )


def _check_strict_json(text: str, source: str) -> object:
    """What ``json.loads`` reads of ``text``, or InvalidConfigFileError naming the line."""
    if text.startswith("\ufeff"):  # json.loads: "Unexpected UTF-8 BOM (decode using utf-8-sig)"
        raise _bom_refused(source, "strict JSON readers refuse")  # Claude Code and Pi alike
    try:
        return json_model.loads(text)
    except json.JSONDecodeError as exc:
        pos, problem = exc.pos, exc.msg.removesuffix(" at")
        char, before = text[pos : pos + 1], text[:pos].rstrip()
        if text.startswith(("//", "/*"), pos):
            name = source.replace("\\", "/").rsplit("/", 1)[-1]
            problem = f"comments are not allowed in {name} (its assistant reads it as strict JSON)"
        elif char in ("}", "]") and before.endswith(","):  # json says "Expecting property name" at '}'
            pos = len(before) - 1
            problem = f"a trailing comma before '{char}', which strict JSON does not allow: remove it"
        line = text.count("\n", 0, pos) + 1
        column = pos - text.rfind("\n", 0, pos)
        raise InvalidConfigFileError(
            f"invalid JSON in {source} at line {line}, column {column}: {problem}",
            hint=restore_hint(source),
        ) from exc


D = TypeVar("D")


def refused_as_ours(load: Callable[[str, str], D], text: str) -> D:
    """``load(text, ...)`` of a text about to be written: where it fails, the text is ours (the user's
    file was read before it was changed), so the error names no file and points to no backup of one
    (``errors.restore_hint`` named "the new settings" as a file to list the backups of)."""
    try:
        return load(text, "the new settings")
    except InvalidConfigFileError as exc:  # a bug of ours, never the user's: refuse to write it
        hint = "Nothing was written; this is a bug of Mahavishnu's: please report it with the command run."
        raise InvalidConfigFileError(f"refusing to write settings: {exc.message}", hint=hint) from exc


def check_jsonc(text: str, source: str, *, reader: str, bom: bool) -> None:
    """Refuse what ``reader`` refuses: Qwen Code and Gemini CLI strip comments (strip-json-comments)
    and hand the rest to ``JSON.parse``, so comments are fine but no JSON5 (trailing commas, single
    quotes, unquoted keys, hex numbers, NaN, Infinity). ``bom``: whether a byte order mark is fine
    (Qwen Code strips it, Gemini CLI does not). Raises InvalidConfigFileError naming the line."""
    if text.startswith("\ufeff"):
        if not bom:
            raise _bom_refused(source, f"{reader} refuses")
        text = " " + text[1:]  # same offsets
    if not text.strip():
        return
    bare = _COMMENT_OR_STRING.sub(_blank_comment, text)
    try:
        json_model.loads(bare)  # Python's json takes NaN and Infinity, JSON.parse does not
    except json.JSONDecodeError as exc:
        pos, problem = _jsonc_problem(bare, exc.pos, exc.msg, reader)
    except RecursionError as exc:
        raise InvalidConfigFileError(
            f"{source} is nested too deeply to read", hint=restore_hint(source)
        ) from exc
    else:
        constant = next((m for m in _JSON_CONSTANT.finditer(bare) if m.group("constant")), None)
        if constant is None:
            return
        pos = constant.start()
        problem = f"{constant.group()}, which {reader} refuses ({_JSON5_ONLY}): write a number"
    line = text.count("\n", 0, pos) + 1
    column = pos - text.rfind("\n", 0, pos)
    raise InvalidConfigFileError(
        f"invalid JSON in {source} at line {line}, column {column}: {problem}", hint=restore_hint(source)
    )


_COMMENT_OR_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|//[^\n]*|/\*.*?\*/', re.DOTALL)
_JSON_CONSTANT = re.compile(r'"(?:[^"\\]|\\.)*"|(?P<constant>-?Infinity|NaN)', re.DOTALL)
_JSON5_ONLY = "it reads JSON with comments, not JSON5"


def _blank_comment(match: re.Match[str]) -> str:
    """A comment as the spaces strip-json-comments leaves (line breaks kept); a string as it is."""
    found = match.group()
    return found if found.startswith('"') else re.sub(r"[^\r\n]", " ", found)


def _jsonc_problem(bare: str, pos: int, message: str, reader: str) -> tuple[int, str]:
    """Where the problem is and what it is, with what to do for the JSON5 that JSON.parse refuses."""
    char = bare[pos : pos + 1]
    before = bare[:pos].rstrip()
    refused = f"which {reader} refuses ({_JSON5_ONLY})"
    if char in ("}", "]") and before.endswith(","):
        return len(before) - 1, f"a trailing comma before '{char}', {refused}: remove it"
    if char == "'":
        return pos, f"a single-quoted string, {refused}: use double quotes"
    if message.startswith("Expecting property name") and (char.isalpha() or char in "_$"):
        return pos, f"an unquoted key, {refused}: put it in double quotes"
    number = re.search(r"[-+0-9.]*$", bare[:pos])
    start = number.start() if number else pos
    if _JSON5_NUMBER.match(bare, start):
        return start, f"a number JSON does not allow, {refused}: write it in decimal"
    return pos, message.removesuffix(" at")


#: The start of a number JSON5 takes and JSON does not: hex, a leading + or dot, a trailing dot.
_JSON5_NUMBER = re.compile(r"[-+]?0[xX]|\+|-?\.|-?[0-9]+\.(?![0-9])")


def _parse_model(text: str) -> JSONText:
    """json-five's model of ``text``, with its string bugs worked around (see ``_protect_strings``)."""
    load_json5()
    from json5.loader import ModelLoader, loads
    from json5.model import String, walk

    protected, originals = _protect_strings(text)
    model: JSONText = loads(protected, loader=ModelLoader())
    if not originals and "\r" not in text:
        return model  # nothing to fix up: skip the walk
    for node in walk(model):
        _normalize_node(node)
        if isinstance(node, String) and node._tok is not None and node._tok.index in originals:
            node.raw_value = originals[node._tok.index]
            node.characters = json.loads(node.raw_value)
    return model


def _protect_strings(text: str) -> tuple[str, dict[int, str]]:
    r"""Hide the strings json-five misreads behind placeholders of the same length.

    json-five decodes escapes with regexes that do not see ``\\`` as one escape: it rejects the
    valid ``"C:\\xampp"`` and reads ``"\\u0041"`` as ``\A``. It also refuses a raw U+2028 inside
    a string. Each double-quoted string that holds a backslash or a line separator and that strict
    JSON can read becomes ``"___"``; ``_parse_model`` puts the original back, decoded by ``json``,
    by its offset. Same-length placeholders keep every offset, and every error position, the same.
    """
    if not _NEEDS_PROTECTION.search(text):
        return text, {}
    originals: dict[int, str] = {}
    pieces: list[str] = []
    end = 0
    for match in _STRING_OR_COMMENT.finditer(text):
        raw = match.group("string")
        if raw is None or not _NEEDS_PROTECTION.search(raw) or not _is_json_string(raw):
            continue
        originals[match.start()] = raw
        pieces += [text[end : match.start()], '"' + "_" * (len(raw) - 2) + '"']
        end = match.end()
    return "".join([*pieces, text[end:]]), originals


def _is_json_string(raw: str) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


def _jsonc_error(exc: JSON5DecodeError, text: str, source: str) -> InvalidConfigFileError:
    """Turn json-five's message (one of several shapes) into ours: position plus the problem."""
    message = str(exc.args[0]) if exc.args else str(exc)
    primary = re.search(r"The primary error was: \n\t(.*)", message)
    if primary:
        message = primary.group(1)
    position = re.search(r"line (\d+) column (\d+)", message)
    offset = re.search(r"at index (\d+)", message)
    if position:
        line, column = int(position.group(1)), int(position.group(2))
    else:
        index = int(offset.group(1)) if offset else len(text)
        line = text.count("\n", 0, index) + 1
        column = index - text.rfind("\n", 0, index)
    problem = re.sub(r"( in or near token \w+)? at: line \d+ column \d+ \(char \d+\)", "", message)
    problem = re.sub(r" at index \d+| \(line \d+ column \d+ \(char \d+\)", "", problem)
    return InvalidConfigFileError(
        f"invalid JSON in {source} at line {line}, column {column}: {problem}", hint=restore_hint(source)
    )


def _detect_style(text: str) -> _Style:
    """The line ending, and the indent unit: a tab when the first indented line of structure starts
    with one, else the narrowest indent of such a line that starts with a space."""
    newline = "\r\n" if "\r\n" in text else "\n"
    first = _INDENTED_LINE.search(text)
    if first is None:
        return _Style(newline, _DEFAULT_INDENT)
    if first.group(1).startswith("\t"):
        return _Style(newline, "\t")
    return _Style(newline, " " * _narrowest_indent(text, len(first.group(1))))


def _narrowest_indent(text: str, width: int) -> int:
    """The fewest characters of an indent (of a line of structure) that starts with a space, one of
    ``width`` being known: a search for a narrower one until there is none (one search for most
    files: none narrower than their first), not a list of every indented line (440,000 in a 30 MB
    settings.json, 0.25 s)."""
    while width > 1:
        at_start, after_newline = _narrower_than(width)
        found = [len(m.group(1)) for m in (at_start.match(text), after_newline.search(text)) if m]
        if not found:
            break
        width = min(found)
    return width


@functools.cache
def _narrower_than(width: int) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """An indent of fewer than ``width`` characters starting with a space, then structure: at the
    start of the text, and after a line feed (a literal to search for: fast)."""
    indent = f'( [ \t]{{0,{width - 2}}}+)["{{}}\\[\\]]'
    return re.compile(indent), re.compile("\n" + indent)


def _normalize_node(node: Node) -> None:
    """Move the ``\\r`` that json-five's line comments swallow in CRLF files into the whitespace
    after them, so every line break is whole inside one whitespace string."""
    node.wsc_before = _normalize_wsc(node.wsc_before)
    node.wsc_after = _normalize_wsc(node.wsc_after)
    if _is_container(node):
        node.leading_wsc = _normalize_wsc(node.leading_wsc)


def _normalize_wsc(items: Wsc) -> Wsc:
    load_json5()
    from json5.model import LineComment

    result: Wsc = []
    for item in items:
        previous = result[-1] if result else None
        if isinstance(item, str) and isinstance(previous, LineComment) and previous.value.endswith("\r"):
            result[-1] = LineComment(previous.value[:-1], tok=previous._tok)
            item = "\r" + item
        result.append(item)
    return result


# -- the two models ------------------------------------------------------------------------------
#
# A document is json_model's (JSON, and JSONC that json.loads reads once its comments and trailing
# commas are blanked) or json-five's (JSON5); the helpers below answer for both.


def _j5(name: str) -> Any:
    """The json-five model class ``name``, or ``()`` while json-five is not loaded: then no node is
    one of its instances, and ``isinstance(node, ())`` is simply False. (The flag, not
    ``sys.modules``: another thread may be half-way through importing it.)"""
    if not _JSON5_LOADED:
        return ()
    return getattr(sys.modules["json5.model"], name)


def _is_object(node: Any) -> bool:
    return isinstance(node, (json_model.Object, _j5("JSONObject")))


def _is_array(node: Any) -> bool:
    return isinstance(node, (json_model.Array, _j5("JSONArray")))


def _is_container(node: Any) -> bool:
    return _is_object(node) or _is_array(node)


def _is_null(node: Any) -> bool:
    if isinstance(node, json_model.Literal):
        return node.raw_value == "null"
    return isinstance(node, _j5("NullLiteral"))


def _child(container: JSONObject | JSONArray, index: int) -> Value:
    """``container.values[index]``, read first (in place) if json_model left it unread."""
    node = container.values[index]
    if isinstance(node, json_model.Unread):
        node = container.values[index] = json_model.open_container(node)
    return node


# -- reading values ------------------------------------------------------------------------------


def _key_name(key: Key) -> str:
    if isinstance(key, _j5("Identifier")):
        return str(key.name)
    return str(key.characters)  # a string: json-five's or ours


def _find(obj: JSONObject, key: str) -> int | None:
    """Index of the member named ``key``; the last one when a key repeats, as parsers read it."""
    for index in range(len(obj.keys) - 1, -1, -1):
        if _key_name(obj.keys[index]) == key:
            return index
    return None


def _members(node: JSONObject) -> zip[tuple[Key, Value]]:
    return zip(node.keys, node.values, strict=True)


def _to_python(node: Value) -> JSONValue:
    if isinstance(node, json_model.Node):
        return json_model.to_python(node)
    if _is_object(node):
        return {_key_name(key): _to_python(value) for key, value in _members(node)}
    if _is_array(node):
        return [_to_python(value) for value in node.values]
    if isinstance(node, _j5("String")):
        return str(node.characters)
    load_json5()
    from json5.loader import DefaultLoader

    loaded: JSONValue = DefaultLoader().load(node)
    return loaded


def _json_equal(left: JSONReadable, right: JSONReadable) -> bool:
    """Equality as JSON sees it: ``1`` is ``1.0`` but ``True`` is not ``1``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, dict | list) or isinstance(right, dict | list):
        return _containers_equal(left, right)
    return bool(type(left) is type(right) and left == right)


def _containers_equal(left: JSONReadable, right: JSONReadable) -> bool:
    """Two objects, or two arrays, member by member; an object is never an array nor a scalar."""
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_json_equal(a, b) for a, b in zip(left, right, strict=True))
    return False


def _kind(node: Value) -> str:
    value = _to_python(node)
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


# -- writing values ------------------------------------------------------------------------------


def _render(value: JSONReadable, indent: str | None, style: _Style, *, own: bool = False) -> Value:
    """A model node for ``value``: pretty at ``indent`` on a multi-line object, compact when None;
    json_model's for a document of json_model (``own``), else json-five's."""
    if indent is None:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))
    else:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, indent=style.unit)
        text = text.replace("\n", style.newline + indent)
    node: Value = json_model.read(text).value if own else _parse_model(text).value
    return node


def _make_key(key: str, own: bool = False) -> DoubleQuotedString:
    raw = json.dumps(key, ensure_ascii=False)
    if own:
        return json_model.String(key, raw)
    load_json5()
    from json5.model import DoubleQuotedString

    return DoubleQuotedString(key, raw_value=raw)


def _is_one_line_container(node: Value) -> bool:
    """A non-empty object or array written on one line, like ``"allow": ["Read", "Edit"]``."""
    return _is_container(node) and bool(node.values) and "\n" not in _bare_text(node)


def _dump(node: Node) -> str:
    if isinstance(node, json_model.Node):
        return json_model.dump(node)
    load_json5()
    from json5.dumper import ModelDumper

    dumper = ModelDumper()
    dumper.dump(node)
    dumper.env.outfile.seek(0)
    return dumper.env.outfile.read()


def _bare_text(node: Value) -> str:
    """The text of ``node`` without the whitespace and comments around it."""
    outside = node.wsc_before, node.wsc_after
    node.wsc_before, node.wsc_after = [], []
    try:
        return _dump(node)
    finally:
        node.wsc_before, node.wsc_after = outside


# -- whitespace and comments ---------------------------------------------------------------------


def _coalesce(items: Wsc) -> Wsc:
    """Join neighbouring whitespace strings and drop empty ones."""
    result: Wsc = []
    for item in items:
        if isinstance(item, str) and result and isinstance(result[-1], str):
            result[-1] += item
        elif item != "":
            result.append(item)
    return result


def _has_newline(items: Wsc) -> bool:
    return any(isinstance(item, str) and "\n" in item for item in items)


def _has_comment(items: Wsc) -> bool:
    comment = (json_model.Comment, _j5("Comment"))
    return any(isinstance(item, comment) for item in items)


def _line_start(text: str, index: int) -> int:
    """Where the line break holding ``text[index] == "\\n"`` starts (before a ``\\r``)."""
    return index - 1 if index > 0 and text[index - 1] == "\r" else index


def _split_line(items: Wsc) -> tuple[Wsc, Wsc]:
    """Split at the first line break: (what ends the current line, the rest starting with the break)."""
    items = _coalesce(items)
    for position, item in enumerate(items):
        if isinstance(item, str) and "\n" in item:
            cut = _line_start(item, item.index("\n"))
            head, tail = item[:cut], item[cut:]
            return _coalesce([*items[:position], head]), _coalesce([tail, *items[position + 1 :]])
    return items, []


def _without_last_line(items: Wsc) -> Wsc:
    """Drop the indentation of the line a member started on (and the line break before it)."""
    items = _coalesce(items)
    if not items or not isinstance(items[-1], str):
        return items
    last = items[-1]
    last = last[: _line_start(last, last.rindex("\n"))] if "\n" in last else last.rstrip(" \t")
    return _coalesce([*items[:-1], last])


def _line_indent(items: Wsc) -> str | None:
    """The indentation a gap leaves before the next token, if that token starts its line."""
    items = _coalesce(items)
    if not items or not isinstance(items[-1], str) or "\n" not in items[-1]:
        return None
    return items[-1][items[-1].rindex("\n") + 1 :]


def _comments_only(items: Wsc) -> Wsc:
    """``items`` if they hold a comment worth keeping, else nothing."""
    return items if _has_comment(items) else []


def _close_line_comments(items: Wsc, newline: str) -> Wsc:
    """A line comment must be followed by a line break, whatever was cut after it."""
    items = _coalesce(items)
    result: Wsc = []
    for position, item in enumerate(items):
        result.append(item)
        following = items[position + 1] if position + 1 < len(items) else None
        ends_line = isinstance(following, str) and following.lstrip(" \t").startswith(("\n", "\r\n"))
        if isinstance(item, (json_model.LineComment, _j5("LineComment"))) and not ends_line:
            result.append(newline)
    return _coalesce(result)


# -- object members ------------------------------------------------------------------------------


def _place(obj: JSONObject, after: Sequence[str]) -> int | None:
    """The index right after the last of ``after`` that ``obj`` has (0 for none before); None: none
    of them is there any more."""
    if not after:
        return 0
    found = (_find(obj, name) for name in reversed(after))
    index = next((i for i in found if i is not None), None)
    return None if index is None else index + 1


def _gap(obj: JSONObject, index: int) -> Wsc:
    gap: Wsc = obj.leading_wsc if index == 0 else obj.keys[index].wsc_before
    return gap


def _set_gap(obj: JSONObject, index: int, items: Wsc) -> None:
    if index == 0:
        obj.leading_wsc = items
        obj.keys[0].wsc_before = []
    else:
        obj.keys[index].wsc_before = items


def _member_indent(obj: JSONObject) -> str | None:
    """The indentation of the object's members; None when they share a line (a one-line object)."""
    for index in range(len(obj.keys) - 1, -1, -1):
        indent = _line_indent(_gap(obj, index))
        if indent is not None:
            return indent
    return None


def _indent_of_member(frame: _Frame, index: int) -> str:
    """The indentation of the line member ``index`` of ``frame.obj`` sits on."""
    indent = _line_indent(_gap(frame.obj, index))
    if indent is None:
        indent = _member_indent(frame.obj)
    return frame.indent if indent is None else indent


def _separators(obj: JSONObject) -> tuple[Wsc, Wsc]:
    """The whitespace around the colon of the last member, to copy for a new one."""
    key, value = obj.keys[-1], obj.values[-1]
    before, after = _coalesce(key.wsc_after), _coalesce(value.wsc_before)
    plain = not (_has_comment(before + after) or _has_newline(before + after))
    return (list(before), list(after)) if plain else ([], [" "])


def _closing(obj: JSONObject) -> Wsc:
    """What stands between the last member (or the trailing comma) and ``}``."""
    closing: Wsc = obj.trailing_comma.wsc_after if obj.trailing_comma else obj.values[-1].wsc_after
    return closing


def _set_closing(obj: JSONObject, items: Wsc) -> None:
    if obj.trailing_comma:
        obj.trailing_comma.wsc_after = items
    else:
        obj.values[-1].wsc_after = items


def _add(obj: JSONObject, key: DoubleQuotedString, value: Value, separators: tuple[Wsc, Wsc]) -> None:
    key.wsc_after, value.wsc_before = separators
    obj.keys.append(key)
    obj.values.append(value)


def _append_line(obj: JSONObject, key: DoubleQuotedString, value: Value, line_break: str) -> None:
    """Append a member on a new line after the last one; the old last line keeps its comment."""
    separators = _separators(obj)
    end_of_line, rest = _split_line(_closing(obj))
    if not obj.trailing_comma:
        obj.values[-1].wsc_after = []  # the comma now goes right after the value
    _add(obj, key, value, separators)
    key.wsc_before = _coalesce([*end_of_line, line_break])
    _set_closing(obj, rest)


def _append_inline(obj: JSONObject, key: DoubleQuotedString, value: Value) -> None:
    """Append a member to a one-line object, spaced like the others."""
    separators = _separators(obj)
    gap: Wsc = _coalesce(_gap(obj, len(obj.keys) - 1)) if len(obj.keys) > 1 else [" "]
    closing = _closing(obj)
    if not obj.trailing_comma:
        obj.values[-1].wsc_after = []
    _add(obj, key, value, separators)
    key.wsc_before = [" "] if _has_comment(gap) or _has_newline(gap) else list(gap)
    _set_closing(obj, closing)


def _append_to_empty(
    obj: JSONObject, key: DoubleQuotedString, value: Value, line_break: str, closing_break: str
) -> None:
    """The first member of an empty object: on its own line, ``}`` on the next."""
    inside = _coalesce(obj.leading_wsc)
    if inside and isinstance(inside[-1], str):
        inside[-1] = inside[-1].rstrip()
    obj.trailing_comma = None
    _add(obj, key, value, ([], [" "]))
    _set_gap(obj, 0, _coalesce([*inside, line_break]))
    value.wsc_after = [closing_break]


def _remove_member(obj: JSONObject, index: int) -> None:
    if len(obj.keys) == 1:
        _remove_only_member(obj)
    elif index == len(obj.keys) - 1:
        _remove_last_member(obj)
    else:
        _remove_inner_member(obj, index)


def _drop(obj: JSONObject, index: int) -> None:
    del obj.keys[index]
    del obj.values[index]


def _above(gap: Wsc) -> Wsc:
    """What to keep of the gap before a member being removed: the end of the previous line when it
    holds a comment, and the comment lines above the member, without the member's own indentation."""
    end_of_line, rest = _split_line(gap)
    if not rest:
        return _comments_only(end_of_line)
    return _coalesce([*_comments_only(end_of_line), *_without_last_line(rest)])


def _after_last(closing: Wsc) -> Wsc:
    """What to keep of the text before ``}`` when the last member goes: not the rest of its line."""
    if not _has_newline(closing):
        return closing
    return _split_line(closing)[1]


def _remove_inner_member(obj: JSONObject, index: int) -> None:
    gap, next_gap = _gap(obj, index), _gap(obj, index + 1)
    newline = _newline_in(gap + next_gap)
    # When the next member shares this member's line, it simply takes this member's place.
    merged = [*_above(gap), *_split_line(next_gap)[1]] if _has_newline(next_gap) else gap
    _drop(obj, index)
    _set_gap(obj, index, _close_line_comments(merged, newline))


def _remove_last_member(obj: JSONObject) -> None:
    index = len(obj.keys) - 1
    gap, closing = _gap(obj, index), _closing(obj)
    newline = _newline_in(gap + closing)
    kept = [*_above(gap), *_after_last(closing)]
    _drop(obj, index)
    if obj.trailing_comma:
        obj.trailing_comma.wsc_after = _close_line_comments(kept, newline)
    else:
        previous = obj.values[-1]
        previous.wsc_after = _close_line_comments([*previous.wsc_after, *kept], newline)


def _remove_only_member(obj: JSONObject) -> None:
    inside = [*_above(obj.leading_wsc), *_after_last(_closing(obj))]
    newline = _newline_in(obj.leading_wsc + _closing(obj))
    _drop(obj, 0)
    obj.trailing_comma = None
    obj.leading_wsc = _close_line_comments(inside, newline) if _has_comment(inside) else []


def _newline_in(items: Wsc) -> str:
    return "\r\n" if any(isinstance(item, str) and "\r\n" in item for item in items) else "\n"
