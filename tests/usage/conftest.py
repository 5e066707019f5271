"""The usage tests read copies of the logs the real pinned CLIs wrote (``fixtures/home``, made by
``make_fixtures.py``) from a tmp HOME, never the real one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "home"


@pytest.fixture
def logs(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture logs copied into the tmp HOME, where each assistant keeps them."""
    shutil.copytree(FIXTURES, isolated_home, dirs_exist_ok=True)
    for name in ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "QWEN_HOME", "GEMINI_CLI_HOME"):
        monkeypatch.delenv(name, raising=False)
    return isolated_home
