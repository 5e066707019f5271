"""json_model, our model of JSON and of JSON with comments, edits exactly like json-five's model and
reads only the containers an edit goes into.

Strict JSON (Claude Code's settings.json) and JSONC that ``json`` reads once its comments and trailing
commas are blanked (OpenCode's, Qwen Code's, Gemini CLI's files) use json_model's node classes instead
of json-five's, so they are edited without importing json-five (and regex, sly), in milliseconds
where json-five takes seconds. Every test here holds json_model to json-five's model: the same layout,
the same text after each edit, the same values, the same errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from _jsonc import GAPS, jsonc

from mahavishnu.errors import InvalidConfigFileError
from mahavishnu.files import json_model
from mahavishnu.files.json_document import JsonDocument, _bare_text, _child, _parse_model, json_data

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
JSONC_TEXTS = [
    '// Qwen Code user settings\n{\n    "theme": "GitHub", // the light one\n    /* Auth */\n'
    '    "selectedAuthType": "openai",\n    "mcpServers": {\n        "memory": {\n'
    '            "args": ["mcp", "serve"], // stdio\n            "env": {},\n        },\n    },\n}\n',
    '/* a */ { /* b */ "k" /* c */ : /* d */ 1 /* e */ , /* f */ } /* g */',
    '{\r\n  // crlf\r\n  "a": [1, // one\r\n    2, ],\r\n  "b": {}, // after\r\n}\r\n',
    '{"a": 1} // no line break at the end\r',
    '{"a": 1} // no line break at the end',
    "{ /* only a comment */ }",
    '{"a": [ // an array\n 1, ]}',
    '{"s": "// not a comment, /* nor this */", "t": ",}", "u": "\\"//"}',
    '{"a": [ ], "b": { // empty\n }, "c": [ /* x */ ], }',
    '{\n  "a": 1,\n  // a comment above the last line\n}\n',
]
JSON5_TEXTS = [
    "{'a': 1}",
    "{a: 1}",
    '{"a": 0x1F}',
    '{"a": +1}',
    '{"a": .5}',
    '{"a": "line \\\ncontinued"}',
    '\ufeff{\n  "a": 1, // BOM\n}\n',
    '{"a": 1,\u00a0}',  # a no-break space: JSON5 whitespace, not JSON's
]


def _json_five(text: str) -> JsonDocument:
    """json-five's model of ``text``, as JsonDocument read every JSONC file before json_model did."""
    return JsonDocument(_parse_model(text), source="<text>", text=text)


def _both(text: str, comments: bool = True) -> tuple[JsonDocument, JsonDocument]:
    ours, theirs = JsonDocument.parse(text, comments=comments), _json_five(text)
    assert isinstance(ours._model, json_model.Text)
    assert not isinstance(theirs._model, json_model.Text)
    return ours, theirs


def layout(node: Any) -> Any:
    """Where every piece of whitespace, comment and trailing comma sits, and each scalar's text,
    every container opened (json_model reads them when asked)."""

    def wsc(items: list[Any]) -> list[Any]:
        return [item if isinstance(item, str) else (type(item).__name__, item.value) for item in items]

    shape: dict[str, Any] = {"wsc": (wsc(node.wsc_before), wsc(node.wsc_after))}
    if type(node).__name__ in ("Text", "JSONText"):  # the document itself
        shape["value"] = layout(node.value)
    elif isinstance(getattr(node, "values", None), list):
        shape["leading"] = wsc(node.leading_wsc)
        comma = node.trailing_comma
        shape["trailing comma"] = comma and (wsc(comma.wsc_before), wsc(comma.wsc_after))
        keys = [layout(key) for key in node.keys] if hasattr(node, "keys") else []
        shape["keys"] = keys
        shape["values"] = [layout(_child(node, index)) for index in range(len(node.values))]
    else:
        shape["text"] = _bare_text(node)
    return shape


