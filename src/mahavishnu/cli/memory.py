"""``mahavishnu memory``: store, search and move the shared memory.

Heavy modules (numpy, the backend, the embedder) load inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mahavishnu.cli.fast.search import _noted, dimmed, relevant_column
from mahavishnu.cli.fast.store import (
    say_if_quarantined,
    say_written,
    store_fields,
    store_memory,
    written_question,
)
from mahavishnu.cli.memory_group import (
    AgentOption,
    GroupOption,
    ProjectOption,
    RepoOption,
    SessionOption,
    SinceOption,
    TagOption,
    TypeOption,
    UntilOption,
    _snippet,
    app,
    open_store,
)
from mahavishnu.cli.output import JSON_OPTION, Markup, console, escape, info, print_json, table, warn
from mahavishnu.cli.params import MEMORY_SEARCH, MEMORY_STORE, TYPES_HELP, typer_params
from mahavishnu.cli.target_file import FORCE_HELP, target_file
from mahavishnu.errors import InvalidInputError
from mahavishnu.wording import NO_RELEVANT_MEMORIES, count, plural
from mahavishnu.wording import size as file_size

if TYPE_CHECKING:
    from mahavishnu.memory.core.embedders.base import Embedder
    from mahavishnu.memory.core.models import Memory
    from mahavishnu.memory.core.store import MemoryStore, Progress
    from mahavishnu.memory.ingest.knowledge import RepoSummary


def target_embedder(name: str, model: str | None, url: str | None) -> Embedder:
    """The embedder ``reembed`` moves to: the configured settings with another embedder."""
    from mahavishnu.config import load_settings
    from mahavishnu.memory.core.store import default_embedder

    if name not in EMBEDDERS:
        raise InvalidInputError(f"unknown embedder {name!r}", hint=f"Use one of: {', '.join(EMBEDDERS)}.")
    settings = load_settings().memory.model_copy(
        update={"embedder": name, "embedder_model": model, "embedder_url": url}
    )
    return default_embedder(settings)


EMBEDDERS = ("local", "ollama", "openai", "fastembed")


def _filters(
    types: list[str] | None,
    tags: list[str] | None,
    project: str | None,
    repo: str | None,
    agent: str | None,
    session: str | None,
    since: str | None,
    until: str | None,
    group: str | None = None,
) -> dict[str, Any]:
    values = {
        "group": group,
        "types": types or (),
        "tags": tags or (),
        "project": project,
        "repo_id": repo,
        "agent_id": agent,
        "session_id": session,
        "since": since,
        "until": until,
    }
    return {k: v for k, v in values.items() if v not in (None, ())}


def _scope(memory: Memory) -> str:
    return " ".join(f"{k}={v}" for k, v in (("project", memory.project), ("repo", memory.repo_id)) if v)


def _read_stdin() -> str:
    """Standard input as UTF-8 text (other bytes are a one-line error, not a traceback)."""
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"standard input is not UTF-8 text (byte {exc.start})",
            hint="Convert it first, e.g. `iconv -f latin1 -t utf-8`.",
        ) from exc


@app.command("store")
@typer_params(MEMORY_STORE)
def store_cmd(**values: Any) -> None:
    """Remember something. The same content, type, project and repo is stored once (storing it
    again adds the new tags and metadata to the stored memory). With --team, stored and shared with
    your team in one step (audited as a share); nothing is stored unless the team store answers."""
    # Its parameters are declared in cli/params.py, from which cli/fast/ also parses plainly
    # spelled command lines (answered by the memory daemon on a PostgreSQL store, see cli/entry.py).
    if values["content"] == "-":
        values["content"] = _read_stdin()
    if values["team"]:
        fields = store_fields(values)
        writer = written_question(fields, values["content"], values["memory_type"])
        _store_for_the_team(values["content"], values["memory_type"], fields, values["as_json"], writer)
        return
    store_memory(values)


def _store_for_the_team(
    text: str, memory_type: str, fields: dict[str, Any], as_json: bool, writer: str | None
) -> None:
    """``memory store --team``: stored, then shared with the team (``memory_activity.store_shared``)."""
    from mahavishnu.cli.memory_activity import store_shared

    stored = store_shared(text, memory_type, fields)
    memory = stored.memory
    if as_json:
        print_json({**memory.to_dict(), "visibility": "team", "already_stored": stored.duplicate})
    else:
        was = "already stored as" if stored.duplicate else "stored"
        info(
            f"{was} #{memory.id} ({memory.memory_type}), shared with the team (`memory unshare {memory.id}`)"
        )
        say_written(memory.to_dict(), fields, writer)
    say_if_quarantined(memory.to_dict())  # (on stderr: the JSON stays whole)


@app.command("search")
@typer_params(MEMORY_SEARCH)
def search_cmd(**values: Any) -> None:
    """Search memories: hybrid (vector + BM25), vector or text; filters apply inside the search.
    Repository chunks come back with `--type rag` (or from `memory query`). With --project, the
    memories of no project count too. Hits the relevance judge calls weak are dimmed and marked `no`
    in a `relevant` column (`"relevant": false` in --json); when nothing stored is close it says "No
    relevant memories" (an empty list in --json)."""
    # Its parameters are declared in cli/params.py, from which cli/fast/ also parses plainly
    # spelled command lines (answered by the memory daemon, see cli/entry.py).
    _search(**values)


