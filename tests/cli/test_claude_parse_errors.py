"""A settings file that does not parse: the error names the problem in the user's terms, and the hint
points at that file's backups (not at `ai rollback`, which undoes the last switch, maybe another
assistant's); a read command does not say "nothing was written"."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app

runner = CliRunner()


@pytest.fixture
def settings(isolated_home: Path) -> Path:
    path = isolated_home / ".claude" / "settings.json"
    path.parent.mkdir()
    return path


@pytest.mark.parametrize("comment", ["// mine", "/* mine */"])
def test_a_comment_is_named_as_such(settings: Path, comment: str) -> None:
    settings.write_text(f'{{\n  {comment}\n  "model": "opus"\n}}\n')
    result = runner.invoke(app, ["claude", "hooks", "add", "Stop", "--command", "x"])
    assert result.exit_code != 0
    assert "line 2, column 3: comments are not allowed in settings.json" in result.output
    assert "Expecting property name" not in result.output


def test_the_hint_points_at_this_files_backups(settings: Path) -> None:
    settings.write_text('{"model": "opus",}\n')
    result = runner.invoke(app, ["claude", "permissions", "allow", "add", "Read"])
    assert result.exit_code != 0
    output = " ".join(result.output.split())  # the hint may wrap
    assert f"mahavishnu ai backups --file {settings}" in output
    assert "mahavishnu ai rollback --to ID" in output
    assert "`mahavishnu ai rollback`" not in output
    assert "nothing was written" in output


@pytest.mark.parametrize(
    "args",
    [["hooks", "list"], ["permissions", "list"], ["settings", "show"], ["settings", "show", "--effective"]],
)
def test_a_read_command_does_not_say_nothing_was_written(settings: Path, args: list[str]) -> None:
    settings.write_text('{"model": "opus",}\n')
    result = runner.invoke(app, ["claude", *args])
    assert result.exit_code != 0
    assert "invalid JSON" in result.output
    assert "nothing was written" not in result.output.lower()


def test_a_byte_order_mark_is_named_in_plain_words(settings: Path) -> None:
    settings.write_bytes(b'\xef\xbb\xbf{"model": "opus"}\n')
    result = runner.invoke(app, ["claude", "hooks", "add", "Stop", "--command", "x"])
    assert result.exit_code != 0
    assert "byte order mark" in result.output and "utf-8-sig" not in result.output
    assert settings.read_bytes().startswith(b"\xef\xbb\xbf")
