"""``mahavishnu claude …`` through the real root app, so the error handler (error:/hint:/exit code) runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.doctor import SHIPPED_SCHEMAS as SCHEMAS
from mahavishnu.environments.assistants import claude as claude_assistant
from mahavishnu.files import safe_write

SCHEMA_PATH = SCHEMAS / "claude-code-settings.json"
VALIDATOR = jsonschema.Draft7Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))

runner = CliRunner()

ORIGINAL = """{
  "apiKeyHelper": "mahavishnu secrets get qwen",
  "env": {"ANTHROPIC_BASE_URL": "https://example.invalid/v1", "ANTHROPIC_AUTH_TOKEN": "sk-test-abcdefgh"},
  "enabledPlugins": {"formatter@market": true},
  "hooks": {
    "Stop": [{"hooks": [{"type": "command", "command": "say done"}]}]
  },
  "permissions": {"allow": ["Read"]},
  "x-team-note":   "keep me exactly"
}
"""


def mv(*args: str) -> Any:
    return runner.invoke(app, ["claude", *args])


def assert_valid(path: Path) -> None:
    errors = [e.message for e in VALIDATOR.iter_errors(json.loads(path.read_text()))]
    assert errors == [], errors


@pytest.fixture
def project(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = isolated_home / "src" / "app"
    (root / ".git").mkdir(parents=True)
    monkeypatch.chdir(root)
    monkeypatch.setattr(claude_assistant, "MANAGED_SETTINGS", isolated_home / "etc" / "managed-settings.json")
    return root


@pytest.fixture
def user_file(isolated_home: Path, project: Path) -> Path:
    path = isolated_home / ".claude" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ORIGINAL)
    return path


def scope_file(scope: str, home: Path, project: Path) -> Path:
    return {
        "user": home / ".claude" / "settings.json",
        "project": project / ".claude" / "settings.json",
        "local": project / ".claude" / "settings.local.json",
    }[scope]


# -- help ----------------------------------------------------------------------------------------


def _walk(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, command)]
    if hasattr(command, "commands"):  # a group (typer ships its own click)
        for name, sub in command.commands.items():
            found += _walk(sub, (*path, name))
    return found


def test_every_claude_command_and_option_has_help():
    root: Any = get_command(app)
    commands = _walk(root.commands["claude"], ("claude",))
    names = {" ".join(path) for path, _ in commands}
    for expected in (
        "claude hooks list",
        "claude hooks add",
        "claude hooks remove",
        "claude permissions list",
        "claude permissions allow add",
        "claude permissions deny remove",
        "claude permissions ask list",
        "claude statusline set",
        "claude statusline clear",
        "claude settings show",
    ):
        assert expected in names
    for path, command in commands:
        assert (command.help or "").strip(), f"{' '.join(path)} has no help"
        for param in command.params:
            if param.param_type_name == "option":
                assert (param.help or "").strip(), f"{' '.join(path)} {param.name} has no help"
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, path


# -- hooks ---------------------------------------------------------------------------------------

HOOK_CASES = [
    (
        ["PreToolUse", "--matcher", "Edit|Write", "--command", "prettier --write", "--timeout", "30"],
        {"type": "command", "command": "prettier --write", "timeout": 30},
        ["PreToolUse", "--matcher", "Edit|Write", "--command", "prettier --write"],
    ),
    (
        [
            "PostToolUse",
            "--matcher",
            "Bash",
            "--url",
            "http://127.0.0.1:9/h",
            "-H",
            "X-Key: $K",
            "--allowed-env-var",
            "K",
        ],
        {"type": "http", "url": "http://127.0.0.1:9/h", "headers": {"X-Key": "$K"}, "allowedEnvVars": ["K"]},
        ["PostToolUse", "--url", "http://127.0.0.1:9/h"],
    ),
    (
        ["Stop", "--prompt", "Done? $ARGUMENTS", "--timeout", "15"],
        {"type": "prompt", "prompt": "Done? $ARGUMENTS", "timeout": 15},
        ["Stop", "--prompt", "Done? $ARGUMENTS"],
    ),
    (
        ["SubagentStop", "--type", "agent", "--prompt", "Run the tests", "--model", "claude-haiku-4-5"],
        {"type": "agent", "prompt": "Run the tests", "model": "claude-haiku-4-5"},
        ["SubagentStop", "--type", "agent", "--prompt", "Run the tests"],
    ),
    (
        [
            "SessionStart",
            "--matcher",
            "startup",
            "--server",
            "memory",
            "--tool",
            "recall",
            "--input",
            '{"q": "${cwd}"}',
        ],
        {"type": "mcp_tool", "server": "memory", "tool": "recall", "input": {"q": "${cwd}"}},
        ["SessionStart", "--tool", "recall"],
    ),
]


@pytest.mark.parametrize(("add", "handler", "remove"), HOOK_CASES, ids=[c[1]["type"] for c in HOOK_CASES])
def test_hooks_add_list_remove_round_trip(user_file, add, handler, remove):
    result = mv("hooks", "add", *add)
    assert result.exit_code == 0, result.output
    assert "added" in result.stdout and str(user_file) in result.stdout
    assert_valid(user_file)
    listed = json.loads(mv("hooks", "list", "--json").stdout)
    mine = [e for e in listed if e["handler"] == handler]
    assert len(mine) == 1 and mine[0]["event"] == add[0]
    # the user's other keys are byte-identical
    text = user_file.read_text()
    for line in ORIGINAL.splitlines()[1:4] + ORIGINAL.splitlines()[7:]:
        assert line in text
    # and a second add is a no-op that says so
    again = mv("hooks", "add", *add)
    assert again.exit_code == 0 and "already there" in again.stdout and "nothing written" in again.stdout
    removed = mv("hooks", "remove", *remove)
    assert removed.exit_code == 0, removed.output
    assert "removed" in removed.stdout
    assert user_file.read_text() == ORIGINAL
    assert_valid(user_file)


def test_hooks_list_human_and_remove_by_index(user_file):
    assert mv("hooks", "add", "PreToolUse", "-m", "Bash", "-c", "guard.sh").exit_code == 0
    assert mv("hooks", "add", "PreToolUse", "-m", "Bash", "-c", "audit.sh").exit_code == 0
    listing = mv("hooks", "list")
    assert listing.exit_code == 0
    for cell in ("say done", "guard.sh", "audit.sh", "PreToolUse", "Bash"):
        assert cell in listing.stdout
    entries = json.loads(mv("hooks", "list", "PreToolUse", "--json").stdout)
    assert [(e["index"], e["handler"]["command"]) for e in entries] == [(2, "guard.sh"), (3, "audit.sh")]
    assert mv("hooks", "remove", "--index", "2").exit_code == 0
    groups = json.loads(user_file.read_text())["hooks"]["PreToolUse"]
    assert groups == [{"matcher": "Bash", "hooks": [{"type": "command", "command": "audit.sh"}]}]
    assert mv("hooks", "remove", "--index", "2").exit_code == 0
    data = json.loads(user_file.read_text())
    assert "PreToolUse" not in data["hooks"] and data["hooks"]["Stop"]  # the other event stays
    assert user_file.read_text() == ORIGINAL


def test_hooks_list_on_a_missing_file(project):
    result = mv("hooks", "list")
    assert result.exit_code == 0 and "No hooks" in result.stdout
    assert json.loads(mv("hooks", "list", "--json").stdout) == []


@pytest.mark.parametrize(
    ("args", "code", "message", "hint"),
    [
        (["add", "PreToolUze", "-c", "x"], 2, "unknown hook event 'PreToolUze'", "Did you mean PreToolUse"),
        (["add", "Stop", "--type", "http"], 2, "an http hook needs url", "--url"),
        (["add", "Stop", "--type", "prompt"], 2, "a prompt hook needs prompt", "--prompt"),
        (["add", "Stop"], 2, "say what the hook runs", "--command"),
        (["add", "Stop", "-c", "x", "--url", "y"], 2, "conflicting handler options", "--type"),
        (["add", "Stop", "-m", "Bash", "-c", "x"], 2, "Stop takes no matcher", "Drop --matcher"),
        (["add", "WorktreeCreate", "--url", "http://x"], 2, "runs command hooks only", "--command"),
        (
            ["add", "Stop", "-c", "x", "--timeout", "0"],
            2,
            "timeout must be a positive number",
            "--timeout 30",
        ),
        (["add", "Stop", "-c", "x", "--if", "Bash(x)"], 2, "only evaluated on tool events", "PreToolUse"),
        (["add", "Stop", "-T", "bogus", "-c", "x"], 2, "unknown handler type 'bogus'", "mcp_tool"),
        (
            ["add", "Stop", "--server", "s", "--tool", "t", "--input", "[1]"],
            2,
            "must be a JSON object",
            "--input",
        ),
        (["add", "Stop", "--url", "u", "-H", "nocolon"], 2, "bad header 'nocolon'", "Name: value"),
        (
            ["add", "Stop", "-c", "x", "--scope", "global"],
            2,
            "unknown scope 'global'",
            "user, project or local",
        ),
        (["remove", "Stop", "--command", "nope"], 1, "no Stop hook matches", "hooks list"),
        (["remove", "--index", "9"], 1, "no hook #9", "hooks list"),
        (["remove", "Stop"], 2, "say which Stop hook to remove", "--index"),
    ],
)
def test_hook_errors_exit_non_zero_with_message_and_hint_and_change_nothing(
    user_file, args, code, message, hint
):
    result = mv("hooks", *args)
    assert result.exit_code == code, result.output
    assert f"error: {message}" in result.stderr or message in result.stderr
    assert "hint: " in result.stderr and hint in result.stderr
    assert user_file.read_text() == ORIGINAL
    assert safe_write.list_backups(user_file) == []


@pytest.mark.parametrize("scope", ["user", "project", "local"])
def test_scopes_write_their_own_file(isolated_home, project, scope):
    result = mv("hooks", "add", "SessionEnd", "-c", "bye", "--scope", scope)
    assert result.exit_code == 0, result.output
    path = scope_file(scope, isolated_home, project)
    assert json.loads(path.read_text()) == {
        "hooks": {"SessionEnd": [{"hooks": [{"type": "command", "command": "bye"}]}]}
    }
    assert_valid(path)
    others = [scope_file(s, isolated_home, project) for s in ("user", "project", "local") if s != scope]
    assert not any(p.exists() for p in others)


def test_dry_run_prints_the_diff_and_writes_nothing(user_file):
    result = mv("hooks", "add", "PreToolUse", "-m", "Bash", "-c", "guard.sh", "--dry-run")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"--- {user_file} (current)\n+++ {user_file} (new)\n")
    assert '+    "PreToolUse": [' in result.stdout and '+            "command": "guard.sh"' in result.stdout
    assert user_file.read_text() == ORIGINAL and safe_write.list_backups(user_file) == []
    for args in (
        ["permissions", "deny", "add", "Bash(rm:*)", "--dry-run"],
        ["statusline", "set", "x", "--dry-run"],
        ["statusline", "clear", "--dry-run"],
        ["hooks", "remove", "Stop", "-c", "say done", "--dry-run"],
    ):
        result = mv(*args)
        assert result.exit_code == 0, result.output
        assert user_file.read_text() == ORIGINAL
    diff = mv("hooks", "remove", "Stop", "-c", "say done", "--dry-run").stdout
    assert '   "env": {"ANTHROPIC_BASE_URL"' in diff  # the context line with the token ...
    assert "sk-test-abcdefgh" not in diff and "sk-…gh" in diff  # ... shows it masked


def test_writes_are_backed_up(user_file):
    assert mv("statusline", "set", "line.sh").exit_code == 0
    [backup] = safe_write.list_backups(user_file)
    assert backup.file.read_text() == ORIGINAL


def test_invalid_json_is_refused_with_its_line_and_nothing_is_written(user_file):
    broken = '{\n  "model": "opus",\n  "permissions": {"allow": ["Read",]}\n}\n'
    user_file.write_text(broken)
    for args in (
        ["hooks", "add", "Stop", "-c", "x"],
        ["permissions", "allow", "add", "Edit"],
        ["statusline", "set", "x"],
        ["hooks", "list"],
        ["settings", "show", "--effective"],
    ):
        result = mv(*args)
        assert result.exit_code == 1, (args, result.output)
        assert f"error: invalid JSON in {user_file} at line 3" in result.stderr
        assert "hint: " in result.stderr
        assert user_file.read_text() == broken
    assert safe_write.list_backups(user_file) == []


# -- permissions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["allow", "deny", "ask"])
def test_permissions_add_list_remove_each_kind(user_file, kind):
    result = mv(
        "permissions",
        kind,
        "add",
        "Bash(npm run test:*)",
        "WebFetch(domain:example.com)",
        "Bash(npm run test:*)",
    )
    assert result.exit_code == 0, result.output
    assert f"{kind}: added Bash(npm run test:*), WebFetch(domain:example.com)" in result.stdout
    assert_valid(user_file)
    before = ["Read"] if kind == "allow" else []
    expected = [*before, "Bash(npm run test:*)", "WebFetch(domain:example.com)"]
    assert json.loads(mv("permissions", kind, "list", "--json").stdout) == {kind: expected}
    everything = json.loads(mv("permissions", "list", "--json").stdout)
    assert set(everything) == {"allow", "deny", "ask"} and everything[kind] == expected
    again = mv("permissions", kind, "add", "WebFetch(domain:example.com)")
    assert again.exit_code == 0 and "already there" in again.stdout and "nothing written" in again.stdout
    assert '"x-team-note":   "keep me exactly"' in user_file.read_text()
    result = mv("permissions", kind, "remove", "Bash(npm run test:*)", "WebFetch(domain:example.com)")
    assert result.exit_code == 0, result.output
    assert user_file.read_text() == ORIGINAL


def test_permissions_list_human_shows_all_three_lists(user_file):
    assert mv("permissions", "deny", "add", "Read(./.env)").exit_code == 0
    result = mv("permissions", "list")
    assert result.exit_code == 0
    assert "allow:\n  Read\n" in result.stdout
    assert "deny:\n  Read(./.env)\n" in result.stdout
    assert "ask: (none)" in result.stdout


def test_permission_errors(user_file):
    result = mv("permissions", "allow", "add", "bash(ls)")
    assert result.exit_code == 2
    assert (
        "error: invalid permission rule 'bash(ls)'" in result.stderr
        and "Did you mean Bash(ls)?" in result.stderr
    )
    result = mv("permissions", "deny", "remove", "Edit")
    assert result.exit_code == 1 and "not in permissions.deny" in result.stderr
    assert user_file.read_text() == ORIGINAL
    result = mv("permissions", "deny", "add", "Read")
    assert result.exit_code == 0 and "deny wins" in result.stderr


# -- status line ---------------------------------------------------------------------------------


def test_statusline_set_and_clear(user_file):
    result = mv("statusline", "set", "~/.claude/statusline.sh", "--padding", "1")
    assert result.exit_code == 0, result.output
    assert json.loads(user_file.read_text())["statusLine"] == {
        "type": "command",
        "command": "~/.claude/statusline.sh",
        "padding": 1,
    }
    assert_valid(user_file)
    again = mv("statusline", "set", "~/.claude/statusline.sh", "--padding", "1")
    assert "nothing written" in again.stdout
    assert mv("statusline", "clear").exit_code == 0
    assert user_file.read_text() == ORIGINAL
    result = mv("statusline", "clear")
    assert result.exit_code == 0 and "no status line set" in result.stdout
    result = mv("statusline", "set", "x", "--padding", "-2")
    assert result.exit_code == 2 and "padding must be 0 or more" in result.stderr


# -- settings show -------------------------------------------------------------------------------


@pytest.fixture
def layered(isolated_home: Path, project: Path) -> dict[str, Path]:
    files = {scope: scope_file(scope, isolated_home, project) for scope in ("user", "project", "local")}
    files["managed"] = claude_assistant.MANAGED_SETTINGS
    contents = {
        "user": {"model": "sonnet", "permissions": {"allow": ["Read"]}, "env": {"A": "1"}},
        "project": {
            "permissions": {"allow": ["Edit", "Read"]},
            "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "p"}]}]},
        },
        "local": {
            "model": "haiku",
            "env": {"B": "2"},
            "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "l"}]}]},
        },
        "managed": {"permissions": {"deny": ["Bash(curl:*)"]}, "companyAnnouncements": ["hello"]},
    }
    for scope, path in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(contents[scope]))
    return files


def test_settings_show_effective_json(layered):
    result = mv("settings", "show", "--effective", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["settings"] == {
        "model": "haiku",
        "permissions": {"allow": ["Read", "Edit"], "deny": ["Bash(curl:*)"]},
        "env": {"A": "1", "B": "2"},
        "hooks": {
            "Stop": [
                {"hooks": [{"type": "command", "command": "p"}]},
                {"hooks": [{"type": "command", "command": "l"}]},
            ]
        },
        "companyAnnouncements": ["hello"],
    }
    assert data["sources"]["model"] == {"from": ["local"], "overrides": ["user"]}
    assert data["sources"]["permissions"] == {"from": ["managed", "project", "user"], "overrides": []}
    assert [f["scope"] for f in data["files"]] == ["user", "project", "local", "managed"]
    assert all(f["exists"] for f in data["files"])


def test_settings_show_effective_human_names_the_scopes(layered):
    result = mv("settings", "show", "--effective")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert str(layered["managed"]) in out and str(layered["local"]) in out
    assert "local (overrides user)" in out
    assert "managed + project + user" in out
    assert "companyAnnouncements" in out


def test_settings_show_one_scope(layered):
    data = json.loads(mv("settings", "show", "--scope", "project", "--json").stdout)
    assert data["path"] == str(layered["project"]) and data["exists"]
    assert data["settings"]["permissions"] == {"allow": ["Edit", "Read"]}
    managed = json.loads(mv("settings", "show", "--scope", "managed", "--json").stdout)
    assert managed["settings"]["companyAnnouncements"] == ["hello"]
    human = mv("settings", "show", "--scope", "local")
    assert human.exit_code == 0 and str(layered["local"]) in human.stdout and '"haiku"' in human.stdout


def test_settings_show_default_is_user_and_missing_files_are_fine(project):
    result = mv("settings", "show")
    assert result.exit_code == 0 and "does not exist" in result.stdout
    data = json.loads(mv("settings", "show", "--effective", "--json").stdout)
    assert data["settings"] == {} and not any(f["exists"] for f in data["files"])
    assert "No Claude Code settings" in mv("settings", "show", "--effective").stdout


def test_settings_show_rejects_both_flags(project):
    result = mv("settings", "show", "--scope", "user", "--effective")
    assert result.exit_code == 2 and "exclude each other" in result.stderr