def _search(
    query: str,
    *,
    mode: str,
    types: list[str] | None,
    repo: str | None,
    project: str | None,
    tags: list[str] | None,
    agent: str | None,
    session: str | None,
    since: str | None,
    until: str | None,
    group: str | None,
    limit: int,
    min_score: float | None,
    everywhere: bool,
    for_agents: bool,
    as_json: bool,
) -> None:
    filters = _filters(types, tags, project, repo, agent, session, since, until, group)
    if everywhere and for_agents:  # (Session-Buddy's hits are not screened here)
        raise InvalidInputError(
            "--for-agents does not cover --everywhere",
            hint="Drop one of them (the MCP server's search tool does both).",
        )
    if everywhere:
        _search_everywhere(query, mode, filters, limit, as_json)
        return
    from mahavishnu.cli.fast.search import hint_outside_scope, print_hits
    from mahavishnu.memory.core.authors import hit_dicts

    with open_store() as store:

        def searched(scope: dict[str, Any]) -> list[dict[str, Any]]:
            hits = store.search(query, mode=mode, filters=scope, min_score=min_score, limit=limit)
            return hit_dicts(store.backend, hits)  # on a team store, each with its author

        shown = searched(filters)
        print_hits(shown, as_json=as_json, for_agents=for_agents)  # one printer for both paths
        hint_outside_scope(shown, filters, searched, as_json=as_json)


def _search_everywhere(query: str, mode: str, filters: dict[str, Any], limit: int, as_json: bool) -> None:
    from mahavishnu.memory.peers.unified import search_everywhere

    with open_store() as store:
        result = search_everywhere(store, query, filters=filters, limit=limit, mode=mode)
    if as_json:
        print_json(result.to_dict())
        return
    for message in result.warnings:
        warn(message)
    if not result.hits:
        info(NO_RELEVANT_MEMORIES)
        return
    team = any(h.author for h in result.hits)  # a team store: who wrote each memory
    verdicts = [h.relevant for h in result.hits]
    judged, cells = relevant_column(verdicts)  # as `memory search` marks them
    rows = [
        (
            h.memory.id if h.memory else "",
            f"{h.score:.3f}",
            *cell,
            "+".join((h.source, *h.also_in)),
            _scope(h.memory) if h.memory else (h.peer.project if h.peer and h.peer.project else ""),
            *([h.author.owner if h.author else ""] if team else []),
            _snippet(_noted(h.content, {}, h.memory.tags) if h.memory else h.content, 100),
        )
        for h, cell in zip(result.hits, cells, strict=True)
    ]
    columns = ["id", "score", *judged, "source", "scope", *(["author"] if team else []), "content"]
    table(None, columns, dimmed(rows, verdicts))


@app.command("daemon")
def daemon_cmd() -> None:
    """Run the warm memory daemon in the foreground (Unix socket, no port) until stopped, or until
    idle for `memory.daemon_idle_seconds`. The supervised service `mahavishnu-memory` runs this:
    `mahavishnu service start mahavishnu-memory`; a second daemon exits at once."""
    from mahavishnu.memory.loop.daemon import serve

    serve(release=_released_when_idle)


@contextmanager
def _released_when_idle() -> Iterator[bool]:
    """The memory daemon's idle exit, as the supervisor sees it: the service's lock is held while
    the daemon closes (a `service start` meanwhile waits, then starts a fresh one), then its PID
    file goes and it is marked idle (no crash; clients start it again). False, and the daemon
    stays, while a `service` command holds the lock."""
    import os

    from mahavishnu.config import Settings, load_settings
    from mahavishnu.errors import MahavishnuError, ServiceError
    from mahavishnu.memory.loop.daemon import SERVICE
    from mahavishnu.services.supervisor import Supervisor

    try:
        settings = load_settings()
    except MahavishnuError:  # (settings broken meanwhile: the lock and the files need none of them)
        settings = Settings.model_construct()
    supervisor = Supervisor(settings)
    with ExitStack() as held:
        try:
            held.enter_context(supervisor.locked(SERVICE, wait=False))
        except ServiceError:
            yield False
            return
        yield True
        seconds = settings.memory.daemon_idle_seconds
        note = f"exited after {seconds:g} s idle; started again on demand"
        supervisor.exited_idle(SERVICE, os.getpid(), note)


