"""Changing the registry: add, sync, install and remove servers, one entry per file.

Every file involved is read and checked before the first write; the files of one command are written
as one transaction (``transaction.apply_all``: every file or none), or only planned for ``--dry-run``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from mahavishnu.environments.assistants import gemini
from mahavishnu.environments.assistants.base import FileEdit
from mahavishnu.environments.mcp_servers.file_formats import CODECS, NewEntry
from mahavishnu.environments.mcp_servers.listing import find_server, servers_at
from mahavishnu.environments.mcp_servers.locations import (
    Location,
    claude_json_path,
    location,
    locations,
    scopes_of,
)
from mahavishnu.environments.mcp_servers.model import TOOLS, TRANSPORTS, McpServer
from mahavishnu.environments.mcp_servers.options import parse_tools
from mahavishnu.environments.mcp_servers.shapes import SHAPES, RawEntry, with_references_for
from mahavishnu.environments.mcp_servers.state import (
    changed_by_hand,
    forget,
    load_state,
    owned,
    record_of,
    remember,
)
from mahavishnu.environments.scopes import parse_scope
from mahavishnu.errors import InvalidConfigFileError, InvalidInputError, NotFoundError, ProtocolMismatchError
from mahavishnu.files import safe_write, transaction
from mahavishnu.json_types import JSONObject
from mahavishnu.paths import mahavishnu_argv

__all__ = ["McpChange", "McpResult", "add_server", "install_self", "remove_server", "sync_server"]


@dataclass(frozen=True)
class McpChange:
    tool: str
    scope: str
    path: str
    name: str
    action: str  # added, updated, unchanged, removed, absent, skipped
    diff: str = ""
    reason: str = ""


@dataclass
class McpResult:
    dry_run: bool
    changes: list[McpChange] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# -- the operations ------------------------------------------------------------------------------


def add_server(
    server: McpServer,
    tool: str,
    scope: str = "user",
    *,
    dry_run: bool = False,
    replace: bool = False,
    backups: int = 10,
) -> McpResult:
    """Write one server into the chosen assistants' files, leaving every other server alone.

    A same-named server that Mahavishnu did not add and that differs is refused unless ``replace``.
    Secret-looking values are written as given: the result warns, naming them masked and the files.
    """
    return _add(server, tool, scope, dry_run=dry_run, replace=replace, backups=backups)


def _add(
    server: McpServer,
    tool: str,
    scope: str,
    *,
    dry_run: bool,
    replace: bool,
    backups: int,
    warn_plaintext: bool = True,
) -> McpResult:
    server.check()
    tools, is_all = parse_tools(tool)
    result = McpResult(dry_run)
    targets = _targets(tools, scope, server.transport, lenient=is_all, result=result, name=server.name)
    # (a command line spells a variable ${VAR}, as a shell and most assistants do: OpenCode's {env:VAR})
    written_as = partial(with_references_for, server, "claude")
    return _put_all(
        server,
        targets,
        result,
        replace=replace,
        backups=backups,
        warn_plaintext=warn_plaintext,
        written_as=written_as,
    )


def sync_server(
    name: str,
    source: str,
    to: str,
    *,
    source_scope: str | None = None,
    scope: str = "user",
    dry_run: bool = False,
    replace: bool = False,
    backups: int = 10,
) -> McpResult:
    """Copy one server from an assistant to others; never removes or rewrites any other server."""
    tools, is_all = parse_tools(source)
    if is_all or len(tools) != 1:
        raise InvalidInputError("--from takes one assistant", hint=f"Choose one of {', '.join(TOOLS)}.")
    source_loc, server = find_server(name, tools[0], source_scope)
    if server.transport not in TRANSPORTS:
        raise ProtocolMismatchError(
            f"cannot copy '{name}': its transport '{server.transport}' is {tools[0]}-only"
        )
    server.check()
    targets_tools, to_all = parse_tools(to)
    if to_all:
        targets_tools = [t for t in targets_tools if t != source_loc.tool]
    result = McpResult(dry_run)
    targets = _targets(targets_tools, scope, server.transport, lenient=to_all, result=result, name=name)
    kept = []
    for loc in targets:
        if loc.key == source_loc.key:
            result.changes.append(_change(loc, name, "skipped", reason="it is the source"))
        else:
            kept.append(loc)
    written_as = partial(with_references_for, server, source_loc.tool)
    return _put_all(server, kept, result, replace=replace, backups=backups, written_as=written_as)


def install_self(
    tool: str,
    scope: str = "user",
    *,
    name: str = "mahavishnu",
    dry_run: bool = False,
    backups: int = 10,
    http_port: int | None = None,
) -> McpResult:
    """Register Mahavishnu's own MCP server with assistants: ``mahavishnu mcp serve`` over stdio, or
    (``http_port``) the HTTP server on 127.0.0.1 with its bearer token in the entry's headers."""
    if http_port is not None:
        from mahavishnu.environments.mcp_access import bearer_token

        token = bearer_token(create=not dry_run) or "<generated on install>"
        url = f"http://127.0.0.1:{http_port}/mcp"
        server = McpServer.remote(name, url, headers={"Authorization": f"Bearer {token}"})
    else:
        command, *args = mahavishnu_argv("mcp", "serve")
        env = {key: os.environ[key] for key in ("MAHAVISHNU_HOME",) if os.environ.get(key)}
        server = McpServer.stdio(name, command, args, env)
    # the HTTP entry carries its bearer token by design (`mcp install --http`): no plaintext warning
    return _add(server, tool, scope, dry_run=dry_run, replace=True, backups=backups, warn_plaintext=False)


