"""Provider probes and automatic fallback against loopback mock providers, writing the real (tmp HOME)
Claude Code settings file through `switch_llm`."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mock_llm import MockLLM
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.environments.switcher import switch_llm
from mahavishnu.services import metrics
from mahavishnu.services.events import read_events
from mahavishnu.services.fallback import read_state, state_path
from mahavishnu.services.supervisor import Supervisor
from mahavishnu.services.watch import Watcher

from .helpers import wait_for, write_settings

KEYS = {"LAB_PRIMARY_KEY": "sk-primary-0123456789abc", "LAB_BACKUP_KEY": "sk-backup-0123456789abc"}
runner = CliRunner()


@pytest.fixture
def mocks(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MockLLM, MockLLM]]:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    with MockLLM() as primary, MockLLM() as backup:
        yield primary, backup


def _profile(mock: MockLLM, key_var: str, model: str) -> dict[str, Any]:
    return {
        "secret": [f"env:{key_var}"],
        "anthropic": {"base_url": mock.base_url, "model": model},
        "openai": {"base_url": f"{mock.base_url}/v1", "model": model, "wire_api": "responses"},
    }


def _configure(primary: MockLLM, backup: MockLLM, notify_to: Path | None = None, **fallback: Any) -> None:
    notify = None
    if notify_to is not None:
        script = (
            f"import os, pathlib; pathlib.Path({str(notify_to)!r}).open('a')"
            ".write(os.environ['MAHAVISHNU_EVENT'] + '\\n')"
        )
        notify = [sys.executable, "-c", script]
    write_settings(
        {
            "profiles": {
                "lab-primary": _profile(primary, "LAB_PRIMARY_KEY", "primary-model"),
                "lab-backup": _profile(backup, "LAB_BACKUP_KEY", "backup-model"),
                "lab-third": _profile(backup, "LAB_BACKUP_KEY", "third-model"),
                "lab-dead": {
                    "secret": ["env:LAB_PRIMARY_KEY"],
                    "anthropic": {"base_url": "http://127.0.0.1:9", "model": "m"},
                },
            },
            "services": {"builtins": False},
            "watch": {
                "poll_seconds": 0.02,
                "probe_interval_seconds": 0.01,
                "probe_tools": ["claude"],
                "probe_timeout_seconds": 2,
            },
            "fallback": {
                "chains": {"claude": ["lab-primary", "lab-dead", "lab-backup"]},
                "failures_before_switch": 2,
                "successes_before_switch_back": 2,
                "notify_command": notify,
                **fallback,
            },
        }
    )


def _claude_base_url(home: Path) -> str:
    return str(json.loads((home / ".claude" / "settings.json").read_text())["env"]["ANTHROPIC_BASE_URL"])


def _tick(watcher: Watcher) -> list[dict[str, Any]]:
    time.sleep(0.015)  # past the probe interval
    return watcher.tick()


def test_a_failing_provider_falls_back_to_the_next_healthy_profile_and_back(
    isolated_home: Path, mocks: tuple[MockLLM, MockLLM], tmp_path: Path
) -> None:
    primary, backup = mocks
    notes = tmp_path / "notes.jsonl"
    _configure(primary, backup, notify_to=notes)
    switch_llm("lab-primary", load_settings())
    watcher = Watcher(load_settings())

    assert _tick(watcher) == [] and _tick(watcher) == []
    probe = primary.requests_to("/v1/messages")[-1]
    assert probe.api_key == KEYS["LAB_PRIMARY_KEY"] and probe.body["max_tokens"] == 1
    assert probe.body["model"] == "primary-model"
    rows = metrics.read("provider:lab-primary", "probe")
    assert len(rows) == 2 and rows[0]["metrics"]["ok"] and rows[0]["metrics"]["latency_ms"] > 0

    primary.fail_with(503)
    [failed] = _tick(watcher)  # one failure is not enough: it is shown, nothing switched
    assert (failed["event"], failed["tool"], failed["profile"]) == ("probe-failed", "claude", "lab-primary")
    assert failed["reason"].startswith("probe failed (1 of 2 before fallback): http-error (HTTP 503")
    [event] = _tick(watcher)
    assert (event["event"], event["tool"], event["from"], event["to"]) == (
        "fallback",
        "claude",
        "lab-primary",
        "lab-backup",
    )
    assert "2 failed probes in a row" in event["reason"] and "HTTP 503" in event["reason"]
    assert [t["profile"] for t in event["tried"]] == ["lab-dead", "lab-backup"]
    assert _claude_base_url(isolated_home) == backup.base_url
    settings_file = json.loads((isolated_home / ".claude" / "settings.json").read_text())
    assert settings_file["apiKeyHelper"].endswith("secrets get lab-backup")
    assert read_state() == {"claude": {"original": "lab-primary", "current": "lab-backup"}}
    assert [json.loads(line)["event"] for line in notes.read_text().splitlines()] == ["fallback"]
    assert read_events(kind="fallback") == [event]
    assert read_events(kind="probe-failed") == [failed]
    assert KEYS["LAB_PRIMARY_KEY"] not in json.dumps(read_events()) + json.dumps(metrics.read())

    assert _tick(watcher) == [] and _tick(watcher) == []  # primary still failing: stay on the backup
    primary.fail_with(None)
    assert _tick(watcher) == []  # one good probe is not enough
    [back] = _tick(watcher)
    assert (back["event"], back["from"], back["to"]) == ("switch-back", "lab-backup", "lab-primary")
    assert _claude_base_url(isolated_home) == primary.base_url
    assert read_state() == {}
    assert [json.loads(line)["event"] for line in notes.read_text().splitlines()] == [
        "fallback",
        "switch-back",
    ]


def test_no_healthy_profile_in_the_chain_is_reported_once_and_nothing_is_written(
    isolated_home: Path, mocks: tuple[MockLLM, MockLLM]
) -> None:
    primary, backup = mocks
    _configure(primary, backup)
    switch_llm("lab-primary", load_settings())
    before = (isolated_home / ".claude" / "settings.json").read_text()
    primary.fail_with(500)
    backup.fail_with(429)
    watcher = Watcher(load_settings())
    events = [e for _ in range(5) for e in _tick(watcher)]
    assert [e["event"] for e in events] == ["probe-failed", "fallback-unavailable"]
    assert {t["profile"]: t["http_status"] for t in events[1]["tried"]} == {
        "lab-dead": None,
        "lab-backup": 429,
    }
    assert (isolated_home / ".claude" / "settings.json").read_text() == before


def test_a_manual_switch_after_a_fallback_cancels_the_switch_back(
    isolated_home: Path, mocks: tuple[MockLLM, MockLLM]
) -> None:
    primary, backup = mocks
    _configure(primary, backup, failures_before_switch=1, successes_before_switch_back=1)
    switch_llm("lab-primary", load_settings())
    watcher = Watcher(load_settings())
    primary.fail_with(503)
    assert [e["event"] for e in _tick(watcher)] == ["fallback"]
    primary.fail_with(None)
    switch_llm("lab-third", load_settings())  # the user picks a profile by hand
    assert _tick(watcher) == [] and _tick(watcher) == []
    model = json.loads((isolated_home / ".claude" / "settings.json").read_text())["env"]["ANTHROPIC_MODEL"]
    assert model == "third-model" and read_state() == {}


def test_switch_back_can_be_turned_off(isolated_home: Path, mocks: tuple[MockLLM, MockLLM]) -> None:
    primary, backup = mocks
    _configure(primary, backup, failures_before_switch=1, switch_back=False)
    switch_llm("lab-primary", load_settings())
    watcher = Watcher(load_settings())
    primary.fail_with(503)
    assert [e["event"] for e in _tick(watcher)] == ["fallback"]
    primary.fail_with(None)
    assert _tick(watcher) == [] and _tick(watcher) == []
    assert _claude_base_url(isolated_home) == backup.base_url


def test_a_switch_whose_state_cannot_be_written_is_still_reported(
    isolated_home: Path, mocks: tuple[MockLLM, MockLLM], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The switch was made, then writing fallback.json failed: the round said only probe-skipped."""
    from mahavishnu.errors import WriteFailedError
    from mahavishnu.services import fallback

    primary, backup = mocks
    _configure(primary, backup, failures_before_switch=1, successes_before_switch_back=1)
    switch_llm("lab-primary", load_settings())
    fallback.state_path().mkdir(parents=True)  # a folder where the file goes: it cannot be written
    watcher = Watcher(load_settings())
    primary.fail_with(503)
    [event] = _tick(watcher)
    assert (event["event"], event["from"], event["to"]) == ("fallback", "lab-primary", "lab-backup")
    assert event["warning"].startswith("cannot replace ") and event["warning"].endswith(
        "lab-primary is not remembered: no switch back to it will follow"
    )
    assert _claude_base_url(isolated_home) == backup.base_url and read_events(kind="fallback") == [event]

    fallback.state_path().rmdir()
    switch_llm("lab-primary", load_settings())
    primary.fail_with(503)
    assert [e["event"] for e in _tick(watcher)] == ["fallback"]  # remembered this time
    primary.fail_with(None)

    def unwritable(state: object) -> None:
        raise WriteFailedError("cannot write in the watch folder: No space left on device")

    monkeypatch.setattr(fallback, "_write_state", unwritable)
    [back] = _tick(watcher)
    assert (back["event"], back["to"]) == ("switch-back", "lab-primary")
    assert back["warning"].startswith("cannot write in the watch folder: No space left on device: ")
    assert _claude_base_url(isolated_home) == primary.base_url


