"""``team init``: make a PostgreSQL store a team's, with privacy the database enforces.

Run by the role that owns the store's tables (it migrates them first: an existing single-user store
is migrated in place, its rows keeping the role that wrote them, ``m007_owners``). Idempotent: every
step is "create or replace", so running it again (after an upgrade's new tables, say) only puts back
what is missing. What it sets up:

- a group role (``<database>_members``, NOLOGIN) whose members are the team's login roles; only it
  may connect to the database (CONNECT and TEMP are revoked from PUBLIC), and, run by a superuser,
  no role may make large objects (``REVOKE_LARGE_OBJECTS``; else it says what to run);
- the members' rights: rows of the memory and activity tables (read, insert, update column by
  column, delete through ``team_delete``: row-level security decides which rows; no right that
  lets a member lock a table, ``writes.py``), read-only ``meta``, ``_migrations`` and
  ``team_audit``; nothing on the reembed staging table, no DDL anywhere, never a table's owner;
- row-level security, FORCEd (binding the tables' owner as well, unless it is a superuser) on every
  table holding memory or activity: a row is seen by its owner and, once shared (``visibility =
  'team'``), by every member; only its owner may insert, change or delete it. Shares of insights
  with projects are seen with the memory they share;
- ``team_profiles`` (``ai profile push NAME --team``): every member reads the team's profiles; a
  member pushes, changes and removes only the ones they pushed (``pushed_by``, the database's
  ``current_user`` default, must be their login role); the tables' owner may also remove anyone's
  (a member who left, say), and change none of them;
- one maintenance policy for the tables' owner alone: ``memory reembed`` must rewrite every
  member's vectors, and FORCEd row-level security binds the owner too. The policy ``team_maintain``
  applies ``TO`` the owner role and only while the session's login role *is* the owner
  (``session_user``, which a member cannot change, not ``current_user``, which a SECURITY DEFINER
  function makes the owner) and its transaction says ``SET LOCAL mahavishnu.maintenance =
  'reembed'`` (the backend's reembed does, nothing else): the owner's ordinary use stays as private
  as a member's;
- a text-search role (``<database>_search``, NOLOGIN, no member may become it) owning
  ``team_text_matches`` (``m012_team_text_matches``), with a policy letting it see every row and the
  right to read four columns of ``memories`` (id, ``content_tsv``, owner, visibility) and nothing
  else: the function finds the ids of the rows matching a member's text query through the GIN index
  (row-level security keeps ``@@``, not leakproof, off the index for a member) and returns those the
  caller's login role sees by ``team_read``'s rule; members and the tables' owner may execute it.
  The same role owns ``team_vector_matches`` and ``team_vectors`` (``m014_team_vector_matches``):
  members write ``embedding`` but read it only through them (the columns it reads of
  ``memories``, ``insight_shares`` and ``project_group_members`` are the filters'). It also owns
  ``insight_shares_unshare`` (``m015_insight_shares_without_lock``), the trigger deleting the shares
  of a deleted memory, whoever recorded them: a policy lets it delete (and lock) the shares of a
  memory no longer stored, and nothing else;
- bounds on what is written (``bounds.BOUNDS``): a trigger ``team_bounds`` on every table members write
  refuses, before anything is stored (or a text indexed), a text, ``jsonb`` or array value longer
  than Mahavishnu ever writes there: a memory's content past ``MEMORY_CHARS``, for instance. It
  binds every role, the owner's too, and checks a value only when it is new (an INSERT, or an
  UPDATE that changes it): a row written before ``team init`` put the bounds in place stays
  readable, shareable, re-embedded and deletable as it is, and ``init`` names such rows
  (``InitReport.warnings``). Without it one 100 MB shared memory of a member's, written with
  ``psql``, made every member's search take ~23 s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mahavishnu.errors import MigrationError, StoreError
from mahavishnu.json_types import JSONObject
from mahavishnu.memory.core.backends.postgres import (
    BACKUP_MAINTENANCE,
    BACKUP_POLICY,
    MAINTENANCE_SETTING,
    PostgresBackend,
    connect,
    dsn_location,
    masked,
)
from mahavishnu.memory.core.migrations.postgres import (
    OWNED_TABLES,
    SWEEP_SHARES,
    TEXT_MATCHES,
    UNSHARE_FUNCTION,
    VECTOR_FUNCTIONS,
)
from mahavishnu.memory.team import advisory, bounds, connections, logins, quota, temp_files, writes

if TYPE_CHECKING:
    import psycopg

#: ``meta`` key naming the team's group role (present once ``team init`` ran).
META_GROUP = "team_group"
#: ``meta`` key holding the ``SETUP`` that ``team init`` last put in place.
META_SETUP = "team_setup"
#: The version of what ``init`` sets up: bump it whenever a release changes the roles, grants,
#: policies or functions above, so ``team status`` and ``doctor`` tell the owner of a store set up
#: by an older release to run ``team init`` again (its members would otherwise meet refusals).
#: 1: stores set up before the version was recorded (no key); 2: column-level rights, ``team_delete``,
#: the backup policy and ``team_text_matches`` (recorded from here on); 3: no member writes an
#: identity column (``id``): a member inserting rows of ids ahead of the sequence stopped every
#: other member from storing anything. 4: a row is written as the login role (``session_user``), not
#: ``current_user``: a member who ran ``SET ROLE <database>_members`` wrote memories and profiles
#: under the group's name, author of no one, which every member could then change. 5: a turn or
#: workflow run links only to its writer's own memory (``_LINKED``). 6: every SECURITY DEFINER
#: function's ``search_path`` ends with ``pg_temp`` (``writes.SEARCH_PATH``). 7: no statistics of a
#: column holding what members write (``_private_statistics``): the planner's estimates read the
#: text of rows row-level security hides back to any member who ran ``EXPLAIN``. 8: members read
#: no ``embedding`` but through ``team_vector_matches`` and ``team_vectors``: ordering ``memories``
#: by a vector's distance themselves, ``EXPLAIN ANALYZE`` counted the hidden rows the index passed.
#: 9: what members write is bounded (``bounds.BOUNDS``, trigger ``team_bounds``): one 100 MB shared memory
#: written with ``psql`` made every member's search take ~23 s. 10: a share of a memory with a
#: project (``insight_shares``) holds no lock on the memory (``m015_insight_shares_without_lock``): a
#: member who recorded one of a teammate's shared memory and kept the transaction open stopped the
#: teammate deleting it; the search role deletes a deleted memory's shares (``_search_functions``).
#: 11: what each member writes is counted and limited (``quota``): a loop of ``INSERT``s in ``psql``
#: filled the server's disk for every member. 12: ``team_vector_matches`` scans its index as far as
#: it must whatever the caller set (``_FULL_SCAN``): a member who set ``hnsw.iterative_scan = off``
#: and ``hnsw.ef_search = 1`` got no row back exactly when the memory nearest a vector of their
#: choosing was one hidden from them (a guessed text, confirmed). 13: an unshare is audited with the
#: type and project the team saw (``m016_team_audit_unshare_as_shared``): ``team_audit`` showed every
#: member the private project one ``UPDATE`` unsharing a memory moved it to. 14: each member holds at
#: most ``--member-connections`` connections (``connections``): one member opening connections in a
#: loop took all of the server's ``max_connections``, and no other member could connect. 15: members
#: take no advisory lock but ``team_ingest_lock``'s (``advisory``): one member's statement filled the
#: server's lock table, and nobody could connect until their session ended. 16: a member's session
#: holds at most ``temp_files.TEMP_FILE_LIMIT`` of temporary files (``temp_files``): one member's sort
#: spilling to disk without end filled the server's disk for everyone, no right needed. 17: a count
#: never counted from its rows has ``counted_at`` NULL (``quota``), not '-infinity', which psycopg
#: cannot read: a member's ``SELECT * FROM team_usage`` failed with "timestamp too small".
SETUP = 17
_INIT_LOCK = 0x6D76_7465  # pg_advisory_xact_lock key: one ``team init`` at a time
#: Tables every member reads and writes whole (team-wide settings: project groups).
TEAM_TABLES = quota.TEAM_TABLES
#: Provider profiles shared with the team (``m010_team_profiles``, ``memory/team/profiles``).
PROFILES_TABLE = "team_profiles"
_PUSHED_BY_ME = "pushed_by = session_user"
#: Tables members only read.
READ_ONLY_TABLES = ("meta", "_migrations", "team_audit")
_SHARES = "insight_shares"
#: The tables members write (``_grants``), each bounded by its trigger ``team_bounds`` (``bounds``).
_WRITTEN = (*OWNED_TABLES, _SHARES, *TEAM_TABLES, PROFILES_TABLE)
#: Of each written table: the column naming a row, and the one naming its writer (default: ``id``,
#: ``owner_role``), for ``bounds.oversized``.
_ROW_NAMES: dict[str, tuple[str, str | None]] = {
    PROFILES_TABLE: ("name", "pushed_by"),
    **{t: ("id", None) for t in TEAM_TABLES},
}
#: A member's rows are those of their login role (``session_user``, which they cannot change): still
#: theirs inside ``writes.DELETE_FUNCTION``, which runs as the tables' owner, and never another
#: role's. ``current_user`` is whatever role the member ``SET ROLE``s to, and a membership lets every
#: member become the group: its name would author rows (the column's ``current_user`` default) that
#: no member answers for and every member could change.
_MINE = "owner_role = session_user"
_VISIBLE = f"{_MINE} OR visibility = 'team'"
_MEMORY_VISIBLE = "EXISTS (SELECT 1 FROM memories AS m WHERE m.id = memory_id)"
#: The activity tables whose ``memory_id`` names a memory (a turn's text, a workflow's result) link
#: only to one of the writer's own. Their foreign key is checked past row-level security, so a link
#: to another member's private memory told whether that id existed (refused, or not) and held a lock
#: on their row (``FOR KEY SHARE``) while the writer's transaction lasted: they could not delete it.
_LINKED = ("agent_conversations", "workflow_executions")
_LINKS_MINE = (
    f"memory_id IS NULL OR EXISTS (SELECT 1 FROM memories AS m WHERE m.id = memory_id AND m.{_MINE})"
)
#: The columns of the protected tables whose statistics the planner keeps (ANALYZE gathers none for
#: the others): labels and times it plans with, none holding what a member wrote. Statistics are
#: gathered over every row, those row-level security hides included, and the planner applies a
#: *leakproof* operator (``=``, ``<``, ``^@`` on text; ``@>`` on a text array) to them to estimate a
#: member's query: ``EXPLAIN ... WHERE content ^@ 'a prefix'`` told whether a hidden row's text went
#: on so (``starts_with`` is tested on every histogram value), one character at a time. A column not
#: named here (a later release's too) keeps none once ``team init`` ran. ``project`` is kept: the
#: planner needs its frequencies to choose between the project index and the vector index, and a
#: project's name is a label (what a member may already learn of one: ``docs/security.md``).
_PLANNED_COLUMNS = frozenset(
    {
        "id",
        "owner_role",
        "visibility",
        "memory_type",
        "project",
        "embedding_dim",
        "embedding_model",
        "created_at",
        "updated_at",
        "memory_id",
        "role",
        "status",
        "started_at",
        "finished_at",
        "recorded_at",
        "shared_at",
    }
)


@dataclass(frozen=True, slots=True)
class InitReport:
    location: str
    group: str
    owner: str
    superuser: bool
    migrated: tuple[str, ...]
    protected: tuple[str, ...]
    embedder: str | None
    dimension: int | None
    warnings: tuple[str, ...] = field(default=())
    trusted: tuple[str, ...] = field(default=())  # where the server takes no password (``logins``)
    member_limits: tuple[int, int] = (0, 0)  # the rows and bytes each member may write (``quota``)
    member_connections: int = 0  # the connections each member may hold (``connections``; 0: no limit)

    def to_dict(self) -> JSONObject:
        return {
            "location": self.location,
            "group": self.group,
            "owner": self.owner,
            "superuser": self.superuser,
            "migrated": [*self.migrated],
            "row_level_security": [*self.protected],
            "embedder": self.embedder,
            "dimension": self.dimension,
            "warnings": [*self.warnings],
            "trusted_logins": [*self.trusted],
            "member_rows": self.member_limits[0],
            "member_bytes": self.member_limits[1],
            "member_connections": self.member_connections,
        }


def group_name(database: str) -> str:
    """The group role of the team database ``database`` (role names are cluster-wide)."""
    return f"{database}_members"[:63]


def team_group(conn: psycopg.Connection[Any]) -> str | None:
    """The group role recorded by ``team init`` (None: not a team store)."""
    if conn.execute("SELECT to_regclass('meta')").fetchone()[0] is None:  # type: ignore[index]
        return None
    row = conn.execute("SELECT value FROM meta WHERE key = %s", (META_GROUP,)).fetchone()
    return None if row is None else str(row[0])


def setup_of(conn: psycopg.Connection[Any]) -> int:
    """The ``SETUP`` that ``team init`` last put in place on this store (1: before it was recorded)."""
    row = conn.execute("SELECT value FROM meta WHERE key = %s", (META_SETUP,)).fetchone()
    return int(row[0]) if row is not None and str(row[0]).isdigit() else 1


def setup_warning(recorded: int) -> str | None:
    """What to tell about a team store whose setup is older than this release's (None: current)."""
    if recorded >= SETUP:
        return None
    return (
        f"team init last ran on this store with an older Mahavishnu (setup {recorded}, this release "
        f"sets up {SETUP}): members may be refused what this release does"
    )


