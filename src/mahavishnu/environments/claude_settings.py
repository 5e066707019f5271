"""Claude Code settings management: hooks, permission rules, the status line, the effective merge.

Every edit is a pure function ``(old text or None) -> (new text, outcome)`` built on
:class:`JsonDocument`, so it changes only the member it addresses (one hook event's array, one
permission list, ``statusLine``) and keeps every other byte of the file. :func:`edit` runs such a
function through :func:`safe_write.apply` (locked, atomic, drift-checked, backed up) or
:func:`safe_write.plan` for ``--dry-run``. The CLI (``mahavishnu claude``) and, later, the MCP
server are thin layers over these functions.

What is accepted follows the published Claude Code settings schema: the hook events it lists, the
handler types with their required fields, and the permission-rule pattern. Where the schema (or
Claude Code's hooks reference) says an event ignores matchers or accepts command handlers only, an
edit that would be silently ignored is refused with a hint instead.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from mahavishnu.environments import safe_write
from mahavishnu.environments.assistants import claude as claude_assistant
from mahavishnu.environments.assistants.base import Scope
from mahavishnu.environments.json_document import JsonDocument
from mahavishnu.errors import InvalidConfigFileError, InvalidInputError, NotFoundError
from mahavishnu.masking import SECRET_KEY_PATTERN

T = TypeVar("T")

SCOPES: tuple[Scope, ...] = ("user", "project", "local")
#: Lowest precedence first, the order Claude Code merges them in (managed policy wins).
MERGE_ORDER: tuple[str, ...] = ("user", "project", "local", "managed")

# -- hooks: what the schema allows ---------------------------------------------------------------

#: Every event of ``hooks`` in the settings schema (its ``additionalProperties`` is false), in
#: roughly the order they fire.
HOOK_EVENTS: tuple[str, ...] = (
    "Setup",
    "SessionStart",
    "InstructionsLoaded",
    "UserPromptSubmit",
    "UserPromptExpansion",
    "PreToolUse",
    "PermissionRequest",
    "PermissionDenied",
    "PostToolUse",
    "PostToolUseFailure",
    "PostToolBatch",
    "Elicitation",
    "ElicitationResult",
    "SubagentStart",
    "SubagentStop",
    "TaskCreated",
    "TaskCompleted",
    "TeammateIdle",
    "MessageDisplay",
    "Notification",
    "Stop",
    "StopFailure",
    "PreCompact",
    "PostCompact",
    "ConfigChange",
    "CwdChanged",
    "FileChanged",
    "WorktreeCreate",
    "WorktreeRemove",
    "SessionEnd",
)
#: Events whose matcher is a tool name; the only ones where a handler's ``if`` filter is evaluated.
TOOL_EVENTS = frozenset(
    {"PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest", "PermissionDenied"}
)
#: Events that take no matcher (schema: "does not support matchers" / "matchers are ignored" /
#: "no matchers"; hooks reference: UserPromptSubmit and Stop always fire).
NO_MATCHER_EVENTS = frozenset(
    {
        "UserPromptSubmit",
        "Stop",
        "TeammateIdle",
        "TaskCreated",
        "TaskCompleted",
        "PostToolBatch",
        "InstructionsLoaded",
        "CwdChanged",
        "WorktreeCreate",
        "WorktreeRemove",
    }
)
#: Events the schema says run command handlers only.
COMMAND_ONLY_EVENTS = frozenset({"ConfigChange", "WorktreeCreate", "WorktreeRemove"})
#: What a matcher is compared with, per event (for help and error hints).
MATCHER_TARGET: dict[str, str] = {
    **{event: "tool name, e.g. Bash, Edit|Write, mcp__memory__.*" for event in TOOL_EVENTS},
    "SessionStart": "how the session started: startup, resume, clear, compact",
    "SessionEnd": "why the session ended: clear, logout, prompt_input_exit, other",
    "Notification": "notification type, e.g. permission_prompt, idle_prompt",
    "SubagentStart": "agent type, e.g. Explore, Plan",
    "SubagentStop": "agent type, e.g. Explore, Plan",
    "PreCompact": "what triggered it: manual, auto",
    "PostCompact": "what triggered it: manual, auto",
    "StopFailure": "error type, e.g. rate_limit, authentication_failed, server_error",
    "ConfigChange": "source: user_settings, project_settings, local_settings, policy_settings, skills",
    "FileChanged": "file name, e.g. .envrc|.env",
    "Elicitation": "MCP server name",
    "ElicitationResult": "MCP server name",
    "UserPromptExpansion": "command name",
    "Setup": "trigger: init, maintenance",
    "MessageDisplay": "event-specific value",
}

HandlerType = Literal["command", "http", "prompt", "agent", "mcp_tool"]
HANDLER_TYPES: tuple[str, ...] = ("command", "http", "prompt", "agent", "mcp_tool")
#: The fields each handler type requires besides ``type`` (schema ``hookCommand``).
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "command": ("command",),
    "http": ("url",),
    "prompt": ("prompt",),
    "agent": ("prompt",),
    "mcp_tool": ("server", "tool"),
}
#: The optional fields each handler type accepts (besides timeout, if and statusMessage, which all take).
OPTIONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "command": ("async",),
    "http": ("headers", "allowedEnvVars"),
    "prompt": ("model",),
    "agent": ("model",),
    "mcp_tool": ("input",),
}
_FIELD_OPTION = {
    "command": "--command",
    "url": "--url",
    "prompt": "--prompt",
    "server": "--server",
    "tool": "--tool",
    "input": "--input",
    "model": "--model",
    "async": "--async",
    "headers": "--header",
    "allowedEnvVars": "--allowed-env-var",
}

# -- permissions: what the schema allows ---------------------------------------------------------

PermissionKind = Literal["allow", "deny", "ask"]
PERMISSION_KINDS: tuple[PermissionKind, ...] = ("allow", "deny", "ask")
#: The tool names the schema's ``permissionRule`` pattern accepts (besides ``mcp__…``).
PERMISSION_TOOLS: tuple[str, ...] = (
    "Agent",
    "Bash",
    "Cd",
    "Edit",
    "ExitPlanMode",
    "Glob",
    "Grep",
    "KillShell",
    "LSP",
    "Monitor",
    "MultiEdit",
    "NotebookEdit",
    "PowerShell",
    "Read",
    "Skill",
    "TaskCreate",
    "TaskGet",
    "TaskList",
    "TaskOutput",
    "TaskStop",
    "TaskUpdate",
    "TodoWrite",
    "ToolSearch",
    "WebFetch",
    "WebSearch",
    "Write",
)
PERMISSION_RULE = re.compile(rf"^(({'|'.join(PERMISSION_TOOLS)})(\([^)]+\))?|mcp__.*)$")
_RENAMED_TOOLS = {"Task": "Agent"}


# -- scopes and files ----------------------------------------------------------------------------


def parse_scope(value: str) -> Scope:
    if value not in SCOPES:
        raise InvalidInputError(f"unknown scope '{value}'", hint="Use user, project or local.")
    return value  # type: ignore[return-value]


def settings_path(scope: Scope) -> Path:
    """The Claude Code settings file of a scope (user honours ``CLAUDE_CONFIG_DIR``)."""
    return claude_assistant.Claude().settings_path(scope)


def managed_settings_path() -> Path:
    """Read at call time, so tests (and future platforms) can point it elsewhere."""
    return claude_assistant.MANAGED_SETTINGS


def _load(text: str | None, source: str) -> JsonDocument:
    return JsonDocument.parse(text or "", source=source, comments=False)


def _object_at(doc: JsonDocument, keys: Sequence[str], source: str) -> dict[str, Any] | None:
    value = doc.get(keys)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidConfigFileError(
            f"{'.'.join(keys)} in {source} is not an object",
            hint="Fix that key by hand (Claude Code expects an object there); nothing was written.",
        )
    return value


def _array_at(doc: JsonDocument, keys: Sequence[str], source: str) -> list[Any]:
    value = doc.get(keys)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidConfigFileError(
            f"{'.'.join(keys)} in {source} is not an array",
            hint="Fix that key by hand (Claude Code expects an array there); nothing was written.",
        )
    return value


# -- writing -------------------------------------------------------------------------------------


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

    def __init__(self, outcome: Any) -> None:
        super().__init__("nothing to write")
        self.outcome = outcome


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
            raise _NothingToWrite(outcome)
        return after

    try:
        if dry_run:
            change = safe_write.plan(target, transform)
            claude_assistant.validate(change.after)
        else:
            if backups is None:
                from mahavishnu.config import load_settings

                backups = load_settings().environments.backups_keep
            change = safe_write.apply(target, transform, validate=claude_assistant.validate, backups=backups)
    except _NothingToWrite as nothing:
        return EditResult(
            target, safe_write.Change(target, None, ""), nothing.outcome, dry_run, changed=False
        )
    return EditResult(target, change, outcomes[-1], dry_run, changed=change.changed)


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
    found: list[str] = []
    env = data.get("env")
    if isinstance(env, dict):
        found += [v for k, v in env.items() if isinstance(v, str) and SECRET_KEY_PATTERN.search(k)]
    for entry in _iter_handlers(data.get("hooks")):
        headers = entry.handler.get("headers")
        if isinstance(headers, dict):
            found += [v for v in headers.values() if isinstance(v, str) and not v.startswith("$")]
    return [value for value in found if value]


# -- hooks ---------------------------------------------------------------------------------------


def resolve_event(name: str) -> str:
    """The schema's spelling of an event name (matched case-insensitively), or a clear error."""
    for event in HOOK_EVENTS:
        if event.lower() == name.strip().lower():
            return event
    close = difflib.get_close_matches(name, HOOK_EVENTS, n=3, cutoff=0.6)
    hint = f"Did you mean {' or '.join(close)}? " if close else ""
    raise InvalidInputError(f"unknown hook event '{name}'", hint=f"{hint}Events: {', '.join(HOOK_EVENTS)}.")


