"""`mahavishnu run` on two profiles with the same model at the same time, with the real Codex, Pi and
OpenCode: each logs the provider named for its run's profile (``launch.run_provider``), and
`mahavishnu usage --by provider` files each request under its own profile, with the tokens its
provider (a loopback mock each) reported, priced as that profile's.

The first run starts before the second and sends its request after the second has run (its
assistant waits for a gate): when every run's provider had one name, ``mahavishnu-run``, usage took
the latest run of that assistant and model for both, the second profile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from _cli_env import TOOLS_BIN, base_env, find_tool
from _profiles import mahavishnu_env, write_profiles
from mock_llm import RecordedRequest, Reply
from pi_opencode_config import OFFLINE
from typer.testing import CliRunner
from usage_mock import Figures, UsageMockLLM

from mahavishnu.cli.main import app
from mahavishnu.environments.launch import run_provider
from mahavishnu.usage import runs

pytestmark = pytest.mark.e2e

MODEL = "lab-model"  # both profiles' model
SMALL = "lab-small"  # OpenCode's title requests (which it does not log) go to this one
#: Two profiles, one with a "." in its name (a Codex key path cannot hold it).
FIRST, SECOND = "lab", "gw.corp"
FIGURES = {FIRST: [Figures(1000, 100)], SECOND: [Figures(3000, 300)]}
#: ``usage.yaml``'s price of the first profile's model, USD per million tokens; the second is unpriced.
PRICE = {"input": 1.0, "output": 2.0}
#: What the run's arguments are for each assistant (after ``--``).
ARGS = {
    "codex": ["exec", "--skip-git-repo-check", "hi"],
    "pi": ["-p", "hi"],
    "opencode": ["run", "hi"],
}
#: Nothing off the machine: a package OpenCode would fetch from npm fails the run.
NO_NETWORK = {
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
    "npm_config_registry": "http://127.0.0.1:9/",
}


class ModelMock(UsageMockLLM):
    """The usage mock, remembering which model each reported figure went to."""

    def __init__(self, figures: list[Figures]) -> None:
        super().__init__(figures)
        self._asked = threading.local()
        self.by_model: list[tuple[str, Figures]] = []

    def _handle_openai_responses(self, req: RecordedRequest) -> Reply:
        self._asked.model = str((req.body or {}).get("model", ""))
        return super()._handle_openai_responses(req)

    def _next(self) -> Figures:
        figures = super()._next()
        with self._lock:
            self.by_model.append((self._asked.model, figures))
        return figures

    def sent(self) -> dict[str, int]:
        """The tokens reported for the profile's model (not OpenCode's title requests)."""
        figures = [f for model, f in self.by_model if model == MODEL]
        return {
            "input_tokens": sum(f.input for f in figures),
            "output_tokens": sum(f.output for f in figures),
            "requests": len(figures),
        }


def _profiles(home: Path, mocks: dict[str, ModelMock]) -> None:
    write_profiles(
        home,
        {
            name: {
                "requires_key": False,
                "openai": {
                    "base_url": f"{mock.base_url}/v1",
                    "model": MODEL,
                    "haiku_model": SMALL,
                    "wire_api": "responses",
                },
            }
            for name, mock in mocks.items()
        },
    )
    prices = {"pricing": {FIRST: {MODEL: PRICE}}}
    (home / ".mahavishnu" / "usage.yaml").write_text(json.dumps(prices))


def _gated(home: Path, tool: str, gate: Path) -> Path:
    """A folder whose ``tool`` waits for ``gate`` to exist, then is the real one."""
    real = find_tool(tool)
    assert real is not None
    folder = home / "gated"
    folder.mkdir(exist_ok=True)
    script = folder / tool
    script.write_text(f'#!/bin/sh\nwhile [ ! -e "{gate}" ]; do sleep 0.1; done\nexec "{real}" "$@"\n')
    script.chmod(0o755)
    return folder


def _run(home: Path, tool: str, profile: str, first_on_path: Path = TOOLS_BIN) -> subprocess.Popen[str]:
    extra = {**mahavishnu_env(), "PYTHONPATH": os.environ.get("PYTHONPATH", ""), **OFFLINE, **NO_NETWORK}
    env = base_env(home, extra)
    env["PATH"] = os.pathsep.join([str(first_on_path), str(TOOLS_BIN), env["PATH"]])
    command = [sys.executable, "-m", "mahavishnu", "run", profile, "--tool", tool, "--no-check", "--"]
    return subprocess.Popen(
        [*command, *ARGS[tool]],
        env=env,
        cwd=home,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> None:
    try:
        out, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    assert proc.returncode == 0, (out[-2000:], err[-2000:])


def _wait_for_runs(count: int) -> None:
    deadline = time.monotonic() + 60
    while len(runs.runs()) < count:
        assert time.monotonic() < deadline, "the run was not recorded"
        time.sleep(0.05)


def _by_provider(tool: str) -> dict[str, dict[str, Any]]:
    """Each provider's figures, the days added up (a run may straddle midnight)."""
    result = CliRunner().invoke(app, ["usage", "daily", "--tool", tool, "--by", "provider", "--json"])
    assert result.exit_code == 0, result.output
    rows: dict[str, dict[str, Any]] = {}
    for row in json.loads(result.output)["daily"]:
        into = rows.setdefault(row["provider"], {})
        for key in ("input_tokens", "output_tokens", "requests", "unpriced_requests", "cost_usd"):
            into[key] = into.get(key, 0) + row[key]
    return rows


@pytest.mark.parametrize("tool", ["codex", "pi", "opencode"])
def test_two_runs_of_one_model_at_once_are_each_billed_to_its_own_profile(
    isolated_home: Path, tool: str
) -> None:
    if find_tool(tool) is None:
        pytest.skip(f"{tool} is not installed: run `bash .ci/install-e2e.sh`")
    gate = isolated_home / "gate"
    with ModelMock(FIGURES[FIRST]) as first, ModelMock(FIGURES[SECOND]) as second:
        mocks = {FIRST: first, SECOND: second}
        _profiles(isolated_home, mocks)
        waiting = _run(isolated_home, tool, FIRST, _gated(isolated_home, tool, gate))
        _wait_for_runs(1)  # the first run is recorded: the second starts after it
        _finish(_run(isolated_home, tool, SECOND))
        gate.touch()
        _finish(waiting)
    rows = _by_provider(tool)
    assert sorted(rows) == sorted(mocks), rows
    for name, mock in mocks.items():
        wanted = mock.sent()
        assert wanted["requests"] >= 1, mock.requests
        assert {key: rows[name][key] for key in wanted} == wanted, (name, rows)
    million = 1_000_000
    cost = (
        PRICE["input"] * rows[FIRST]["input_tokens"] + PRICE["output"] * rows[FIRST]["output_tokens"]
    ) / million
    assert rows[FIRST]["cost_usd"] == pytest.approx(cost) and rows[FIRST]["unpriced_requests"] == 0
    assert rows[SECOND]["unpriced_requests"] == rows[SECOND]["requests"]
    assert run_provider(SECOND) in _logged(isolated_home, tool)


def _logged(home: Path, tool: str) -> str:
    """Every session log ``tool`` wrote, as text (OpenCode's database: its bytes)."""
    folder = {"codex": ".codex/sessions", "pi": ".pi/agent/sessions", "opencode": ".local/share/opencode"}
    files = [f for f in (home / folder[tool]).rglob("*") if f.is_file()]
    return "".join(f.read_bytes().decode(errors="replace") for f in files)