#: What the owner runs; ``init`` only puts back what is missing, rows and roles are kept.
SETUP_FIX = "Its owner runs `mahavishnu team init --dsn OWNER_DSN` again (safe: it keeps every row and role)."


def init(
    dsn: str,
    *,
    embedder: str | None = None,
    dimension: int | None = None,
    member_rows: int | None = None,
    member_bytes: int | None = None,
    member_connections: int | None = None,
) -> InitReport:
    """Migrate the store at ``dsn`` and make it a team's (see the module's docstring). ``embedder``
    and ``dimension``: recorded as the team's vector space when the store has none yet;
    ``member_rows``, ``member_bytes``: what each member may write (``quota``), ``member_connections``:
    the connections each may hold (``connections``); None: as recorded, else the defaults; 0: no
    limit."""
    backend = PostgresBackend(dsn, migrate=False)
    try:
        migrated = tuple(backend.migrate())
    finally:
        backend.close()
    with connect(dsn) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_INIT_LOCK,))
        owner, superuser, database, owns, tables_owner = conn.execute(
            "SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), "
            "current_database(), pg_has_role(relowner, 'USAGE'), pg_get_userbyid(relowner) "
            "FROM pg_class WHERE oid = 'memories'::regclass"
        ).fetchone()  # type: ignore[misc]
        if not owns:
            raise MigrationError(
                f"{owner} does not own the store's tables at {dsn_location(dsn)}",
                hint="Run `mahavishnu team init` as the role that owns them (the one that made the store).",
            )
        group = team_group(conn) or group_name(str(database))
        try:
            _nologin_role(conn, group)
            _grants(conn, group, str(database))
            protected = _row_level_security(conn)
            kept_statistics = _private_statistics(conn, bool(superuser))
            _maintenance_policy(conn, str(owner))
            _backup_policy(conn, str(owner))
            _profiles_owner_policy(conn, str(owner))
            _search_functions(conn, group, str(database), str(owner))
            bounds.put_in_place(conn, _WRITTEN)
            quota.put_in_place(conn, group, member_rows=member_rows, member_bytes=member_bytes)
            most_connections = connections.put_in_place(conn, group, member_connections)
            advisory_locks = advisory.put_in_place(conn, group, str(tables_owner), bool(superuser))
            temp_limit = temp_files.put_in_place(conn, str(database), str(tables_owner), bool(superuser))
            _record(conn, group, embedder, dimension)
        except _privilege_errors() as exc:
            raise StoreError(
                f"team init on {dsn_location(dsn)}: {masked(dsn, str(exc).strip())}",
                hint="Run it as a role with CREATEROLE that owns the store's tables (or as a superuser).",
            ) from exc
        space = conn.execute("SELECT key, value FROM meta WHERE key IN ('embedder', 'dimension')").fetchall()
        public = _public_database_rights(conn)
        large_objects = _large_objects_made(conn, bool(superuser))
        member_limits = quota.limits(conn)
        server_room = connections.server_room(conn)
    with connect(dsn) as conn:
        trusted = tuple(logins.trusted_paths(conn, dsn, group))
        oversized = bounds.oversized(conn, _WRITTEN, _ROW_NAMES)
    recorded = {str(k): str(v) for k, v in space}
    warnings: tuple[str, ...] = ()
    if superuser:
        warnings = (
            f"{owner} is a superuser: the database enforces nothing on it, so its own use of the store sees "
            "every member's rows; use the store as a member (`mahavishnu team add NAME`, then `team join`)",
        )
    if kept_statistics:
        warnings += (
            f"ANALYZE's statistics of {', '.join(kept_statistics)} gathered before stay (PostgreSQL "
            "before 18 lets no table owner clear them), and a member's EXPLAIN can read private text "
            "back from them: run `team init` once as a superuser (it clears them); none are gathered "
            "from now on",
        )
    if public:
        warnings += (
            f"every role on the server may still {' and '.join(public)}, database {database} "
            f"(PUBLIC's rights: team init revokes them only as the database's owner, and {owner} is not); "
            "its owner runs "
            f"`REVOKE CONNECT, TEMPORARY ON DATABASE {database} FROM PUBLIC; "
            f"GRANT CONNECT ON DATABASE {database} TO {group}, {owner}`",
        )
    if large_objects:
        warnings += (
            f"every role may still make large objects in database {database}, which no member's quota "
            "counts (a member filled the disk with `SELECT lo_from_bytea(…)`); a superuser runs "
            f"`{large_objects}` in it (or `team init` as one)",
        )
    if oversized:
        warnings += (oversized,)
    if advisory_locks:
        warnings += (
            f"every role may still take advisory locks in database {database} without bound, and one "
            "member's `SELECT pg_advisory_lock(i) FROM generate_series(1, 2000000) AS i` leaves nobody "
            f"able to connect to the server until their session ends; a superuser runs `{advisory_locks}` "
            "in it (or `team init` as one)",
        )
    if temp_limit:
        warnings += (
            f"every session in database {database} may still write temporary files without bound, and one "
            "member's sort spilling to disk (`SET work_mem = '64kB'; SELECT g FROM generate_series(1, 1e12) "
            f"AS g ORDER BY g DESC`) fills the server's disk for everyone; a superuser runs `{temp_limit}` "
            "(or `team init` as one)",
        )
    if not most_connections or most_connections >= server_room:
        warnings += (
            f"one member may still take all {server_room} connections the server has for roles that are "
            "not superusers, and no other member could connect: give them fewer "
            f"(--member-connections, e.g. {connections.MEMBER_CONNECTIONS})",
        )
    return InitReport(
        dsn_location(dsn),
        group,
        str(owner),
        bool(superuser),
        migrated,
        protected,
        recorded.get("embedder"),
        int(recorded["dimension"]) if recorded.get("dimension") else None,
        warnings,
        trusted,
        member_limits,
        most_connections,
    )


