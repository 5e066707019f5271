"""JsonDocument: byte-exact round trips and edits that touch nothing but the addressed keys."""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

import json5
import pytest

from mahavishnu.errors import InvalidConfigFileError
from mahavishnu.files.json_document import JsonDocument, _dump, _parse_model

CLAUDE_SETTINGS = """\
{
  "$schema": "https://json.schemastore.org/claude-code-settings.json",
  "model": "opus",
  "env": {
    "ANTHROPIC_BASE_URL": "https://old.example.com",
    "BASH_DEFAULT_TIMEOUT_MS": "60000",
    "DISABLE_TELEMETRY": "1"
  },
  "permissions": {
    "allow": ["Bash(git status:*)", "Bash(npm run test:*)", "Read(~/.zshrc)"],
    "deny": [
      "Read(./.env)",
      "Read(./secrets/**)"
    ],
    "defaultMode": "acceptEdits"
  },
  "hooks": {
    "PostToolUse": [
      {
        "matcher": "Edit|Write",
        "hooks": [
          {
            "type": "command",
            "command": "prettier --write \\"$CLAUDE_FILE_PATHS\\"",
            "timeout": 30
          }
        ]
      }
    ]
  },
  "statusLine": {
    "type": "command",
    "command": "~/.claude/statusline.sh",
    "padding": 0
  },
  "enabledPlugins": {
    "formatter@acme-tools": true,
    "deployer@acme-tools": false
  },
  "apiKeyHelper": "/usr/local/bin/old-helper",
  "cleanupPeriodDays": 20,
  "includeCoAuthoredBy": false
}
"""

QWEN_SETTINGS = """\
// Qwen Code user settings
{
    "theme": "GitHub", // the light one
    /* Auth is managed elsewhere */
    "selectedAuthType": "openai",
    "mcpServers": {
        "memory": {
            "command": "mahavishnu",
            "args": ["mcp", "serve"], // stdio
            "env": {},
        },
    },
    "checkpointing": { "enabled": true },
    // Telemetry off
    "usageStatisticsEnabled": false,
}
"""

TAB_SETTINGS = '{\n\t"a": 1,\n\t"b": {\n\t\t// inner\n\t\t"c": [1, 2]\n\t}\n}'

ROUND_TRIPS = {
    "claude": CLAUDE_SETTINGS,
    "qwen-jsonc": QWEN_SETTINGS,
    "tabs-no-trailing-newline": TAB_SETTINGS,
    "crlf": QWEN_SETTINGS.replace("\n", "\r\n"),
    "one-line": '{"a":1,"b":[1,2,{"c":null}],"d":{"e":"f"}}',
    "empty-object": "{}",
    "empty-object-spaced": "  {\n\n}\n\n",
    "block-comments-everywhere": '/* a */ { /* b */ "k" /* c */ : /* d */ 1 /* e */ , /* f */ } /* g */',
    "bom": '\ufeff{\n  "a": 1\n}\n',
    "unicode-and-escapes": '{\n  "名前": "値", "esc": "\\u00e9\\n\\"", "num": -1.5e+3\n}\n',
    "comment-only-lines": "{\n  // nothing here yet\n}\n",
}

OWNED = (["env", "ANTHROPIC_BASE_URL"], ["env", "ANTHROPIC_AUTH_TOKEN"], ["apiKeyHelper"])


def edited(text: str, *, comments: bool = True, **changes: Any) -> str:
    """Apply ``set``/``delete`` operations given as a list of (keys, value) / keys."""
    doc = JsonDocument.parse(text, comments=comments)
    for keys, value in changes.get("set", []):
        doc.set(keys, value)
    for keys in changes.get("delete", []):
        doc.delete(keys)
    return doc.dumps()


def without_owned(text: str, *, comments: bool = True) -> str:
    return edited(text, comments=comments, delete=list(OWNED))


def changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.ndiff(before.splitlines(), after.splitlines())
    return [line for line in diff if line[:1] in "+-"]


def comments_in(text: str) -> list[str]:
    return [comment for _, comment in located_comments(text)]


