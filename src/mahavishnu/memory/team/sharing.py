"""A member shares their own memories with the team, or takes them back; the audit of it.

Sharing is one column, ``visibility`` (``private`` or ``team``), that only a row's owner may change:
row-level security makes another member's row invisible to the ``UPDATE``, so asking to share it
changes nothing (and is reported as not yours). Every share, unshare, edit or delete of a shared
memory is written to ``team_audit`` by a trigger running as the tables' owner: members read it and
cannot alter it.

A captured conversation turn (an ``agent_conversations`` row and the ``agent`` memory of its text)
stays private until its member shares that one turn (``set_turn_visibility``, or ``set_visibility``
on its memory): both rows change together, so the turn is found by search and listed by ``memory
conversations`` alike. Sharing a whole project never shares its turns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mahavishnu.errors import InvalidInputError
from mahavishnu.json_types import JSONObject
from mahavishnu.memory.core.backends.postgres import Conn, PostgresBackend

Visibility = Literal["private", "team"]


@dataclass(frozen=True, slots=True)
class ShareReport:
    changed: tuple[int, ...]
    not_mine: tuple[int, ...]  # no such memory, or another member's

    def to_dict(self) -> JSONObject:
        return {"changed": [*self.changed], "not_yours_or_missing": [*self.not_mine]}


def set_visibility(backend: PostgresBackend, ids: Sequence[int], visibility: Visibility) -> ShareReport:
    """Share (``team``) or unshare (``private``) the caller's memories ``ids``."""
    wanted = sorted(set(ids))
    if not wanted:
        raise InvalidInputError(
            "give at least one memory id", hint="Find ids with `mahavishnu memory search`."
        )
    mine_sql = "SELECT id FROM memories WHERE id = ANY(%s) AND owner_role = current_user"

    def work(conn: Any) -> ShareReport:
        changed = _memories(conn, wanted, visibility)
        conn.execute(_TURNS_OF_MEMORIES, (visibility, wanted, visibility))  # a turn's memory: the turn too
        mine = {int(r[0]) for r in conn.execute(mine_sql, (wanted,))}
        return ShareReport(tuple(sorted(changed)), tuple(i for i in wanted if i not in mine))

    return backend.run(work)


def set_turn_visibility(backend: PostgresBackend, ids: Sequence[int], visibility: Visibility) -> ShareReport:
    """Share (``team``) or unshare (``private``) the caller's conversation turns ``ids`` (as
    ``memory conversations`` numbers them) and the memory of each one's text."""
    wanted = sorted(set(ids))
    if not wanted:
        raise InvalidInputError(
            "give at least one conversation turn id", hint="Find ids with `mahavishnu memory conversations`."
        )
    turns_sql = (
        "UPDATE agent_conversations SET visibility = %s "
        "WHERE id = ANY(%s) AND owner_role = current_user AND visibility <> %s RETURNING id"
    )
    mine_sql = (
        "SELECT id, memory_id FROM agent_conversations WHERE id = ANY(%s) AND owner_role = current_user"
    )

    def work(conn: Conn) -> ShareReport:
        changed = {int(r[0]) for r in conn.execute(turns_sql, (visibility, wanted, visibility))}
        mine = dict(conn.execute(mine_sql, (wanted,)).fetchall())
        _memories(conn, [int(m) for m in mine.values() if m is not None], visibility)
        return ShareReport(tuple(sorted(changed)), tuple(i for i in wanted if i not in mine))

    return backend.run(work)


#: The turns whose memories a share (or unshare) changed: they follow their memory.
_TURNS_OF_MEMORIES = (
    "UPDATE agent_conversations SET visibility = %s "
    "WHERE memory_id = ANY(%s) AND owner_role = current_user AND visibility <> %s"
)


def _memories(conn: Conn, ids: Sequence[int], visibility: Visibility) -> set[int]:
    """Set the visibility of the caller's memories of ``ids``: those it changed."""
    sql = (
        "UPDATE memories SET visibility = %s, updated_at = now() "
        "WHERE id = ANY(%s) AND owner_role = current_user AND visibility <> %s RETURNING id"
    )
    return {int(r[0]) for r in conn.execute(sql, (visibility, list(ids), visibility))}


def share_project(backend: PostgresBackend, project: str, visibility: Visibility = "team") -> int:
    """Share (or unshare) every memory of ``project`` the caller owns; how many changed.
    Conversation turns (and the memories of their text) are shared and unshared one by one only."""
    sql = (
        "UPDATE memories SET visibility = %s, updated_at = now() "
        "WHERE project = %s AND owner_role = current_user AND visibility <> %s "
        "AND NOT EXISTS (SELECT 1 FROM agent_conversations AS c WHERE c.memory_id = memories.id)"
    )
    return backend.run(lambda conn: int(conn.execute(sql, (visibility, project, visibility)).rowcount))


def audit(backend: PostgresBackend, limit: int = 100) -> list[JSONObject]:
    """The latest shares, unshares, edits and deletes of shared memories, newest first."""
    sql = (
        "SELECT id, at, actor, action, memory_id, owner_role, memory_type, project "
        "FROM team_audit ORDER BY at DESC, id DESC LIMIT %s"
    )
    rows = backend.run(lambda conn: conn.execute(sql, (limit,)).fetchall())
    names = ("id", "at", "actor", "action", "memory_id", "owner", "type", "project")
    return [
        {name: (value.isoformat() if name == "at" else value) for name, value in zip(names, row, strict=True)}
        for row in rows
    ]


def authors(backend: PostgresBackend, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """(owner, visibility) of each visible memory of ``ids``: who a search hit comes from."""
    sql = "SELECT id, owner_role, visibility FROM memories WHERE id = ANY(%s)"
    rows = backend.run(lambda conn: conn.execute(sql, (list(ids),)).fetchall())
    return {int(i): (str(owner), str(vis)) for i, owner, vis in rows}