@pytest.mark.parametrize(
    ("text", "comments"), [(t, False) for t in TEXTS] + [(t, True) for t in TEXTS + JSONC_TEXTS]
)
def test_round_trip_data_and_layout_match_json_five(text: str, comments: bool) -> None:
    ours, theirs = _both(text, comments=comments)
    assert ours.dumps() == theirs.dumps() == text
    assert json.dumps(ours.data) == json.dumps(theirs.data)
    assert layout(ours._model) == layout(theirs._model)
    if not comments:
        assert json.dumps(ours.data) == json.dumps(json.loads(text))


@pytest.mark.parametrize("text", JSON5_TEXTS)
def test_json5_still_goes_through_json_five(text: str) -> None:
    doc = JsonDocument.parse(text, comments=True)
    assert not isinstance(doc._model, json_model.Text)
    assert doc.dumps() == text
    assert json_data(text) == doc.data
    doc.set(["b"], 2)
    assert JsonDocument.parse(doc.dumps()).data == {**json_data(text), "b": 2}


def test_comments_and_trailing_commas_are_refused_in_strict_mode() -> None:
    text = '{\n  // a comment\n  "a": 1,\n}\n'
    doc = JsonDocument.parse(text, comments=True)
    assert isinstance(doc._model, json_model.Text)
    doc.set(["b"], 2)
    assert doc.dumps() == '{\n  // a comment\n  "a": 1,\n  "b": 2,\n}\n'
    with pytest.raises(InvalidConfigFileError):
        JsonDocument.parse(text, comments=False)


def test_the_reader_refuses_what_it_does_not_know() -> None:
    with pytest.raises(ValueError):
        json_model.read('{"a" 1}')
    with pytest.raises(ValueError):
        json_model.read('{"a": 1} x')


def test_plain_text_blanks_comments_and_trailing_commas_only() -> None:
    text = '{"a": [1, // x\n 2, /* c */ ],  // y\n "b,": "// s", "c": 1,}'
    plain = json_model.plain_text(text)
    assert plain == '{"a": [1,     \n 2          ],      \n "b,": "// s", "c": 1 }'
    assert json.loads(plain) == {"a": [1, 2], "b,": "// s", "c": 1}


@pytest.mark.parametrize("comments", [False, True])
def test_an_edit_reads_only_the_containers_it_goes_into(comments: bool) -> None:
    """A 30 MB settings.json is mostly a ``projects`` map no switch touches: it stays a span of the text."""
    data = {
        "env": {"A": "1", "B": {"x": [1]}},
        "projects": {"/p": {"history": [{"display": "x"}]}},
        "hooks": {},
    }
    text = json.dumps(data, indent=2) + "\n"
    doc = JsonDocument.parse(text, comments=comments)
    doc.set(["env", "C"], "3")
    doc.delete(["env", "A"])
    root = doc._root
    unread = [key.characters for key, value in zip(root.keys, root.values, strict=True) if _unread(value)]
    assert unread == ["projects", "hooks"]
    env = root.values[0]
    assert [_unread(value) for value in env.values] == [True, False]  # B is not gone into either
    assert doc.data == {**data, "env": {"B": {"x": [1]}, "C": "3"}}
    env_before = '  "env": {\n    "A": "1",\n    "B": {\n      "x": [\n        1\n      ]\n    }\n  },'
    env_after = '  "env": {\n    "B": {\n      "x": [\n        1\n      ]\n    },\n    "C": "3"\n  },'
    assert doc.dumps() == text.replace(env_before, env_after)
    assert env_before in text


def _unread(node: Any) -> bool:
    return isinstance(node, json_model.Unread)