def test_ai_test_probes_a_profile_or_an_assistants_provider(
    isolated_home: Path, mocks: tuple[MockLLM, MockLLM]
) -> None:
    primary, backup = mocks
    _configure(primary, backup)
    result = runner.invoke(app, ["ai", "test", "lab-primary", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["protocol"], r["status"], r["http_status"]) for r in rows] == [
        ("anthropic", "ok", 200),
        ("openai", "ok", 200),
    ]
    assert all(r["latency_ms"] > 0 for r in rows)
    assert primary.requests_to("/v1/models", method="GET")[-1].api_key == KEYS["LAB_PRIMARY_KEY"]

    primary.fail_with(401)
    failed = runner.invoke(app, ["ai", "test", "lab-primary", "--protocol", "anthropic"])
    assert failed.exit_code == 1
    assert "http-error" in failed.stdout and "401" in failed.stdout
    assert KEYS["LAB_PRIMARY_KEY"] not in failed.stdout
    assert "lab-primary (anthropic): The provider refused the key: store the right one with" in failed.stdout
    assert "`mahavishnu secrets set lab-primary`" in " ".join(failed.stdout.split())

    switch_llm("lab-backup", load_settings())
    active = json.loads(runner.invoke(app, ["ai", "test", "--tool", "claude", "--json"]).stdout)
    assert [(r["tool"], r["profile"], r["status"]) for r in active] == [("claude", "lab-backup", "ok")]
    assert len(metrics.read("provider:lab-primary")) == 3 and len(metrics.read("provider:lab-backup")) == 1
    missing = runner.invoke(app, ["ai", "test"])
    assert missing.exit_code == 2 and "name a profile" in missing.stderr
    both = runner.invoke(app, ["ai", "test", "lab-primary", "--tool", "claude"])
    assert both.exit_code == 2 and "give a profile or --tool, not both" in both.stderr
    assert "name a profile" not in both.stderr  # it was named: the old error said to name one
    own = runner.invoke(app, ["ai", "test", "--tool", "codex"])  # never switched: its own login
    assert own.exit_code == 0 and own.stdout == "codex: its own login at user scope, no provider to probe\n"
    stock = runner.invoke(app, ["ai", "test", "claude"])  # a profile that is an assistant's own login
    assert stock.exit_code == 0
    assert (
        stock.stdout
        == "claude: the assistant's own login, no provider to probe (the assistant checks its login itself)\n"
    )