def _normal_matcher(matcher: str | None) -> str | None:
    """``*``, ``""`` and no matcher all match every occurrence: one group for all three."""
    return None if matcher in (None, "", "*") else matcher


@dataclass(frozen=True)
class HookSpec:
    """One hook handler to add to an event (optionally under a matcher)."""

    event: str
    type: HandlerType = "command"
    matcher: str | None = None
    command: str | None = None
    url: str | None = None
    prompt: str | None = None
    server: str | None = None
    tool: str | None = None
    input: dict[str, Any] | None = None
    model: str | None = None
    timeout: float | None = None
    condition: str | None = None  # the handler's ``if`` filter
    status_message: str | None = None
    run_async: bool = False
    headers: dict[str, str] | None = None
    allowed_env_vars: tuple[str, ...] = ()

    def fields(self) -> dict[str, Any]:
        """The type-specific fields that were given (by schema name)."""
        given = {
            "command": self.command,
            "url": self.url,
            "prompt": self.prompt,
            "server": self.server,
            "tool": self.tool,
            "input": self.input,
            "model": self.model,
            "async": self.run_async or None,
            "headers": self.headers or None,
            "allowedEnvVars": list(self.allowed_env_vars) or None,
        }
        return {key: value for key, value in given.items() if value is not None}

    def handler(self) -> dict[str, Any]:
        """The handler object as Claude Code reads it (schema ``hookCommand``)."""
        result: dict[str, Any] = {"type": self.type, **self.fields()}
        if self.timeout is not None:
            result["timeout"] = int(self.timeout) if float(self.timeout).is_integer() else self.timeout
        if self.condition is not None:
            result["if"] = self.condition
        if self.status_message is not None:
            result["statusMessage"] = self.status_message
        return result