@pytest.mark.parametrize("comments", [False, True])
def test_json_documents_do_not_import_json_five(comments: bool) -> None:
    text = (
        '{"env": {"A": "1"}, "x": [1, 2]}\\n'
        if not comments
        else '{"env": {"A": "1"}, // c\\n "x": [1, 2],}\\n'
    )
    code = (
        "import sys\n"
        "from mahavishnu.files.json_document import JsonDocument\n"
        f"doc = JsonDocument.parse('{text}', comments={comments})\n"
        "doc.set(['env', 'B'], {'c': [1]}); doc.set(['x'], None); doc.delete(['env', 'A'])\n"
        "doc.set(['new', 'deep'], 'v'); doc.dumps(); doc.data\n"
        "assert not any(m == 'json5' or m.startswith(('json5.', 'regex', 'sly')) for m in sys.modules), "
        "sorted(m for m in sys.modules if m.startswith(('json5', 'regex', 'sly')))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- differential property tests -----------------------------------------------------------------

KEYS = st.sampled_from(
    ["a", "b", "env", "é", "k y", "C:\\xampp", "\\u0041", 'q"uote', "// c", ",}"]
) | st.text(st.characters(blacklist_categories=("Cs",)), max_size=4)
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
def test_random_edits_of_strict_json_match_json_five(
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
    ours, theirs = _both(text, comments=False)
    assert ours.dumps() == theirs.dumps() == text
    for operation in operations:
        assert _apply(ours, operation) == _apply(theirs, operation)
        assert json.dumps(ours.data) == json.dumps(theirs.data)


@hypothesis.settings(max_examples=300, deadline=None, database=None)
@hypothesis.given(data=st.dictionaries(KEYS, VALUES, max_size=5), operations=OPERATIONS, draw=st.data())
def test_random_edits_of_jsonc_match_json_five(
    data: dict[str, Any], operations: list[tuple[str, list[str], Any]], draw: Any
) -> None:
    text = draw.draw(GAPS) + jsonc(draw.draw, data) + draw.draw(GAPS)
    ours, theirs = _both(text)
    assert ours.dumps() == theirs.dumps() == text
    assert layout(ours._model) == layout(theirs._model)
    assert json.dumps(ours.data) == json.dumps(theirs.data) == json.dumps(json_data(text))
    for operation in operations:
        assert _apply(ours, operation) == _apply(theirs, operation)
        assert json.dumps(ours.data) == json.dumps(theirs.data)


@hypothesis.settings(max_examples=200, deadline=None, database=None)
@hypothesis.given(data=st.dictionaries(KEYS, VALUES, max_size=5), ensure_ascii=st.booleans())
def test_json_data_reads_what_the_model_reads(data: dict[str, Any], ensure_ascii: bool) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=ensure_ascii)
    for comments in (False, True):
        assert json.dumps(json_data(text, comments=comments)) == json.dumps(
            JsonDocument.parse(text, comments=comments).data
        )


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1,}',
        "[1, 2]",
        "\ufeff{}",
        '{"a": "x" // no\n}',
        "[" * 5000 + "]" * 5000,
        '"s"',
        "  ",
        *JSON5_TEXTS,
    ],
)
@pytest.mark.parametrize("comments", [False, True])
def test_json_data_refuses_what_the_model_refuses_in_the_same_words(text: str, comments: bool) -> None:
    def outcome(read: Any) -> Any:
        try:
            return ("data", read())
        except InvalidConfigFileError as exc:
            return ("error", exc.message, exc.hint)

    model = outcome(lambda: JsonDocument.parse(text, source="s.json", comments=comments).data)
    assert outcome(lambda: json_data(text, source="s.json", comments=comments)) == model


# -- decoding with the cycle collector paused ----------------------------------------------------


