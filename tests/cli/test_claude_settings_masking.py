"""`claude settings show` never prints a key: after `--inline-secret`, and in every form."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mahavishnu import paths
from mahavishnu.cli.main import app

TOKEN = "sk-inline-secret-0123456789abcdef"


@pytest.mark.parametrize("args", [[], ["--json"], ["--effective"], ["--effective", "--json"]])
def test_settings_show_masks_an_inline_token(args):
    settings = paths.home() / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(
        json.dumps(
            {
                "env": {"ANTHROPIC_AUTH_TOKEN": TOKEN, "MAX_THINKING_TOKENS": "31999"},
                "includeCoAuthoredBy": True,
            }
        )
    )
    result = CliRunner().invoke(app, ["claude", "settings", "show", *args])
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output
    assert "31999" in result.output and "true" in result.output
