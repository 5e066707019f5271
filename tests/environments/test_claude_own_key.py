"""A key the user typed into Claude Code's settings.json: seen by `ai current`, named by a switch.

A switch reads a profile's key from its secret chain only, so a user whose settings.json holds their
own ``ANTHROPIC_API_KEY`` got "no API key" from `switch-llm anthropic` and nothing about the key
they can see in the file; `ai current` called that file Claude Code's own login.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mahavishnu.config import load_settings
from mahavishnu.environments.switcher import assistant, switch_llm
from mahavishnu.errors import SecretNotFoundError

OWN_KEY = "sk-ant-api03-OWNKEYCANARY0123456789abcdef"


@pytest.fixture
def own_key_settings(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("ANTHROPIC_API_KEY", "ZAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    path = isolated_home / ".claude" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"env": {"ANTHROPIC_API_KEY": OWN_KEY, "FOO": "bar"}, "hooks": {}}, indent=2))
    return path


def test_current_reports_a_key_of_its_own_as_anthropics_api(own_key_settings: Path) -> None:
    entries = assistant("claude").current(load_settings())
    assert [(e.path, e.profile, e.key_source) for e in entries] == [
        (str(own_key_settings), "anthropic", "inline token sk-…ef")
    ]


def test_a_switch_without_a_stored_key_names_the_files_own(own_key_settings: Path) -> None:
    before = own_key_settings.read_text()
    with pytest.raises(SecretNotFoundError) as caught:
        switch_llm("anthropic", load_settings(), tool="claude")
    assert str(own_key_settings) in caught.value.hint
    assert "`mahavishnu secrets set anthropic`" in caught.value.hint
    assert OWN_KEY not in caught.value.hint + caught.value.message
    assert own_key_settings.read_text() == before


def test_a_dry_run_warns_of_the_files_own_key(own_key_settings: Path) -> None:
    result = switch_llm("anthropic", load_settings(), tool="claude", dry_run=True)
    own = [w for w in result.warnings if "holds a key of its own" in w]
    assert len(own) == 1 and "secrets set anthropic" in own[0] and OWN_KEY not in own[0]


def test_a_key_for_another_provider_is_not_offered(own_key_settings: Path) -> None:
    with pytest.raises(SecretNotFoundError) as caught:
        switch_llm("zai", load_settings(), tool="claude")
    assert "of its own" not in caught.value.hint