def located_comments(text: str) -> list[tuple[int, str]]:
    """Every comment with its line, in document order of the nodes that hold them."""
    found = []
    for node in json5.model.walk(_parse_model(text)):
        items = [*node.wsc_before, *getattr(node, "leading_wsc", []), *node.wsc_after]
        found += [(item.lineno, item.value) for item in items if isinstance(item, json5.model.Comment)]
    return found


def jsonc_loads(text: str) -> Any:
    """An independent JSONC reader: drop comments and trailing commas, then ``json.loads``."""
    string = r'"(?:[^"\\]|\\.)*"'
    text = re.sub(rf"({string})|//[^\n]*|/\*.*?\*/", lambda m: m.group(1) or "", text, flags=re.DOTALL)
    text = re.sub(rf"({string})|,(\s*[}}\]])", lambda m: m.group(1) or m.group(2), text)
    return json.loads(text)


# -- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_round_trip_is_byte_identical(text: str) -> None:
    assert JsonDocument.parse(text).dumps() == text


def test_strict_round_trip_and_data() -> None:
    doc = JsonDocument.parse(CLAUDE_SETTINGS, source="settings.json", comments=False)
    assert doc.dumps() == CLAUDE_SETTINGS
    assert doc.data == json.loads(CLAUDE_SETTINGS)


def test_jsonc_data_ignores_comments_and_trailing_commas() -> None:
    data = JsonDocument.parse(QWEN_SETTINGS).data
    assert data["mcpServers"] == {"memory": {"command": "mahavishnu", "args": ["mcp", "serve"], "env": {}}}
    assert data["usageStatisticsEnabled"] is False


def test_data_is_a_copy() -> None:
    doc = JsonDocument.parse(CLAUDE_SETTINGS)
    doc.data["env"]["X"] = "y"
    assert doc.get(["env", "X"]) is None
    assert doc.dumps() == CLAUDE_SETTINGS


@pytest.mark.parametrize("text", ["", "   \n\t", "\n"])
def test_empty_text_is_an_empty_object(text: str) -> None:
    doc = JsonDocument.parse(text, comments=False)
    assert doc.data == {}
    doc.set(["a"], 1)
    assert doc.dumps() == '{\n  "a": 1\n}\n'


def test_empty_document() -> None:
    doc = JsonDocument.empty()
    assert doc.dumps() == "{}\n"
    doc.set(["env", "ANTHROPIC_BASE_URL"], "http://localhost:4000")
    doc.set(["apiKeyHelper"], "helper")
    assert doc.dumps() == (
        '{\n  "env": {\n    "ANTHROPIC_BASE_URL": "http://localhost:4000"\n  },\n'
        '  "apiKeyHelper": "helper"\n}\n'
    )


# -- errors --------------------------------------------------------------------------------------


def test_strict_error_names_source_line_column_and_problem() -> None:
    text = '{\n  "a": 1\n  "b": 2\n}\n'
    with pytest.raises(InvalidConfigFileError) as info:
        JsonDocument.parse(text, source="/x/settings.json", comments=False)
    assert (
        info.value.message == "invalid JSON in /x/settings.json at line 3, column 3: Expecting ',' delimiter"
    )
    assert info.value.hint


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{\n  "a": 1\n  "b": 2\n}\n', "at line 3, column 3"),
        ('{\n  "a": 1,\n', "at line 3, column 1"),
        ('{"a": @}', "at line 1, column 7"),
        ('{"a": 1}}', "at line 1, column 9"),
        ("// only a comment\n", "at line 2, column 1"),
    ],
)
def test_jsonc_error_names_line_and_column(text: str, where: str) -> None:
    with pytest.raises(InvalidConfigFileError) as info:
        JsonDocument.parse(text, source="/x/settings.json")
    message = info.value.message
    assert message.startswith(f"invalid JSON in /x/settings.json {where}: ")
    assert len(message) > len(f"invalid JSON in /x/settings.json {where}: ")
    assert "\n" not in message


def test_comments_are_refused_in_strict_mode() -> None:
    with pytest.raises(InvalidConfigFileError, match="line 1, column 2"):
        JsonDocument.parse("{// no\n}", comments=False)


@pytest.mark.parametrize(("text", "kind"), [("[1, 2]", "an array"), ('"x"', "a string"), ("3", "a number")])
def test_top_level_must_be_an_object(text: str, kind: str) -> None:
    for comments in (True, False):
        with pytest.raises(InvalidConfigFileError, match=f"top level must be an object, not {kind}"):
            JsonDocument.parse(text, source="f.json", comments=comments)


