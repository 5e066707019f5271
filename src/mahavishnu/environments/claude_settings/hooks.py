"""The hooks in a settings file: listed, added and removed one handler at a time.

Each edit is a pure ``(old text) -> (new text, outcome)`` function that changes one event's array and
keeps every other byte of the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from mahavishnu.environments.claude_settings.hook_schema import REQUIRED_FIELDS, normal_matcher, resolve_event
from mahavishnu.environments.claude_settings.hook_spec import HookSpec, validate_hook
from mahavishnu.environments.claude_settings.settings_file import array_at, load_document, object_at
from mahavishnu.errors import InvalidInputError, NotFoundError
from mahavishnu.files.json_values import as_array, as_object, as_text, member
from mahavishnu.json_types import JSONArray, JSONMapping, JSONObject, JSONValue
from mahavishnu.wording import a

__all__ = [
    "HookAdded",
    "HookEntry",
    "HookRemoved",
    "HookSelector",
    "add_hook",
    "describe_handler",
    "iter_handlers",
    "list_hooks",
    "remove_hook",
]


@dataclass(frozen=True)
class HookEntry:
    """One handler as it sits in a settings file; ``index`` is what ``hooks list`` shows."""

    index: int
    event: str
    matcher: str | None
    group: int  # position of its matcher group in the event's array
    position: int  # position in the group's ``hooks``
    handler: JSONObject

    @property
    def summary(self) -> str:
        return describe_handler(self.handler)

    def as_dict(self) -> JSONObject:
        return {
            "index": self.index,
            "event": self.event,
            "matcher": self.matcher,
            "group": self.group,
            "position": self.position,
            "handler": self.handler,
        }


def describe_handler(handler: JSONMapping) -> str:
    kind = handler.get("type")
    if kind == "command":
        return str(handler.get("command", ""))
    if kind == "http":
        return str(handler.get("url", ""))
    if kind in ("prompt", "agent"):
        return str(handler.get("prompt", ""))
    if kind == "mcp_tool":
        return f"{handler.get('server', '')}:{handler.get('tool', '')}"
    return json.dumps(dict(handler), ensure_ascii=False)


def iter_handlers(hooks: JSONValue) -> Iterable[HookEntry]:
    """Every well-formed handler of a ``hooks`` value, numbered in file order; the rest is skipped."""
    if not isinstance(hooks, dict):
        return
    index = 0
    for event, groups in hooks.items():
        if not isinstance(groups, list):
            continue
        for group_index, group in enumerate(groups):
            if not isinstance(group, dict) or not isinstance(group.get("hooks"), list):
                continue
            matcher = group.get("matcher")
            for position, handler in enumerate(as_array(group["hooks"])):
                if not isinstance(handler, dict):
                    continue
                index += 1
                yield HookEntry(
                    index,
                    event,
                    matcher if isinstance(matcher, str) else None,
                    group_index,
                    position,
                    handler,
                )


def list_hooks(text: str | None, *, source: str = "<settings>", event: str | None = None) -> list[HookEntry]:
    """Every handler in the file, numbered in file order (the numbers ``remove_hook`` takes)."""
    doc = load_document(text, source)
    entries = list(iter_handlers(doc.get(["hooks"])))
    if event is not None:
        wanted = resolve_event(event)
        entries = [entry for entry in entries if entry.event == wanted]
    return entries


# -- adding --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HookAdded:
    status: Literal["added", "updated", "unchanged"]
    event: str
    matcher: str | None
    handler: JSONObject
    previous: JSONValue = None  # the handler an update replaced


def add_hook(text: str | None, spec: HookSpec, *, source: str = "<settings>") -> tuple[str, HookAdded]:
    """Add a handler: appended to the event's group with the same matcher (or a new group). The same
    handler again is a no-op; the same command/url/prompt with other settings (timeout…) is updated.
    Only that element of the file is written: a user's groups keep their bytes (one on one line stays
    on it)."""
    spec = validate_hook(spec)
    doc = load_document(text, source)
    object_at(doc, ["hooks"], source)
    groups = array_at(doc, ["hooks", spec.event], source)
    handler = spec.handler()
    at = _group_with_matcher(groups, spec.matcher)
    if at is None:
        new_group: JSONObject = {"matcher": spec.matcher} if spec.matcher is not None else {}
        new_group["hooks"] = [handler]
        doc.append_element(["hooks", spec.event], new_group)
        return doc.dumps(), HookAdded("added", spec.event, spec.matcher, handler)
    keys: list[str | int] = ["hooks", spec.event, at, "hooks"]
    group = as_object(groups[at])  # (``_group_with_matcher`` chose an object holding an array)
    handlers, matcher = as_array(group["hooks"]), as_text(group.get("matcher"))
    same = next(
        (i for i, h in enumerate(handlers) if isinstance(h, dict) and _identity(h) == _identity(handler)),
        None,
    )
    if same is None and not handlers:  # (an empty group: written whole, it has no layout to keep)
        doc.set(["hooks", spec.event], [*groups[:at], {**group, "hooks": [handler]}, *groups[at + 1 :]])
        return doc.dumps(), HookAdded("added", spec.event, matcher, handler)
    if same is None:
        doc.append_element(keys, handler)
        return doc.dumps(), HookAdded("added", spec.event, matcher, handler)
    if handlers[same] == handler:
        return doc.dumps(), HookAdded("unchanged", spec.event, matcher, handler)
    doc.insert_element(keys, same, handler)  # (before the old one, laid out as it is; then it goes)
    doc.remove_element(keys, same + 1)
    return doc.dumps(), HookAdded("updated", spec.event, matcher, handler, previous=handlers[same])


def _group_with_matcher(groups: JSONArray, matcher: str | None) -> int | None:
    """The index of the event's group of ``matcher`` (an object holding a ``hooks`` array)."""
    wanted = normal_matcher(matcher)
    return next(
        (
            index
            for index, g in enumerate(groups)
            if isinstance(g, dict)
            and isinstance(g.get("hooks"), list)
            and normal_matcher(g.get("matcher")) == wanted
        ),
        None,
    )


