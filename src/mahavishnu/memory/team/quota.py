"""How much each member may write to a team store: ``team init`` puts a quota in place, kept by the
database. ``bounds`` limits one value; without this a member with ``psql`` could still write rows
without end (a loop of ``INSERT``s) until the server's disk was full, for every member.

- **A member's rows and bytes.** Of every table a row of which names its writer (``WRITERS``), the
  rows each role wrote and their size (``pg_column_size`` of the row) are kept in ``team_usage``,
  one row a role, by statement triggers ``team_quota`` after INSERT, UPDATE and DELETE that count
  the statement's rows of the login role (``session_user``) alone. A statement that adds rows past
  ``member_rows``, or bytes past ``member_bytes`` (``meta``, set by ``team init --member-rows /
  --member-bytes``; 0: no limit), is refused, nothing stored; one that adds neither (a delete, an
  unshare: a row's size is counted without its ``visibility`` label) never is.
- **Only one's own count is touched.** A trigger updates the login role's own ``team_usage`` row,
  never another's: a member's open transaction locks their own count alone, and nobody waits on it
  (the lock a member's share once held on another's memory: ``schema.SETUP`` 10). Rows of a role
  that another role deletes (the owner's ``team_delete``, a memory's shares going with it) stay in
  the count of their writer, and a count goes stale the other way when the owner re-embeds: so a
  role about to be refused is counted again from its rows (at most once every ``RECOUNT_EVERY``:
  an attacker at the limit cannot make the server scan their rows on every statement), and
  ``team init`` counts every role again.
- **The audit's rows** (``team_audit``, which a member's share, unshare, edit or delete of a team
  memory leaves, and which no member can delete) are counted apart, as ``audit:<role>``, against
  the same limits: an unshare or a delete is never refused (a member over the limit must be able
  to free room), a share or an edit past them is, so no loop of shares fills the disk either.
- **Team-wide tables** (project groups and their projects: ``schema.TEAM_TABLES``, which name no
  writer) hold at most ``TEAM_ROWS`` rows each, for the whole team.

Members read their own ``team_usage`` row (``team status``), the owner reads every row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mahavishnu.json_types import JSONObject
from mahavishnu.memory.core.backends.postgres import BACKUP_MAINTENANCE, MAINTENANCE_SETTING, QUOTA_REFUSAL
from mahavishnu.memory.core.migrations.postgres import OWNED_TABLES
from mahavishnu.memory.team import writes

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

#: Each table whose rows name their writer, and the column that does.
WRITERS: dict[str, str] = {
    **{table: "owner_role" for table in OWNED_TABLES},
    "insight_shares": "owner_role",
    "team_profiles": "pushed_by",
}
#: The audit's table and its writer's column, counted apart (``AUDIT_ACCOUNT``).
AUDIT, AUDIT_WRITER = "team_audit", "actor"
#: The ``team_usage`` row of a role's audit rows: this and the role's name.
AUDIT_ACCOUNT = "audit:"
#: The defaults ``team init`` records when the store has none: far more than a developer's years of
#: notes and captured turns (a turn is ~1-4 KB, a memory with its vector ~2-3 KB), far less than a
#: server's disk.
MEMBER_ROWS = 2_000_000
MEMBER_BYTES = 8 * 1000**3
#: ``meta`` keys of the limits.
META_ROWS, META_BYTES = "member_rows", "member_bytes"
#: The team-wide tables (``schema.TEAM_TABLES``, which imports this module): no writer named.
TEAM_TABLES = ("project_groups", "project_group_members")
#: At most this many rows in each team-wide table (a project group, a group's project).
TEAM_ROWS = 100_000
#: How often a role over its limit may be counted again from its rows before being refused.
RECOUNT_EVERY = "10 minutes"
USAGE_TABLE = "team_usage"
_COUNT = "team_quota_count"
_RECOUNT = "team_quota_recount"
_TRIGGER = QUOTA_REFUSAL
#: What a refusal tells to do (the database's HINT, shown as the command's ``fix:``).
HINT = (
    "Delete what you no longer need (`mahavishnu memory list`, then `mahavishnu memory delete ID`), or "
    "ask the team store's owner to raise the limit (`mahavishnu team init --dsn OWNER_DSN --member-rows N "
    "--member-bytes SIZE`); nothing was stored."
)


@dataclass(frozen=True, slots=True)
class Usage:
    """What a role has written (``rows``, ``bytes``) and the limits (0: none)."""

    role: str
    rows: int
    bytes: int
    most_rows: int
    most_bytes: int

    def to_dict(self) -> JSONObject:
        return {
            "role": self.role,
            "rows": self.rows,
            "bytes": self.bytes,
            "member_rows": self.most_rows,
            "member_bytes": self.most_bytes,
        }


def put_in_place(
    conn: psycopg.Connection[Any],
    group: str,
    *,
    member_rows: int | None = None,
    member_bytes: int | None = None,
) -> None:
    """The usage table, its functions and every table's triggers (replaced whole each run), the
    limits (given ones recorded, else the store's own, else the defaults), and every role counted
    again from its rows."""
    from psycopg import sql

    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {USAGE_TABLE} (role text PRIMARY KEY, rows bigint NOT NULL, "
        "bytes bigint NOT NULL, counted_at timestamptz)"
    )
    # Never counted from its rows is NULL: up to schema.SETUP 16 it was '-infinity', which psycopg
    # cannot read ("timestamp too small"), so a member's `SELECT * FROM team_usage` failed.
    conn.execute(f"ALTER TABLE {USAGE_TABLE} ALTER COLUMN counted_at DROP NOT NULL")
    conn.execute(f"UPDATE {USAGE_TABLE} SET counted_at = NULL WHERE counted_at = '-infinity'")
    _limits(conn, member_rows, member_bytes)
    conn.execute(f"ALTER TABLE {USAGE_TABLE} ENABLE ROW LEVEL SECURITY")  # not forced: the owner reads all
    conn.execute(f"DROP POLICY IF EXISTS team_read ON {USAGE_TABLE}")
    conn.execute(f"CREATE POLICY team_read ON {USAGE_TABLE} FOR SELECT USING (role = session_user)")
    conn.execute(
        sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(USAGE_TABLE), sql.Identifier(group))
    )
    present = {
        str(name)
        for (name,) in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname = ANY(%s)",
            ([*WRITERS, AUDIT, *TEAM_TABLES],),
        )
    }
    counted = [table for table in WRITERS if table in present]
    _functions(conn, counted)
    for table in counted:
        _count_triggers(conn, table, WRITERS[table])
    _audit_trigger(conn)
    for table in TEAM_TABLES:
        if table in present:
            _team_cap(conn, table)
    recount_all(conn, counted)


def limits(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    """The rows and bytes each member may write (0: no limit), as recorded."""
    found = dict(conn.execute("SELECT key, value FROM meta WHERE key IN (%s, %s)", (META_ROWS, META_BYTES)))
    return int(found.get(META_ROWS, 0)), int(found.get(META_BYTES, 0))


def counts(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, int]] | None:
    """The rows and bytes of each role this connection may see (the owner: every role; a member:
    their own), by role; None: a store without a quota."""
    if conn.execute("SELECT to_regclass(%s)", (USAGE_TABLE,)).fetchone()[0] is None:  # type: ignore[index]
        return None
    found = conn.execute(f"SELECT role, rows, bytes FROM {USAGE_TABLE}")
    return {str(role): (int(rows), int(size)) for role, rows, size in found}


def usage(conn: psycopg.Connection[Any]) -> Usage | None:
    """The login role's usage and the limits (None: a store without a quota)."""
    found = counts(conn)
    if found is None:
        return None
    who = str(conn.execute("SELECT session_user").fetchone()[0])  # type: ignore[index]
    return Usage(who, *found.get(who, (0, 0)), *limits(conn))


def recount_all(conn: psycopg.Connection[Any], tables: Sequence[str]) -> None:
    """Every role's count from its rows (read as the owner's ``db backup`` reads: every row). A
    member whose own count is locked (their transaction is writing) keeps theirs: it is counted again
    the next time it would be refused."""
    import psycopg
    from psycopg import sql

    conn.execute("SELECT set_config(%s, %s, true)", (MAINTENANCE_SETTING, BACKUP_MAINTENANCE))
    try:
        counted = conn.execute(
            sql.SQL(
                "SELECT who, sum(n)::bigint, sum(b)::bigint FROM ({}) AS c(who, n, b) GROUP BY who"
            ).format(
                sql.SQL(" UNION ALL ").join(
                    [
                        *(
                            sql.SQL(
                                "SELECT t.{}::text, count(*), coalesce(sum({}), 0) FROM {} AS t GROUP BY 1"
                            ).format(
                                sql.Identifier(WRITERS[table]), _measured("t", table), sql.Identifier(table)
                            )
                            for table in tables
                        ),
                        sql.SQL(
                            "SELECT {} || t.{}, count(*), coalesce(sum({}), 0) FROM {} AS t GROUP BY 1"
                        ).format(
                            sql.Literal(AUDIT_ACCOUNT),
                            sql.Identifier(AUDIT_WRITER),
                            _measured("t", AUDIT),
                            sql.Identifier(AUDIT),
                        ),
                    ]
                )
            )
        ).fetchall()
    finally:
        conn.execute("SELECT set_config(%s, '', true)", (MAINTENANCE_SETTING,))
    seen = [str(who) for who, _, _ in counted]
    before = str(conn.execute("SELECT current_setting('lock_timeout')").fetchone()[0])  # type: ignore[index]
    conn.execute("SELECT set_config('lock_timeout', '1s', true)")
    for who, rows, size in counted:
        try:
            with conn.transaction():
                conn.execute(
                    f"INSERT INTO {USAGE_TABLE} AS u (role, rows, bytes, counted_at) "
                    "VALUES (%s, %s, %s, now()) "
                    "ON CONFLICT (role) DO UPDATE SET rows = excluded.rows, bytes = excluded.bytes, "
                    "counted_at = now()",
                    (who, rows, size),
                )
        except psycopg.errors.LockNotAvailable:
            continue
    conn.execute("SELECT set_config('lock_timeout', %s, true)", (before,))
    conn.execute(
        f"UPDATE {USAGE_TABLE} AS u SET rows = 0, bytes = 0, counted_at = now() "
        f"WHERE u.role IN (SELECT role FROM {USAGE_TABLE} WHERE role <> ALL(%s) FOR UPDATE SKIP LOCKED)",
        (seen,),
    )


def _limits(conn: psycopg.Connection[Any], member_rows: int | None, member_bytes: int | None) -> None:
    for key, given, default in (
        (META_ROWS, member_rows, MEMBER_ROWS),
        (META_BYTES, member_bytes, MEMBER_BYTES),
    ):
        if given is not None:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, str(given)),
            )
        else:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                (key, str(default)),
            )


