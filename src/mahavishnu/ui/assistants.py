"""What the Assistants page asks of the switcher (``environments/switcher.py``), as ``mahavishnu ai``
does: what each assistant points at (every config file, by scope, and the one that wins in the
dashboard's folder), the memory hooks' state in each (``memory hooks status``:
``environments/memory_hooks.hooks_status``), ``doctor``'s findings with their fixes
(``doctor.run_checks``, which writes nothing), a switch previewed first (the switcher's dry run:
each file's diff, its secrets masked) then applied, and ``ai rollback``'s undo of the latest switch or change.

The apply re-plans the switch and refuses it when its diffs are not the ones previewed (a file
changed in between): what is written is what was shown. Every diff and message is masked once more
(``masking.mask_text``) before a template sees it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from mahavishnu.environments.switcher import (
    ALL,
    ASSISTANTS,
    LABELS,
    overview,
    switch_llm,
    undo_switch,
)
from mahavishnu.errors import InvalidInputError, NotFoundError
from mahavishnu.files import switch_log
from mahavishnu.masking import mask_text

if TYPE_CHECKING:
    from mahavishnu.config import Settings
    from mahavishnu.doctor import Status
    from mahavishnu.environments.assistants.base import CurrentProvider, Scope
    from mahavishnu.environments.switcher import RolledBack, SwitchResult

SCOPES: tuple[Scope, ...] = ("user", "project", "local")
TOOLS: tuple[str, ...] = (*ASSISTANTS, ALL)


@dataclass(frozen=True, slots=True)
class FileRow:
    """One config file an assistant reads, and whether it is the one that wins here."""

    entry: CurrentProvider
    wins: bool

    @property
    def key_source(self) -> str:
        return mask_text(self.entry.key_source or "")


@dataclass(frozen=True, slots=True)
class AssistantRow:
    tool: str
    label: str
    files: list[FileRow]
    error: str | None

    @property
    def winner(self) -> FileRow | None:
        return next((f for f in self.files if f.wins), None)


@dataclass(frozen=True, slots=True)
class HooksRow:
    """One assistant's memory hooks as ``memory hooks status`` reports them."""

    tool: str
    label: str
    state: str  # installed, not installed, incomplete, untrusted, error
    path: str
    hooks: list[tuple[str, str]]  # event, its note ("" when as installed)
    error: str | None


@dataclass(frozen=True, slots=True)
class DoctorRow:
    """One of ``doctor``'s findings, masked."""

    check: str
    status: Status
    detail: str
    hint: str


@dataclass(frozen=True, slots=True)
class Overview:
    folder: str
    assistants: list[AssistantRow]
    recovered: list[str]
    profiles: list[str]
    changes: list[switch_log.SwitchRecord]
    next_undo: switch_log.SwitchRecord | None
    hooks: list[HooksRow]
    findings: list[DoctorRow]
    healthy: bool


def _hook_note(installed: bool, trusted: bool, customised: str) -> str:
    """As ``memory hooks status`` words it."""
    if not installed:
        return "missing"
    if not trusted:
        return "untrusted"
    return f"customised: {customised}" if customised else ""


def hooks() -> list[HooksRow]:
    """``memory hooks status --tool all``."""
    from mahavishnu.environments.memory_hooks import hooks_status

    return [
        HooksRow(
            found.tool,
            LABELS.get(found.tool, found.tool),
            found.state,
            str(found.path),
            [(h.event, _hook_note(h.installed, h.trusted, h.customised)) for h in found.hooks],
            mask_text(found.error) if found.error else None,
        )
        for found in hooks_status("all")
    ]


def doctor(settings: Settings) -> tuple[list[DoctorRow], bool]:
    """``mahavishnu doctor``'s findings (each with its fix) and whether all is well."""
    from mahavishnu.doctor import healthy, run_checks

    findings = run_checks(settings)
    rows = [DoctorRow(f.check, f.status, mask_text(f.detail), mask_text(f.hint)) for f in findings]
    return rows, healthy(findings)


def build(settings: Settings) -> Overview:
    """Every assistant's files (the first readable one every run reads wins here, as the switcher's
    outranking check judges), the profiles to switch to, the recorded switches, the memory hooks
    and doctor's findings."""
    from mahavishnu.environments.profiles import all_profiles

    statuses, recovered = overview(settings)
    rows = []
    for status in statuses:
        top = next((e for e in status.entries if e.applies), None)
        files = [FileRow(e, e is top) for e in status.entries]
        rows.append(AssistantRow(status.tool, status.label, files, status.error))
    return Overview(
        str(Path.cwd()),
        rows,
        [mask_text(m) for m in recovered],
        sorted(all_profiles(settings)),
        switch_log.records(changes=True)[:15],
        switch_log.to_undo(None),
        hooks(),
        *doctor(settings),
    )


