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

Modules: :mod:`.settings_file` (paths and typed reads), :mod:`.writing` (:func:`edit`),
:mod:`.hook_schema`, :mod:`.hook_spec` and :mod:`.hooks`, :mod:`.permissions`, :mod:`.status_line`,
:mod:`.effective` (the merge).
"""

from mahavishnu.environments.claude_settings.effective import (
    MERGE_ORDER,
    Effective,
    Layer,
    Origin,
    effective_settings,
    merge_values,
    read_layers,
    read_settings,
)
from mahavishnu.environments.claude_settings.hook_schema import (
    COMMAND_ONLY_EVENTS,
    HANDLER_TYPES,
    HOOK_EVENTS,
    MATCHER_TARGET,
    NO_MATCHER_EVENTS,
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
    TOOL_EVENTS,
    HandlerType,
    resolve_event,
)
from mahavishnu.environments.claude_settings.hook_spec import HookSpec, infer_handler_type, validate_hook
from mahavishnu.environments.claude_settings.hooks import (
    HookAdded,
    HookEntry,
    HookRemoved,
    HookSelector,
    add_hook,
    describe_handler,
    list_hooks,
    remove_hook,
)
from mahavishnu.environments.claude_settings.permissions import (
    PERMISSION_KINDS,
    PERMISSION_RULE,
    PERMISSION_TOOLS,
    PermissionKind,
    PermissionsChanged,
    add_permission_rules,
    list_permissions,
    parse_kind,
    remove_permission_rules,
    validate_rule,
)
from mahavishnu.environments.claude_settings.settings_file import managed_settings_path, settings_path
from mahavishnu.environments.claude_settings.status_line import (
    StatusLineChanged,
    clear_status_line,
    set_status_line,
)
from mahavishnu.environments.claude_settings.writing import EditResult, edit, secret_values
from mahavishnu.environments.scopes import SCOPES, parse_scope

__all__ = [
    "COMMAND_ONLY_EVENTS",
    "HANDLER_TYPES",
    "HOOK_EVENTS",
    "MATCHER_TARGET",
    "MERGE_ORDER",
    "NO_MATCHER_EVENTS",
    "OPTIONAL_FIELDS",
    "PERMISSION_KINDS",
    "PERMISSION_RULE",
    "PERMISSION_TOOLS",
    "REQUIRED_FIELDS",
    "SCOPES",
    "TOOL_EVENTS",
    "EditResult",
    "Effective",
    "HandlerType",
    "HookAdded",
    "HookEntry",
    "HookRemoved",
    "HookSelector",
    "HookSpec",
    "Layer",
    "Origin",
    "PermissionKind",
    "PermissionsChanged",
    "StatusLineChanged",
    "add_hook",
    "add_permission_rules",
    "clear_status_line",
    "describe_handler",
    "edit",
    "effective_settings",
    "infer_handler_type",
    "list_hooks",
    "list_permissions",
    "managed_settings_path",
    "merge_values",
    "parse_kind",
    "parse_scope",
    "read_layers",
    "read_settings",
    "remove_hook",
    "remove_permission_rules",
    "resolve_event",
    "secret_values",
    "set_status_line",
    "settings_path",
    "validate_hook",
    "validate_rule",
]
