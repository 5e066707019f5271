"""What the memory-loop end-to-end tests share: a git project in the tmp HOME, every assistant
pointed at the loopback mock with the memory hooks installed, and ways to look at the result
(the store, the mahavishnu CLI, what the mock was sent)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
from _profiles import mahavishnu_env, switch, write_profiles
from gemini_cli import trust
from mock_llm import MockLLM, RecordedRequest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.memory.core.store import MemoryStore

__all__ = ["KEY", "PROJECT", "memories", "project_folder", "run_mahavishnu", "sent", "turn_the_loop_on"]

KEY = "sk-memory-loop-0123456789"
PROJECT = "shop"


def project_folder(home: Path) -> Path:
    """A subfolder of the git repository ``~/src/shop`` (the project is the git root's name),
    trusted by Gemini CLI: where the assistants run."""
    work = home / "src" / PROJECT
    (work / "api").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    cwd = work / "api"
    trust(home, cwd)
    return cwd


def turn_the_loop_on(home: Path, mock: MockLLM, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every assistant switched to a profile on the mock and `memory hooks install --tool all`, as a
    user does; the environment the assistants (and so their hooks) run with."""
    write_profiles(
        home,
        {
            "lab": {
                "secret": ["env:GEMINI_API_KEY"],
                "anthropic": {"base_url": mock.base_url, "model": "m-anthropic"},
                "openai": {"base_url": f"{mock.base_url}/v1", "model": "m-openai", "wire_api": "responses"},
                "gemini": {"base_url": mock.base_url, "model": "m-gemini"},
            }
        },
    )
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    switch("lab", "--tool", "all")
    installed = CliRunner().invoke(app, ["memory", "hooks", "install", "--tool", "all"])
    assert installed.exit_code == 0, installed.output
    return {**mahavishnu_env(), "GEMINI_API_KEY": KEY, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}


def memories(kind: str, project: str = PROJECT) -> list[tuple[str, str | None]]:
    """(content, source assistant) of the project's memories of one type, newest first."""
    with MemoryStore.open() as store:
        return [(m.content, m.source_system) for m in store.recent({"project": project, "types": [kind]})]


def captured(kind: str, *wanted: tuple[str, str], project: str = PROJECT) -> list[tuple[str, str | None]]:
    """``memories(kind)`` once ``wanted`` are among them: the capture hook returns at once and a
    detached process imports the session (``cli/fast/capture.py``), so they may land a moment later."""
    deadline = time.monotonic() + 120
    found = memories(kind, project)
    while not set(wanted) <= set(found) and time.monotonic() < deadline:
        time.sleep(0.5)
        found = memories(kind, project)
    return found


def sent(requests: Iterable[RecordedRequest]) -> str:
    """The request bodies as one text, to look for what reached the LLM."""
    return " ".join(json.dumps(r.body, ensure_ascii=False) for r in requests)


def run_mahavishnu(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed `mahavishnu` command (the one the hooks run), in this test's environment."""
    exe = Path(sys.executable).parent / "mahavishnu"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "mahavishnu"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120, check=False)
