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
from typing import TYPE_CHECKING, Any

from mahavishnu.errors import InvalidInputError, NotFoundError
from mahavishnu.memory.backends.records import GROUP_MEMBERS, GROUPS, SHARES
from mahavishnu.memory.models import (
    Filters,
    Memory,
    MemoryDraft,
    check_label,
    format_time,
    parse_time,
    utcnow,
)
from mahavishnu.memory.peer_ledger import write_through

if TYPE_CHECKING:
    from mahavishnu.memory.store import MemoryStore

INSIGHT_TAG = "insight"
ORIGIN = "origin"
DIRECT = "direct"


@dataclass(frozen=True, slots=True)
class Insight:
    """An insight memory and the projects that see it."""

    memory: Memory
    shared_with: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.memory.to_dict(), "shared_with": list(self.shared_with)}


@dataclass(frozen=True, slots=True)
class ShareResult:
    memory_id: int
    shared_with: tuple[str, ...]  # newly
    already: tuple[str, ...]  # had it before

    def to_dict(self) -> dict[str, Any]:
        return {
            "memory_id": self.memory_id,
            "shared_with": list(self.shared_with),
            "already": list(self.already),
        }


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    description: str | None
    projects: tuple[str, ...]
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "projects": list(self.projects),
            "created_at": self.created_at,
        }


# -- insights -------------------------------------------------------------------------------------
def store_insights(
    store: MemoryStore,
    texts: Iterable[str],
    *,
    project: str | None = None,
    source: str = "manual",
    tags: Sequence[str] = (),
    metadata: Mapping[str, Any] | None = None,
    agent_id: str | None = None,
    session_id: str | None = None,
    source_system: str | None = None,
) -> list[Memory]:
    """Store insight texts (each normalised and length-checked), shared with their ``project``.
    An insight already known (same normalised text) is returned as stored, and shared with it too."""
    from mahavishnu.memory.insights import insight_hash, normalise_insight

    unique = {insight_hash(t): _checked_insight(normalise_insight(t)) for t in texts}
    if not unique:
        return []
    known = _known_insights(store, unique)
    extra = {"source": source, **({"project": project} if project else {}), **dict(metadata or {})}
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
    found = store.backend.get(list(known.values()))
    new = iter(added)
    memories = [found[known[d]] if d in known else next(new) for d in unique]
    if project is not None:
        _add_shares(store, [m.id for m in memories], [check_label("project", project) or ""], ORIGIN)
    write_through(store, added)  # to the Session-Buddy peer, when one is configured
    return memories


def _known_insights(store: MemoryStore, hashes: Iterable[str]) -> dict[str, int]:
    """Stored insights by ``insight_hash`` (which folds whitespace, unlike the exact content hash)."""
    wanted = set(hashes)
    rows = store.backend.scan_metadata(Filters(types=("insight",)), ["insight_hash"])
    return {digest: memory_id for memory_id, [digest] in rows if digest in wanted}


def store_insight(
    store: MemoryStore,
    content: str,
    *,
    project: str | None = None,
    tags: Sequence[str] = (),
    source: str = "manual",
) -> Memory:
    """Store one insight given as text (not a ★ Insight block: its content)."""
    return store_insights(store, [content], project=project, tags=tags, source=source)[0]


def _checked_insight(text: str) -> str:
    from mahavishnu.memory.insights import MAX_INSIGHT_CHARS, MIN_INSIGHT_CHARS

    if not MIN_INSIGHT_CHARS <= len(text) <= MAX_INSIGHT_CHARS:
        raise InvalidInputError(
            f"an insight is {MIN_INSIGHT_CHARS:,}–{MAX_INSIGHT_CHARS:,} characters, this one {len(text):,}",
            hint="Store shorter or longer text as a note: `mahavishnu memory store TEXT`.",
        )
    return text


def list_insights(
    store: MemoryStore,
    *,
    project: str | None = None,
    since: datetime | str | None = None,
    limit: int = 50,
) -> list[Insight]:
    """Insights, newest first: all of them, or those a project sees (its own and shared with it)."""
    filters = Filters(
        types=("insight",),
        project=check_label("project", project),
        shared=True,
        since=parse_time(since) if since is not None else None,
    )
    memories = store.recent(filters, limit=limit)
    return [Insight(m, projects) for m, projects in zip(memories, _sharing(store, memories), strict=True)]


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
    targets = {check_label("project", p) or "": DIRECT for p in projects}
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
    before = set(_sharing(store, [memory])[0])
    for via in set(targets.values()):
        _add_shares(store, [memory.id], [p for p, v in targets.items() if v == via], via)
    write_through(store, [memory])  # to the Session-Buddy peer, once per insight
    return ShareResult(memory.id, tuple(sorted(set(targets) - before)), tuple(sorted(set(targets) & before)))