@pytest.mark.parametrize("comments", [True, False])
def test_strings_json_five_would_misread(comments: bool) -> None:
    # json-five alone rejects "\\x", decodes "\\u0041" as "\A" and refuses a raw U+2028 in a string.
    text = '{\n  "C:\\\\xampp": "C:\\\\u0041\\\\x", "sep": "a\u2028b", "e": "\\u00e9"\n}\n'
    doc = JsonDocument.parse(text, comments=comments)
    assert doc.dumps() == text
    assert doc.data == json.loads(text) == {"C:\\xampp": "C:\\u0041\\x", "sep": "a\u2028b", "e": "é"}
    doc.set(["C:\\xampp"], "D:\\x")
    doc.set(["new\u2028"], ["\\x", "\u2029"])
    assert json.loads(doc.dumps()) == {
        "C:\\xampp": "D:\\x",
        "sep": "a\u2028b",
        "e": "é",
        "new\u2028": ["\\x", "\u2029"],
    }
    assert JsonDocument.parse(doc.dumps()).data == json.loads(doc.dumps())


def test_json5_only_escapes_still_parse_in_jsonc() -> None:
    assert JsonDocument.parse("{\"a\": \"\\x41\", 'b': 'it\\'s'}").data == {"a": "A", "b": "it's"}


# -- get -----------------------------------------------------------------------------------------


def test_get() -> None:
    doc = JsonDocument.parse(CLAUDE_SETTINGS)
    assert doc.get(["env", "ANTHROPIC_BASE_URL"]) == "https://old.example.com"
    assert doc.get(["permissions", "allow"]) == [
        "Bash(git status:*)",
        "Bash(npm run test:*)",
        "Read(~/.zshrc)",
    ]
    assert doc.get(["statusLine"]) == {"type": "command", "command": "~/.claude/statusline.sh", "padding": 0}
    assert doc.get(["missing"]) is None
    assert doc.get(["missing", "deeper"], "dflt") == "dflt"
    assert doc.get(["model", "deeper"], 7) == 7  # through a string
    assert doc.get([]) == json.loads(CLAUDE_SETTINGS)


def test_duplicate_keys_last_wins_and_delete_removes_all() -> None:
    text = '{\n  "a": 1,\n  "b": 2,\n  "a": 3\n}\n'
    doc = JsonDocument.parse(text, comments=False)
    assert doc.get(["a"]) == 3 == json.loads(text)["a"]
    doc.set(["a"], 4)
    assert doc.dumps() == '{\n  "a": 1,\n  "b": 2,\n  "a": 4\n}\n'
    assert doc.delete(["a"])
    assert doc.dumps() == '{\n  "b": 2\n}\n'


# -- set: replacing ------------------------------------------------------------------------------


def test_replacing_owned_values_changes_only_their_lines() -> None:
    after = edited(
        CLAUDE_SETTINGS,
        comments=False,
        set=[(["env", "ANTHROPIC_BASE_URL"], "https://new.example.com"), (["apiKeyHelper"], "mahavishnu x")],
    )
    assert changed_lines(CLAUDE_SETTINGS, after) == [
        '-     "ANTHROPIC_BASE_URL": "https://old.example.com",',
        '+     "ANTHROPIC_BASE_URL": "https://new.example.com",',
        '-   "apiKeyHelper": "/usr/local/bin/old-helper",',
        '+   "apiKeyHelper": "mahavishnu x",',
    ]
    assert without_owned(after, comments=False) == without_owned(CLAUDE_SETTINGS, comments=False)
    assert json.loads(after)["env"]["ANTHROPIC_BASE_URL"] == "https://new.example.com"


