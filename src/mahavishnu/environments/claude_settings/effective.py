"""The settings Claude Code ends up with: every scope's file merged, each key with its origin."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mahavishnu.environments.claude_settings.settings_file import (
    load_document,
    managed_settings_path,
    settings_path,
)
from mahavishnu.files import safe_write
from mahavishnu.json_types import JSONArray, JSONObject, JSONValue

__all__ = [
    "MERGE_ORDER",
    "Effective",
    "Layer",
    "Origin",
    "effective_settings",
    "merge_values",
    "read_layers",
    "read_settings",
]

#: Lowest precedence first, the order Claude Code merges them in (managed policy wins).
MERGE_ORDER: tuple[str, ...] = ("user", "project", "local", "managed")


@dataclass(frozen=True)
class Layer:
    """One settings file Claude Code reads; ``data`` is None when the file does not exist."""

    scope: str
    path: Path
    data: JSONObject | None


def read_settings(path: Path) -> JSONObject | None:
    """A settings file's content, None when it does not exist; invalid JSON is a clear error."""
    text = safe_write.read_text(path)
    return None if text is None else load_document(text, str(path)).data


def read_layers() -> list[Layer]:
    """user, project, local and managed settings, lowest precedence first. A file that two scopes
    share (project == user when working in the home directory) is read once."""
    seen: set[Path] = set()
    layers = []
    for scope in MERGE_ORDER:
        path = managed_settings_path() if scope == "managed" else settings_path(scope)  # type: ignore[arg-type]
        resolved = path.expanduser().resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        layers.append(Layer(scope, path, read_settings(path)))
    return layers


@dataclass(frozen=True)
class Origin:
    """Where an effective top-level value came from: ``scopes`` gave it (highest first; several when
    objects/arrays were merged), ``overrides`` are lower scopes whose value it replaced."""

    scopes: list[str]
    overrides: list[str] = field(default_factory=list)

    def describe(self) -> str:
        text = " + ".join(self.scopes)
        return text + (f" (overrides {', '.join(self.overrides)})" if self.overrides else "")


@dataclass(frozen=True)
class Effective:
    settings: JSONObject
    origins: dict[str, Origin]
    layers: list[Layer]

    def as_dict(self) -> JSONObject:
        return {
            "settings": self.settings,
            "sources": {
                key: {"from": [*o.scopes], "overrides": [*o.overrides]} for key, o in self.origins.items()
            },
            "files": [
                {"scope": layer.scope, "path": str(layer.path), "exists": layer.data is not None}
                for layer in self.layers
            ],
        }


def merge_values(base: JSONValue, override: JSONValue) -> JSONValue:
    """Claude Code's merge: objects key by key, arrays concatenated without duplicates (lower scope's
    items first, order kept), anything else taken from the higher scope."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_values(merged[key], value) if key in merged else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(override, list):
        return _union(base, override)
    return copy.deepcopy(override)


def _union(*lists: JSONArray) -> JSONArray:
    seen: set[str] = set()
    result = []
    for items in lists:
        for item in items:
            key = json.dumps(item, sort_keys=True)
            if key not in seen:
                seen.add(key)
                result.append(copy.deepcopy(item))
    return result


def effective_settings(layers: Sequence[Layer]) -> Effective:
    """Merge the layers (lowest precedence first) the way Claude Code does; keep each key's origin."""
    settings: JSONObject = {}
    origins: dict[str, Origin] = {}
    for layer in layers:
        for key, value in (layer.data or {}).items():
            if key not in settings:
                settings[key] = copy.deepcopy(value)
                origins[key] = Origin([layer.scope])
                continue
            old = settings[key]
            settings[key] = merge_values(old, value)
            origins[key] = _origin_after(origins[key], layer.scope, merged=_mergeable(old, value))
    return Effective(settings, origins, list(layers))


def _mergeable(old: JSONValue, new: JSONValue) -> bool:
    """Objects and arrays merge; any other value replaces the one below it."""
    return (isinstance(old, dict) and isinstance(new, dict)) or (
        isinstance(old, list) and isinstance(new, list)
    )


def _origin_after(previous: Origin, scope: str, *, merged: bool) -> Origin:
    if merged:
        return Origin([scope, *previous.scopes], previous.overrides)
    return Origin([scope], [*previous.scopes, *previous.overrides])
