"""No member fills the server's disk with temporary files. A sort, hash or materialised result that
outgrows ``work_mem`` (which every role sets for itself) spills to temporary files, which no right
governs and no member's quota counts: one member's ``SET work_mem = '64kB'; SELECT g FROM
generate_series(1, 1e12) AS g ORDER BY g DESC`` wrote them at ~20 MB a second until the disk was full,
for every member and the server. PostgreSQL's ``temp_file_limit`` bounds what one session holds,
and only a superuser sets it: a member can neither raise nor lift it.

So in the team's database a superuser sets it for every session (``ALTER DATABASE … SET``) and lifts
it for the tables' owner there (its migrations' index builds sort the whole team's rows): ``team
init`` run as a superuser does; else it says what to run. With the member's connection limit
(``connections``) a member holds at most that many times ``TEMP_FILE_LIMIT``, and a statement
going past it is refused ("temporary file size exceeds temp_file_limit").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

#: What one session may hold in temporary files: far more than a member's search or export ever
#: spills (a top-k sort stays in memory), far less than a server's disk.
TEMP_FILE_LIMIT = "1GB"


def statements(database: str, owner: str) -> str:
    """What a superuser runs: every session in ``database`` bounded, ``owner``'s there not."""
    from psycopg import sql

    db, role = sql.Identifier(database).as_string(), sql.Identifier(owner).as_string()
    return (
        f"ALTER DATABASE {db} SET temp_file_limit = '{TEMP_FILE_LIMIT}'; "
        f"ALTER ROLE {role} IN DATABASE {db} SET temp_file_limit = -1"
    )


def put_in_place(conn: psycopg.Connection[Any], database: str, owner: str, superuser: bool) -> str:
    """The sessions of ``database`` (``conn``'s) bounded as a superuser; else, while they are not, the
    statements a superuser runs ("" once they are: a limit an administrator chose is kept)."""
    bounded = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_db_role_setting AS s, unnest(s.setconfig) AS c "
        "WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND s.setrole = 0 AND c LIKE %s AND c <> 'temp_file_limit=-1')",
        ("temp\\_file\\_limit=%",),
    ).fetchone()[0]  # type: ignore[index]
    if bounded:
        return ""
    if superuser:
        conn.execute(statements(database, owner).encode())
        return ""
    return statements(database, owner)
