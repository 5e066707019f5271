"""Point assistants at a provider profile: plan the edits, show them, apply them as one transaction.

``switch_llm(name, tool="all")`` plans every assistant the profile can serve (one that cannot, for
want of its protocol or of the scope, is skipped with the reason) and writes all their files as one
transaction (``transaction.apply_all``): every file or none. A tool named on its own is refused
with the reason instead.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from mahavishnu.config import Settings
from mahavishnu.environments import safe_write, transaction
from mahavishnu.environments.assistants.base import Assistant, CurrentProvider, FileEdit, Scope
from mahavishnu.environments.profiles import Profile, resolve
from mahavishnu.errors import InvalidInputError, MahavishnuError, ProtocolMismatchError

#: tool name -> "module:Class"; imported on use, so a Claude-only switch never loads tomlkit & co.
ASSISTANTS: dict[str, str] = {
    "claude": "mahavishnu.environments.assistants.claude:Claude",
    "codex": "mahavishnu.environments.assistants.codex:Codex",
    "qwen": "mahavishnu.environments.assistants.qwen:Qwen",
    "gemini": "mahavishnu.environments.assistants.gemini:Gemini",
}
ALL = "all"
_ALL_SCOPES: tuple[Scope, ...] = ("user", "project", "local")


def assistant(tool: str) -> Assistant:
    if tool not in ASSISTANTS:
        raise InvalidInputError(
            f"unknown tool '{tool}'", hint=f"Choose one of: {', '.join([*ASSISTANTS, ALL])}."
        )
    module, _, name = ASSISTANTS[tool].partition(":")
    cls: type[Assistant] = getattr(importlib.import_module(module), name)
    return cls()


def scopes(target: Assistant) -> tuple[Scope, ...]:
    """The scopes an assistant keeps provider settings at (Claude Code: all three)."""
    found: tuple[Scope, ...] = getattr(target, "scopes", _ALL_SCOPES)
    return found


@dataclass
class FileResult:
    path: str
    changed: bool
    diff: str
    tool: str = ""


@dataclass
class Skipped:
    tool: str
    reason: str


@dataclass
class SwitchResult:
    profile: str
    tool: str
    scope: str
    dry_run: bool
    files: list[FileResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)  # the assistants switched
    skipped: list[Skipped] = field(default_factory=list)  # under --tool all: what could not be


def switch_llm(
    name: str,
    settings: Settings,
    *,
    tool: str = "claude",
    scope: Scope = "user",
    dry_run: bool = False,
    inline_secret: bool = False,
) -> SwitchResult:
    backups = settings.environments.backups_keep
    recovered = transaction.recover(backups=backups)
    profile: Profile = resolve(name, settings)
    result = SwitchResult(profile.name, tool, scope, dry_run)
    if recovered:
        result.warnings += recovered.messages()
    edits: list[tuple[str, FileEdit]] = []
    for each in list(ASSISTANTS) if tool == ALL else [tool]:
        target = assistant(each)
        try:
            if scope not in scopes(target):
                target.settings_path(scope)  # raises the assistant's own explanation
                raise InvalidInputError(f"{target.label} has no {scope} scope")
            plan = target.plan_switch(profile, settings, scope=scope, inline_secret=inline_secret)
        except (ProtocolMismatchError, InvalidInputError) as exc:
            if tool != ALL:
                raise
            result.skipped.append(Skipped(each, exc.message))
            continue
        result.tools.append(each)
        result.warnings += plan.warnings
        edits += [(each, edit) for edit in plan.edits]
    if not edits:
        reasons = "; ".join(f"{s.tool}: {s.reason}" for s in result.skipped)
        raise ProtocolMismatchError(
            f"profile '{profile.name}' cannot be used by any assistant at {scope} scope ({reasons})",
            hint="Pick another profile (`mahavishnu ai list-llms`) or scope.",
        )
    if dry_run:
        for each, edit in edits:
            change = safe_write.plan(edit.path, edit.transform)
            edit.validate(change.after)
            result.files.append(FileResult(str(edit.path), change.changed, change.diff(edit.secrets), each))
        return result
    changes = transaction.apply_all([edit for _, edit in edits], backups=backups)
    for (each, edit), change in zip(edits, changes, strict=True):
        result.files.append(FileResult(str(edit.path), change.changed, change.diff(edit.secrets), each))
    return result


def current(settings: Settings, tool: str | None = None) -> list[CurrentProvider]:
    tools = [tool] if tool and tool != ALL else list(ASSISTANTS)
    return [entry for name in tools for entry in assistant(name).current(settings)]


@dataclass
class ToolStatus:
    """One assistant in ``ai current``: what its files point at, or why they cannot be read."""

    tool: str
    label: str
    entries: list[CurrentProvider]
    error: str | None = None


def overview(settings: Settings) -> tuple[list[ToolStatus], list[str]]:
    """Every assistant's status, plus messages about an interrupted switch rolled back first."""
    recovered = transaction.recover(backups=settings.environments.backups_keep)
    statuses = []
    for name in ASSISTANTS:
        target = assistant(name)
        try:
            statuses.append(ToolStatus(name, target.label, target.current(settings)))
        except MahavishnuError as exc:
            statuses.append(ToolStatus(name, target.label, [], exc.message))
    return statuses, recovered.messages() if recovered else []