@pytest.mark.parametrize("comments", [False, True])
def test_a_key_put_back_goes_where_the_file_it_comes_from_had_it(comments: bool) -> None:
    """Qwen Code rewrote its settings since (``$version`` added): keys put back went last, spread
    over lines; they go after the keys that came before them there, laid out as they were."""
    own = JsonDocument.parse(
        '{\n  "general": {"vimMode": true},\n  "security": {"auth": {"selectedType": "qwen-oauth"}},\n'
        '  "model": {\n    "name": "coder-model"\n  },\n  "ui": {"theme": "GitHub"}\n}\n'
    )
    doc = JsonDocument.parse(
        '{\n  "general": {"vimMode": true}, // mine\n  "ui": {"theme": "GitHub"},\n  "$version": 4\n}\n',
        comments=True,
    )
    if not comments:
        doc = JsonDocument.parse(doc.dumps().replace(" // mine", ""), comments=False)
    for keys, value in (
        (["security"], {"auth": {"selectedType": "qwen-oauth"}}),
        (["model"], {"name": "coder-model"}),
        (["first"], 1),
        (["new"], 2),
    ):
        doc.set(keys, value, like=own if keys != ["first"] else JsonDocument.parse('{"first": 1, "x": 2}'))
    assert doc.dumps() == (
        '{\n  "first": 1,\n  "general": {"vimMode": true},' + (" // mine" if comments else "") + "\n"
        '  "security": {"auth": {"selectedType": "qwen-oauth"}},\n'
        '  "model": {\n    "name": "coder-model"\n  },\n'
        '  "ui": {"theme": "GitHub"},\n  "$version": 4,\n  "new": 2\n}\n'
    )


def test_setting_an_equal_value_keeps_its_spelling() -> None:
    text = '{"a": "\\u00e9", "n": 1.0, "l": [1,2]}'
    assert edited(text, set=[(["a"], "é"), (["n"], 1), (["l"], [1, 2])]) == text
    assert edited(text, set=[(["n"], True)]) == '{"a": "\\u00e9", "n": true, "l": [1,2]}'


def test_object_replaced_by_scalar_and_back() -> None:
    text = '{\n  "a": {\n    "x": 1\n  }, // note\n  "b": 2\n}\n'
    scalar = edited(text, set=[(["a"], "flat")])
    assert scalar == '{\n  "a": "flat", // note\n  "b": 2\n}\n'
    nested = edited(scalar, set=[(["b"], {"deep": {"list": [1, "two"]}, "empty": {}})])
    assert nested == (
        '{\n  "a": "flat", // note\n  "b": {\n    "deep": {\n      "list": [\n        1,\n'
        '        "two"\n      ]\n    },\n    "empty": {}\n  }\n}\n'
    )


def test_one_line_array_stays_one_line() -> None:
    after = edited(CLAUDE_SETTINGS, set=[(["permissions", "allow"], ["Bash(ls:*)", "Read"])])
    assert changed_lines(CLAUDE_SETTINGS, after) == [
        '-     "allow": ["Bash(git status:*)", "Bash(npm run test:*)", "Read(~/.zshrc)"],',
        '+     "allow": ["Bash(ls:*)", "Read"],',
    ]


def test_unicode_is_written_as_utf8() -> None:
    after = edited(CLAUDE_SETTINGS, set=[(["env", "GRÜSSE"], "héllo — 世界 🎉"), (["model"], "ü")])
    assert '"GRÜSSE": "héllo — 世界 🎉"' in after
    assert '"model": "ü"' in after
    assert "\\u" not in after
    assert json.loads(after)["env"]["GRÜSSE"] == "héllo — 世界 🎉"


def test_non_json_values_are_refused_without_changes() -> None:
    doc = JsonDocument.parse(CLAUDE_SETTINGS)
    with pytest.raises(ValueError):
        doc.set(["x"], float("nan"))
    with pytest.raises(TypeError):
        doc.set(["x"], object())
    assert doc.dumps() == CLAUDE_SETTINGS


# -- set: adding ---------------------------------------------------------------------------------


def test_new_keys_go_last_with_sibling_indentation() -> None:
    after = edited(CLAUDE_SETTINGS, set=[(["env", "ANTHROPIC_AUTH_TOKEN"], "tok"), (["newTop"], {"a": [1]})])
    assert after.endswith(
        '  "cleanupPeriodDays": 20,\n  "includeCoAuthoredBy": false,\n'
        '  "newTop": {\n    "a": [\n      1\n    ]\n  }\n}\n'
    )
    assert '    "DISABLE_TELEMETRY": "1",\n    "ANTHROPIC_AUTH_TOKEN": "tok"\n  },\n' in after
    assert without_owned(after) == without_owned(CLAUDE_SETTINGS).replace(
        '  "includeCoAuthoredBy": false\n',
        '  "includeCoAuthoredBy": false,\n  "newTop": {\n    "a": [\n      1\n    ]\n  }\n',
    )