def remove_server(
    name: str,
    tool: str,
    scope: str = "user",
    *,
    dry_run: bool = False,
    backups: int = 10,
    force: bool = False,
) -> McpResult:
    """Remove the named server from the chosen assistants at one scope; nothing else changes.

    A server Mahavishnu did not add (the user's own) is refused in every file unless ``force``, as
    ``add`` refuses to overwrite one without ``replace``: then nothing is removed anywhere."""
    tools, is_all = parse_tools(tool)
    parse_scope(scope)
    result = McpResult(dry_run)
    targets = _holding(name, tools, scope, lenient=is_all, result=result)
    if not targets:
        raise _nowhere(name, scope, result)
    state = load_state()
    records = [record_of(state, loc, name) for loc in targets]
    if not force:
        _refuse_theirs(name, [loc for loc, record in zip(targets, records, strict=True) if record is None])
    # one Mahavishnu added and someone changed since is removed on request; the result says so
    by_hand = [
        changed_by_hand(record, _current(loc, name)) for loc, record in zip(targets, records, strict=True)
    ]
    edits = [_removal(loc, name, _created_from(record)) for loc, record in zip(targets, records, strict=True)]
    changes = _apply(edits, dry_run, backups)
    for loc, change, record, hand in zip(targets, changes, records, by_hand, strict=True):
        _record_removal(result, loc, name, change, _removal_reason(record, hand))
    return result


def _nowhere(name: str, scope: str, result: McpResult) -> NotFoundError:
    reasons = "; ".join(f"{c.tool}: {c.reason}" for c in result.changes) or "no assistant has that scope"
    return NotFoundError(
        f"no MCP server '{name}' at {scope} scope ({reasons})",
        hint="List them with `mahavishnu mcp-servers list` (each with its scope; --scope picks one).",
    )


def _record_removal(
    result: McpResult, loc: Location, name: str, change: safe_write.Change, reason: str
) -> None:
    """What the removal did, in ``result`` (and, once written, in the state file)."""
    if not result.dry_run:
        forget(loc, name)
    diff = _removal_diff(loc, name, change) if result.dry_run else ""
    result.changes.append(_change(loc, name, "removed", diff=diff, reason=reason))


def _refuse_theirs(name: str, theirs: list[Location]) -> None:
    """A server Mahavishnu did not add is removed only with ``force``: else nothing is, anywhere."""
    if theirs:
        where = ", ".join(loc.label() for loc in theirs)
        raise InvalidInputError(
            f"'{name}' in {where} is your own MCP server (Mahavishnu did not add it): nothing was removed",
            hint="Pass --force to remove it anyway.",
        )


def _removal_reason(record: JSONObject | None, changed_by_hand: bool) -> str:
    if record is None:
        return "Mahavishnu did not add it; removed with --force"
    return "Mahavishnu added it; it was changed by hand since" if changed_by_hand else ""


# -- which files ---------------------------------------------------------------------------------


def _targets(
    tools: Sequence[str], scope: str, transport: str, *, lenient: bool, result: McpResult, name: str
) -> list[Location]:
    """The locations to write; what a tool cannot take is an error, or a skip when the user said all."""
    parse_scope(scope)
    found = []
    for tool in tools:
        problem = None
        if scope not in scopes_of(tool):
            problem = f"{tool} keeps no MCP servers at {scope} scope (it has: {', '.join(scopes_of(tool))})"
        elif transport not in SHAPES[tool].transports:
            takes = ", ".join(SHAPES[tool].transports)
            problem = f"{tool} cannot use an {transport.upper()} MCP server (it takes: {takes})"
        if problem is None:
            found.append(_not_the_users(location(tool, scope)))
        elif lenient:
            result.warnings.append(f"skipped {problem}")
            result.changes.append(McpChange(tool, scope, "", name, "skipped", reason=problem))
        elif scope not in scopes_of(tool):
            raise InvalidInputError(problem, hint="Choose another --scope.")
        else:
            raise ProtocolMismatchError(problem, hint="Choose another transport or assistant.")
    return found


