"""`service stop` racing a start, another stop, an on-demand start or a watcher's restart of the same
service: each takes the service's lock, so what one reports is what happened, and a stop holds
against the automatic starts that looked before it (the memory daemon's clients, ``mahavishnu watch``)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from testkit.ports import free_port

from mahavishnu.config import load_settings
from mahavishnu.errors import ServiceError
from mahavishnu.services.supervisor import Supervisor, services_dir

from .helpers import SERVER, ours, services_settings, wait_for, web_service, write_settings


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mahavishnu", "service", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _done(proc: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out + err


def _slow_web(port: int) -> dict[str, object]:
    """A web service that answers its health check only after 1.5 s: a start takes that long."""
    wait_then_serve = ["sh", "-c", 'sleep 1.5; exec "$0" "$@"', sys.executable, str(SERVER), str(port)]
    return {**web_service(port), "command": wait_then_serve}


def _held_lock(tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    """Another command holding ``name``'s lock until killed."""
    services_dir().mkdir(parents=True, exist_ok=True)
    ready = tmp_path / "holding"
    lock = str(services_dir() / f"{name}.lock")
    hold = f"import filelock, pathlib, time; held = filelock.FileLock({lock!r}); held.acquire(); "
    hold += f"pathlib.Path({str(ready)!r}).touch(); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", hold])
    wait_for(ready.exists)
    return holder


def _stopped_by_user(supervisor: Supervisor, name: str) -> None:
    """What `service stop` leaves behind it (a stop that came while the lock was held elsewhere)."""
    state = supervisor.state(name)
    state.desired, state.stopped_by_user = "stopped", True
    supervisor.save_state(name, state)


def test_a_stop_during_a_start_waits_for_it_then_stops_it_and_says_so() -> None:
    write_settings(services_settings({"web": _slow_web(free_port())}))
    starting = _cli("start", "web")
    wait_for(lambda: Supervisor(load_settings()).pid_path("web").exists())
    stopping = _cli("stop", "web")
    (start_code, started), (stop_code, stopped) = _done(starting), _done(stopping)
    assert start_code == 0 and "web: started" in started, started
    assert stop_code == 0 and "web: stopped (SIGTERM)" in stopped, stopped
    assert Supervisor(load_settings()).status("web").state == "stopped" and not ours()


def test_two_stops_at_once_one_stops_the_other_says_it_was_not_running() -> None:
    write_settings(services_settings({"web": web_service(free_port(), "--ignore-term")}))
    Supervisor(load_settings()).start("web")  # a stop takes 2 s (SIGTERM ignored, then SIGKILL)
    first, second = _cli("stop", "web"), _cli("stop", "web")
    said = sorted(text.strip() for _, text in (_done(first), _done(second)))
    assert said == ["web: stopped (SIGTERM, SIGKILL)", "web: was not running"], said
    assert not ours()


def test_an_on_demand_start_that_looked_before_a_stop_does_not_start_it(tmp_path: Path) -> None:
    """The memory daemon's client checks that the service was not stopped, then launches `service
    start --on-demand`, which waits for the lock: a `service stop` in between must hold."""
    write_settings(services_settings({"web": web_service(free_port())}))
    supervisor = Supervisor(load_settings())
    holder = _held_lock(tmp_path, "web")
    try:
        starting = _cli("start", "web", "--on-demand")
        time.sleep(1.0)  # it is waiting for the lock
        _stopped_by_user(supervisor, "web")
    finally:
        holder.kill()
        holder.wait()
    code, said = _done(starting)
    assert code == 1 and "was stopped with `service stop`: not started on demand" in said, said
    assert "Traceback" not in said
    assert supervisor.running("web") is None and not ours()
    assert supervisor.state("web").stopped_by_user


def test_an_explicit_start_still_starts_a_stopped_service() -> None:
    write_settings(services_settings({"web": web_service(free_port())}))
    supervisor = Supervisor(load_settings())
    _stopped_by_user(supervisor, "web")
    started = supervisor.start("web")
    try:
        assert not started.already_running and supervisor.state("web").desired == "running"
    finally:
        supervisor.stop("web")


@pytest.mark.parametrize("reason", ["exited", "unhealthy", "config-change"])
def test_a_watchers_restart_after_a_stop_does_not_start_it_again(reason: str) -> None:
    """The watcher sees the service meant to run, then takes the lock: a stop may have come first."""
    write_settings(services_settings({"web": web_service(free_port())}))
    supervisor = Supervisor(load_settings())
    supervisor.start("web")
    supervisor.stop("web")
    with pytest.raises(ServiceError, match="stopped meanwhile: not restarted"):
        supervisor.restart("web", reason=reason)
    assert supervisor.running("web") is None and supervisor.state("web").desired == "stopped"
    assert not ours()


def test_the_daemon_clients_start_is_on_demand(monkeypatch: pytest.MonkeyPatch) -> None:
    from mahavishnu.memory.loop import daemon

    launched: list[list[str]] = []
    monkeypatch.setenv("MAHAVISHNU_DAEMON", "on")
    monkeypatch.setattr(subprocess, "Popen", lambda argv, **_: launched.append(list(argv)))
    assert daemon.start_in_background()
    assert launched and launched[0][-4:] == ["service", "start", daemon.SERVICE, "--on-demand"]