def test_missing_parents_are_created() -> None:
    text = '{\n    "theme": "dark"\n}\n'
    assert edited(text, set=[(["a", "b", "c"], 1)]) == (
        '{\n    "theme": "dark",\n    "a": {\n        "b": {\n            "c": 1\n        }\n    }\n}\n'
    )


def test_set_into_empty_objects_uses_parent_indent_plus_unit() -> None:
    assert edited("{}", set=[(["a"], 1)]) == '{\n  "a": 1\n}'
    text = '{\n    "outer": {\n        "inner": {}\n    }\n}\n'
    assert edited(text, set=[(["outer", "inner", "k"], [True])]) == (
        '{\n    "outer": {\n        "inner": {\n            "k": [\n                true\n'
        "            ]\n        }\n    }\n}\n"
    )


def test_set_into_empty_object_with_comment() -> None:
    assert edited("{\n  // nothing here yet\n}\n", set=[(["a"], 1)]) == (
        '{\n  // nothing here yet\n  "a": 1\n}\n'
    )


def test_set_through_null_replaces_it_and_through_scalar_refuses() -> None:
    assert edited('{"env": null}', set=[(["env", "K"], "v")]) == '{"env": {"K": "v"}}'
    doc = JsonDocument.parse('{"env": "oops"}', source="s.json")
    with pytest.raises(InvalidConfigFileError, match=r"cannot set env\.K in s\.json: env is a string"):
        doc.set(["env", "K"], "v")
    assert doc.dumps() == '{"env": "oops"}'


def test_tab_indentation_is_kept() -> None:
    after = edited(TAB_SETTINGS, set=[(["b", "d"], {"e": 1}), (["z"], 0)])
    expected = '{\n\t"a": 1,\n\t"b": {\n\t\t// inner\n\t\t"c": [1, 2],\n\t\t"d": {\n\t\t\t"e": 1\n\t\t}\n\t},'
    assert after == expected + '\n\t"z": 0\n}'


def test_crlf_line_endings_are_kept() -> None:
    text = QWEN_SETTINGS.replace("\n", "\r\n")
    after = edited(
        text, set=[(["mcpServers", "memory", "env", "K"], "v"), (["new"], {"x": 1})], delete=[["theme"]]
    )
    assert "\n" not in after.replace("\r\n", "")
    assert jsonc_loads(after)["mcpServers"]["memory"]["env"] == {"K": "v"}
    assert after.replace("\r\n", "\n") == edited(
        QWEN_SETTINGS,
        set=[(["mcpServers", "memory", "env", "K"], "v"), (["new"], {"x": 1})],
        delete=[["theme"]],
    )


def test_one_line_objects_grow_on_one_line() -> None:
    assert edited('{"a":1,"b":2}', set=[(["c"], [1])]) == '{"a":1,"b":2,"c":[1]}'
    assert edited('{ "a": 1 }', set=[(["b"], {"x": 2})]) == '{ "a": 1, "b": {"x": 2} }'
    assert edited(QWEN_SETTINGS, set=[(["checkpointing", "x"], 1)]).count(
        '"checkpointing": { "enabled": true, "x": 1 },'
    )


def test_jsonc_append_keeps_trailing_comma_and_comments() -> None:
    after = edited(QWEN_SETTINGS, set=[(["mcpServers", "memory", "env", "K"], "v"), (["zzz"], 1)])
    assert after == QWEN_SETTINGS.replace(
        '            "env": {},\n', '            "env": {\n                "K": "v"\n            },\n'
    ).replace(
        '    "usageStatisticsEnabled": false,\n', '    "usageStatisticsEnabled": false,\n    "zzz": 1,\n'
    )
    assert comments_in(after) == comments_in(QWEN_SETTINGS)


def test_append_after_a_same_line_comment() -> None:
    text = '{\n  "a": 1 // about a\n  // trailing section\n}\n'
    assert edited(text, set=[(["b"], 2)]) == '{\n  "a": 1, // about a\n  "b": 2\n  // trailing section\n}\n'