def infer_handler_type(
    *, command: str | None, url: str | None, prompt: str | None, server: str | None, tool: str | None
) -> HandlerType:
    """The handler type implied by the one identifying option given (agent must be asked for)."""
    implied: list[HandlerType] = []
    if command is not None:
        implied.append("command")
    if url is not None:
        implied.append("http")
    if prompt is not None:
        implied.append("prompt")
    if server is not None or tool is not None:
        implied.append("mcp_tool")
    if len(implied) == 1:
        return implied[0]
    if not implied:
        raise InvalidInputError(
            "say what the hook runs",
            hint="Give --command CMD, --url URL, --prompt TEXT (with --type agent for an agent hook) "
            "or --server S --tool T.",
        )
    raise InvalidInputError(
        f"conflicting handler options for types {', '.join(implied)}",
        hint="One handler per command: pick --command, --url, --prompt or --server/--tool, or set --type.",
    )


def validate_hook(spec: HookSpec) -> HookSpec:
    """Check a handler against the schema and the event's rules; returns it with the event spelled right."""
    event = resolve_event(spec.event)
    if spec.type not in HANDLER_TYPES:
        raise InvalidInputError(
            f"unknown handler type '{spec.type}'", hint=f"Use one of: {', '.join(HANDLER_TYPES)}."
        )
    given = spec.fields()
    missing = [name for name in REQUIRED_FIELDS[spec.type] if not str(given.get(name) or "").strip()]
    if missing:
        options = " and ".join(_FIELD_OPTION[name] for name in missing)
        raise InvalidInputError(
            f"{_article(spec.type)} {spec.type} hook needs {' and '.join(missing)}",
            hint=f"Add {options} (it cannot be empty).",
        )
    allowed = set(REQUIRED_FIELDS[spec.type]) | set(OPTIONAL_FIELDS[spec.type])
    extra = [name for name in given if name not in allowed]
    if extra:
        options = ", ".join(_FIELD_OPTION[name] for name in extra)
        takes = ", ".join(
            _FIELD_OPTION[name] for name in (*REQUIRED_FIELDS[spec.type], *OPTIONAL_FIELDS[spec.type])
        )
        article = _article(spec.type)
        raise InvalidInputError(
            f"{options} does not apply to {article} {spec.type} hook",
            hint=f"{article.capitalize()} {spec.type} hook takes {takes}.",
        )
    if event in COMMAND_ONLY_EVENTS and spec.type != "command":
        raise InvalidInputError(
            f"{event} runs command hooks only, not {spec.type}",
            hint="Use --command CMD (Claude Code ignores the rest).",
        )
    matcher = spec.matcher
    if matcher is not None and event in NO_MATCHER_EVENTS and _normal_matcher(matcher) is not None:
        raise InvalidInputError(
            f"{event} takes no matcher (Claude Code would ignore '{matcher}')",
            hint=f"Drop --matcher: a {event} hook fires on every occurrence.",
        )
    if event in NO_MATCHER_EVENTS:
        matcher = None
    if spec.timeout is not None and (not math.isfinite(spec.timeout) or spec.timeout <= 0):
        raise InvalidInputError(f"timeout must be a positive number of seconds, not {spec.timeout:g}")
    if spec.condition is not None and event not in TOOL_EVENTS:
        raise InvalidInputError(
            f"--if is only evaluated on tool events; a {event} hook with it would never run",
            hint=f"Use --if with {', '.join(sorted(TOOL_EVENTS))}, or drop it.",
        )
    if spec.condition is not None and not spec.condition.strip():
        raise InvalidInputError(
            "--if cannot be empty", hint='Give a permission rule, e.g. --if "Bash(git *)".'
        )
    return dataclasses.replace(spec, event=event, matcher=matcher)


