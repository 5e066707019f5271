"""Codex's config.toml keeps its own line endings through an MCP server added then removed (CRLF, with
or without a final line break), and its parse errors name a 1-based column and the file's own path, as
JSON ones do. Also: ``claude statusline set`` says which status line it replaced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.environments.assistants import codex
from mahavishnu.errors import InvalidConfigFileError
from mahavishnu.files import safe_write

runner = CliRunner()


@pytest.mark.parametrize(
    "original",
    [
        b'model = "o3"\r\n\r\n[tui]\r\nnotifications = true',
        b'model = "o3"\r\n\r\n[tui]\r\nnotifications = true\r\n',
    ],
    ids=["crlf-no-final-break", "crlf-final-break"],
)
def test_a_server_added_then_removed_leaves_config_toml_byte_identical(
    isolated_home: Path, original: bytes
) -> None:
    config = isolated_home / ".codex" / "config.toml"
    config.parent.mkdir()
    config.write_bytes(original)

    added = runner.invoke(app, ["mcp-servers", "add", "docs", "--command", "npx", "--tool", "codex"])
    assert added.exit_code == 0, added.output
    written = config.read_bytes()
    assert b"[mcp_servers.docs]" in written
    if b"\r\n" in original:
        assert written.replace(b"\r\n", b"").count(b"\n") == 0 and not written.endswith(b"\r"), written

    removed = runner.invoke(app, ["mcp-servers", "remove", "docs", "--tool", "codex"])
    assert removed.exit_code == 0, removed.output
    assert config.read_bytes() == original


def test_final_line_breaks_are_kept_as_the_file_wrote_them() -> None:
    assert safe_write.keep_final_newlines("a = 1\r\n", "a = 1\r\n\r\n") == "a = 1\r\n"
    assert safe_write.keep_final_newlines("a = 1", "a = 1\r\n") == "a = 1"
    assert safe_write.keep_final_newlines("a = 1\r\n\r\n", "a = 1\r\nb = 2\n") == "a = 1\r\nb = 2\r\n\r\n"
    assert safe_write.keep_final_newlines("a = 1\n\n", "a = 1\n") == "a = 1\n\n"
    assert safe_write.keep_final_newlines(None, "a = 1") == "a = 1\n"


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("a = 1\nb = = 1\n", "at line 2, column 5", "Unexpected character"),
        ("a = 1\r\nb = = 1\r\n", "at line 2, column 5", "Unexpected character"),
        ("a = 1 b\n", "at line 1, column 7", "Unexpected character"),
        ("= 1\n", "at line 1, column 1", "Empty key"),
        ('a = 1\na = 2\nc = "x"\n', "at line 2, column 1", 'Key "a" already exists'),
        ("a = 1\n  a = 2\n", "at line 2, column 3", 'Key "a" already exists'),
        ("[t]\nx = 1\n[t]\ny = 2\n", "at line 3, column 1", 'Key "t" already exists'),
        ("x = 1\nt = {a = 1, a = 2}\n", "at line 2, column ", 'Key "a" already exists'),
    ],
)
def test_toml_errors_name_a_1_based_column_and_the_real_file(text: str, where: str, what: str) -> None:
    source = Path("/somewhere/.codex/config.toml")
    with pytest.raises(InvalidConfigFileError) as caught:
        codex.parse(text, source)
    message = str(caught.value)
    assert message.startswith(f"invalid TOML in {source} {where}"), message
    assert what in message and "column 0" not in message
    assert f"`mahavishnu ai backups --file {source}`" in caught.value.hint
    assert "--file FILE" not in caught.value.hint


def test_the_cli_reports_a_toml_error_like_a_json_one(isolated_home: Path) -> None:
    config = isolated_home / ".codex" / "config.toml"
    config.parent.mkdir()
    config.write_text("a = 1\nb = = 1\n")
    result = runner.invoke(app, ["mcp-servers", "add", "docs", "--command", "npx", "--tool", "codex"])
    assert result.exit_code != 0
    assert f"invalid TOML in {config} at line 2, column 5" in result.output
    assert f"ai backups --file {config}`" in " ".join(result.output.split())
    assert config.read_text() == "a = 1\nb = = 1\n"


def test_statusline_set_says_which_status_line_it_replaced(isolated_home: Path) -> None:
    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"statusLine": {"type": "command", "command": "~/.claude/my-status.sh"}}))

    result = runner.invoke(app, ["claude", "statusline", "set", "~/bin/status.sh"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "status line set to '~/bin/status.sh' (was '~/.claude/my-status.sh')" in said
    assert json.loads(settings.read_text())["statusLine"]["command"] == "~/bin/status.sh"

    again = runner.invoke(app, ["claude", "statusline", "set", "~/bin/status.sh", "--padding", "1"])
    assert again.exit_code == 0 and "(was" not in again.output  # the same command: nothing replaced

    settings.unlink()
    fresh = runner.invoke(app, ["claude", "statusline", "set", "~/bin/status.sh"])
    assert fresh.exit_code == 0 and "(was" not in fresh.output
