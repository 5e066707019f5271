"""``mahavishnu memory`` commands about what agents did: conversations, transcripts, ★ Insights,
sharing across projects and groups, workflow runs and performance metrics.

They join the ``memory`` group (``cli/memory_group.py``); ``cli/memory.py`` imports this module so
they are registered whenever the group is loaded.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer

from mahavishnu.cli.memory_group import AgentOption, SessionOption, SinceOption, _snippet, app, open_store
from mahavishnu.cli.output import JSON_OPTION, info, print_json, table
from mahavishnu.errors import InvalidInputError, NotFoundError
from mahavishnu.wording import a, count

if TYPE_CHECKING:
    from mahavishnu.memory.core.backends.postgres import PostgresBackend
    from mahavishnu.memory.core.store import MemoryStore, Stored

groups_app = typer.Typer(
    help="Project groups: search and share insights across several projects.", no_args_is_help=True
)
app.add_typer(groups_app, name="groups")

LimitOption = typer.Option(50, "--limit", "-n", help="How many, newest first.")
TurnOption = typer.Option(
    False, "--turn", help="ID is a conversation turn's (`memory conversations`), shared with your team."
)


def _when(stamp: str | None) -> str:
    return (stamp or "")[:16].replace("T", " ")


# -- conversations --------------------------------------------------------------------------------
@app.command("conversations")
def conversations_cmd(
    agent: str | None = AgentOption,
    session: str | None = SessionOption,
    since: str | None = SinceOption,
    limit: int = LimitOption,
    as_json: bool = JSON_OPTION,
) -> None:
    """Conversation turns stored by agents or imported from transcripts, newest first. On a team
    store: your own and those other members shared, with their author (`memory share ID --turn`
    shares one of yours)."""
    from mahavishnu.memory.core.authors import authors
    from mahavishnu.memory.loop.conversations import conversations

    with open_store() as store:
        turns = conversations(store, agent_id=agent, session_id=session, since=since, limit=limit)
        written_by = authors(store.backend, (t["id"] for t in turns), turns=True)
    turns = [{**t, **by.to_dict()} if (by := written_by.get(t["id"])) else t for t in turns]
    if as_json:
        print_json(turns)
        return
    if not turns:
        if session or agent or since:
            info("no conversation turns match; `mahavishnu memory conversations` lists every session")
        else:
            info("no conversation turns; import one with `mahavishnu memory import-transcript PATH`")
        return
    rows = [
        (
            t["id"],
            _when(t["created_at"]),
            t["agent_id"],
            t["session_id"][:12],
            t["role"],
            *([_shared_by(t)] if written_by else []),
            _snippet(t["content"], 70),
        )
        for t in turns
    ]
    team = ["author"] if written_by else []  # a team store: who wrote each, and whether shared
    table(None, ["id", "when", "agent", "session", "role", *team, "content"], rows)


def _shared_by(data: Mapping[str, object]) -> str:
    """A team store's author column: the member, and ``(shared)`` once shared with the team."""
    return f"{data.get('author', '')}{' (shared)' if data.get('visibility') == 'team' else ''}"


