"""Who wrote a memory, on a team store: search results (``--everywhere`` too), ``memory list``,
``memory insights``, ``memory conversations``, recall's items and their ``--json`` name the author
of a team memory or turn (the database role that wrote it, ``owner_role``).

A store of one's own (SQLite, or a PostgreSQL store ``team init`` never made a team's) has no
authors: nothing is added there, not even a query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mahavishnu.errors import MahavishnuError, NotFoundError, NotYoursError
from mahavishnu.json_types import JSONObject
from mahavishnu.memory.core.provenance import TRUSTED

if TYPE_CHECKING:
    from mahavishnu.memory.core.models import Memory, SearchHit


@dataclass(frozen=True, slots=True)
class Author:
    owner: str  # the member (database role) who wrote it
    visibility: str  # private, or team once shared
    mine: bool  # the caller wrote it

    def to_dict(self) -> JSONObject:
        return {"author": self.owner, "visibility": self.visibility}


def authors(backend: object, ids: Iterable[int], *, turns: bool = False) -> dict[int, Author]:
    """The author of each memory of ``ids`` the caller sees (with ``turns``: of each conversation
    turn, ids as ``memory conversations`` shows them), on a team store; else empty."""
    wanted = sorted(set(ids))
    if not wanted or getattr(backend, "name", None) != "postgres":
        return {}
    from mahavishnu.memory.core.backends.postgres import PostgresBackend

    if not isinstance(backend, PostgresBackend):
        return {}
    return {i: Author(*row) for i, row in backend.team_authors(wanted, turns=turns).items()}


def on_team_store(backend: object) -> bool:
    """Whether ``backend`` is a team's PostgreSQL store (``team init``)."""
    if getattr(backend, "name", None) != "postgres":
        return False
    from mahavishnu.memory.core.backends.postgres import PostgresBackend

    return isinstance(backend, PostgresBackend) and backend.team_store()


def others(found: Mapping[int, Author]) -> dict[int, str]:
    """The memories another member wrote (shared with the caller): their authors' names."""
    return {i: a.owner for i, a in found.items() if not a.mine}


def not_yours(found: Mapping[int, str], verb: str) -> NotYoursError:
    """The error for a change (``verb``: delete, edit…) to memories another member wrote
    (``others``): one line naming each and its author."""
    if len(found) == 1:
        [(memory_id, owner)] = found.items()
        return NotYoursError(
            f"#{memory_id} is not yours (it belongs to {owner}): only its author can {verb} it",
            hint=f"Ask {owner} to {verb} it; nothing was changed on it.",
        )
    named = ", ".join(f"#{i} ({owner})" for i, owner in sorted(found.items()))
    return NotYoursError(
        f"{named} are not yours: only a memory's author can {verb} it",
        hint="Ask their authors; nothing was changed on them.",
    )


def refused(backend: object, ids: Iterable[int], verb: str, *, turns: bool = False) -> MahavishnuError:
    """Why a change to ``ids`` (none of them changed) did not happen: another member's memory (or
    turn) the caller sees names its author (``not_yours``); the rest name nothing the caller sees."""
    wanted = sorted(set(ids))
    found = others(authors(backend, wanted, turns=turns))
    what = "conversation turn" if turns else "memory"
    if found:
        error = not_yours(found, verb)
        missing = [i for i in wanted if i not in found]
        if missing:
            error.message += f"; no {what} {', '.join(f'#{i}' for i in missing)}"
            error.args = (error.message,)
        return error
    named = ", ".join(f"#{i}" for i in wanted)
    return NotFoundError(
        f"{'turn ' if turns else ''}{named} is not yours, or there is no such {what}",
        hint=f"Find ids with `mahavishnu memory {'conversations' if turns else 'search'}`.",
    )


def require_mine(backend: object, ids: Iterable[int], verb: str) -> None:
    """Refuse (``not_yours``) a change to any of ``ids`` another member wrote (a team store only)."""
    found = others(authors(backend, ids))
    if found:
        raise not_yours(found, verb)


def attributed(memory: dict[str, Any], found: Mapping[int, Author]) -> dict[str, Any]:
    """``memory`` (a ``Memory.to_dict``) with its author and visibility when it has one. Another
    member's trust mark is theirs, not the reader's: it is left out of the tags, so that a text of
    theirs that reads like an instruction is marked and withheld (``provenance.held_back``) as
    recall leaves it out."""
    author = found.get(memory["id"])
    if author is None:
        return memory
    if not author.mine and TRUSTED in memory.get("tags", ()):
        memory = {**memory, "tags": [tag for tag in memory["tags"] if tag != TRUSTED]}
    return {**memory, **author.to_dict()}


def hit_dicts(backend: object, hits: Iterable[SearchHit]) -> list[dict[str, Any]]:
    """Search hits as ``SearchHit.to_dict``, each memory with its author on a team store."""
    hits = list(hits)
    found = authors(backend, (hit.memory.id for hit in hits))
    return [{**data, "memory": attributed(data["memory"], found)} for data in (h.to_dict() for h in hits)]


def memory_dicts(backend: object, memories: Iterable[Memory]) -> list[dict[str, Any]]:
    """Memories as ``Memory.to_dict``, each with its author on a team store."""
    memories = list(memories)
    found = authors(backend, (m.id for m in memories))
    return [attributed(m.to_dict(), found) for m in memories]
