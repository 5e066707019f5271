"""Automatic provider fallback: probe each assistant's provider, switch away after K failures, come back.

One round (``FallbackManager.round``) probes the provider each assistant in ``watch.probe_tools``
points at (its config file at ``fallback.scope``) and records the latency. After
``fallback.failures_before_switch`` failures in a row it probes the other profiles of the assistant's
chain (``fallback.chains.TOOL``, preferred first) and switches to the first healthy one with
``switch_llm`` (backed-up, validated, atomic writes). It remembers the profile it switched away from
(``$MAHAVISHNU_HOME/watch/fallback.json``, so a restarted watcher still knows) and, with
``fallback.switch_back``, switches back once that one passed ``successes_before_switch_back`` probes
in a row. A manual switch in between wins: the memory is dropped. Every switch is an event and runs
``fallback.notify_command``. The probes' counts in a row (and whether the outage was reported) are
kept there too: ``watch --once`` run N times (cron, a timer) acts as one watcher ticking N times.

Nothing fails quietly: a failed probe short of the switch is a ``probe-failed`` event; K failures with
no other profile to try (no chain for the assistant, or none of its entries usable) are a
``fallback-no-chain`` event saying how to set one; chain entries that name no profile are a
``fallback-chain-unknown`` event once, and again whenever they change (what was reported is kept in
fallback.json too: ``watch --once`` repeated it at every run).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from mahavishnu import paths
from mahavishnu.config import Settings
from mahavishnu.environments.profiles import Profile, all_profiles
from mahavishnu.errors import MahavishnuError
from mahavishnu.files.safe_write import write_private
from mahavishnu.services import metrics, probe, procs
from mahavishnu.services.events import log_event

NOTIFY_TIMEOUT = 30.0


@dataclass
class _Track:
    profile: str = ""  # the profile probed: another one (switched by hand) starts from zero
    failures: int = 0
    recoveries: int = 0
    unavailable_reported: bool = False


#: fallback.json's key for the tracks, beside the assistants' switch memory (no assistant is named so).
_TRACKS = "probes"
#: fallback.json's key for the chain problems last reported (``fallback-chain-unknown``), per assistant.
_UNKNOWN = "chain_unknown"


def state_path() -> Path:
    return paths.data_dir() / "watch" / "fallback.json"


def _read_file() -> dict[str, Any]:
    try:
        data = json.loads(state_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def read_state() -> dict[str, dict[str, str]]:
    """Per assistant, the profile the watcher switched away from (``original``) and to (``current``)."""
    return {k: v for k, v in _read_file().items() if k not in (_TRACKS, _UNKNOWN)}


def _read_tracks() -> dict[str, _Track]:
    """The tracks the last watcher saved; one that is not what this version writes starts over."""
    tracks = {}
    for tool, saved in _read_file().get(_TRACKS, {}).items():
        try:
            track = _Track(**saved)
        except TypeError:
            continue
        if all(type(getattr(track, f.name)) is type(f.default) for f in fields(track)):
            tracks[tool] = track
    return tracks


def _read_unknown(held: dict[str, Any] | None = None) -> dict[str, str]:
    """The chain problems the last watcher reported, per assistant (none when never written), as
    fallback.json (or ``held``, what was read of it) holds them."""
    held = _read_file() if held is None else held
    return {str(tool): str(why) for tool, why in held.get(_UNKNOWN, {}).items()}


def _write_file(
    *,
    state: dict[str, dict[str, str]] | None = None,
    tracks: dict[str, Any] | None = None,
    unknown: dict[str, str] | None = None,
) -> None:
    """Write the parts of fallback.json given (the switch memory, the tracks, the chain problems
    reported), each other part as the file holds it."""
    held = _read_file()
    state = {k: v for k, v in held.items() if k not in (_TRACKS, _UNKNOWN)} if state is None else state
    tracks = held.get(_TRACKS, {}) if tracks is None else tracks
    unknown = _read_unknown(held) if unknown is None else unknown
    data = {**state, **({_TRACKS: tracks} if tracks else {}), **({_UNKNOWN: unknown} if unknown else {})}
    write_private(state_path(), json.dumps(data, indent=2) + "\n")


def _write_state(state: dict[str, dict[str, str]]) -> None:
    _write_file(state=state)


_STALE = "it still holds the earlier fallback (dropped once it can be written)"


def _remember(state: dict[str, dict[str, str]], after: str) -> dict[str, str]:
    """Write ``state`` after a switch already made: a failure is a ``warning`` on the switch's own
    event (``after`` says what it costs), never an error in its place that hides the switch."""
    try:
        _write_state(state)
    except MahavishnuError as exc:
        return {"warning": f"{exc.message}: {after}"}
    return {}


def unknown_chain_entries(settings: Settings) -> dict[str, str]:
    """Per assistant, what is wrong with the ``fallback.chains`` entries that name no profile (the
    watcher skips them); empty when every entry is a known profile or alias."""
    from mahavishnu.environments.profiles import resolve

    problems = {}
    for tool, names in settings.fallback.chains.items():
        wrong = []
        for name in names:
            try:
                resolve(name, settings)
            except MahavishnuError as exc:
                wrong.append(exc.message)
        if wrong:
            problems[str(tool)] = f"fallback.chains.{tool} skips {' '.join(wrong)}"
    return problems


def chain(tool: str, settings: Settings, profiles: dict[str, Profile]) -> list[str]:
    """The tool's chain by canonical profile name (aliases allowed; unknown names skipped)."""
    from mahavishnu.environments.profiles import resolve

    names = []
    for name in settings.fallback.chain(tool):
        try:
            names.append(resolve(name, settings).name)
        except MahavishnuError:
            continue
    return [n for n in dict.fromkeys(names) if n in profiles]


