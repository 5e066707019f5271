"""Start, stop and watch over services: own process groups, PID files, logs, health checks.

Per service, under ``$MAHAVISHNU_HOME/services/``:

``NAME.pid``         JSON: pid, its start time (``/proc/PID/stat`` field 22), the boot id, the command, a
                     random token put in the service's environment, a fingerprint of the definition it
                     was started with. Present while we believe it runs.
``NAME.state.json``  what the user asked for (``desired``: running/stopped), restarts, last error.
``NAME.log``         stdout + stderr, appended; rotated to ``NAME.log.1`` on start past ``log_max_bytes``.
``NAME.lock``        serialises the CLI and ``mahavishnu watch`` acting on the same service.

Safety rules: a service runs in its own session and process group (``start_new_session``); a stop is
SIGTERM to that group, and to each process that left it and carries our token (a daemon's fork into
a session of its own), then SIGKILL after the timeout; nothing is signalled unless the recorded start
time still matches (PID reuse) on the same boot (start times count from boot) and the process is ours
(see ``_ours``), or, once the leader is gone, unless a process still carries our token; a PID file
whose process is gone, or is not ours, or was written before a reboot, is stale and removed. Nothing
is ever looked up by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mahavishnu import paths, wording
from mahavishnu.config import ServiceSettings, Settings
from mahavishnu.errors import (
    MahavishnuError,
    ServiceError,
    ServiceStartError,
    ServiceStopError,
    UnknownServiceError,
)
from mahavishnu.files.safe_write import write_private
from mahavishnu.masking import mask_args
from mahavishnu.services import definitions, health, procs

TOKEN_ENV = "MAHAVISHNU_SERVICE_TOKEN"
NAME_ENV = "MAHAVISHNU_SERVICE"
LOG_TAIL_LINES = 20
#: The most of one log line ``service logs`` (and a failed start) reads and shows.
LOG_LINE_LIMIT = 64 * 1024
INTERRUPTED = "start interrupted (Ctrl-C) before its health check passed"
#: What a service's ``desired`` is when the watcher may restart it (``failed``: on a config change).
MEANT_TO_RUN = ("running", "failed")
#: Without a health check, a service counts as started once it has stayed up this long.
PROCESS_GRACE_SECONDS = 0.5

#: Processes this Python process started and has not reaped yet (a zombie still has a /proc entry).
_children: dict[int, subprocess.Popen[bytes]] = {}
#: Exit statuses of reaped children, for the error message of a start that failed.
_exit_codes: dict[int, int] = {}


def services_dir() -> Path:
    return paths.data_dir() / "services"


@dataclass(frozen=True)
class PidRecord:
    pid: int
    start_time: str
    started_at: float  # wall clock
    token: str
    command: list[str]
    boot_id: str = ""  # empty: written before boot ids were recorded, or not on Linux
    definition: str = ""  # fingerprint of the command, env and cwd it was started with

    @classmethod
    def read(cls, path: Path) -> PidRecord | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                int(data["pid"]),
                str(data["start_time"]),
                float(data["started_at"]),
                str(data.get("token", "")),
                [str(part) for part in data.get("command", [])],
                str(data.get("boot_id", "")),
                str(data.get("definition", "")),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return cls(0, "", 0.0, "", [])  # unreadable: treated as stale, never signalled


@dataclass
class ServiceState:
    # running | stopped | failed (gave up restarting) | idle (exited on its own when idle: its
    # clients start it again on demand, see ``exited_idle``)
    desired: str = "stopped"
    restarts: int = 0
    restart_times: list[float] = field(default_factory=list)  # automatic restarts, for the window
    last_error: str | None = None
    stopped_by_user: bool = False  # `service stop`: nothing starts it on demand until a start


@dataclass(frozen=True)
class Started:
    name: str
    pid: int
    already_running: bool
    health: str
    seconds: float
    healthy: bool = True  # False: already running, but failing its health check


@dataclass(frozen=True)
class Stopped:
    name: str
    was_running: bool
    signals: list[str]
    stale_cleaned: bool = False


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # running | stopped | dead | failed | busy (another command holds it)
    pid: int | None
    uptime_seconds: float | None
    healthy: bool | None
    health: str | None
    restarts: int
    desired: str
    declared: bool
    log: str
    note: str | None = None


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # -- files -------------------------------------------------------------------------------

    def path(self, name: str, suffix: str) -> Path:
        """``NAME<suffix>`` in the services folder; every path of a service is built here, so a name
        that is no plain service name (``../x``, ``a/b``, NUL...) is refused before any path exists."""
        if not definitions.plain_name(name):
            raise self.unknown(name)
        return services_dir() / f"{name}{suffix}"

    def unknown(self, name: str) -> UnknownServiceError:
        """The error for a name that is no service, listing the declared ones."""
        try:
            known = ", ".join(definitions.all_services(self.settings)) or "none"
        except MahavishnuError:
            known = "unknown: the settings are invalid"
        return definitions.unknown(name, known)

    def pid_path(self, name: str) -> Path:
        return self.path(name, ".pid")

    def log_path(self, name: str) -> Path:
        return self.path(name, ".log")

    def state_path(self, name: str) -> Path:
        return self.path(name, ".state.json")

    def state(self, name: str) -> ServiceState:
        path = self.state_path(name)
        try:
            return _state_from(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return ServiceState()

    def save_state(self, name: str, state: ServiceState) -> None:
        _write_json(self.state_path(name), asdict(state))

    def _saveable_state(self, name: str) -> ServiceState:
        """The service's state, written back at once: a state file that cannot be written (a folder
        in its place, a full disk) refuses a start or restart before anything runs, not after, with
        the service left running while the command said it failed."""
        state = self.state(name)
        self.save_state(name, state)
        return state

    @contextmanager
    def locked(self, name: str, *, wait: bool = True) -> Iterator[None]:
        """Hold the service's lock; without ``wait``, a busy lock is a ServiceError at once."""
        from filelock import FileLock, Timeout

        lock_path = self.path(name, ".lock")
        paths.make_dir(services_dir())
        budget = self.settings.services.start_timeout_seconds + self.settings.services.stop_timeout_seconds
        lock = FileLock(str(lock_path), timeout=budget + 10 if wait else 0, mode=0o600)
        try:
            with lock:
                yield
        except Timeout:
            raise ServiceError(f"service '{name}' is busy: another command holds its lock") from None

    def names(self) -> list[str]:
        """Declared services, then any undeclared one that still has a PID file."""
        declared = list(definitions.all_services(self.settings))
        found = sorted(p.stem for p in services_dir().glob("*.pid")) if services_dir().is_dir() else []
        return declared + [n for n in found if n not in declared and definitions.plain_name(n)]

    # -- liveness ------------------------------------------------------------------------------

    def running(self, name: str, *, tidy: bool = True) -> PidRecord | None:
        """The PID record if the process it names is alive and is the one we started, else None;
        a stale PID file is removed (unless not ``tidy``)."""
        record = PidRecord.read(self.pid_path(name))
        if record is None:
            return None
        if record.pid > 0 and _alive(record):
            return record
        if tidy and not self._orphans(record):
            self.pid_path(name).unlink(missing_ok=True)
        return None

    def _orphans(self, record: PidRecord) -> list[procs.ProcStat]:
        """The service's processes that carry its token: members of its group that outlived its
        leader, and any that left the group (a daemon's fork into a session of its own), which a
        stop of the group alone left running, untracked."""
        if record.pid <= 0 or not record.token or not _this_boot(record):
            return []
        found = []
        for pid in procs.pids():
            if pid != os.getpid() and procs.environ(pid).get(TOKEN_ENV) == record.token:
                stat = procs.stat(pid)
                if stat is not None and not stat.gone:
                    found.append(stat)
        return found

    # -- start -----------------------------------------------------------------------------------

    def start(self, name: str, *, on_demand: bool = False) -> Started:
        """Start ``name`` (already running: said so). ``on_demand``: a client starting the service
        it needs (the memory daemon's), refused when a ``service stop`` came first: the client
        looked before it took the lock, and the user's stop must hold."""
        spec = definitions.get(name, self.settings)
        with self.locked(name):
            stopped_by_user = self._saveable_state(name).stopped_by_user
            if on_demand and stopped_by_user:
                raise ServiceError(
                    f"service '{name}' was stopped with `service stop`: not started on demand",
                    hint=f"Start it with `mahavishnu service start {name}`.",
                )
            record = self.running(name)
            if record is not None:
                check = health.check(spec.health)
                return Started(name, record.pid, True, check.detail, 0.0, healthy=check.ok)
            # a leader that died may have left its group running (it keeps the PID file): end it
            # first, as a restart does, or it would run on untracked beside the new one
            self._stop_locked(name, self._stop_timeout(spec))
            state = self.state(name)
            try:
                started = self._spawn(name, spec)
            except ServiceStartError as exc:
                state.last_error = exc.message  # `service status` shows why it is not running
                self.save_state(name, state)
                raise
            except KeyboardInterrupt:
                self._save_interrupted(name, _fresh_unless_running(state))
                raise
            state = _fresh_unless_running(state)
            state.desired, state.last_error = "running", None
            self.save_state(name, state)
            return started

    def restart(self, name: str, *, reason: str = "manual") -> Started:
        """Stop (if running) and start again, waiting for the health check. ``reason``: manual, or
        config-change / exited / unhealthy from ``mahavishnu watch``; an automatic restart that fails
        leaves the service meant to run (the watcher retries), and exits count against the window.
        An automatic restart of a service no longer meant to run is refused: the watcher looked
        before it took the lock, and a ``service stop`` may have come in between."""
        spec = definitions.get(name, self.settings)
        with self.locked(name):
            state = self._saveable_state(name)
            if reason != "manual" and state.desired not in MEANT_TO_RUN:
                raise ServiceError(f"service '{name}' was stopped meanwhile: not restarted ({reason})")
            self._stop_locked(name, self._stop_timeout(spec))
            state.restarts += 1
            state.stopped_by_user = False
            if reason in ("exited", "unhealthy"):
                state.restart_times = [*state.restart_times[-50:], time.time()]
            try:
                started = self._spawn(name, spec)
            except ServiceStartError as exc:
                state.last_error = exc.message
                if reason == "manual":
                    state.desired = "stopped"
                self.save_state(name, state)
                raise
            except KeyboardInterrupt:
                self._save_interrupted(name, state)
                raise
            state.desired, state.last_error = "running", None
            self.save_state(name, state)
            return started

    def _save_interrupted(self, name: str, state: ServiceState) -> None:
        """Ctrl-C while waiting for the health check: a process that was started keeps running and
        its PID file, so it is meant to run (the watcher looks after it; `service stop` ends it)."""
        if self.running(name) is None:
            return
        state.desired, state.last_error = "running", INTERRUPTED
        self.save_state(name, state)

    def outdated(self, name: str, record: PidRecord) -> bool:
        """Whether the running process was started with another command, env or cwd than declared now."""
        spec = definitions.all_services(self.settings).get(name)
        return bool(record.definition) and spec is not None and record.definition != fingerprint(spec)

    def _spawn(self, name: str, spec: ServiceSettings) -> Started:
        self._check_address_free(name, spec)
        began = time.monotonic()
        log_path = self.log_path(name)
        paths.make_dir(log_path.parent)
        self._rotate(log_path)
        this_run = _size(log_path)  # a failed start shows only this run's log lines
        token = secrets.token_hex(16)
        env = {**os.environ, **spec.env, NAME_ENV: name, TOKEN_ENV: token}
        cwd = definitions.expand(spec.cwd) if spec.cwd else paths.home()
        if not cwd.is_dir():
            raise ServiceStartError(
                f"service '{name}' cannot start: its working directory {cwd} "
                + ("is not a directory" if cwd.exists() else "does not exist"),
                hint=f"Create it, or fix services.definitions.{name}.cwd.",
            )
        with _open_log(log_path) as log:
            shown = shlex.join(mask_args(spec.command))  # the log is shown in errors and `service logs`
            log.write(f"--- {_now()} mahavishnu: starting {shown}\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(
                    spec.command,
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as exc:
                raise ServiceStartError(
                    f"service '{name}' cannot run {spec.command[0]}: {exc.strerror}",
                    hint=f"Check services.definitions.{name}.command (and cwd).",
                ) from exc
            except ValueError as exc:  # a NUL character in its command or env, which no process can take
                raise ServiceStartError(
                    f"service '{name}' cannot start: its command or env holds a NUL character",
                    hint=f"Remove it from services.definitions.{name}.command and .env.",
                ) from exc
        _children[proc.pid] = proc
        start_time = procs.start_time(proc.pid) or ""
        record = PidRecord(
            proc.pid,
            start_time,
            time.time(),
            token,
            list(spec.command),
            boot_id=procs.boot_id() or "",
            definition=fingerprint(spec),
        )
        try:
            _write_json(self.pid_path(name), asdict(record))
        except (OSError, MahavishnuError) as exc:  # untracked, nothing could stop it: end it now
            self._terminate(record, self._stop_timeout(spec))
            why = exc.message if isinstance(exc, MahavishnuError) else f"{exc.filename}: {exc.strerror}"
            raise ServiceStartError(
                f"service '{name}' was not started: its PID file cannot be written ({why})",
                hint=f"Make {services_dir()} writable (and the disk not full), then retry.",
            ) from None
        timeout = spec.start_timeout_seconds or self.settings.services.start_timeout_seconds
        try:
            detail = self._wait_healthy(name, spec, record, timeout, this_run)
        except ServiceStartError:
            self._terminate(record, self._stop_timeout(spec))
            self.pid_path(name).unlink(missing_ok=True)
            raise
        return Started(name, proc.pid, False, detail, round(time.monotonic() - began, 3))

    def _check_address_free(self, name: str, spec: ServiceSettings) -> None:
        """A network health check that passes before the service starts is answered by another
        program (a copy started by hand, another server on the port): the new one would fail to
        bind while the check reported it healthy."""
        if spec.health.kind not in ("http", "tcp", "mcp"):
            return
        before = health.check(spec.health)
        if before.ok:
            target = spec.health.http or spec.health.tcp or spec.health.mcp
            raise ServiceStartError(
                f"service '{name}' is not running, yet {target} already answers ({before.detail}): "
                "another program holds its address",
                hint="Stop that program (a copy started by hand?) or give the service another port.",
            )

    def _wait_healthy(
        self, name: str, spec: ServiceSettings, record: PidRecord, timeout: float, log_from: int
    ) -> str:
        began = time.monotonic()
        deadline = began + timeout
        pause = 0.02
        last = "no answer yet"
        while True:
            if not _alive(record):
                _poll(record.pid)  # a child that became a zombie after ``_alive`` polled it: its status
                code = _exit_codes.get(record.pid)
                how = f"exited with status {code}" if code is not None else "exited"
                raise ServiceStartError(
                    f"service '{name}' {how} before it was healthy",
                    hint=_log_hint(name),
                    log_tail=tail_lines(self.log_path(name), LOG_TAIL_LINES, start=log_from),
                )
            result = health.check(spec.health)
            settled = spec.health.kind != "process" or time.monotonic() - began >= PROCESS_GRACE_SECONDS
            if result.ok and (settled or time.monotonic() >= deadline):
                return result.detail
            last = result.detail
            if time.monotonic() >= deadline:
                raise ServiceStartError(
                    f"service '{name}' failed its {result.kind} health check for {timeout:g} s: {last}",
                    hint=_log_hint(name),
                    log_tail=tail_lines(self.log_path(name), LOG_TAIL_LINES, start=log_from),
                )
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.5)

    def _rotate(self, log_path: Path) -> None:
        limit = self.settings.services.log_max_bytes
        try:
            if limit and log_path.stat().st_size > limit:
                os.replace(log_path, log_path.with_name(log_path.name + ".1"))
        except FileNotFoundError:
            pass

    # -- stop ------------------------------------------------------------------------------------

    def stop(self, name: str) -> Stopped:
        has_pid_file = self.pid_path(name).exists()
        try:
            declared = definitions.all_services(self.settings).get(name)
        except MahavishnuError:
            if not has_pid_file:
                raise
            declared = None  # the PID file is all a stop needs
        if declared is None and not has_pid_file:
            definitions.get(name, self.settings)  # raises UnknownServiceError
        timeout = self._stop_timeout(declared)
        with self.locked(name):
            stopped = self._stop_locked(name, timeout)
            state = self.state(name)
            state.desired, state.stopped_by_user = "stopped", True
            self.save_state(name, state)
            return stopped

    def exited_idle(self, name: str, pid: int, note: str) -> None:
        """A service that leaves on its own when idle (the memory daemon) says so, holding
        ``locked(name)``: its PID file goes if it names ``pid``, and it is marked ``idle`` (not
        meant to run, not stopped by the user), so neither ``status`` nor ``watch`` takes the exit
        for a crash and its clients may start it again."""
        record = PidRecord.read(self.pid_path(name))
        if record is not None and record.pid == pid:
            self.pid_path(name).unlink(missing_ok=True)
        state = self.state(name)
        state.desired, state.last_error, state.stopped_by_user = "idle", note, False
        self.save_state(name, state)

    def _stop_locked(self, name: str, timeout: float) -> Stopped:
        record = PidRecord.read(self.pid_path(name))
        if record is None:
            return Stopped(name, False, [])
        if record.pid <= 0 or not (_alive(record) or self._orphans(record)):
            self.pid_path(name).unlink(missing_ok=True)
            return Stopped(name, False, [], stale_cleaned=True)
        signals = self._terminate(record, timeout)
        self.pid_path(name).unlink(missing_ok=True)
        with _open_log(self.log_path(name)) as log:
            log.write(f"--- {_now()} mahavishnu: stopped ({', '.join(signals) or 'already gone'})\n".encode())
        return Stopped(name, True, signals)

    def _terminate(self, record: PidRecord, timeout: float) -> list[str]:
        """SIGTERM the group and the service's processes that left it, wait, SIGKILL what is left.
        Only called for a verified group: its leader matches the recorded start time, or a member
        carries our token (a process group id cannot be handed out again while any member of the
        group lives); a process outside it is signalled only while it carries our token."""
        pgid = record.pid
        sent: list[str] = []
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            strays = [found for found in self._orphans(record) if found.pgrp != pgid]
            if not _group_alive(pgid) and not strays:
                return sent
            with suppress(ProcessLookupError):  # the group is gone, its strays are not
                os.killpg(pgid, sig)
            for stray in strays:
                _signal_stray(stray, record.token, sig)
            sent.append(sig.name)
            deadline = time.monotonic() + wait
            while _left(pgid, strays) and time.monotonic() < deadline:
                time.sleep(0.02)
        if _left(pgid, strays):
            raise ServiceStopError(f"process group {pgid} is still alive after SIGKILL")
        return sent

    def _stop_timeout(self, spec: ServiceSettings | None) -> float:
        default = self.settings.services.stop_timeout_seconds
        return (spec.stop_timeout_seconds or default) if spec else default

    # -- status and logs ---------------------------------------------------------------------------

    def status(self, name: str, *, check_health: bool = True) -> ServiceStatus:
        spec = definitions.all_services(self.settings).get(name)
        if spec is None and not self.pid_path(name).exists():
            definitions.get(name, self.settings)  # raises UnknownServiceError
        state = self.state(name)
        had_pid_file = self.pid_path(name).exists()
        shown = ServiceStatus(
            name,
            "failed" if state.desired == "failed" else "stopped",
            pid=None,
            uptime_seconds=None,
            healthy=None,
            health=None,
            restarts=state.restarts,
            desired=state.desired,
            declared=spec is not None,
            log=str(self.log_path(name)),
            note=state.last_error,
        )
        try:
            with self.locked(name, wait=False):  # answer at once, even while another command works
                record = self.running(name)
        except ServiceError:
            busy = PidRecord.read(self.pid_path(name))
            pid = busy.pid if busy is not None and busy.pid > 0 and _alive(busy) else None
            note = "another command is starting, stopping or restarting it"
            return replace(shown, state="busy", pid=pid, note=note)
        except paths.CannotMakeDirError:  # no services folder, and none can be made: a setup to fix
            raise
        except OSError:  # a read-only services folder: no lock to take, so a look that changes nothing
            record = self.running(name, tidy=False)
        if record is None:
            left = PidRecord.read(self.pid_path(name))  # kept while its group outlives the leader
            count = len(self._orphans(left)) if left is not None else 0
            if count:
                still = wording.count(count, "process")
                note = f"leader gone, {still} of its group still running: `service stop {name}`"
                return replace(shown, state="dead", healthy=False, note=note)
            if had_pid_file:
                kept = "left (its folder is read-only)" if left is not None else "removed"
                note = f"process gone: stale PID file {kept}"
                return replace(shown, state="dead", healthy=False, note=note)
            return shown
        outdated = _OUTDATED.format(name=name) if self.outdated(name, record) else None
        shown = replace(shown, state="running", pid=record.pid, note=outdated)
        shown = replace(shown, uptime_seconds=round(time.time() - record.started_at, 1))
        if check_health and spec is not None:
            result = health.check(spec.health)
            shown = replace(shown, healthy=result.ok, health=result.detail)
        return shown

    def tail(self, name: str, lines: int) -> list[str]:
        return tail_lines(self.log_path(name), lines)

    def restart_plan(self, name: str) -> dict[str, Any]:
        """What a restart would do, for a dry run: its status and the command that would run, with
        secrets in the command masked (as ``config show`` masks them)."""
        spec = definitions.get(name, self.settings)
        status = self.status(name, check_health=False)
        return {"dry_run": True, "name": name, "command": mask_args(spec.command), "status": asdict(status)}


