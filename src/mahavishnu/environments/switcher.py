"""Point assistants at a provider profile: plan the edits, show them, apply them safely."""

from __future__ import annotations

from dataclasses import dataclass, field

from mahavishnu.config import Settings
from mahavishnu.environments import safe_write
from mahavishnu.environments.assistants.base import Assistant, CurrentProvider, Scope
from mahavishnu.environments.assistants.claude import Claude
from mahavishnu.environments.profiles import Profile, resolve
from mahavishnu.errors import InvalidInputError

ASSISTANTS: dict[str, type[Assistant]] = {"claude": Claude}


def assistant(tool: str) -> Assistant:
    try:
        return ASSISTANTS[tool]()
    except KeyError:
        raise InvalidInputError(
            f"unknown tool '{tool}'", hint=f"Choose one of: {', '.join(ASSISTANTS)}."
        ) from None


@dataclass
class FileResult:
    path: str
    changed: bool
    diff: str


@dataclass
class SwitchResult:
    profile: str
    tool: str
    scope: str
    dry_run: bool
    files: list[FileResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def switch_llm(
    name: str,
    settings: Settings,
    *,
    tool: str = "claude",
    scope: Scope = "user",
    dry_run: bool = False,
    inline_secret: bool = False,
) -> SwitchResult:
    profile: Profile = resolve(name, settings)
    plan = assistant(tool).plan_switch(profile, settings, scope=scope, inline_secret=inline_secret)
    result = SwitchResult(profile.name, tool, scope, dry_run, warnings=list(plan.warnings))
    for edit in plan.edits:
        if dry_run:
            change = safe_write.plan(edit.path, edit.transform)
            edit.validate(change.after)
        else:
            change = safe_write.apply(
                edit.path,
                edit.transform,
                validate=edit.validate,
                mode=edit.mode,
                backups=settings.environments.backups_keep,
            )
        result.files.append(FileResult(str(edit.path), change.changed, change.diff(edit.secrets)))
    return result


def current(settings: Settings, tool: str | None = None) -> list[CurrentProvider]:
    tools = [tool] if tool else list(ASSISTANTS)
    return [entry for name in tools for entry in assistant(name).current(settings)]
