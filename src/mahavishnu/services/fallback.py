"""Automatic provider fallback: probe each assistant's provider, switch away after K failures, come back.

One round (``FallbackManager.round``) probes the provider each assistant in ``watch.probe_tools``
points at (its config file at ``fallback.scope``) and records the latency. After
``fallback.failures_before_switch`` failures in a row it probes the other profiles of the assistant's
chain (``fallback.chains.TOOL``, preferred first) and switches to the first healthy one with
``switch_llm`` (backed-up, validated, atomic writes). It remembers the profile it switched away from
(``$MAHAVISHNU_HOME/watch/fallback.json``, so a restarted watcher still knows) and, with
``fallback.switch_back``, switches back once that one passed ``successes_before_switch_back`` probes
in a row. A manual switch in between wins: the memory is dropped. Every switch is an event and runs
``fallback.notify_command``.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mahavishnu import paths
from mahavishnu.config import Settings
from mahavishnu.environments.profiles import Profile, all_profiles
from mahavishnu.errors import MahavishnuError
from mahavishnu.services import metrics, probe
from mahavishnu.services.events import log_event

NOTIFY_TIMEOUT = 30.0


@dataclass
class _Track:
    failures: int = 0
    recoveries: int = 0
    unavailable_reported: bool = False


def state_path() -> Path:
    return paths.data_dir() / "watch" / "fallback.json"


def read_state() -> dict[str, dict[str, str]]:
    try:
        data = json.loads(state_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def _write_state(state: dict[str, dict[str, str]]) -> None:
    path = state_path()
    paths.make_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class FallbackManager:
    def __init__(self) -> None:
        self.tracks: dict[str, _Track] = {}
        self.errors: dict[str, str] = {}  # tool -> the last error reported, so it is reported once

    def round(self, settings: Settings) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for tool in settings.watch.probe_tools:
            try:
                events += self.check_tool(tool, settings)
            except MahavishnuError as exc:  # e.g. its config file no longer parses: the others go on
                if self.errors.get(tool) != exc.message:
                    self.errors[tool] = exc.message
                    events.append(log_event("probe-skipped", tool=tool, reason=exc.message))
                continue
            self.errors.pop(tool, None)
        return events

    def check_tool(self, tool: str, settings: Settings) -> list[dict[str, Any]]:
        from mahavishnu.environments.switcher import assistant

        entry = probe.active(tool, settings, settings.fallback.scope)
        profiles = all_profiles(settings)
        if entry is None or entry.profile not in profiles:
            return []
        current = str(entry.profile)
        protocol = assistant(tool).protocol
        result = self._probe(profiles[current], protocol, settings, tool)
        track = self.tracks.setdefault(tool, _Track())
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
        if remembered and settings.fallback.switch_back:
            return self._maybe_switch_back(tool, current, remembered["original"], settings, profiles)
        return []

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
        tried: list[dict[str, Any]] = []
        for candidate in self._chain(tool, settings, profiles):
            if candidate == current or protocol not in profiles[candidate].protocols:
                continue
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
            else:
                state[tool] = {"original": original, "current": candidate}
            _write_state(state)
            self.tracks[tool] = _Track()
            event = log_event(
                "fallback", tool=tool, **{"from": current, "to": candidate}, reason=reason, tried=tried
            )
            return [event, *self._notify(event, settings)]
        if track.unavailable_reported or not settings.fallback.chain(tool):
            return []
        track.unavailable_reported = True
        event = log_event("fallback-unavailable", tool=tool, profile=current, reason=reason, tried=tried)
        return [event, *self._notify(event, settings)]

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
        _write_state(state)
        self.tracks[tool] = _Track()
        reason = f"{original} passed {track.recoveries} probes in a row"
        event = log_event("switch-back", tool=tool, **{"from": current, "to": original}, reason=reason)
        return [event, *self._notify(event, settings)]

    def _chain(self, tool: str, settings: Settings, profiles: dict[str, Profile]) -> list[str]:
        """The tool's chain by canonical profile name (aliases allowed; unknown names skipped)."""
        from mahavishnu.environments.profiles import resolve

        names = []
        for name in settings.fallback.chain(tool):
            try:
                names.append(resolve(name, settings).name)
            except MahavishnuError:
                continue
        return [n for n in dict.fromkeys(names) if n in profiles]

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
        try:
            done = subprocess.run(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=NOTIFY_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return [log_event("notify-failed", command=command, reason=f"{type(exc).__name__}: {exc}")]
        if done.returncode != 0:
            reason = f"exit status {done.returncode}: {done.stderr.decode('utf-8', 'replace').strip()[-200:]}"
            return [log_event("notify-failed", command=command, reason=reason)]
        return []
