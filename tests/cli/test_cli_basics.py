"""Every command has help; reads have --json; errors are one line + hint with a non-zero exit."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import mahavishnu
from mahavishnu.cli.main import app

runner = CliRunner()


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every command and group below ``group`` (Typer vendors click, so duck-type the groups)."""
    found = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        found.append((path, command))
        if hasattr(command, "commands"):
            found.extend(_commands(command, path))
    return found


ALL_COMMANDS = _commands(typer.main.get_command(app))


def test_the_command_tree_is_walked():
    paths = {" ".join(path) for path, _ in ALL_COMMANDS}
    assert {"ai switch-llm", "secrets get", "config show"} <= paths


@pytest.mark.parametrize(("path", "command"), ALL_COMMANDS, ids=[" ".join(p) for p, _ in ALL_COMMANDS])
def test_every_command_and_option_has_help(path, command):
    assert command.help or command.short_help, f"{' '.join(path)} has no help"
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option" and param.name != "help":
            assert param.help, f"{' '.join(path)} {param.opts} has no help"
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"mahavishnu {mahavishnu.__version__}"


def test_list_llms_json_is_parseable():
    result = runner.invoke(app, ["ai", "list-llms", "--json"])
    assert result.exit_code == 0
    names = {row["name"] for row in json.loads(result.stdout)}
    assert {"anthropic", "qwen", "openai"} <= names