def _not_the_users(loc: Location) -> Location:
    """``loc``, refused when it is a project scope that is the user's own map of servers: Qwen Code
    and Gemini CLI take the folder they start in for the project, and in the home folder their
    project file is their user file."""
    user = location(loc.tool, "user")
    if loc.scope != "user" and (loc.path.resolve(), loc.keys) == (user.path.resolve(), user.keys):
        raise InvalidInputError(
            f"--scope {loc.scope} would write {loc.tool}'s user settings file {loc.path}: "
            "this folder is no project",
            hint="Run it again in the project's folder, or use --scope user.",
        )
    return loc


def _holding(
    name: str, tools: Sequence[str], scope: str, *, lenient: bool, result: McpResult
) -> list[Location]:
    """The locations at ``scope`` that hold the server; each one that does not is noted as absent."""
    found = []
    for tool in tools:
        if scope not in scopes_of(tool):
            if not lenient:
                location(tool, scope)  # raises with the scopes it has
            continue
        loc = location(tool, scope)
        if name in servers_at(loc):
            found.append(loc)
            continue
        elsewhere = [
            other.scope for other in locations(tool) if other.scope != scope and name in servers_at(other)
        ]
        hint = f" (it is at {', '.join(elsewhere)} scope: pass --scope)" if elsewhere else ""
        result.changes.append(_change(loc, name, "absent", reason=f"not there{hint}"))
    return found


# -- putting one server --------------------------------------------------------------------------


@dataclass
class _Put:
    """A planned put; its transform fills in ``created_from`` (see ``Codec.put``) for the state file."""

    loc: Location
    managed: bool
    created_from: int | None = None


def _put_all(
    server: McpServer,
    targets: list[Location],
    result: McpResult,
    *,
    replace: bool,
    backups: int,
    warn_plaintext: bool = True,
    written_as: Callable[[str], McpServer] | None = None,
) -> McpResult:
    """Put ``server`` in every target; ``written_as``: the server as one assistant is given it (a
    sync writes variable references as each expands them)."""
    each = {loc.tool: written_as(loc.tool) if written_as else server for loc in targets}
    for tool, given in each.items():
        SHAPES[tool].check(given)  # (before any file is written)
    planned = _plan_puts(each, targets, result, replace=replace)
    secrets = server.shown_secrets()
    to_project = any(put.loc.scope == "project" for put in planned)
    if to_project and secrets:
        result.warnings.append("secret-looking values go into a project file, which is often committed")
    edits = [_put_edit(put, each[put.loc.tool]) for put in planned]
    changes = _apply(edits, result.dry_run, backups)
    written = [str(put.loc.path) for put, change in zip(planned, changes, strict=True) if change.changed]
    if warn_plaintext and not to_project:
        result.warnings += _plaintext_warning(secrets, written, dry_run=result.dry_run)
    to_gemini = any(p.loc.tool == "gemini" and c.changed for p, c in zip(planned, changes, strict=True))
    if to_gemini and (caveat := gemini.mcp_trust_warning(Path.cwd())):
        result.warnings.append(caveat)  # else `gemini mcp list` shows it Disabled, without a word from us
    for put, change in zip(planned, changes, strict=True):
        _record_put(each[put.loc.tool], put, change, result)
    return result


def _plaintext_warning(secrets: Sequence[str], written: list[str], *, dry_run: bool) -> list[str]:
    """Which secrets went into which files as they are (none when none did)."""
    if not secrets or not written:
        return []
    verb = "would be" if dry_run else "is" if len(secrets) == 1 else "are"
    files = ", ".join(dict.fromkeys(written))  # Claude's user and local maps share one file
    said = f"{', '.join(secrets)} {verb} stored in plaintext in {files}"
    names = [found.group(1) for secret in secrets if (found := _ENV_SECRET.match(secret))]
    if names:  # (a variable the assistant reads where it starts keeps the key out of its files)
        said += f"; to keep it out, give it by reference: --env '{names[0]}=${{{names[0]}}}'"
    return [said]


_ENV_SECRET = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=")


