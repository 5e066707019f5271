"""``mahavishnu team``: one PostgreSQL store for a team, each member's memory private unless shared,
enforced by the database (``memory/team/``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import typer

from mahavishnu import wording
from mahavishnu.cli.memory_group import warn_if_set_aside
from mahavishnu.cli.output import JSON_OPTION, console, info, print_json, table, warn

if TYPE_CHECKING:
    from mahavishnu.memory.core.outbox import Refused

app = typer.Typer(
    help="Team memory on one PostgreSQL: members, sharing, and privacy the database enforces.",
    no_args_is_help=True,
)

DsnOption = typer.Option(
    None,
    "--dsn",
    help="The team store as its owner (postgresql://OWNER@HOST:PORT/DB); default: memory.dsn. Its "
    "password may come from MAHAVISHNU_PG_PASSWORD, secret pg-password or ~/.pgpass instead.",
)


def _dsn(dsn: str | None) -> str:
    """``--dsn``, else the configured store's; the password as ``resolve_dsn`` finds it."""
    from mahavishnu.config import load_settings
    from mahavishnu.memory.core.backends.postgres import resolve_dsn

    settings = load_settings().memory
    if dsn:
        settings = settings.model_copy(update={"dsn": dsn, "backend": "postgres"})
    elif settings.backend != "postgres":
        from mahavishnu.errors import InvalidInputError

        raise InvalidInputError(
            "this machine's memory is not on PostgreSQL",
            hint="Give the team store with --dsn postgresql://USER@HOST:PORT/DB, or join one with "
            "`mahavishnu team join STRING`.",
        )
    return resolve_dsn(settings, "--dsn" if dsn else "memory.dsn")


@contextlib.contextmanager
def _owners_store(dsn: str | None) -> Iterator[None]:
    """An owner's command (init, add, members, remove) whose server cannot be used: said with the
    DSN the user gave (``--dsn``, not memory.dsn), and without the outbox, which only memory
    commands fill."""
    from mahavishnu.errors import BackendUnavailableError

    try:
        yield
    except BackendUnavailableError as exc:
        if not exc.about_reach:
            raise
        where = "the DSN --dsn gives" if dsn else "memory.dsn"
        hint = f"Check that the server is running and reachable, and that {where} is right."
        raise type(exc)(exc.message, hint=hint) from exc


def _size(text: str) -> int:
    """``--member-bytes``' value in bytes (``8GB``, ``500MB``, ``2GiB``, ``0``)."""
    from pydantic import ByteSize, TypeAdapter, ValidationError

    try:
        return int(TypeAdapter(ByteSize).validate_python(text.strip()))
    except (ValidationError, OverflowError):  # (a number of thousands of digits is infinite as a float)
        from mahavishnu.errors import InvalidInputError

        raise InvalidInputError(
            f"--member-bytes {text!r} is not a size",
            hint="Give a number of bytes with a unit, e.g. --member-bytes 8GB (or 500MB, 2GiB; 0: no limit).",
        ) from None


def _gives_password(dsn: str) -> bool:
    """Whether ``team init`` is given the owner's password (in the DSN or the variable)."""
    import os

    from psycopg.conninfo import conninfo_to_dict

    from mahavishnu.memory.core.backends.postgres import PASSWORD_VARIABLE

    return bool(conninfo_to_dict(dsn).get("password") or os.environ.get(PASSWORD_VARIABLE))


