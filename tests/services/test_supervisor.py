"""The supervisor against real child processes: a loopback HTTP server started in its own process
group, health-checked, killed from outside, restarted and stopped, and never a process it did not start."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from testkit.ports import free_port
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.errors import ServiceStartError, UnknownServiceError
from mahavishnu.services import procs
from mahavishnu.services.supervisor import Supervisor

from .helpers import services_settings, wait_for, web_service, write_settings

runner = CliRunner()


def _supervisor(**definitions: dict[str, object]) -> Supervisor:
    write_settings(services_settings(definitions))
    return Supervisor(load_settings())


def _get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
        return str(response.read().decode())


def _answers(port: int) -> bool:
    try:
        return _get(port, "/health") == "ok"
    except OSError:
        return False


def test_start_runs_the_service_in_its_own_group_and_waits_for_health() -> None:
    port = free_port()
    supervisor = _supervisor(web=web_service(port))
    started = supervisor.start("web")
    try:
        assert not started.already_running and started.health == "HTTP 200"
        assert _get(port, "/pid") == str(started.pid)
        stat = procs.stat(started.pid)
        assert stat is not None and stat.pgrp == started.pid and stat.session == started.pid
        record = json.loads(supervisor.pid_path("web").read_text())
        assert record["pid"] == started.pid and record["start_time"] == stat.start_time
        status = supervisor.status("web")
        assert (status.state, status.pid, status.healthy, status.restarts) == (
            "running",
            started.pid,
            True,
            0,
        )
        assert status.uptime_seconds is not None and status.uptime_seconds >= 0
        assert supervisor.start("web").already_running
    finally:
        supervisor.stop("web")
    assert not supervisor.pid_path("web").exists()
    assert supervisor.status("web").state == "stopped"


def test_status_answers_from_a_read_only_services_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Taking a service's lock opens its lock file for writing: on a read-only folder (a disk
    remounted read-only) `service status` failed whole, "cannot use ….lock: Read-only file
    system", while the services it should have shown ran on."""
    supervisor = _supervisor(web=web_service(free_port()))
    started = supervisor.start("web")
    pid_file = supervisor.pid_path("web")

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(supervisor.path("web", ".lock")))

    try:
        with monkeypatch.context() as patched:
            patched.setattr(Supervisor, "locked", read_only)
            assert supervisor.status("web").state == "running"
            os.kill(started.pid, signal.SIGKILL)
            status = wait_for(lambda: (s := supervisor.status("web")).state == "dead" and s)
            assert "left (its folder is read-only)" in (status.note or "") and pid_file.exists()
        status = supervisor.status("web")  # writable again: the stale file goes
        assert status.state == "dead" and "removed" in (status.note or "") and not pid_file.exists()
    finally:
        supervisor.stop("web")


def test_a_service_killed_from_outside_shows_dead_its_stale_pid_file_goes_and_restart_works() -> None:
    port = free_port()
    supervisor = _supervisor(web=web_service(port))
    first = supervisor.start("web")
    os.kill(first.pid, signal.SIGKILL)  # the crash; we started this process
    status = wait_for(lambda: (s := supervisor.status("web")).state == "dead" and s)
    assert status.pid is None and status.healthy is False and "stale" in (status.note or "")
    assert not supervisor.pid_path("web").exists()
    assert supervisor.status("web").state == "stopped"  # cleaned once, then simply not running
    assert supervisor.state("web").desired == "running"  # still meant to run: the watcher restarts it
    second = supervisor.restart("web")
    try:
        assert second.pid != first.pid and _get(port, "/health") == "ok"
        assert supervisor.status("web").restarts == 1
    finally:
        supervisor.stop("web")


def _started_with_a_grandchild(tmp_path: Path) -> tuple[Supervisor, int, int]:
    """The web service started with a grandchild in its group: (supervisor, leader, grandchild)."""
    child_file = tmp_path / "grandchild.pid"
    supervisor = _supervisor(web=web_service(free_port(), "--grandchild", str(child_file)))
    started = supervisor.start("web")
    return supervisor, started.pid, int(wait_for(child_file.read_text))