@app.command("import-transcript")
def import_transcript_cmd(
    path: str = typer.Argument(
        ...,
        help="A Claude Code session file (.jsonl), a directory such as ~/.claude/projects, or '-' to read "
        "a Claude Code hook's JSON (its transcript_path) from standard input.",
    ),
    project: str | None = typer.Option(
        None, "--project", "-p", help="File it under this project (default: from the session's cwd)."
    ),
    agent: str = typer.Option("claude-code", "--agent", help="Agent id to file the turns under."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Import Claude Code session transcripts: turns become searchable, ★ Insights are collected.
    Importing again adds only what is new, so it can run from a Stop hook:
    `mahavishnu claude hooks add Stop --command "mahavishnu memory import-transcript -"`."""
    from mahavishnu.memory.loop.conversations import import_transcripts

    target = _hook_transcript(sys.stdin.read()) if path == "-" else Path(path)
    with open_store() as store:
        reports = import_transcripts(store, target, agent_id=agent, project=project)
    if as_json:
        print_json([r.to_dict() for r in reports])
        return
    for r in reports:
        bad = f", {count(r.skipped_lines, 'unreadable line')} skipped" if r.skipped_lines else ""
        where = r.project or "no project"
        insights = count(r.insights, "insight")
        info(f"{r.path}: {r.added} of {count(r.turns, 'turn')} added, {insights} ({where}){bad}")


def _hook_transcript(payload: str) -> Path:
    """The ``transcript_path`` of the JSON a Claude Code hook receives on standard input."""
    from mahavishnu.memory.loop.session_file import require_within
    from mahavishnu.memory.loop.session_logs import session_root

    try:
        found = json.loads(payload).get("transcript_path")
    except (ValueError, AttributeError, RecursionError):
        found = None
    if not isinstance(found, str) or not found:
        raise InvalidInputError(
            "standard input holds no Claude Code hook JSON with a transcript_path",
            hint="Pass the transcript's path instead of '-'.",
        )
    require_within(Path(found), session_root("claude"), "Claude Code")
    return Path(found)


# -- insights -------------------------------------------------------------------------------------
@app.command("insights")
def insights_cmd(
    project: str | None = typer.Option(
        None, "--project", "-p", help="Only what this project sees: its own and shared."
    ),
    since: str | None = SinceOption,
    limit: int = LimitOption,
    as_json: bool = JSON_OPTION,
) -> None:
    """★ Insights collected from conversations and transcripts, newest first."""
    from mahavishnu.memory.insights.cross_project import list_insights

    with open_store() as store:
        insights = list_insights(store, project=project, since=since, limit=limit)
        if not insights and not as_json:
            filters = {"--project": project, "--since": since}
            info(
                _nothing("insights", filters, lambda: bool(list_insights(store, limit=1)), "no insights yet")
            )
            return
    if as_json:
        print_json([i.to_dict() for i in insights])
        return
    team = any(i.author for i in insights)  # a team store: who wrote each
    rows = [
        (
            i.memory.id,
            i.memory.created_at.strftime("%Y-%m-%d %H:%M"),
            ", ".join(dict.fromkeys(p for p in (i.memory.project, *i.shared_with) if p)),  # its own first
            *([_shared_by(i.author.to_dict() if i.author else {})] if team else []),
            _snippet(_marked(i.memory.tags, i.memory.content), 70),
        )
        for i in insights
    ]
    table(None, ["id", "created", "projects", *(["author"] if team else []), "insight"], rows)


def _marked(tags: Sequence[str], content: str) -> str:
    """``content`` marked when recall leaves it out, as ``memory search`` marks it (why, in
    ``memory get``: the column is narrow): an insight can be orders, not knowledge."""
    from mahavishnu.memory.core.provenance import held_back

    return content if held_back(tags, content) is None else f"[quarantined] {content}"


@app.command("share")
def share_cmd(
    insight: str = typer.Argument(
        ...,
        help="An insight's id, or the text of a new insight; with --team, the id of any memory of yours; "
        "with --turn, of a conversation turn of yours.",
    ),
    projects: list[str] | None = typer.Option(
        None, "--project", "-p", help="Share with this project; repeatable."
    ),
    group: str | None = typer.Option(None, "--group", "-g", help="Share with every project of this group."),
    origin: str | None = typer.Option(
        None, "--from", help="For new insight text: the project it comes from."
    ),
    team: bool = typer.Option(
        False, "--team", help="Share it with your team (a team store): every member's searches find it."
    ),
    turn: bool = TurnOption,
    as_json: bool = JSON_OPTION,
) -> None:
    """Share an insight with other projects or a group: their searches will find it. With --team,
    share a memory of yours with the team (`memory unshare ID` makes it private again); with
    --turn, one conversation turn of yours (captured turns are private until you do)."""
    from mahavishnu.memory.insights.cross_project import share_insight

    if team or turn:
        if projects or group or origin:
            raise InvalidInputError(
                f"{'--turn' if turn else '--team'} shares with the team, not with projects or groups",
                hint="Run `memory share ID --team` and `memory share ID --group G` separately.",
            )
        _team_visibility(insight, "team", as_json, turn=turn)
        return
    if insight.isascii() and insight.isdigit() and not _is_id(insight):  # digits past any id
        raise NotFoundError(f"no insight #{insight}", hint="Find insights with `mahavishnu memory insights`.")
    target: int | str = int(insight) if _is_id(insight) else insight
    with open_store() as store:
        result = share_insight(store, target, projects=projects or (), group=group, project=origin)
    if as_json:
        print_json(result.to_dict())
        return
    new = ", ".join(result.shared_with) or "nobody new"
    already = f" (already: {', '.join(result.already)})" if result.already else ""
    info(f"insight #{result.memory_id} shared with {new}{already}")


@app.command("unshare")
def unshare_cmd(
    memory_id: str = typer.Argument(
        ..., help="The id of a memory of yours shared with the team (with --turn, of a conversation turn)."
    ),
    turn: bool = TurnOption,
    as_json: bool = JSON_OPTION,
) -> None:
    """Make a memory (or with --turn a conversation turn) you shared with your team private again
    (a team store)."""
    _team_visibility(memory_id, "private", as_json, turn=turn)


def _is_id(text: str) -> bool:
    """Whether ``text`` can be a memory id: ASCII digits (``int()`` refuses "²"), at most 19 of them
    (every id is below 2**63; ``int()`` refuses 4,300 digits or more, a traceback)."""
    return text.isascii() and text.isdigit() and len(text) <= 19


def _team_visibility(
    memory_id: str, visibility: Literal["private", "team"], as_json: bool, *, turn: bool = False
) -> None:
    """Share (or unshare) one of the caller's memories, or with ``turn`` one of their conversation
    turns, with the team (``memory/team/sharing``)."""
    from mahavishnu.memory.core.authors import refused
    from mahavishnu.memory.team.sharing import set_turn_visibility, set_visibility

    what = "conversation turn" if turn else "memory"
    if not _is_id(memory_id):
        raise InvalidInputError(
            f"{memory_id!r} is not {a(what)} id",
            hint=f"Find ids with `mahavishnu memory {'conversations' if turn else 'search'}`.",
        )
    with open_store() as store:
        change = set_turn_visibility if turn else set_visibility
        report = change(team_backend(store), [int(memory_id)], visibility)
        label = f"turn #{memory_id}" if turn else f"#{memory_id}"
        if as_json:
            print_json({"visibility": visibility, **({"turn": True} if turn else {}), **report.to_dict()})
        if report.not_mine:
            raise refused(
                store.backend, report.not_mine, "share" if visibility == "team" else "unshare", turns=turn
            )
    if as_json:
        return
    if report.changed:
        info(f"{label} is now {'shared with the team' if visibility == 'team' else 'private'}")
    else:
        info(f"{label} was already {'shared with the team' if visibility == 'team' else 'private'}")


def team_backend(store: MemoryStore) -> PostgresBackend:
    """The store's backend, which must be a team store's (else a one-line error saying how to join one)."""
    from mahavishnu.memory.core.backends.postgres import PostgresBackend

    if not isinstance(store.backend, PostgresBackend) or not store.backend.team_store():
        raise InvalidInputError(
            "this machine's memory is not a team store",
            hint="Join one with `mahavishnu team join STRING` (its owner prints the string).",
        )
    return store.backend


def store_shared(text: str, memory_type: str, fields: Mapping[str, Any]) -> Stored:
    """``memory store --team``: store a memory of the caller's, then share it with the team as
    ``memory share ID --team`` does (``set_visibility``; audited as a share). Nothing is stored
    unless the team store answers and is one."""
    from mahavishnu.errors import QueuedOfflineError, ServerUnreachableError
    from mahavishnu.memory.team.sharing import set_visibility

    try:
        with open_store() as store:
            backend = team_backend(store)
            stored = store.add(text, memory_type, **fields)
            report = set_visibility(backend, [stored.memory.id], "team")
    except QueuedOfflineError as queued:  # lost the store between the check and the store: kept, private
        raise ServerUnreachableError(
            f"{queued.message}; it was not shared",
            hint="Once it is delivered (`mahavishnu team status`), share it with `mahavishnu memory share ID "
            "--team` (ids from `memory search`).",
        ) from None
    except ServerUnreachableError as exc:
        raise ServerUnreachableError(
            f"{exc.message}; nothing was stored (--team needs the team store)",
            hint="Retry when it answers, or store it without --team (kept in this machine's outbox until "
            "then, private) and share it later with `mahavishnu memory share ID --team`.",
        ) from None
    if report.not_mine:  # the same memory is another member's: nothing of the caller's to share
        raise InvalidInputError(
            f"the same memory is already #{stored.memory.id}, another member's: nothing of yours to share",
            hint="A member shares only their own memories; search finds theirs.",
        )
    return stored


# -- project groups -------------------------------------------------------------------------------
def _show_group(group: object, as_json: bool) -> None:
    from mahavishnu.memory.core.sharing import Group

    assert isinstance(group, Group)
    if as_json:
        print_json(group.to_dict())
    else:
        info(f"{group.name}: {', '.join(group.projects) or '(no projects)'}")


@groups_app.command("create")
def groups_create_cmd(
    name: str = typer.Argument(..., help="Group name."),
    projects: list[str] | None = typer.Argument(None, help="Projects in it."),
    description: str | None = typer.Option(None, "--description", "-d", help="What the group is for."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a project group."""
    from mahavishnu.memory.core.sharing import create_group

    with open_store() as store:
        _show_group(create_group(store, name, projects or (), description=description), as_json)


@groups_app.command("add")
def groups_add_cmd(
    name: str = typer.Argument(..., help="Group name."),
    projects: list[str] = typer.Argument(..., help="Projects to add."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Add projects to a group (they also see the insights shared with the group)."""
    from mahavishnu.memory.core.sharing import add_to_group

    with open_store() as store:
        _show_group(add_to_group(store, name, projects), as_json)


@groups_app.command("remove")
def groups_remove_cmd(
    name: str = typer.Argument(..., help="Group name."),
    projects: list[str] = typer.Argument(..., help="Projects to remove."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove projects from a group (they stop seeing what was shared through it)."""
    from mahavishnu.memory.core.sharing import remove_from_group

    with open_store() as store:
        _show_group(remove_from_group(store, name, projects), as_json)


@groups_app.command("delete")
def groups_delete_cmd(name: str = typer.Argument(..., help="Group name.")) -> None:
    """Delete a group (projects keep the insights already shared with them)."""
    from mahavishnu.memory.core.sharing import delete_group

    with open_store() as store:
        delete_group(store, name)
    info(f"deleted group {name}")


@groups_app.command("list")
def groups_list_cmd(as_json: bool = JSON_OPTION) -> None:
    """Project groups and their projects."""
    from mahavishnu.memory.core.sharing import list_groups

    with open_store() as store:
        groups = list_groups(store)
    if as_json:
        print_json([g.to_dict() for g in groups])
        return
    if not groups:
        info("no project groups; create one with `mahavishnu memory groups create NAME PROJECT…`")
        return
    table(
        None,
        ["group", "projects", "description"],
        [(g.name, ", ".join(g.projects), g.description) for g in groups],
    )


# -- workflows and metrics ------------------------------------------------------------------------
workflows_app = typer.Typer(help="Recorded workflow executions, newest first; import-prefect backfills.")
app.add_typer(workflows_app, name="workflows")


@workflows_app.callback(invoke_without_command=True)
def workflows_cmd(
    ctx: typer.Context,
    workflow: str | None = typer.Option(None, "--workflow", "-w", help="Only this workflow id."),
    status: str | None = typer.Option(
        None, "--status", help="pending, running, completed, failed or cancelled."
    ),
    adapter: str | None = typer.Option(None, "--adapter", help="Only runs by this adapter."),
    since: str | None = SinceOption,
    limit: int = LimitOption,
    as_json: bool = JSON_OPTION,
) -> None:
    """Recorded workflow executions, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from mahavishnu.memory.core.workflows import workflow_executions

    with open_store() as store:
        runs = workflow_executions(
            store, workflow_id=workflow, status=status, adapter=adapter, since=since, limit=limit
        )
        if not runs and not as_json:
            filters = {"--workflow": workflow, "--status": status, "--adapter": adapter, "--since": since}
            info(_nothing("workflow executions", filters, lambda: bool(workflow_executions(store, limit=1))))
            return
    if as_json:
        print_json(runs)
        return
    rows = [
        (
            r["id"],
            _when(r["created_at"]),
            r["workflow_id"],
            r["adapter"],
            r["status"],
            f"{r['duration_seconds']:.1f}s" if r["duration_seconds"] is not None else "",
            ", ".join(r["repos"]),
            _snippet(r["error"] or "", 40),
        )
        for r in runs
    ]
    table(None, ["id", "when", "workflow", "adapter", "status", "took", "repos", "error"], rows)


@workflows_app.command("import-prefect")
def import_prefect_cmd(
    api_url: str | None = typer.Option(
        None, "--api-url", help="The Prefect API (default: Prefect's own PREFECT_API_URL or profile)."
    ),
    limit: int = typer.Option(200, "--limit", "-n", help="How many of the newest finished flow runs."),
    project: str | None = typer.Option(None, "--project", help="File the runs under this project."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Record the finished flow runs of a Prefect API as workflow executions (needs the prefect extra;
    a run recorded before is skipped)."""
    import importlib.util

    if importlib.util.find_spec("prefect") is None:
        from mahavishnu.distribution import install_extra

        raise InvalidInputError("import-prefect needs Prefect", hint=install_extra("prefect"))
    import httpx

    from mahavishnu.integrations.prefect.runs import import_runs

    with open_store() as store:
        try:
            done = import_runs(store, api_url=api_url, limit=limit, project=project)
        except httpx.HTTPStatusError as exc:  # a server there, refusing (or not Prefect's API)
            where = f" at {api_url}" if api_url else ""
            raise InvalidInputError(
                f"the Prefect API{where} answered {exc.response.status_code} {exc.response.reason_phrase}",
                hint="Is that Prefect's API (http://HOST:4200/api)? Nothing was recorded.",
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # no server there, or no URL at all
            where = f" at {api_url}" if api_url else ""
            raise InvalidInputError(
                f"cannot reach the Prefect API{where}: {type(exc).__name__}",
                hint="Start the Prefect server (`prefect server start`), or give its URL with --api-url "
                "http://HOST:4200/api; nothing was recorded.",
            ) from None
        except RuntimeError as exc:  # no API set: the temporary server Prefect starts did not answer
            if "ephemeral Prefect API server" not in str(exc):
                raise
            raise InvalidInputError(
                "no Prefect API is set, and the temporary server Prefect started did not answer in time",
                hint="Start the Prefect server (`prefect server start`) and give its URL with --api-url "
                "http://HOST:4200/api; nothing was recorded.",
            ) from None
    if as_json:
        print_json({"seen": done.seen, "added": done.added, "skipped": done.skipped})
        return
    info(f"recorded {count(done.added, 'Prefect flow run')}; {done.skipped} already recorded")


@app.command("metrics")
def metrics_cmd(
    component: str | None = typer.Option(
        None, "--component", "-c", help="Only this component (e.g. store, embedder)."
    ),
    metric_type: str | None = typer.Option(
        None, "--type", "-t", help="Only this metric type (e.g. health, probe)."
    ),
    since: str | None = SinceOption,
    limit: int = LimitOption,
    as_json: bool = JSON_OPTION,
) -> None:
    """Recorded performance metrics (health checks, provider probes, …), newest first."""
    with open_store() as store:
        rows = store.performance_metrics(
            component=component, metric_type=metric_type, since=since, limit=limit
        )
        if not rows and not as_json:
            filters = {"--component": component, "--type": metric_type, "--since": since}
            empty = "no metrics recorded; `mahavishnu health` records some"
            info(_nothing("metrics", filters, lambda: bool(store.performance_metrics(limit=1)), empty))
            return
    if as_json:
        print_json(rows)
        return
    table(
        None,
        ["id", "when", "component", "type", "metrics"],
        [
            (
                r["id"],
                _when(r["recorded_at"]),
                r["component"],
                r["metric_type"],
                _snippet(json.dumps(r["metrics"]), 70),
            )
            for r in rows
        ],
    )


def _nothing(what: str, filters: dict[str, str | None], recorded: Callable[[], bool], empty: str = "") -> str:
    """What an empty listing says: that none match the filters given when some are recorded (not
    that none are recorded), else ``empty``."""
    given = " ".join(f"{flag} {value}" for flag, value in filters.items() if value)
    if given and recorded():
        return f"no {what} match {given}"
    return empty or f"no {what} recorded"