def test_the_watcher_runs_as_a_service_and_falls_back_for_real(
    isolated_home: Path, mocks: tuple[MockLLM, MockLLM]
) -> None:
    """`mahavishnu watch` as the built-in `mahavishnu-watch` service: a separate process does the switch."""
    primary, backup = mocks
    _configure(primary, backup)
    settings_path = isolated_home / ".mahavishnu" / "mahavishnu.yaml"
    data = json.loads(json.dumps(__import__("yaml").safe_load(settings_path.read_text())))
    data["services"] = {"builtins": True, "definitions": {"mahavishnu-mcp": {"enabled": False}}}
    data["watch"]["probe_interval_seconds"] = 0.1
    write_settings(data)
    switch_llm("lab-primary", load_settings())
    supervisor = Supervisor(load_settings())
    supervisor.start("mahavishnu-watch")
    try:
        wait_for(lambda: primary.requests_to("/v1/messages"), timeout=15)
        primary.fail_with(503)
        wait_for(lambda: _claude_base_url(isolated_home) == backup.base_url, timeout=15)
        primary.fail_with(None)
        wait_for(lambda: _claude_base_url(isolated_home) == primary.base_url, timeout=15)
    finally:
        supervisor.stop("mahavishnu-watch")
    assert [e["event"] for e in read_events()] == ["probe-failed", "fallback", "switch-back"]
    log = supervisor.log_path("mahavishnu-watch").read_text()
    assert "fallback: tool=claude" in log and "switch-back: tool=claude" in log