def _record_put(server: McpServer, put: _Put, change: safe_write.Change, result: McpResult) -> None:
    """What the put did, in ``result`` (and, once written, in the state file)."""
    before = CODECS[put.loc.tool].servers(change.before, put.loc) if change.before else {}
    action = "updated" if server.name in before else "added"
    if not change.changed:
        action = "unchanged"
    elif not result.dry_run:
        remember(put.loc, server, None if put.managed else put.created_from)
    diff = change.diff(server.secret_values()) if result.dry_run else ""
    result.changes.append(_change(put.loc, server.name, action, diff=diff))


def _plan_puts(
    each: dict[str, McpServer], targets: list[Location], result: McpResult, *, replace: bool
) -> list[_Put]:
    """Read and check every file before writing any: a server Mahavishnu did not add, or added but
    someone changed by hand since, stays unless it is the same server already or the user said
    ``replace``."""
    state = load_state()
    planned = []
    for loc in targets:
        server = each[loc.tool]
        raw = servers_at(loc).get(server.name)
        record = record_of(state, loc, server.name)
        existing = SHAPES[loc.tool].parse(server.name, raw) if isinstance(raw, dict) else None
        managed = owned(record, existing)
        if raw is not None and not managed and existing == server:
            result.changes.append(_change(loc, server.name, "unchanged", reason="already there, as given"))
            continue
        if raw is not None and not managed and not replace:
            since = " (it added one, but it was changed by hand since)" if record is not None else ""
            raise InvalidInputError(
                f"{loc.label()} already has an MCP server '{server.name}' that Mahavishnu did not add{since}",
                hint="Pass --replace to overwrite it, or choose another name.",
            )
        planned.append(_Put(loc, managed))
    return planned


def _put_edit(put: _Put, server: McpServer) -> FileEdit:
    loc = put.loc
    shape, codec = SHAPES[loc.tool], CODECS[loc.tool]

    def same_kind(raw: RawEntry) -> bool:
        return shape.parse(server.name, raw).transport == server.transport

    entry = NewEntry(server.name, shape.native(server), shape.owned, same_kind)

    def transform(text: str | None) -> str:
        new_text, put.created_from = codec.put(text, loc, entry)
        return new_text

    def validate(text: str) -> None:
        codec.validate(text)
        raw = codec.servers(text, loc).get(server.name)
        if not isinstance(raw, dict) or shape.parse(server.name, raw) != server:
            raise InvalidConfigFileError(
                f"refusing to write {loc.path}: '{server.name}' would not read back as given"
            )

    private = loc.path == claude_json_path() or bool(server.secret_values())
    return FileEdit(loc.path, transform, validate, 0o600 if private else None)


# -- removing one server -------------------------------------------------------------------------


def _current(loc: Location, name: str) -> McpServer | None:
    """The named entry as it is in the file now (None: not an object)."""
    raw = servers_at(loc).get(name)
    return SHAPES[loc.tool].parse(name, raw) if isinstance(raw, dict) else None


def _created_from(record: JSONObject | None) -> int | None:
    """The first container the recorded put created, so the removal can take it away again."""
    value = (record or {}).get("created_from")
    return value if isinstance(value, int) else None


def _removal(loc: Location, name: str, created_from: int | None) -> FileEdit:
    codec = CODECS[loc.tool]

    def transform(text: str | None) -> str:
        return codec.delete(text, loc, name, created_from)

    def validate(text: str) -> None:
        codec.validate(text)
        if name in codec.servers(text, loc):
            raise InvalidConfigFileError(f"refusing to write {loc.path}: '{name}' would still be there")

    return FileEdit(loc.path, transform, validate)


def _removal_diff(loc: Location, name: str, change: safe_write.Change) -> str:
    """The diff of a removal, with the secrets of the server that goes masked."""
    gone = CODECS[loc.tool].servers(change.before, loc).get(name) if change.before else None
    secrets = SHAPES[loc.tool].parse(name, gone).secret_values() if isinstance(gone, dict) else ()
    return change.diff(secrets)


# -- shared --------------------------------------------------------------------------------------


def _apply(edits: list[FileEdit], dry_run: bool, backups: int) -> list[safe_write.Change]:
    """Plan the edits, or write them as one transaction: every file or none (journal + rollback)."""
    if dry_run:
        changes = [safe_write.plan(edit.path, edit.transform) for edit in edits]
        for edit, change in zip(edits, changes, strict=True):
            edit.validate(change.after)
        return changes
    return transaction.apply_all(edits, backups=backups)


def _change(loc: Location, name: str, action: str, *, diff: str = "", reason: str = "") -> McpChange:
    return McpChange(loc.tool, loc.scope, str(loc.path), name, action, diff, reason)
