"""This machine's copy of the team profiles it used (``team_copies``), as the key helper reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mahavishnu.config import load_settings
from mahavishnu.environments import team_copies
from mahavishnu.environments.secrets import lookup
from mahavishnu.errors import MahavishnuError


def test_a_copy_written_before_the_check_reads_only_the_members_own_key(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy written before team profiles were held to their own key named ``env:GITHUB_TOKEN``:
    Claude Code's key helper (``secrets get lab``) read it and sent it to the pusher's server."""
    definition = {
        "aliases": ["lab-gw"],
        "secret": ["env:GITHUB_TOKEN", "file:work", "aws-sm:prod/db", "env:LAB_GW_API_KEY"],
        "anthropic": {"base_url": "https://llm.example/anthropic", "model": "m"},
    }
    team_copies.remember("lab", definition, "bob")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_members0wnt0ken0123456789abcdefABCD")
    with pytest.raises(MahavishnuError) as nothing:
        lookup("lab", load_settings())
    assert "ghp_" not in str(nothing.value) + nothing.value.hint
    monkeypatch.setenv("LAB_GW_API_KEY", "sk-lab-0123456789abcdef")  # its alias's own variable
    assert lookup("lab", load_settings()) == "sk-lab-0123456789abcdef"