def test_stop_terminates_the_whole_group_including_a_grandchild(tmp_path: Path) -> None:
    supervisor, leader, grandchild = _started_with_a_grandchild(tmp_path)
    assert procs.alive(grandchild) and procs.stat(grandchild).pgrp == leader  # type: ignore[union-attr]
    stopped = supervisor.stop("web")
    assert stopped.was_running and stopped.signals == ["SIGTERM"]
    assert not procs.alive(leader) and not procs.alive(grandchild)
    assert "mahavishnu: stopped (SIGTERM)" in supervisor.log_path("web").read_text()


def test_start_after_a_leader_died_ends_the_group_it_left_first(tmp_path: Path) -> None:
    supervisor, leader, grandchild = _started_with_a_grandchild(tmp_path)
    os.kill(leader, signal.SIGKILL)  # the leader dies; its grandchild lives on in the group
    status = wait_for(lambda: (s := supervisor.status("web")).state == "dead" and s)
    assert "leader gone, 1 process of its group still running" in (status.note or "")
    second = supervisor.start("web")
    try:
        assert not procs.alive(grandchild) and second.pid != leader
    finally:
        supervisor.stop("web")


def test_a_health_check_another_program_answers_is_no_start() -> None:
    port = free_port()
    supervisor = _supervisor(web=web_service(port))
    by_hand = subprocess.Popen([*web_service(port)["command"]], start_new_session=True)
    try:
        wait_for(lambda: _answers(port))
        with pytest.raises(ServiceStartError, match="already answers") as info:
            supervisor.start("web")
        assert "another program holds its address" in info.value.message
        assert not supervisor.pid_path("web").exists() and by_hand.poll() is None
    finally:
        by_hand.kill()
        by_hand.wait()


def test_status_answers_at_once_while_another_command_holds_the_service(tmp_path: Path) -> None:
    from mahavishnu.services.supervisor import services_dir

    supervisor = _supervisor(web=web_service(free_port()))
    services_dir().mkdir(parents=True, exist_ok=True)
    ready = tmp_path / "holding"
    lock = str(services_dir() / "web.lock")
    hold = f"import filelock, pathlib, time; held = filelock.FileLock({lock!r}); held.acquire(); "
    hold += f"pathlib.Path({str(ready)!r}).touch(); time.sleep(30)"
    holder = subprocess.Popen([sys.executable, "-c", hold])
    try:
        wait_for(ready.exists)
        began = time.monotonic()
        status = supervisor.status("web")
        assert status.state == "busy" and time.monotonic() - began < 10  # not the lock's ~50 s wait
        assert "another command" in (status.note or "")
    finally:
        holder.kill()
        holder.wait()


def test_stop_escalates_to_sigkill_after_the_timeout() -> None:
    port = free_port()
    supervisor = _supervisor(web=web_service(port, "--ignore-term", stop_timeout_seconds=0.3))
    started = supervisor.start("web")
    began = time.monotonic()
    stopped = supervisor.stop("web")
    assert stopped.signals == ["SIGTERM", "SIGKILL"] and time.monotonic() - began >= 0.3
    assert not procs.alive(started.pid)


def test_a_pid_file_naming_an_unrelated_process_is_never_signalled() -> None:
    supervisor = _supervisor(web=web_service(free_port()))
    path = supervisor.pid_path("web")
    path.parent.mkdir(parents=True, exist_ok=True)
    bystander = subprocess.Popen(["sleep", "30"], start_new_session=True)  # a group leader, like ours
    try:
        for pid in (os.getpid(), bystander.pid):  # the test runner itself, and another live process
            real = procs.start_time(pid)
            record = {"pid": pid, "start_time": str(int(real or 0) + 1), "started_at": 0, "token": "x"}
            path.write_text(json.dumps({**record, "command": ["sleep"]}))
            stopped = supervisor.stop("web")
            assert (stopped.was_running, stopped.signals, stopped.stale_cleaned) == (False, [], True)
            assert not path.exists() and procs.alive(pid)
            path.write_text(json.dumps({**record, "command": ["sleep"]}))
            assert supervisor.status("web").state == "dead" and procs.alive(pid)
        path.write_text("not json")
        assert supervisor.stop("web").stale_cleaned and procs.alive(bystander.pid)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_a_pid_file_naming_another_program_with_its_start_time_is_stale() -> None:
    """A PID file naming another live program with its true start time (forged, or copied) made
    `service status` say the service ran, and `service stop` signal that program's group."""
    supervisor = _supervisor(web=web_service(free_port()))
    path = supervisor.pid_path("web")
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = subprocess.Popen(["sleep", "30"])  # no token, and no session of its own
    token = {**os.environ, "MAHAVISHNU_SERVICE_TOKEN": "another"}  # another service's
    leader = subprocess.Popen(["sleep", "30"], start_new_session=True, env=token)
    try:
        for bystander in (plain, leader):
            real = procs.start_time(bystander.pid)
            record = {"pid": bystander.pid, "start_time": real, "started_at": 0, "token": "x"}
            path.write_text(json.dumps({**record, "command": ["sleep"], "boot_id": procs.boot_id()}))
            assert supervisor.status("web").state == "dead" and not path.exists()
            path.write_text(json.dumps({**record, "command": ["sleep"], "boot_id": procs.boot_id()}))
            assert supervisor.stop("web").stale_cleaned and bystander.poll() is None
    finally:
        for bystander in (plain, leader):
            bystander.kill()
            bystander.wait()