def _functions(conn: psycopg.Connection[Any], tables: Sequence[str]) -> None:
    """``team_quota_recount(account)``: an account's count from its rows (a role's in ``tables``,
    those of ``WRITERS`` the store has; ``audit:<role>``'s in the audit); ``team_quota_count(rows,
    bytes, account, refuse)``: an account moved by what a statement wrote, refused past a limit when
    ``refuse`` and the statement added what is over. Both run as the tables' owner (members have no
    right on ``team_usage`` but to read their row) and only from the triggers: no member may call them."""
    from psycopg import sql

    sums = sql.SQL(" UNION ALL ").join(
        [
            sql.SQL("SELECT count(*), coalesce(sum({}), 0) FROM {} AS t WHERE t.{} = account").format(
                _measured("t", table), sql.Identifier(table), sql.Identifier(WRITERS[table])
            )
            for table in tables
        ]
    )
    path = sql.SQL(writes.SEARCH_PATH)
    conn.execute(
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {recount}(account text) RETURNS {usage} LANGUAGE plpgsql "
            "SECURITY DEFINER "
            "SET search_path = {path} AS $f$\n"
            "DECLARE counted {usage}; n bigint; b bigint;\n"
            "BEGIN\n"
            "  IF starts_with(account, {audit}) THEN\n"
            "    SELECT count(*), coalesce(sum({audit_size}), 0) INTO n, b FROM {audit_table} AS t\n"
            "      WHERE t.{audit_writer} = substr(account, {skip});\n"
            "  ELSE\n"
            "    SELECT sum(s.n)::bigint, sum(s.b)::bigint INTO n, b FROM ({sums}) AS s(n, b);\n"
            "  END IF;\n"
            "  UPDATE {usage} AS u SET rows = n, bytes = b, counted_at = now()\n"
            "    WHERE u.role = account RETURNING u.* INTO counted;\n"
            "  RETURN counted;\n"
            "END $f$"
        ).format(
            recount=sql.Identifier(_RECOUNT),
            usage=sql.Identifier(USAGE_TABLE),
            path=path,
            sums=sums,
            audit=sql.Literal(AUDIT_ACCOUNT),
            audit_table=sql.Identifier(AUDIT),
            audit_size=_measured("t", AUDIT),
            audit_writer=sql.Identifier(AUDIT_WRITER),
            skip=sql.Literal(len(AUDIT_ACCOUNT) + 1),
        )
    )
    over_rows = "you have written %s rows to this team store, more than the %s its owner allows a member"
    over_audit = (
        "you have shared or edited team memories %s times in this team store, more than the %s its "
        "owner allows a member"
    )
    over_bytes = (
        "what you have written to this team store holds %s, more than the %s its owner allows a member"
    )
    refusal = (
        "      RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = {constraint},\n"
        "        MESSAGE = format({said}, {used}, {most}), HINT = {hint};\n"
    )
    common = {"constraint": sql.Literal(QUOTA_REFUSAL), "hint": sql.Literal(HINT)}
    rows_refused = sql.SQL(refusal).format(
        said=sql.SQL("CASE WHEN starts_with(account, {}) THEN {} ELSE {} END").format(
            sql.Literal(AUDIT_ACCOUNT), sql.Literal(over_audit), sql.Literal(over_rows)
        ),
        used=_thousands("used.rows"),
        most=_thousands("most_rows"),
        **common,
    )
    bytes_refused = sql.SQL(refusal).format(
        said=sql.Literal(over_bytes), used=_size_words("used.bytes"), most=_size_words("most_bytes"), **common
    )
    conn.execute(
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {count}(added bigint, grown bigint, account text, refuse boolean) "
            "RETURNS void LANGUAGE plpgsql "
            "SECURITY DEFINER SET search_path = {path} AS $f$\n"
            "DECLARE used {usage}; most_rows bigint; most_bytes bigint;\n"
            "BEGIN\n"
            "  INSERT INTO {usage} AS u (role, rows, bytes, counted_at)\n"
            "    VALUES (account, greatest(added, 0), greatest(grown, 0), NULL)\n"
            "    ON CONFLICT (role) DO UPDATE SET rows = greatest(u.rows + added, 0),\n"
            "      bytes = greatest(u.bytes + grown, 0)\n"
            "    RETURNING u.* INTO used;\n"
            "  IF NOT refuse OR (added <= 0 AND grown <= 0) THEN RETURN; END IF;\n"
            "  SELECT coalesce(max(value) FILTER (WHERE key = {rows_key}), '0')::bigint,\n"
            "         coalesce(max(value) FILTER (WHERE key = {bytes_key}), '0')::bigint\n"
            "    INTO most_rows, most_bytes FROM meta WHERE key IN ({rows_key}, {bytes_key});\n"
            "  IF (most_rows > 0 AND added > 0 AND used.rows > most_rows)\n"
            "     OR (most_bytes > 0 AND grown > 0 AND used.bytes > most_bytes) THEN\n"
            "    IF used.counted_at IS NULL OR used.counted_at < now() - interval {every} THEN\n"
            "      used := {recount}(account);\n"
            "    END IF;\n"
            "    IF most_rows > 0 AND added > 0 AND used.rows > most_rows THEN\n"
            "{rows_refused}"
            "    ELSIF most_bytes > 0 AND grown > 0 AND used.bytes > most_bytes THEN\n"
            "{bytes_refused}"
            "    END IF;\n"
            "  END IF;\n"
            "END $f$"
        ).format(
            count=sql.Identifier(_COUNT),
            recount=sql.Identifier(_RECOUNT),
            usage=sql.Identifier(USAGE_TABLE),
            path=path,
            rows_key=sql.Literal(META_ROWS),
            bytes_key=sql.Literal(META_BYTES),
            every=sql.Literal(RECOUNT_EVERY),
            rows_refused=rows_refused,
            bytes_refused=bytes_refused,
        )
    )
    for function in (f"{_COUNT}(bigint, bigint, text, boolean)", f"{_RECOUNT}(text)"):
        conn.execute(sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(sql.SQL(function)))  # type: ignore[arg-type]


