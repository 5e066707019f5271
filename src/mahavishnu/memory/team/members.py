"""The team's members: login roles in the group ``team init`` made, and the one-time join strings
that bring a member's machine in.

A join string carries where the store is (host, port, database), the member's role and a password
meant for one use: ``team join`` replaces it at once with one only the member's machine knows
(``ALTER ROLE … PASSWORD``, sent hashed with SCRAM), so the string is worth nothing afterwards.
Passwords are always sent hashed (libpq's ``PQencryptPasswordConn``), never as text a server log
could keep.

A removed member loses the group (so every right on the store at once) and the login; the role
stays, so the memories they shared stay, attributed to them, and a member added again under the
same name gets their own rows back.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mahavishnu.errors import InvalidInputError, NotFoundError, StoreError
from mahavishnu.json_types import JSONObject
from mahavishnu.memory.core.backends.postgres import connect, dsn_location, host_problem
from mahavishnu.memory.team import connections, logins, quota
from mahavishnu.memory.team.schema import team_group

if TYPE_CHECKING:
    import psycopg

JOIN_PREFIX = "mvteam1."
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: Role names PostgreSQL keeps for itself (CREATE or ALTER ROLE of them fails).
_RESERVED = ("public", "none")


def _is_port(text: str) -> bool:
    """Whether ``text`` is a port number, 1 to 65535 (its length first: ``int()`` refuses 4,300 digits)."""
    return len(text) <= 5 and text.isascii() and text.isdigit() and 0 < int(text) < 65536


def default_sslmode(host: str) -> str:
    """``verify-full`` for a server reached over a network: the member's libpq checks that the server
    holds a certificate for ``host`` signed by an authority their machine trusts, so nobody on the
    way can read or change what they store, nor pose as the store; a socket or loopback address never
    leaves the machine (``prefer``)."""
    return "prefer" if all(_on_this_machine(h) for h in host.split(",")) else "verify-full"


def _on_this_machine(host: str) -> bool:
    import ipaddress

    if not host or host.startswith(("/", "@")) or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: The sslmode values that check the server's certificate (the others trust whoever answers).
VERIFYING = ("verify-full", "verify-ca")


@dataclass(frozen=True, slots=True)
class JoinString:
    """Where to connect and as whom; ``password`` is a secret (shown once, to the owner).

    Signed: ``mac``, an HMAC-SHA256 of every other field keyed with the one-time password, so a string
    whose host, port, database, user or sslmode was edited after the owner made it is refused. It
    cannot stop whoever holds the whole string (the key is in it): what stops a server posing as the
    store is ``sslmode`` ``verify-full`` (``default_sslmode``), which the string carries and the
    member's settings keep."""

    host: str
    port: str
    database: str
    user: str
    password: str
    sslmode: str = ""  # empty: ``default_sslmode(host)``

    @property
    def ssl(self) -> str:
        return self.sslmode or default_sslmode(self.host)

    @property
    def verifies_server(self) -> bool:
        return self.ssl in VERIFYING or all(_on_this_machine(h) for h in self.host.split(","))

    def mac(self) -> str:
        fields = json.dumps([self.host, self.port, self.database, self.user, self.ssl], separators=(",", ":"))
        return hmac.new(self.password.encode(), fields.encode(), hashlib.sha256).hexdigest()

    def encode(self) -> str:
        data = {
            "h": self.host,
            "p": self.port,
            "d": self.database,
            "u": self.user,
            "pw": self.password,
            "s": self.ssl,
            "m": self.mac(),
        }
        raw = json.dumps(data, separators=(",", ":")).encode()
        return JOIN_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> JoinString:
        """A join string; anything else is refused without being echoed (it may hold a secret)."""
        text = text.strip()
        if not text.startswith(JOIN_PREFIX):
            raise InvalidInputError(
                "that is not a Mahavishnu join string (it starts with 'mvteam1.')",
                hint="Ask the team's owner for one: `mahavishnu team add YOUR_NAME` prints it.",
            )
        body = text[len(JOIN_PREFIX) :]
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            fields = (str(data[k]) for k in ("h", "p", "d", "u", "pw", "s"))
            ticket, mac = cls(*fields), str(data["m"])
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise InvalidInputError(
                "the join string is damaged (cut short when copied?), or was made by an older version",
                hint="Copy it again whole, or ask the owner for a new one (`mahavishnu team add NAME`).",
            ) from None
        if not hmac.compare_digest(mac, ticket.mac()):
            raise InvalidInputError(
                "the join string was changed after the owner made it (its signature does not match)",
                hint="Do not use it: ask the owner for a new one (`mahavishnu team add NAME`), over a "
                "channel you trust.",
            )
        problem = host_problem(ticket.host)
        if problem:
            raise InvalidInputError(
                f"the join string names no usable server: {problem}",
                hint="Ask the owner for a new one (`mahavishnu team add NAME --host HOST`).",
            )
        return ticket

    def dsn(self, *, with_password: bool = True) -> str:
        from psycopg.conninfo import make_conninfo

        password = {"password": self.password} if with_password else {}
        return make_conninfo(
            host=self.host, port=self.port, dbname=self.database, user=self.user, sslmode=self.ssl, **password
        )


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    current: bool  # False: removed (their shared memories stay)
    shared: int
    #: What they have written (``quota``'s count: rows, bytes); None where the reader may not see it
    #: (a member sees only their own) or the store has no quota yet.
    written: tuple[int, int] | None = None

    def to_dict(self) -> JSONObject:
        rows, size = self.written if self.written else (None, None)
        said: JSONObject = {"name": self.name, "current": self.current, "shared": self.shared}
        return {**said, "rows": rows, "bytes": size}


