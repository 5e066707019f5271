"""A JSON (or JSONC) document that edits arrays element by element, keeping the rest of the file's
bytes: an element appended, inserted or removed is laid out as its neighbours are, and a user's
compact one-line array stays on its line. Qwen Code's ``modelProviders`` lists and the assistants'
hook arrays (``memory hooks``, ``claude hooks``) are edited with it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mahavishnu.errors import InvalidConfigFileError
from mahavishnu.files.json_document import (
    JSONArray,
    JsonDocument,
    Value,
    Wsc,
    _above,
    _after_last,
    _child,
    _close_line_comments,
    _coalesce,
    _find,
    _has_comment,
    _has_newline,
    _is_array,
    _is_object,
    _line_indent,
    _newline_in,
    _render,
    _split_line,
    _to_python,
)
from mahavishnu.json_types import JSONReadable, JSONValue


class SettingsDocument(JsonDocument):
    """A JSONC document that can also remove and append elements of an array, keeping the rest."""

    def array(self, keys: Sequence[str | int]) -> JSONArray | None:
        """The array at ``keys``: a member's name steps into an object, a number into an array's
        element (``["hooks", "Stop", 0, "hooks"]``); None when it is not there or not an array."""
        node: Value = self._root
        for key in keys:
            if isinstance(key, int):
                if not _is_array(node) or not 0 <= key < len(node.values):
                    return None
                node = _child(node, key)
                continue
            if not _is_object(node):
                return None
            index = _find(node, key)
            if index is None:
                return None
            node = _child(node, index)
        return node if _is_array(node) else None

    def remove_element(self, keys: Sequence[str | int], index: int) -> None:
        """Remove element ``index`` of the array at ``keys`` (its line, when it has one of its own)."""
        array = self.array(keys)
        if array is None or not 0 <= index < len(array.values):
            raise IndexError(f"no element {index} in the array at {keys!r}")
        _remove_element(array, index)

    def remove_elements(self, keys: Sequence[str | int], unwanted: Callable[[JSONValue], bool]) -> int:
        array = self.array(keys)
        if array is None:
            return 0
        removed = 0
        for index in range(len(array.values) - 1, -1, -1):
            if unwanted(_to_python(array.values[index])):
                _remove_element(array, index)
                removed += 1
        return removed

    def append_element(self, keys: Sequence[str | int], value: JSONReadable) -> None:
        """Append to the array at ``keys``, creating it (and objects on the way) when missing; under
        an array's element (a number in ``keys``) the array must be there."""
        array = self.array(keys)
        names = [key for key in keys if isinstance(key, str)]
        if array is None:
            current = self.get(names) if len(names) == len(keys) else None
            if current is not None or len(names) < len(keys):
                raise InvalidConfigFileError(
                    f"cannot add to {'.'.join(map(str, keys))} in {self._source}: it is not an array",
                    hint="Fix or remove that key by hand, then run the command again.",
                )
            self.set(names, [value])
            return
        indent = _element_indent(array)
        if not array.values and len(names) == len(keys):
            self.set(names, [value])  # rewrite the empty array in the file's style
            return
        node = _render(value, indent, self._style, own=self._own)
        if indent is None:
            _append_inline(array, node)
        else:
            _append_line(array, node, self._style.newline + indent)

    def insert_element(self, keys: Sequence[str | int], index: int, value: JSONReadable) -> None:
        """Insert before element ``index`` of the array at ``keys``, laid out like it; past its end
        (or with no array there) as ``append_element``. ``remove_elements`` takes it out to the byte
        (but for spaces that ended the line before it, dropped as with any element's line)."""
        array = self.array(keys)
        if array is None or index >= len(array.values):
            self.append_element(keys, value)
            return
        gap = _gap(array, index)
        if not _has_newline(gap):
            _insert_inline(array, index, _render(value, None, self._style, own=self._own))
            return
        indent = _indent_in(gap)
        node = _render(value, indent, self._style, own=self._own)
        _insert_line(array, index, node, self._style.newline + indent)


# -- array elements: the same layout as object members (see json_document), with values for keys --


