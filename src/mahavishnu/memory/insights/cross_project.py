"""Knowledge across projects: ★ Insight memories, project groups, and sharing insights.

An insight is stored once for everyone: an ``insight`` memory with no project (global scope),
de-duplicated by the SHA-256 of its normalised text (``insights.py``), with its project, tags and
source in metadata. Which projects see it is recorded in ``insight_shares``: the project it came
from (``via="origin"``), each project it was shared with (``direct``) and each member of a group it
was shared with (``group:NAME``). A search scoped to a project or group takes those in
(``Filters.shared``, which ``MemoryStore.search`` sets).

A group share follows the group: a project added later sees the group's insights, a project removed
stops seeing them (unless it was also given them another way).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mahavishnu.errors import InvalidInputError, NotFoundError, wrong_type
from mahavishnu.json_types import JSONObject, JSONValue
from mahavishnu.memory.core.authors import Author, authors
from mahavishnu.memory.core.given import check_store
from mahavishnu.memory.core.models import (
    Filters,
    Memory,
    MemoryDraft,
    check_label,
    check_list,
    check_name,
    parse_time,
)
from mahavishnu.memory.core.sharing import DIRECT, ORIGIN, add_shares, get_group, insight_projects
from mahavishnu.memory.peers.peer_ledger import write_through
from mahavishnu.wording import a

if TYPE_CHECKING:
    from mahavishnu.memory.core.store import MemoryStore

INSIGHT_TAG = "insight"


@dataclass(frozen=True, slots=True)
class Insight:
    """An insight memory, the projects that see it and, on a team store, who wrote it."""

    memory: Memory
    shared_with: tuple[str, ...]
    author: Author | None = None

    def to_dict(self) -> JSONObject:
        by = self.author.to_dict() if self.author else {}
        return {**self.memory.to_dict(), **by, "shared_with": [*self.shared_with]}


@dataclass(frozen=True, slots=True)
class ShareResult:
    memory_id: int
    shared_with: tuple[str, ...]  # newly
    already: tuple[str, ...]  # had it before

    def to_dict(self) -> JSONObject:
        return {
            "memory_id": self.memory_id,
            "shared_with": [*self.shared_with],
            "already": [*self.already],
        }


# -- insights -------------------------------------------------------------------------------------
def store_insights(
    store: MemoryStore,
    texts: Iterable[str],
    *,
    project: str | None = None,
    source: str = "manual",
    tags: Sequence[str] = (),
    metadata: Mapping[str, JSONValue] | None = None,
    agent_id: str | None = None,
    session_id: str | None = None,
    source_system: str | None = None,
) -> list[Memory]:
    """Store insight texts (each normalised and length-checked), shared with their ``project``.
    An insight already known (same normalised text) is returned as stored, and shared with it too."""
    from mahavishnu.memory.core.models import check_insight
    from mahavishnu.memory.insights.extract import insight_hash, normalise_insight

    unique = {insight_hash(t): normalise_insight(t) for t in texts}
    for text in unique.values():
        check_insight("insight", text)
    if not unique:
        return []
    known = _known_insights(store, unique)
    extra = _insight_metadata(source, project, metadata)
    drafts = [
        MemoryDraft(
            text,
            "insight",
            (INSIGHT_TAG, *tags),
            {**extra, "insight_hash": digest},
            agent_id=agent_id,
            session_id=session_id,
            source_system=source_system,
        )
        for digest, text in unique.items()
        if digest not in known
    ]
    added = store.store_many(drafts)
    memories = _in_order(store, list(unique), known, added)
    if project is not None:
        add_shares(store, [m.id for m in memories], [check_label("project", project) or ""], ORIGIN)
    write_through(store, added)  # to the Session-Buddy peer, when one is configured
    return memories


def _insight_metadata(
    source: str, project: str | None, metadata: Mapping[str, JSONValue] | None
) -> JSONObject:
    """An insight's metadata besides its hash: its source and project, then the caller's."""
    return {"source": source, **({"project": project} if project else {}), **dict(metadata or {})}


def _in_order(
    store: MemoryStore, digests: list[str], known: dict[str, int], added: list[Memory]
) -> list[Memory]:
    """One memory per digest, in order: the stored one when it was known, else the next one added."""
    found = store.backend.get(list(known.values()))
    new = iter(added)
    return [found[known[d]] if d in known else next(new) for d in digests]


def _known_insights(store: MemoryStore, hashes: Iterable[str]) -> dict[str, int]:
    """Stored insights by ``insight_hash`` (which folds whitespace, unlike the exact content hash)."""
    wanted = set(hashes)
    rows = store.backend.scan_metadata(Filters(types=("insight",)), ["insight_hash"])
    return {digest: memory_id for memory_id, [digest] in rows if digest in wanted}


def is_known_insight(store: MemoryStore, text: str) -> bool:
    """Whether an insight of ``text`` (normalised as ``store_insights`` does) is stored already."""
    from mahavishnu.memory.insights.extract import insight_hash

    return bool(_known_insights(store, [insight_hash(text)]))


def store_insight(
    store: MemoryStore,
    content: str,
    *,
    project: str | None = None,
    tags: Sequence[str] = (),
    source: str = "manual",
) -> Memory:
    """Store one insight given as text (not a ★ Insight block: its content)."""
    check_store("store_insight", store)
    if not isinstance(content, str):  # (5: "'int' object has no attribute 'replace'")
        raise wrong_type("store_insight", "the insight's text", content)
    return store_insights(store, [content], project=project, tags=tags, source=source)[0]


def list_insights(
    store: MemoryStore,
    *,
    project: str | None = None,
    since: datetime | str | None = None,
    limit: int = 50,
) -> list[Insight]:
    """Insights, newest first: all of them, or those a project sees (its own and shared with it);
    on a team store, the caller's own and those shared with the team, each with its author."""
    check_store("list_insights", store)
    filters = Filters(
        types=("insight",),
        project=check_label("project", project),
        shared=True,
        since=parse_time(since) if since is not None else None,
    )
    memories = store.recent(filters, limit=limit)
    written_by = authors(store.backend, (m.id for m in memories))
    return [
        Insight(m, projects, written_by.get(m.id))
        for m, projects in zip(memories, insight_projects(store, memories), strict=True)
    ]