def _privilege_errors() -> tuple[type[Exception], ...]:
    import psycopg

    return (psycopg.errors.InsufficientPrivilege,)


def _nologin_role(conn: psycopg.Connection[Any], name: str, *, inherit: bool = True) -> None:
    """``name`` made a role that cannot log in nor has any power of its own, unless it exists."""
    from psycopg import sql

    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is None:
        create = (
            "CREATE ROLE {} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"
            if inherit
            else "CREATE ROLE {} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOBYPASSRLS"
        )
        conn.execute(sql.SQL(create).format(sql.Identifier(name)))


def _grants(conn: psycopg.Connection[Any], group: str, database: str) -> None:
    """Only the group connects; its members get row rights, never DDL nor ownership."""
    from psycopg import sql

    g, db, path = sql.Identifier(group), sql.Identifier(database), sql.SQL(writes.SEARCH_PATH)
    owns_database = conn.execute(
        "SELECT pg_has_role(datdba, 'USAGE') FROM pg_database WHERE datname = current_database()"
    ).fetchone()[0]  # type: ignore[index]
    statements: list[sql.SQL | sql.Composed] = []
    if owns_database:
        statements += [
            sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(db),
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, g),
        ]
    tables = _WRITTEN
    read = sql.SQL(", ").join(sql.Identifier(t) for t in READ_ONLY_TABLES)
    statements += [
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(g),
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC"),
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(g),
        sql.SQL("GRANT SELECT ON {} TO {}").format(read, g),
        sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {}").format(g),
        # The reembed trigger clears a staged vector when a member edits a memory: it runs as the
        # owner, so members need no right on the staging table. It and the audit's trigger name
        # ``pg_temp`` last in their search_path (``writes.SEARCH_PATH``).
        sql.SQL("ALTER FUNCTION embedding_staging_unstage() SECURITY DEFINER"),
        *(
            sql.SQL("ALTER FUNCTION {} SET search_path = {}").format(sql.SQL(f), path)  # type: ignore[arg-type]
            for f in ("embedding_staging_unstage()", "team_audit_record()")
        ),
        sql.SQL("REVOKE ALL ON FUNCTION embedding_staging_unstage(), team_audit_record() FROM PUBLIC"),
    ]
    for statement in statements:
        conn.execute(statement)
    # no table-level UPDATE/DELETE: no LOCK TABLE (``writes``)
    writes.grant_rows(conn, group, tables, _UNREAD)