def test_an_unreadable_config_and_a_failing_notify_command_are_events(
    isolated_home: Path, mocks: tuple[MockLLM, MockLLM]
) -> None:
    primary, backup = mocks
    _configure(primary, backup, failures_before_switch=1, notify_command=[sys.executable, "-c", "exit(4)"])
    switch_llm("lab-primary", load_settings())
    watcher = Watcher(load_settings())
    primary.fail_with(503)
    assert [e["event"] for e in _tick(watcher)] == ["fallback", "notify-failed"]
    (isolated_home / ".claude" / "settings.json").write_text("{ not json")
    events = [e for _ in range(3) for e in _tick(watcher)]
    assert [(e["event"], e["tool"]) for e in events] == [("probe-skipped", "claude")]


@pytest.mark.parametrize(
    ("script", "said"),
    [
        ("", "a process it left in the background still ran after 1 s: killed"),  # `cmd &`, exit 0
        ("; time.sleep(60)", "it still ran after 1 s: killed"),
    ],
)
def test_a_notify_command_and_what_it_left_running_are_killed_at_the_timeout(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, script: str, said: str
) -> None:
    """Its background child holds its output pipes: the watcher waits no longer than the timeout,
    and no process of it is left running (only the command itself was killed)."""
    from mahavishnu.services import fallback

    from .helpers import ours

    spawn = "import subprocess, time; subprocess.Popen(['sleep', '60'])" + script
    write_settings({"fallback": {"notify_command": [sys.executable, "-c", spawn]}})
    monkeypatch.setattr(fallback, "NOTIFY_TIMEOUT", 1.0)
    began = time.monotonic()
    events = fallback.FallbackManager()._notify({"event": "fallback", "tool": "claude"}, load_settings())
    assert time.monotonic() - began < 3
    assert [(e["event"], e["reason"]) for e in events] == [("notify-failed", said)]
    assert not ours()


