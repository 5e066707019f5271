"""One memory daemon, and it goes away: real processes racing for the lock, a real idle exit under
the supervisor, and a daemon the user stopped that no client starts again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mahavishnu.config import load_settings
from mahavishnu.memory.loop import daemon
from mahavishnu.memory.loop.daemon import SERVICE, socket_path
from mahavishnu.services.supervisor import Supervisor, reap

IDLE_ENV = "MAHAVISHNU_MEMORY__DAEMON_IDLE_SECONDS"

# `mahavishnu memory daemon` through the console script's entry point, at a given wall-clock time
# (so that two start together), with a warm-up that takes as long as loading a model does.
_RACER = """
import sys, time
from mahavishnu.memory.loop import daemon
daemon.Daemon.warm = lambda self, settings: time.sleep(0.5)
from mahavishnu.cli.entry import run
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
sys.argv = ["mahavishnu", "memory", "daemon"]
run()
"""


def _mahavishnu(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mahavishnu", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        reap()  # this test process is the supervised daemon's parent: collect its exit status
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    reap()
    return not Path(f"/proc/{pid}").exists()


@pytest.fixture
def on(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Supervisor:
    monkeypatch.setenv(daemon.DISABLE_ENV, "on")
    return Supervisor(load_settings())


def test_of_two_daemons_started_together_one_serves_and_the_other_exits_at_once(on: Supervisor) -> None:
    for attempt in range(10):
        at = time.time() + 1.5  # both have imported what they need by then
        racers = [
            subprocess.Popen(
                [sys.executable, "-c", _RACER, str(at)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            _wait(lambda: daemon.ping(timeout=1) is not None, 60, f"try {attempt}: no daemon answers")
            loser_code = None
            deadline = time.monotonic() + 20
            while loser_code is None and time.monotonic() < deadline:
                codes = [racer.poll() for racer in racers]
                loser_code = next((code for code in codes if code is not None), None)
                time.sleep(0.05)
            assert loser_code == 1, f"try {attempt}: both daemons run"
            [loser] = [racer for racer in racers if racer.poll() is not None]
            [winner] = [racer for racer in racers if racer.poll() is None]
            _, err = loser.communicate(timeout=10)
            assert err.splitlines() == [
                f"error: another memory daemon (pid {winner.pid}) already serves {socket_path()}"
            ], err
            found = daemon.ping()
            assert found is not None and found["pid"] == winner.pid  # the survivor holds the socket
        finally:
            for racer in racers:
                racer.terminate()
                racer.communicate(timeout=30)
        assert not socket_path().exists()


def test_it_exits_when_idle_and_the_next_client_may_start_it_again(
    on: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(IDLE_ENV, "2")
    started = on.start(SERVICE)
    socket_path().with_name("memory.starting").touch()  # as a client that started it leaves it
    try:
        pid = started.pid
        began = time.monotonic()
        while time.monotonic() - began < 3:  # requests keep it up past its idle time
            answer = daemon.request("search", {"query": "anything", "mode": "text"}, timeout=10)
            assert answer is not None and answer["ok"]
            time.sleep(0.3)
        assert not _gone(pid)
        quiet = time.monotonic()
        while not _gone(pid):  # pings (health checks) are no use: they keep nothing up
            daemon.ping(timeout=1)
            assert time.monotonic() - quiet < 30, "the daemon did not exit when idle"
            time.sleep(0.2)
        assert time.monotonic() - quiet >= 1.5
        assert not socket_path().exists() and not on.pid_path(SERVICE).exists()
        status = on.status(SERVICE)
        assert (status.state, status.desired) == ("stopped", "idle"), status  # not "dead": no crash
        assert "idle" in (status.note or "") and "idle for 2 s: exiting" in on.log_path(SERVICE).read_text()
        assert not daemon.stopped_by_user()
        assert daemon.start_in_background()  # an idle exit is no stop: the next client starts it, at once
        _wait(lambda: daemon.ping(timeout=1) is not None, 120, "the next client did not start it")
    finally:
        _wait(lambda: on.status(SERVICE, check_health=False).state != "busy", 120, "still starting")
        on.stop(SERVICE)


def test_stop_all_after_an_idle_exit_keeps_it_stopped(on: Supervisor) -> None:
    on.save_state(SERVICE, on.state(SERVICE))
    on.exited_idle(SERVICE, os.getpid(), "exited after 2 s idle")
    done = _mahavishnu("service", "stop", "all")
    assert done.returncode == 0 and f"{SERVICE}: was not running" in done.stdout, done
    assert daemon.stopped_by_user() and not daemon.start_in_background()


@pytest.fixture
def stopped(on: Supervisor) -> Iterator[Supervisor]:
    """The service started, then stopped by the user with `service stop`."""
    on.start(SERVICE)
    try:
        done = _mahavishnu("service", "stop", SERVICE)
        assert done.returncode == 0 and "stopped" in done.stdout, done
        yield on
    finally:
        on.stop(SERVICE)


def _quiet_for(seconds: float) -> None:
    """Nothing starts the daemon meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert daemon.ping(timeout=0.5) is None, "a client started the daemon the user stopped"
        time.sleep(0.2)


def test_a_daemon_the_user_stopped_stays_stopped_and_commands_say_so_once(stopped: Supervisor) -> None:
    marker = socket_path().with_name("memory.starting")
    first = _mahavishnu("memory", "search", "anything")
    assert first.returncode == 0
    assert first.stderr.splitlines() == [daemon.STOPPED_NOTE], first.stderr  # one line
    again = _mahavishnu("memory", "search", "anything")
    assert again.returncode == 0 and again.stderr == ""  # once, not on every call
    payload = json.dumps({"hook_event_name": "UserPromptSubmit", "prompt": "anything", "cwd": os.getcwd()})
    hook = _mahavishnu("memory", "context", "--tool", "claude", stdin=payload)
    assert hook.returncode == 0 and hook.stderr == ""  # a hook prints its JSON and nothing else
    assert hook.stdout == "" or isinstance(json.loads(hook.stdout), dict)
    _quiet_for(3)
    assert not marker.exists() and stopped.status(SERVICE).state == "stopped"
    # only an explicit start starts it; stopped again, the commands say so again (once)
    assert _mahavishnu("service", "start", SERVICE).returncode == 0
    assert daemon.ping() is not None
    assert _mahavishnu("service", "stop", SERVICE).returncode == 0
    assert _mahavishnu("memory", "search", "anything").stderr.splitlines() == [daemon.STOPPED_NOTE]