def _public_database_rights(conn: psycopg.Connection[Any]) -> list[str]:
    """What every role on the server may still do in this database (PUBLIC's ``CONNECT``, and
    ``TEMPORARY``: temporary tables, views and functions), which ``_grants`` revokes only as the
    database's owner: "connect to it", "make temporary objects in it"; empty once revoked."""
    said = {"CONNECT": "connect to it", "TEMPORARY": "make temporary objects in it"}
    return [
        words
        for right, words in said.items()
        if conn.execute(
            "SELECT has_database_privilege('public', current_database(), %s)", (right,)
        ).fetchone()[0]  # type: ignore[index]
    ]


#: The functions that make or write a large object (``pg_largeobject``, which no table's quota
#: counts), EXECUTE granted to PUBLIC by PostgreSQL; only a superuser can revoke it.
LARGE_OBJECT_WRITES = (
    "lo_create(oid)",
    "lo_creat(integer)",
    "lo_from_bytea(oid, bytea)",
    "lo_put(oid, bigint, bytea)",
    "lowrite(integer, bytea)",
)
REVOKE_LARGE_OBJECTS = (
    f"REVOKE EXECUTE ON FUNCTION {', '.join(f'pg_catalog.{f}' for f in LARGE_OBJECT_WRITES)} FROM PUBLIC"
)


