"""What the Claude Code settings schema (and its hooks reference) allows in ``hooks``."""

from __future__ import annotations

import difflib
from typing import Literal, TypeVar

from mahavishnu.errors import InvalidInputError

__all__ = [
    "COMMAND_ONLY_EVENTS",
    "HANDLER_TYPES",
    "HOOK_EVENTS",
    "MATCHER_TARGET",
    "NO_MATCHER_EVENTS",
    "OPTIONAL_FIELDS",
    "REQUIRED_FIELDS",
    "TOOL_EVENTS",
    "HandlerType",
    "normal_matcher",
    "resolve_event",
]

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


def resolve_event(name: str) -> str:
    """The schema's spelling of an event name (matched case-insensitively), or a clear error."""
    for event in HOOK_EVENTS:
        if event.lower() == name.strip().lower():
            return event
    close = difflib.get_close_matches(name, HOOK_EVENTS, n=3, cutoff=0.6)
    hint = f"Did you mean {' or '.join(close)}? " if close else ""
    raise InvalidInputError(f"unknown hook event '{name}'", hint=f"{hint}Events: {', '.join(HOOK_EVENTS)}.")


_Matcher = TypeVar("_Matcher")


def normal_matcher(matcher: _Matcher) -> _Matcher | None:
    """``*``, ``""`` and no matcher all match every occurrence: one group for all three. (A file's
    matcher that is no string at all comes back as it is, and so matches no matcher given.)"""
    return None if matcher in (None, "", "*") else matcher