def _article(word: str) -> str:
    return "an" if word[0] in "aehimo" else "a"  # an http, an mcp_tool, an agent


@dataclass(frozen=True)
class HookEntry:
    """One handler as it sits in a settings file; ``index`` is what ``hooks list`` shows."""

    index: int
    event: str
    matcher: str | None
    group: int  # position of its matcher group in the event's array
    position: int  # position in the group's ``hooks``
    handler: dict[str, Any]

    @property
    def summary(self) -> str:
        return describe_handler(self.handler)

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "event": self.event,
            "matcher": self.matcher,
            "group": self.group,
            "position": self.position,
            "handler": self.handler,
        }


def describe_handler(handler: Mapping[str, Any]) -> str:
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


def _iter_handlers(hooks: Any) -> Iterable[HookEntry]:
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
            for position, handler in enumerate(group["hooks"]):
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
    doc = _load(text, source)
    entries = list(_iter_handlers(doc.get(["hooks"])))
    if event is not None:
        wanted = resolve_event(event)
        entries = [entry for entry in entries if entry.event == wanted]
    return entries


def _identity(handler: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes two handlers 'the same hook' (then the other fields are its settings)."""
    kind = handler.get("type")
    if kind in REQUIRED_FIELDS:
        return (kind, *(handler.get(name) for name in REQUIRED_FIELDS[kind]))
    return (kind, json.dumps(dict(handler), sort_keys=True))


@dataclass(frozen=True)
class HookAdded:
    status: Literal["added", "updated", "unchanged"]
    event: str
    matcher: str | None
    handler: dict[str, Any]
    previous: dict[str, Any] | None = None


def add_hook(text: str | None, spec: HookSpec, *, source: str = "<settings>") -> tuple[str, HookAdded]:
    """Add a handler: appended to the event's group with the same matcher (or a new group). The same
    handler again is a no-op; the same command/url/prompt with other settings (timeout…) is updated."""
    spec = validate_hook(spec)
    doc = _load(text, source)
    _object_at(doc, ["hooks"], source)
    groups = copy.deepcopy(_array_at(doc, ["hooks", spec.event], source))
    handler = spec.handler()
    wanted = _normal_matcher(spec.matcher)
    group = next(
        (
            g
            for g in groups
            if isinstance(g, dict)
            and isinstance(g.get("hooks"), list)
            and _normal_matcher(g.get("matcher")) == wanted
        ),
        None,
    )
    result: HookAdded
    if group is None:
        new_group: dict[str, Any] = {"matcher": spec.matcher} if spec.matcher is not None else {}
        new_group["hooks"] = [handler]
        groups.append(new_group)
        result = HookAdded("added", spec.event, spec.matcher, handler)
    else:
        handlers: list[Any] = group["hooks"]
        same = next(
            (i for i, h in enumerate(handlers) if isinstance(h, dict) and _identity(h) == _identity(handler)),
            None,
        )
        if same is None:
            handlers.append(handler)
            result = HookAdded("added", spec.event, group.get("matcher"), handler)
        elif handlers[same] == handler:
            return doc.dumps(), HookAdded("unchanged", spec.event, group.get("matcher"), handler)
        else:
            result = HookAdded("updated", spec.event, group.get("matcher"), handler, previous=handlers[same])
            handlers[same] = handler
    doc.set(["hooks", spec.event], groups)
    return doc.dumps(), result


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


def _select(entries: list[HookEntry], selector: HookSelector) -> HookEntry:
    event = resolve_event(selector.event) if selector.event else None
    if selector.index is not None:
        found = [entry for entry in entries if entry.index == selector.index]
        if not found:
            raise NotFoundError(
                f"no hook #{selector.index} in this file ({len(entries)} in all)",
                hint="See the numbers with `mahavishnu claude hooks list`.",
            )
        if event is not None and found[0].event != event:
            raise InvalidInputError(
                f"hook #{selector.index} is a {found[0].event} hook, not {event}",
                hint="Check the number with `mahavishnu claude hooks list`.",
            )
        return found[0]
    if event is None:
        raise InvalidInputError(
            "say which hook to remove", hint="Give EVENT with --command/--url/--prompt/--tool, or --index N."
        )
    criteria = selector.criteria()
    if not set(criteria) - {"type"}:
        raise InvalidInputError(
            f"say which {event} hook to remove",
            hint="Add --command, --url, --prompt or --tool (as `hooks list` shows it), or use --index N.",
        )
    matches = [
        entry
        for entry in entries
        if entry.event == event
        and (selector.matcher is None or _normal_matcher(entry.matcher) == _normal_matcher(selector.matcher))
        and all(entry.handler.get(key) == value for key, value in criteria.items())
    ]
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


def remove_hook(
    text: str | None, selector: HookSelector, *, source: str = "<settings>"
) -> tuple[str, HookRemoved]:
    """Remove one handler; an emptied matcher group goes, then an emptied event, then an emptied
    ``hooks`` object. Other events are not touched."""
    doc = _load(text, source)
    entry = _select(list(_iter_handlers(doc.get(["hooks"]))), selector)
    groups = copy.deepcopy(_array_at(doc, ["hooks", entry.event], source))
    handlers = groups[entry.group]["hooks"]
    del handlers[entry.position]
    removed_group = not handlers
    if removed_group:
        del groups[entry.group]
    removed_event = not groups
    if removed_event:
        doc.delete(["hooks", entry.event], prune_empty_parents=True)
    else:
        doc.set(["hooks", entry.event], groups)
    return doc.dumps(), HookRemoved(entry, removed_group, removed_event)


# -- permissions ---------------------------------------------------------------------------------


def parse_kind(value: str) -> PermissionKind:
    if value not in PERMISSION_KINDS:
        raise InvalidInputError(f"unknown permission list '{value}'", hint="Use allow, deny or ask.")
    return value  # type: ignore[return-value]


def validate_rule(rule: str) -> str:
    """A permission rule as the schema accepts it: ``Tool``, ``Tool(specifier)`` or ``mcp__…``."""
    rule = rule.strip()
    if PERMISSION_RULE.match(rule):
        return rule
    if not rule:
        raise InvalidInputError(
            "a permission rule cannot be empty", hint='Write it like "Bash(npm run test:*)".'
        )
    tool = re.split(r"[(\s]", rule, maxsplit=1)[0]
    suggestion = _RENAMED_TOOLS.get(tool) or next(
        (t for t in PERMISSION_TOOLS if t.lower() == tool.lower()), None
    )
    if tool in PERMISSION_TOOLS:
        problem = (
            "its specifier must be one pair of parentheses with no ')' inside, e.g. Bash(npm run test:*)"
        )
        raise InvalidInputError(f"invalid permission rule '{rule}': {problem}", hint="Check the parentheses.")
    if suggestion:
        hint = f"Did you mean {suggestion}{rule[len(tool) :]}?"
    else:
        hint = (
            f"Tools: {', '.join(PERMISSION_TOOLS)}; MCP tools are written mcp__server or mcp__server__tool."
        )
    raise InvalidInputError(f"invalid permission rule '{rule}': unknown tool '{tool}'", hint=hint)


@dataclass(frozen=True)
class PermissionsChanged:
    kind: PermissionKind
    changed: list[str]  # rules added (or removed)
    skipped: list[str]  # already there (or not there)
    warnings: list[str] = field(default_factory=list)


def add_permission_rules(
    text: str | None, kind: PermissionKind, rules: Sequence[str], *, source: str = "<settings>"
) -> tuple[str, PermissionsChanged]:
    """Append the rules missing from ``permissions.<kind>``, in order; the list is de-duplicated."""
    wanted = list(dict.fromkeys(validate_rule(rule) for rule in rules))
    if not wanted:
        raise InvalidInputError(
            "no rule given", hint='e.g. mahavishnu claude permissions allow add "Bash(npm run test:*)"'
        )
    doc = _load(text, source)
    _object_at(doc, ["permissions"], source)
    current = _array_at(doc, ["permissions", kind], source)
    added = [rule for rule in wanted if rule not in current]
    skipped = [rule for rule in wanted if rule in current]
    warnings = []
    for other in PERMISSION_KINDS:
        if other == kind:
            continue
        elsewhere = [rule for rule in added if rule in _array_at(doc, ["permissions", other], source)]
        for rule in elsewhere:
            winner = _stronger(kind, other)
            warnings.append(f"{rule} is also in {other} in this file; {winner} wins")
    if added:
        doc.set(["permissions", kind], list(dict.fromkeys([*current, *added])))
    return doc.dumps(), PermissionsChanged(kind, added, skipped, warnings)


def _stronger(a: PermissionKind, b: PermissionKind) -> PermissionKind:
    """Claude Code checks deny first, then ask, then allow."""
    order = ("deny", "ask", "allow")
    return a if order.index(a) < order.index(b) else b


def remove_permission_rules(
    text: str | None, kind: PermissionKind, rules: Sequence[str], *, source: str = "<settings>"
) -> tuple[str, PermissionsChanged]:
    """Remove rules from ``permissions.<kind>``; an emptied list (and ``permissions``) goes too."""
    wanted = list(dict.fromkeys(rule.strip() for rule in rules))
    if not wanted:
        raise InvalidInputError(
            "no rule given", hint="Name the rules to remove as `permissions list` shows them."
        )
    doc = _load(text, source)
    _object_at(doc, ["permissions"], source)
    current = _array_at(doc, ["permissions", kind], source)
    removed = [rule for rule in wanted if rule in current]
    missing = [rule for rule in wanted if rule not in current]
    if not removed:
        raise NotFoundError(
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not in "
            f"permissions.{kind} of {source}",
            hint=f"See the rules with `mahavishnu claude permissions {kind} list`.",
        )
    kept = [rule for rule in current if rule not in removed]
    if kept:
        doc.set(["permissions", kind], kept)
    else:
        doc.delete(["permissions", kind], prune_empty_parents=True)
    return doc.dumps(), PermissionsChanged(kind, removed, missing)


def list_permissions(text: str | None, *, source: str = "<settings>") -> dict[str, Any]:
    """The three rule lists (always present, maybe empty) plus the other permission settings that are set."""
    doc = _load(text, source)
    permissions = _object_at(doc, ["permissions"], source) or {}
    result: dict[str, Any] = {
        kind: list(_array_at(doc, ["permissions", kind], source)) for kind in PERMISSION_KINDS
    }
    for key, value in permissions.items():
        if key not in result:
            result[key] = value
    return result


# -- status line ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusLineChanged:
    status: Literal["set", "unchanged", "cleared", "absent"]
    status_line: dict[str, Any] | None


def set_status_line(
    text: str | None,
    command: str,
    *,
    padding: int | None = None,
    refresh_interval: int | None = None,
    source: str = "<settings>",
) -> tuple[str, StatusLineChanged]:
    """``statusLine: {"type": "command", "command": …, "padding": N}``; other statusLine keys the
    user set (hideVimModeIndicator…) stay."""
    if not command.strip():
        raise InvalidInputError(
            "the status line command cannot be empty", hint="e.g. ~/.claude/statusline.sh"
        )
    if padding is not None and padding < 0:
        raise InvalidInputError(f"padding must be 0 or more, not {padding}")
    if refresh_interval is not None and refresh_interval < 1:
        raise InvalidInputError(f"refresh interval must be at least 1 second, not {refresh_interval}")
    doc = _load(text, source)
    current = doc.get(["statusLine"])
    if isinstance(current, dict) and current.get("type") == "command":
        doc.set(["statusLine", "command"], command)
        if padding is not None:
            doc.set(["statusLine", "padding"], padding)
        if refresh_interval is not None:
            doc.set(["statusLine", "refreshInterval"], refresh_interval)
    else:
        value: dict[str, Any] = {"type": "command", "command": command}
        if padding is not None:
            value["padding"] = padding
        if refresh_interval is not None:
            value["refreshInterval"] = refresh_interval
        doc.set(["statusLine"], value)
    after = doc.get(["statusLine"])
    return doc.dumps(), StatusLineChanged("unchanged" if after == current else "set", after)


def clear_status_line(text: str | None, *, source: str = "<settings>") -> tuple[str, StatusLineChanged]:
    doc = _load(text, source)
    current = doc.get(["statusLine"])
    if not doc.delete(["statusLine"]):
        return doc.dumps(), StatusLineChanged("absent", None)
    return doc.dumps(), StatusLineChanged("cleared", current)


# -- reading and the effective merge -------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One settings file Claude Code reads; ``data`` is None when the file does not exist."""

    scope: str
    path: Path
    data: dict[str, Any] | None


def read_settings(path: Path) -> dict[str, Any] | None:
    """A settings file's content, None when it does not exist; invalid JSON is a clear error."""
    text = safe_write.read_text(path)
    return None if text is None else _load(text, str(path)).data


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
    settings: dict[str, Any]
    origins: dict[str, Origin]
    layers: list[Layer]

    def as_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "sources": {key: {"from": o.scopes, "overrides": o.overrides} for key, o in self.origins.items()},
            "files": [
                {"scope": layer.scope, "path": str(layer.path), "exists": layer.data is not None}
                for layer in self.layers
            ],
        }


def merge_values(base: Any, override: Any) -> Any:
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


def _union(*lists: list[Any]) -> list[Any]:
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
    settings: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    for layer in layers:
        for key, value in (layer.data or {}).items():
            if key not in settings:
                settings[key] = copy.deepcopy(value)
                origins[key] = Origin([layer.scope])
                continue
            old = settings[key]
            mergeable = (isinstance(old, dict) and isinstance(value, dict)) or (
                isinstance(old, list) and isinstance(value, list)
            )
            settings[key] = merge_values(old, value)
            previous = origins[key]
            if mergeable:
                origins[key] = Origin([layer.scope, *previous.scopes], previous.overrides)
            else:
                origins[key] = Origin([layer.scope], [*previous.scopes, *previous.overrides])
    return Effective(settings, origins, list(layers))