def _large_objects_made(conn: psycopg.Connection[Any], superuser: bool) -> str:
    """Revokes PUBLIC's right to make and write large objects as a superuser; else the statement a
    superuser runs for it while any role still has that right ("" once none has)."""
    granted = [
        f
        for f in LARGE_OBJECT_WRITES
        if conn.execute(
            "SELECT has_function_privilege('public', %s, 'EXECUTE')", (f"pg_catalog.{f}",)
        ).fetchone()[0]  # type: ignore[index]
    ]
    if granted and superuser:
        conn.execute(REVOKE_LARGE_OBJECTS.encode())
        return ""
    return REVOKE_LARGE_OBJECTS if granted else ""


def _row_level_security(conn: psycopg.Connection[Any]) -> tuple[str, ...]:
    """Policies (replaced whole each run), enabled and forced on every table holding memory or activity."""
    from psycopg import sql

    def written(table: str) -> str:
        return f"{_MINE} AND ({_LINKS_MINE})" if table in _LINKED else _MINE

    policies: dict[str, list[tuple[str, str, str | None, str | None]]] = {
        table: [
            ("team_read", "SELECT", _VISIBLE, None),
            ("team_insert", "INSERT", None, written(table)),
            ("team_update", "UPDATE", _MINE, written(table)),
            ("team_delete", "DELETE", _MINE, None),
        ]
        for table in OWNED_TABLES
    }
    policies[_SHARES] = [
        ("team_read", "SELECT", f"{_MINE} OR {_MEMORY_VISIBLE}", None),
        ("team_insert", "INSERT", None, f"{_MINE} AND {_MEMORY_VISIBLE}"),
        ("team_update", "UPDATE", _MINE, f"{_MINE} AND {_MEMORY_VISIBLE}"),
        ("team_delete", "DELETE", _MINE, None),
    ]
    policies[PROFILES_TABLE] = [
        ("team_read", "SELECT", "true", None),
        ("team_insert", "INSERT", None, _PUSHED_BY_ME),
        ("team_update", "UPDATE", _PUSHED_BY_ME, _PUSHED_BY_ME),
        ("team_delete", "DELETE", _PUSHED_BY_ME, None),
    ]
    for table, rules in policies.items():
        name = sql.Identifier(table)
        for policy, command, using, check in rules:
            conn.execute(sql.SQL("DROP POLICY IF EXISTS {} ON {}").format(sql.Identifier(policy), name))
            text = f"CREATE POLICY {policy} ON {table} FOR {command}"
            text += f" USING ({using})" if using else ""
            text += f" WITH CHECK ({check})" if check else ""
            conn.execute(text)  # type: ignore[arg-type]  # literal SQL of this module
        conn.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(name))
        conn.execute(sql.SQL("ALTER TABLE {} FORCE ROW LEVEL SECURITY").format(name))
    return tuple(policies)


