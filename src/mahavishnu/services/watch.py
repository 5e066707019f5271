"""``mahavishnu watch``: the loop that is safe to leave running.

Every ``watch.poll_seconds`` it

* polls the ``config_files`` of declared services (stat, then a content hash: a touch or a rewrite
  with the same bytes is no change) and, once a service's files have been quiet for
  ``watch.debounce_seconds``, restarts that service, and only that one, if it is meant to run (or
  was given up on: the change may be the fix);
* restarts services meant to run (``service start``, not ``service stop``) that exited or failed
  ``unhealthy_after`` health checks in a row, when their ``restart`` policy is ``on-failure``, at most
  ``max_restarts`` times per ``restart_window_seconds``, with a growing pause between attempts;
* every ``watch.probe_interval_seconds``, probes each assistant's provider and falls back
  (see ``fallback.py``);
* re-reads Mahavishnu's own settings when their files change: a running service whose command, env
  or cwd changed there is restarted (debounced like a config file), and a shorter probe or health
  interval applies at once.

Everything it does is an event (``events.py``). The service it runs as (``mahavishnu-watch``) is
never restarted by itself. One watcher runs at a time (``single_watcher``): two would both restart
what changed.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mahavishnu.config import ServiceSettings, Settings, layer_files, load_settings
from mahavishnu.errors import MahavishnuError, ServiceError, ServiceStartError
from mahavishnu.services import definitions, health
from mahavishnu.services.events import log_event
from mahavishnu.services.fallback import FallbackManager
from mahavishnu.services.supervisor import MEANT_TO_RUN, NAME_ENV, PidRecord, Supervisor, reap

Signature = tuple[int, int, int]  # mtime_ns, size, inode


class FilePoller:
    """Which of some files changed content since the last look (the first look sets the baseline)."""

    def __init__(self) -> None:
        self._seen: dict[Path, tuple[Signature | None, str | None]] = {}

    def changed(self, files: Iterable[Path]) -> list[Path]:
        changed = []
        for path in dict.fromkeys(files):
            signature = _signature(path)
            previous = self._seen.get(path)
            if previous is not None and previous[0] == signature:
                continue
            digest = _digest(path)
            self._seen[path] = (signature, digest)
            if previous is not None and previous[1] != digest:
                changed.append(path)
        return changed


def _signature(path: Path) -> Signature | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass
class _Pending:
    last_change: float
    files: list[str] = field(default_factory=list)
    reason: str = "config-change"  # or definition-changed (its own entry in the settings)


class Watcher:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        reload_settings: bool = True,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self.reload_settings = reload_settings
        self.on_event = on_event
        self.files = FilePoller()
        self.settings_files = FilePoller()
        self.pending: dict[str, _Pending] = {}
        self.unhealthy: dict[str, int] = {}
        self.next_health = 0.0
        self.next_probe = 0.0
        self.fallback = FallbackManager()
        self.me = os.environ.get(NAME_ENV)  # the service this watcher runs as, if any
        self.settings_files.changed(path for _, path in layer_files())

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.settings)

    def tick(self) -> list[dict[str, Any]]:
        """One pass; returns (and reports) the events it produced."""
        now = time.monotonic()
        events = self._reload()
        if self.settings.watch.services:
            services = {n: s for n, s in definitions.all_services(self.settings).items() if n != self.me}
            events += self._config_changes(services, now)
            events += self._liveness(services, now)
        interval = self.settings.watch.probe_interval_seconds
        if interval > 0 and now >= self.next_probe:
            self.next_probe = now + interval
            events += self.fallback.round(self.settings)
        reap()
        for event in events:
            if self.on_event:
                self.on_event(event)
        return events

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set. An error in one pass is an event, never the end of the loop."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # a daemon outlives one bad pass
                event = log_event("watch-error", reason=f"{type(exc).__name__}: {exc}")
                if self.on_event:
                    self.on_event(event)
            stop.wait(self.settings.watch.poll_seconds)

    # -- settings ------------------------------------------------------------------------------

    def _reload(self) -> list[dict[str, Any]]:
        if not self.reload_settings:
            return []
        changed = [str(p) for p in self.settings_files.changed(p for _, p in layer_files())]
        if not changed:
            return []
        try:
            settings = load_settings()
        except MahavishnuError as exc:
            return [log_event("watch-error", reason=f"settings not reloaded: {exc.message}")]
        self._reschedule(settings)
        self.settings = settings
        self._restart_outdated(changed)
        return [log_event("settings-reloaded", files=changed)]

    def _reschedule(self, settings: Settings) -> None:
        """A shorter probe or health interval applies now, not after the pass already scheduled."""
        now = time.monotonic()
        self.next_probe = min(self.next_probe, now + settings.watch.probe_interval_seconds)
        self.next_health = min(self.next_health, now + settings.watch.health_interval_seconds)

    def _restart_outdated(self, settings_files: list[str]) -> None:
        """Queue a restart of each running service whose command, env or cwd changed in the settings."""
        supervisor = self.supervisor
        for name in definitions.all_services(self.settings):
            record = PidRecord.read(supervisor.pid_path(name))  # read only: the restart checks the rest
            if name != self.me and record is not None and supervisor.outdated(name, record):
                pending = self.pending.setdefault(name, _Pending(time.monotonic()))
                pending.last_change, pending.reason = time.monotonic(), "definition-changed"
                pending.files = sorted({*pending.files, *settings_files})

    # -- config files ---------------------------------------------------------------------------

    def _config_changes(self, services: dict[str, ServiceSettings], now: float) -> list[dict[str, Any]]:
        watched = {
            name: [definitions.expand(p) for p in spec.config_files] for name, spec in services.items()
        }
        changed = set(self.files.changed(p for files in watched.values() for p in files))
        for name, files in watched.items():
            hits = [str(p) for p in files if p in changed]
            if hits:
                pending = self.pending.setdefault(name, _Pending(now))
                pending.last_change = now
                pending.files = sorted({*pending.files, *hits})
        events = []
        for name, pending in list(self.pending.items()):
            if now - pending.last_change < self.settings.watch.debounce_seconds:
                continue
            del self.pending[name]
            # a service given up on ("failed") gets another chance: the change may be the fix
            if name in services and self.supervisor.state(name).desired in MEANT_TO_RUN:
                events.append(self._restart(name, pending.reason, files=pending.files))
        return events

    # -- liveness and health ---------------------------------------------------------------------

    def _liveness(self, services: dict[str, ServiceSettings], now: float) -> list[dict[str, Any]]:
        check_health = self.settings.watch.health_interval_seconds > 0 and now >= self.next_health
        if check_health:
            self.next_health = now + self.settings.watch.health_interval_seconds
        events = []
        for name, spec in services.items():
            supervisor = self.supervisor
            if supervisor.state(name).desired != "running" or name in self.pending:
                continue
            reason = self._trouble(name, spec, supervisor, check_health)
            if reason is not None:
                events += self._recover(name, spec, reason)
        return events

    def _trouble(
        self, name: str, spec: ServiceSettings, supervisor: Supervisor, check_health: bool
    ) -> str | None:
        try:
            with supervisor.locked(name, wait=False):  # a stale PID file is only removed under the lock
                record = supervisor.running(name)
        except ServiceError:
            return None  # busy: a `service` command is starting or stopping it right now
        if record is None:
            return "exited"
        if not check_health or spec.health.kind == "process":
            return None
        if health.check(spec.health).ok:
            self.unhealthy[name] = 0
            return None
        self.unhealthy[name] = self.unhealthy.get(name, 0) + 1
        return "unhealthy" if self.unhealthy[name] >= spec.unhealthy_after else None

    def _recover(self, name: str, spec: ServiceSettings, reason: str) -> list[dict[str, Any]]:
        supervisor = self.supervisor
        state = supervisor.state(name)
        if spec.restart == "no":
            state.desired, state.last_error = "stopped", f"{reason}; restart policy is 'no'"
            supervisor.save_state(name, state)
            return [log_event("service-failed", service=name, reason=state.last_error)]
        now = time.time()
        recent = [t for t in state.restart_times if now - t < spec.restart_window_seconds]
        if len(recent) >= spec.max_restarts:
            state.desired = "failed"
            state.last_error = f"{reason}; {len(recent)} restarts in {spec.restart_window_seconds:g} s"
            supervisor.save_state(name, state)
            return [log_event("service-failed", service=name, reason=state.last_error)]
        pause = min(60.0, self.settings.watch.poll_seconds * 2 ** len(recent)) if recent else 0.0
        if recent and now - recent[-1] < pause:
            return []
        self.unhealthy[name] = 0
        return [self._restart(name, reason)]

    def _restart(self, name: str, reason: str, **extra: Any) -> dict[str, Any]:
        try:
            started = self.supervisor.restart(name, reason=reason)
        except ServiceStartError as exc:
            return log_event(
                "service-restart",
                service=name,
                reason=reason,
                ok=False,
                error=exc.message,
                log_tail=exc.log_tail,
                **extra,
            )
        except MahavishnuError as exc:
            return log_event(
                "service-restart", service=name, reason=reason, ok=False, error=exc.message, **extra
            )
        return log_event("service-restart", service=name, reason=reason, ok=True, pid=started.pid, **extra)


@contextmanager
def single_watcher() -> Iterator[None]:
    """Held while this process watches; another watcher (a second terminal, or the
    ``mahavishnu-watch`` service) is refused at once rather than acting twice on every change."""
    from filelock import FileLock, Timeout

    from mahavishnu import paths
    from mahavishnu.services.supervisor import services_dir

    paths.make_dir(services_dir())
    lock = FileLock(str(services_dir() / "watch.lock"), timeout=0, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise ServiceError(
            "another `mahavishnu watch` is already running (in a terminal, or as mahavishnu-watch)",
            hint="Stop it first (`mahavishnu service stop mahavishnu-watch`, or Ctrl-C in its terminal).",
        ) from None
    try:
        yield
    finally:
        lock.release()