def _measured(alias: str, table: str) -> sql.Composed:
    """The size of ``alias``'s row of ``table`` as counted: ``pg_column_size`` of the row, without its
    ``visibility`` (a label a share or an unshare flips, whose text is a few bytes longer or shorter:
    an unshare by a member over the limit must not be refused for growing their rows)."""
    from psycopg import sql

    row = sql.SQL("pg_column_size({}.*)").format(sql.Identifier(alias))
    if table not in OWNED_TABLES:
        return row
    return sql.SQL("{} - pg_column_size({}.visibility)").format(row, sql.Identifier(alias))


def _thousands(value: str) -> sql.Composed:
    """``value`` (a bigint expression of the function) written ``2,000,000``."""
    from psycopg import sql

    return sql.SQL("to_char({}, 'FM999,999,999,999,990')").format(sql.SQL(value))  # type: ignore[arg-type]


def _size_words(value: str) -> sql.Composed:
    """``value`` bytes as ``wording.size`` writes them (1 KB is 1,000 bytes): ``8.6 GB``."""
    from psycopg import sql

    x = sql.SQL(value)  # type: ignore[arg-type]
    return sql.SQL(
        "CASE WHEN {x} < 1000 THEN {x} || ' bytes' "
        "WHEN {x} < 999500 THEN to_char({x} / 1e3, 'FM999990.0') || ' KB' "
        "WHEN {x} < 999500000 THEN to_char({x} / 1e6, 'FM999990.0') || ' MB' "
        "ELSE to_char({x} / 1e9, 'FM999999990.0') || ' GB' END"
    ).format(x=x)


