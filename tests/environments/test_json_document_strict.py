"""The strict-JSON fast path of JsonDocument (``comments=False``) edits exactly like json-five's model.

Strict documents use small look-alike node classes instead of json-five's, so Claude's settings.json
is edited without importing json-five (and regex, sly). Every test here holds the fast path to the
json-five path byte for byte: same text after each edit, same errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from mahavishnu.errors import InvalidConfigFileError
from mahavishnu.files.json_document import JsonDocument, _parse_strict, _SText

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

TEXTS = [
    "{}",
    "{}\n",
    " \n{ }\r\n  ",
    '{"a":1}',
    '{\n  "permissions": {\n    "allow": ["Bash(ls)", "Read"]\n  },\n  "env": {}\n}\n',
    '{\r\n\t"a" : [ 1 ,2 , {"b": null} ],\r\n\t"c": {  }, "d": [ ], "e": "x\\u0041\\\\y"\r\n}\r\n',
    '{"n": -0, "f": -1.5e3, "g": true, "h": false, "i": NaN, "j": -Infinity, "k": 1E+2}',
    '{"dup": 1, "dup": {"x": [1, [2, [3]]]}}',
    '{"unicode": "é\u2028\u2029", "esc": "\\"\\/\\b\\f\\n\\r\\t"}',
]


def _both(text: str) -> tuple[JsonDocument, JsonDocument]:
    fast = JsonDocument.parse(text, comments=False)
    slow = JsonDocument.parse(text, comments=True)  # json-five's model
    assert isinstance(fast._model, _SText)
    assert not isinstance(slow._model, _SText)
    return fast, slow


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip_and_data_match_json_five(text: str) -> None:
    fast, slow = _both(text)
    assert fast.dumps() == slow.dumps() == (text if text.strip() else "{}\n")
    assert json.dumps(fast.data) == json.dumps(slow.data)
    assert json.dumps(fast.data) == json.dumps(json.loads(text))


@pytest.mark.parametrize("text", TEXTS)
def test_layout_matches_json_five(text: str) -> None:
    """Whitespace sits on the same node attributes as json-five puts it (joined, as edits see it)."""

    def layout(node: Any) -> Any:
        joined = {
            name: "".join(str(item) for item in getattr(node, name))
            for name in ("wsc_before", "wsc_after", "leading_wsc")
            if hasattr(node, name)
        }
        if hasattr(node, "keys") and isinstance(node.keys, list):
            joined["members"] = [(layout(k), layout(v)) for k, v in zip(node.keys, node.values, strict=True)]
        elif hasattr(node, "values") and isinstance(node.values, list):
            joined["elements"] = [layout(v) for v in node.values]
        return joined

    fast, slow = _both(text)
    assert layout(fast._model) == layout(slow._model)
    assert layout(fast._model.value) == layout(slow._model.value)


def test_comments_and_trailing_commas_still_go_through_json_five() -> None:
    text = '{\n  // a comment\n  "a": 1,\n}\n'
    doc = JsonDocument.parse(text, comments=True)
    assert not isinstance(doc._model, _SText)
    doc.set(["b"], 2)
    assert doc.dumps() == '{\n  // a comment\n  "a": 1,\n  "b": 2,\n}\n'
    with pytest.raises(InvalidConfigFileError):
        JsonDocument.parse(text, comments=False)


def test_strict_parser_rejects_what_it_does_not_know() -> None:
    with pytest.raises(ValueError):
        _parse_strict('{"a": 1,}')
    with pytest.raises(ValueError):
        _parse_strict('{"a": 1} x')


def test_strict_documents_do_not_import_json_five() -> None:
    code = (
        "import sys\n"
        "from mahavishnu.files.json_document import JsonDocument\n"
        'doc = JsonDocument.parse(\'{"env": {"A": "1"}, "x": [1, 2]}\\n\', comments=False)\n'
        "doc.set(['env', 'B'], {'c': [1]}); doc.set(['x'], None); doc.delete(['env', 'A'])\n"
        "doc.set(['new', 'deep'], 'v'); doc.dumps(); doc.data\n"
        "assert not any(m == 'json5' or m.startswith(('json5.', 'regex', 'sly')) for m in sys.modules), "
        "sorted(m for m in sys.modules if m.startswith(('json5', 'regex', 'sly')))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- differential property test ------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "env", "é", "k y", "C:\\xampp", "\\u0041", 'q"uote']) | st.text(
    st.characters(blacklist_categories=("Cs",)), max_size=4
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)
PATHS = st.lists(KEYS, min_size=1, max_size=3)
OPERATIONS = st.lists(
    st.tuples(st.just("set"), PATHS, VALUES) | st.tuples(st.just("delete"), PATHS, st.booleans()),
    max_size=6,
)


def _apply(doc: JsonDocument, operation: tuple[str, list[str], Any]) -> str:
    kind, keys, argument = operation
    try:
        if kind == "set":
            doc.set(keys, argument)
        else:
            doc.delete(keys, prune_empty_parents=argument)
    except InvalidConfigFileError as exc:
        return f"error: {exc.message}"
    return doc.dumps()


@hypothesis.settings(max_examples=300, deadline=None, database=None)
@hypothesis.given(
    data=st.dictionaries(KEYS, VALUES, max_size=5),
    operations=OPERATIONS,
    indent=st.sampled_from([None, 0, 2, 4, "\t"]),
    crlf=st.booleans(),
    final_newline=st.booleans(),
    ensure_ascii=st.booleans(),
)
def test_random_edits_match_json_five(
    data: dict[str, Any],
    operations: list[tuple[str, list[str], Any]],
    indent: int | str | None,
    crlf: bool,
    final_newline: bool,
    ensure_ascii: bool,
) -> None:
    text = json.dumps(data, indent=indent, ensure_ascii=ensure_ascii)
    if crlf:
        text = text.replace("\n", "\r\n")
    text += ("\r\n" if crlf else "\n") * final_newline
    fast, slow = _both(text)
    assert fast.dumps() == slow.dumps() == text
    for operation in operations:
        assert _apply(fast, operation) == _apply(slow, operation)
        assert json.dumps(fast.data) == json.dumps(slow.data)


@hypothesis.settings(max_examples=200, deadline=None, database=None)
@hypothesis.given(data=st.dictionaries(KEYS, VALUES, max_size=5), ensure_ascii=st.booleans())
def test_json_data_reads_what_the_model_reads(data: dict[str, Any], ensure_ascii: bool) -> None:
    from mahavishnu.files.json_document import json_data

    text = json.dumps(data, indent=2, ensure_ascii=ensure_ascii)
    assert json.dumps(json_data(text, comments=False)) == json.dumps(
        JsonDocument.parse(text, comments=False).data
    )


@pytest.mark.parametrize(
    "text", ['{"a": 1,}', "[1, 2]", "\ufeff{}", '{"a": "x" // no\n}', "[" * 5000 + "]" * 5000, '"s"', "  "]
)
def test_json_data_refuses_what_the_model_refuses_in_the_same_words(text: str) -> None:
    from mahavishnu.files.json_document import json_data

    def outcome(read: Any) -> Any:
        try:
            return ("data", read())
        except InvalidConfigFileError as exc:
            return ("error", exc.message, exc.hint)

    model = outcome(lambda: JsonDocument.parse(text, source="s.json", comments=False).data)
    assert outcome(lambda: json_data(text, source="s.json", comments=False)) == model
