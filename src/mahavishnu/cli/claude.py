"""``mahavishnu claude``: manage Claude Code hooks, permissions, status line and settings.

Thin layer over :mod:`mahavishnu.environments.claude_settings`: parse options, call one library
function through ``edit`` (locked, atomic, backed-up write; ``--dry-run`` prints the diff), print.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.markup import escape

from mahavishnu.cli.output import JSON_OPTION, console, print_json, table, warn
from mahavishnu.json_types import JSONObject, JSONValue

if TYPE_CHECKING:
    from mahavishnu.environments.claude_settings import EditResult, PermissionsChanged

_Outcome = TypeVar("_Outcome")

app = typer.Typer(
    help="Manage Claude Code hooks, permissions, status line and settings.", no_args_is_help=True
)
hooks_app = typer.Typer(help="List, add and remove Claude Code hooks.", no_args_is_help=True)
permissions_app = typer.Typer(
    help="Manage Claude Code permission rules (allow, deny, ask).", no_args_is_help=True
)
statusline_app = typer.Typer(help="Set or clear Claude Code's status line command.", no_args_is_help=True)
settings_app = typer.Typer(
    help="Show Claude Code settings: one file or the effective merge.", no_args_is_help=True
)
app.add_typer(hooks_app, name="hooks")
app.add_typer(permissions_app, name="permissions")
app.add_typer(statusline_app, name="statusline")
app.add_typer(settings_app, name="settings")

ScopeOption = typer.Option(
    "user",
    "--scope",
    "-s",
    help="Which settings file: user (~/.claude), project (.claude) or local (.claude/*.local).",
)
DryRunOption = typer.Option(False, "--dry-run", help="Print the diff and write nothing.")


def _write(result: EditResult[_Outcome], done: str, *, nothing: str | None = None) -> None:
    """Report an edit: the diff for a dry run, else what was written (or that nothing needed to be)."""
    if result.dry_run:
        diff = result.diff()
        console.print(
            diff or f"{result.path}: no change", markup=False, soft_wrap=True, end="" if diff else "\n"
        )
    elif result.changed:
        console.print(f"{done} in {result.path}", markup=False, soft_wrap=True)
    else:
        console.print(
            nothing or f"{result.path}: already up to date, nothing written", markup=False, soft_wrap=True
        )


@contextlib.contextmanager
def _reading() -> Iterator[None]:
    """A read command: its errors' hints do not say "nothing was written" (nothing was to be)."""
    from mahavishnu.errors import MahavishnuError

    try:
        yield
    except MahavishnuError as exc:
        exc.hint = _NOTHING_WRITTEN.sub(".", exc.hint)
        raise


_NOTHING_WRITTEN = re.compile(r"[;,.]?\s*[Nn]othing was written\.?")


def _shown(text: str) -> str:
    """A command, URL or prompt fit to print: secrets in it masked (``Bearer …``, ``--token …``)."""
    from mahavishnu.masking import mask_text

    return mask_text(text)


# -- hooks ---------------------------------------------------------------------------------------


@hooks_app.command("list")
def hooks_list(
    event: str | None = typer.Argument(None, help="Only this event, e.g. PreToolUse."),
    scope: str = ScopeOption,
    as_json: bool = JSON_OPTION,
) -> None:
    """List the hooks in one settings file, numbered for `hooks remove --index`."""
    from mahavishnu.environments import claude_settings as cs
    from mahavishnu.files.safe_write import read_text
    from mahavishnu.masking import mask_tree

    path = cs.settings_path(cs.parse_scope(scope))
    with _reading():
        entries = cs.list_hooks(read_text(path), source=str(path), event=event)
    if as_json:
        print_json(mask_tree([entry.as_dict() for entry in entries]))
        return
    if not entries:
        console.print(f"No hooks in {path}.", markup=False, soft_wrap=True)
        return
    table(
        str(path),
        ["#", "event", "matcher", "type", "runs", "timeout"],
        [
            (
                e.index,
                e.event,
                "" if e.matcher is None else escape(e.matcher),
                e.handler.get("type"),
                escape(_shown(e.summary)),
                e.handler.get("timeout"),
            )
            for e in entries
        ],
    )


