"""Reading parsed JSON (``JSONValue``) as the shape a caller expects: a settings file is the user's,
so any member may hold anything; a member of the wrong kind reads as missing."""

from __future__ import annotations

from collections.abc import Mapping

from mahavishnu.json_types import JSONArray, JSONObject, JSONValue


def as_object(value: JSONValue) -> JSONObject:
    """``value`` when it is an object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_array(value: JSONValue) -> JSONArray:
    """``value`` when it is an array, else an empty one."""
    return value if isinstance(value, list) else []


def as_text(value: object) -> str | None:
    """``value`` when it is a string, else None."""
    return value if isinstance(value, str) else None


def member(value: JSONValue, *keys: str) -> JSONValue:
    """The value at ``keys`` under ``value``, or None when a key is missing or not in an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


__all__ = ["as_array", "as_object", "as_text", "member"]


def merged(low: Mapping[str, object], high: Mapping[str, object]) -> dict[str, object]:
    """``high`` read over ``low``: objects merged key by key, any other value (an array too) replaced
    by ``high``'s."""
    out = dict(low)
    for key, value in high.items():
        below = out.get(key)
        out[key] = merged(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return out