def _private_statistics(conn: psycopg.Connection[Any], superuser: bool) -> list[str]:
    """No statistics of what members write (``_PLANNED_COLUMNS``): ANALYZE gathers none on the
    protected tables' other columns nor on their indexes' expressions, and those gathered before are
    cleared (``pg_clear_attribute_stats``, PostgreSQL 18; a superuser deletes them itself). The
    columns still holding old statistics that could not be cleared ("table.column")."""
    from psycopg import sql

    tables = [*OWNED_TABLES, _SHARES]
    columns = conn.execute(
        "SELECT c.relname, a.attname, a.attnum, coalesce(a.attstattarget, -1) <> 0, "
        "c.relkind = 'i' FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid "
        "LEFT JOIN pg_index AS i ON i.indexrelid = c.oid "
        "WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped "
        "AND (c.relname = ANY(%s) AND c.relkind IN ('r', 'p') AND NOT (a.attname = ANY(%s)) "
        "OR i.indrelid = ANY(SELECT oid FROM pg_class WHERE relname = ANY(%s) "
        "AND relnamespace = 'public'::regnamespace) AND i.indkey[a.attnum - 1] = 0) "
        "ORDER BY c.relkind, c.relname, a.attnum",
        (tables, sorted(_PLANNED_COLUMNS), tables),
    ).fetchall()
    clear = conn.execute(
        "SELECT to_regprocedure('pg_clear_attribute_stats(text, text, text, boolean)') IS NOT NULL"
    ).fetchone()[0]  # type: ignore[index]
    kept: list[str] = []
    for relation, column, number, gathers, index in columns:
        name = sql.Identifier(str(relation))
        if gathers:
            if index:  # an index's expression column is named by its number
                statement = sql.SQL("ALTER INDEX {} ALTER COLUMN {} SET STATISTICS 0").format(
                    name, sql.Literal(int(number))
                )
            else:
                statement = sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET STATISTICS 0").format(
                    name, sql.Identifier(str(column))
                )
            conn.execute(statement)
        if clear:
            conn.execute(
                "SELECT pg_clear_attribute_stats('public', %s, %s, inherited) "
                "FROM (VALUES (false), (true)) AS v (inherited)",
                (str(relation), str(column)),
            )
        elif superuser:
            conn.execute(
                "DELETE FROM pg_statistic WHERE starelid = %s::regclass AND staattnum = %s",
                (f"public.{relation}", int(number)),
            )
        elif not index:
            kept.append(f"{relation}.{column}")
    return _still_gathered(conn, kept) if kept else []


def _still_gathered(conn: psycopg.Connection[Any], columns: list[str]) -> list[str]:
    """Which of ``columns`` ("table.column") hold statistics: ``pg_stats`` shows a table's only
    while row-level security does not bind the reader, so it is lifted for the look (in this
    transaction: ``_row_level_security`` forced it and the commit keeps it forced)."""
    from psycopg import sql

    found: list[str] = []
    for table in dict.fromkeys(c.partition(".")[0] for c in columns):
        name = sql.Identifier(table)
        conn.execute(sql.SQL("ALTER TABLE {} NO FORCE ROW LEVEL SECURITY").format(name))
        rows = conn.execute(
            "SELECT attname FROM pg_stats WHERE schemaname = 'public' AND tablename = %s "
            "AND attname = ANY(%s)",
            (table, [c.partition(".")[2] for c in columns if c.startswith(f"{table}.")]),
        ).fetchall()
        conn.execute(sql.SQL("ALTER TABLE {} FORCE ROW LEVEL SECURITY").format(name))
        found += [f"{table}.{column}" for (column,) in rows]
    return found