def _identity(handler: JSONMapping) -> tuple[object, ...]:
    """What makes two handlers 'the same hook' (then the other fields are its settings)."""
    kind = handler.get("type")
    if kind in REQUIRED_FIELDS:
        return (kind, *(handler.get(name) for name in REQUIRED_FIELDS[kind]))
    return (kind, json.dumps(dict(handler), sort_keys=True))


def _matching(
    entries: list[HookEntry], selector: HookSelector, event: str, criteria: dict[str, str]
) -> list[HookEntry]:
    """The handlers of ``event`` under the selector's matcher (if it gives one) that have every criterion."""
    return [
        entry
        for entry in entries
        if entry.event == event
        and (selector.matcher is None or normal_matcher(entry.matcher) == normal_matcher(selector.matcher))
        and all(entry.handler.get(key) == value for key, value in criteria.items())
    ]


# -- removing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HookSelector:
    """Which handler(s) ``remove_hook`` removes: by ``index`` (from ``list_hooks``) or by event plus
    any of matcher/type/command/url/prompt/server/tool."""

    event: str | None = None
    index: int | None = None
    matcher: str | None = None
    type: str | None = None
    command: str | None = None
    url: str | None = None
    prompt: str | None = None
    server: str | None = None
    tool: str | None = None

    def criteria(self) -> dict[str, str]:
        given = {
            "type": self.type,
            "command": self.command,
            "url": self.url,
            "prompt": self.prompt,
            "server": self.server,
            "tool": self.tool,
        }
        return {key: value for key, value in given.items() if value is not None}


@dataclass(frozen=True)
class HookRemoved:
    removed: HookEntry
    removed_group: bool  # its matcher group became empty and went too
    removed_event: bool  # ... and so did the event


def remove_hook(
    text: str | None, selector: HookSelector, *, source: str = "<settings>"
) -> tuple[str, HookRemoved]:
    """Remove one handler; an emptied matcher group goes, then an emptied event, then an emptied
    ``hooks`` object. Other events are not touched."""
    doc = load_document(text, source)
    entry = _select(list(iter_handlers(doc.get(["hooks"]))), selector)
    groups = array_at(doc, ["hooks", entry.event], source)
    handlers = as_array(member(groups[entry.group], "hooks"))  # where ``iter_handlers`` found it
    removed_group = len(handlers) == 1
    removed_event = removed_group and len(groups) == 1
    if removed_event:
        doc.delete(["hooks", entry.event], prune_empty_parents=True)
    elif removed_group:
        doc.remove_element(["hooks", entry.event], entry.group)
    else:
        doc.remove_element(["hooks", entry.event, entry.group, "hooks"], entry.position)
    return doc.dumps(), HookRemoved(entry, removed_group, removed_event)


def _select(entries: list[HookEntry], selector: HookSelector) -> HookEntry:
    event = resolve_event(selector.event) if selector.event else None
    if selector.index is not None:
        return _select_by_index(entries, selector.index, event)
    if event is None:
        raise InvalidInputError(
            "say which hook to remove", hint="Give EVENT with --command/--url/--prompt/--tool, or --index N."
        )
    return _select_by_criteria(entries, selector, event)


def _select_by_index(entries: list[HookEntry], index: int, event: str | None) -> HookEntry:
    found = [entry for entry in entries if entry.index == index]
    if not found:
        raise NotFoundError(
            f"no hook #{index} in this file ({len(entries)} in all)",
            hint="See the numbers with `mahavishnu claude hooks list`.",
        )
    if event is not None and found[0].event != event:
        raise InvalidInputError(
            f"hook #{index} is {a(found[0].event)} hook, not {event}",
            hint="Check the number with `mahavishnu claude hooks list`.",
        )
    return found[0]


def _select_by_criteria(entries: list[HookEntry], selector: HookSelector, event: str) -> HookEntry:
    """The one handler of ``event`` that matches everything the selector gives."""
    criteria = selector.criteria()
    if not set(criteria) - {"type"}:
        raise InvalidInputError(
            f"say which {event} hook to remove",
            hint="Add --command, --url, --prompt or --tool (as `hooks list` shows it), or use --index N.",
        )
    matches = _matching(entries, selector, event, criteria)
    if not matches:
        where = f" with matcher '{selector.matcher}'" if selector.matcher is not None else ""
        raise NotFoundError(
            f"no {event} hook{where} matches {', '.join(f'{k}={v!r}' for k, v in criteria.items())}",
            hint="See what is there with `mahavishnu claude hooks list`.",
        )
    if len(matches) > 1:
        numbers = ", ".join(f"#{entry.index}" for entry in matches)
        raise InvalidInputError(
            f"{len(matches)} {event} hooks match ({numbers})",
            hint="Add --matcher or --type, or remove one with --index N.",
        )
    return matches[0]
