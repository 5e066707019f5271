"""A hook handler to add, checked against the schema and the rules of its event before any write."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from mahavishnu.environments.claude_settings.hook_schema import (
    COMMAND_ONLY_EVENTS,
    HANDLER_TYPES,
    NO_MATCHER_EVENTS,
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
    TOOL_EVENTS,
    HandlerType,
    normal_matcher,
    resolve_event,
)
from mahavishnu.errors import InvalidInputError
from mahavishnu.json_types import JSONObject
from mahavishnu.wording import a

__all__ = ["HookSpec", "infer_handler_type", "validate_hook"]

#: The ``mahavishnu claude hooks add`` option that gives each schema field (for error hints).
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
    input: JSONObject | None = None
    model: str | None = None
    timeout: float | None = None
    condition: str | None = None  # the handler's ``if`` filter
    status_message: str | None = None
    run_async: bool = False
    headers: dict[str, str] | None = None
    allowed_env_vars: tuple[str, ...] = ()

    def fields(self) -> JSONObject:
        """The type-specific fields that were given (by schema name)."""
        given: JSONObject = {
            "command": self.command,
            "url": self.url,
            "prompt": self.prompt,
            "server": self.server,
            "tool": self.tool,
            "input": self.input,
            "model": self.model,
            "async": self.run_async or None,
            "headers": dict(self.headers) if self.headers else None,
            "allowedEnvVars": list(self.allowed_env_vars) or None,
        }
        return {key: value for key, value in given.items() if value is not None}

    def handler(self) -> JSONObject:
        """The handler object as Claude Code reads it (schema ``hookCommand``)."""
        result: JSONObject = {"type": self.type, **self.fields()}
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
    _check_fields(spec)
    if event in COMMAND_ONLY_EVENTS and spec.type != "command":
        raise InvalidInputError(
            f"{event} runs command hooks only, not {spec.type}",
            hint="Use --command CMD (Claude Code ignores the rest).",
        )
    matcher = _matcher_for(event, spec.matcher)
    _check_timeout(spec.timeout)
    _check_condition(event, spec.condition)
    return dataclasses.replace(spec, event=event, matcher=matcher)


def _check_fields(spec: HookSpec) -> None:
    """The handler type is known, and it has its required fields and no field it does not take."""
    if spec.type not in HANDLER_TYPES:
        raise InvalidInputError(
            f"unknown handler type '{spec.type}'", hint=f"Use one of: {', '.join(HANDLER_TYPES)}."
        )
    given = spec.fields()
    _check_required(spec.type, given)
    _check_extra(spec.type, given)


def _check_required(kind: HandlerType, given: JSONObject) -> None:
    missing = [name for name in REQUIRED_FIELDS[kind] if not str(given.get(name) or "").strip()]
    if missing:
        options = " and ".join(_FIELD_OPTION[name] for name in missing)
        raise InvalidInputError(
            f"{_article(kind)} {kind} hook needs {' and '.join(missing)}",
            hint=f"Add {options} (it cannot be empty).",
        )


def _check_extra(kind: HandlerType, given: JSONObject) -> None:
    allowed = set(REQUIRED_FIELDS[kind]) | set(OPTIONAL_FIELDS[kind])
    extra = [name for name in given if name not in allowed]
    if extra:
        options = ", ".join(_FIELD_OPTION[name] for name in extra)
        takes = ", ".join(_FIELD_OPTION[name] for name in (*REQUIRED_FIELDS[kind], *OPTIONAL_FIELDS[kind]))
        article = _article(kind)
        raise InvalidInputError(
            f"{options} does not apply to {article} {kind} hook",
            hint=f"{article.capitalize()} {kind} hook takes {takes}.",
        )


def _matcher_for(event: str, matcher: str | None) -> str | None:
    """The matcher to write: none for events that take none, where a real one would be ignored."""
    if event not in NO_MATCHER_EVENTS:
        return matcher
    if normal_matcher(matcher) is not None:
        raise InvalidInputError(
            f"{event} takes no matcher (Claude Code would ignore '{matcher}')",
            hint=f"Drop --matcher: {a(event)} hook fires on every occurrence.",
        )
    return None


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and (not math.isfinite(timeout) or timeout <= 0):
        raise InvalidInputError(
            f"timeout must be a positive number of seconds, not {timeout:g}",
            hint="e.g. --timeout 30 (Claude Code's default is 600, 30 for UserPromptSubmit).",
        )


def _check_condition(event: str, condition: str | None) -> None:
    """The ``if`` filter is a non-empty permission rule, on an event that evaluates it."""
    if condition is None:
        return
    if event not in TOOL_EVENTS:
        raise InvalidInputError(
            f"--if is only evaluated on tool events; {a(event)} hook with it would never run",
            hint=f"Use --if with {', '.join(sorted(TOOL_EVENTS))}, or drop it.",
        )
    if not condition.strip():
        raise InvalidInputError(
            "--if cannot be empty", hint='Give a permission rule, e.g. --if "Bash(git *)".'
        )


def _article(word: str) -> str:
    return "an" if word[0] in "aehimo" else "a"  # an http, an mcp_tool, an agent
