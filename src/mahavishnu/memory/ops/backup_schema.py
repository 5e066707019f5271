"""Whether an embedded (SQLite) backup is a Mahavishnu store that ``db restore`` may install.

Any valid SQLite file used to restore: an unrelated schema (the store was then empty), a dropped
``memories`` table, a future migration, or a real backup plus a trigger of its own (every later
write then failed as "database disk image is malformed"). The backup's schema is compared with
what a fresh store has after the same migrations (built in memory from ``MIGRATIONS``): each table's
columns, each index, trigger and view, and the ``_migrations`` table itself. A missing, different or
foreign object, or a migration this code does not know, is refused with one line saying what and
what to do; ``backup.restore`` checks this (and that the store then opens) before it touches the
live store.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from mahavishnu.errors import InvalidInputError
from mahavishnu.memory.core.migrations import Migration

#: Created by SQLite itself (``sqlite_sequence``, ``sqlite_stat1``…, ``sqlite_autoindex_…``).
_INTERNAL = "sqlite_%"
_UNCHANGED = "the live store was not changed"
Schema = dict[tuple[str, str], object]


def check_backup_schema(staged: Path, path: str) -> None:
    """Raise ``InvalidInputError`` unless ``staged`` (a readable SQLite file, the copy of the backup
    ``path`` the errors name) holds exactly what Mahavishnu's migrations create, migrated no further
    than this code knows."""
    from mahavishnu.memory.core.migrations.sqlite import MIGRATIONS

    conn = sqlite3.connect(f"{staged.absolute().as_uri()}?mode=ro", uri=True)
    try:
        applied = _applied(conn, path)
        unknown = [name for name in applied if name not in MIGRATIONS.names]
        if unknown:
            raise InvalidInputError(
                f"{path} was made by a newer Mahavishnu (unknown migrations: {', '.join(unknown)}): "
                f"{_UNCHANGED}",
                hint="Upgrade Mahavishnu, then restore it again.",
            )
        found = _schema(conn)
    finally:
        conn.close()
    expected = _reference([m for m in MIGRATIONS if m.name in applied])
    _compare(path, expected, found)


def _applied(conn: sqlite3.Connection, path: str) -> list[str]:
    not_ours = InvalidInputError(
        f"{path} is not a backup of a Mahavishnu memory store (it has no _migrations table): {_UNCHANGED}",
        hint="Restore a file written by `mahavishnu db backup`.",
    )
    try:
        if conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'"
        ).fetchone():
            return [str(row[0]) for row in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]
    except sqlite3.Error as exc:
        raise not_ours from exc
    raise not_ours


def _reference(migrations: Iterable[Migration[sqlite3.Connection]]) -> Schema:
    """The schema of a fresh store after ``migrations`` (as ``SqlBackend.migrate`` runs them)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        for migration in migrations:
            migration.apply(conn)
        return _schema(conn)
    finally:
        conn.close()


def _schema(conn: sqlite3.Connection) -> Schema:
    """(type, name) -> what must match: a table's columns (``table_xinfo``: name, type, not null,
    default, key, hidden), an index's table, uniqueness and columns, a trigger's or view's SQL."""
    rows = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE ? ORDER BY type, name",
        (_INTERNAL,),
    ).fetchall()
    schema: Schema = {}
    for kind, name, table, sql in rows:
        if kind == "table":
            info = conn.execute("SELECT * FROM pragma_table_xinfo(?)", (name,)).fetchall()
            schema[(kind, name)] = [tuple(column[1:]) for column in info]
        elif kind == "index":
            columns = conn.execute("SELECT * FROM pragma_index_xinfo(?)", (name,)).fetchall()
            schema[(kind, name)] = (table, _normal(sql), [tuple(column[1:]) for column in columns])
        else:  # trigger, view: their statement is all there is
            schema[(kind, name)] = (table, _normal(sql))
    return schema


def _normal(sql: str | None) -> str:
    """SQL with its spacing and case folded (a migration's indentation is not the schema)."""
    return re.sub(r"\s+", " ", sql or "").strip().lower()


def _compare(path: str, expected: Schema, found: Schema) -> None:
    foreign = sorted(set(found) - set(expected), key=_tables_first)
    if foreign:
        kind, name = foreign[0]
        raise InvalidInputError(
            f"{path} holds what no Mahavishnu migration creates ({_listed(foreign)}): {_UNCHANGED}",
            hint=f"Restore another backup, or drop them from a copy of it (`sqlite3 COPY.db "
            f"'DROP {kind.upper()} {name}'`) and restore the copy.",
        )
    missing = sorted(set(expected) - set(found), key=_tables_first)
    changed = sorted(
        (key for key in expected if key in found and expected[key] != found[key]), key=_tables_first
    )
    if missing or changed:
        said = [f"no {_listed(missing)}"] if missing else []
        said += [f"{_listed(changed)} differ from what the migrations create"] if changed else []
        raise InvalidInputError(
            f"{path} is not a Mahavishnu store as its migrations left it ({'; '.join(said)}): {_UNCHANGED}",
            hint="Restore another backup written by `mahavishnu db backup`.",
        )


def _tables_first(key: tuple[str, str]) -> tuple[int, str, str]:
    return (["table", "view", "trigger", "index"].index(key[0]), *key)


def _listed(keys: list[tuple[str, str]], most: int = 3) -> str:
    """``table a, index b, trigger c and 4 more``."""
    shown = ", ".join(f"{kind} {name}" for kind, name in keys[:most])
    return shown + (f" and {len(keys) - most} more" if len(keys) > most else "")