def _gap(array: JSONArray, index: int) -> Wsc:
    gap: Wsc = array.leading_wsc if index == 0 else array.values[index].wsc_before
    return gap


def _set_gap(array: JSONArray, index: int, items: Wsc) -> None:
    if index == 0:
        array.leading_wsc = items
        array.values[0].wsc_before = []
    else:
        array.values[index].wsc_before = items


def _closing(array: JSONArray) -> Wsc:
    closing: Wsc = array.trailing_comma.wsc_after if array.trailing_comma else array.values[-1].wsc_after
    return closing


def _set_closing(array: JSONArray, items: Wsc) -> None:
    if array.trailing_comma:
        array.trailing_comma.wsc_after = items
    else:
        array.values[-1].wsc_after = items


def _element_indent(array: JSONArray) -> str | None:
    for index in range(len(array.values) - 1, -1, -1):
        indent = _line_indent(_gap(array, index))
        if indent is not None:
            return indent
    return None


def _append_line(array: JSONArray, node: Value, line_break: str) -> None:
    end_of_line, rest = _split_line(_closing(array))
    if not array.trailing_comma:
        array.values[-1].wsc_after = []
    array.values.append(node)
    node.wsc_before = _coalesce([*end_of_line, line_break])
    _set_closing(array, rest)


def _append_inline(array: JSONArray, node: Value) -> None:
    separator = _separator(array)
    closing = _closing(array)
    if not array.trailing_comma:
        array.values[-1].wsc_after = []
    array.values.append(node)
    node.wsc_before = separator
    _set_closing(array, closing)


def _separator(array: JSONArray) -> Wsc:
    """What goes between a new element and its neighbour on one line: the others' spacing."""
    gap: Wsc = _coalesce(_gap(array, len(array.values) - 1)) if len(array.values) > 1 else [" "]
    return [" "] if _has_comment(gap) or _has_newline(gap) else list(gap)


def _indent_in(gap: Wsc) -> str:
    """The indentation of the line the element after ``gap`` (which holds a line break) is on."""
    last = [item for item in _coalesce(gap) if isinstance(item, str) and "\n" in item][-1]
    return last[last.rindex("\n") + 1 :]


def _insert_line(array: JSONArray, index: int, node: Value, line_break: str) -> None:
    """``node`` on a line of its own before element ``index``, which starts a line: what ends the
    line before stays there, the comment lines above the element stay above it."""
    end_of_line, rest = _split_line(_gap(array, index))
    array.values.insert(index, node)
    node.wsc_after = []
    _set_gap(array, index, _coalesce([*end_of_line, line_break]))
    array.values[index + 1].wsc_before = rest


def _insert_inline(array: JSONArray, index: int, node: Value) -> None:
    """``node`` before element ``index`` of a one-line array: in its place, the element after it."""
    gap, separator = _gap(array, index), _separator(array)
    array.values.insert(index, node)
    node.wsc_after = []
    _set_gap(array, index, gap)
    array.values[index + 1].wsc_before = separator


def _remove_element(array: JSONArray, index: int) -> None:
    count = len(array.values)
    if count == 1:
        inside = [*_above(array.leading_wsc), *_after_last(_closing(array))]
        newline = _newline_in(array.leading_wsc + _closing(array))
        array.values.clear()
        array.trailing_comma = None
        array.leading_wsc = _close_line_comments(inside, newline) if _has_comment(inside) else []
    elif index == count - 1:
        gap, closing = _gap(array, index), _closing(array)
        newline = _newline_in(gap + closing)
        kept = [*_above(gap), *_after_last(closing)]
        del array.values[index]
        if array.trailing_comma:
            array.trailing_comma.wsc_after = _close_line_comments(kept, newline)
        else:
            previous = array.values[-1]
            previous.wsc_after = _close_line_comments([*previous.wsc_after, *kept], newline)
    else:
        gap, next_gap = _gap(array, index), _gap(array, index + 1)
        newline = _newline_in(gap + next_gap)
        merged = [*_above(gap), *_split_line(next_gap)[1]] if _has_newline(next_gap) else gap
        del array.values[index]
        _set_gap(array, index, _close_line_comments(merged, newline))