def test_a_service_that_rewrote_its_environment_still_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A program that drops our token from its environment (one exec'd with a clean one, or that
    rewrote it for its title) is still known as ours: the session it leads, as ours."""
    from mahavishnu.services import supervisor as module

    service = web_service(free_port())
    service["command"] = ["env", "-u", "MAHAVISHNU_SERVICE_TOKEN", *service["command"]]
    supervisor = _supervisor(web=service)
    started = supervisor.start("web")
    try:
        assert "MAHAVISHNU_SERVICE_TOKEN" not in procs.environ(started.pid)
        with monkeypatch.context() as patched:
            patched.setattr(module, "_children", {})  # as another command sees it: not its child
            assert supervisor.status("web").state == "running"
    finally:
        supervisor.stop("web")
    assert not procs.alive(started.pid)


def test_a_service_that_exits_at_once_fails_to_start_with_its_last_log_lines() -> None:
    command = [sys.executable, "-c", "import sys; print('boom: no config'); sys.exit(3)"]
    supervisor = _supervisor(bad={"command": command})
    with pytest.raises(ServiceStartError) as caught:
        supervisor.start("bad")
    assert "exited with status 3" in caught.value.message
    assert "boom: no config" in caught.value.log_tail
    assert not supervisor.pid_path("bad").exists() and supervisor.state("bad").desired == "stopped"


def test_a_service_that_never_gets_healthy_is_stopped_and_reported() -> None:
    port = free_port()
    supervisor = _supervisor(web=web_service(port, "--unhealthy", start_timeout_seconds=0.6))
    with pytest.raises(
        ServiceStartError, match=r"failed its http health check for 0.6 s: HTTP 503"
    ) as caught:
        supervisor.start("web")
    assert any("listening on" in line for line in caught.value.log_tail)
    assert not supervisor.pid_path("web").exists()  # and the fixture checks the process is gone


def test_unknown_services_are_named_errors() -> None:
    supervisor = _supervisor(web=web_service(free_port()))
    with pytest.raises(UnknownServiceError, match=r"no service named 'nope' \(declared: web\)"):
        supervisor.start("nope")
    result = runner.invoke(app, ["service", "stop", "nope"])
    assert result.exit_code == 1 and result.stderr.startswith("error: no service named 'nope'")


def test_service_status_with_no_service_declared_says_where_to_declare_one() -> None:
    write_settings(services_settings({}))
    result = runner.invoke(app, ["service", "status"])
    assert result.exit_code == 0
    assert result.stdout.startswith("no service declared: declare one under services.definitions in ")
    assert json.loads(runner.invoke(app, ["service", "status", "--json"]).stdout) == []


def test_the_service_commands_start_report_log_and_stop() -> None:
    port = free_port()
    write_settings(services_settings({"web": web_service(port), "other": web_service(free_port())}))
    started = runner.invoke(app, ["service", "start", "web"])
    try:
        assert started.exit_code == 0, started.output
        assert "web: started, pid" in started.stdout
        rows = json.loads(runner.invoke(app, ["service", "status", "--json"]).stdout)
        by_name = {row["name"]: row for row in rows}
        assert by_name["web"]["state"] == "running" and by_name["web"]["healthy"] is True
        assert by_name["other"]["state"] == "stopped"
        assert "running" in runner.invoke(app, ["service", "status"]).stdout
        logs = runner.invoke(app, ["service", "logs", "web", "-n", "50"])
        assert logs.exit_code == 0 and f"listening on 127.0.0.1:{port}" in logs.stdout
        restarted = runner.invoke(app, ["service", "restart", "web", "--json"])
        assert json.loads(restarted.stdout)[0]["ok"] is True
    finally:
        stopped = runner.invoke(app, ["service", "stop", "all"])
    assert stopped.exit_code == 0 and "web: stopped (SIGTERM)" in stopped.stdout


def test_starting_the_dashboard_as_a_service_prints_its_login_url() -> None:
    from mahavishnu.paths import mahavishnu_argv
    from mahavishnu.services.definitions import UI_SERVICE, dashboard_record

    port = free_port()
    ui = {
        "command": mahavishnu_argv("ui", "--no-browser", "--port", str(port)),
        "health": {"tcp": f"127.0.0.1:{port}"},
    }
    write_settings(services_settings({UI_SERVICE: ui}))
    try:
        started = runner.invoke(app, ["service", "start", UI_SERVICE])
        assert started.exit_code == 0, started.output
        record = dashboard_record()
        assert record is not None and f"open the dashboard: {record.url}" in started.stdout
        again = runner.invoke(app, ["service", "start", UI_SERVICE])
        assert "already running" in again.stdout and record.url in again.stdout
    finally:
        runner.invoke(app, ["service", "stop", "all"])


def test_start_all_reports_each_failure_and_exits_non_zero() -> None:
    bad = {"command": [sys.executable, "-c", "print('cannot bind'); raise SystemExit(1)"]}
    write_settings(services_settings({"web": web_service(free_port()), "bad": bad}))
    result = runner.invoke(app, ["service", "start", "all"])
    try:
        assert result.exit_code == 1
        assert "web: started" in result.stdout
        assert "bad: service 'bad' exited with status 1" in result.stderr and "cannot bind" in result.stderr
        assert "1 of 2 services failed to start" in result.stderr
    finally:
        runner.invoke(app, ["service", "stop", "all"])


def test_start_all_goes_on_past_a_busy_service_and_says_what_it_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A service whose lock another command holds raised out of the loop: the services started
    before it were never said, nor those after it started."""
    from mahavishnu.errors import ServiceError

    held = {"command": [sys.executable, "-c", "import time; time.sleep(60)"]}
    write_settings(services_settings({"held": held, "web": web_service(free_port())}))
    start = Supervisor.start

    def busy_for_held(self: Supervisor, name: str, **kwargs: Any) -> Any:
        if name == "held":
            raise ServiceError("service 'held' is busy: another command holds its lock")
        return start(self, name, **kwargs)

    monkeypatch.setattr(Supervisor, "start", busy_for_held)
    result = runner.invoke(app, ["service", "start", "all"])
    try:
        assert result.exit_code == 1
        assert "web: started" in result.stdout
        assert "held: service 'held' is busy" in result.stderr
        assert "1 of 2 services failed to start" in result.stderr
    finally:
        runner.invoke(app, ["service", "stop", "all"])