def _count_triggers(conn: psycopg.Connection[Any], table: str, writer: str) -> None:
    """``table``'s three statement triggers (one an event: a trigger with transition tables takes
    one), each moving the login role's count by the statement's rows of theirs."""
    from psycopg import sql

    function = sql.Identifier(f"{_TRIGGER}_{table}")
    column = sql.Identifier(writer)
    mine = "SELECT count(*), coalesce(sum({}), 0) FROM {} AS r WHERE r.{} = session_user"
    conn.execute(
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
            "SET search_path = {path} AS $f$\n"
            "DECLARE added bigint := 0; grown bigint := 0; n bigint; b bigint;\n"
            "BEGIN\n"
            "  IF TG_OP IN ('INSERT', 'UPDATE') THEN\n"
            "    {new_rows} INTO added, grown;\n"
            "  END IF;\n"
            "  IF TG_OP IN ('UPDATE', 'DELETE') THEN\n"
            "    {old_rows} INTO n, b;\n"
            "    added := added - n; grown := grown - b;\n"
            "  END IF;\n"
            "  IF added <> 0 OR grown <> 0 THEN\n"
            "    PERFORM {count}(added, grown, session_user, true);\n"
            "  END IF;\n"
            "  RETURN NULL;\n"
            "END $f$"
        ).format(
            function=function,
            path=sql.SQL(writes.SEARCH_PATH),
            new_rows=sql.SQL(mine).format(_measured("r", table), sql.Identifier("written"), column),
            old_rows=sql.SQL(mine).format(_measured("r", table), sql.Identifier("gone"), column),
            count=sql.Identifier(_COUNT),
        )
    )
    conn.execute(sql.SQL("REVOKE ALL ON FUNCTION {}() FROM PUBLIC").format(function))
    name = sql.Identifier(table)
    for event, referencing in (
        ("INSERT", "NEW TABLE AS written"),
        ("UPDATE", "OLD TABLE AS gone NEW TABLE AS written"),
        ("DELETE", "OLD TABLE AS gone"),
    ):
        trigger = sql.Identifier(f"{_TRIGGER}_{event.lower()}")
        conn.execute(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(trigger, name))
        conn.execute(
            sql.SQL(
                "CREATE TRIGGER {} AFTER {} ON {} REFERENCING {} FOR EACH STATEMENT EXECUTE FUNCTION {}()"
            ).format(trigger, sql.SQL(event), name, sql.SQL(referencing), function)  # type: ignore[arg-type]
        )


