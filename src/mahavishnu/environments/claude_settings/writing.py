"""Running one edit on a scope's settings file: locked, atomic, backed up, or planned for ``--dry-run``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from mahavishnu.environments.assistants import claude as claude_assistant
from mahavishnu.environments.assistants.base import Scope
from mahavishnu.environments.claude_settings.hooks import iter_handlers
from mahavishnu.environments.claude_settings.settings_file import settings_path
from mahavishnu.files import safe_write
from mahavishnu.files.json_values import as_object
from mahavishnu.json_types import JSONValue
from mahavishnu.masking import is_secret

__all__ = ["EditResult", "edit", "secret_values"]

T = TypeVar("T")


@dataclass(frozen=True)
class EditResult(Generic[T]):
    """What an edit did (or, with ``dry_run``, would do) to one settings file."""

    path: Path
    change: safe_write.Change
    outcome: T
    dry_run: bool
    changed: bool

    def diff(self) -> str:
        """Unified diff, with secret-looking values of the file masked (empty when nothing changes)."""
        if not self.changed:
            return ""
        secrets = [*secret_values(self.change.before), *secret_values(self.change.after)]
        return self.change.diff(secrets)


class _NothingToWrite(Exception):
    """An edit of a missing file that would only create ``{}``: write nothing."""

    def __init__(self) -> None:
        super().__init__("nothing to write")


def edit(
    scope: Scope,
    func: Callable[[str | None, str], tuple[str, T]],
    *,
    dry_run: bool = False,
    backups: int | None = None,
    path: Path | None = None,
) -> EditResult[T]:
    """Run ``func(old_text, source) -> (new_text, outcome)`` on a scope's settings file.

    Writes go through ``safe_write.apply`` with Claude's validator; ``dry_run`` only plans. A missing
    file is never created just to hold an empty object.
    """
    target = path or settings_path(scope)
    outcomes: list[T] = []

    def transform(before: str | None) -> str:
        after, outcome = func(before, str(target))
        outcomes[:] = [outcome]  # apply may re-run on fresh content: keep the outcome of the last run
        if before is None and json.loads(after) == {}:
            raise _NothingToWrite
        return after

    try:
        if dry_run:
            change = safe_write.plan(target, transform)
            claude_assistant.validate(change.after)
        else:
            change = safe_write.apply(
                target, transform, validate=claude_assistant.validate, backups=_backups_to_keep(backups)
            )
    except _NothingToWrite:
        return EditResult(target, safe_write.Change(target, None, ""), outcomes[-1], dry_run, changed=False)
    return EditResult(target, change, outcomes[-1], dry_run, changed=change.changed)


def _backups_to_keep(backups: int | None) -> int:
    """As given, else as the user's settings say."""
    if backups is not None:
        return backups
    from mahavishnu.config import load_settings

    return load_settings().environments.backups_keep


def secret_values(text: str | None) -> list[str]:
    """Values in a settings text that must not be shown in a diff: secret-looking ``env`` values and
    HTTP hook header values."""
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    found = [*_env_secrets(data.get("env")), *_header_values(data.get("hooks"))]
    return [value for value in found if value]


def _env_secrets(env: JSONValue) -> list[str]:
    """The secret-looking values of the settings' ``env``."""
    return [v for k, v in as_object(env).items() if isinstance(v, str) and is_secret(k, v)]


def _header_values(hooks: JSONValue) -> list[str]:
    """The HTTP hooks' header values, but those naming a variable (``$VAR``)."""
    found: list[str] = []
    for entry in iter_handlers(hooks):
        headers = as_object(entry.handler.get("headers"))
        found += [v for v in headers.values() if isinstance(v, str) and not v.startswith("$")]
    return found