def _chain_fix(tool: str, settings: Settings) -> str:
    how = f"set fallback.chains.{tool}: [profile, ...] in {paths.user_settings_file()}"
    names = settings.fallback.chain(tool)
    if not names:
        return f"no fallback chain for {tool}: {how}"
    listed = ", ".join(names)
    return f"fallback.chains.{tool} [{listed}] holds no other known profile {tool} can use: {how}"


def _probe_failed(
    tool: str, profile: str, result: probe.ProbeResult, failures: int, settings: Settings
) -> dict[str, Any]:
    limit = settings.fallback.failures_before_switch
    reason = f"probe failed ({failures} of {limit} before fallback): {result.status} ({result.detail})"
    return log_event("probe-failed", tool=tool, profile=profile, reason=reason)


class FallbackManager:
    def __init__(self) -> None:
        self.tracks = _read_tracks()  # what the last watcher counted: `watch --once` goes on from it
        self.saved_tracks = self._tracks_to_save()
        self.unsaved: str | None = None  # why the tracks could not be saved, reported once
        self.errors: dict[str, str] = {}  # tool -> the last error reported, so it is reported once
        self.unknown_reported = _read_unknown()  # chain problems already reported, by `watch --once` too

    def round(self, settings: Settings) -> list[dict[str, Any]]:
        events = self._report_unknown_chain_entries(settings)
        for tool in settings.watch.probe_tools:
            try:
                events += self.check_tool(tool, settings)
            except MahavishnuError as exc:  # e.g. its config file no longer parses: the others go on
                if self.errors.get(tool) != exc.message:
                    self.errors[tool] = exc.message
                    events.append(log_event("probe-skipped", tool=tool, reason=exc.message))
                continue
            self.errors.pop(tool, None)
        return events + self._save_tracks()

    def _tracks_to_save(self) -> dict[str, dict[str, Any]]:
        """The tracks that hold a count or a report: a healthy provider's is not written."""
        return {tool: asdict(t) for tool, t in self.tracks.items() if asdict(t) != asdict(_Track(t.profile))}

    def _save_tracks(self) -> list[dict[str, Any]]:
        """Write the tracks when they changed: fallback.json is not written at each healthy probe."""
        tracks = self._tracks_to_save()
        if tracks == self.saved_tracks:
            return []
        try:
            _write_file(tracks=tracks)
        except MahavishnuError as exc:
            if self.unsaved == exc.message:
                return []
            self.unsaved = exc.message
            reason = f"{exc.message}: failed probes are counted by this watcher only, not by the next"
            return [log_event("watch-error", reason=reason)]
        self.saved_tracks, self.unsaved = tracks, None
        return []

    def check_tool(self, tool: str, settings: Settings) -> list[dict[str, Any]]:
        from mahavishnu.environments.switcher import assistant

        entry = probe.active(tool, settings, settings.fallback.scope)
        profiles = all_profiles(settings)
        if entry is None or entry.profile not in profiles:
            return []
        current = str(entry.profile)
        protocol = assistant(tool).protocol
        result = self._probe(profiles[current], protocol, settings, tool)
        track = self.tracks.get(tool, _Track())
        if track.profile != current:
            track = self.tracks[tool] = _Track(current)
        state = read_state()
        remembered = state.get(tool)
        if remembered and remembered.get("current") != current:
            state.pop(tool)  # switched by hand since: the user's choice wins
            _write_state(state)
            remembered = None
        if result.ok:
            track.failures, track.unavailable_reported = 0, False
        else:
            track.failures += 1
        if not result.ok and track.failures >= settings.fallback.failures_before_switch:
            return self._fall_back(tool, current, result, settings, profiles)
        events = [] if result.ok else [_probe_failed(tool, current, result, track.failures, settings)]
        if remembered and settings.fallback.switch_back:
            events += self._maybe_switch_back(tool, current, remembered["original"], settings, profiles)
        return events

    def _fall_back(
        self,
        tool: str,
        current: str,
        failed: probe.ProbeResult,
        settings: Settings,
        profiles: dict[str, Profile],
    ) -> list[dict[str, Any]]:
        from mahavishnu.environments.switcher import assistant

        track = self.tracks[tool]
        protocol = assistant(tool).protocol
        reason = f"{track.failures} failed probes in a row, last: {failed.status} ({failed.detail})"
        candidates = [
            name
            for name in chain(tool, settings, profiles)
            if name != current and protocol in profiles[name].protocols
        ]
        if not candidates:
            return self._no_chain(tool, current, reason, settings)
        tried: list[dict[str, Any]] = []
        for candidate in candidates:
            result = self._probe(profiles[candidate], protocol, settings, tool)
            tried.append({"profile": candidate, "status": result.status, "http_status": result.http_status})
            if not result.ok:
                continue
            try:
                self._switch(tool, candidate, settings)
            except MahavishnuError as exc:
                tried[-1]["status"] = f"switch refused: {exc.message}"
                continue
            state = read_state()
            original = state.get(tool, {}).get("original", current)
            if candidate == original:
                state.pop(tool, None)
                unsaved = _remember(state, _STALE)
            else:
                state[tool] = {"original": original, "current": candidate}
                unsaved = _remember(state, f"{original} is not remembered: no switch back to it will follow")
            self.tracks[tool] = _Track()
            event = log_event(
                "fallback",
                tool=tool,
                **{"from": current, "to": candidate},
                reason=reason,
                tried=tried,
                **unsaved,
            )
            return [event, *self._notify(event, settings)]
        if track.unavailable_reported:
            return []
        track.unavailable_reported = True
        event = log_event("fallback-unavailable", tool=tool, profile=current, reason=reason, tried=tried)
        return [event, *self._notify(event, settings)]

    def _no_chain(self, tool: str, current: str, reason: str, settings: Settings) -> list[dict[str, Any]]:
        """Reported once per outage: the provider failed and there is no other profile to try."""
        track = self.tracks[tool]
        if track.unavailable_reported:
            return []
        track.unavailable_reported = True
        fix = _chain_fix(tool, settings)
        event = log_event("fallback-no-chain", tool=tool, profile=current, reason=reason, fix=fix)
        return [event, *self._notify(event, settings)]

    def _report_unknown_chain_entries(self, settings: Settings) -> list[dict[str, Any]]:
        """Chain entries naming no profile: reported once (kept in fallback.json), and when they change."""
        problems = unknown_chain_entries(settings)
        if problems == self.unknown_reported:
            return []
        self.unknown_reported = problems
        with contextlib.suppress(MahavishnuError):  # (unsaved: the next `watch --once` says it again)
            _write_file(unknown=problems)
        return [log_event("fallback-chain-unknown", tool=t, reason=why) for t, why in problems.items()]

    def _maybe_switch_back(
        self, tool: str, current: str, original: str, settings: Settings, profiles: dict[str, Profile]
    ) -> list[dict[str, Any]]:
        from mahavishnu.environments.switcher import assistant

        track = self.tracks[tool]
        if original not in profiles:
            return []
        result = self._probe(profiles[original], assistant(tool).protocol, settings, tool)
        track.recoveries = track.recoveries + 1 if result.ok else 0
        if track.recoveries < settings.fallback.successes_before_switch_back:
            return []
        try:
            self._switch(tool, original, settings)
        except MahavishnuError as exc:
            return [log_event("switch-back-failed", tool=tool, to=original, reason=exc.message)]
        state = read_state()
        state.pop(tool, None)
        unsaved = _remember(state, _STALE)
        self.tracks[tool] = _Track()
        reason = f"{original} passed {track.recoveries} probes in a row"
        event = log_event(
            "switch-back", tool=tool, **{"from": current, "to": original}, reason=reason, **unsaved
        )
        return [event, *self._notify(event, settings)]

    def _probe(self, profile: Profile, protocol: Any, settings: Settings, tool: str) -> probe.ProbeResult:
        result = probe.probe(
            profile, protocol, settings, timeout=settings.watch.probe_timeout_seconds, tool=tool
        )
        metrics.record_probe(result)
        return result

    def _switch(self, tool: str, profile: str, settings: Settings) -> None:
        from mahavishnu.environments.switcher import switch_llm

        switch_llm(profile, settings, tool=tool, scope=settings.fallback.scope)

    def _notify(self, event: dict[str, Any], settings: Settings) -> list[dict[str, Any]]:
        command = settings.fallback.notify_command
        if not command:
            return []
        env = {**os.environ, "MAHAVISHNU_EVENT": json.dumps(event), "MAHAVISHNU_EVENT_KIND": event["event"]}
        reason = run_notify(command, env, NOTIFY_TIMEOUT)
        return [] if reason is None else [log_event("notify-failed", command=command, reason=reason)]