@hooks_app.command("add")
def hooks_add(
    event: str = typer.Argument(..., help="Hook event, e.g. PreToolUse, PostToolUse, SessionStart, Stop."),
    handler_type: str | None = typer.Option(
        None,
        "--type",
        "-T",
        help="Handler type: command, http, prompt, agent or mcp_tool (default: implied by the options).",
    ),
    matcher: str | None = typer.Option(
        None,
        "--matcher",
        "-m",
        help="Only for matching occurrences, e.g. the tool name 'Edit|Write' on tool events.",
    ),
    command: str | None = typer.Option(None, "--command", "-c", help="Shell command to run (command hooks)."),
    url: str | None = typer.Option(None, "--url", help="URL to POST the hook input to (http hooks)."),
    prompt: str | None = typer.Option(None, "--prompt", help="Prompt to evaluate (prompt and agent hooks)."),
    model: str | None = typer.Option(None, "--model", help="Model for prompt and agent hooks."),
    server: str | None = typer.Option(
        None, "--server", help="Connected MCP server to call (mcp_tool hooks)."
    ),
    tool: str | None = typer.Option(None, "--tool", help="Tool on that MCP server (mcp_tool hooks)."),
    tool_input: str | None = typer.Option(
        None, "--input", help="JSON object of tool arguments (mcp_tool hooks)."
    ),
    header: list[str] = typer.Option(
        [], "--header", "-H", help="HTTP header 'Name: value' (http hooks; repeatable; $VAR allowed)."
    ),
    allowed_env_var: list[str] = typer.Option(
        [], "--allowed-env-var", help="Env var a header may interpolate (http hooks; repeatable)."
    ),
    timeout: float | None = typer.Option(None, "--timeout", help="Timeout in seconds (> 0)."),
    condition: str | None = typer.Option(
        None, "--if", help="Permission-rule filter, e.g. 'Bash(git *)' (tool events only)."
    ),
    status_message: str | None = typer.Option(
        None, "--status-message", help="Spinner text while the hook runs."
    ),
    run_async: bool = typer.Option(False, "--async", help="Run in the background (command hooks)."),
    scope: str = ScopeOption,
    dry_run: bool = DryRunOption,
) -> None:
    """Add a hook handler; the same handler twice is a no-op, same matcher joins that group."""
    from mahavishnu.environments import claude_settings as cs
    from mahavishnu.errors import InvalidInputError

    kind = handler_type or cs.infer_handler_type(
        command=command, url=url, prompt=prompt, server=server, tool=tool
    )
    if kind not in cs.HANDLER_TYPES:
        raise InvalidInputError(
            f"unknown handler type '{kind}'", hint=f"Use one of: {', '.join(cs.HANDLER_TYPES)}."
        )
    spec = cs.HookSpec(
        event=event,
        type=kind,  # type: ignore[arg-type]
        matcher=matcher,
        command=command,
        url=url,
        prompt=prompt,
        server=server,
        tool=tool,
        input=_json_object(tool_input, "--input") if tool_input is not None else None,
        model=model,
        timeout=timeout,
        condition=condition,
        status_message=status_message,
        run_async=run_async,
        headers=_headers(header) or None,
        allowed_env_vars=tuple(allowed_env_var),
    )
    result = cs.edit(
        cs.parse_scope(scope), lambda text, source: cs.add_hook(text, spec, source=source), dry_run=dry_run
    )
    added = result.outcome
    where = added.event + (f" [{added.matcher}]" if added.matcher is not None else "")
    what = f"{added.handler['type']} hook {_shown(cs.describe_handler(added.handler))!r}"
    if added.status == "unchanged":
        console.print(
            f"{where}: {what} is already there in {result.path}; nothing written",
            markup=False,
            soft_wrap=True,
        )
        return
    _write(result, f"{where}: {what} {added.status}")


@hooks_app.command("remove")
def hooks_remove(
    event: str | None = typer.Argument(None, help="Hook event (optional with --index)."),
    index: int | None = typer.Option(None, "--index", "-i", help="Number shown by `hooks list`."),
    matcher: str | None = typer.Option(None, "--matcher", "-m", help="Only in the group with this matcher."),
    handler_type: str | None = typer.Option(None, "--type", "-T", help="Only handlers of this type."),
    command: str | None = typer.Option(
        None, "--command", "-c", help="The command hook running exactly this."
    ),
    url: str | None = typer.Option(None, "--url", help="The http hook posting to exactly this URL."),
    prompt: str | None = typer.Option(
        None, "--prompt", help="The prompt/agent hook with exactly this prompt."
    ),
    server: str | None = typer.Option(None, "--server", help="The mcp_tool hook calling this server."),
    tool: str | None = typer.Option(None, "--tool", help="The mcp_tool hook calling this tool."),
    scope: str = ScopeOption,
    dry_run: bool = DryRunOption,
) -> None:
    """Remove one hook handler; an emptied matcher group and event go with it."""
    from mahavishnu.environments import claude_settings as cs

    selector = cs.HookSelector(
        event=event,
        index=index,
        matcher=matcher,
        type=handler_type,
        command=command,
        url=url,
        prompt=prompt,
        server=server,
        tool=tool,
    )
    result = cs.edit(
        cs.parse_scope(scope),
        lambda text, source: cs.remove_hook(text, selector, source=source),
        dry_run=dry_run,
    )
    removed = result.outcome.removed
    where = removed.event + (f" [{removed.matcher}]" if removed.matcher is not None else "")
    extra = " (and the now empty event)" if result.outcome.removed_event else ""
    _write(result, f"{where}: {removed.handler.get('type')} hook {_shown(removed.summary)!r} removed{extra}")