@dataclass(frozen=True, slots=True)
class Switch:
    """A switch as its form carries it."""

    profile: str
    tool: str
    scope: Scope

    @classmethod
    def from_params(cls, params: dict[str, str]) -> Switch:
        profile = (params.get("profile") or "").strip()
        tool = (params.get("tool") or "claude").strip()
        scope = (params.get("scope") or "user").strip()
        if not profile:
            raise InvalidInputError("choose a profile to switch to")
        if tool not in TOOLS:
            raise InvalidInputError(f"unknown assistant {tool!r}", hint=f"One of: {', '.join(TOOLS)}.")
        for known in SCOPES:
            if scope == known:
                return cls(profile, tool, known)
        raise InvalidInputError(f"unknown scope {scope!r}", hint=f"One of: {', '.join(SCOPES)}.")

    def params(self) -> dict[str, str]:
        return {"profile": self.profile, "tool": self.tool, "scope": self.scope}


@dataclass(frozen=True, slots=True)
class Planned:
    """A switch's outcome as the pages show it: each file's masked diff, messages, skips."""

    switch: Switch
    profile: str  # resolved (an alias becomes its name)
    files: list[tuple[str, str, bool, str]]  # tool, path, changed, masked diff
    notes: list[str]
    warnings: list[str]
    skipped: list[str]
    summary: str
    blocked: str = ""  # why applying it would be refused now (no key), with what to do

    @property
    def digest(self) -> str:
        """What the preview showed, for the apply to check it writes the same."""
        text = "\0".join(f"{path}\0{diff}" for _, path, _, diff in self.files)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @property
    def changes(self) -> int:
        return sum(1 for *_, changed, _ in self.files if changed)


def _planned(switch: Switch, result: SwitchResult) -> Planned:
    return Planned(
        switch,
        result.profile,
        [(f.tool, f.path, f.changed, mask_text(f.diff)) for f in result.files],
        [mask_text(n) for n in result.notes],
        [mask_text(w) for w in result.warnings],
        [mask_text(f"{LABELS.get(s.tool, s.tool)}: {s.reason}") for s in result.skipped],
        mask_text(result.summary),
    )


def preview(settings: Settings, switch: Switch) -> Planned:
    """The switcher's dry run: nothing is written. Without the profile's key (which the dry run
    only warns of) ``blocked`` says so: the page offers no Apply the switch would refuse."""
    result = switch_llm(
        switch.profile, settings, tool=switch.tool, scope=switch.scope, dry_run=True, inline_secret=False
    )
    return replace(_planned(switch, result), blocked=_no_key(settings, result.profile))


def _no_key(settings: Settings, name: str) -> str:
    from mahavishnu.environments.api_key import key_missing
    from mahavishnu.environments.profiles import resolve

    if not key_missing(resolve(name, settings)):
        return ""
    return (
        f"Profile '{name}' has no API key yet, so this switch cannot be applied: store one with "
        f"`mahavishnu secrets set {name}` (or export its variable), then preview again."
    )


def apply(settings: Settings, switch: Switch, previewed: str) -> Planned:
    """Write the switch previewed as ``previewed`` (its digest), or nothing when it would now write
    something else."""
    if preview(settings, switch).digest != previewed:
        raise InvalidInputError(
            "what this switch would write changed since the preview: nothing was written",
            hint="Look at the preview again.",
        )
    result = switch_llm(switch.profile, settings, tool=switch.tool, scope=switch.scope, inline_secret=False)
    return _planned(switch, result)


def rollback(settings: Settings, tool: str | None) -> tuple[switch_log.SwitchRecord, list[RolledBack]]:
    """``ai rollback``: undo the latest switch or change (of ``tool``) not undone yet."""
    named = None if tool in (None, "", ALL) else tool
    if named is not None and named not in ASSISTANTS:
        raise InvalidInputError(f"unknown assistant {named!r}")
    last = switch_log.to_undo(named)
    if last is None:
        raise NotFoundError(
            "nothing left to undo" + (f" for {LABELS[named]}" if named else ""),
            hint="`mahavishnu ai backups` lists the backups; `ai rollback --to ID` puts one back.",
        )
    return last, undo_switch(settings, last)