def test_a_notify_command_that_ends_is_not_waited_on_where_there_is_no_proc(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without /proc (macOS), a process group's only member seen is its leader, and `ps` shows the
    leader that ended and waits to be reaped as running: every notify command, however quick, was
    waited on for the whole timeout, then said to be killed."""
    from mahavishnu.services import fallback, procs

    monkeypatch.setattr(procs, "PROC", tmp_path / "no-proc")
    began = time.monotonic()
    assert fallback.run_notify([sys.executable, "-c", "pass"], {}, 5.0) is None
    assert time.monotonic() - began < 3


def test_a_failing_provider_with_no_chain_says_how_to_set_one(
    isolated_home: Path, mocks: tuple[MockLLM, MockLLM]
) -> None:
    primary, backup = mocks
    _configure(primary, backup, chains={}, failures_before_switch=1)
    switch_llm("lab-primary", load_settings())
    primary.fail_with(503)
    result = runner.invoke(app, ["watch", "--once"])
    assert result.exit_code == 0, result.output
    assert "fallback-no-chain: tool=claude, profile=lab-primary" in result.stdout
    settings_file = isolated_home / ".mahavishnu" / "mahavishnu.yaml"
    assert f"no fallback chain for claude: set fallback.chains.claude: [profile, ...] in {settings_file}" in (
        result.stdout
    )
    assert "nothing to do" not in result.stdout
    [event] = read_events()
    assert event["event"] == "fallback-no-chain" and "HTTP 503" in event["reason"]
    watcher = Watcher(load_settings())
    assert _tick(watcher) == []  # once per outage, reported by the run before
    primary.fail_with(None)
    assert _tick(watcher) == []
    primary.fail_with(503)
    assert [e["event"] for e in _tick(watcher)] == ["fallback-no-chain"]  # a new outage
    assert _tick(watcher) == []
    assert _claude_base_url(isolated_home) == primary.base_url


def test_misspelled_chain_entries_are_reported_at_start_and_named_when_falling_back(
    isolated_home: Path, mocks: tuple[MockLLM, MockLLM]
) -> None:
    primary, backup = mocks
    _configure(primary, backup, chains={"claude": ["lab-backupp", "anthropicc"]}, failures_before_switch=1)
    switch_llm("lab-primary", load_settings())
    watcher = Watcher(load_settings())
    [unknown] = _tick(watcher)
    assert (unknown["event"], unknown["tool"]) == ("fallback-chain-unknown", "claude")
    assert "unknown profile 'lab-backupp'. Did you mean lab-backup?" in unknown["reason"]
    assert "unknown profile 'anthropicc'" in unknown["reason"]
    primary.fail_with(503)
    [no_chain] = _tick(watcher)  # the unknown entries are not reported again
    assert no_chain["event"] == "fallback-no-chain"
    assert "fallback.chains.claude [lab-backupp, anthropicc] holds no other known profile" in no_chain["fix"]
    assert _claude_base_url(isolated_home) == primary.base_url


def test_watch_once_run_again_reports_misspelled_chain_entries_once_until_they_change(
    isolated_home: Path, mocks: tuple[MockLLM, MockLLM]
) -> None:
    """`watch --once` from cron said `fallback-chain-unknown` at every run (each a new watcher):
    now once, kept in fallback.json, and again when the chain changes."""
    primary, backup = mocks
    _configure(primary, backup, chains={"claude": ["lab-backupp"]})
    switch_llm("lab-primary", load_settings())
    unknown = "fallback-chain-unknown: tool=claude"
    runs = [runner.invoke(app, ["watch", "--once"]) for _ in range(2)]
    assert [unknown in run.stdout for run in runs] == [True, False], runs[1].output
    assert read_state() == {}  # no assistant's switch memory
    _configure(primary, backup, chains={"claude": ["lab-thirdd"]})
    again = runner.invoke(app, ["watch", "--once"]).stdout
    assert unknown in again and "lab-thirdd" in again
    _configure(primary, backup)  # fixed: nothing to say, and nothing kept
    runner.invoke(app, ["watch", "--once"])
    assert "chain_unknown" not in state_path().read_text()
    _configure(primary, backup, chains={"claude": ["lab-thirdd"]})
    assert unknown in runner.invoke(app, ["watch", "--once"]).stdout  # misspelled anew


def test_watch_once_shows_a_failed_probe_short_of_the_switch(
    isolated_home: Path, mocks: tuple[MockLLM, MockLLM]
) -> None:
    primary, backup = mocks
    _configure(primary, backup, failures_before_switch=3)
    switch_llm("lab-primary", load_settings())
    primary.fail_with(503)
    result = runner.invoke(app, ["watch", "--once"])
    assert result.exit_code == 0, result.output
    assert "probe-failed: tool=claude, profile=lab-primary" in result.stdout
    assert "reason=probe failed (1 of 3 before fallback): http-error (HTTP 503" in result.stdout


def test_a_shorter_probe_interval_applies_at_once_on_reload(
    isolated_home: Path, mocks: tuple[MockLLM, MockLLM]
) -> None:
    import yaml

    primary, backup = mocks
    _configure(primary, backup)
    switch_llm("lab-primary", load_settings())
    settings_file = isolated_home / ".mahavishnu" / "mahavishnu.yaml"
    data = yaml.safe_load(settings_file.read_text())
    write_settings({**data, "watch": {**data["watch"], "probe_interval_seconds": 120}})
    watcher = Watcher(load_settings())
    _tick(watcher)
    assert len(primary.requests_to("/v1/messages")) == 1
    write_settings(data)  # back to probes every 0.01 s
    _tick(watcher)
    _tick(watcher)
    assert len(primary.requests_to("/v1/messages")) >= 2


def test_a_failed_probe_says_what_to_do_next(
    isolated_home: Path, mocks: tuple[MockLLM, MockLLM], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next step by failure: a key refused, a quota, an endpoint that does not exist, a local
    server not running, a key not stored; in the JSON too."""
    primary, backup = mocks
    _configure(primary, backup)

    def hints(*args: str) -> list[str]:
        result = runner.invoke(app, ["ai", "test", *args, "--protocol", "anthropic", "--json"])
        assert result.exit_code == 1, result.output
        return [r["hint"] for r in json.loads(result.stdout)]

    for status, expected in (
        (403, "mahavishnu secrets set lab-primary"),
        (429, "Rate-limited or out of quota"),
        (404, "check base_url and model in `mahavishnu ai show lab-primary`"),
        (503, "The provider's side failed"),
    ):
        primary.fail_with(status)
        assert expected in hints("lab-primary")[0]
    assert "Nothing answers at http://127.0.0.1:9: start the local server" in hints("lab-dead")[0]
    monkeypatch.delenv("LAB_PRIMARY_KEY")
    assert "Run `mahavishnu secrets set lab-primary`" in hints("lab-primary")[0]
    both = runner.invoke(app, ["ai", "test", "lab-primary"])  # one next step for both protocols
    assert both.stdout.count("Run `mahavishnu secrets set lab-primary`") == 1
    assert "lab-primary (anthropic, openai): Run `mahavishnu secrets set" in both.stdout


def test_ai_test_of_an_assistant_probes_the_url_its_file_holds(
    isolated_home: Path, mocks: tuple[MockLLM, MockLLM]
) -> None:
    """A base URL edited by hand in the assistant's file since the switch is what the assistant
    calls: `ai test --tool` probed the profile's URL instead and said ok for a dead endpoint."""
    primary, backup = mocks
    _configure(primary, backup)
    switch_llm("lab-primary", load_settings())
    settings = isolated_home / ".claude" / "settings.json"
    data = json.loads(settings.read_text())
    data["env"]["ANTHROPIC_BASE_URL"] = backup.base_url  # the user points it elsewhere by hand
    settings.write_text(json.dumps(data))
    [row] = json.loads(runner.invoke(app, ["ai", "test", "--tool", "claude", "--json"]).stdout)
    assert row["profile"] == "lab-primary" and row["url"].startswith(backup.base_url), row
    assert backup.requests_to("/v1/messages") and not primary.requests_to("/v1/messages")

    data["env"]["ANTHROPIC_BASE_URL"] = "http://127.0.0.1:9"  # nothing listens there
    settings.write_text(json.dumps(data))
    dead = runner.invoke(app, ["ai", "test", "--tool", "claude"])
    assert dead.exit_code == 1, dead.output


def test_watch_once_run_again_counts_on_from_the_last_run(
    isolated_home: Path, mocks: tuple[MockLLM, MockLLM]
) -> None:
    """`watch --once` from cron or a timer: each run counted from zero, so above one failure before the
    switch it said "1 of 3" forever and never fell back (nor back), and repeated every outage report."""
    primary, backup = mocks
    _configure(primary, backup, failures_before_switch=3)
    switch_llm("lab-primary", load_settings())

    def once() -> list[dict[str, Any]]:  # a run of its own: a new watcher, what it kept is on disk
        return _tick(Watcher(load_settings()))

    primary.fail_with(503)
    assert "(1 of 3 before fallback)" in once()[0]["reason"]
    primary.fail_with(None)
    assert once() == []  # a good probe: the count starts over, and is not kept
    assert json.loads(state_path().read_text()) == {}
    primary.fail_with(503)
    assert [e["reason"][:18] for e in once() + once()] == ["probe failed (1 of", "probe failed (2 of"]
    [event] = once()
    assert (event["event"], event["from"], event["to"]) == ("fallback", "lab-primary", "lab-backup")
    primary.fail_with(None)
    assert once() == []  # one good probe of the original is not enough
    [back] = once()
    assert (back["event"], back["to"]) == ("switch-back", "lab-primary")

    backup.fail_with(429)
    primary.fail_with(500)
    events = [e for _ in range(5) for e in once()]
    assert [e["event"] for e in events] == ["probe-failed", "probe-failed", "fallback-unavailable"]
    primary.fail_with(None)
    assert once() == [] and read_state() == {}
    primary.fail_with(500)
    events = [e for _ in range(3) for e in once()]  # a new outage is reported again
    assert [e["event"] for e in events] == ["probe-failed", "probe-failed", "fallback-unavailable"]
    assert _claude_base_url(isolated_home) == primary.base_url


def test_a_manual_switch_between_runs_counts_the_new_profile_from_zero(
    isolated_home: Path, mocks: tuple[MockLLM, MockLLM]
) -> None:
    primary, backup = mocks
    _configure(primary, backup, failures_before_switch=2)
    switch_llm("lab-primary", load_settings())
    primary.fail_with(503)
    backup.fail_with(503)
    assert "(1 of 2 before fallback)" in _tick(Watcher(load_settings()))[0]["reason"]
    switch_llm("lab-backup", load_settings())  # the user picks another profile by hand
    [failed] = _tick(Watcher(load_settings()))
    assert (failed["event"], failed["profile"]) == ("probe-failed", "lab-backup")
    assert "(1 of 2 before fallback)" in failed["reason"]


def test_probe_counts_that_cannot_be_saved_are_reported_once(
    isolated_home: Path, mocks: tuple[MockLLM, MockLLM], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mahavishnu.errors import WriteFailedError
    from mahavishnu.services import fallback

    primary, backup = mocks
    _configure(primary, backup, failures_before_switch=3)
    switch_llm("lab-primary", load_settings())

    def unwritable(**parts: object) -> None:
        raise WriteFailedError("cannot write in the watch folder: No space left on device")

    monkeypatch.setattr(fallback, "_write_file", unwritable)
    primary.fail_with(503)
    watcher = Watcher(load_settings())
    events = [e for _ in range(2) for e in _tick(watcher)]
    assert [e["event"] for e in events] == ["probe-failed", "watch-error", "probe-failed"]
    assert events[1]["reason"] == (
        "cannot write in the watch folder: No space left on device: failed probes are counted by this "
        "watcher only, not by the next"
    )
    assert "(2 of 3 before fallback)" in events[2]["reason"]  # this watcher still counts


def test_probe_counts_in_fallback_json_that_are_not_counts_start_over(
    isolated_home: Path, mocks: tuple[MockLLM, MockLLM]
) -> None:
    from mahavishnu.services import fallback

    primary, backup = mocks
    _configure(primary, backup, failures_before_switch=3)
    switch_llm("lab-primary", load_settings())
    fallback.state_path().parent.mkdir(parents=True, exist_ok=True)
    fallback.state_path().write_text(
        json.dumps({"probes": {"claude": {"profile": "lab-primary", "failures": "2"}, "codex": [1]}})
    )
    primary.fail_with(503)
    [failed] = _tick(Watcher(load_settings()))
    assert "(1 of 3 before fallback)" in failed["reason"]
    assert read_state() == {}