def _json_object(text: str, option: str) -> JSONObject:
    from mahavishnu.errors import InvalidInputError

    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidInputError(
            f"{option} is not valid JSON: {exc}", hint='e.g. --input \'{"path": "${cwd}"}\''
        ) from exc
    if not isinstance(value, dict):
        raise InvalidInputError(f"{option} must be a JSON object", hint='e.g. --input \'{"path": "${cwd}"}\'')
    return value


def _headers(values: list[str]) -> dict[str, str]:
    from mahavishnu.errors import InvalidInputError

    headers = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise InvalidInputError(f"bad header '{value}'", hint="Write it as 'Name: value'.")
        headers[name.strip()] = content.strip()
    return headers


# -- permissions ---------------------------------------------------------------------------------


@permissions_app.command("list")
def permissions_list(scope: str = ScopeOption, as_json: bool = JSON_OPTION) -> None:
    """Show the allow, deny and ask rules (and other permission settings) of one settings file."""
    _show_permissions(scope, None, as_json)


def _show_permissions(scope: str, kind: str | None, as_json: bool) -> None:
    from mahavishnu.environments import claude_settings as cs
    from mahavishnu.files.safe_write import read_text
    from mahavishnu.masking import mask_tree

    path = cs.settings_path(cs.parse_scope(scope))
    with _reading():
        permissions = mask_tree(cs.list_permissions(read_text(path), source=str(path)))
    if kind is not None:
        permissions = {kind: permissions[kind]}
    if as_json:
        print_json(permissions)
        return
    console.print(str(path), markup=False, style="bold")
    for name, value in permissions.items():
        if isinstance(value, list):
            console.print(f"{name}:" + ("" if value else " (none)"), markup=False, soft_wrap=True)
            for rule in value:
                console.print(f"  {rule}", markup=False, soft_wrap=True)
        else:
            console.print(f"{name}: {json.dumps(value, ensure_ascii=False)}", markup=False, soft_wrap=True)


def _permission_group(kind: str, verb: str) -> typer.Typer:
    group = typer.Typer(help=f"Rules that {verb} (permissions.{kind}).", no_args_is_help=True)

    @group.command("add")
    def add(
        rules: list[str] = typer.Argument(..., help='Rules, e.g. "Bash(npm run test:*)" "Read(./src/**)".'),
        scope: str = ScopeOption,
        dry_run: bool = DryRunOption,
    ) -> None:
        """Add rules (already present ones are skipped; order is kept)."""
        _edit_rules(kind, rules, scope, dry_run, adding=True)

    @group.command("remove")
    def remove(
        rules: list[str] = typer.Argument(..., help="Rules exactly as `permissions list` shows them."),
        scope: str = ScopeOption,
        dry_run: bool = DryRunOption,
    ) -> None:
        """Remove rules; an emptied list is removed too."""
        _edit_rules(kind, rules, scope, dry_run, adding=False)

    @group.command("list")
    def list_(scope: str = ScopeOption, as_json: bool = JSON_OPTION) -> None:
        """List these rules (`permissions list` shows all three lists)."""
        _show_permissions(scope, kind, as_json)

    return group


def _edit_rules(kind: str, rules: list[str], scope: str, dry_run: bool, *, adding: bool) -> None:
    from mahavishnu.environments import claude_settings as cs

    change = cs.add_permission_rules if adding else cs.remove_permission_rules
    result = cs.edit(
        cs.parse_scope(scope),
        lambda text, source: change(text, cs.parse_kind(kind), rules, source=source),
        dry_run=dry_run,
    )
    did, skipped = ("added", "already there") if adding else ("removed", "not there")
    _report_rules(result, kind, did, skipped)


def _report_rules(result: EditResult[PermissionsChanged], kind: str, did: str, skipped: str) -> None:
    outcome = result.outcome
    for message in outcome.warnings:
        warn(escape(message))
    if outcome.skipped:
        console.print(f"{skipped} in {kind}: {', '.join(outcome.skipped)}", markup=False, soft_wrap=True)
    if outcome.changed:
        _write(result, f"{kind}: {did} {', '.join(outcome.changed)}")
    else:
        console.print("no change" if result.dry_run else "nothing written", markup=False, soft_wrap=True)


