"""Permission rules (``permissions.allow``, ``deny``, ``ask``) as the settings schema accepts them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from mahavishnu.environments.claude_settings.settings_file import array_at, load_document, object_at
from mahavishnu.errors import InvalidInputError, NotFoundError
from mahavishnu.files.json_document import JsonDocument
from mahavishnu.json_types import JSONArray, JSONObject

__all__ = [
    "PERMISSION_KINDS",
    "PERMISSION_RULE",
    "PERMISSION_TOOLS",
    "PermissionKind",
    "PermissionsChanged",
    "add_permission_rules",
    "list_permissions",
    "parse_kind",
    "remove_permission_rules",
    "validate_rule",
]

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
    if tool in PERMISSION_TOOLS:
        problem = (
            "its specifier must be one pair of parentheses with no ')' inside, e.g. Bash(npm run test:*)"
        )
        raise InvalidInputError(f"invalid permission rule '{rule}': {problem}", hint="Check the parentheses.")
    raise InvalidInputError(
        f"invalid permission rule '{rule}': unknown tool '{tool}'", hint=_unknown_tool_hint(rule, tool)
    )


def _unknown_tool_hint(rule: str, tool: str) -> str:
    """The rule with the tool a renamed or wrongly cased name means, else the tools there are."""
    suggestion = _RENAMED_TOOLS.get(tool) or next(
        (t for t in PERMISSION_TOOLS if t.lower() == tool.lower()), None
    )
    if suggestion:
        return f"Did you mean {suggestion}{rule[len(tool) :]}?"
    return f"Tools: {', '.join(PERMISSION_TOOLS)}; MCP tools are written mcp__server or mcp__server__tool."


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
    doc, current = _document_and_rules(text, kind, source)
    skipped, added = _partition(wanted, current)
    warnings = _also_elsewhere(doc, kind, added, source)
    if added:
        doc.set(["permissions", kind], list(dict.fromkeys([*current, *added])))
    return doc.dumps(), PermissionsChanged(kind, added, skipped, warnings)


def _partition(wanted: list[str], current: JSONArray) -> tuple[list[str], list[str]]:
    """The rules of ``wanted`` that ``current`` holds, and those it does not."""
    return [rule for rule in wanted if rule in current], [rule for rule in wanted if rule not in current]


def _also_elsewhere(doc: JsonDocument, kind: PermissionKind, added: list[str], source: str) -> list[str]:
    """A warning for each added rule that another kind of this file holds too."""
    warnings = []
    for other in PERMISSION_KINDS:
        if other == kind:
            continue
        elsewhere = [rule for rule in added if rule in array_at(doc, ["permissions", other], source)]
        for rule in elsewhere:
            warnings.append(f"{rule} is also in {other} in this file; {_stronger(kind, other)} wins")
    return warnings


def _document_and_rules(
    text: str | None, kind: PermissionKind, source: str
) -> tuple[JsonDocument, JSONArray]:
    """The settings document and its ``permissions.<kind>`` list, both of the type Claude Code expects."""
    doc = load_document(text, source)
    object_at(doc, ["permissions"], source)
    return doc, array_at(doc, ["permissions", kind], source)


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
    doc, current = _document_and_rules(text, kind, source)
    removed, missing = _partition(wanted, current)
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


def list_permissions(text: str | None, *, source: str = "<settings>") -> JSONObject:
    """The three rule lists (always present, maybe empty) plus the other permission settings that are set."""
    doc = load_document(text, source)
    permissions = object_at(doc, ["permissions"], source) or {}
    result: JSONObject = {
        kind: list(array_at(doc, ["permissions", kind], source)) for kind in PERMISSION_KINDS
    }
    for key, value in permissions.items():
        if key not in result:
            result[key] = value
    return result