# -- delete --------------------------------------------------------------------------------------


def test_delete_owned_keys_removes_only_their_lines() -> None:
    doc = JsonDocument.parse(CLAUDE_SETTINGS, comments=False)
    assert doc.delete(["env", "ANTHROPIC_BASE_URL"])
    assert doc.delete(["apiKeyHelper"])
    assert not doc.delete(["apiKeyHelper"])
    assert not doc.delete(["nope", "deeper"])
    assert not doc.delete(["model", "deeper"])
    after = doc.dumps()
    assert changed_lines(CLAUDE_SETTINGS, after) == [
        '-     "ANTHROPIC_BASE_URL": "https://old.example.com",',
        '-   "apiKeyHelper": "/usr/local/bin/old-helper",',
    ]
    json.loads(after)


def test_delete_missing_changes_nothing() -> None:
    doc = JsonDocument.parse(QWEN_SETTINGS)
    assert not doc.delete(["theme", "x"])
    assert not doc.delete(["mcpServers", "other"])
    assert doc.dumps() == QWEN_SETTINGS


def test_delete_last_key_of_an_object() -> None:
    assert edited(CLAUDE_SETTINGS, delete=[["includeCoAuthoredBy"]]).endswith(
        '  "cleanupPeriodDays": 20\n}\n'
    )
    text = '{\n  "a": 1, // about a\n  // about b\n  "b": 2 // b itself\n}\n'
    assert edited(text, delete=[["b"]]) == '{\n  "a": 1 // about a\n  // about b\n}\n'


def test_delete_first_and_middle_keys() -> None:
    text = '{\n  // header\n  "a": 1,\n  "b": 2, // about b\n  "c": 3\n}\n'
    assert edited(text, delete=[["a"]]) == '{\n  // header\n  "b": 2, // about b\n  "c": 3\n}\n'
    assert edited(text, delete=[["b"]]) == '{\n  // header\n  "a": 1,\n  "c": 3\n}\n'


def test_delete_only_key_in_document() -> None:
    assert edited('{\n  "a": {"b": 1}\n}\n', delete=[["a"]]) == "{}\n"
    assert edited('{"a": 1}', delete=[["a"]]) == "{}"
    assert edited('{\n  // keep me\n  "a": 1,\n}\n', delete=[["a"]]) == "{\n  // keep me\n}\n"


def test_delete_with_trailing_commas() -> None:
    assert edited(QWEN_SETTINGS, delete=[["usageStatisticsEnabled"]]).endswith(
        '    "checkpointing": { "enabled": true },\n    // Telemetry off\n}\n'
    )
    after = edited(QWEN_SETTINGS, delete=[["mcpServers", "memory", "env"]])
    assert '"args": ["mcp", "serve"], // stdio\n        },\n' in after
    assert jsonc_loads(after)["mcpServers"] == {"memory": {"command": "mahavishnu", "args": ["mcp", "serve"]}}


def test_delete_in_one_line_objects() -> None:
    assert edited('{"a": 1, "b": 2, "c": 3}', delete=[["b"]]) == '{"a": 1, "c": 3}'
    assert edited('{"a": 1, "b": 2, "c": 3}', delete=[["c"]]) == '{"a": 1, "b": 2}'
    assert edited('{ "a": 1, "b": 2 }', delete=[["a"]]) == '{ "b": 2 }'
    assert edited(QWEN_SETTINGS, delete=[["checkpointing", "enabled"]]).count('"checkpointing": {},')


def test_delete_with_prune_empty_parents() -> None:
    text = '{\n  "env": {\n    "ANTHROPIC_BASE_URL": "x"\n  },\n  "model": "opus"\n}\n'
    doc = JsonDocument.parse(text)
    assert doc.delete(["env", "ANTHROPIC_BASE_URL"], prune_empty_parents=True)
    assert doc.dumps() == '{\n  "model": "opus"\n}\n'
    assert edited(text, delete=[["env", "ANTHROPIC_BASE_URL"]]) == '{\n  "env": {},\n  "model": "opus"\n}\n'