def run_notify(command: list[str], env: dict[str, str], timeout: float) -> str | None:
    """Run ``command`` in a process group of its own and wait for the whole group, at most ``timeout``
    s; whatever of it still runs then is killed, so nothing it started (``cmd &``) outlives the
    timeout. Its stderr goes to a file: a pipe, held open by a process it left in the background, was
    waited on past the command's exit, and its process left running. Returns why it failed, or None."""
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryFile() as stderr:
        try:
            proc = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"
        # The leader is reaped only at the end: until then its pid, the group's id, is no one else's.
        pause = 0.01
        try:
            while _running(proc) and time.monotonic() < deadline:
                time.sleep(pause)
                pause = min(pause * 2, 0.2)
        finally:
            left = _running(proc)
            if left:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
            if left:  # a signal is delivered, not done, when killpg returns: none of it may run on
                _wait_gone(proc, time.monotonic() + KILLED_SECONDS)
        if left:
            what = "it" if proc.pid in left else "a process it left in the background"
            return f"{what} still ran after {timeout:g} s: killed"
        if code != 0:
            return f"exit status {code}: {procs.said_last(stderr)[-200:]}"
        return None


#: How long ``run_notify`` waits for a killed group's processes to end.
KILLED_SECONDS = 2.0


def _wait_gone(proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Wait until nothing of ``proc``'s killed group runs, at most until ``deadline``."""
    while _running(proc) and time.monotonic() < deadline:
        time.sleep(0.01)


def _running(proc: subprocess.Popen[bytes]) -> list[int]:
    """The pids of ``proc``'s process group still running. Without /proc (macOS) only ``proc`` is
    seen, reaped as soon as it ends: `ps` shows a process that ended as running until it is reaped,
    and every command was waited on for the whole timeout."""
    if not procs.PROC.is_dir():
        return [] if proc.poll() is not None else [proc.pid]
    return [member.pid for member in procs.group_members(proc.pid)]
