"""A scope's settings file: where it is, and its members read with the type Claude Code expects."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mahavishnu.environments.assistants import claude as claude_assistant
from mahavishnu.environments.assistants.base import Scope
from mahavishnu.errors import InvalidConfigFileError
from mahavishnu.files.json_arrays import SettingsDocument
from mahavishnu.files.json_document import JsonDocument
from mahavishnu.json_types import JSONArray, JSONObject, JSONValue

__all__ = ["array_at", "load_document", "managed_settings_path", "object_at", "settings_path"]


def settings_path(scope: Scope) -> Path:
    """The Claude Code settings file of a scope (user honours ``CLAUDE_CONFIG_DIR``)."""
    return claude_assistant.Claude().settings_path(scope)


def managed_settings_path() -> Path:
    """Read at call time, so tests (and future platforms) can point it elsewhere."""
    return claude_assistant.MANAGED_SETTINGS


def load_document(text: str | None, source: str) -> SettingsDocument:
    """The settings text as a document whose arrays are edited element by element; Claude Code
    reads strict JSON (no comments)."""
    return SettingsDocument.parse(text or "", source=source, comments=False)


def object_at(doc: JsonDocument, keys: Sequence[str], source: str) -> JSONObject | None:
    """The object at ``keys``, None when it is not there."""
    value = doc.get(keys)
    if value is None or isinstance(value, dict):
        return value
    raise _not_a(value, "an object", keys, source)


def array_at(doc: JsonDocument, keys: Sequence[str], source: str) -> JSONArray:
    """The array at ``keys``, empty when it is not there."""
    value = doc.get(keys)
    if value is None or isinstance(value, list):
        return [] if value is None else value
    raise _not_a(value, "an array", keys, source)


def _not_a(value: JSONValue, noun: str, keys: Sequence[str], source: str) -> InvalidConfigFileError:
    """``value`` is there with another type than Claude Code expects: stop before anything is written."""
    return InvalidConfigFileError(
        f"{'.'.join(keys)} in {source} is not {noun}",
        hint=f"Fix that key by hand (Claude Code expects {noun} there); nothing was written.",
    )
