"""Our model of JSON and JSON-with-comments text: json-five's node layout without json-five, read
one level at a time.

``json_document`` edits these nodes as it edits json-five's: the same attributes, with whitespace and
comments in the same places (tests/environments/test_json_model.py holds the two to the same layout
and the same bytes after every edit). json-five is kept for JSON5 alone (single quotes, unquoted keys,
hex numbers...): its parser takes ~3 s for a 500 KB file, this one milliseconds.

A text is read here only once ``json.loads`` has accepted it, or its ``plain_text`` (comments and
trailing commas blanked), so reading trusts it; or by ``read_strict``, which checks what ``json.loads``
would check as it reads (one decode of a strict JSON file, not two). Only the containers an edit goes
into are read (``open_container``): every other object or array is an ``Unread`` node, a span of the
text found by ``json``'s C decoder, dumped as it was and decoded by ``json`` when its values are asked
for. A switch that edits ``env`` in a 30 MB settings.json reads four members, not the million lines of
its ``projects`` map.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from mahavishnu import collector
from mahavishnu.json_types import JSONValue


class Comment:
    """A ``//`` or ``/* */`` comment among the whitespace, as json-five keeps one: ``value`` is its text."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value


class LineComment(Comment):
    __slots__ = ()


class BlockComment(Comment):
    __slots__ = ()


Wsc = list[str | Comment]  # the whitespace and comments between two tokens


@dataclass(frozen=True, slots=True)
class Source:
    """A text and what ``json`` reads of it: ``plain`` is ``text`` with its comments and trailing
    commas blanked (the same object for strict JSON), so an offset means the same in both."""

    text: str
    plain: str


class Node:
    __slots__ = ("wsc_after", "wsc_before")

    def __init__(self) -> None:
        self.wsc_before: Wsc = []
        self.wsc_after: Wsc = []


class Text(Node):
    __slots__ = ("value",)

    def __init__(self, value: Node) -> None:
        super().__init__()
        self.value = value


class TrailingComma(Node):
    __slots__ = ()


class Object(Node):
    __slots__ = ("keys", "leading_wsc", "trailing_comma", "values")

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[String] = []
        self.values: list[Node] = []
        self.leading_wsc: Wsc = []
        self.trailing_comma: TrailingComma | None = None


class Array(Node):
    __slots__ = ("leading_wsc", "trailing_comma", "values")

    def __init__(self) -> None:
        super().__init__()
        self.values: list[Node] = []
        self.leading_wsc: Wsc = []
        self.trailing_comma: TrailingComma | None = None


class String(Node):
    __slots__ = ("characters", "raw_value")

    def __init__(self, characters: str, raw_value: str) -> None:
        super().__init__()
        self.characters = characters
        self.raw_value = raw_value


class Literal(Node):
    """A number, ``true``, ``false``, ``null`` (or the ``NaN``/``Infinity`` Python's json accepts)."""

    __slots__ = ("raw_value", "value")

    def __init__(self, raw_value: str) -> None:
        super().__init__()
        self.raw_value = raw_value
        self.value: JSONValue = _KEYWORDS[raw_value] if raw_value in _KEYWORDS else json.loads(raw_value)


class Unread(Node):
    """An object or array not read yet: ``source.text[start:end]``."""

    __slots__ = ("end", "source", "start")

    def __init__(self, source: Source, start: int, end: int) -> None:
        super().__init__()
        self.source, self.start, self.end = source, start, end


_KEYWORDS: dict[str, JSONValue] = {"true": True, "false": False, "null": None}
#: What ``json.loads`` refuses inside a string, written as it is (escaped, it is fine).
_CONTROL = re.compile(r"[\x00-\x1f]")
_DECODER = json.JSONDecoder()

