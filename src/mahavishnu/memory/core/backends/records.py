"""Activity rows kept beside the memories, behind one small append / list / delete interface.

Conversation turns, workflow runs, project groups and insight shares are plain rows: filtered by
equality and time, read newest first. ``RECORD_TABLES`` describes each table once; the SQL backends
build their statements from it with their own parameter mark. A row that
would break a unique key is skipped (``add_records`` answers None for it), so re-importing the same
transcript or re-sharing an insight is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mahavishnu.errors import InvalidInputError, StoreError


@dataclass(frozen=True, slots=True)
class RecordTable:
    name: str
    columns: tuple[str, ...]  # besides ``id``
    time_column: str  # rows are listed newest first by it; ``since`` bounds it
    json_columns: frozenset[str] = frozenset()
    unique: tuple[tuple[str, ...], ...] = ()  # unique keys (NULLs never collide), as the schema has them


CONVERSATIONS = "agent_conversations"
WORKFLOWS = "workflow_executions"
GROUPS = "project_groups"
GROUP_MEMBERS = "project_group_members"
SHARES = "insight_shares"
#: The most rows one listing (conversations, workflow runs) returns.
MAX_ROWS = 100_000

RECORD_TABLES = {
    table.name: table
    for table in (
        RecordTable(
            CONVERSATIONS,
            (
                "agent_id",
                "session_id",
                "role",
                "content",
                "metadata",
                "memory_id",
                "external_id",
                "created_at",
            ),
            "created_at",
            frozenset({"metadata"}),
            (("external_id",),),
        ),
        RecordTable(
            WORKFLOWS,
            (
                "workflow_id",
                "adapter",
                "repos",
                "status",
                "result",
                "duration_seconds",
                "error",
                "memory_id",
                "created_at",
            ),
            "created_at",
            frozenset({"repos", "result"}),
        ),
        RecordTable(GROUPS, ("name", "description", "created_at"), "created_at", unique=(("name",),)),
        RecordTable(
            GROUP_MEMBERS,
            ("group_name", "project", "added_at"),
            "added_at",
            unique=(("group_name", "project"),),
        ),
        RecordTable(
            SHARES,
            ("memory_id", "project", "via", "shared_at"),
            "shared_at",
            unique=(("memory_id", "project"),),
        ),
    )
}


def record_table(name: str) -> RecordTable:
    try:
        return RECORD_TABLES[name]
    except KeyError:
        raise StoreError(f"no record table {name!r}") from None


def checked_row(table: RecordTable, row: Mapping[str, Any]) -> dict[str, Any]:
    """Every column of the table (missing ones None); unknown keys are a programming error."""
    unknown = sorted(set(row) - set(table.columns))
    if unknown:
        raise InvalidInputError(f"{table.name} has no column {unknown[0]!r}")
    return {name: row.get(name) for name in table.columns}


def where_sql(
    table: RecordTable, where: Mapping[str, Any], since: str | None, mark: str
) -> tuple[str, list[Any]]:
    """``WHERE …`` (or ``""``): a scalar is matched exactly, a list/tuple/set by membership."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in where.items():
        if column not in table.columns and column != "id":
            raise InvalidInputError(f"{table.name} has no column {column!r}")
        if isinstance(value, (list, tuple, set, frozenset)):
            values = list(value)
            clauses.append(f"{column} IN ({', '.join([mark] * len(values))})" if values else "1 = 0")
            params.extend(values)
        elif value is None:
            clauses.append(f"{column} IS NULL")
        else:
            clauses.append(f"{column} = {mark}")
            params.append(value)
    if since is not None:
        clauses.append(f"{table.time_column} >= {mark}")
        params.append(since)
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


def insert_sql(table: RecordTable, mark: str) -> str:
    columns = ", ".join(table.columns)
    marks = ", ".join([mark] * len(table.columns))
    return f"INSERT INTO {table.name} ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING RETURNING id"


def select_sql(table: RecordTable, where_clause: str, mark: str) -> str:
    return (
        f"SELECT id, {', '.join(table.columns)} FROM {table.name} {where_clause} "
        f"ORDER BY {table.time_column} DESC, id DESC LIMIT {mark}"
    )


def delete_where(table: RecordTable, where: Mapping[str, Any], mark: str) -> tuple[str, list[Any]]:
    """The condition (without ``WHERE``) of a ``DELETE`` of the rows matching ``where``, which must
    not be empty."""
    clause, params = where_sql(table, where, None, mark)
    if not clause:
        raise InvalidInputError(f"refusing to delete every row of {table.name}")
    return clause.removeprefix("WHERE "), params
