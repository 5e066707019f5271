"""`mahavishnu watch` over real services: a config change restarts exactly the affected service, once;
a service that dies is restarted within its budget; a stopped one is left alone."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from testkit.ports import free_port

from mahavishnu.config import load_settings
from mahavishnu.services import procs
from mahavishnu.services.events import read_events
from mahavishnu.services.supervisor import Supervisor
from mahavishnu.services.watch import FilePoller, Watcher

from .helpers import services_settings, wait_for, web_service, write_settings


def _ticks(watcher: Watcher, seconds: float) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        events += watcher.tick()
        time.sleep(0.02)
    return events


def test_file_poller_reports_content_changes_only(tmp_path: Path) -> None:
    path = tmp_path / "app.toml"
    path.write_text("a = 1\n")
    poller = FilePoller()
    assert poller.changed([path]) == []  # the first look is the baseline
    os.utime(path, None)
    path.write_text("a = 1\n")  # rewritten, same bytes
    assert poller.changed([path]) == []
    path.write_text("a = 2\n")
    assert poller.changed([path]) == [path]
    path.unlink()
    assert poller.changed([path]) == [path]


def test_a_burst_of_config_writes_restarts_only_the_affected_service_exactly_once(tmp_path: Path) -> None:
    config = tmp_path / "web.toml"
    config.write_text("greeting = 'hello'\n")
    definitions = {
        "web": web_service(free_port(), config_files=[str(config)]),
        "other": web_service(free_port()),
    }
    write_settings(services_settings(definitions, debounce_seconds=0.3))
    supervisor = Supervisor(load_settings())
    web, other = supervisor.start("web"), supervisor.start("other")
    try:
        watcher = Watcher(load_settings())
        assert watcher.tick() == []
        for n in range(4):  # several quick writes: one restart, after they stop
            config.write_text(f"greeting = 'hello {n}'\n")
            assert watcher.tick() == []
            time.sleep(0.05)
        events = _ticks(watcher, 1.0)
        assert [(e["event"], e["service"], e["reason"], e["ok"]) for e in events] == [
            ("service-restart", "web", "config-change", True)
        ]
        assert events[0]["files"] == [str(config)]
        assert supervisor.status("web").pid not in (None, web.pid)
        assert supervisor.status("web").restarts == 1
        assert supervisor.status("other").pid == other.pid
        config.write_text(config.read_text())  # same bytes again: no restart
        assert _ticks(watcher, 0.5) == []
        assert read_events(kind="service-restart") == events
    finally:
        supervisor.stop("web")
        supervisor.stop("other")


def test_a_stopped_service_is_not_restarted_by_a_config_change(tmp_path: Path) -> None:
    config = tmp_path / "web.toml"
    config.write_text("x = 1\n")
    write_settings(services_settings({"web": web_service(free_port(), config_files=[str(config)])}))
    watcher = Watcher(load_settings())
    watcher.tick()
    config.write_text("x = 2\n")
    assert _ticks(watcher, 0.6) == []
    assert Supervisor(load_settings()).status("web").state == "stopped"


def test_a_service_that_dies_is_restarted_until_its_budget_is_spent() -> None:
    port = free_port()
    write_settings(services_settings({"web": web_service(port, max_restarts=1)}))
    supervisor = Supervisor(load_settings())
    first = supervisor.start("web")
    try:
        watcher = Watcher(load_settings())
        os.kill(first.pid, signal.SIGKILL)
        events = wait_for(lambda: watcher.tick(), timeout=10)
        assert [(e["event"], e["reason"], e["ok"]) for e in events] == [("service-restart", "exited", True)]
        second = supervisor.status("web")
        assert second.state == "running" and second.healthy and second.pid == events[0]["pid"] != first.pid
        os.kill(events[0]["pid"], signal.SIGKILL)
        failed = wait_for(lambda: watcher.tick(), timeout=10)
        assert failed[0]["event"] == "service-failed" and "1 restarts" in failed[0]["reason"]
        assert supervisor.status("web").state == "failed"
        assert _ticks(watcher, 0.3) == []
    finally:
        supervisor.stop("web")


def test_a_service_stopped_on_purpose_or_with_restart_no_stays_down() -> None:
    write_settings(
        services_settings({"web": web_service(free_port()), "once": web_service(free_port(), restart="no")})
    )
    supervisor = Supervisor(load_settings())
    supervisor.start("web")
    once = supervisor.start("once")
    watcher = Watcher(load_settings())
    supervisor.stop("web")
    os.kill(once.pid, signal.SIGKILL)
    events = wait_for(lambda: watcher.tick(), timeout=10)
    assert [(e["event"], e["service"]) for e in events] == [("service-failed", "once")]
    assert "restart policy is 'no'" in events[0]["reason"]
    assert _ticks(watcher, 0.3) == []
    assert supervisor.status("web").state == "stopped" and supervisor.status("once").state == "stopped"


def test_failed_health_checks_trigger_a_restart(tmp_path: Path) -> None:
    flag = tmp_path / "ready"
    flag.touch()
    spec = {
        "command": [sys.executable, "-c", "import time; time.sleep(60)"],
        "health": {"command": ["test", "-f", str(flag)]},
        "unhealthy_after": 2,
        "start_timeout_seconds": 0.5,
    }
    write_settings(services_settings({"job": spec}, health_interval_seconds=0.05))
    supervisor = Supervisor(load_settings())
    supervisor.start("job")
    watcher = Watcher(load_settings())
    assert _ticks(watcher, 0.2) == []
    flag.unlink()
    events = wait_for(lambda: watcher.tick(), timeout=10)
    assert (events[0]["event"], events[0]["reason"], events[0]["ok"]) == (
        "service-restart",
        "unhealthy",
        False,
    )
    assert "failed its command health check" in events[0]["error"]
    assert supervisor.status("job").state == "stopped"  # the failed start stopped what it started


def test_watch_once_and_watch_events_on_the_command_line() -> None:
    from typer.testing import CliRunner

    from mahavishnu.cli.main import app

    runner = CliRunner()
    write_settings(services_settings({"web": web_service(free_port())}))
    supervisor = Supervisor(load_settings())
    first = supervisor.start("web")
    os.kill(first.pid, signal.SIGKILL)
    wait_for(lambda: supervisor.running("web") is None)
    try:
        result = runner.invoke(app, ["watch", "--once", "--json"])
        assert result.exit_code == 0, result.output
        [event] = [json.loads(line) for line in result.stdout.splitlines()]
        assert (event["event"], event["service"], event["reason"]) == ("service-restart", "web", "exited")
        shown = runner.invoke(app, ["watch", "events", "--json"])
        assert json.loads(shown.stdout) == [event]
        assert "service-restart" in runner.invoke(app, ["watch", "events"]).stdout
        assert runner.invoke(app, ["watch", "--once"]).stdout.startswith("nothing to do")
        from mahavishnu.services.watch import single_watcher

        with single_watcher():  # as if another watcher ran: a second one is refused, not doubled
            twice = runner.invoke(app, ["watch", "--once"])
        assert twice.exit_code == 1 and "already running" in twice.stderr
    finally:
        supervisor.stop("web")


def test_a_changed_definition_in_the_settings_restarts_that_service_and_status_tells() -> None:
    definitions = {"web1": web_service(free_port()), "other": web_service(free_port())}
    write_settings(services_settings(definitions))
    supervisor = Supervisor(load_settings())
    web1, other = supervisor.start("web1"), supervisor.start("other")
    try:
        watcher = Watcher(load_settings())
        assert watcher.tick() == []
        settings_file = write_settings(
            services_settings({**definitions, "web1": {**definitions["web1"], "env": {"X": "v2"}}})
        )
        note = Supervisor(load_settings()).status("web1").note
        assert note is not None and "older definition" in note and "service restart web1" in note
        events = _ticks(watcher, 1.0)
        assert [(e["event"], e.get("service"), e.get("reason")) for e in events] == [
            ("settings-reloaded", None, None),
            ("service-restart", "web1", "definition-changed"),
        ]
        assert events[0]["files"] == events[1]["files"] == [str(settings_file)]
        restarted = Supervisor(load_settings()).status("web1")
        assert restarted.pid not in (None, web1.pid) and restarted.note is None
        assert procs.environ(restarted.pid)["X"] == "v2"
        assert supervisor.status("other").pid == other.pid
    finally:
        supervisor.stop("web1")
        supervisor.stop("other")


def test_watch_prints_an_event_without_details_with_no_trailing_colon(capsys: Any) -> None:
    from mahavishnu.cli.watch import _emit

    _emit({"time": "T", "event": "settings-reloaded"}, as_json=False)
    assert capsys.readouterr().out == "T settings-reloaded\n"


def test_watch_events_wants_at_least_one_line() -> None:
    from typer.testing import CliRunner

    from mahavishnu.cli.main import app

    assert CliRunner().invoke(app, ["watch", "events", "-n", "0"]).exit_code == 2


def test_watch_events_with_none_recorded_says_so_rather_than_print_an_empty_table() -> None:
    from typer.testing import CliRunner

    from mahavishnu.cli.main import app

    runner = CliRunner()
    none = runner.invoke(app, ["watch", "events"])
    assert none.exit_code == 0 and none.stdout.startswith("no event recorded yet: `mahavishnu watch`")
    assert runner.invoke(app, ["watch", "events", "--kind", "fallback"]).stdout.startswith(
        "no fallback event recorded yet"
    )
    assert json.loads(runner.invoke(app, ["watch", "events", "--json"]).stdout) == []