def test_prune_keeps_objects_that_still_have_comments_or_keys() -> None:
    text = '{\n  "a": {\n    // why\n    "b": {\n      "c": 1\n    }\n  }\n}\n'
    doc = JsonDocument.parse(text)
    doc.delete(["a", "b", "c"], prune_empty_parents=True)
    assert doc.dumps() == '{\n  "a": {\n    // why\n  }\n}\n'
    doc = JsonDocument.parse('{"a": {"b": {"c": 1}, "d": 2}}')
    doc.delete(["a", "b", "c"], prune_empty_parents=True)
    assert doc.dumps() == '{"a": {"d": 2}}'


def test_jsonc_edits_keep_comments_and_stay_parseable() -> None:
    doc = JsonDocument.parse(QWEN_SETTINGS)
    doc.set(["selectedAuthType"], "anthropic")
    doc.set(["mcpServers", "memory", "args"], ["mcp", "serve", "--quiet"])
    doc.delete(["checkpointing"])
    after = doc.dumps()
    assert comments_in(after) == comments_in(QWEN_SETTINGS)
    assert JsonDocument.parse(after).dumps() == after
    assert jsonc_loads(after)["selectedAuthType"] == "anthropic"
    assert '    /* Auth is managed elsewhere */\n    "selectedAuthType": "anthropic",\n' in after
    assert '"args": ["mcp", "serve", "--quiet"], // stdio\n' in after


def test_set_then_delete_restores_the_original() -> None:
    for text in (CLAUDE_SETTINGS, QWEN_SETTINGS, TAB_SETTINGS):
        doc = JsonDocument.parse(text)
        doc.set(["brand", "new"], {"x": [1, {"y": None}]})
        doc.set(["env2"], "v")
        doc.delete(["env2"])
        doc.delete(["brand", "new"], prune_empty_parents=True)
        assert doc.dumps() == text


# -- property tests ------------------------------------------------------------------------------

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

TRICKY = ["C:\\xampp", "\\u0041", "a\u2028b", 'q"uote', "// not a comment"]
KEYS = st.sampled_from(["a", "b", "env", "é", "k y", "ANTHROPIC_BASE_URL", *TRICKY]) | st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\u2028\u2029"), max_size=5
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(TRICKY)
    | st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\u2028\u2029"), max_size=8)
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


def render(
    data: dict[str, Any], indent: int | str | None, crlf: bool, final_newline: bool, comments: bool
) -> str:
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    if comments and indent is not None:
        lines = []
        split = text.split("\n")
        for number, line in enumerate(split):
            closes_next = number + 1 < len(split) and split[number + 1].lstrip()[:1] in ("}", "]")
            if closes_next and not line.endswith(("{", "[")):
                line += ","  # JSONC trailing comma
            if line.endswith((",", "{", "[")):
                line += f" // c{number}"
            if line.lstrip().startswith('"') and number % 3 == 0:
                lines.append(line[: len(line) - len(line.lstrip())] + f"/* above {number} */")
            lines.append(line)
        text = "\n".join(lines)
    if crlf:
        text = text.replace("\n", "\r\n")
    return text + ("\r\n" if crlf else "\n") * final_newline


def expect_set(data: dict[str, Any], keys: list[str], value: Any) -> bool:
    """Apply ``set`` to plain data; False where JsonDocument must refuse (a scalar in the way)."""
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        elif not isinstance(child, dict):
            return False
        node = child
    node[keys[-1]] = value
    return True


def expect_delete(data: dict[str, Any], keys: list[str], prune: bool) -> bool:
    chain = [data]
    for key in keys[:-1]:
        child = chain[-1].get(key)
        if not isinstance(child, dict):
            return False
        chain.append(child)
    if keys[-1] not in chain[-1]:
        return False
    del chain[-1][keys[-1]]
    for depth in range(len(chain) - 1, 0, -1) if prune else ():
        if chain[depth]:
            break
        del chain[depth - 1][keys[depth - 1]]
    return True


def member_lines(text: str) -> dict[str, tuple[str, range]]:
    """Each top-level member's own text (key, colon, value and all inside it) and its lines."""
    root = _parse_model(text).value
    members = {}
    for key, value in zip(root.keys, root.values, strict=True):
        key.wsc_before, value.wsc_after = [], []
        member = _dump(key) + ":" + _dump(value)
        members[key.characters] = (member, range(key.lineno, key.lineno + member.count("\n") + 1))
    return members