_OUTDATED = "runs an older definition (command, env or cwd changed): `mahavishnu service restart {name}`"


def fingerprint(spec: ServiceSettings) -> str:
    """What a process is started with (command, env, cwd); a change needs a restart to apply."""
    data = json.dumps([spec.command, spec.env, str(spec.cwd or "")], sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def _open_log(path: Path) -> Any:
    """Append to a service's log, created private (0600): a service's output may hold secrets."""
    paths.make_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return os.fdopen(fd, "ab")


def _state_from(data: object) -> ServiceState:
    """A state file's values, each of its field's type; a damaged file (``[1]``, a ``restarts`` of
    ``"x"``) is a fresh state, as a missing one is, never a traceback of every service command."""
    if not isinstance(data, dict):
        return ServiceState()
    state = ServiceState(**{k: v for k, v in data.items() if k in ServiceState.__dataclass_fields__})
    times = state.restart_times
    typed = (
        isinstance(state.desired, str)
        and type(state.restarts) is int
        and isinstance(times, list)
        and all(type(t) in (int, float) for t in times)
        and (state.last_error is None or isinstance(state.last_error, str))
        and type(state.stopped_by_user) is bool
    )
    return state if typed else ServiceState()


def _fresh_unless_running(state: ServiceState) -> ServiceState:
    """A start of a service not meant to run begins a fresh restart count."""
    return state if state.desired == "running" else ServiceState()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _log_hint(name: str) -> str:
    return f"Read the whole log with `mahavishnu service logs {name}`."


def tail_lines(path: Path, lines: int, *, start: int = 0) -> list[str]:
    """The last ``lines`` lines of a file after byte ``start``, reading backwards in blocks. At most
    ``LOG_LINE_LIMIT`` bytes a line are read and shown: a line of megabytes (output without a
    newline: a progress bar, binary data) was read whole into memory, and printed for minutes."""
    budget = max(lines, 1) * LOG_LINE_LIMIT
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            end = position = handle.tell()
            data = b""
            while position > start and data.count(b"\n") <= lines and end - position < budget:
                position = max(start, position - 65536)
                handle.seek(position)
                data = handle.read(end - position)
    except FileNotFoundError:
        return []
    found = data.splitlines()
    shown = [_cut(line) for line in found[-lines:]] if lines > 0 else []
    if shown and position > start and len(found) <= lines:  # the budget ran out in the first line
        shown[0] = "…" + found[0][-LOG_LINE_LIMIT:].decode("utf-8", "replace")  # its end, as a tail's
    return shown


def _cut(line: bytes) -> str:
    """``line``, at most its first ``LOG_LINE_LIMIT`` bytes, saying how much more there was."""
    more = len(line) - LOG_LINE_LIMIT
    shown = line[:LOG_LINE_LIMIT].decode("utf-8", "replace")
    return shown if more <= 0 else f"{shown}… ({more} more bytes)"


def _alive(record: PidRecord) -> bool:
    _poll(record.pid)  # reaped: its pid may now be reused, the start time check guards that
    if not _this_boot(record):
        return False
    if not record.start_time:  # never recorded: only an unreaped child of ours is known to be ours
        return record.pid in _children
    return procs.alive(record.pid, record.start_time) and _ours(record)


def _ours(record: PidRecord) -> bool:
    """Whether the recorded process is the one we started, not one a forged or copied PID file names
    with its (readable) start time: it carries our token, or, if its environment shows none (a
    program that rewrote it for its title, or exec'd with a clean one), it is ours in what it cannot
    rewrite: its owner, and the session it leads (``start_new_session``)."""
    if record.pid in _children or not procs.PROC.is_dir():  # off Linux: the start time is all we have
        return True
    environ = procs.environ(record.pid)
    if TOKEN_ENV in environ:
        return environ[TOKEN_ENV] == record.token
    found = procs.stat(record.pid)
    return found is not None and found.session == record.pid and procs.owner(record.pid) == os.getuid()


def _this_boot(record: PidRecord) -> bool:
    """Start times count from boot: after a reboot, the recorded pid and start time may well match
    some unrelated process. A record from another boot is stale (one without a boot id is trusted)."""
    current = procs.boot_id()
    return not record.boot_id or current is None or record.boot_id == current


def _left(pgid: int, strays: list[procs.ProcStat]) -> bool:
    """Whether the group, or one of the processes that left it, still runs."""
    return _group_alive(pgid) or any(procs.alive(stray.pid, stray.start_time) for stray in strays)


def _signal_stray(stray: procs.ProcStat, token: str, sig: signal.Signals) -> None:
    """Signal a service's process outside its group, checked first to be the one found (its start
    time) and to carry the token; through a pidfd, so a pid reused after the check is not hit."""
    try:
        pidfd = os.pidfd_open(stray.pid)
    except ProcessLookupError:
        return
    except OSError:  # (a kernel before 5.3: no pidfd; checked, then signalled by its pid)
        if procs.alive(stray.pid, stray.start_time) and procs.environ(stray.pid).get(TOKEN_ENV) == token:
            with suppress(ProcessLookupError):
                os.kill(stray.pid, sig)
        return
    try:
        if procs.alive(stray.pid, stray.start_time) and procs.environ(stray.pid).get(TOKEN_ENV) == token:
            signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        pass
    finally:
        os.close(pidfd)


def _group_alive(pgid: int) -> bool:
    _poll(pgid)
    return bool(procs.group_members(pgid))


def reap() -> None:
    """Collect exited children (``mahavishnu watch`` calls this every tick)."""
    for pid in list(_children):
        _poll(pid)


def _poll(pid: int) -> None:
    child = _children.get(pid)
    if child is not None and (code := child.poll()) is not None:
        del _children[pid]
        _exit_codes[pid] = code


def _write_json(path: Path, data: Any) -> None:
    write_private(path, json.dumps(data, indent=2) + "\n", lock=False)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
