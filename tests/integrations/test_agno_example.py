"""examples/agno_agent.py (the README's Agno example), run as a user runs it after `pip install
'mahavishnu-cp[agno]'`: only what that install brings can be imported (issue 48: it needed `openai`,
which the extra did not install), and its model is the loopback mock LLM (no real key)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli import memory as memory_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from mock_llm import MockLLM

pytest.importorskip("agno", reason="the agno extra is not installed")

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "agno_agent.py"
#: The example, in a process that imports only what `pip install 'mahavishnu-cp[agno]'` installs.
RUN_WITH_THE_EXTRA_ONLY = """
import runpy, sys
sys.path.insert(0, sys.argv[1])
from testkit.requirements import only_installed_with
only_installed_with(["agno"])
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_the_example_runs_with_the_agno_extra_alone_and_its_turns_are_found(isolated_home: Path) -> None:
    reply = "Rotate the deploy key on Fridays with the vault runbook."
    with MockLLM(reply) as mock:
        env = {
            **os.environ,
            "OPENAI_BASE_URL": f"{mock.base_url}/v1",
            "OPENAI_API_KEY": "sk-test-not-a-key",
            "MODEL": "mock-model",
            "AGNO_TELEMETRY": "false",
        }
        question = "How do we rotate the deploy key?"
        ran = subprocess.run(
            [sys.executable, "-c", RUN_WITH_THE_EXTRA_ONLY, str(REPO), str(EXAMPLE), question],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert ran.returncode == 0, ran.stderr[-3000:]
        assert ran.stdout.strip() == reply
        assert len(mock.requests_to("/v1/chat/completions")) == 1
    found = CliRunner().invoke(memory_cli.app, ["search", "deploy key", "--type", "agent", "--json"])
    assert found.exit_code == 0, found.output
    hits = {(h["memory"]["agent_id"], h["memory"]["project"]) for h in json.loads(found.stdout)}
    assert hits == {("researcher", "atlas")}
