"""Claude Code settings management: hooks, permissions, status line, effective merge (library level)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mahavishnu.doctor import SHIPPED_SCHEMAS as SCHEMAS
from mahavishnu.environments import claude_settings as cs
from mahavishnu.environments.assistants import claude as claude_assistant
from mahavishnu.errors import InvalidConfigFileError, InvalidInputError, NotFoundError
from mahavishnu.files import safe_write
from mahavishnu.files.json_document import JsonDocument

SCHEMA_PATH = SCHEMAS / "claude-code-settings.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)

# A file a user wrote by hand: odd spacing, one-line arrays, unknown keys, a secret, other hooks.
ORIGINAL = """{
  "model": "opus",
  "env": {"ANTHROPIC_AUTH_TOKEN": "sk-ant-secret-0123456789", "FOO": "bar"},
  "permissions": {"allow": ["Read", "Bash(git status)"],   "defaultMode": "plan"},
  "hooks": {
    "Stop": [{"hooks": [{"type": "command", "command": "say done"}]}],
    "PreToolUse": [
      {"matcher": "Bash", "hooks": [{"type": "command", "command": "guard.sh", "timeout": 5}]}
    ]
  },
  "enabledPlugins": {"formatter@market": true},
  "x-unknown":   [1, 2,    3]
}
"""


def schema_errors(text: str) -> list[str]:
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in VALIDATOR.iter_errors(json.loads(text))]


def assert_valid(text: str) -> None:
    assert schema_errors(text) == []


def without(text: str, *keys: str) -> str:
    """The text with the given top-level (or dotted) keys removed, for 'everything else is identical'."""
    doc = JsonDocument.parse(text, comments=False)
    for key in keys:
        doc.delete(key.split("."), prune_empty_parents=True)
    return doc.dumps()


# -- the schema and our tables agree --------------------------------------------------------------


def test_events_are_exactly_the_schemas():
    assert set(cs.HOOK_EVENTS) == set(SCHEMA["properties"]["hooks"]["properties"])
    assert len(cs.HOOK_EVENTS) == len(set(cs.HOOK_EVENTS))
    assert set(cs.HOOK_EVENTS) >= cs.NO_MATCHER_EVENTS
    assert set(cs.HOOK_EVENTS) >= cs.COMMAND_ONLY_EVENTS
    assert set(cs.MATCHER_TARGET) == set(cs.HOOK_EVENTS) - cs.NO_MATCHER_EVENTS


def test_handler_types_and_required_fields_are_the_schemas():
    variants = SCHEMA["$defs"]["hookCommand"]["anyOf"]
    from_schema = {v["properties"]["type"]["const"]: set(v["required"]) - {"type"} for v in variants}
    assert from_schema == {kind: set(fields) for kind, fields in cs.REQUIRED_FIELDS.items()}
    for variant in variants:
        kind = variant["properties"]["type"]["const"]
        ours = (
            set(cs.REQUIRED_FIELDS[kind])
            | set(cs.OPTIONAL_FIELDS[kind])
            | {"type", "timeout", "if", "statusMessage"}
        )
        assert ours <= set(variant["properties"]), kind


def test_permission_rule_pattern_is_the_schemas():
    assert cs.PERMISSION_RULE.pattern == SCHEMA["$defs"]["permissionRule"]["pattern"]


def test_the_original_fixture_is_valid():
    assert_valid(ORIGINAL)


# -- hooks: add / list / remove per handler type -------------------------------------------------

HANDLERS = [
    (
        cs.HookSpec("PreToolUse", "command", matcher="Edit|Write", command="prettier --write", timeout=30),
        {"type": "command", "command": "prettier --write", "timeout": 30},
        cs.HookSelector("PreToolUse", command="prettier --write"),
    ),
    (
        cs.HookSpec(
            "PostToolUse",
            "http",
            matcher="Bash",
            url="http://127.0.0.1:8080/hook",
            headers={"Authorization": "Bearer $HOOK_TOKEN"},
            allowed_env_vars=("HOOK_TOKEN",),
            timeout=2.5,
        ),
        {
            "type": "http",
            "url": "http://127.0.0.1:8080/hook",
            "headers": {"Authorization": "Bearer $HOOK_TOKEN"},
            "allowedEnvVars": ["HOOK_TOKEN"],
            "timeout": 2.5,
        },
        cs.HookSelector("PostToolUse", url="http://127.0.0.1:8080/hook"),
    ),
    (
        cs.HookSpec("Stop", "prompt", prompt="Is the task done? $ARGUMENTS", model="claude-haiku-4-5"),
        {"type": "prompt", "prompt": "Is the task done? $ARGUMENTS", "model": "claude-haiku-4-5"},
        cs.HookSelector("Stop", prompt="Is the task done? $ARGUMENTS"),
    ),
    (
        cs.HookSpec("SubagentStop", "agent", matcher="Explore", prompt="Verify the tests pass", timeout=120),
        {"type": "agent", "prompt": "Verify the tests pass", "timeout": 120},
        cs.HookSelector("SubagentStop", prompt="Verify the tests pass"),
    ),
    (
        cs.HookSpec(
            "SessionStart",
            "mcp_tool",
            matcher="startup",
            server="memory",
            tool="recall",
            input={"q": "${cwd}"},
        ),
        {"type": "mcp_tool", "server": "memory", "tool": "recall", "input": {"q": "${cwd}"}},
        cs.HookSelector("SessionStart", tool="recall"),
    ),
]


@pytest.mark.parametrize(("spec", "handler", "selector"), HANDLERS, ids=[h[0].type for h in HANDLERS])
def test_add_list_remove_round_trip(spec, handler, selector):
    text, added = cs.add_hook(ORIGINAL, spec)
    assert added.status == "added" and added.handler == handler
    assert_valid(text)
    new = [e for e in cs.list_hooks(text) if e.event == spec.event and e.handler == handler]
    assert len(new) == 1 and new[0].matcher == spec.matcher
    # only hooks.<event> changed: every other key, and every other event, is byte-identical
    assert without(text, f"hooks.{spec.event}") == without(ORIGINAL, f"hooks.{spec.event}")
    back, removed = cs.remove_hook(text, selector)
    assert removed.removed.handler == handler
    if spec.event in ("Stop", "PreToolUse"):  # an array that was there: same content, re-laid out
        assert json.loads(back) == json.loads(ORIGINAL)
        assert without(back, f"hooks.{spec.event}") == without(ORIGINAL, f"hooks.{spec.event}")
    else:  # a new event: removing it gives back the very bytes
        assert removed.removed_event
        assert back == ORIGINAL


def test_add_to_a_missing_file_creates_a_schema_valid_document():
    text, added = cs.add_hook(None, cs.HookSpec("UserPromptSubmit", command="log-prompt"))
    assert added.status == "added"
    assert json.loads(text) == {
        "hooks": {"UserPromptSubmit": [{"hooks": [{"type": "command", "command": "log-prompt"}]}]}
    }
    assert_valid(text)


def test_same_matcher_appends_to_that_group_and_identical_handler_is_a_no_op():
    text, _ = cs.add_hook(ORIGINAL, cs.HookSpec("PreToolUse", matcher="Bash", command="audit.sh"))
    groups = json.loads(text)["hooks"]["PreToolUse"]
    assert len(groups) == 1
    assert [h["command"] for h in groups[0]["hooks"]] == ["guard.sh", "audit.sh"]
    again, outcome = cs.add_hook(text, cs.HookSpec("PreToolUse", matcher="Bash", command="audit.sh"))
    assert outcome.status == "unchanged" and again == text
    # a different matcher is a new group
    other, _ = cs.add_hook(text, cs.HookSpec("PreToolUse", matcher="Read", command="audit.sh"))
    assert [g["matcher"] for g in json.loads(other)["hooks"]["PreToolUse"]] == ["Bash", "Read"]
    assert_valid(other)


def test_existing_identical_handler_from_the_file_is_recognised():
    text, outcome = cs.add_hook(
        ORIGINAL, cs.HookSpec("PreToolUse", matcher="Bash", command="guard.sh", timeout=5)
    )
    assert outcome.status == "unchanged" and text == ORIGINAL


def test_same_command_with_new_settings_is_updated_in_place():
    text, outcome = cs.add_hook(
        ORIGINAL, cs.HookSpec("PreToolUse", matcher="Bash", command="guard.sh", timeout=9)
    )
    assert outcome.status == "updated" and outcome.previous == {
        "type": "command",
        "command": "guard.sh",
        "timeout": 5,
    }
    assert json.loads(text)["hooks"]["PreToolUse"] == [
        {"matcher": "Bash", "hooks": [{"type": "command", "command": "guard.sh", "timeout": 9}]}
    ]


# The user's hooks laid out by hand: a compact group inside a multi-line event array.
COMPACT = """{
  "hooks": {
    "PreToolUse": [
      {"matcher": "Bash", "hooks": [{"type": "command", "command": "guard.sh", "timeout": 5}]},
      {"matcher": "Edit", "hooks": [{"type": "command", "command": "fmt.sh"}]}
    ]
  }
}
"""


@pytest.mark.parametrize(
    "spec",
    [
        cs.HookSpec("PreToolUse", matcher="Bash", command="audit.sh"),  # into the user's group
        cs.HookSpec("PreToolUse", matcher="Write", command="audit.sh"),  # a group of its own
    ],
    ids=["their-group", "new-group"],
)
def test_adding_and_removing_a_hook_leaves_the_users_groups_as_they_wrote_them(spec: cs.HookSpec) -> None:
    text, outcome = cs.add_hook(COMPACT, spec)
    assert outcome.status == "added"
    bash, edit = COMPACT.splitlines()[3:5]
    assert edit in text and text.count("audit.sh") == 1 and json.loads(text)  # (valid JSON)
    if spec.matcher == "Bash":  # added inside that group, which stays on its line
        assert len(text.splitlines()) == len(COMPACT.splitlines())
    else:  # after the user's groups, which keep their lines
        assert bash in text and text.index(edit) < text.index("audit.sh")
    back, _ = cs.remove_hook(text, cs.HookSelector(event="PreToolUse", command="audit.sh"))
    assert back == COMPACT


def test_a_hook_updated_in_a_compact_group_keeps_the_rest_of_it() -> None:
    text, outcome = cs.add_hook(
        COMPACT, cs.HookSpec("PreToolUse", matcher="Bash", command="guard.sh", timeout=9)
    )
    assert outcome.status == "updated"
    assert text == COMPACT.replace('"timeout": 5', '"timeout": 9')


def test_match_all_spellings_share_one_group():
    text, _ = cs.add_hook(None, cs.HookSpec("Notification", matcher="*", command="a"))
    text, _ = cs.add_hook(text, cs.HookSpec("Notification", command="b"))
    text, _ = cs.add_hook(text, cs.HookSpec("Notification", matcher="", command="c"))
    assert json.loads(text)["hooks"]["Notification"] == [
        {"matcher": "*", "hooks": [{"type": "command", "command": c} for c in "abc"]}
    ]


def test_event_names_are_matched_case_insensitively():
    text, outcome = cs.add_hook(None, cs.HookSpec("pretooluse", matcher="Bash", command="x"))
    assert outcome.event == "PreToolUse" and "PreToolUse" in json.loads(text)["hooks"]


def test_every_schema_event_accepts_a_command_hook():
    text: str | None = None
    for event in cs.HOOK_EVENTS:
        text, outcome = cs.add_hook(text, cs.HookSpec(event, command=f"echo {event}"))
        assert outcome.status == "added"
    assert text is not None
    assert_valid(text)
    assert [e.event for e in cs.list_hooks(text)] == list(cs.HOOK_EVENTS)


# -- hooks: validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message", "hint"),
    [
        (
            cs.HookSpec("PreToolUze", command="x"),
            "unknown hook event 'PreToolUze'",
            "Did you mean PreToolUse",
        ),
        (cs.HookSpec("Stop", "command"), "a command hook needs command", "--command"),
        (cs.HookSpec("Stop", "command", command="   "), "a command hook needs command", "--command"),
        (cs.HookSpec("Stop", "http"), "an http hook needs url", "--url"),
        (cs.HookSpec("Stop", "prompt"), "a prompt hook needs prompt", "--prompt"),
        (cs.HookSpec("Stop", "agent"), "an agent hook needs prompt", "--prompt"),
        (cs.HookSpec("Stop", "mcp_tool", server="m"), "an mcp_tool hook needs tool", "--tool"),
        (cs.HookSpec("Stop", "webhook", url="x"), "unknown handler type 'webhook'", "command, http"),  # type: ignore[arg-type]
        (cs.HookSpec("Stop", matcher="Bash", command="x"), "Stop takes no matcher", "Drop --matcher"),
        (
            cs.HookSpec("UserPromptSubmit", matcher="x", command="x"),
            "UserPromptSubmit takes no matcher",
            "every",
        ),
        (cs.HookSpec("WorktreeCreate", "http", url="http://x"), "runs command hooks only", "--command"),
        (cs.HookSpec("ConfigChange", "prompt", prompt="p"), "runs command hooks only", "--command"),
        (cs.HookSpec("Stop", command="x", timeout=0), "timeout must be a positive number", ""),
        (cs.HookSpec("Stop", command="x", timeout=-3), "timeout must be a positive number", ""),
        (
            cs.HookSpec("Stop", command="x", condition="Bash(git *)"),
            "only evaluated on tool events",
            "PreToolUse",
        ),
        (
            cs.HookSpec("Stop", command="x", model="haiku"),
            "--model does not apply to a command hook",
            "--command",
        ),
        (
            cs.HookSpec("Stop", "http", url="u", run_async=True),
            "--async does not apply to an http hook",
            "--url",
        ),
    ],
)
def test_invalid_hooks_are_refused_with_a_hint(spec, message, hint):
    with pytest.raises(InvalidInputError) as caught:
        cs.add_hook(ORIGINAL, spec)
    assert message in caught.value.message
    assert hint in caught.value.hint
    assert caught.value.exit_code == 2


def test_match_all_matcher_on_a_no_matcher_event_is_dropped_not_refused():
    text, outcome = cs.add_hook(None, cs.HookSpec("Stop", matcher="*", command="x"))
    assert outcome.matcher is None
    assert json.loads(text)["hooks"]["Stop"] == [{"hooks": [{"type": "command", "command": "x"}]}]


def test_if_filter_on_a_tool_event_is_written():
    text, _ = cs.add_hook(
        None, cs.HookSpec("PreToolUse", matcher="Bash", command="x", condition="Bash(git *)")
    )
    assert json.loads(text)["hooks"]["PreToolUse"][0]["hooks"][0]["if"] == "Bash(git *)"
    assert_valid(text)


def test_hooks_of_the_wrong_shape_are_a_config_file_error():
    with pytest.raises(InvalidConfigFileError, match=r"hooks\.Stop in f is not an array"):
        cs.add_hook('{"hooks": {"Stop": {}}}', cs.HookSpec("Stop", command="x"), source="f")
    with pytest.raises(InvalidConfigFileError, match="hooks in f is not an object"):
        cs.add_hook('{"hooks": []}', cs.HookSpec("Stop", command="x"), source="f")


# -- hooks: remove -------------------------------------------------------------------------------


def test_list_numbers_handlers_in_file_order():
    entries = cs.list_hooks(ORIGINAL)
    assert [(e.index, e.event, e.matcher, e.summary) for e in entries] == [
        (1, "Stop", None, "say done"),
        (2, "PreToolUse", "Bash", "guard.sh"),
    ]
    assert [e.index for e in cs.list_hooks(ORIGINAL, event="pretooluse")] == [2]


def test_remove_by_index_and_the_emptied_event_goes_but_never_other_events():
    text, removed = cs.remove_hook(ORIGINAL, cs.HookSelector(index=2))
    assert removed.removed.summary == "guard.sh" and removed.removed_group and removed.removed_event
    hooks = json.loads(text)["hooks"]
    assert hooks == {"Stop": [{"hooks": [{"type": "command", "command": "say done"}]}]}
    # the Stop line is byte-identical
    assert '    "Stop": [{"hooks": [{"type": "command", "command": "say done"}]}]\n' in text
    assert without(text, "hooks") == without(ORIGINAL, "hooks")
    assert_valid(text)


def test_removing_the_last_handler_removes_the_hooks_object():
    text, _ = cs.remove_hook(ORIGINAL, cs.HookSelector(index=2))
    text, _ = cs.remove_hook(text, cs.HookSelector("Stop", command="say done"))
    assert "hooks" not in json.loads(text)
    assert text == without(ORIGINAL, "hooks")


def test_removing_one_of_two_handlers_keeps_the_group():
    text, _ = cs.add_hook(ORIGINAL, cs.HookSpec("PreToolUse", matcher="Bash", command="audit.sh"))
    text, removed = cs.remove_hook(text, cs.HookSelector("PreToolUse", matcher="Bash", command="guard.sh"))
    assert not removed.removed_group and not removed.removed_event
    assert json.loads(text)["hooks"]["PreToolUse"] == [
        {"matcher": "Bash", "hooks": [{"type": "command", "command": "audit.sh"}]}
    ]


def test_removing_keeps_other_groups_of_the_event():
    text, _ = cs.add_hook(ORIGINAL, cs.HookSpec("PreToolUse", matcher="Read", command="guard.sh"))
    with pytest.raises(InvalidInputError, match="2 PreToolUse hooks match"):
        cs.remove_hook(text, cs.HookSelector("PreToolUse", command="guard.sh"))
    text, removed = cs.remove_hook(text, cs.HookSelector("PreToolUse", matcher="Read", command="guard.sh"))
    assert removed.removed_group and not removed.removed_event
    assert [g["matcher"] for g in json.loads(text)["hooks"]["PreToolUse"]] == ["Bash"]


@pytest.mark.parametrize(
    ("selector", "error", "message"),
    [
        (cs.HookSelector(index=7), NotFoundError, "no hook #7 in this file (2 in all)"),
        (cs.HookSelector("Stop", index=2), InvalidInputError, "hook #2 is a PreToolUse hook, not Stop"),
        (cs.HookSelector("Stop", command="nope"), NotFoundError, "no Stop hook matches command='nope'"),
        (
            cs.HookSelector("PreToolUse", matcher="Read", command="guard.sh"),
            NotFoundError,
            "with matcher 'Read'",
        ),
        (cs.HookSelector("Stop"), InvalidInputError, "say which Stop hook to remove"),
        (cs.HookSelector(command="x"), InvalidInputError, "say which hook to remove"),
        (cs.HookSelector("Nope", command="x"), InvalidInputError, "unknown hook event 'Nope'"),
    ],
)
def test_remove_errors(selector, error, message):
    with pytest.raises(error) as caught:
        cs.remove_hook(ORIGINAL, selector)
    assert message in caught.value.message
    assert caught.value.hint


# -- permissions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", cs.PERMISSION_KINDS)
def test_permissions_add_remove_list_each_kind(kind):
    text, added = cs.add_permission_rules(
        ORIGINAL, kind, ["Bash(npm run test:*)", "WebFetch(domain:example.com)"]
    )
    assert added.changed == ["Bash(npm run test:*)", "WebFetch(domain:example.com)"] and added.skipped == []
    assert_valid(text)
    listed = cs.list_permissions(text)
    assert set(listed) >= {"allow", "deny", "ask", "defaultMode"}
    expected_before = {"allow": ["Read", "Bash(git status)"]}.get(kind, [])
    assert listed[kind] == [*expected_before, "Bash(npm run test:*)", "WebFetch(domain:example.com)"]
    assert without(text, f"permissions.{kind}") == without(ORIGINAL, f"permissions.{kind}")
    back, removed = cs.remove_permission_rules(
        text, kind, ["Bash(npm run test:*)", "WebFetch(domain:example.com)"]
    )
    assert removed.changed == ["Bash(npm run test:*)", "WebFetch(domain:example.com)"]
    assert back == ORIGINAL


def test_permissions_are_deduplicated_and_keep_their_order():
    text, outcome = cs.add_permission_rules(
        ORIGINAL, "allow", ["Edit", "Read", "Edit", "mcp__github", "Glob"]
    )
    assert outcome.changed == ["Edit", "mcp__github", "Glob"] and outcome.skipped == ["Read"]
    assert json.loads(text)["permissions"]["allow"] == [
        "Read",
        "Bash(git status)",
        "Edit",
        "mcp__github",
        "Glob",
    ]
    again, outcome = cs.add_permission_rules(text, "allow", ["Glob", "Edit"])
    assert outcome.changed == [] and again == text


def test_permissions_in_a_missing_file():
    text, _ = cs.add_permission_rules(None, "deny", ["Read(./.env)"])
    assert json.loads(text) == {"permissions": {"deny": ["Read(./.env)"]}}
    assert_valid(text)


def test_removing_the_last_rule_removes_the_list_and_an_emptied_permissions_object():
    text, _ = cs.add_permission_rules(None, "ask", ["Bash(git push:*)"])
    text, _ = cs.remove_permission_rules(text, "ask", ["Bash(git push:*)"])
    assert json.loads(text) == {}
    # a permissions object that still holds something stays
    text, _ = cs.remove_permission_rules(ORIGINAL, "allow", ["Read", "Bash(git status)"])
    assert json.loads(text)["permissions"] == {"defaultMode": "plan"}


def test_removing_absent_rules():
    _, outcome = cs.remove_permission_rules(ORIGINAL, "allow", ["Read", "Edit"])
    assert outcome.changed == ["Read"] and outcome.skipped == ["Edit"]
    with pytest.raises(NotFoundError, match=r"Edit is not in permissions.allow"):
        cs.remove_permission_rules(ORIGINAL, "allow", ["Edit"])


def test_a_rule_in_two_lists_warns_which_one_wins():
    _, outcome = cs.add_permission_rules(ORIGINAL, "deny", ["Read"])
    assert outcome.warnings == ["Read is also in allow in this file; deny wins"]


@pytest.mark.parametrize(
    ("rule", "message", "hint"),
    [
        ("", "cannot be empty", "Bash("),
        ("bash(ls)", "unknown tool 'bash'", "Did you mean Bash(ls)?"),
        ("Task(Explore)", "unknown tool 'Task'", "Did you mean Agent(Explore)?"),
        ("Frobnicate", "unknown tool 'Frobnicate'", "mcp__server"),
        ("Bash(echo (hi))", "specifier", "parentheses"),
        ("Bash()", "specifier", "parentheses"),
    ],
)
def test_invalid_permission_rules(rule, message, hint):
    with pytest.raises(InvalidInputError) as caught:
        cs.add_permission_rules(ORIGINAL, "allow", [rule])
    assert message in caught.value.message and hint in caught.value.hint


def test_permission_rules_the_schema_accepts():
    rules = [
        "Bash",
        "Bash(npm run *)",
        "Read(~/Documents/*.pdf)",
        "Agent(Explore)",
        "mcp__puppeteer",
        "Skill(*)",
    ]
    text, _ = cs.add_permission_rules(None, "allow", rules)
    assert_valid(text)


# -- status line ---------------------------------------------------------------------------------


def test_status_line_set_update_clear():
    text, outcome = cs.set_status_line(ORIGINAL, "~/.claude/statusline.sh", padding=2)
    assert outcome.status == "set"
    assert json.loads(text)["statusLine"] == {
        "type": "command",
        "command": "~/.claude/statusline.sh",
        "padding": 2,
    }
    assert_valid(text)
    assert without(text, "statusLine") == ORIGINAL
    same, outcome = cs.set_status_line(text, "~/.claude/statusline.sh", padding=2)
    assert outcome.status == "unchanged" and same == text
    changed, _ = cs.set_status_line(text, "starship statusline", refresh_interval=5)
    assert json.loads(changed)["statusLine"] == {
        "type": "command",
        "command": "starship statusline",
        "padding": 2,
        "refreshInterval": 5,
    }
    cleared, outcome = cs.clear_status_line(changed)
    assert outcome.status == "cleared" and cleared == ORIGINAL
    _, outcome = cs.clear_status_line(ORIGINAL)
    assert outcome.status == "absent"


def test_status_line_keeps_other_keys_the_user_set():
    text = '{"statusLine": {"type": "command", "command": "old", "hideVimModeIndicator": true}}\n'
    new, _ = cs.set_status_line(text, "new")
    assert json.loads(new)["statusLine"] == {
        "type": "command",
        "command": "new",
        "hideVimModeIndicator": True,
    }


@pytest.mark.parametrize(
    ("command", "options", "message"),
    [
        ("  ", {}, "cannot be empty"),
        ("x", {"padding": -1}, "padding must be 0 or more"),
        ("x", {"refresh_interval": 0}, "refresh interval must be at least 1"),
    ],
)
def test_status_line_validation(command, options, message):
    with pytest.raises(InvalidInputError, match=message):
        cs.set_status_line(ORIGINAL, command, **options)


# -- writing through safe_write ------------------------------------------------------------------


@pytest.fixture
def user_file(isolated_home: Path) -> Path:
    path = isolated_home / ".claude" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text(ORIGINAL, encoding="utf-8")
    return path


def test_edit_writes_atomically_with_a_backup(user_file):
    result = cs.edit("user", lambda t, s: cs.add_hook(t, cs.HookSpec("Stop", command="notify"), source=s))
    assert result.changed and result.path == user_file
    text = user_file.read_text()
    assert_valid(text)
    assert [h["command"] for h in json.loads(text)["hooks"]["Stop"][0]["hooks"]] == ["say done", "notify"]
    [backup] = safe_write.list_backups(user_file)
    assert backup.file.read_text() == ORIGINAL


def test_edit_no_op_writes_nothing(user_file):
    mtime = user_file.stat().st_mtime_ns
    result = cs.edit("user", lambda t, s: cs.add_permission_rules(t, "allow", ["Read"], source=s))
    assert not result.changed and result.outcome.skipped == ["Read"]
    assert user_file.stat().st_mtime_ns == mtime and safe_write.list_backups(user_file) == []


def test_edit_never_creates_a_file_just_for_an_empty_object(isolated_home):
    result = cs.edit("user", lambda t, s: cs.clear_status_line(t, source=s))
    assert result.outcome.status == "absent" and not result.changed
    assert not (isolated_home / ".claude" / "settings.json").exists()


def test_dry_run_writes_nothing_and_masks_secrets_in_the_diff(user_file):
    result = cs.edit(
        "user", lambda t, s: cs.add_permission_rules(t, "deny", ["Bash(rm:*)"], source=s), dry_run=True
    )
    assert result.changed and result.dry_run
    assert user_file.read_text() == ORIGINAL
    diff = result.diff()
    assert '-  "permissions": {"allow": ["Read", "Bash(git status)"],   "defaultMode": "plan"},\n' in diff
    added = '"defaultMode": "plan",   "deny": ["Bash(rm:*)"]},\n'
    assert '+  "permissions": {"allow": ["Read", "Bash(git status)"],   ' + added in diff
    # the context line holding the token is shown masked, never in clear
    assert "sk-ant-secret-0123456789" not in diff and "sk-…89" in diff
    assert safe_write.list_backups(user_file) == []


def test_invalid_json_is_refused_with_its_line_and_the_file_is_unchanged(user_file):
    broken = '{\n  "model": "opus",\n  "hooks": {,\n}\n'
    user_file.write_text(broken)
    with pytest.raises(InvalidConfigFileError) as caught:
        cs.edit("user", lambda t, s: cs.add_hook(t, cs.HookSpec("Stop", command="x"), source=s))
    assert "line 3" in caught.value.message and str(user_file) in caught.value.message
    assert user_file.read_text() == broken
    assert safe_write.list_backups(user_file) == []


def test_jsonc_comments_are_refused_because_claude_code_reads_strict_json(user_file):
    text = '{\n  // a comment\n  "model": "opus"\n}\n'
    user_file.write_text(text)
    with pytest.raises(InvalidConfigFileError, match="line 2"):
        cs.edit("user", lambda t, s: cs.set_status_line(t, "x", source=s))
    assert user_file.read_text() == text


def test_claude_config_dir_is_honoured(isolated_home, monkeypatch):
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(isolated_home / "alt"))
    result = cs.edit("user", lambda t, s: cs.set_status_line(t, "x", source=s))
    assert result.path == isolated_home / "alt" / "settings.json"
    assert json.loads(result.path.read_text())["statusLine"]["command"] == "x"


# -- effective merge -----------------------------------------------------------------------------


@pytest.fixture
def four_scopes(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    project = isolated_home / "work" / "repo"
    (project / ".git").mkdir(parents=True)
    (project / ".claude").mkdir()
    monkeypatch.chdir(project)
    managed = isolated_home / "etc" / "managed-settings.json"
    managed.parent.mkdir()
    monkeypatch.setattr(claude_assistant, "MANAGED_SETTINGS", managed)
    files = {
        "user": isolated_home / ".claude" / "settings.json",
        "project": project / ".claude" / "settings.json",
        "local": project / ".claude" / "settings.local.json",
        "managed": managed,
    }
    contents: dict[str, dict[str, Any]] = {
        "user": {
            "model": "sonnet",
            "cleanupPeriodDays": 30,
            "env": {"A": "user", "B": "user"},
            "permissions": {"allow": ["Read", "Edit"], "deny": ["Bash(curl:*)"], "defaultMode": "default"},
            "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "user-stop"}]}]},
            "statusLine": {"type": "command", "command": "user-line"},
        },
        "project": {
            "model": "opus",
            "env": {"B": "project", "C": "project"},
            "permissions": {"allow": ["Bash(npm run test:*)", "Read"], "additionalDirectories": ["../lib"]},
            "hooks": {
                "Stop": [{"hooks": [{"type": "command", "command": "project-stop"}]}],
                "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "guard"}]}],
            },
        },
        "local": {
            "model": "haiku",
            "env": {"C": "local"},
            "permissions": {"ask": ["Bash(git push:*)"], "defaultMode": "acceptEdits"},
            "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "user-stop"}]}]},
        },
        "managed": {
            "model": "opus",
            "permissions": {
                "deny": ["Read(./.env)", "Bash(curl:*)"],
                "disableBypassPermissionsMode": "disable",
            },
            "allowManagedHooksOnly": False,
        },
    }
    for scope, path in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(contents[scope], indent=2) + "\n")
        assert_valid(path.read_text())
    return files


def test_read_layers_finds_all_four_files(four_scopes):
    layers = cs.read_layers()
    assert [(layer.scope, layer.path) for layer in layers] == [(s, four_scopes[s]) for s in cs.MERGE_ORDER]
    assert all(layer.data for layer in layers)


def test_effective_merge_follows_claude_code_precedence(four_scopes):
    merged = cs.effective_settings(cs.read_layers())
    s = merged.settings
    assert s["model"] == "opus"  # managed beats local's haiku
    assert s["cleanupPeriodDays"] == 30  # only user sets it
    assert s["env"] == {"A": "user", "B": "project", "C": "local"}  # objects key by key
    assert s["permissions"] == {
        "allow": ["Read", "Edit", "Bash(npm run test:*)"],  # unioned, order kept
        "deny": ["Bash(curl:*)", "Read(./.env)"],
        "ask": ["Bash(git push:*)"],
        "defaultMode": "acceptEdits",  # local beats user
        "additionalDirectories": ["../lib"],
        "disableBypassPermissionsMode": "disable",
    }
    assert s["hooks"] == {  # unioned per event, duplicates once
        "Stop": [
            {"hooks": [{"type": "command", "command": "user-stop"}]},
            {"hooks": [{"type": "command", "command": "project-stop"}]},
        ],
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "guard"}]}],
    }
    assert s["statusLine"] == {"type": "command", "command": "user-line"}
    assert_valid(json.dumps(s))
    origins = merged.origins
    assert origins["model"] == cs.Origin(["managed"], ["local", "project", "user"])
    assert origins["permissions"].scopes == ["managed", "local", "project", "user"]
    assert origins["cleanupPeriodDays"] == cs.Origin(["user"])
    assert origins["allowManagedHooksOnly"].describe() == "managed"
    assert origins["model"].describe() == "managed (overrides local, project, user)"


def test_effective_merge_skips_missing_files_and_a_file_shared_by_two_scopes(isolated_home, monkeypatch):
    monkeypatch.setattr(claude_assistant, "MANAGED_SETTINGS", isolated_home / "nope.json")
    user = isolated_home / ".claude" / "settings.json"  # cwd is $HOME without .git: project == user
    user.parent.mkdir()
    user.write_text('{"model": "opus"}')
    layers = cs.read_layers()
    assert [layer.scope for layer in layers] == ["user", "local", "managed"]
    merged = cs.effective_settings(layers)
    assert merged.settings == {"model": "opus"} and merged.origins["model"] == cs.Origin(["user"])


def test_merge_values_scalars_objects_arrays():
    assert cs.merge_values({"a": 1, "b": {"c": [1, 2]}}, {"b": {"c": [2, 3], "d": 4}, "a": 5}) == {
        "a": 5,
        "b": {"c": [1, 2, 3], "d": 4},
    }
    assert cs.merge_values([{"x": 1}], [{"x": 1}, {"x": 2}]) == [{"x": 1}, {"x": 2}]
    assert cs.merge_values({"a": 1}, "scalar") == "scalar"


def test_effective_merge_refuses_an_invalid_file_naming_it(four_scopes):
    four_scopes["local"].write_text('{"model": }')
    with pytest.raises(InvalidConfigFileError) as caught:
        cs.read_layers()
    assert str(four_scopes["local"]) in caught.value.message and "line 1" in caught.value.message
