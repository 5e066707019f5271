"""No member takes PostgreSQL's advisory locks at will. PostgreSQL lets every role take them
(EXECUTE granted to PUBLIC), each an entry of the server's one shared lock table: a member's
``SELECT pg_advisory_lock(i) FROM generate_series(1, 2000000) AS i`` filled it in 0.2 s ("out of
shared memory"), and until their session ended nobody, a superuser neither, could connect or take a
lock (a session's advisory locks outlive the statement that failed). Holding the keys Mahavishnu
uses stopped the owner's ``team init``, migrations and reembed as well.

So in the team's database a superuser revokes PUBLIC's EXECUTE on every function that takes one
(``LOCK_FUNCTIONS``) and grants it back to the tables' owner (``team init`` run as a superuser does;
else it says what to run). A member's ``memory ingest`` takes its lock through ``team_ingest_lock(repo)``
(``INGEST_LOCK_FUNCTION``), a SECURITY DEFINER function of the tables' owner taking the ingest key
only, of the transaction, and refusing while the caller's session holds ``MOST_HELD`` advisory
locks: with the member's connection limit (``connections``) a bound on what they can take.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mahavishnu.memory.core.backends.postgres import INGEST_LOCK, INGEST_LOCK_FUNCTION
from mahavishnu.memory.team import writes

if TYPE_CHECKING:
    import psycopg

#: Every function of PostgreSQL's that takes an advisory lock (releasing one needs none).
LOCK_FUNCTIONS = tuple(
    f"pg_catalog.pg_{attempt}advisory_{scope}lock{mode}({args})"
    for attempt in ("", "try_")
    for scope in ("", "xact_")
    for mode in ("", "_shared")
    for args in ("bigint", "integer, integer")
)
#: The advisory locks a session may hold when it asks ``team_ingest_lock`` for one more.
MOST_HELD = 4


def statements(owner: str) -> str:
    """What a superuser runs in the team's database: members lose the right, ``owner`` keeps it."""
    from psycopg import sql

    functions = ", ".join(LOCK_FUNCTIONS)
    return (
        f"REVOKE EXECUTE ON FUNCTION {functions} FROM PUBLIC; "
        f"GRANT EXECUTE ON FUNCTION {functions} TO {sql.Identifier(owner).as_string()}"
    )


def put_in_place(conn: psycopg.Connection[Any], group: str, owner: str, superuser: bool) -> str:
    """``team_ingest_lock`` for the group, and PUBLIC's right to take advisory locks revoked as a
    superuser; else the statements a superuser runs while any role still has it ("" once none has)."""
    from psycopg import sql

    conn.execute(
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {}(repo text) RETURNS boolean "
            "LANGUAGE plpgsql SECURITY DEFINER SET search_path = {} AS $f$\n"
            "BEGIN\n"
            "  IF (SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory')"
            " >= {} THEN\n"
            "    RAISE EXCEPTION 'this session holds % advisory locks already', {}\n"
            "      USING ERRCODE = 'program_limit_exceeded',\n"
            "      HINT = 'End the transaction that holds them (one memory ingest at a time).';\n"
            "  END IF;\n"
            # the key the backend's own lock has (``PostgresBackend._run_lock``): a team store's
            # tables are in ``public``
            "  RETURN pg_try_advisory_xact_lock({}, hashtext(concat_ws('/', 'public', repo)));\n"
            "END $f$"
        ).format(
            sql.Identifier(INGEST_LOCK_FUNCTION),
            sql.SQL(writes.SEARCH_PATH),
            sql.Literal(MOST_HELD),
            sql.Literal(MOST_HELD),
            sql.Literal(INGEST_LOCK),
        )
    )
    function = sql.SQL("{}(text)").format(sql.Identifier(INGEST_LOCK_FUNCTION))
    conn.execute(sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(function))
    conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(function, sql.Identifier(group)))
    granted = any(
        conn.execute("SELECT has_function_privilege('public', %s, 'EXECUTE')", (f,)).fetchone()[0]  # type: ignore[index]
        for f in LOCK_FUNCTIONS
    )
    if granted and superuser:
        conn.execute(statements(owner).encode())
        return ""
    return statements(owner) if granted else ""
