"""A profile value holding ``$NAME`` or ``${NAME}`` is refused for Codex, Gemini CLI and Qwen Code: they
replace such references in their config files with the environment's values, which would then go to
the provider with every request (a base URL's path, a model name)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _switch_helpers import write_file, write_profiles

from mahavishnu.config import load_settings
from mahavishnu.environments.switcher import switch_llm
from mahavishnu.errors import ConfigError

PROFILES = (
    "  leaky-url:\n    secret: ['env:LEAKY_KEY']\n"
    "    openai: {base_url: 'https://gw.example.com/$AWS_SECRET_ACCESS_KEY/v1', model: m,\n"
    "             wire_api: responses}\n"
    "  leaky-model:\n    secret: ['env:LEAKY_KEY']\n"
    "    openai: {base_url: 'https://gw.example.com/v1', model: '${GITHUB_TOKEN}', wire_api: responses}\n"
    "    gemini: {base_url: 'https://gw.example.com', model: 'g-${GITHUB_TOKEN}'}\n"
    "  dollar-ok:\n    secret: ['env:LEAKY_KEY']\n"
    "    openai: {base_url: 'https://gw.example.com/v1', model: 'm$', wire_api: responses}\n"
)
FILES = {"codex": ".codex/config.toml", "qwen": ".qwen/settings.json", "gemini": ".gemini/settings.json"}


@pytest.mark.parametrize(
    ("tool", "profile", "field"),
    [
        ("codex", "leaky-url", "base_url"),
        ("codex", "leaky-model", "model"),
        ("qwen", "leaky-url", "baseUrl"),
        ("qwen", "leaky-model", "id"),
        ("gemini", "leaky-model", "model"),
    ],
)
def test_env_reference_refused_and_nothing_written(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, tool: str, profile: str, field: str
) -> None:
    write_profiles(isolated_home, PROFILES)
    monkeypatch.setenv("LEAKY_KEY", "sk-leaky-0123456789")
    monkeypatch.setenv("GEMINI_API_KEY", "sk-leaky-0123456789")
    config = write_file(isolated_home / FILES[tool], "{}\n" if tool != "codex" else "# mine\n")
    with pytest.raises(ConfigError, match=f"its {field} "):
        switch_llm(profile, load_settings(), tool=tool, inline_secret=tool == "gemini")
    assert config.read_text() == ("{}\n" if tool != "codex" else "# mine\n")


def test_a_dollar_that_names_no_variable_is_written(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profiles(isolated_home, PROFILES)
    monkeypatch.setenv("LEAKY_KEY", "sk-leaky-0123456789")
    switch_llm("dollar-ok", load_settings(), tool="qwen")
    assert '"id": "m$"' in (isolated_home / FILES["qwen"]).read_text()
