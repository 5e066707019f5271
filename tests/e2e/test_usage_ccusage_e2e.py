"""`mahavishnu usage daily --json` beside `ccusage daily --json` (20.0.24, --offline) on the same
Claude Code and Codex logs, written by the real pinned CLIs against the mock (tests/usage/fixtures):
every token total agrees exactly, cost within 0.5 % where both price the model. Prints both."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from _cli_env import base_env, find_tool
from typer.testing import CliRunner

from mahavishnu.cli.main import app

FIXTURES = Path(__file__).resolve().parents[1] / "usage" / "fixtures" / "home"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_tool("ccusage") is None, reason="ccusage is not installed: run `bash .ci/install-e2e.sh`"
    ),
]


def _ccusage(home: Path, agent: str) -> dict[str, float]:
    tool = find_tool("ccusage")
    assert tool is not None
    env = base_env(home, {"CLAUDE_CONFIG_DIR": str(home / ".claude"), "CODEX_HOME": str(home / ".codex")})
    proc = subprocess.run(
        [str(tool), agent, "daily", "--json", "--offline"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    totals = json.loads(proc.stdout)["totals"]
    return {
        "input": totals["inputTokens"],
        "output": totals["outputTokens"],
        "cache_write": totals["cacheCreationTokens"],
        "cache_read": totals["cacheReadTokens"],
        "cost": totals.get("totalCost", totals.get("costUSD")),
    }


def _ours(tool: str) -> dict[str, float]:
    result = CliRunner().invoke(app, ["usage", "daily", "--tool", tool, "--json"])
    assert result.exit_code == 0, result.output
    totals = json.loads(result.output)["totals"]
    return {
        "input": totals["input_tokens"],
        "output": totals["output_tokens"],
        "cache_write": totals["cache_write_tokens"],
        "cache_read": totals["cache_read_tokens"],
        "cost": totals["cost_usd"],
    }


@pytest.mark.parametrize(("tool", "agent"), [("claude", "claude"), ("codex", "codex")])
def test_usage_agrees_with_ccusage_on_the_same_logs(isolated_home: Path, tool: str, agent: str) -> None:
    shutil.copytree(FIXTURES, isolated_home, dirs_exist_ok=True)
    ours, theirs = _ours(tool), _ccusage(isolated_home, agent)
    print(f"\n{tool}: mahavishnu {ours}\n{tool}: ccusage    {theirs}")
    assert {k: ours[k] for k in ("input", "output", "cache_write", "cache_read")} == {
        k: theirs[k] for k in ("input", "output", "cache_write", "cache_read")
    }
    assert ours["cost"] == pytest.approx(theirs["cost"], rel=0.005)