def check_member_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInputError(
            f"{name!r} cannot name a member",
            hint="Use lowercase letters, digits and _ (at most 63, not starting with a digit), e.g. alice.",
        )
    if name.startswith("pg_") or name in _RESERVED:
        raise InvalidInputError(
            f"{name!r} cannot name a member: PostgreSQL reserves it (pg_…, public, none)",
            hint="Pick another name, e.g. alice.",
        )
    return name


def hashed_password(conn: psycopg.Connection[Any], user: str, password: str) -> str:
    """``password`` as the SCRAM verifier the server stores (computed here, never sent as text)."""
    return conn.pgconn.encrypt_password(password.encode(), user.encode(), b"scram-sha-256").decode()


def require_tables(conn: psycopg.Connection[Any], dsn: str) -> None:
    """The store's tables are on this connection's ``search_path``: a DSN whose options set it
    elsewhere (``-csearch_path=…``, or ``PGOPTIONS``) finds none of them, said in one line (it was
    psycopg's UndefinedTable traceback), naming the schema that holds them."""
    if conn.execute("SELECT to_regclass('memories')").fetchone()[0] is not None:  # type: ignore[index]
        return
    path, schema = conn.execute(
        "SELECT current_setting('search_path'), (SELECT n.nspname FROM pg_class AS c "
        "JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.relname = 'memories' "
        "AND c.relkind IN ('r', 'p') ORDER BY 1 LIMIT 1)"
    ).fetchone()  # type: ignore[misc]
    if schema is None:
        raise NotFoundError(
            f"{dsn_location(dsn)} holds no Mahavishnu store",
            hint="Check the database name in the DSN (`mahavishnu team init --dsn DSN` makes a store).",
        )
    raise StoreError(
        f"the store's tables at {dsn_location(dsn)} are in schema {schema}, which is not on this "
        f"connection's search_path ({path})",
        hint=f"Remove search_path from the DSN's options (or PGOPTIONS), or put {schema} on it.",
    )


def require_group(conn: psycopg.Connection[Any], dsn: str) -> str:
    require_tables(conn, dsn)
    group = team_group(conn)
    if group is None:
        raise NotFoundError(
            f"{dsn_location(dsn)} is not a team store",
            hint="Its owner makes it one with `mahavishnu team init --dsn DSN`.",
        )
    return group