#: Whitespace and comments, as json-five reads them (a line comment runs to ``\n``).
_GAP_ITEM = r"[ \t\n\r]+|//[^\n]*|/\*.*?\*/"
_GAP = re.compile(f"(?:{_GAP_ITEM})+", re.DOTALL)
_GAP_ITEMS = re.compile(_GAP_ITEM, re.DOTALL)
#: What a gap may start with ("" at the end of the text: ``in`` finds it in any string).
_GAP_CHARS = " \t\n\r/"
#: A string, its loop unrolled (a run of plain characters between escapes): 4x faster than an
#: alternation tried at every character.
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_STRING_PATTERN = re.compile(_STRING, re.DOTALL)
_LITERAL = re.compile(r"-?Infinity|NaN|true|false|null|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
#: Whitespace and comments up to ``}`` or ``]``: what makes a comma before it trailing (one
#: whitespace character a repeat, never given back, so a look-ahead that fails costs its length).
_TO_CLOSE = r"(?:[ \t\n\r]|//[^\n]*|/\*.*?\*/)*+[}\]]"
#: What ``plain_text`` keeps (group 1: a run of strings, of commas that are not trailing and of
#: anything else but comments, one match for many strings) and what it blanks (a comment, a
#: trailing comma).
_BLANKED = re.compile(
    rf'((?:[^"/,]++|{_STRING}|,(?!{_TO_CLOSE})|/(?![/*]))++)|//[^\n]*|/\*.*?\*/|,',
    re.DOTALL,
)


def loads(text: str) -> JSONValue:
    """``json.loads(text)``, the cycle collector paused (a JSON value holds no reference cycle)."""
    with collector.paused():
        value: JSONValue = json.loads(text)
    return value


def plain_text(text: str) -> str:
    """``text`` with each comment and trailing comma replaced by as many spaces: JSON that
    ``json.loads`` accepts when ``text`` is JSON with comments, with every offset unchanged."""
    return _BLANKED.sub(_blank, text)


def _blank(match: re.Match[str]) -> str:
    return match.group(1) or " " * (match.end() - match.start())


def read(text: str, plain: str | None = None) -> Text:
    """The model of ``text``, which ``json.loads`` accepted (``plain``: its ``plain_text``, which
    it accepted, when ``text`` has comments or trailing commas). The top-level value is read, the
    containers in it are not."""
    source = Source(text, text if plain is None else plain)
    leading, pos = _gap(text, 0)
    value: Node
    if text[pos : pos + 1] in ("{", "["):
        value, pos = _container(source, pos)
    else:
        value, pos = _value(source, pos)
    root = Text(value)
    root.wsc_before, (root.wsc_after, pos) = leading, _gap(text, pos)
    if pos != len(text):
        raise ValueError(f"extra data at index {pos}")
    return root


def read_strict(text: str) -> Text | None:
    """``read(text)`` when ``json.loads`` accepts ``text``, None when it may not (its own decode then
    names the mistake). One decode, not ``json.loads`` and then ``read``: each container in the top
    level is decoded by ``json``'s decoder as ``read`` finds its end, as strictly as ``json.loads``
    decodes it, and the rest (the top level's keys, strings, literals and the whitespace between
    them) is checked here as ``json.loads`` checks it: no comment, no trailing comma, no control
    character in a string, no byte order mark."""
    if text.startswith("\ufeff"):
        return None
    try:
        root = read(text)
    except ValueError:
        return None
    return root if _strict_top(root) else None


def _strict_top(root: Text) -> bool:
    """Whether the top level ``read`` made of a text is strict JSON (what is inside its containers
    was decoded by ``json``)."""
    value = root.value
    nodes: list[Node] = [value]
    gaps = [root.wsc_before, root.wsc_after]
    if isinstance(value, Object | Array):
        if value.trailing_comma is not None:
            return False
        gaps.append(value.leading_wsc)
        nodes += value.values
        nodes += value.keys if isinstance(value, Object) else []
    for node in nodes:
        if isinstance(node, String) and _CONTROL.search(node.raw_value):
            return False
        gaps += (node.wsc_before, node.wsc_after)
    return all(isinstance(item, str) for gap in gaps for item in gap)  # no Comment


def open_container(node: Unread) -> Object | Array:
    """The object or array ``node`` stands for, read one level deep, with its whitespace."""
    opened, end = _container(node.source, node.start)
    if end != node.end:
        raise ValueError(f"a container read to index {end}, not {node.end}")
    opened.wsc_before, opened.wsc_after = node.wsc_before, node.wsc_after
    return opened


def to_python(node: Node) -> JSONValue:
    if isinstance(node, Unread):
        with collector.paused():
            value: JSONValue = _DECODER.raw_decode(node.source.plain, node.start)[0]
        return value
    if isinstance(node, Object):
        return {key.characters: to_python(value) for key, value in zip(node.keys, node.values, strict=True)}
    if isinstance(node, Array):
        return [to_python(value) for value in node.values]
    if isinstance(node, String):
        return node.characters
    assert isinstance(node, Literal), node
    return node.value


def dump(node: Node) -> str:
    out: list[str] = []
    _dump(node, out)
    return "".join(out)


# -- reading -------------------------------------------------------------------------------------


def _gap(text: str, pos: int) -> tuple[Wsc, int]:
    """The whitespace and comments at ``pos``, as json-five lists them, and where they end."""
    if text[pos : pos + 1] not in _GAP_CHARS:  # most gaps are empty: no regex for them
        return [], pos
    match = _GAP.match(text, pos)
    if match is None:
        return [], pos
    found = match.group()
    return ([found] if "/" not in found else _comments(found)), match.end()


def _comments(gap: str) -> Wsc:
    """A gap holding comments, split as json-five splits it, except that the ``\\r`` of a CRLF
    line break after a line comment goes with the ``\\n`` (json_document's ``_normalize_wsc``
    moves it there in json-five's model)."""
    items: Wsc = []
    for piece in _GAP_ITEMS.findall(gap):
        previous = items[-1] if items else None
        if isinstance(previous, LineComment) and previous.value.endswith("\r"):
            items[-1], piece = LineComment(previous.value[:-1]), "\r" + piece
        if piece.startswith("//"):
            items.append(LineComment(piece))
        elif piece.startswith("/*"):
            items.append(BlockComment(piece))
        else:
            items.append(piece)
    return items


def _value(source: Source, pos: int) -> tuple[Node, int]:
    """The value at ``pos``: a string or literal read, a container left ``Unread``."""
    text = source.text
    char = text[pos : pos + 1]
    if char in ("{", "["):
        with collector.paused():
            end = _DECODER.raw_decode(source.plain, pos)[1]
        return Unread(source, pos, end), end
    if char == '"':
        return _string(text, pos)
    match = _LITERAL.match(text, pos)
    if match is None:
        raise ValueError(f"unexpected {char!r} at index {pos}")
    return Literal(match.group()), match.end()


def _string(text: str, pos: int) -> tuple[String, int]:
    match = _STRING_PATTERN.match(text, pos)
    if match is None:
        raise ValueError(f"expected a string at index {pos}")
    raw = match.group()
    return String(json.loads(raw) if "\\" in raw else raw[1:-1], raw), match.end()


def _container(source: Source, pos: int) -> tuple[Object | Array, int]:
    """The object or array starting at ``pos``, its members' containers left unread, and its end."""
    text = source.text
    node: Object | Array = Object() if text[pos] == "{" else Array()
    close = "}" if isinstance(node, Object) else "]"
    node.leading_wsc, pos = _gap(text, pos + 1)
    before: Wsc = []  # the gap before the first member is the container's leading_wsc
    while text[pos : pos + 1] != close:
        value, pos = _member(source, node, pos, before)
        value.wsc_after, pos = _gap(text, pos)
        node.values.append(value)
        if text[pos : pos + 1] != ",":
            break
        before, pos = _gap(text, pos + 1)
        if text[pos : pos + 1] == close:
            node.trailing_comma = TrailingComma()
            node.trailing_comma.wsc_after = before
    return node, _expect(text, pos, close)


def _member(source: Source, node: Object | Array, pos: int, before: Wsc) -> tuple[Node, int]:
    """An element of an array, or a member of an object (its key appended to ``node``): the value
    and where it ends, ``before`` set as the gap in front of it."""
    if isinstance(node, Array):
        value, pos = _value(source, pos)
        value.wsc_before = before
        return value, pos
    key, pos = _string(source.text, pos)
    key.wsc_before = before
    key.wsc_after, pos = _gap(source.text, pos)
    value_before, pos = _gap(source.text, _expect(source.text, pos, ":"))
    value, pos = _value(source, pos)
    value.wsc_before = value_before
    node.keys.append(key)
    return value, pos


def _expect(text: str, pos: int, char: str) -> int:
    if text[pos : pos + 1] != char:
        raise ValueError(f"expected {char!r} at index {pos}")
    return pos + 1


# -- writing -------------------------------------------------------------------------------------


def _dump(node: Node, out: list[str]) -> None:
    _dump_wsc(node.wsc_before, out)
    if isinstance(node, Text):
        _dump(node.value, out)
    elif isinstance(node, Unread):
        out.append(node.source.text[node.start : node.end])
    elif isinstance(node, Object | Array):
        _dump_container(node, out)
    elif isinstance(node, TrailingComma):
        out.append(",")
    else:
        assert isinstance(node, String | Literal), node
        out.append(node.raw_value)
    _dump_wsc(node.wsc_after, out)


def _dump_container(node: Object | Array, out: list[str]) -> None:
    out.append("{" if isinstance(node, Object) else "[")
    _dump_wsc(node.leading_wsc, out)
    keys = node.keys if isinstance(node, Object) else None
    for index, value in enumerate(node.values):
        if index:
            out.append(",")
        if keys is not None:
            _dump(keys[index], out)
            out.append(":")
        _dump(value, out)
    if node.trailing_comma is not None:
        _dump(node.trailing_comma, out)
    out.append("}" if isinstance(node, Object) else "]")


def _dump_wsc(items: Wsc, out: list[str]) -> None:
    out.extend(item if isinstance(item, str) else item.value for item in items)