def test_user_errors_print_one_line_and_a_hint():
    result = runner.invoke(app, ["ai", "switch-llm", "nope"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: unknown profile 'nope'.",
        "hint: List the profiles with `mahavishnu ai list-llms`.",
    ]


def test_switch_llm_cli_round_trip(isolated_home, monkeypatch):
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-dash-0123456789abc")
    result = runner.invoke(app, ["ai", "switch-llm", "qwen", "--dry-run"])
    assert result.exit_code == 0 and "+++" in result.stdout
    assert not (isolated_home / ".claude" / "settings.json").exists()
    assert runner.invoke(app, ["ai", "switch-llm", "qwen"]).exit_code == 0
    current = json.loads(runner.invoke(app, ["ai", "current", "--json"]).stdout)
    assert current[0]["profile"] == "qwen" and current[0]["scope"] == "user"
    assert "sk-dash" not in json.dumps(current)


def test_rollback_restores_the_previous_file(isolated_home, monkeypatch):
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-dash-0123456789abc")
    monkeypatch.setenv("ZAI_API_KEY", "sk-zai-0123456789abc")
    runner.invoke(app, ["ai", "switch-llm", "qwen"])
    runner.invoke(app, ["ai", "switch-llm", "zai"])
    backups = json.loads(runner.invoke(app, ["ai", "backups", "--json"]).stdout)
    assert len(backups["backups"]) == 1
    assert [s["profile"] for s in backups["switches"]] == ["zai", "qwen"]
    assert runner.invoke(app, ["ai", "rollback"]).exit_code == 0
    settings = json.loads((isolated_home / ".claude" / "settings.json").read_text())
    assert settings["apiKeyHelper"].endswith("secrets get qwen")


def test_backups_with_nothing_recorded_say_so_rather_than_print_an_empty_table(isolated_home, monkeypatch):
    empty = runner.invoke(app, ["ai", "backups"])
    assert empty.exit_code == 0
    assert empty.stdout.startswith("nothing recorded yet: `ai switch-llm`") and "┃" not in empty.stdout
    one_file = runner.invoke(app, ["ai", "backups", "--file", str(isolated_home / "x.json")])
    assert one_file.stdout.startswith("no backup of ") and "┃" not in one_file.stdout
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-dash-0123456789abc")
    runner.invoke(app, ["ai", "switch-llm", "qwen"])  # creates settings.json: nothing to back up
    created = runner.invoke(app, ["ai", "backups"]).stdout
    assert "switch-llm qwen" in created and "┃ bytes" not in created
    assert created.splitlines()[-1].startswith("no file backups: the changes above only created files")


def test_secrets_list_with_none_stored_says_so_rather_than_print_an_empty_table():
    result = runner.invoke(app, ["secrets", "list"])
    assert result.exit_code == 0
    assert result.stdout.startswith("no secrets stored yet: `mahavishnu secrets set PROFILE`")
    assert json.loads(runner.invoke(app, ["secrets", "list", "--json"]).stdout) == []


def test_secrets_cli_set_get_list_delete():
    assert runner.invoke(app, ["secrets", "set", "qwen"], input="sk-stored-0123456789\n").exit_code == 0
    got = runner.invoke(app, ["secrets", "get", "qwen"])
    assert got.exit_code == 0 and got.stdout == "sk-stored-0123456789\n"
    listed = json.loads(runner.invoke(app, ["secrets", "list", "--json"]).stdout)
    assert listed == [{"name": "qwen", "store": "keyring", "problem": None}]
    assert "sk-stored" not in runner.invoke(app, ["secrets", "list"]).stdout
    assert runner.invoke(app, ["secrets", "delete", "qwen"]).exit_code == 0
    missing = runner.invoke(app, ["secrets", "get", "qwen"])
    assert missing.exit_code == 1 and "no API key for profile 'qwen'" in missing.stderr


def test_secrets_set_says_when_an_exported_variable_still_wins(monkeypatch):
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-exported-0123456789")
    stored = runner.invoke(app, ["secrets", "set", "qwen"], input="sk-stored-0123456789\n")
    assert stored.exit_code == 0
    assert "env:DASHSCOPE_API_KEY also holds a key for 'qwen'" in stored.stderr
    assert "unset DASHSCOPE_API_KEY" in stored.stderr and "sk-exported" not in stored.output
    monkeypatch.delenv("DASHSCOPE_API_KEY")
    again = runner.invoke(app, ["secrets", "set", "qwen"], input="sk-stored-0123456789\n")
    assert again.exit_code == 0 and "also holds" not in again.stderr


def test_config_show_lists_sources_and_masks_secrets(isolated_home, monkeypatch):
    user_file = isolated_home / ".mahavishnu" / "mahavishnu.yaml"
    user_file.parent.mkdir(parents=True, exist_ok=True)
    user_file.write_text("memory:\n  embedder_api_key: sk-very-secret-value-123\n")
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", "postgresql://me:hunter2@db.internal:5432/mem")
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0
    rows = {row["key"]: row for row in json.loads(result.stdout)["settings"]}
    assert rows["memory.dsn"]["source"] == "env"
    assert rows["memory.dsn"]["value"] == "postgresql://me:****@db.internal:5432/mem"
    assert rows["memory.embedder_api_key"]["source"].startswith("user: ")
    assert "sk-very-secret-value-123" not in result.stdout
    assert rows["environments.backups_keep"]["source"] == "default"


def test_config_show_table_lists_what_a_profile_override_sets(isolated_home, monkeypatch):
    user_file = isolated_home / ".mahavishnu" / "mahavishnu.yaml"
    user_file.parent.mkdir(parents=True, exist_ok=True)
    user_file.write_text(
        "profiles:\n  qwen:\n    anthropic: {model: qwen-max}\n"
        "memory:\n  embedder_api_key: sk-abcdefgh12345690\n"
    )
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "profiles.qwen.anthropic.model" in result.stdout and "profiles.qwen.openai " not in result.stdout
    assert "\\u" not in result.stdout  # the masked key reads as masked, not as an escape


def test_invalid_settings_file_is_a_clear_error(isolated_home):
    user_file = isolated_home / ".mahavishnu" / "mahavishnu.yaml"
    user_file.parent.mkdir(parents=True, exist_ok=True)
    user_file.write_text("memory:\n  backend: [oops\n")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: invalid YAML in ") and "line" in result.stderr


def test_commands_written_into_assistants_keep_a_custom_mahavishnu_home(isolated_home):
    """An assistant started from an IDE does not see MAHAVISHNU_HOME set in the user's shell: the
    apiKeyHelper and hook commands carry it, so they still find this home's secret and store."""
    stored = runner.invoke(app, ["secrets", "set", "qwen", "--store", "file"], input="sk-filed-0123456789\n")
    assert stored.exit_code == 0, stored.output
    assert runner.invoke(app, ["ai", "switch-llm", "qwen", "--tool", "claude"]).exit_code == 0
    assert runner.invoke(app, ["memory", "hooks", "install", "--tool", "claude"]).exit_code == 0
    settings = json.loads((isolated_home / ".claude" / "settings.json").read_text())
    recall = settings["hooks"]["SessionStart"][0]["hooks"][0]["command"]
    without_home = {k: v for k, v in os.environ.items() if k != "MAHAVISHNU_HOME"}

    helper = subprocess.run(
        ["sh", "-c", settings["apiKeyHelper"]], env=without_home, capture_output=True, text=True, check=False
    )
    assert (helper.returncode, helper.stdout) == (0, "sk-filed-0123456789\n"), helper.stderr
    assert f"MAHAVISHNU_HOME={isolated_home / '.mahavishnu'}" in recall
    assert not (isolated_home / ".config" / "mahavishnu").exists()  # nothing went to the default home


def test_a_usage_error_never_prints_a_key_typed_where_an_option_was_expected() -> None:
    """A private key pasted as the first argument starts with dashes: Click takes it for an option
    and quotes it in its error. The quote is scrubbed; the usage error (exit 2) is as before."""
    key = (
        "-----BEGIN RSA PRIVATE KEY-----\n"
        + "MIIEowIBAAKCAQEA"
        + "q8Zt" * 16
        + "\n-----END RSA PRIVATE KEY-----"
    )
    result = CliRunner().invoke(app, ["memory", "store", key], terminal_width=200)
    assert result.exit_code == 2
    assert "No such option" in result.output and "[REDACTED:private-key]" in result.output
    assert "MIIEow" not in result.output


@pytest.mark.parametrize(
    "args",
    [["ai", "show"], ["ai", "switch-llm"], ["run"], ["secrets", "get"]],  # the last: the fast path's report
)
def test_an_error_never_prints_a_key_typed_where_a_name_was_expected(args: list[str]) -> None:
    """A key pasted where a profile's or a secret's name goes is quoted by the error that says there
    is no such name (``unknown profile '…'``): scrubbed, as a usage error's quote is."""
    key = "sk-ant-api03-" + "q8Zx7Lm2Pv9Rt4Wk6Ny3Bh5Jd1Fs0Gc" * 2
    result = CliRunner().invoke(app, [*args, key], terminal_width=200)
    assert result.exit_code == 1, result.output
    assert "error: " in result.output and "[REDACTED:anthropic-key]" in result.output
    assert "q8Zx7Lm2" not in result.output