def test_a_child_that_exits_between_two_looks_is_reported_with_its_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CI saw "exited before it was healthy" without the status: the child was still running when
    the start polled it and a zombie when /proc was read, so its status was never collected."""
    from mahavishnu.services import supervisor as module

    def alive_unpolled(record: module.PidRecord) -> bool:  # the /proc look alone, the poll missed
        time.sleep(0.5)  # (the child has exited by now: a zombie until polled)
        return False

    monkeypatch.setattr(module, "_alive", alive_unpolled)
    command = [sys.executable, "-c", "raise SystemExit(4)"]
    supervisor = _supervisor(bad={"command": command})
    with pytest.raises(ServiceStartError, match="exited with status 4 before it was healthy"):
        supervisor.start("bad")


def test_a_failed_start_is_shown_by_status_with_only_this_runs_log_lines() -> None:
    command = [sys.executable, "-c", "import sys; print('boom: no config'); sys.exit(3)"]
    supervisor = _supervisor(bad={"command": command})
    supervisor.log_path("bad").parent.mkdir(parents=True, exist_ok=True)
    supervisor.log_path("bad").write_text("old: a line of an earlier run\n")
    with pytest.raises(ServiceStartError) as caught:
        supervisor.start("bad")
    assert "boom: no config" in caught.value.log_tail
    assert not any("earlier run" in line for line in caught.value.log_tail)
    status = supervisor.status("bad")
    assert status.state == "stopped" and "exited with status 3" in (status.note or "")
    assert "exited with status 3" in runner.invoke(app, ["service", "status", "bad"]).stdout


def test_start_of_a_running_service_failing_its_health_check_says_so_and_fails(tmp_path: Path) -> None:
    flag = tmp_path / "ready"
    flag.touch()
    job = {"command": [sys.executable, "-c", "import time; time.sleep(60)"]}
    supervisor = _supervisor(job={**job, "health": {"command": ["test", "-f", str(flag)]}})
    started = supervisor.start("job")
    try:
        flag.unlink()
        again = runner.invoke(app, ["service", "start", "job"])
        assert again.exit_code == 1
        assert f"already running (pid {started.pid}) but failing its health check: exit status 1" in (
            again.stderr
        )
        assert "service restart job" in again.stderr
    finally:
        supervisor.stop("job")


def test_ctrl_c_while_waiting_for_the_health_check_leaves_it_running_tracked_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    supervisor = _supervisor(web=web_service(free_port()))

    def interrupted(*args: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(Supervisor, "_wait_healthy", interrupted)
    try:
        result = runner.invoke(app, ["service", "start", "web"])
        record = supervisor.running("web")
        assert result.exit_code == 130 and record is not None
        assert f"it was started (pid {record.pid}) and is still tracked" in result.stderr
        assert "`mahavishnu service stop web` stops it" in result.stderr
        assert supervisor.state("web").desired == "running"  # the watcher looks after it
    finally:
        supervisor.stop("web")


def test_a_pid_file_from_another_boot_is_stale_even_if_pid_and_start_time_match() -> None:
    supervisor = _supervisor(web=web_service(free_port()))
    started = supervisor.start("web")
    recorded = json.loads(supervisor.pid_path("web").read_text())
    supervisor.stop("web")
    assert procs.boot_id() and recorded["boot_id"] == procs.boot_id()
    bystander = subprocess.Popen(["sleep", "30"], start_new_session=True)  # as if after a reboot
    try:
        same = {**recorded, "pid": bystander.pid, "start_time": procs.start_time(bystander.pid)}
        supervisor.pid_path("web").write_text(json.dumps({**same, "boot_id": "an-earlier-boot"}))
        assert supervisor.status("web").state == "dead" and not supervisor.pid_path("web").exists()
        supervisor.pid_path("web").write_text(json.dumps({**same, "boot_id": "an-earlier-boot"}))
        assert supervisor.stop("web").stale_cleaned and bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
    assert started.pid != bystander.pid


def test_logs_wants_at_least_one_line() -> None:
    _supervisor(web=web_service(free_port()))
    result = runner.invoke(app, ["service", "logs", "web", "-n", "-5"])
    assert result.exit_code == 2 and "Invalid value for '--lines'" in result.stderr


def test_restart_all_leaves_services_stopped_on_purpose_stopped() -> None:
    write_settings(
        services_settings(
            {
                "web": web_service(free_port()),
                "other": web_service(free_port()),
                "idle": web_service(free_port()),
            }
        )
    )
    supervisor = Supervisor(load_settings())
    web = supervisor.start("web")
    supervisor.start("other")
    supervisor.stop("other")
    try:
        result = runner.invoke(app, ["service", "restart", "all", "--json"])
        assert result.exit_code == 0, result.output
        assert [(r["name"], r["ok"]) for r in json.loads(result.stdout)] == [("web", True)]
        assert supervisor.status("web").pid != web.pid
        assert supervisor.status("other").state == supervisor.status("idle").state == "stopped"
        named = runner.invoke(app, ["service", "restart", "other"])  # named: restarted regardless
        assert named.exit_code == 0 and supervisor.status("other").state == "running"
        assert "other: started (it was not running), pid" in named.stdout, (
            named.stdout
        )  # (it said "restarted")
        again = runner.invoke(app, ["service", "restart", "other"])
        assert "other: restarted, pid" in again.stdout, again.stdout
        never = runner.invoke(app, ["service", "logs", "idle"])  # (it printed nothing)
        assert never.exit_code == 0 and "idle: no log yet (it has not run)" in never.stdout, never.output
    finally:
        runner.invoke(app, ["service", "stop", "all"])


def test_logs_of_a_huge_line_read_and_show_only_its_end(tmp_path: Path) -> None:
    """A line of megabytes (output without a newline) was read whole into memory and printed whole:
    `service logs -n 5` of a 300 MB one ran for minutes."""
    from mahavishnu.services.supervisor import tail_lines

    limit = 64 * 1024  # a line's most read and shown
    log = tmp_path / "web.log"
    log.write_bytes(b"start\n" + b"y" * 20_000_000 + b"\nend\n")
    assert tail_lines(log, 5) == ["…" + "y" * limit, "end"]
    log.write_bytes(b"start\n" + b"z" * (limit + 10) + b"\nend\n")
    assert tail_lines(log, 5) == ["start", "z" * limit + "… (10 more bytes)", "end"]
    assert tail_lines(log, 1) == ["end"]


_DAEMON = """
import os, pathlib, sys, time
written = pathlib.Path(sys.argv[1])
if os.fork() == 0:
    os.setsid()  # leaves the service's process group
    written.with_suffix(".tmp").write_text(str(os.getpid()))
    written.with_suffix(".tmp").rename(written)
    time.sleep(60)
    sys.exit()