@hypothesis.settings(max_examples=300, deadline=None, database=None)
@hypothesis.given(
    data=st.dictionaries(KEYS, VALUES, max_size=5),
    operations=OPERATIONS,
    indent=st.sampled_from([None, 2, 4, "\t"]),
    crlf=st.booleans(),
    final_newline=st.booleans(),
    comments=st.booleans(),
)
def test_random_edits_touch_only_their_members(
    data: dict[str, Any],
    operations: list[tuple[str, list[str], Any]],
    indent: int | str | None,
    crlf: bool,
    final_newline: bool,
    comments: bool,
) -> None:
    text = render(data, indent, crlf, final_newline, comments)
    doc = JsonDocument.parse(text, comments=comments)
    assert doc.dumps() == text
    expected = json.loads(json.dumps(data))
    touched = set()
    for kind, keys, argument in operations:
        touched.add(keys[0])
        if kind == "set":
            if expect_set(expected, keys, argument):
                doc.set(keys, argument)
            else:
                with pytest.raises(InvalidConfigFileError):
                    doc.set(keys, argument)
        elif comments and argument:
            # Pruning keeps objects that still hold comments: not modelled here.
            assert doc.delete(keys) == expect_delete(expected, keys, False)
        else:
            assert doc.delete(keys, prune_empty_parents=argument) == expect_delete(expected, keys, argument)
    after = doc.dumps()

    assert (jsonc_loads(after) if comments else json.loads(after)) == expected
    assert doc.data == expected
    assert JsonDocument.parse(after, comments=comments).dumps() == after
    assert after.endswith("\n") == final_newline
    if "\r\n" in text:
        assert "\n" not in after.replace("\r\n", "")
    before, after_members = member_lines(text), member_lines(after)
    touched_lines: set[int] = set()
    for key, (member, lines) in before.items():
        if key in touched:
            touched_lines.update(lines)
        else:
            assert after_members[key][0] == member
    kept = [comment for line, comment in located_comments(text) if line not in touched_lines]
    assert set(kept) <= set(comments_in(after))


FRAGMENTS = st.sampled_from(
    [*'{}[]:,"/\\*\n\t ab01-.e', "//", "/*", "*/", "true", "null", '"k"', "\\x", "\u2028"]
)


@hypothesis.settings(max_examples=300, deadline=None, database=None)
@hypothesis.given(text=st.lists(FRAGMENTS, max_size=30).map("".join), comments=st.booleans())
def test_any_text_parses_or_raises_invalid_config_file_error(text: str, comments: bool) -> None:
    try:
        doc = JsonDocument.parse(text, comments=comments)
    except InvalidConfigFileError as exc:
        assert exc.message.startswith("invalid JSON in <text>")
        return
    assert doc.dumps() == (text if text.strip() else "{}\n")
    assert isinstance(doc.data, dict)


def test_a_file_nested_too_deeply_names_itself_in_the_hint() -> None:
    from mahavishnu.errors import InvalidConfigFileError

    deep = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(InvalidConfigFileError) as caught:
        JsonDocument.parse(deep, source="/home/me/.claude/settings.json")
    assert "nested too deeply" in caught.value.message
    assert "`mahavishnu ai backups --file /home/me/.claude/settings.json`" in caught.value.hint


@hypothesis.settings(max_examples=500, deadline=None, database=None)
@hypothesis.given(
    text=st.lists(
        st.sampled_from(
            [" ", "  ", "    ", "\t", " \t", "\n", "\r\n", "\r", '"', "{", "}", "[", "]", "a", ","]
        ),
        max_size=30,
    ).map("".join)
)
def test_the_indent_unit_is_the_narrowest_indent_of_the_file(text: str) -> None:
    """The file's indent unit is found with a search for each narrower indent, not by listing every
    indented line (0.25 s for a 30 MB settings.json): the same unit as that list gives."""
    from mahavishnu.files.json_document import _INDENTED_LINE, _detect_style

    indents = _INDENTED_LINE.findall(text)
    widths = [len(indent) for indent in indents if not indent.startswith("\t")]
    unit = "\t" if indents and indents[0].startswith("\t") else " " * min(widths) if widths else "  "
    style = _detect_style(text)
    assert style.unit == unit
    assert style.newline == ("\r\n" if "\r\n" in text else "\n")