def share_insight(
    store: MemoryStore,
    insight: int | str,
    *,
    projects: Sequence[str] = (),
    group: str | None = None,
    project: str | None = None,
) -> ShareResult:
    """Share an insight (an insight memory's id, or new insight text from ``project``) with
    projects and/or every project of a group."""
    check_store("share_insight", store)
    if isinstance(insight, bool) or not isinstance(insight, int | str):  # (None: no attribute 'replace')
        raise wrong_type("share_insight", "an insight's id or a new insight's text", insight)
    names = check_list("projects must be a list of names", projects)
    targets = {check_name("project", check_label("project", p)) or "": DIRECT for p in names}
    if group is not None:
        targets.update(dict.fromkeys(get_group(store, group).projects, f"group:{group}"))
    if not targets:
        raise InvalidInputError(
            "share with whom?", hint="Name target projects, or a group (`mahavishnu memory groups list`)."
        )
    memory = (
        _insight(store, insight)
        if isinstance(insight, int)
        else store_insight(store, insight, project=project)
    )
    before = set(insight_projects(store, [memory])[0])
    for via in set(targets.values()):
        add_shares(store, [memory.id], [p for p, v in targets.items() if v == via], via)
    write_through(store, [memory])  # to the Session-Buddy peer, once per insight
    return ShareResult(memory.id, tuple(sorted(set(targets) - before)), tuple(sorted(set(targets) & before)))


def _insight(store: MemoryStore, memory_id: int) -> Memory:
    try:
        memory = store.get(memory_id)
    except NotFoundError as exc:  # insight ids come from `memory insights`, not `memory search`
        raise NotFoundError(
            f"no insight #{memory_id}", hint="Find insights with `mahavishnu memory insights`."
        ) from exc
    if memory.memory_type != "insight":
        raise InvalidInputError(
            f"memory #{memory_id} is {a(memory.memory_type)}, not an insight",
            hint="Find insights with `mahavishnu memory insights`.",
        )
    return memory
