"""``mahavishnu memory`` commands of the memory loop: the recall hook (``context``), the hooks
themselves (``hooks install|remove|status``), and every assistant's sessions as memory
(``import --tool``, which ``cli/memory.py``'s ``import`` hands over to ``import_sessions``).

They join the ``memory`` group (``cli/memory.py`` imports this module).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import typer

from mahavishnu.cli.fast.hook_input import hook_stdin, never_blocking, read_hook_payload
from mahavishnu.cli.fast.recall import run_memory_context
from mahavishnu.cli.memory_group import app, open_store
from mahavishnu.cli.output import JSON_OPTION, console, info, print_json, table, warn
from mahavishnu.cli.params import MEMORY_CONTEXT, typer_params
from mahavishnu.errors import InvalidInputError
from mahavishnu.memory.loop.hook_log import forget_failures, mark_success
from mahavishnu.wording import count

hooks_app = typer.Typer(
    help="The memory loop's hooks in each assistant: capture every turn, recall at start and per prompt.",
    no_args_is_help=True,
)
app.add_typer(hooks_app, name="hooks")

ToolOption = typer.Option(
    "all",
    "--tool",
    help="claude, codex, qwen, gemini, pi, opencode, a comma-separated list, or all (every assistant).",
)
DryRunOption = typer.Option(False, "--dry-run", help="Show the changes without writing anything.")


# -- recall -------------------------------------------------------------------------------------
@app.command("context")
@typer_params(MEMORY_CONTEXT)
def context_cmd(**values: Any) -> None:
    """The recall hook: the memories to add to an assistant's context, from its hook's JSON on stdin.

    Prints that assistant's hook JSON, or nothing when nothing is relevant.
    By hand: echo '{"hook_event_name": "SessionStart", "cwd": "/my/project"}' |
    mahavishnu memory context --tool claude
    """
    # Its parameter is declared in cli/params.py, from which cli/fast/recall.py also parses it.
    with never_blocking():
        run_memory_context(values["tool"], ask_daemon=False, open_store=lambda: open_store())


@app.command("quarantine")
def quarantine_cmd(
    memory_id: int = typer.Argument(..., help="Memory id (from `memory search`, or the recall's [#ID])."),
    release: bool = typer.Option(
        False, "--release", help="Recall it again (even if it reads like an instruction to an agent)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Keep a memory but never add it to an assistant's context, or (--release, as `memory trust`)
    let recall add it again.

    Memories that read like an instruction to an agent are quarantined when stored: see `memory trust`.
    """
    with open_store() as store:
        memory = store.quarantine(memory_id, release=release)
    if as_json:
        print_json(memory.to_dict())
        return
    if release:
        info(f"memory #{memory.id} trusted: recall may add it to a session again")
    else:
        info(f"memory #{memory.id} quarantined: kept, never recalled (`memory trust {memory.id}` undoes it)")


