"""Output that cannot be written (a full disk: ``> /dev/full``) ends a command with one line and
exit 1, never a traceback (it printed one, CLI-wide)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")


@pytest.mark.parametrize(
    "args", [["--version"], ["usage", "daily"], ["usage", "daily", "--json"], ["--help"]]
)
def test_a_full_disk_is_said_in_one_line(isolated_home: Path, args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "mahavishnu", *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: cannot write the output: No space left on device\n"), done.stderr
