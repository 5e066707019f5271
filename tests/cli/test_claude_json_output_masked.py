"""Every `mahavishnu claude … --json` output masks secrets the way the table view does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app

HOOK_TOKEN = "hooktoken-0123456789abcdef"
COMMAND_TOKEN = "ghp_0123456789abcdefghijklmnopqrstuvwxyz"
SETTINGS = {
    "hooks": {
        "PostToolUse": [
            {
                "matcher": "Bash",
                "hooks": [
                    {
                        "type": "http",
                        "url": "https://hooks.example/h",
                        "headers": {"Authorization": f"Bearer {HOOK_TOKEN}", "X-Api": "$API"},
                    },
                    {"type": "command", "command": f"notify --token {COMMAND_TOKEN}"},
                ],
            }
        ]
    },
    "permissions": {"allow": [f"Bash(gh auth login --with-token {COMMAND_TOKEN})", "Read"]},
}


@pytest.fixture
def settings(isolated_home: Path) -> Path:
    path = isolated_home / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps(SETTINGS, indent=2))
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["hooks", "list", "--json"],
        ["hooks", "list"],
        ["permissions", "list", "--json"],
        ["permissions", "list"],
        ["permissions", "allow", "list", "--json"],
        ["settings", "show", "--json"],
        ["settings", "show", "--effective", "--json"],
    ],
)
def test_no_output_shows_a_hook_header_or_an_inline_token(settings: Path, args: list[str]) -> None:
    result = CliRunner().invoke(app, ["claude", *args])
    assert result.exit_code == 0, result.output
    assert HOOK_TOKEN not in result.output and COMMAND_TOKEN not in result.output


def test_hooks_list_json_keeps_what_is_no_secret(settings: Path) -> None:
    result = CliRunner().invoke(app, ["claude", "hooks", "list", "--json"])
    http, command = (entry["handler"] for entry in json.loads(result.stdout))
    assert http["headers"] == {"Authorization": "Bearer hoo…ef", "X-Api": "$API"}
    assert http["url"] == "https://hooks.example/h"
    assert command["command"].startswith("notify --token ghp")


def test_adding_a_hook_does_not_echo_its_token(isolated_home: Path) -> None:
    result = CliRunner().invoke(
        app, ["claude", "hooks", "add", "Stop", "--command", f"notify --token {COMMAND_TOKEN}"]
    )
    assert result.exit_code == 0, result.output
    assert "added" in result.output and COMMAND_TOKEN not in result.output