@app.command("list")
def list_cmd(
    types: list[str] | None = TypeOption,
    repo: str | None = RepoOption,
    project: str | None = ProjectOption,
    tags: list[str] | None = TagOption,
    agent: str | None = AgentOption,
    session: str | None = SessionOption,
    since: str | None = SinceOption,
    until: str | None = UntilOption,
    group: str | None = GroupOption,
    limit: int = typer.Option(20, "--limit", "-n", help="How many (1-1000)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List memories, newest first. As in `memory search`, repository chunks (what `memory ingest`
    stores) are left out unless asked for with `--type rag`; `memory repos` lists repositories."""
    from mahavishnu.memory.core.relevance import MEMORY_KINDS

    filters = _filters(types, tags, project, repo, agent, session, since, until, group)
    filters.setdefault("types", MEMORY_KINDS)
    from mahavishnu.memory.core.authors import memory_dicts

    with open_store() as store:
        memories = store.recent(filters, limit=limit)
        listed = memory_dicts(store.backend, memories)  # on a team store, each with its author
    if as_json:
        print_json(listed)
        return
    if not memories:
        narrowed = len(filters) > 1 or types
        info("no memories match" if narrowed else "no memories; add one with `mahavishnu memory store TEXT`")
        return
    team = any("author" in data for data in listed)  # a team store: who wrote each
    rows = [
        (
            m.id,
            m.created_at.strftime("%Y-%m-%d %H:%M"),
            m.memory_type,
            _scope(m),
            *([str(data.get("author", ""))] if team else []),
            _snippet(_noted(m.content, dict(m.metadata), m.tags), 100),
        )
        for m, data in zip(memories, listed, strict=True)
    ]
    table(None, ["id", "created", "type", "scope", *(["author"] if team else []), "content"], rows)


@app.command("get")
def get_cmd(memory_id: int = typer.Argument(..., help="Memory id."), as_json: bool = JSON_OPTION) -> None:
    """Show one memory in full."""
    from mahavishnu.memory.core.authors import memory_dicts
    from mahavishnu.memory.core.provenance import held_back

    with open_store() as store:
        memory = store.get(memory_id)
        data = memory_dicts(store.backend, [memory])[0]  # another member's trust mark is not yours
    if as_json:
        print_json(data)
        return
    content = data.pop("content")
    why = held_back(data["tags"], memory.content, metadata=memory.metadata)
    if why is not None:
        data["quarantined"] = (
            f"{why}: never recalled (`mahavishnu memory trust {memory.id}` after reading it)"
        )
    from rich.text import Text

    from mahavishnu.clean_text import printable

    for key, value in data.items():
        if value not in (None, [], {}):
            shown = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
            console.print(Text.assemble((f"{key}: ", "bold"), printable(shown)), highlight=False)
    console.print()
    console.print(printable(content), markup=False, highlight=False)  # a terminal obeys ESC: shown, not run


@app.command("edit")
def edit_cmd(
    memory_id: int = typer.Argument(..., help="Memory id."),
    content: str | None = typer.Option(None, "--content", "-c", help="Its new text ('-': from stdin)."),
    memory_type: str | None = typer.Option(None, "--type", "-t", help=f"Its new type: {TYPES_HELP}."),
    tags: list[str] | None = typer.Option(
        None, "--tag", help="A tag; repeatable. The tags given replace its tags (not `memory trust`'s mark)."
    ),
    no_tags: bool = typer.Option(False, "--no-tags", help="Remove its tags."),
    project: str | None = typer.Option(None, "--project", "-p", help="Move it to this project."),
    no_project: bool = typer.Option(False, "--no-project", help="Make it a memory of no project."),
    questions: list[str] | None = typer.Option(
        None,
        "--question",
        "-q",
        help="A question it answers, as someone would ask it later (at most 3); replaces its questions.",
    ),
    no_questions: bool = typer.Option(False, "--no-questions", help="Remove the questions it answers."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Change a memory's text, type, tags, project or the questions it answers; what is not given
    stays. New text or questions are embedded again, and screened as when stored. Repository chunks
    change with their files (`memory ingest`), and recall's marks with `memory quarantine` and
    `memory trust`."""
    from mahavishnu.memory.core.authors import memory_dicts
    from mahavishnu.memory.core.provenance import MARKS

    wanted: dict[str, Any] = {"content": content, "type": memory_type, "tags": tags, "project": project}
    given = {key: value for key, value in (wanted | {"questions": questions}).items() if value is not None}
    cleared = {"tags": no_tags, "project": no_project, "questions": no_questions}
    for key in (key for key, asked in cleared.items() if asked):
        if key in given:
            raise InvalidInputError(f"--{_FLAGS[key]} and --no-{key} together", hint="Give one of them.")
        given[key] = None if key == "project" else []
    if not given:
        hint = "Give --content, --type, --tag, --project or --question (`memory edit -h`)."
        raise InvalidInputError("nothing to edit", hint=hint)
    if given.get("content") == "-":
        given["content"] = _read_stdin()
    with open_store() as store:
        memory, changed = store.edit(memory_id, given)
        data = memory_dicts(store.backend, [memory])[0]
    if marks := [tag for tag in given.get("tags") or () if tag in MARKS]:
        warn(
            f"{', '.join(marks)}: recall's marks are not edited; `mahavishnu memory trust {memory.id}` "
            f"trusts it after you read it, `mahavishnu memory quarantine {memory.id}` keeps it out of recall"
        )
    if as_json:
        print_json({**data, "changed": changed})
    elif changed:
        info(f"edited #{memory.id}: {', '.join(changed)}")
    else:
        info(f"#{memory.id} unchanged: it already reads as given")
    say_if_quarantined(memory.to_dict())


#: Each editable field's option (``memory edit``); its ``--no-`` option clears it.
_FLAGS = {"tags": "tag", "project": "project", "questions": "question"}


@app.command("delete")
def delete_cmd(
    memory_ids: list[int] = typer.Argument(..., help="Memory ids."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete memories by id (an unknown id, or on a team store another member's memory, is an
    error, after the others are deleted). Repository chunks are refused: `memory forget-repo REPO`
    removes an ingested repository."""
    from mahavishnu.errors import NotFoundError
    from mahavishnu.memory.core.authors import not_yours

    with open_store() as store:
        done = store.delete_each(memory_ids)
    if as_json:
        theirs = {"not_yours": sorted(done.not_yours)} if done.not_yours else {}  # (a team store's)
        print_json({"deleted": [*done.deleted], "missing": [*done.missing], **theirs})
    elif done.deleted or not (done.missing or done.not_yours):
        info(f"deleted {count(len(done.deleted), 'memory', 'memories')}")
    if done.not_yours:
        raise not_yours(done.not_yours, "delete")
    if done.missing:
        missing = ", ".join(f"#{i}" for i in done.missing)
        raise NotFoundError(f"no memory {missing}", hint="Find ids with `mahavishnu memory search`.")


@app.command("stats")
def stats_cmd(as_json: bool = JSON_OPTION) -> None:
    """Counts by type and project (with what each project is: `memory describe`), embedder, size
    and location of the store."""
    from rich.markup import escape

    from mahavishnu.memory.core import size_metrics
    from mahavishnu.memory.core.store import project_descriptions

    with open_store() as store:
        stats = store.stats()
        described = project_descriptions(store.backend)
    stats["descriptions"] = {p: about for p, about in described.items() if p in stats["by_project"]}
    size_metrics.record(stats)
    if as_json:
        print_json(stats)
        return
    size = f" ({file_size(stats['size_bytes'])})" if isinstance(stats.get("size_bytes"), int) else ""
    where = escape(f"{stats['backend']} store {stats['location']}{size}")
    console.print(f"[bold]{stats['count']}[/bold] {plural(stats['count'], 'memory')} in {where}")
    if stats["embedder"]:
        info(f"embedder: {stats['embedder']} ({stats['dimension'] or '?'} dimensions)")
    else:  # the store records the embedder that embeds its first memory
        info("embedder: none yet (recorded when the first memory is stored)")
    if stats.get("reembed_in_progress"):
        console.print(f"[yellow]reembed in progress to {stats['reembed_in_progress']}[/yellow]")
    if stats["by_type"]:
        table("by type", ["type", "count"], sorted(stats["by_type"].items()))
    if stats["by_project"]:
        rows = [(p or "(none)", n, described.get(p) or "-") for p, n in stats["by_project"].items()]
        table("by project", ["project", "count", "what it is (memory describe)"], rows)


@app.command("describe")
def describe_cmd(
    project: str = typer.Argument(..., help="The project (as in --project)."),
    description: str | None = typer.Argument(
        None, help='What it is, in a few words: "the payments ledger service (FastAPI, PostgreSQL)".'
    ),
    clear: bool = typer.Option(False, "--clear", help="Forget the project's description."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Say what a project is, so that a question naming it by what it is ("which DB did we pick for
    the payments service?") finds its notes and decisions. They are embedded again with it. Without
    a description, print the one stored."""
    from mahavishnu.cli.ingest_progress import PlainProgress
    from mahavishnu.memory.core.models import project_name

    if clear and description is not None:
        raise InvalidInputError("give a description or --clear, not both")
    project = project_name(project)
    with open_store() as store:
        if description is None and not clear:
            _print_description(project, store.project_description(project), as_json)
            return
        plain = PlainProgress(f"describe {project}", "memories", quiet=as_json or console.is_terminal)
        with _progress_bar(f"describe {project}: embedding again", as_json, plain) as progress:
            embedded = store.describe_project(project, None if clear else description, progress=progress)
        about = store.project_description(project)
    if as_json:
        print_json({"project": project, "description": about, "embedded": embedded})
        return
    done = "forgot what it is" if about is None else "described"
    info(f"project {project}: {done}; {count(embedded, 'memory', 'memories')} embedded again")


def _print_description(project: str, about: str | None, as_json: bool) -> None:
    """What ``project`` is said to be; when nothing, what its manifest says, as a suggestion."""

    from mahavishnu.memory.core.manifests import suggestion
    from mahavishnu.memory.core.projects import current_folder

    offer = suggestion(project, current_folder()) if about is None else None
    if as_json:
        print_json({"project": project, "description": about, "suggested": offer and offer.as_json()})
    elif about is not None:
        console.print(about, markup=False)
    elif offer is not None:
        said = f"its {offer.manifest.name} says what it is: `{offer.command(project)}`"
        info(f"project {project} is not described; {said}")
    else:
        command = f'mahavishnu memory describe {shlex.quote(project)} "what it is"'  # quoted, as doctor's
        info(f"project {project} is not described: `{command}`")


@app.command("export")
def export_cmd(
    path: Path = typer.Argument(..., help="JSONL file to write."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write every memory (ids, times, vectors) and activity row (conversations, workflow runs,
    project groups, insight shares, metrics, ingestion runs) to a JSONL file. A team member's file
    holds the memories they wrote, not those teammates shared with them."""
    target = target_file(path, force)
    with open_store() as store:
        counts = store.export(target)
    if as_json:
        print_json(
            {
                "exported": counts.memories,
                "records": counts.records,
                "descriptions": counts.descriptions,
                "theirs_left_out": counts.theirs,
                "path": str(path),
            }
        )
    else:
        rows = sum(counts.records.values())
        tables = ", ".join(f"{n} {t}" for t, n in counts.records.items() if n)
        detail = f" ({tables})" if tables else ""
        memories = count(counts.memories, "memory", "memories")
        described = f", {count(counts.descriptions, 'project description')}" if counts.descriptions else ""
        info(f"exported {memories}{described} and {count(rows, 'activity row')}{detail} to {path}")
        if counts.theirs:
            left = count(counts.theirs, "memory", "memories")
            info(f"left out {left} your teammates shared with you: theirs to export, not yours to import")


@app.command("import")
def import_cmd(
    path: Path | None = typer.Argument(
        None,
        help="JSONL file from `memory export`; with --tool: a session file or folder, or '-' (hook JSON).",
    ),
    tool: str | None = typer.Option(
        None,
        "--tool",
        help="Import sessions of claude, codex, qwen, gemini, pi, opencode or all (default: all they kept).",
    ),
    project: str | None = typer.Option(
        None,
        "--project",
        "-p",
        help="With --tool: file the sessions under this project (default: their git root).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Read an export exactly, memories and activity rows; what is already stored is skipped,
    nothing is written if a line is bad (every line is read first). Stopped half-way, it keeps
    what it stored; run again, it adds the rest. With --tool: import the assistants' own sessions
    (turns, ★ Insights, decisions); again later adds only new turns."""
    if tool is not None:
        from mahavishnu.cli.memory_loop import import_sessions

        import_sessions(tool, None if path is None else str(path), project, as_json)
        return
    if path is None:
        raise InvalidInputError("which file?", hint="Pass a file from `memory export`, or --tool all.")
    try:
        with open_store() as store:
            counts = store.import_(path)
    except KeyboardInterrupt:
        import shlex

        from mahavishnu.cli.output import err_console

        err_console.print(
            "interrupted: the memories and activity rows imported before it are kept (each batch is "
            "committed whole; nothing is written until the whole file has been checked). Run "
            f"`{shlex.join(['mahavishnu', 'memory', 'import', str(path)])}` again to finish: what is "
            "already stored is skipped, so running it again is safe.",
            markup=False,
        )
        raise typer.Exit(130) from None
    records = {t: {"imported": c.imported, "skipped": c.skipped} for t, c in counts.records.items()}
    data = {
        "imported": counts.imported,
        "skipped": counts.skipped,
        "renumbered": counts.renumbered,
        "records": records,
        "descriptions": {"adopted": counts.descriptions_adopted, "kept_own": counts.descriptions_kept_own},
    }
    if as_json:
        print_json(data)
        return
    info(
        f"imported {counts.imported}, skipped {count(counts.skipped, 'duplicate')}, "
        f"renumbered {counts.renumbered}"
    )
    added = sum(c.imported for c in counts.records.values())
    known = sum(c.skipped for c in counts.records.values())
    tables = ", ".join(f"{c.imported} {t}" for t, c in counts.records.items() if c.imported)
    info(f"activity rows: imported {added}{f' ({tables})' if tables else ''}, skipped {known} already there")
    if counts.descriptions_adopted:
        info(f"project descriptions: took {counts.descriptions_adopted} (`memory stats` lists them)")
    if counts.descriptions_kept_own:
        info(
            f"project descriptions: left {counts.descriptions_kept_own} the file describes otherwise as "
            "this store has them (`memory describe` changes one); their memories were embedded as this "
            "store reads them"
        )


@app.command("reembed")
def reembed_cmd(
    embedder_name: str = typer.Option(..., "--embedder", "-e", help="local, ollama, openai or fastembed."),
    model: str | None = typer.Option(None, "--model", help="The embedder's model (default: its own)."),
    url: str | None = typer.Option(None, "--url", help="Server URL for ollama/openai."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, max=4096, help="Texts per committed batch."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Re-embed every memory with another embedder, in place. Safe to interrupt: run it again to resume."""
    import shlex

    from mahavishnu.cli.ingest_progress import PlainProgress
    from mahavishnu.cli.output import err_console

    embedder = target_embedder(embedder_name, model, url)
    plain = PlainProgress(f"reembed → {embedder.identity}", "memories", quiet=as_json or console.is_terminal)
    try:
        with (
            open_store() as store,
            _progress_bar(f"reembed → {embedder.identity}", as_json, plain) as progress,
        ):
            report = store.reembed(embedder, batch_size=batch_size, progress=progress)
    except KeyboardInterrupt:
        options = ["--embedder", embedder_name, *(["--model", model] if model else [])]
        again = shlex.join(["mahavishnu", "memory", "reembed", *options, *(["--url", url] if url else [])])
        err_console.print(
            f"interrupted: {plain.done} of {plain.total or '?'} memories re-embedded are kept. "
            f"Run `{again}` again to resume where it stopped.",
            markup=False,
        )
        raise typer.Exit(130) from None
    data = {
        "embedder": report.embedder,
        "dimension": report.dimension,
        "embedded": report.embedded,
        "total": report.total,
        "done": report.done,
    }
    if as_json:
        print_json(data)
        return
    total = count(report.total, "memory", "memories")
    info(f"re-embedded {report.embedded} of {total} with {report.embedder}")
    from mahavishnu.config import load_settings

    current = load_settings().memory  # unset, the model follows the store's; a set one must match
    if current.embedder != embedder_name:
        info(f"now set memory.embedder: {embedder_name} in your settings so the store opens with it")
    elif current.embedder_model is not None and model is not None and current.embedder_model != model:
        info(f"now set memory.embedder_model: {model} in your settings (or unset it) so the store opens")


@app.command("questions")
def questions_cmd(
    project: str | None = typer.Option(None, "--project", "-p", help="Only this project's memories."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count them; ask the provider nothing."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write the question each note and decision answers, for those stored without one, with the
    provider `memory.question_writer` names (each note sent with its secrets scrubbed). A question
    asked later in other words then finds its note. Safe to interrupt: run it again to go on."""
    from mahavishnu.cli.ingest_progress import PlainProgress
    from mahavishnu.config import load_settings
    from mahavishnu.errors import ConfigError, ProviderUnavailableError
    from mahavishnu.services.question_writer import readiness, unasked, write_missing, writer

    settings = load_settings()
    name, ready = writer(settings), readiness(settings)
    problem = "no question writer is set (memory.question_writer)" if ready is None else ready[1]
    if problem is not None and not dry_run:
        raise ConfigError(
            problem,
            hint="Name a provider profile (`mahavishnu ai list-llms`) with its key stored as "
            "memory.question_writer in the settings file `mahavishnu config path` shows (`mahavishnu "
            "doctor` checks it), or count what it would do with --dry-run.",
        )
    with open_store() as store:
        ids = unasked(store, project)
        if dry_run:
            _said_questions({"unasked": len(ids), "written": 0}, as_json, f"{len(ids)} without a question")
            return
        plain = PlainProgress(f"questions ← {name}", "memories", quiet=as_json or console.is_terminal)
        with _progress_bar(f"questions ← {name}", as_json, plain) as progress:
            done = write_missing(store, settings, ids, progress=progress)
    data = {"unasked": len(ids), "written": done.written, "passed": done.passed}
    if done.problem:
        if as_json:  # (what it did, before the error on standard error)
            print_json(data | {"left": done.left})
        raise ProviderUnavailableError(
            f"{done.problem}: questions written for {done.written}, {done.left} left",
            hint=f"Check the provider with `mahavishnu ai test {name}`, then run `mahavishnu memory "
            "questions` again to go on.",
        )
    said = f"questions written for {count(done.written, 'memory', 'memories')} with {name}"
    _said_questions(data, as_json, said + (f" ({done.passed} passed over)" if done.passed else ""))


def _said_questions(data: dict[str, int], as_json: bool, line: str) -> None:
    if as_json:
        print_json(data)
    else:
        info(line)


@contextmanager
def _progress_bar(label: str, as_json: bool, plain: Progress) -> Iterator[Progress]:
    """A ``progress(done, total)`` for a long embedding run: a bar with its ETA on a terminal, else
    ``plain``'s lines on stderr; nothing with ``--json``."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=console.rich,
        disable=as_json or not console.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            plain(done, total)

        yield progress


# -- repositories (RAG) -----------------------------------------------------------------------------
@app.command("ingest")
def ingest_cmd(
    given: str = typer.Argument(..., metavar="PATH", help="The repository's top directory."),
    repo_id: str | None = typer.Option(None, "--repo-id", help="Id to file it under (default: dir name)."),
    include: list[str] | None = typer.Option(
        None, "--include", help="Only files matching this gitignore-style glob (replaces the extension list)."
    ),
    exclude: list[str] | None = typer.Option(
        None, "--exclude", help="Also skip files matching this gitignore-style glob; repeatable."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Ingest a repository as `rag` memories: text first (searchable within seconds), then vectors;
    only changed files are re-embedded; Ctrl-C keeps what is done and running it again resumes."""
    from mahavishnu.cli.ingest_progress import IngestProgressView, print_interrupted, resume_command
    from mahavishnu.memory.ingest.pipeline import IngestInterrupted, ingest_repository

    if not given:  # a Path argument takes "" for the working directory: an unset "$REPO" ingested it
        raise InvalidInputError(
            "the repository path is empty", hint="Pass its top directory (`.` for this one)."
        )
    path = Path(given)
    try:
        with open_store() as store, IngestProgressView(str(path), as_json=as_json) as show:
            report = ingest_repository(
                store, path, repo_id=repo_id, include=include or (), exclude=exclude or (), progress=show
            )
    except IngestInterrupted as stop:
        print_interrupted(stop.report, resume_command(path, repo_id, include or (), exclude or ()))
        raise typer.Exit(130) from None
    if as_json:
        print_json(report.to_dict())
        return
    for message in report.warnings[:20]:
        warn(escape(message))  # it quotes the repository's file names: data, not markup
    if len(report.warnings) > 20:
        warn(f"… and {len(report.warnings) - 20} more (see --json)")
    info(
        f"{report.repo_id}: {count(report.files_indexed, 'file')} indexed, {report.files_unchanged} "
        f"unchanged, {report.files_removed} removed; {count(report.chunks_created, 'chunk')} added, "
        f"{report.chunks_removed} removed, {report.chunks_embedded} embedded"
        + (f", {report.chunks_reused} kept their vectors" if report.chunks_reused else "")
        + f" in {report.duration_seconds:.1f}s (run #{report.run_id})"
    )
    if report.skipped:
        info("skipped: " + ", ".join(f"{n} {reason}" for reason, n in sorted(report.skipped.items())))


@app.command("query")
def query_cmd(
    query: str = typer.Argument(..., help="A question about the ingested code and docs."),
    repo: str | None = typer.Option(None, "--repo", "-r", help="Only this repository id."),
    limit: int = typer.Option(5, "--limit", "-n", help="How many results (1-1000)."),
    mode: str = typer.Option("hybrid", "--mode", help="hybrid, vector or text."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Search the ingested repositories: results as path:start-end with a snippet."""
    from mahavishnu.clean_text import printable
    from mahavishnu.memory.core.relevance import REPOSITORY_KIND, check_repo
    from mahavishnu.memory.ingest.knowledge import query_knowledge_base

    with open_store() as store:
        if repo is not None:
            check_repo(store, repo)
        hits = query_knowledge_base(store, query, repo_id=repo, limit=limit, mode=mode)
        nothing_ingested = not hits and not store.recent({"types": [REPOSITORY_KIND]}, limit=1)
        held = _held_back(store, [hit.memory_id for hit in hits])
    if as_json:
        print_json([{**hit.to_dict(), **_some(quarantined=held.get(hit.memory_id))} for hit in hits])
        return
    if not hits:
        if nothing_ingested:
            info("nothing ingested yet: `mahavishnu memory ingest PATH`")
        else:
            info("no relevant code or docs")
        return
    for hit in hits:
        scope = f"[dim]{hit.repo_id}[/dim] " if repo is None and hit.repo_id else ""
        console.print(f"{scope}[bold]{_one_line(hit.location)}[/bold]  [dim]score {hit.score:.3f}[/dim]")
        if (why := held.get(hit.memory_id)) is not None:
            console.print(f"[quarantined: {why}]", markup=False, highlight=False)
        console.print(printable(hit.snippet()), markup=False, highlight=False)
        console.print()


def _held_back(store: MemoryStore, ids: list[int]) -> dict[int, str]:
    """Why recall leaves each of these memories out (a README that gives orders), by id: marked as
    `memory search` marks it, so nobody takes such a hit for plain documentation."""
    from mahavishnu.memory.core.provenance import held_back

    found = store.get_many(ids)
    return {i: why for i, m in found.items() if (why := held_back(m.tags, m.content)) is not None}


def _one_line(path: str) -> Markup:
    """A file's name from a repository, as markup that prints as written on one line: a name may
    hold ``[`` (markup), a newline (a forged result line) or ESC (a terminal would obey it)."""
    return escape(path.replace("\n", "\\n").replace("\r", "\\r"))


@app.command("repos")
def repos_cmd(as_json: bool = JSON_OPTION) -> None:
    """Ingested repositories: files and chunks stored, and the last run (an interrupted one with
    the command that resumes it)."""
    from mahavishnu.memory.ingest.knowledge import list_repos

    with open_store() as store:
        repos = list_repos(store)
    resume = {r.repo_id: command for r in repos if (command := _resume_command(r)) is not None}
    if as_json:
        print_json([{**r.to_dict(), **_some(resume=resume.get(r.repo_id))} for r in repos])
        return
    if not repos:
        info("no repositories ingested; add one with `mahavishnu memory ingest PATH`")
        return
    rows = []
    for r in repos:
        run = r.last_run or {}
        when = str(run.get("started_at") or "")[:16].replace("T", " ")
        chunks = f"{r.chunks} ({r.pending} without vectors yet)" if r.pending else r.chunks
        rows.append((r.repo_id, r.files, chunks, f"{when} {run.get('status', '')}", r.repo_path))
    table(None, ["repo", "files", "chunks", "last run", "path"], rows)
    for repo_id, command in resume.items():
        info(f"{repo_id}: interrupted, what it did is kept; `{command}` resumes where it stopped")


def _some(**values: str | None) -> dict[str, str]:
    return {k: v for k, v in values.items() if v is not None}


def _resume_command(repo: RepoSummary) -> str | None:
    """The ingest that resumes ``repo``'s interrupted last run (the one it was started with); None
    when that run was not interrupted."""
    from mahavishnu.cli.ingest_progress import resume_command
    from mahavishnu.memory.ingest.knowledge import INTERRUPTED

    run = repo.last_run or {}
    if run.get("status") != INTERRUPTED or not repo.repo_path:
        return None
    path = Path(repo.repo_path)
    meta = run.get("metadata")
    globs = meta if isinstance(meta, dict) else {}
    repo_id = None if repo.repo_id == path.name else repo.repo_id
    return resume_command(path, repo_id, _strings(globs.get("include")), _strings(globs.get("exclude")))


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


@app.command("forget-repo")
def forget_repo_cmd(
    repo_id: str = typer.Argument(..., help="The repository id (see `memory repos`)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete an ingested repository's chunks and run history."""
    from mahavishnu.memory.ingest.knowledge import forget_repo

    with open_store() as store:
        deleted = forget_repo(store, repo_id)
    if as_json:
        print_json({"repo_id": repo_id, "chunks_deleted": deleted})
    else:
        info(f"forgot {repo_id}: {count(deleted, 'chunk')} deleted")


# Conversations, insights, groups, workflows, metrics, the memory loop (`memory context|hooks|import
# --tool`) and the Session-Buddy peer (`memory peer`) join this group from their own modules.
from mahavishnu.cli import memory_activity, memory_loop, memory_peer  # noqa: E402, F401