def test_every_decode_runs_with_the_cycle_collector_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JSON value holds no reference cycle: the collector, walking a large value as it grows, was
    a third of a 30 MB settings.json's switch. Each decode of a whole text or a container is made
    with it paused, and it runs again after."""
    import gc

    seen: list[bool] = []
    loads, decoder = json.loads, json_model._DECODER

    class Decoder:
        def raw_decode(self, text: str, start: int) -> tuple[Any, int]:
            seen.append(gc.isenabled())
            return decoder.raw_decode(text, start)

    def spy(text: str) -> Any:
        seen.append(gc.isenabled())
        return loads(text)

    monkeypatch.setattr(json, "loads", spy)
    monkeypatch.setattr(json_model, "_DECODER", Decoder())
    text = '{"env": {"A": "1"}, // c\n "projects": {"/p": {"history": []}},}'
    strict = json.dumps({"env": {"A": "1"}, "projects": {"/p": {"history": []}}})
    assert JsonDocument.parse(text).data == json_data(text) == JsonDocument.parse(strict, comments=False).data
    assert json_data(strict, comments=False) == json_model.loads(strict)
    assert len(seen) >= 8 and not any(seen)
    assert gc.isenabled()
    with pytest.raises(json.JSONDecodeError):
        json_model.loads(strict[:-1])
    assert gc.isenabled()
    gc.disable()
    try:
        json_model.loads(strict)
        assert not gc.isenabled()  # paused by someone else: left paused
    finally:
        gc.enable()


STRICT_FRAGMENTS = st.sampled_from(
    [
        *'{}[]:,"/\\*\n\t\r ab01-.eE',
        *("//", "/*", "*/", "true", "null", "NaN", "-Infinity", '"k"', "\\x", "\\n", "\\u00e9", "\u2028"),
        *("\x01", "\x1f", "\ufeff", '{"a": [1, {"b": "\x02"}]}', "[1,]", "01", "1."),
    ]
)


def _strict_as_before(text: str) -> object:
    """What a strict parse gave when ``json.loads`` read the whole text first, then ``read``."""
    from mahavishnu.files.json_document import _check_strict_json

    try:
        _check_strict_json(text, "<text>")
    except InvalidConfigFileError as exc:
        return exc.message
    return json_model.dump(json_model.read(text))


@hypothesis.settings(max_examples=1000, deadline=None, database=None)
@hypothesis.given(text=st.lists(STRICT_FRAGMENTS, min_size=1, max_size=16).map("".join))
def test_a_strict_parse_refuses_what_json_refuses_with_its_words(text: str) -> None:
    """A strict file is read with one decode, each container of its top level as ``read`` finds
    it, the rest checked as ``json.loads`` checks it (comments, trailing commas, control characters
    in strings, a byte order mark): the same texts accepted, the same errors, as reading it whole
    with ``json.loads`` first."""
    hypothesis.assume(text.strip())
    model = json_model.read_strict(text)
    expected = _strict_as_before(text)
    assert (model if model is None else json_model.dump(model)) == (text if expected == text else None)
    if model is None:
        with pytest.raises(InvalidConfigFileError) as caught:
            JsonDocument.parse(text, comments=False)
        assert caught.value.message == expected


@pytest.mark.parametrize(
    "text",
    [
        '{"a\x01": 1}',
        '{"a": "x\x1fy"}',
        '"\x05"',
        '{"a": "\\q"}',
        '{"a": 1,}',
        '{/*c*/"a": 1}',
        "\ufeff{}",
        '{"a": {"b": [1, 2,]}}',
        '{"a": 1}\n// c\n',
        "[1, 2, ]",
        '{"a":1}{"b":2}',
        '{"a": 01}',
    ],
)
def test_a_strict_parse_names_each_mistake_as_json_does(text: str) -> None:
    assert json_model.read_strict(text) is None
    with pytest.raises(InvalidConfigFileError) as caught:
        JsonDocument.parse(text, comments=False)
    assert caught.value.message == _strict_as_before(text)


def test_a_strict_file_is_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """json.loads over the whole file, then ``read`` decoding its containers again, read a 30 MB
    settings.json twice."""
    decoded: list[int] = []
    real = json_model._DECODER.raw_decode

    class Counting(json.JSONDecoder):
        def raw_decode(self, s: str, idx: int = 0) -> tuple[Any, int]:
            value, end = real(s, idx)
            decoded.append(end - idx)
            return value, end

    monkeypatch.setattr(json_model, "_DECODER", Counting())
    monkeypatch.setattr(json, "_default_decoder", Counting())
    text = TEXTS[4]
    doc = JsonDocument.parse(text, comments=False)
    assert doc.dumps() == text
    assert sum(decoded) == len('{\n    "allow": ["Bash(ls)", "Read"]\n  }') + len("{}")