def _team_cap(conn: psycopg.Connection[Any], table: str) -> None:
    """``table`` (team-wide, no writer named) refuses an INSERT that leaves it over ``TEAM_ROWS``."""
    from psycopg import sql

    function = sql.Identifier(f"{_TRIGGER}_{table}")
    said = f"a team store holds at most {TEAM_ROWS:,} rows in {table}"
    conn.execute(
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
            "SET search_path = {} AS $f$\n"
            "BEGIN\n"
            "  IF (SELECT count(*) FROM {}) > {} THEN\n"
            "    RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = {}, MESSAGE = {},\n"
            "      HINT = 'Remove project groups the team no longer uses (`mahavishnu memory groups list`); "
            "nothing was stored.';\n"
            "  END IF;\n"
            "  RETURN NULL;\n"
            "END $f$"
        ).format(
            function,
            sql.SQL(writes.SEARCH_PATH),
            sql.Identifier(table),
            sql.Literal(TEAM_ROWS),
            sql.Literal(QUOTA_REFUSAL),
            sql.Literal(said),
        )
    )
    conn.execute(sql.SQL("REVOKE ALL ON FUNCTION {}() FROM PUBLIC").format(function))
    trigger, name = sql.Identifier(f"{_TRIGGER}_insert"), sql.Identifier(table)
    conn.execute(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(trigger, name))
    conn.execute(
        sql.SQL("CREATE TRIGGER {} AFTER INSERT ON {} FOR EACH STATEMENT EXECUTE FUNCTION {}()").format(
            trigger, name, function
        )
    )


