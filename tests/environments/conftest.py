"""Fixtures of the environments tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mahavishnu.environments.assistants.registry import NAMES


@pytest.fixture
def tools_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every assistant's executable on PATH (an empty script each)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in NAMES:
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
