"""Every services test must leave no process of its own running."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mahavishnu.services import procs

from .helpers import ours

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))  # mock_llm


@pytest.fixture(autouse=True)
def nothing_left_running(isolated_home: Path) -> Iterator[None]:
    """Fails a test that leaves a process of its own running (after killing it)."""
    yield
    from mahavishnu.services.supervisor import reap

    deadline = time.monotonic() + 3
    left = ours()
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        reap()
        left = ours()
    described = [(pid, procs.cmdline(pid)) for pid in left]
    for pid in left:
        os.kill(pid, signal.SIGKILL)  # verified above by its environment: started by this test
    assert not left, f"processes left running: {described}"