@app.command("trust")
def trust_cmd(
    memory_id: int = typer.Argument(
        ..., help="Memory id (from `memory search`, where it is marked quarantined)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Trust a quarantined memory after reading it: recall may add it to an assistant's context again.

    A memory is quarantined when it is stored (by `memory store`, the MCP server, the capture hooks,
    `memory import`, `memory ingest`) if it reads like an instruction to an agent: it pipes a download
    into a shell, tells the agent to ignore its instructions, forges a system block, sends a credential,
    key, token or the environment to a URL, host, address or mailbox, or tells the agent to skip
    confirmation or permissions. `memory search` still finds it, marked. Storing the same text again
    keeps it trusted; editing it into another such text quarantines it again.
    """
    with open_store() as store:
        before = store.get(memory_id)
        memory = store.trust(memory_id)
    if as_json:
        print_json(memory.to_dict())
        return
    from mahavishnu.memory.core.provenance import QUARANTINED, TRUSTED

    if TRUSTED in before.tags and QUARANTINED not in before.tags:
        info(f"memory #{memory.id} was already trusted: recall may add it to a session")
    else:
        info(f"memory #{memory.id} trusted: recall may add it to a session again")


# -- capture ------------------------------------------------------------------------------------
def import_sessions(tool: str, path: str | None, project: str | None, as_json: bool) -> None:
    """``memory import --tool T [PATH|-]``: a session file, a folder of them, '-' for a hook's JSON
    on stdin, or (no PATH) every session the assistant(s) kept."""
    with never_blocking() if path == "-" else contextlib.nullcontext():
        _import_sessions(tool, path, project, as_json)


def _import_sessions(tool: str, path: str | None, project: str | None, as_json: bool) -> None:
    from mahavishnu.environments.memory_hooks import check_tools
    from mahavishnu.memory.loop.capture import capture_hook, import_history

    tools = check_tools(tool)
    if path is not None and len(tools) > 1:
        raise InvalidInputError(
            "a PATH belongs to one assistant", hint="Pass --tool claude, codex, qwen, gemini or pi."
        )
    by_hand = f"Pass the session file instead of '-': mahavishnu memory import --tool {tools[0]} FILE"
    payload = read_hook_payload(hook_stdin(by_hand)) if path == "-" else None
    with open_store() as store:
        if payload is not None:
            reports = [capture_hook(store, tools[0], payload)]
            mark_success(tools[0], "capture")  # an earlier failure of this hook is over
            if not as_json:
                return  # a hook: quiet on success
        else:
            reports = [
                r
                for name in tools
                for r in import_history(store, name, path, project=project, on_error=_skipped)
            ]
    if as_json:
        print_json([r.to_dict() for r in reports])
        return
    if not reports:
        info("no sessions found")
        return
    added = sum(r.added for r in reports)
    insights = sum(r.insights for r in reports)
    decisions = sum(r.decisions for r in reports)
    said = f"{count(len(reports), 'session')}: {count(added, 'new turn')}, {count(insights, 'insight')}"
    info(said + (f", {count(decisions, 'decision')}" if decisions else ""))


def _skipped(path: Path, error: Exception) -> None:
    from mahavishnu.cli.output import warn

    warn(f"skipped {path}: {error}")


# -- hooks --------------------------------------------------------------------------------------
@hooks_app.command("install")
def hooks_install_cmd(tool: str = ToolOption, dry_run: bool = DryRunOption) -> None:
    """Write the capture and recall hooks into each assistant's hook configuration.

    Idempotent; the user's other hooks are kept, and so is a hook of ours the user customised (a
    longer timeout ...); every file is written in one transaction, backed up.
    """
    from mahavishnu.environments import memory_hooks

    tools = memory_hooks.check_tools(tool)
    changes = memory_hooks.install(tools, dry_run=dry_run)
    for name, hook in memory_hooks.customised(tools):
        customised = f"customised: {hook.customised}"
        info(f"{name}: the {hook.event} hook is already installed ({customised}): left as it is")
    _report(changes, dry_run, "memory hooks installed in")


@hooks_app.command("remove")
def hooks_remove_cmd(tool: str = ToolOption, dry_run: bool = DryRunOption) -> None:
    """Take the memory hooks out of each assistant's configuration, leaving every other hook."""
    from mahavishnu.environments import memory_hooks

    tools = memory_hooks.check_tools(tool)
    changes = memory_hooks.remove(tools, dry_run=dry_run)
    if not dry_run:
        forget_failures(tools)  # their hooks are gone: `hooks status` no longer shows their failures
    _report(changes, dry_run, "memory hooks removed from")


@hooks_app.command("status")
def hooks_status_cmd(tool: str = ToolOption, as_json: bool = JSON_OPTION) -> None:
    """Whether each assistant has the memory hooks (and, for Codex, trusts them)."""
    from mahavishnu.environments.memory_hooks import hooks_status

    found = hooks_status(tool)
    if as_json:
        print_json([t.to_dict() for t in found])
        return
    rows = [
        (
            t.tool,
            t.state,
            ", ".join(f"{h.event}{_note(h)}" for h in t.hooks) or (t.error or ""),
            _home_relative(t.path),
        )
        for t in found
    ]
    table(None, ["assistant", "state", "hooks", "file"], rows)
    from mahavishnu.clean_text import printable
    from mahavishnu.memory.loop.hook_log import capture_log, last_failures

    failed = last_failures(t.tool for t in found)  # (a failure a later success ended is not shown)
    for role in ("capture", "recall"):
        if role in failed:  # (a log written before its lines were cleaned may hold controls)
            warn(f"the last failed {role}: {printable(failed[role])} (all of them: {capture_log()})")


def _note(hook: Any) -> str:
    if not hook.installed:
        return " (missing)"
    if hook.outdated:
        return " (an earlier version's command: `mahavishnu memory hooks install` updates it)"
    return f" (customised: {hook.customised})" if hook.customised else ""


def _home_relative(path: Path) -> str:
    """``~/.claude/settings.json`` rather than the full path: the table fits a terminal."""
    from mahavishnu.paths import home

    try:
        return str(Path("~") / path.relative_to(home()))
    except ValueError:
        return str(path)


def _report(changes: list[Any], dry_run: bool, verb: str) -> None:
    changed = [c for c in changes if c.changed]
    if dry_run:
        for change in changed:
            console.print(change.diff(), markup=False, highlight=False)
        info(f"{count(len(changed), 'file')} would change" if changed else "nothing to change")
        return
    for change in changed:
        info(f"{verb}: {Path(change.path)}")
    if not changed:
        info("nothing to change: already done")
