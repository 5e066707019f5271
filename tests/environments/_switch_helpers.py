"""What the switch tests share: a user's config file in the isolated home, a secret for every
profile, and profiles of a test's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from mahavishnu.config import load_settings
from mahavishnu.environments.profiles import all_profiles


def set_profile_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every profile's ``env:`` secret set, as ``sk-NAME-secret-0123456789``."""
    for name, profile in all_profiles(load_settings()).items():
        for ref in profile.settings.secret:
            monkeypatch.setenv(ref.removeprefix("env:"), f"sk-{name}-secret-0123456789")


def write_file(path: Path, text: str) -> Path:
    """``text`` written to ``path``, its folders made as needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def write_config(path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``text`` written to ``path`` (its folder new), with every profile's secret set."""
    path.parent.mkdir()
    path.write_text(text)
    set_profile_secrets(monkeypatch)
    return path


def write_assistant_files(
    home: Path, claude: str, codex: str, qwen: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Path]:
    """Claude Code's, Codex's and Qwen Code's user config files in ``home`` holding these texts, with
    every profile's secret set; their paths by assistant."""
    paths = {
        "claude": home / ".claude" / "settings.json",
        "codex": home / ".codex" / "config.toml",
        "qwen": home / ".qwen" / "settings.json",
    }
    for path, text in zip(paths.values(), (claude, codex, qwen), strict=True):
        path.parent.mkdir(parents=True)
        path.write_text(text)
    set_profile_secrets(monkeypatch)
    return paths


def write_profiles(home: Path, body: str) -> None:
    """A Mahavishnu settings file in ``home`` whose ``profiles:`` section is ``body``."""
    settings = home / ".mahavishnu" / "mahavishnu.yaml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text("profiles:\n" + body)