while not written.exists():
    time.sleep(0.01)
if sys.argv[2] == "stay":
    time.sleep(60)
"""


def test_stop_ends_a_process_that_left_the_services_group(tmp_path: Path) -> None:
    """A process forked into a session of its own (a daemon) ran on, untracked, after the stop."""
    pid_file = tmp_path / "daemon.pid"
    supervisor = _supervisor(svc={"command": [sys.executable, "-c", _DAEMON, str(pid_file), "stay"]})
    leader = supervisor.start("svc").pid
    daemon = int(pid_file.read_text())  # written before the start's grace of 0.5 s ends
    assert procs.stat(daemon).pgrp != leader  # type: ignore[union-attr]
    stopped = supervisor.stop("svc")
    assert stopped.was_running and stopped.signals == ["SIGTERM"]
    assert not procs.alive(leader) and not procs.alive(daemon)


def test_stop_ends_a_process_that_left_the_group_without_pidfds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel before 5.3 has no pidfd_open (ENOSYS): the stop failed with an OSError there."""

    def no_pidfd(pid: int, flags: int = 0) -> int:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    pid_file = tmp_path / "daemon.pid"
    supervisor = _supervisor(svc={"command": [sys.executable, "-c", _DAEMON, str(pid_file), "stay"]})
    leader = supervisor.start("svc").pid
    daemon = int(pid_file.read_text())
    assert supervisor.stop("svc").was_running
    assert not procs.alive(leader) and not procs.alive(daemon)


def test_a_failed_start_ends_the_daemon_it_forked(tmp_path: Path) -> None:
    """A command that daemonizes (forks, then exits) failed to start, and left its daemon running."""
    pid_file = tmp_path / "daemon.pid"
    supervisor = _supervisor(svc={"command": [sys.executable, "-c", _DAEMON, str(pid_file), "exit"]})
    with pytest.raises(ServiceStartError, match="exited with status 0 before it was healthy"):
        supervisor.start("svc")
    daemon = int(pid_file.read_text())
    assert wait_for(lambda: not procs.alive(daemon), timeout=3)


def test_the_dashboard_url_is_waited_for_when_the_health_check_passed_before_it_was_recorded(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The dashboard listens a moment before it writes ui/server.json: a TCP check passing in between
    left `service start` without the login URL."""
    from mahavishnu.cli import service as service_cli
    from mahavishnu.services import definitions

    record = definitions.DashboardRecord(pid=1, port=1, url="http://127.0.0.1:1/login?token=t", written=0.0)
    answers = iter([None, None, record])
    monkeypatch.setattr(definitions, "dashboard_running", lambda: next(answers))
    service_cli._print_dashboard_url()
    assert f"open the dashboard: {record.url}" in capsys.readouterr().out
