"""A session ``mahavishnu run PROFILE`` started logs the provider ``run`` defines for it, named for
the profile (``launch.run_provider``: Codex's ``model_provider``, Pi's ``provider``, OpenCode's
``providerID``): usage files the session's requests under that profile, at its price. ``run`` also
records each start (``usage/runs``: the time, the assistant, the profile and the model it
selected), which says whose a request logged under the one name every run had before,
``mahavishnu-run``, was."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.environments import launch
from mahavishnu.environments.profiles import all_profiles
from mahavishnu.usage import runs
from mahavishnu.usage.attribution import Attribution, ProfileEndpoints, Switch
from mahavishnu.usage.pricing import Pricing
from mahavishnu.usage.records import Provider, Tool

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pi-opencode-home"
runner = CliRunner()


@pytest.fixture
def started(isolated_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[list[str]]:
    """``run`` as the user runs it, the assistants "installed" (on PATH) and their start recorded
    instead of replacing the test process; the keys of kimi and zai in the environment."""
    calls: list[list[str]] = []
    for name in ("pi", "opencode", "codex"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(launch, "exec_launch", lambda planned: calls.append(planned.argv))
    monkeypatch.setenv("ZAI_API_KEY", "sk-zai-for-tests")
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-moonshot-for-tests")
    monkeypatch.delenv("PI_CODING_AGENT_DIR", raising=False)
    return calls


def _run(profile: str, tool: str) -> None:
    result = runner.invoke(app, ["run", profile, "--tool", tool, "--no-check"])
    assert result.exit_code == 0, result.output


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _pi_run_session(home: Path, name: str, provider: str, *replies: tuple[float, str]) -> None:
    """A Pi session of a run (each reply from ``provider``, as Pi 0.73 logs the provider the run's
    extension registers), each reply 1M input and 100k output tokens."""
    usage = {"input": 1_000_000, "output": 100_000, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 1_100_000}
    zero = {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "total": 0}
    lines: list[dict[str, object]] = [
        {"type": "session", "version": 3, "id": name, "timestamp": _iso(replies[0][0]), "cwd": "/tmp/x"}
    ]
    for n, (at, model) in enumerate(replies):
        message = {
            "role": "assistant",
            "content": [],
            "api": "openai-responses",
            "provider": provider,
            "model": model,
            "usage": usage | {"cost": zero},
            "stopReason": "stop",
            "timestamp": int(at * 1000),
        }
        lines.append(
            {
                "type": "message",
                "id": f"{name}{n}",
                "parentId": None,
                "timestamp": _iso(at),
                "message": message,
            }
        )
    folder = home / ".pi/agent/sessions/--tmp-x--"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"2026-06-01T09-00-00-000Z_{name}.jsonl").write_text(
        "".join(json.dumps(x) + "\n" for x in lines)
    )


def _cost(profile: str, model: str) -> float:
    base_url = str(all_profiles(load_settings())[profile].settings.openai.base_url)  # type: ignore[union-attr]
    rates = Pricing().rates(Provider(profile, profile, base_url), model, time.time())
    assert rates is not None
    return rates.cost(1_000_000, 100_000, 0, 0, 0)


def _by_provider(tool: str) -> dict[str, dict[str, object]]:
    result = runner.invoke(app, ["usage", "--tool", tool, "--by", "provider", "--json"])
    assert result.exit_code == 0, result.output
    return {row["provider"]: row for row in json.loads(result.stdout)["daily"]}


def test_a_pi_session_run_on_a_profile_is_that_profile_s_at_its_price(
    started: list[list[str]], isolated_home: Path
) -> None:
    _run("kimi", "pi")
    _run("zai", "pi")  # a second run meanwhile, in another terminal
    assert len(started) == 2 and [r.profile for r in runs.runs()] == ["kimi", "zai"]
    now = time.time()
    _pi_run_session(
        isolated_home, "s-kimi", launch.run_provider("kimi"), (now + 5, "kimi-k3"), (now + 65, "kimi-k3")
    )
    _pi_run_session(isolated_home, "s-zai", launch.run_provider("zai"), (now + 30, "glm-5.3"))
    rows = _by_provider("pi")
    assert sorted(rows) == ["kimi", "zai"]
    assert rows["kimi"]["requests"] == 2 and rows["kimi"]["unpriced_requests"] == 0
    assert rows["kimi"]["cost_usd"] == pytest.approx(2 * _cost("kimi", "kimi-k3"))
    assert rows["zai"]["requests"] == 1 and rows["zai"]["cost_usd"] == pytest.approx(_cost("zai", "glm-5.3"))


def test_an_opencode_session_run_on_a_profile_is_that_profile_s(
    started: list[list[str]], isolated_home: Path
) -> None:
    shutil.copytree(FIXTURES / ".local", isolated_home / ".local")
    _run("zai", "opencode")
    at = int((time.time() + 10) * 1000)
    tokens = {"input": 1_000_000, "output": 100_000, "reasoning": 0, "cache": {"read": 0, "write": 0}}
    body = {
        "role": "assistant",
        "path": {"cwd": "/home/dev/src/shop", "root": "/"},
        "tokens": tokens,
        "modelID": "glm-5.3",
        "providerID": launch.run_provider("zai"),
        "time": {"created": at - 1000, "completed": at},
    }
    with closing(
        sqlite3.connect(isolated_home / ".local/share/opencode/opencode.db", isolation_level=None)
    ) as db:
        session = db.execute("SELECT id FROM session LIMIT 1").fetchone()[0]
        db.execute(
            "INSERT INTO message (id, session_id, time_created, time_updated, data) VALUES (?, ?, ?, ?, ?)",
            ("msg_run", session, at - 1000, at, json.dumps(body)),
        )
    rows = _by_provider("opencode")
    assert launch.run_provider("zai") not in rows
    assert rows["zai"]["requests"] == 1 and rows["zai"]["cost_usd"] == pytest.approx(_cost("zai", "glm-5.3"))


def test_show_records_no_run(started: list[list[str]]) -> None:
    assert runner.invoke(app, ["run", "kimi", "--tool", "pi", "--show"]).exit_code == 0
    assert runs.runs() == [] and started == []


def test_a_run_whose_assistant_cannot_be_started_is_not_recorded(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """On PATH, yet no program the system runs (an empty file: the exec fails, ENOEXEC): no run
    started, so none is in the history; a run that starts is kept."""
    (tmp_path / "pi").write_text("")
    (tmp_path / "pi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-moonshot-for-tests")
    runs.record("opencode", "zai", "glm-5.3")
    result = runner.invoke(app, ["run", "kimi", "--tool", "pi", "--no-check"])
    assert result.exit_code != 0 and "cannot be started" in result.output
    assert [(r.tool, r.profile) for r in runs.runs()] == [("opencode", "zai")]


PROFILES = {
    "lab": ProfileEndpoints(
        stock=(), base_urls={"openai": "http://127.0.0.1:4000/v1"}, models=frozenset({"m"})
    ),
    "lab2": ProfileEndpoints(
        stock=(), base_urls={"openai": "http://127.0.0.1:4001/v1"}, models=frozenset({"m"})
    ),
    "kimi": ProfileEndpoints(
        stock=(), base_urls={"openai": "https://api.moonshot.ai/v1"}, models=frozenset({"kimi-k3"})
    ),
}


@pytest.mark.parametrize("tool", ["pi", "opencode", "codex"])
def test_a_run_s_requests_are_the_latest_run_of_that_assistant_and_model_before_them(tool: Tool) -> None:
    """Logged under the name every run had before (``RUN``): the runs recorded say whose."""
    history = [
        runs.Run(100, tool, "lab", "m"),
        runs.Run(200, tool, "kimi", "kimi-k3"),
        runs.Run(300, tool, "lab2", "m"),
        runs.Run(400, "claude", "lab", "m"),  # another assistant's
    ]
    attribution = Attribution([Switch(50, tool, "kimi", None, "s1")], PROFILES, history)

    def name(at: float, model: str) -> str:
        return attribution.provider(tool, at, None, model, "mahavishnu-run").name

    assert name(150, "m") == "lab"
    assert name(250, "m") == "lab"  # (kimi's run serves another model)
    assert name(350, "m") == name(450, "m") == "lab2"
    assert name(250, "kimi-k3") == name(350, "kimi-k3") == "kimi"
    # requests of one era and model share a provider (a report looks each up once per era)
    assert attribution.era(tool, None, 250) != attribution.era(tool, None, 350)
    assert (
        attribution.signature() != Attribution([Switch(50, tool, "kimi", None, "s1")], PROFILES).signature()
    )


def test_with_no_run_recorded_the_one_profile_of_that_model_says_else_it_stays_unpriced() -> None:
    """A run started before runs were recorded: the profile that names the model, when only one does."""
    attribution = Attribution([], PROFILES)
    assert attribution.provider("pi", 100, None, "kimi-k3", "mahavishnu-run").profile == "kimi"
    assert attribution.provider("pi", 100, None, "m", "mahavishnu-run") == Provider("mahavishnu-run")
    assert attribution.provider("pi", 100, None, "other", "mahavishnu-run") == Provider("mahavishnu-run")


def test_the_run_log_is_private_and_its_damaged_lines_are_skipped(isolated_home: Path) -> None:
    runs.record("pi", "kimi", "kimi-k3")
    with runs.log_file().open("a") as log:
        log.write('not json\n{"time": "x", "tool": "pi"}\n[1]\n')
    runs.record("opencode", "zai", "glm-5.3")
    assert [(r.tool, r.profile, r.model) for r in runs.runs()] == [
        ("pi", "kimi", "kimi-k3"),
        ("opencode", "zai", "glm-5.3"),
    ]
    assert runs.runs()[0].pid == os.getpid()
    assert runs.log_file().stat().st_mode & 0o777 == 0o600


def test_the_run_log_keeps_the_newest_runs(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runs, "KEEP", 3)
    for n in range(8):
        runs.record("pi", f"p{n}", "m")
    assert [r.profile for r in runs.runs()][-3:] == ["p5", "p6", "p7"]
    assert len(runs.runs()) <= 2 * 3


def test_the_provider_names_attribution_expects_are_those_run_and_a_switch_write() -> None:
    from mahavishnu.environments.assistants import opencode, pi
    from mahavishnu.usage import attribution

    assert attribution.RUN == "mahavishnu-run"  # (every run's provider, before each profile's had its own)
    assert attribution.SWITCHED == pi.PROVIDER == opencode.PROVIDER
    extension = launch.PI_EXTENSION.read_text()
    assert all(
        f"process.env.{var};" in extension for var in (launch.PI_PROVIDER_ID_VAR, launch.PI_PROVIDER_VAR)
    )
