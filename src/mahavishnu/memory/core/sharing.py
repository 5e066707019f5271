"""Project groups and what is shared with which project (``insight_shares``).

Which projects see a shared memory is recorded once per project: the project it came from
(``via="origin"``), each project it was shared with (``direct``) and each member of a group it was
shared with (``group:NAME``). ``MemoryStore.search`` reads it for a project- or group-scoped search;
``insights.cross_project`` shares insights through it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mahavishnu.clean_text import shell_word
from mahavishnu.errors import InvalidInputError, NotFoundError, wrong_type
from mahavishnu.json_types import JSONObject, JSONValue
from mahavishnu.memory.core.backends.base import Backed
from mahavishnu.memory.core.backends.records import GROUP_MEMBERS, GROUPS, SHARES
from mahavishnu.memory.core.given import check_store
from mahavishnu.memory.core.models import (
    MAX_DESCRIPTION_CHARS,
    Memory,
    check_label,
    check_list,
    check_name,
    format_time,
    utcnow,
)

ORIGIN = "origin"
DIRECT = "direct"


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    description: str | None
    projects: tuple[str, ...]
    created_at: str

    def to_dict(self) -> JSONObject:
        return {
            "name": self.name,
            "description": self.description,
            "projects": [*self.projects],
            "created_at": self.created_at,
        }


def add_shares(store: Backed, memory_ids: Sequence[int], projects: Sequence[str], via: str) -> None:
    now = format_time(utcnow())
    rows = [
        {"memory_id": i, "project": p, "via": via, "shared_at": now} for i in memory_ids for p in projects
    ]
    if rows:
        store.backend.add_records(SHARES, rows)


def insight_projects(store: Backed, memories: Sequence[Memory]) -> list[tuple[str, ...]]:
    """For each insight, the projects that see it (its origin first, then those it is shared with)."""
    if not memories:
        return []
    rows = store.backend.records(SHARES, {"memory_id": [m.id for m in memories]}, limit=100_000)
    by_memory: dict[int, list[tuple[bool, str, str]]] = {}
    for row in rows:
        by_memory.setdefault(row["memory_id"], []).append(
            (row["via"] != ORIGIN, row["shared_at"], row["project"])
        )
    # (on a team store each member records their own shares: a project may be named twice)
    return [tuple(dict.fromkeys(p for *_, p in sorted(by_memory.get(m.id, [])))) for m in memories]


# -- project groups -------------------------------------------------------------------------------
def create_group(
    store: Backed, name: str, projects: Sequence[str] = (), *, description: str | None = None
) -> Group:
    check_store("create_group", store)
    label = _group_name(name)
    check_name("group", label)  # a new name only: groups named before stay reachable
    if description is not None and not isinstance(description, str):
        raise wrong_type("create_group", "a description (text or None)", description)
    if description is not None and len(description) > MAX_DESCRIPTION_CHARS:
        raise InvalidInputError(
            f"the group's description is {len(description):,} characters, over {MAX_DESCRIPTION_CHARS:,}",
            hint="Say in a sentence or two what the group is for.",
        )
    [created] = store.backend.add_records(
        GROUPS, [{"name": label, "description": description, "created_at": format_time(utcnow())}]
    )
    if created is None:
        raise InvalidInputError(
            f"project group {label!r} already exists",
            hint=f"Add projects with `mahavishnu memory groups add {shell_word(label)} PROJECT…`.",
        )
    return add_to_group(store, label, projects) if projects else get_group(store, label)


def add_to_group(store: Backed, name: str, projects: Sequence[str]) -> Group:
    """Add projects; they also see the insights shared with the group so far."""
    check_store("add_to_group", store)
    group = get_group(store, name)
    added = [p for p in dict.fromkeys(_projects(projects)) if p not in group.projects]
    for project in added:
        check_name("project", project)
    now = format_time(utcnow())
    store.backend.add_records(
        GROUP_MEMBERS, [{"group_name": group.name, "project": p, "added_at": now} for p in added]
    )
    via = f"group:{group.name}"
    shared = {r["memory_id"] for r in store.backend.records(SHARES, {"via": via}, limit=100_000)}
    add_shares(store, sorted(shared), added, via)
    return get_group(store, group.name)


def remove_from_group(store: Backed, name: str, projects: Sequence[str]) -> Group:
    """Remove projects; they stop seeing what was shared with them through this group."""
    check_store("remove_from_group", store)
    group = get_group(store, name)
    gone = [p for p in _projects(projects) if p in group.projects]
    if gone:
        store.backend.delete_records(GROUP_MEMBERS, {"group_name": group.name, "project": gone})
        store.backend.delete_records(SHARES, {"via": f"group:{group.name}", "project": gone})
    return get_group(store, group.name)


def delete_group(store: Backed, name: str) -> None:
    """Delete a group (shares made through it stay: the projects keep what they were given)."""
    group = get_group(store, name)
    store.backend.delete_records(GROUPS, {"name": group.name})


def get_group(store: Backed, name: str) -> Group:
    label = _group_name(name)
    rows = store.backend.records(GROUPS, {"name": label}, limit=1)
    if not rows:
        raise NotFoundError(
            f"no project group {label!r}",
            hint=f"Create it with `mahavishnu memory groups create {shell_word(label)} PROJECT…`.",
        )
    return _group(rows[0], store.backend.records(GROUP_MEMBERS, {"group_name": label}, limit=100_000))


def list_groups(store: Backed) -> list[Group]:
    check_store("list_groups", store)
    groups = store.backend.records(GROUPS, {}, limit=100_000)
    members = store.backend.records(GROUP_MEMBERS, {}, limit=1_000_000)
    return sorted(
        (_group(g, [m for m in members if m["group_name"] == g["name"]]) for g in groups),
        key=lambda g: g.name,
    )


def _group(row: Mapping[str, JSONValue], members: Sequence[Mapping[str, JSONValue]]) -> Group:
    """A ``project_groups`` row and its members' rows (their columns are text)."""
    projects = tuple(sorted(str(m["project"]) for m in members))
    description = row["description"]
    text = None if description is None else str(description)
    return Group(str(row["name"]), text, projects, str(row["created_at"]))


def _group_name(name: object) -> str:
    label = check_label("group", name)
    if label is None:
        raise InvalidInputError("a project group needs a name")
    return label.strip()


def _projects(projects: Sequence[str]) -> list[str]:
    out = [check_label("project", p) or "" for p in check_list("projects must be a list of names", projects)]
    if not out:
        raise InvalidInputError("name at least one project")
    return [p.strip() for p in out]