def _insight(store: MemoryStore, memory_id: int) -> Memory:
    memory = store.get(memory_id)
    if memory.memory_type != "insight":
        raise InvalidInputError(
            f"memory #{memory_id} is a {memory.memory_type}, not an insight",
            hint="Find insights with `mahavishnu memory insights`.",
        )
    return memory


def _add_shares(store: MemoryStore, memory_ids: Sequence[int], projects: Sequence[str], via: str) -> None:
    now = format_time(utcnow())
    rows = [
        {"memory_id": i, "project": p, "via": via, "shared_at": now} for i in memory_ids for p in projects
    ]
    if rows:
        store.backend.add_records(SHARES, rows)


def insight_projects(store: MemoryStore, memories: Sequence[Memory]) -> list[tuple[str, ...]]:
    """For each insight, the projects that see it (its origin first, then those it is shared with)."""
    return _sharing(store, memories)


def _sharing(store: MemoryStore, memories: Sequence[Memory]) -> list[tuple[str, ...]]:
    """For each memory, the projects it is shared with (its origin first)."""
    if not memories:
        return []
    rows = store.backend.records(SHARES, {"memory_id": [m.id for m in memories]}, limit=100_000)
    by_memory: dict[int, list[tuple[bool, str, str]]] = {}
    for row in rows:
        by_memory.setdefault(row["memory_id"], []).append(
            (row["via"] != ORIGIN, row["shared_at"], row["project"])
        )
    return [tuple(p for *_, p in sorted(by_memory.get(m.id, []))) for m in memories]


# -- project groups -------------------------------------------------------------------------------
def create_group(
    store: MemoryStore, name: str, projects: Sequence[str] = (), *, description: str | None = None
) -> Group:
    label = _group_name(name)
    [created] = store.backend.add_records(
        GROUPS, [{"name": label, "description": description, "created_at": format_time(utcnow())}]
    )
    if created is None:
        raise InvalidInputError(
            f"project group {label!r} already exists",
            hint=f"Add projects with `mahavishnu memory groups add {label} PROJECT…`.",
        )
    return add_to_group(store, label, projects) if projects else get_group(store, label)


def add_to_group(store: MemoryStore, name: str, projects: Sequence[str]) -> Group:
    """Add projects; they also see the insights shared with the group so far."""
    group = get_group(store, name)
    added = [p for p in dict.fromkeys(_projects(projects)) if p not in group.projects]
    now = format_time(utcnow())
    store.backend.add_records(
        GROUP_MEMBERS, [{"group_name": group.name, "project": p, "added_at": now} for p in added]
    )
    via = f"group:{group.name}"
    shared = {r["memory_id"] for r in store.backend.records(SHARES, {"via": via}, limit=100_000)}
    _add_shares(store, sorted(shared), added, via)
    return get_group(store, group.name)


def remove_from_group(store: MemoryStore, name: str, projects: Sequence[str]) -> Group:
    """Remove projects; they stop seeing what was shared with them through this group."""
    group = get_group(store, name)
    gone = [p for p in _projects(projects) if p in group.projects]
    if gone:
        store.backend.delete_records(GROUP_MEMBERS, {"group_name": group.name, "project": gone})
        store.backend.delete_records(SHARES, {"via": f"group:{group.name}", "project": gone})
    return get_group(store, group.name)


def delete_group(store: MemoryStore, name: str) -> None:
    """Delete a group (shares made through it stay: the projects keep what they were given)."""
    group = get_group(store, name)
    store.backend.delete_records(GROUPS, {"name": group.name})


def get_group(store: MemoryStore, name: str) -> Group:
    label = _group_name(name)
    rows = store.backend.records(GROUPS, {"name": label}, limit=1)
    if not rows:
        raise NotFoundError(
            f"no project group {label!r}",
            hint=f"Create it with `mahavishnu memory groups create {label} PROJECT…`.",
        )
    return _group(rows[0], store.backend.records(GROUP_MEMBERS, {"group_name": label}, limit=100_000))


def list_groups(store: MemoryStore) -> list[Group]:
    groups = store.backend.records(GROUPS, {}, limit=100_000)
    members = store.backend.records(GROUP_MEMBERS, {}, limit=1_000_000)
    return sorted(
        (_group(g, [m for m in members if m["group_name"] == g["name"]]) for g in groups),
        key=lambda g: g.name,
    )


def _group(row: Mapping[str, Any], members: Sequence[Mapping[str, Any]]) -> Group:
    projects = tuple(sorted(m["project"] for m in members))
    return Group(row["name"], row["description"], projects, row["created_at"])


def _group_name(name: object) -> str:
    label = check_label("group", name)
    if label is None:
        raise InvalidInputError("a project group needs a name")
    return label.strip()


def _projects(projects: Sequence[str]) -> list[str]:
    out = [check_label("project", p) or "" for p in projects]
    if not out:
        raise InvalidInputError("name at least one project")
    return [p.strip() for p in out]