@app.command("init")
def init_cmd(
    dsn: str = typer.Option(..., "--dsn", help="The store, as the role that owns (or will own) its tables."),
    use_here: bool = typer.Option(
        False,
        "--use-here",
        help="Also point this machine's memory commands at the team store (memory.dsn in the "
        "settings; a password in --dsn, or in MAHAVISHNU_PG_PASSWORD, goes to the secret store).",
    ),
    member_rows: int | None = typer.Option(
        None,
        "--member-rows",
        min=0,
        help="The most rows each member may write (memories, turns, runs, shares); 0: no limit. "
        "Default: as recorded, else 2,000,000.",
    ),
    member_bytes: str | None = typer.Option(
        None,
        "--member-bytes",
        help="The most each member's rows may hold, e.g. 8GB or 500MB (1 KB = 1,000 bytes; KiB, MiB, GiB "
        "too); 0: no limit. Default: as recorded, else 8GB.",
    ),
    member_connections: int | None = typer.Option(
        None,
        "--member-connections",
        min=0,
        max=262_143,  # PostgreSQL's most max_connections (CONNECTION LIMIT takes no more than an int4)
        help="The most connections each member may hold on the server at once (their role's CONNECTION "
        "LIMIT; current members get it too); 0: no limit. Default: as recorded, else 20.",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Make a PostgreSQL store a team's: migrate it, create the member group, turn on row-level
    security, bound what each member writes. Idempotent; an existing store's rows stay with the
    role that wrote them. This machine's own memory stays where it is unless --use-here (init says
    which)."""
    from mahavishnu.config import load_settings
    from mahavishnu.memory.core import store as store_module
    from mahavishnu.memory.team import schema
    from mahavishnu.memory.team.join import use_here as point_here
    from mahavishnu.memory.team.join import used_here

    most_bytes = _size(member_bytes) if member_bytes is not None else None
    embedder = store_module.default_embedder(load_settings().memory)
    with _owners_store(dsn):
        report = schema.init(
            _dsn(dsn),
            embedder=embedder.identity,
            dimension=embedder.dimension,
            member_rows=member_rows,
            member_bytes=most_bytes,
            member_connections=member_connections,
        )
    here = used_here(dsn)
    # (again when a password is given: the first run may have had none to keep)
    pointed = point_here(dsn) if use_here and (not here or _gives_password(dsn)) else None
    here = here or pointed is not None
    if as_json:
        print_json({**report.to_dict(), "used_here": here})
        return
    if pointed is not None:
        settings_file, secret_store = pointed
        kept = f"; its password kept in the {secret_store} secret store" if secret_store else ""
        info(
            f"memory.dsn set in {settings_file}: this machine's memory commands now use the team store{kept}"
        )
    done = f"applied {wording.count(len(report.migrated), 'migration')}; " if report.migrated else ""
    info(f"team store {report.location}: {done}group role {report.group}, owner {report.owner}")
    info(f"row-level security (forced) on: {', '.join(report.protected)}")
    if report.embedder:
        info(f"team embedder: {report.embedder} ({report.dimension}-dim); members must use the same")
    info(f"each member may write {_limits(*report.member_limits)} (--member-rows, --member-bytes)")
    info(f"each member may hold {_connections(report.member_connections)} (--member-connections)")
    for warning in report.warnings:
        warn(warning)
    _warn_if_trusting(list(report.trusted))
    if not here:
        warn(
            "this machine's memory commands still use its own store, not the team's; to use the team "
            "store here too, run `mahavishnu team init --dsn DSN --use-here` (the same DSN)"
        )
    info("next: `mahavishnu team add NAME [NAME…]`: one join string per member")


@app.command("add")
def add_cmd(
    names: list[str] = typer.Argument(
        ..., help="The members' role names (lowercase letters, digits, _); one or several."
    ),
    host: str = typer.Option(None, "--host", help="Where members reach the store, if not the --dsn host."),
    port: str = typer.Option(None, "--port", help="Port members use (a PgBouncer's, say), if not --dsn's."),
    insecure: bool = typer.Option(
        False,
        "--insecure",
        help="Do not make members verify the server's TLS certificate (sslmode=prefer, not verify-full, "
        "for a server on a network): for a server without TLS only; anyone on the way can read and change "
        "what they store.",
    ),
    returning: bool = typer.Option(
        False,
        "--returning",
        help="Bring back a removed member who wrote memories here: theirs are theirs again (a name "
        "reused for someone new is refused without it).",
    ),
    dsn: str = DsnOption,
    as_json: bool = JSON_OPTION,
) -> None:
    """Add members (or issue a new join string to one): prints a one-time join string for each, once.
    With --json, one name gives {member, join}; several, a list of them."""
    from mahavishnu.memory.team import members

    wanted = list(dict.fromkeys(names))  # each member once, in the order given
    for name in wanted:
        members.check_member_name(name)  # every name checked before anyone is added
    resolved = _dsn(dsn)
    if len(wanted) == 1:
        [name] = wanted
        with _owners_store(dsn):
            ticket = members.add(resolved, name, host=host, port=port, insecure=insecure, returning=returning)
        if as_json:
            print_json({"member": name, "join": ticket.encode()})
            return
        info(f"{name} is a member. Give them this join string (shown once; it works once):")
        typer.echo(ticket.encode())
        info(f"on their machine: mahavishnu team join '<the string>'  (it connects to {_where(ticket)})")
        _warn_if_socket(ticket)
        _warn_if_unverified(ticket)
        return
    added = []
    for name in wanted:
        with _owners_store(dsn):
            ticket = members.add(resolved, name, host=host, port=port, insecure=insecure, returning=returning)
        added.append({"member": name, "join": ticket.encode()})
        if not as_json:  # each string as soon as it exists: a later failure does not lose it
            info(f"{name} is a member. Their join string (shown once; it works once):")
            typer.echo(ticket.encode())
    if as_json:
        print_json(added)
        return
    info(
        f"on each member's machine: mahavishnu team join '<their string>'  (it connects to {_where(ticket)})"
    )
    _warn_if_socket(ticket)
    _warn_if_unverified(ticket)


def _where(ticket: Any) -> str:
    from mahavishnu.memory.core.backends.postgres import dsn_host

    return dsn_host(ticket.dsn(with_password=False))


def _warn_if_unverified(ticket: Any) -> None:
    """A string for a server on a network that does not verify it: said loudly (``--insecure``)."""
    if not ticket.verifies_server:
        warn(
            f"INSECURE: this join string does not verify the server ({ticket.host}, sslmode={ticket.ssl}): "
            "anyone on the network path can pose as the store, read and change what the member stores. "
            "Give the server TLS and make the string again without --insecure."
        )


def _warn_if_socket(ticket: Any) -> None:
    """A join string holding a Unix socket's directory works on this machine only."""
    if ticket.host.startswith(("/", "@")):
        warn(
            f"the string connects through a Unix socket ({ticket.host}): it works only on this machine; "
            "for members elsewhere run `team add NAME --host ADDRESS [--port PORT]` again"
        )


@app.command("join")
def join_cmd(
    string: str = typer.Argument(None, help="The join string; omit it to paste it at a hidden prompt."),
    use_team_embedder: bool = typer.Option(
        False, "--use-team-embedder", help="Switch this machine's embedder to the team's (settings)."
    ),
    hooks: str = typer.Option(
        None,
        "--hooks",
        help="Also install the memory hooks (as `memory hooks install --tool TOOL`) in claude, codex, "
        "qwen, gemini, pi, opencode, a comma-separated list or all, so their sessions recall the team's "
        "memory.",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Join a team store: the password goes to the secret store, the settings point at the store;
    with --hooks, the assistants' memory hooks are installed too."""
    import sys

    from mahavishnu.environments import memory_hooks
    from mahavishnu.memory.team.join import join

    tools = memory_hooks.check_tools(hooks) if hooks else []  # a wrong name: refused, the string unused
    if string is None:
        string = (
            sys.stdin.readline() if not sys.stdin.isatty() else typer.prompt("Join string", hide_input=True)
        )
    from mahavishnu.memory.team.members import JoinString

    _warn_if_unverified(JoinString.decode(string))  # (a damaged string: refused here, in one line)
    joined = join(string, use_team_embedder=use_team_embedder)
    changes = _install_hooks(tools, hooks, joined.role) if tools else []
    if as_json:
        installed = {"hooks_written": [str(c.path) for c in changes if c.changed]} if tools else {}
        print_json({**joined.to_dict(), **installed})
        return
    info(
        f"joined {joined.location} as {joined.role}; password kept in the {joined.secret_store} secret store"
    )
    info(f"memory.dsn set in {joined.settings_file}; your memories are private until you share them")
    if tools:
        written = [str(c.path) for c in changes if c.changed]
        info(
            f"memory hooks installed in: {', '.join(written)}"
            if written
            else "memory hooks: already installed"
        )
    elif not any(t.ok for t in memory_hooks.hooks_status("claude")):
        info(
            "next: `mahavishnu memory hooks install --tool claude` (or --tool all) so Claude Code's "
            "sessions recall the team's memory"
        )


def _install_hooks(tools: list[Any], hooks: str, role: str) -> list[Any]:
    """``join --hooks``: the memory hooks installed; a failure says the join itself is done (its
    string is spent) and what installs the hooks once fixed."""
    from mahavishnu.environments import memory_hooks
    from mahavishnu.errors import MahavishnuError

    try:
        return memory_hooks.install(tools)
    except MahavishnuError as exc:
        raise type(exc)(
            f"joined as {role}, but the memory hooks were not installed: {exc.message}",
            hint=f"{exc.hint} Then run `mahavishnu memory hooks install --tool {hooks}` (the join is done)."
            if exc.hint
            else f"Run `mahavishnu memory hooks install --tool {hooks}` once fixed (the join is done).",
        ) from exc


@app.command("members")
def members_cmd(dsn: str = DsnOption, as_json: bool = JSON_OPTION) -> None:
    """List the members, how many memories each shares, and what each has written (the owner sees
    everyone's; a member, their own)."""
    from mahavishnu.memory.team import members

    with _owners_store(dsn):
        found = members.members(_dsn(dsn))
    if as_json:
        print_json([m.to_dict() for m in found])
        return
    rows = [
        (
            m.name,
            "member" if m.current else "removed",
            m.shared,
            f"{_rows(m.written[0])}, {wording.size(m.written[1])}" if m.written else "-",
        )
        for m in found
    ]
    table(None, ["member", "status", "shared memories", "written"], rows)


@app.command("remove")
def remove_cmd(
    name: str = typer.Argument(..., help="The member to remove."),
    dsn: str = DsnOption,
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove a member: no more access; the memories they shared stay, attributed to them."""
    from mahavishnu.memory.team import members

    with _owners_store(dsn):
        removed = members.remove(_dsn(dsn), name)
    if as_json:
        print_json(
            {"removed": name, "shared_memories_kept": removed.shared, "sessions_left": removed.sessions_left}
        )
        return
    kept = wording.count(removed.shared, "memory")
    stay = "stays" if removed.shared == 1 else "stay"
    info(f"{name} removed (no login, no rights); the {kept} they shared {stay}, attributed to them")
    if removed.sessions_left:  # (a session that had set the group's role still reads shared memories)
        warn(
            f"{name} may still have sessions open that could not be ended: a superuser ends them with "
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{name}'"
        )


@app.command("status")
def status_cmd(dsn: str = DsnOption, as_json: bool = JSON_OPTION) -> None:
    """Who you are in the team, what you see, and whether the database enforces privacy."""
    from mahavishnu.errors import ServerUnreachableError
    from mahavishnu.memory.core.backends.postgres import dsn_location
    from mahavishnu.memory.team import members

    resolved = _dsn(dsn)
    queue = _outbox(dsn_location(resolved))
    try:
        data = members.status(resolved)
    except ServerUnreachableError as exc:  # what this machine holds for it is still worth showing
        if as_json:
            print_json(
                {
                    "location": dsn_location(resolved),
                    "reachable": False,
                    "error": exc.message,
                    "outbox": queue,
                }
            )
        else:
            warn(f"team store {dsn_location(resolved)} unreachable: {exc.message}")
            console.print(_queued_line(queue), markup=False)
            warn_if_set_aside(dsn_location(resolved))
        raise typer.Exit(1) from None
    data = {**data, "reachable": True, "outbox": queue}
    if as_json:
        print_json(data)
        return
    if queue["waiting"]:
        console.print(_queued_line(queue), markup=False)
    warn_if_set_aside(dsn_location(resolved))
    if not data["team"]:
        info(f"{data['location']} is not a team store (its owner runs `mahavishnu team init --dsn DSN`)")
        return
    counts: Any = data["memories"]
    console.print(f"team store {data['location']} · you are {data['role']} (group {data['group']})")
    console.print(
        f"memories: {counts['private']} private, {counts['shared']} shared by you, "
        f"{counts['shared_with_me']} shared with you"
    )
    console.print(f"embedder: {data['embedder']} ({data['dimension']}-dim)")
    used: Any = data["quota"]
    if used is not None:
        console.print(
            f"you have written {_rows(used['rows'])} ({wording.size(used['bytes'])}); "
            f"each member may write {_limits(used['member_rows'], used['member_bytes'])}"
        )
    if data["member"]:
        held: Any = data["server_connections"]
        console.print(
            f"you hold {wording.count(held, 'connection')} to the server; "
            f"you may hold {_connections(data['connection_limit'] or 0)}"  # type: ignore[arg-type]
        )
    rls: Any = data["row_level_security"]
    off = [table_ for table_, on in rls.items() if not on]
    console.print("row-level security: " + (f"OFF on {', '.join(off)}" if off else "on (forced) everywhere"))
    if data["superuser"]:
        warn("you connect as a superuser: the database enforces nothing on you")
    _warn_if_trusting(data["trusted_logins"])  # type: ignore[arg-type]
    _warn_if_set_up_by_an_older_release(data["setup"])


def _connections(most: int) -> str:
    """``at most 20 connections`` (0: no limit)."""
    return f"at most {wording.count(most, 'connection')}" if most else "connections without limit"


def _rows(n: int) -> str:
    return f"{n:,} {wording.plural(n, 'row')}"


def _limits(rows: int, size: int) -> str:
    """``at most 2,000,000 rows and 8.0 GB`` (0: no limit)."""
    said = [_rows(rows) if rows else "", wording.size(size) if size else ""]
    return f"at most {' and '.join(s for s in said if s)}" if any(said) else "without limit"


def _warn_if_set_up_by_an_older_release(setup: Any) -> None:
    from mahavishnu.memory.team.schema import SETUP_FIX, setup_warning

    said = setup_warning(int(setup["recorded"]))
    if said:
        warn(said)
        warn(f"fix: {SETUP_FIX}")


def _warn_if_trusting(paths: list[str]) -> None:
    from mahavishnu.memory.team import logins

    if paths:
        warn(logins.warning(paths))
        warn(f"fix: {logins.FIX}")


def _outbox(location: str) -> dict[str, Any]:
    """What this machine's outbox holds for the store at ``location`` (``memory/core/outbox.py``):
    what waits, and what was set aside (refused by the store), each with what it holds."""
    from mahavishnu.memory.core.outbox import Outbox

    with Outbox() as box:
        refused = [
            {"client_id": a.item.client_id, "kind": a.item.kind, "reason": a.reason, "item": a.item.body}
            for a in box.refused(location)
        ]
        return {**box.waiting(location).to_dict(), "refused": refused}


def _queued_line(queue: dict[str, Any]) -> str:
    if not queue["waiting"]:
        return "outbox: empty (nothing waits on this machine)"
    return (
        f"outbox: {wording.count(queue['waiting'], 'item')} waiting on this machine, the oldest for "
        f"{_age(queue['oldest_age_seconds'])}; `mahavishnu team sync` delivers them once the store answers"
    )


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


@app.command("sync")
def sync_cmd(
    retry_refused: bool = typer.Option(
        False, "--retry-refused", help="Send again what the team store refused and was set aside."
    ),
    drop_refused: bool = typer.Option(
        False, "--drop-refused", help="Delete what the team store refused and was set aside."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Deliver what this machine queued while the team store was unreachable (memories, then
    captures), each once; also done by memory commands and the memory daemon on their own. What the
    store refused for what it holds waits aside (`team status` shows it) until sent again or dropped."""
    from mahavishnu.errors import InvalidInputError
    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.memory.loop.sync import deliver, set_aside_count

    if retry_refused and drop_refused:
        raise InvalidInputError("--retry-refused or --drop-refused, not both")
    with MemoryStore.open() as store:
        location = store.outbox_target
        dropped = _set_aside_again(location, retry=retry_refused, drop=drop_refused)
        report = deliver(store)
    if as_json:
        print_json({**report.to_dict(), "dropped": len(dropped)})
        return
    if dropped:
        info(f"dropped {set_aside_count(dropped)} set aside on this machine")
    if report.busy:
        info(f"another process is delivering right now; {report.waiting} waiting")
        return
    refused = f", {report.refused} refused and set aside" if report.refused else ""
    info(
        f"delivered {wording.count(report.delivered, 'memory')} ({report.skipped} already there{refused}) "
        f"and re-ran {wording.count(report.captures, 'capture')}; {report.waiting} waiting"
    )
    warn_if_set_aside(location)


def _set_aside_again(location: str | None, *, retry: bool, drop: bool) -> list[Refused]:
    """What was set aside for ``location``, put back in the queue (``retry``) or deleted (``drop``):
    what was deleted."""
    from mahavishnu.memory.core.outbox import Outbox

    if location is None or not (retry or drop):
        return []
    with Outbox() as box:
        refused = box.refused(location)
        if retry:
            box.retry_refused(location)
            return []
        box.drop_refused(location)
    return refused


@app.command("share")
def share_cmd(
    ids: list[int] = typer.Argument(None, help="Memory ids (yours) to share."),
    project: str = typer.Option(None, "--project", "-p", help="Share every memory of yours in this project."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Share your memories with the team (conversation turns stay private)."""
    _visibility(ids or [], project, "team", as_json)


@app.command("unshare")
def unshare_cmd(
    ids: list[int] = typer.Argument(None, help="Memory ids (yours) to make private again."),
    project: str = typer.Option(None, "--project", "-p", help="Every memory of yours in this project."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Make your shared memories private again."""
    _visibility(ids or [], project, "private", as_json)


def _visibility(ids: list[int], project: str | None, visibility: Any, as_json: bool) -> None:
    from mahavishnu.memory.core.authors import refused
    from mahavishnu.memory.team import sharing

    backend = _backend()
    error = None
    shown = "shared with the team" if visibility == "team" else "private"
    try:
        if project is not None:
            count = sharing.share_project(backend, project, visibility)
            data: dict[str, Any] = {"project": project, "visibility": visibility, "changed": count}
            memories = "1 of your memories" if count == 1 else f"{count:,} of your memories"
            message = f"{memories} in {project} {'is' if count == 1 else 'are'} now {shown}"
        else:
            report = sharing.set_visibility(backend, ids, visibility)
            data = {"visibility": visibility, **report.to_dict()}
            message = f"{wording.count(len(report.changed), 'memory')} now {shown}"
            verb = "share" if visibility == "team" else "unshare"
            error = refused(backend, report.not_mine, verb) if report.not_mine else None
    finally:
        backend.close()
    if as_json:
        print_json(data)
    elif data.get("changed") or error is None:  # (a refusal alone is said by the error)
        info(message)
    if error is not None:
        raise error


@app.command("audit")
def audit_cmd(
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=10_000, help="How many events."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Shares, unshares, edits and deletes of shared memories: who, what, when."""
    from mahavishnu.memory.team import sharing

    backend = _backend()
    try:
        events = sharing.audit(backend, limit)
    finally:
        backend.close()
    if as_json:
        print_json(events)
        return
    rows = [
        (e["at"], e["actor"], e["action"], f"#{e['memory_id']}", e["owner"], e["project"] or "")
        for e in events
    ]
    table(None, ["when", "who", "action", "memory", "owner", "project"], rows)


def _backend() -> Any:
    from mahavishnu.config import load_settings
    from mahavishnu.errors import InvalidInputError
    from mahavishnu.memory.core.backends.postgres import PostgresBackend
    from mahavishnu.memory.core.store import open_backend

    backend = open_backend(load_settings().memory)
    if not isinstance(backend, PostgresBackend):
        backend.close()
        raise InvalidInputError(
            "sharing needs a team store on PostgreSQL", hint="Join one with `mahavishnu team join STRING`."
        )
    return backend