def _maintenance_policy(conn: psycopg.Connection[Any], owner: str) -> None:
    """``team_maintain`` on ``memories``: every row, for the owner's reembed only (module docstring)."""
    from psycopg import sql

    conn.execute("DROP POLICY IF EXISTS team_maintain ON memories")
    conn.execute(
        sql.SQL(
            "CREATE POLICY team_maintain ON memories FOR ALL TO {} "
            "USING (session_user = {} AND current_setting({}, true) = 'reembed') "
            "WITH CHECK (session_user = {} AND current_setting({}, true) = 'reembed')"
        ).format(
            sql.Identifier(owner),
            sql.Literal(owner),
            sql.Literal(MAINTENANCE_SETTING),
            sql.Literal(owner),
            sql.Literal(MAINTENANCE_SETTING),
        )
    )


def _backup_policy(conn: psycopg.Connection[Any], owner: str) -> None:
    """``team_backup`` on every table under row-level security: the owner's ``db backup`` (pg_dump
    logged in as the owner, with ``mahavishnu.maintenance = 'backup'``) reads every row, as the
    owner's reembed does through ``team_maintain``; reading only. The owner could lift the forced
    row-level security of tables it owns anyway: this is against accidents, not against the owner."""
    from psycopg import sql

    for table in (*OWNED_TABLES, _SHARES):
        name = sql.Identifier(table)
        conn.execute(sql.SQL("DROP POLICY IF EXISTS {} ON {}").format(sql.Identifier(BACKUP_POLICY), name))
        conn.execute(
            sql.SQL(
                "CREATE POLICY {} ON {} FOR SELECT TO {} "
                "USING (session_user = {} AND current_setting({}, true) = {})"
            ).format(
                sql.Identifier(BACKUP_POLICY),
                name,
                sql.Identifier(owner),
                sql.Literal(owner),
                sql.Literal(MAINTENANCE_SETTING),
                sql.Literal(BACKUP_MAINTENANCE),
            )
        )


def _profiles_owner_policy(conn: psycopg.Connection[Any], owner: str) -> None:
    """The tables' owner, logged in as itself, may remove any team profile (one a removed member
    pushed, say); it changes none (members' ``team_update`` binds it too)."""
    from psycopg import sql

    conn.execute(
        sql.SQL("DROP POLICY IF EXISTS team_owner_delete ON {}").format(sql.Identifier(PROFILES_TABLE))
    )
    conn.execute(
        sql.SQL("CREATE POLICY team_owner_delete ON {} FOR DELETE TO {} USING (session_user = {})").format(
            sql.Identifier(PROFILES_TABLE), sql.Identifier(owner), sql.Literal(owner)
        )
    )


def search_role_name(database: str) -> str:
    """The role owning ``team_text_matches`` in the team database ``database``."""
    return f"{database}_search"[:63]


#: What members write but read only through the search role's functions: a vector (``VECTORS``,
#: ``VECTOR_MATCHES`` in ``migrations/postgres.py`` say why).
_UNREAD = {"memories": "embedding"}
#: The search role's functions (``m012_team_text_matches``, ``m014_team_vector_matches``).
_SEARCH_FUNCTIONS = (f"{TEXT_MATCHES}(tsquery)", *VECTOR_FUNCTIONS)
#: What the search role may delete, and lock to (``UNSHARE_FUNCTION``, ``SWEEP_SHARES``): the shares
#: of a memory no longer stored. (Its ``FOR UPDATE … SKIP LOCKED`` needs UPDATE on a column.)
_GONE = "NOT EXISTS (SELECT 1 FROM memories AS m WHERE m.id = memory_id)"
#: pgvector's settings ``team_vector_matches`` runs with, not the caller's: its index scan goes on
#: until the top-k is full (or as far as pgvector's defaults let it, memory not the first limit
#: even at the least ``work_mem``). A caller's ``iterative_scan = off``, a ``max_scan_tuples`` or
#: ``max_probes`` of 1 or a ``work_mem`` of 64 kB made it stop after the hidden rows nearest the
#: query, and return fewer rows: how many told whether they were there.
_FULL_SCAN = (
    ("hnsw.iterative_scan", "relaxed_order"),
    ("hnsw.max_scan_tuples", "20000"),
    ("hnsw.scan_mem_multiplier", "1000"),
    ("ivfflat.iterative_scan", "relaxed_order"),
    ("ivfflat.max_probes", "32768"),
)
#: The columns of ``memories`` those functions read (the filters', the visibility rule's, the index's).
_SEARCHED_COLUMNS = (
    "id, content_tsv, owner_role, visibility, embedding, embedding_dim, memory_type, project, repo_id, "
    "agent_id, session_id, workflow_id, source_system, tags, created_at"
)


