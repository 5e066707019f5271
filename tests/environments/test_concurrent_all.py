"""Concurrent `switch-llm --tool all` runs, with writers of keys of their own on the same files: every
file stays valid, the assistants end on one provider, and no writer's key is lost (issue 14)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _switch_helpers import write_assistant_files

from mahavishnu.config import load_settings
from mahavishnu.environments.switcher import current, switch_llm
from mahavishnu.files import transaction
from mahavishnu.files.json_document import JsonDocument

CLAUDE = '{\n  "model": "opus"\n}\n'
CODEX = '# codex\nmodel = "gpt-5.5"\n'
QWEN = '{\n  // qwen\n  "general": {"vimMode": true}\n}\n'
TOOLS = ["claude", "codex", "qwen"]


@pytest.fixture
def files(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    return write_assistant_files(isolated_home, CLAUDE, CODEX, QWEN, monkeypatch)


def _profiles_serving_all_three() -> list[str]:
    settings = load_settings()
    found = []
    for name in ("qwen", "zai", "deepseek", "openrouter", "openai", "anthropic"):
        try:
            if set(TOOLS) <= set(switch_llm(name, settings, tool="all", dry_run=True).tools):
                found.append(name)
        except Exception:
            continue
    return found


def test_concurrent_all_switches_and_own_key_writers_end_consistent(files: dict[str, Path]) -> None:
    profiles = _profiles_serving_all_three()
    assert len(profiles) >= 2, profiles
    commands = [["ai", "switch-llm", profiles[i % len(profiles)], "--tool", "all"] for i in range(10)]
    commands += [["claude", "permissions", "allow", "add", f"Bash(writer-{i}:*)"] for i in range(6)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mahavishnu", *command],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    errors = [p.stderr.read() for p in procs if p.wait(timeout=300) != 0]  # type: ignore[union-attr]
    assert errors == []
    assert not transaction.pending()
    claude = json.loads(files["claude"].read_text())
    assert sorted(r for r in claude["permissions"]["allow"] if r.startswith("Bash(writer-")) == sorted(
        f"Bash(writer-{i}:*)" for i in range(6)
    )
    JsonDocument.parse(files["qwen"].read_text())  # still valid JSONC
    assert "# codex" in files["codex"].read_text()
    on = {entry.tool: entry.profile for entry in current(load_settings()) if entry.scope == "user"}
    assert {on[tool] for tool in TOOLS} <= set(profiles)
    assert len({on[tool] for tool in TOOLS}) == 1, on  # one provider for every assistant