def add(
    dsn: str,
    name: str,
    *,
    host: str | None = None,
    port: str | None = None,
    insecure: bool = False,
    returning: bool = False,
) -> JoinString:
    """Create (or bring back) member ``name``: a login role in the team's group with a fresh
    one-time password; the join string for it. ``host``/``port``: where members reach the store
    (a PgBouncer, a LAN address) when not where ``dsn`` points. ``insecure``: the string does not
    make the member's machine verify the server's certificate (``sslmode=prefer``, not
    ``verify-full``): for a server without TLS, said loudly by the CLI. A removed member who wrote
    rows comes back only ``returning``: their private memories are theirs again, and a name reused
    for someone new would hand those to them."""
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    check_member_name(name)
    if host and (problem := host_problem(host)):
        raise InvalidInputError(f"--host: {problem}", hint="Give the address members reach the store at.")
    if host and any(c.isspace() or not c.isprintable() for c in host):  # no host name holds these
        raise InvalidInputError(
            f"--host {host!r} is not a host name", hint="Give the address members reach the store at."
        )
    if port and not all(_is_port(p) for p in port.split(",")):
        raise InvalidInputError(
            f"--port {port[:20]!r} is not a port number",
            hint="Give the port members connect to, 1 to 65535 (one per --host, comma-separated).",
        )
    password = secrets.token_urlsafe(24)
    with _owners(dsn), connect(dsn) as conn, conn.transaction():
        group = require_group(conn, dsn)
        if name == group:  # (granting a role to itself fails, after the ALTER ROLE)
            raise InvalidInputError(
                f"{name} is the team's group role, not a member's", hint="Pick another name, e.g. alice."
            )
        role = conn.execute(
            "SELECT rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb OR rolreplication, "
            "rolname = current_user FROM pg_roles WHERE rolname = %s",
            (name,),
        ).fetchone()
        if role is not None and (role[0] or role[1]):
            raise InvalidInputError(
                f"the role {name} has rights a member must not have (superuser, BYPASSRLS, CREATEROLE, "
                "CREATEDB or REPLICATION) or is yours",
                hint="Members are plain login roles: pick another name.",
            )
        if role is not None and not returning and not _in_group(conn, name, group):
            _refuse_a_former_member(conn, name)
        verifier = sql.Literal(hashed_password(conn, name, password))
        ident = sql.Identifier(name)
        if role is None:
            conn.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS "
                    "NOREPLICATION INHERIT"
                ).format(ident, verifier)
            )
        else:
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(ident, verifier))
        if not _in_group(conn, name, group):
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), ident))
        connections.give(conn, name, connections.limit(conn))  # one member cannot take every connection
        # Where members connect, read while the connection is open: a DSN may name no host or
        # port (a socket directory, a service file, libpq's defaults); several hosts stay as given.
        params = conninfo_to_dict(dsn)
        return JoinString(
            host or str(params.get("host") or params.get("hostaddr") or conn.info.host),
            port or str(params.get("port") or conn.info.port),
            str(params.get("dbname") or conn.info.dbname),
            name,
            password,
            "prefer" if insecure else "",
        )


def _refuse_a_former_member(conn: psycopg.Connection[Any], name: str) -> None:
    """``name`` was a member, removed, whose rows are still in the store (``team_usage``)."""
    written = (quota.counts(conn) or {}).get(name)
    if written is None or written[0] <= 0:
        return
    raise InvalidInputError(
        f"{name} was a member of this team and was removed; the private memories they wrote are still "
        f"here, and adding {name} gives them to whoever joins as {name}",
        hint=f"The same person coming back: `mahavishnu team add {name} --returning`; someone new: another "
        "name.",
    )


def _in_group(conn: psycopg.Connection[Any], name: str, group: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_auth_members AS a JOIN pg_roles AS g ON g.oid = a.roleid "
        "JOIN pg_roles AS m ON m.oid = a.member WHERE g.rolname = %s AND m.rolname = %s "
        f"AND {connections.PLAIN}",
        (group, name),
    ).fetchone()
    return row is not None


@dataclass(frozen=True, slots=True)
class Removed:
    """What ``remove`` did: how many memories the member had shared (they stay), and how many of
    their sessions are still open (0: all ended; -1: unknown), which a superuser ends."""

    shared: int
    sessions_left: int


def remove(dsn: str, name: str) -> Removed:
    """Take member ``name`` out of the group and disable their login; their shared memories stay."""
    from psycopg import sql

    check_member_name(name)
    with _owners(dsn), connect(dsn) as conn, conn.transaction():
        group = require_group(conn, dsn)
        if not _in_group(conn, name, group):
            raise NotFoundError(f"{name} is not a member", hint="`mahavishnu team members` lists them.")
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(group), ident))
        # NOLOGIN refuses every login of the role, whatever its password; its password stays, so a
        # removed member's machine (which has it) hears "not permitted to log in", not a wrong password.
        conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(ident))
        shared = conn.execute(
            "SELECT count(*) FROM memories WHERE owner_role = %s AND visibility = 'team'", (name,)
        ).fetchone()
    # Once that is committed (no new login gets past NOLOGIN), the sessions they still have end: one
    # that had run ``SET ROLE <group>`` kept the group's rights (PostgreSQL checks a membership
    # when a role is set, not afterwards), reading every shared memory for as long as it stayed.
    return Removed(int(shared[0]) if shared else 0, end_sessions(dsn, name))


def end_sessions(dsn: str, name: str) -> int:
    """End every session of the role ``name`` on this database; how many could not be ended (-1:
    unknown). Ending
    another role's session takes that role's privileges: the owner, which ``team add`` made the
    role's administrator, takes its membership (INHERIT, never SET) for this one transaction."""
    import psycopg
    from psycopg import sql

    ident = sql.Identifier(name)
    sessions = (
        "SELECT pid FROM pg_stat_activity WHERE usename = %s AND datname = current_database() "
        "AND pid <> pg_backend_pid()"
    )
    with connect(dsn) as conn:
        try:
            with conn.transaction():
                member, version = conn.execute(
                    "SELECT pg_has_role(current_user, %s, 'USAGE'), "
                    "current_setting('server_version_num')::int",
                    (name,),
                ).fetchone()  # type: ignore[misc]
                if not member:
                    grant = "GRANT {} TO CURRENT_USER" + (
                        " WITH INHERIT TRUE, SET FALSE" if version >= 160000 else ""
                    )
                    conn.execute(sql.SQL(grant).format(ident))  # type: ignore[arg-type]  # constants
                wait = ", 5000" if version >= 140000 else ""  # ms for each to be gone (14+)
                conn.execute(
                    f"SELECT pg_terminate_backend(pid{wait}) FROM ({sessions}) AS s",  # type: ignore[arg-type]
                    (name,),
                )
                if not member:
                    conn.execute(sql.SQL("REVOKE {} FROM CURRENT_USER").format(ident))
        except psycopg.Error:  # no right to (an owner not the role's administrator), a lock: said
            pass
        try:
            return len(conn.execute(sessions, (name,)).fetchall())
        except psycopg.Error:
            return -1