def _search_functions(conn: psycopg.Connection[Any], group: str, database: str, owner: str) -> None:
    """The text-search role (module docstring) and the functions it owns, executable by the group.
    To give a function away its owner must be able to become the new owner, which must be allowed to
    create in its schema: both only for this transaction's moment."""
    from psycopg import sql

    name = search_role_name(database)
    role, g = sql.Identifier(name), sql.Identifier(group)
    _nologin_role(conn, name, inherit=False)
    statements: list[sql.Composed | sql.SQL] = [
        sql.SQL("REVOKE ALL ON memories, insight_shares, project_group_members FROM {}").format(role),
        sql.SQL(f"GRANT SELECT ({_SEARCHED_COLUMNS}) ON memories TO {{}}").format(role),  # type: ignore[arg-type]
        sql.SQL(
            "GRANT SELECT (id, memory_id, project, via), UPDATE (memory_id), DELETE ON insight_shares TO {}"
        ).format(role),
        sql.SQL("GRANT SELECT (group_name, project) ON project_group_members TO {}").format(role),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role),
    ]
    for table in ("memories", _SHARES):
        statements += [
            sql.SQL("DROP POLICY IF EXISTS team_text_matches ON {}").format(sql.Identifier(table)),
            sql.SQL("CREATE POLICY team_text_matches ON {} FOR SELECT TO {} USING (true)").format(
                sql.Identifier(table), role
            ),
        ]
    statements += [
        sql.SQL("DROP POLICY IF EXISTS team_unshare ON {}").format(sql.Identifier(_SHARES)),
        sql.SQL(f"CREATE POLICY team_unshare ON {{}} FOR ALL TO {{}} USING ({_GONE})").format(  # type: ignore[arg-type]
            sql.Identifier(_SHARES), role
        ),
    ]
    for statement in statements:
        conn.execute(statement)
    me = sql.Identifier(owner)
    version = int(conn.execute("SELECT current_setting('server_version_num')").fetchone()[0])  # type: ignore[index]
    # PostgreSQL 16 grants a membership's SET and INHERIT separately; before, a plain membership
    grant = "GRANT {} TO {} WITH INHERIT FALSE, SET TRUE" if version >= 160000 else "GRANT {} TO {}"
    owning: list[sql.Composed | sql.SQL] = [sql.SQL(grant).format(role, me)]
    given = [f for f in (*_SEARCH_FUNCTIONS, UNSHARE_FUNCTION) if not _owned_by(conn, f, name)]
    if given:
        owning.append(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(role))
        owning += [sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(sql.SQL(f), role) for f in given]  # type: ignore[arg-type]
        owning.append(sql.SQL("REVOKE CREATE ON SCHEMA public FROM {}").format(role))
    owning.append(sql.SQL("SET LOCAL ROLE {}").format(role))
    # pgvector's library loaded, so its settings are known (a placeholder's only a superuser sets)
    owning.append(sql.SQL("SELECT public.vector_dims('[1]'::public.vector)"))
    for signature in _SEARCH_FUNCTIONS:  # the rights, given by their owner once they are the role's
        function = sql.SQL(signature)  # type: ignore[arg-type]  # constants
        owning += [
            sql.SQL("ALTER FUNCTION {} SET search_path = {}").format(function, sql.SQL(writes.SEARCH_PATH)),
            sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(function),
            sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}, {}").format(function, g, me),
        ]
        if signature == VECTOR_FUNCTIONS[0]:
            owning += [
                sql.SQL("ALTER FUNCTION {} SET {} = {}").format(
                    function, sql.SQL(setting), sql.Literal(value)
                )  # type: ignore[arg-type]
                for setting, value in _FULL_SCAN
            ]
    unshare = sql.SQL(UNSHARE_FUNCTION)  # type: ignore[arg-type]  # a constant
    owning += [
        sql.SQL("ALTER FUNCTION {} SET search_path = {}").format(unshare, sql.SQL(writes.SEARCH_PATH)),
        sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(unshare),
        sql.SQL(SWEEP_SHARES),  # type: ignore[arg-type]  # those a delete left (locked), or before init
        sql.SQL("RESET ROLE"),
        sql.SQL("REVOKE {} FROM {}").format(role, me),
    ]
    for statement in owning:
        conn.execute(statement)


def _owned_by(conn: psycopg.Connection[Any], signature: str, role: str) -> bool:
    found = conn.execute(
        "SELECT pg_get_userbyid(proowner) = %s FROM pg_proc WHERE oid = %s::regprocedure", (role, signature)
    ).fetchone()
    return bool(found and found[0])


def _record(conn: psycopg.Connection[Any], group: str, embedder: str | None, dimension: int | None) -> None:
    upsert = "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING"
    replace = upsert.replace("DO NOTHING", "DO UPDATE SET value = excluded.value")
    conn.execute(replace, (META_GROUP, group))
    conn.execute(replace, (META_SETUP, str(SETUP)))
    if embedder and dimension:
        conn.execute(upsert, ("embedder", embedder))
        conn.execute(upsert, ("dimension", str(dimension)))


def protected_tables(conn: psycopg.Connection[Any]) -> dict[str, bool]:
    """Each table that should be under row-level security: whether it is, enabled and forced."""
    tables = [*OWNED_TABLES, _SHARES, PROFILES_TABLE]
    rows = conn.execute(
        "SELECT relname, relrowsecurity AND relforcerowsecurity FROM pg_class "
        "WHERE relname = ANY(%s) AND relnamespace = 'public'::regnamespace",
        (tables,),
    ).fetchall()
    found = {str(name): bool(on) for name, on in rows}
    return {table: found.get(table, False) for table in tables}