for _kind, _verb in (
    ("allow", "allow a tool use"),
    ("deny", "refuse a tool use"),
    ("ask", "always ask first"),
):
    permissions_app.add_typer(_permission_group(_kind, _verb), name=_kind)


# -- status line ---------------------------------------------------------------------------------


@statusline_app.command("set")
def statusline_set(
    command: str = typer.Argument(
        ..., help="Command that prints the status line (reads session JSON on stdin)."
    ),
    padding: int | None = typer.Option(None, "--padding", help="Extra horizontal spacing characters (>= 0)."),
    refresh_interval: int | None = typer.Option(
        None, "--refresh-interval", help="Also re-run every N seconds (>= 1)."
    ),
    scope: str = ScopeOption,
    dry_run: bool = DryRunOption,
) -> None:
    """Set the status line command (statusLine.type = command)."""
    from mahavishnu.environments import claude_settings as cs

    result = cs.edit(
        cs.parse_scope(scope),
        lambda text, source: cs.set_status_line(
            text, command, padding=padding, refresh_interval=refresh_interval, source=source
        ),
        dry_run=dry_run,
    )
    _write(result, f"status line set to {command!r}{_replaced(result.outcome.previous, command)}")


def _replaced(previous: JSONValue, command: str) -> str:
    """`` (was '...')``: the status line a set replaced, when it ran another command (or was no
    command at all); nothing when there was none."""
    if previous is None:
        return ""
    old = previous.get("command") if isinstance(previous, dict) else None
    if isinstance(old, str):
        return "" if old == command else f" (was {_shown(old)!r})"
    return f" (was {_shown(json.dumps(previous, ensure_ascii=False))})"


@statusline_app.command("clear")
def statusline_clear(scope: str = ScopeOption, dry_run: bool = DryRunOption) -> None:
    """Remove the status line setting."""
    from mahavishnu.environments import claude_settings as cs

    result = cs.edit(
        cs.parse_scope(scope), lambda text, source: cs.clear_status_line(text, source=source), dry_run=dry_run
    )
    if result.outcome.status == "absent":
        console.print(f"{result.path}: no status line set; nothing written", markup=False, soft_wrap=True)
        return
    _write(result, "status line cleared")


# -- settings ------------------------------------------------------------------------------------


@settings_app.command("show")
def settings_show(
    scope: str | None = typer.Option(
        None, "--scope", "-s", help="One file: user, project, local or managed (default: user)."
    ),
    effective: bool = typer.Option(
        False, "--effective", help="Merge managed > local > project > user the way Claude Code does."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show one settings file, or the effective settings with the scope each value comes from."""
    from mahavishnu.errors import InvalidInputError

    if effective and scope is not None:
        raise InvalidInputError("--scope and --effective exclude each other", hint="Use one of them.")
    if effective:
        _show_effective(as_json)
    else:
        _show_file(scope or "user", as_json)


def _show_effective(as_json: bool) -> None:
    from mahavishnu.environments import claude_settings as cs
    from mahavishnu.masking import mask_tree

    with _reading():
        merged = cs.effective_settings(cs.read_layers())
    if as_json:
        print_json(mask_tree(merged.as_dict()))
        return
    for layer in merged.layers:
        state = "" if layer.data is not None else " (absent)"
        console.print(f"{layer.scope:8} {layer.path}{state}", markup=False, soft_wrap=True)
    if not merged.settings:
        console.print("No Claude Code settings are set.")
        return
    table(
        None,
        ["key", "value", "from"],
        [
            (
                escape(key),
                escape(json.dumps(mask_tree(value, key), ensure_ascii=False)),
                merged.origins[key].describe(),
            )
            for key, value in merged.settings.items()
        ],
    )


def _show_file(which: str, as_json: bool) -> None:
    from mahavishnu.environments import claude_settings as cs
    from mahavishnu.masking import mask_tree

    path = cs.managed_settings_path() if which == "managed" else cs.settings_path(cs.parse_scope(which))
    with _reading():
        found = cs.read_settings(path)
    data = None if found is None else mask_tree(found)
    if as_json:
        print_json({"scope": which, "path": str(path), "exists": data is not None, "settings": data or {}})
        return
    if data is None:
        console.print(f"{path}: does not exist", markup=False, soft_wrap=True)
        return
    console.print(str(path), markup=False, style="bold")
    console.print(json.dumps(data, indent=2, ensure_ascii=False), markup=False, soft_wrap=True)