def members(dsn: str) -> list[Member]:
    """The group's roles, and removed members whose shared memories stay, with how many memories
    each shares with the team."""
    with connect(dsn) as conn:
        group = require_group(conn, dsn)
        written = quota.counts(conn) or {}
        rows = conn.execute(
            "WITH current AS (SELECT m.rolname FROM pg_auth_members AS a "
            "JOIN pg_roles AS g ON g.oid = a.roleid JOIN pg_roles AS m ON m.oid = a.member "
            f"WHERE g.rolname = %s AND {connections.PLAIN}), "
            "shared AS (SELECT owner_role, count(*) AS n FROM memories WHERE visibility = 'team' GROUP BY 1) "
            "SELECT coalesce(c.rolname, s.owner_role), c.rolname IS NOT NULL, coalesce(s.n, 0) "
            "FROM current AS c FULL JOIN shared AS s ON s.owner_role = c.rolname ORDER BY 1",
            (group,),
        ).fetchall()
    return [Member(str(n), bool(current), int(shared), written.get(str(n))) for n, current, shared in rows]


def status(dsn: str) -> JSONObject:
    """Who this connection is in the team, what it sees, and whether the database enforces privacy."""
    from mahavishnu.memory.team.schema import SETUP, protected_tables, setup_of

    with connect(dsn) as conn:
        require_tables(conn, dsn)
        group = team_group(conn)
        me, superuser, most = conn.execute(
            "SELECT current_user, rolsuper, rolconnlimit FROM pg_roles WHERE rolname = current_user"
        ).fetchone()  # type: ignore[misc]
        counts = conn.execute(
            "SELECT count(*) FILTER (WHERE owner_role = current_user AND visibility = 'private'), "
            "count(*) FILTER (WHERE owner_role = current_user AND visibility = 'team'), "
            "count(*) FILTER (WHERE owner_role <> current_user) FROM memories"
        ).fetchone()
        meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('embedder', 'dimension')"))
        member = group is not None and bool(
            conn.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (group,)).fetchone()[0]  # type: ignore[index]
        )
        protected = protected_tables(conn) if group is not None else {}
        open_now = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE usename = current_user AND datname = current_database()"
        ).fetchone()
        trusted = logins.trusted_paths(conn, dsn, group) if group is not None else []
        setup = setup_of(conn) if group is not None else None
        used = quota.usage(conn) if group is not None else None
    private, shared, others = (int(c) for c in counts) if counts else (0, 0, 0)
    return {
        "location": dsn_location(dsn),
        "team": group is not None,
        "group": group,
        "role": str(me),
        "member": member,
        "superuser": bool(superuser),
        "memories": {"private": private, "shared": shared, "shared_with_me": others},
        "embedder": meta.get("embedder"),
        "dimension": int(meta["dimension"]) if meta.get("dimension") else None,
        "row_level_security": dict(protected),
        "server_connections": int(open_now[0]) if open_now else 0,
        "connection_limit": None if most is None or int(most) < 0 else int(most),  # (``connections``)
        "trusted_logins": [*trusted],
        "setup": {"recorded": setup, "current": SETUP},
        "quota": None if used is None else used.to_dict(),
    }


@contextlib.contextmanager
def _owners(dsn: str) -> Iterator[None]:
    """An owner's command: a member's run of it (the server refuses their role the right) is said in
    one line (it was psycopg's traceback)."""
    import psycopg

    try:
        yield
    except psycopg.errors.InsufficientPrivilege as exc:
        raise owner_only(exc, dsn) from exc


def owner_only(exc: Exception, dsn: str) -> StoreError:
    """A member (or a role without CREATEROLE) ran an owner's command."""
    return StoreError(
        f"only the team store's owner adds and removes members at {dsn_location(dsn)}, and this role "
        f"is not it ({type(exc).__name__})",
        hint="Ask the owner, or run it with the owner's DSN: `--dsn postgresql://OWNER@HOST/DB`.",
    )
