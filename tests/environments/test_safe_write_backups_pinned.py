"""The backup ring never prunes a backup that a recorded switch took: `ai rollback` keeps working
however many hook and permission edits of the same file came after."""

from __future__ import annotations

from pathlib import Path

import pytest
from _switch_helpers import set_profile_secrets
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.files import switch_log
from mahavishnu.files.safe_write import list_backups

runner = CliRunner()
ORIGINAL = '{\n  "model": "opus"\n}\n'


def test_rollback_after_more_edits_than_the_ring_holds(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(ORIGINAL)
    set_profile_secrets(monkeypatch)
    assert runner.invoke(app, ["ai", "switch-llm", "qwen", "--tool", "claude"]).exit_code == 0
    switched = switch_log.latest()
    assert switched is not None
    taken = switched.files[0].backup

    for n in range(12):
        result = runner.invoke(app, ["claude", "permissions", "allow", "add", f"Bash(echo {n})"])
        assert result.exit_code == 0, result.output

    ids = [b.id for b in list_backups(settings)]
    assert taken in ids and len(ids) == 11  # the ring's 10 newest, plus the one the switch needs
    result = runner.invoke(app, ["ai", "rollback"])
    assert result.exit_code == 0, result.output
    assert settings.read_text() == ORIGINAL
