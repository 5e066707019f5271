"""What the Insights, Conversations and Repositories pages ask of the library, as ``mahavishnu memory
insights|share|groups``, ``memory conversations`` and ``memory repos|forget-repo`` do: no SQL here.

* Insights: ``insights/cross_project`` (each insight and the projects that see it; share with
  projects or a group) and ``core/sharing`` (project groups);
* Conversations: ``loop/conversations`` (turns, newest first), gathered into sessions by assistant
  and project (a session's project is its turns' memories'); a session's turns, and the ★ Insights
  captured from it;
* Repositories: ``ingest/knowledge`` (each ingested repository, its files, the chunks still waiting
  for a vector; forget) and ``ingest/pipeline`` (re-ingest: ``memory ingest PATH`` again, with the
  path, id and ``--include``/``--exclude`` its last run recorded).

Conversation rows were scrubbed when stored; they are scrubbed again before a page shows them
(``redaction.scrub``), as the store does for memories.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mahavishnu.errors import InvalidInputError, NotFoundError
from mahavishnu.memory.core.models import Filters
from mahavishnu.memory.core.relevance import REPOSITORY_KIND
from mahavishnu.memory.core.sharing import Group, list_groups
from mahavishnu.memory.ingest.knowledge import RepoSummary, list_repos
from mahavishnu.memory.ingest.pipeline import PENDING, IngestReport, ingest_repository
from mahavishnu.memory.insights.cross_project import Insight, list_insights
from mahavishnu.memory.loop.conversations import conversations
from mahavishnu.redaction.scrub import scrub

if TYPE_CHECKING:
    from mahavishnu.memory.core.models import Memory
    from mahavishnu.memory.core.store import MemoryStore

#: The newest turns the sessions listing gathers (a session older than these is not listed).
TURNS_SCANNED = 5_000


# -- insights -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class InsightsView:
    project: str
    insights: list[Insight]
    groups: list[Group]
    projects: list[str]  # every project an insight is from or shared with, and every group member


def insights(store: MemoryStore, project: str) -> InsightsView:
    found = list_insights(store, project=project or None, limit=200)
    groups = list_groups(store)
    named = {p for i in found for p in (i.memory.project, *i.shared_with) if p}
    named |= {p for g in groups for p in g.projects}
    return InsightsView(project, found, groups, sorted(named))


def project_list(text: str) -> list[str]:
    """``api, billing`` or ``api billing``: the projects named."""
    return [p for p in text.replace(",", " ").split() if p]


# -- conversations --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Session:
    agent: str
    session: str
    project: str
    turns: int
    first: str
    last: str
    preview: str


def _id(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _when(value: object) -> str:
    text = str(value or "")
    try:
        return dt.datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return text[:16]


def sessions(store: MemoryStore, agent: str, project: str) -> list[Session]:
    """Sessions newest first, by assistant (and project), from the newest ``TURNS_SCANNED`` turns."""
    turns = conversations(store, agent_id=agent or None, limit=TURNS_SCANNED)
    by_session: dict[tuple[str, str], list[dict[str, object]]] = {}
    for turn in turns:
        by_session.setdefault((str(turn["agent_id"]), str(turn["session_id"])), []).append(turn)
    firsts = {key: rows[-1] for key, rows in by_session.items()}
    memories = store.get_many([i for t in firsts.values() if (i := _id(t.get("memory_id"))) is not None])
    out = []
    for (tool, session), rows in by_session.items():
        first = firsts[(tool, session)]
        memory = memories.get(_id(first.get("memory_id")) or 0)
        where = (memory.project if memory else None) or ""
        if project and where != project:
            continue
        text = scrub(str(first["content"]))
        out.append(
            Session(
                tool,
                session,
                where,
                len(rows),
                _when(first["created_at"]),
                _when(rows[0]["created_at"]),
                text[:160] + ("…" if len(text) > 160 else ""),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Exchange:
    role: str
    when: str
    content: str
    memory_id: int | None


@dataclass(frozen=True, slots=True)
class SessionView:
    session: str
    agent: str
    turns: list[Exchange]
    captured: list[Memory]  # the ★ Insights captured from it


def session(store: MemoryStore, session_id: str) -> SessionView:
    """A session's turns, oldest first, and the insights captured from it."""
    rows = conversations(store, session_id=session_id, limit=TURNS_SCANNED)
    agent = str(rows[0]["agent_id"]) if rows else ""
    full = str(rows[0]["session_id"]) if rows else session_id
    turns = [
        Exchange(
            str(r["role"]),
            _when(r["created_at"]),
            scrub(str(r["content"])),
            _id(r.get("memory_id")),
        )
        for r in reversed(rows)
    ]
    captured = store.recent(Filters(types=("insight",), session_id=full), limit=100, include_shared=False)
    return SessionView(full, agent, turns, captured)


# -- repositories ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RepoFile:
    path: str
    chunks: int
    pending: int


def repositories(store: MemoryStore) -> list[RepoSummary]:
    return list_repos(store)


def repository(store: MemoryStore, repo_id: str) -> tuple[RepoSummary | None, list[RepoFile]]:
    """One ingested repository and its files (chunks, and those without a vector yet)."""
    summary = next((r for r in list_repos(store) if r.repo_id == repo_id), None)
    if summary is None:
        return None, []
    rows = store.backend.scan_metadata(Filters(types=(REPOSITORY_KIND,), repo_id=repo_id), ["path", PENDING])
    chunks: dict[str, int] = {}
    pending: dict[str, int] = {}
    for _, (path, waiting) in rows:
        name = str(path or "?")
        chunks[name] = chunks.get(name, 0) + 1
        pending[name] = pending.get(name, 0) + (1 if waiting else 0)
    return summary, [RepoFile(p, chunks[p], pending[p]) for p in sorted(chunks)]


def reingest(store: MemoryStore, repo_id: str) -> IngestReport:
    """``memory ingest PATH`` again for an ingested repository: its recorded path, its id (passed as
    ``--repo-id`` only when it is not the folder's name, as the CLI's resume command does) and the
    ``--include``/``--exclude`` globs of its last run; only what changed is re-read and re-embedded."""
    summary = next((r for r in list_repos(store) if r.repo_id == repo_id), None)
    if summary is None or not summary.repo_path:
        raise NotFoundError(
            f"no ingested repository {repo_id!r}", hint="Ingest it with `mahavishnu memory ingest PATH`."
        )
    path = Path(summary.repo_path)
    _not_a_key_folder(path)
    meta = (summary.last_run or {}).get("metadata")
    globs = meta if isinstance(meta, dict) else {}
    return ingest_repository(
        store,
        path,
        repo_id=None if repo_id == path.name else repo_id,
        include=_strings(globs.get("include")),
        exclude=_strings(globs.get("exclude")),
    )


def _not_a_key_folder(path: Path) -> None:
    """The path a click re-ingests comes from the store, where anyone who writes to it (a team's
    member with SQL) could have put ``~/.aws``: its ``config`` is no secret file the walk leaves
    out. The folders MCP tools may not read are refused here too; the CLI still ingests them."""
    from mahavishnu.environments.mcp_access import denied_dirs

    resolved = path.expanduser().resolve()
    if any(resolved.is_relative_to(denied) for denied in denied_dirs()):
        raise InvalidInputError(
            f"{path} is in a folder that holds keys or Mahavishnu's own files: the dashboard ingests none",
            hint=f"If you mean it, run `mahavishnu memory ingest {path}` yourself.",
        )


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []
