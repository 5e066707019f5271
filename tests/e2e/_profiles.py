"""Test profiles pointing at loopback mocks, written into the tmp HOME's Mahavishnu settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from mahavishnu.cli.main import app

__all__ = ["mahavishnu_env", "store_key", "switch", "write_profiles"]

runner = CliRunner()


def write_profiles(home: Path, profiles: dict[str, dict[str, Any]]) -> None:
    settings = home / ".mahavishnu" / "mahavishnu.yaml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(yaml.safe_dump({"profiles": profiles}))


def store_key(name: str, key: str) -> None:
    result = runner.invoke(app, ["secrets", "set", name], input=key + "\n")
    assert result.exit_code == 0, result.output


def switch(name: str, *args: str) -> str:
    """Run `mahavishnu ai switch-llm`; its output with line wrapping undone."""
    result = runner.invoke(app, ["ai", "switch-llm", name, *args])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def mahavishnu_env() -> dict[str, str]:
    """What a `mahavishnu` command run by an assistant (a key helper, a hook) needs to find this
    test's home."""
    # (MAHAVISHNU_DAEMON: the hooks' fast paths start no memory daemon that would outlive the test)
    names = ("MAHAVISHNU_HOME", "PYTHON_KEYRING_BACKEND", "XDG_DATA_HOME", "MAHAVISHNU_DAEMON")
    return {name: os.environ[name] for name in names}
