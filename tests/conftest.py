"""Every test runs with HOME and MAHAVISHNU_HOME in a tmp dir: the real user's files are never touched."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

_LEAKY_PREFIXES = ("MAHAVISHNU_", "ANTHROPIC_", "CLAUDE_", "CODEX_", "OPENAI_", "QWEN_", "GEMINI_", "XDG_")


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith(_LEAKY_PREFIXES) and name != "MAHAVISHNU_TEST_PG_DSN":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MAHAVISHNU_HOME", str(home / ".mahavishnu"))
    # A keyring that lives in the tmp home, so secrets tests never reach the user's real keyring.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.chdir(home)
    _fresh_keyring()
    yield home


def _fresh_keyring() -> None:
    """keyrings.alt caches its file path per backend instance: give each test its own."""
    import keyring.core
    from keyrings.alt.file import PlaintextKeyring

    keyring.core.set_keyring(PlaintextKeyring())