def _audit_trigger(conn: psycopg.Connection[Any]) -> None:
    """``team_audit``'s trigger after INSERT (no member updates or deletes an audit row): the rows of
    the login role's counted on their own account, refused past a limit only for a share or an
    edit (an unshare, a delete frees room, and must pass)."""
    from psycopg import sql

    function = sql.Identifier(f"{_TRIGGER}_{AUDIT}")
    conn.execute(
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
            "SET search_path = {path} AS $f$\n"
            "DECLARE added bigint; grown bigint; writes boolean;\n"
            "BEGIN\n"
            "  SELECT count(*), coalesce(sum({size}), 0),\n"
            "         coalesce(bool_or(r.action IN ('share', 'edit')), false)\n"
            "    INTO added, grown, writes FROM written AS r WHERE r.{writer} = session_user;\n"
            "  IF added > 0 THEN\n"
            "    PERFORM {count}(added, grown, {account} || session_user, writes);\n"
            "  END IF;\n"
            "  RETURN NULL;\n"
            "END $f$"
        ).format(
            function=function,
            path=sql.SQL(writes.SEARCH_PATH),
            writer=sql.Identifier(AUDIT_WRITER),
            size=_measured("r", AUDIT),
            count=sql.Identifier(_COUNT),
            account=sql.Literal(AUDIT_ACCOUNT),
        )
    )
    conn.execute(sql.SQL("REVOKE ALL ON FUNCTION {}() FROM PUBLIC").format(function))
    trigger, name = sql.Identifier(f"{_TRIGGER}_insert"), sql.Identifier(AUDIT)
    conn.execute(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(trigger, name))
    conn.execute(
        sql.SQL(
            "CREATE TRIGGER {} AFTER INSERT ON {} REFERENCING NEW TABLE AS written "
            "FOR EACH STATEMENT EXECUTE FUNCTION {}()"
        ).format(trigger, name, function)
    )
