"""The shapes of parsed JSON, for precise types where ``Any`` would otherwise stand.

``json.loads`` returns a ``JSONValue``; a settings file, a hook's payload or an MCP message is a
``JSONObject``. Parameters that only read a document take the read-only ``JSONMapping`` so that a
``dict[str, str]`` is accepted too (``dict`` is invariant in its value type)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

JSONScalar: TypeAlias = str | int | float | bool | None
JSONValue: TypeAlias = JSONScalar | list["JSONValue"] | dict[str, "JSONValue"]
JSONObject: TypeAlias = dict[str, JSONValue]
JSONArray: TypeAlias = list[JSONValue]
#: Read-only views, for parameters: any mapping or sequence of JSON values.
JSONMapping: TypeAlias = Mapping[str, "JSONReadable"]
JSONReadable: TypeAlias = JSONScalar | Sequence["JSONReadable"] | Mapping[str, "JSONReadable"]

__all__ = ["JSONArray", "JSONMapping", "JSONObject", "JSONReadable", "JSONScalar", "JSONValue"]
