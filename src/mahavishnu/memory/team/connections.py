"""How many connections each member may hold on the team's server at once: their login role's
``CONNECTION LIMIT``, which PostgreSQL checks at every login. Without it one member (a loop opening
connections in ``psql``, a runaway script) took every one of the server's ``max_connections``, and
no other member could connect.

``team init --member-connections N`` records the limit in ``meta`` (0: none; default
``MEMBER_CONNECTIONS``) and gives it to every current member; ``team add`` gives it to the member
it adds. Past it the server refuses the login ("too many connections for role"), which the backend
says in one line (``postgres._unavailable``). A member cannot change their own limit (``ALTER ROLE``
of a role's limit needs CREATEROLE and its ADMIN option).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

#: The default: a member's machine holds a pool of up to 10 for its memory daemon or a command,
#: plus a hook's or an MCP server's short-lived ones; far below the server's default 100.
MEMBER_CONNECTIONS = 20
#: ``meta`` key of the limit.
META_CONNECTIONS = "member_connections"
#: Members are plain roles (``m``, a role of the group): the owner, who holds the group with ADMIN
#: (PostgreSQL 16+ grants it to the role that created it), is not one. Here, below ``members``,
#: which reads it too.
PLAIN = "NOT m.rolsuper AND NOT m.rolcreaterole"
#: The group's members.
_MEMBERS = (
    "SELECT m.rolname FROM pg_auth_members AS a JOIN pg_roles AS g ON g.oid = a.roleid "
    f"JOIN pg_roles AS m ON m.oid = a.member WHERE g.rolname = %s AND {PLAIN} ORDER BY 1"
)


def limit(conn: psycopg.Connection[Any]) -> int:
    """The connections each member may hold (0: no limit), as recorded, else the default."""
    row = conn.execute("SELECT value FROM meta WHERE key = %s", (META_CONNECTIONS,)).fetchone()
    return int(row[0]) if row is not None and str(row[0]).isdigit() else MEMBER_CONNECTIONS


def put_in_place(conn: psycopg.Connection[Any], group: str, given: int | None) -> int:
    """``given`` recorded (None: the store's own, else the default) and given to every member of
    ``group``; the limit."""
    if given is not None:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (META_CONNECTIONS, str(given)),
        )
    most = limit(conn)
    for (role,) in conn.execute(_MEMBERS, (group,)).fetchall():
        give(conn, str(role), most)
    return most


def give(conn: psycopg.Connection[Any], role: str, most: int) -> None:
    """``role`` may hold at most ``most`` connections (0: no limit, PostgreSQL's -1)."""
    from psycopg import sql

    conn.execute(
        sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(sql.Identifier(role), sql.Literal(most or -1))
    )


def server_room(conn: psycopg.Connection[Any]) -> int:
    """How many connections the server takes from roles that are not superusers (``max_connections``
    less those it keeps for superusers and, 16+, for ``pg_use_reserved_connections``)."""
    row = conn.execute(
        "SELECT current_setting('max_connections')::int "
        "- current_setting('superuser_reserved_connections')::int "
        "- coalesce(current_setting('reserved_connections', true)::int, 0)"
    ).fetchone()
    return int(row[0]) if row else 0
