"""How members write to a team store without the rights that lock a table (issue 47.4).

PostgreSQL lets a role ``LOCK TABLE`` in any mode, ACCESS EXCLUSIVE included (which stalls every
other session's reads and writes), when it holds UPDATE, DELETE or TRUNCATE on the table itself;
INSERT allows at most ROW EXCLUSIVE and SELECT ACCESS SHARE, which block no read or write of
others. So a member holds, on the tables they write:

- SELECT and INSERT, and UPDATE granted column by column (every column): a column privilege lets
  ``UPDATE``, ``INSERT … ON CONFLICT DO UPDATE`` and ``SELECT … FOR UPDATE`` run, but ``LOCK
  TABLE`` looks at the table's own privileges only;
- no DELETE: a member deletes through ``team_delete(table, ids)`` (and ``team_delete_profile``),
  SECURITY DEFINER functions of the tables' owner that delete the given ids of one of the team's
  tables. They run as the owner, under the FORCEd row-level security, whose SELECT and DELETE
  policies name the *login* role (``session_user``, which a member cannot change) as the row's
  owner: the function deletes only the caller's own rows (and, of the team-wide tables without
  row-level security, any row, as before).

A lock someone else holds (the owner's maintenance, an administrator) still makes others wait: every
connection sets ``lock_timeout`` and ``statement_timeout`` (``backends/postgres.py``), so a command
or hook gives up within its budget and says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

#: The ``search_path`` of every SECURITY DEFINER function of a team store. ``pg_temp`` is named, and
#: last: left out, PostgreSQL looks a table's name up in the *caller's* temporary schema first, so
#: a member allowed temporary tables made a temporary view of the name such a function writes to,
#: whose trigger then ran their own code as the tables' owner.
SEARCH_PATH = "pg_catalog, public, pg_temp"
#: The function a member deletes rows of a team table through (``team_delete(text, bigint[])``).
DELETE_FUNCTION = "team_delete"
PROFILE_DELETE_FUNCTION = "team_delete_profile"


def grant_rows(
    conn: psycopg.Connection[Any], group: str, tables: tuple[str, ...], unread: dict[str, str] | None = None
) -> None:
    """SELECT, and column-wise INSERT and UPDATE, on ``tables`` for ``group``; DELETE through the
    functions. No identity column (``id``) is a member's to write: the database numbers rows (a
    member who inserted rows of the ids ahead of the sequence stopped every other from storing).
    ``unread``: a table's column the group writes but reads only through a function (``embedding``
    of ``memories``: ``schema._search_functions``)."""
    from psycopg import sql

    g = sql.Identifier(group)
    for table in tables:
        columns = [
            str(c)
            for (c,) in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                "AND NOT attisdropped AND attgenerated = '' AND attidentity = '' ORDER BY attnum",
                (table,),
            )
        ]
        listed = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        name = sql.Identifier(table)
        hidden = (unread or {}).get(table)
        if hidden is None:
            conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(name, g))
        else:
            read = [c for c in _readable(conn, table) if c != hidden]
            seen = sql.SQL(", ").join(sql.Identifier(c) for c in read)
            conn.execute(sql.SQL("GRANT SELECT ({}) ON {} TO {}").format(seen, name, g))
        conn.execute(sql.SQL("GRANT INSERT ({}), UPDATE ({}) ON {} TO {}").format(listed, listed, name, g))
    _functions(conn, group, tables)


def _functions(conn: psycopg.Connection[Any], group: str, tables: tuple[str, ...]) -> None:
    from psycopg import sql

    id_tables = [t for t in tables if _has_id(conn, t)]
    allowed = sql.SQL(", ").join(sql.Literal(t) for t in id_tables)
    conn.execute(
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {}(tbl text, ids bigint[]) RETURNS bigint "
            "LANGUAGE plpgsql SECURITY DEFINER SET search_path = {} AS $f$\n"
            "DECLARE n bigint;\n"
            "BEGIN\n"
            "  IF tbl IS NULL OR NOT (tbl = ANY (ARRAY[{}]::text[])) THEN\n"
            "    RAISE EXCEPTION 'not a team table: %', tbl USING ERRCODE = '42501';\n"
            "  END IF;\n"
            "  EXECUTE format('DELETE FROM public.%I WHERE id = ANY($1)', tbl) USING ids;\n"
            "  GET DIAGNOSTICS n = ROW_COUNT;\n"
            "  RETURN n;\n"
            "END $f$"
        ).format(sql.Identifier(DELETE_FUNCTION), sql.SQL(SEARCH_PATH), allowed)
    )
    conn.execute(
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {}(profile text) RETURNS bigint "
            "LANGUAGE plpgsql SECURITY DEFINER SET search_path = {} AS $f$\n"
            "DECLARE n bigint;\n"
            "BEGIN\n"
            "  DELETE FROM public.team_profiles WHERE name = profile;\n"
            "  GET DIAGNOSTICS n = ROW_COUNT;\n"
            "  RETURN n;\n"
            "END $f$"
        ).format(sql.Identifier(PROFILE_DELETE_FUNCTION), sql.SQL(SEARCH_PATH))
    )
    for function in (f"{DELETE_FUNCTION}(text, bigint[])", f"{PROFILE_DELETE_FUNCTION}(text)"):
        name = sql.SQL(function)  # type: ignore[arg-type]  # constants of this module
        conn.execute(sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(name))
        conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(name, sql.Identifier(group)))


def _readable(conn: psycopg.Connection[Any], table: str) -> list[str]:
    """Every column of ``table``, generated ones included."""
    found = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
        "ORDER BY attnum",
        (table,),
    )
    return [str(c) for (c,) in found]


def _has_id(conn: psycopg.Connection[Any], table: str) -> bool:
    found = conn.execute(
        "SELECT 1 FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'id' AND NOT attisdropped",
        (table,),
    ).fetchone()
    return found is not None
