"""The PostgreSQL + pgvector backend: one server shared by many machines and terminals.

- psycopg 3 with a connection pool (``psycopg_pool``); pgvector's adapter sends vectors in binary,
  so float32 values round-trip exactly. Imported lazily: only a store configured for PostgreSQL
  loads psycopg.
- Schema: ``migrations/postgres.py``, applied on connect (each migration in one transaction with the
  row recording it, under an advisory lock so two processes never race).
- Vectors keep the embedder's native dimension; a partial HNSW (or IVFFlat) cosine index per
  dimension serves the vector search, with ``hnsw.iterative_scan`` so a top-k filtered by the
  caller's filters and by row-level security (a team member sees ~25 % of the rows) keeps scanning
  until k rows match, and an exact run of the same statement when the index gives up before
  (``search_settings``; recall against an exact scan: ``benchmarks/team.py --scale``).
- Full text: a generated ``tsvector`` with a GIN index, ranked by FTS5's BM25 (``_bm25_sql``), as
  the embedded store ranks it. Under row-level security a member's own ``@@`` cannot use that index
  (not leakproof, so PostgreSQL applies the policy before it and scans every row the member sees:
  ~0.5 s at 1,000,000 memories); their text leg takes the ids of the matches they see from
  ``team_text_matches`` (``m012_team_text_matches``, which runs as a role seeing every row and so
  uses the index) and reads those rows under their own row-level security (``search_sql``'s
  ``text_matches``). A member reads no vector but through ``team_vector_matches`` (their vector
  leg) and ``team_vectors`` (``m014_team_vector_matches``: ordering ``memories`` by distance
  themselves, the index's scan counted the hidden rows it passed).
- Hybrid search is one SQL statement: a vector CTE and a text CTE, fused in SQL by the same
  formulas and settings as ``search.Fusion`` (convex or RRF), so scores mean the same on both backends.
- Every method is one transaction. A connection lost mid-transaction rolls back on the server;
  the method is retried on a fresh connection (writes are idempotent by the dedup key), so a batch
  is applied entirely or not at all.
- A long-lived process (the memory daemon) never waits out the pool's reconnection back-off: each
  connection is checked as it leaves the pool, and a broken one (the server stopped or restarted)
  discards the whole pool. The next call connects directly first, so a server that is down costs
  a call one connection attempt (with its libpq error) and one that is back is used at once.
- The operations both databases share are written once, in ``sql.SqlBackend``; this module keeps the
  pool, retries, pgvector and the one-statement search.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from mahavishnu.errors import (
    BackendUnavailableError,
    ConnectionLimitError,
    InvalidInputError,
    MahavishnuError,
    MigrationError,
    ServerUnreachableError,
    StoreError,
)
from mahavishnu.masking import mask_url
from mahavishnu.memory.core.backends.base import SearchRequest, Unstaged, _need
from mahavishnu.memory.core.backends.sql import SELECT_COLUMNS, Dialect, SqlBackend, reembed_running
from mahavishnu.memory.core.migrations.postgres import (
    INDEX_KINDS,
    MIGRATIONS,
    TEXT_MATCHES,
    TS_CONFIG,
    VECTOR_FUNCTIONS,
    VECTOR_MATCHES,
    VECTORS,
    IndexKind,
    vector_index_name,
    vector_index_sql,
)
from mahavishnu.memory.core.models import Filters, MemoryDraft, Vector, parse_time
from mahavishnu.memory.core.outbox import Outbox, RefusedError
from mahavishnu.memory.core.search import Ranked, query_terms

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

    from mahavishnu.config import MemorySettings

_T = TypeVar("_T")
Conn = Any  # psycopg.Connection[Any] (psycopg is imported lazily)
_MIGRATION_LOCK = 0x6D61_6876  # pg_advisory_xact_lock key: one migrator at a time
#: pg_try_advisory_lock's first key: one ``memory reembed`` at a time per store (the second: its schema)
_REEMBED_LOCK = 0x6D72_6565
#: Its first key for one ``memory ingest`` of a repository at a time per store, on any machine
INGEST_LOCK = 0x6D69_6E67
#: On a team store, what takes that lock (``memory/team/advisory``): members may take no other.
INGEST_LOCK_FUNCTION = "team_ingest_lock"
_META_DIMENSION = "dimension"
#: Seconds libpq waits for a server (on loopback or a LAN an answer takes milliseconds): also the
#: most a call waits for a server that is down, when it is not refused at once.
_CONNECT_TIMEOUT = 3
#: Sets another number of seconds (the hooks, which must answer within their budget, set 1).
CONNECT_TIMEOUT_ENV = "MAHAVISHNU_PG_CONNECT_TIMEOUT"
#: The most a statement runs (seconds) for a command; a hook (a shorter connect timeout) gets three
#: times its connect timeout. Without it a lock someone holds (a team member's, an administrator's)
#: would hang every search and store behind it.
_STATEMENT_TIMEOUT = 60
#: What libpq says of a server that answered and refused (not an unreachable one): nothing is queued
#: for a wrong password or a missing database, the error says what to fix.
_REFUSALS = (
    "password authentication failed",
    "no password supplied",
    "does not exist",
    "permission denied",
    "no pg_hba.conf entry",
    "is not permitted to log in",
    "does not support SSL",  # sslmode verify-full (a join string's default) and a server without TLS
    "certificate",
)
#: What the server says of a role that may no longer log in (``team remove`` made it NOLOGIN).
_NO_LOGIN = "is not permitted to log in"
#: What PostgreSQL says to a role at its CONNECTION LIMIT (a team member's: ``team/connections``).
_ROLE_FULL = "too many connections for role"
#: What PostgreSQL says when all its ``max_connections`` are taken (the rest reserved for superusers).
_SERVER_FULL = ("too many clients already", "remaining connection slots are reserved")
#: The variable the store's password may come from (before the secret store and ~/.pgpass).
PASSWORD_VARIABLE = "MAHAVISHNU_PG_PASSWORD"
_ID_SEQUENCE = "pg_get_serial_sequence('memories', 'id')"
_MAX_DRAWN_IDS = 1_000_000  # nextval calls an import may make instead of setval (about a second)
#: Per transaction: new decisions, insights and repository chunks are stored shared
#: (``team.share_by_default``; a trigger of ``m009_team_share_by_default`` reads it).
_SHARE_BY_DEFAULT = "SELECT set_config('mahavishnu.share_by_default', 'on', true)"
#: Per transaction of the owner's reembed: every member's row (the ``team_maintain`` policy of
#: ``memory/team/schema.py``, which holds for the tables' owner's own login only).
_MAINTENANCE = "SELECT set_config('mahavishnu.maintenance', 'reembed', true)"
#: The setting (``PGOPTIONS``) with which the owner's ``db backup`` reads every row of a team store,
#: through the policy ``team init`` creates (``memory/team/schema.py``).
MAINTENANCE_SETTING = "mahavishnu.maintenance"
BACKUP_MAINTENANCE = "backup"
BACKUP_POLICY = "team_backup"
#: The constraint named by the refusals of ``team init``'s bounds (``memory/team/bounds.BOUNDS``): a
#: value longer than Mahavishnu writes there. Its message and hint are the database's own, one line each.
BOUNDS_REFUSAL = "team_bounds"
#: The constraint named by the refusals of ``team init``'s quota (``memory/team/quota``): a member
#: past the rows or bytes its owner allows. Its message and hint are the database's own, as above.
QUOTA_REFUSAL = "team_quota"
#: Whether the store's ingest lock is taken through ``INGEST_LOCK_FUNCTION`` (a team store).
_INGEST_THROUGH = f"SELECT to_regprocedure('public.{INGEST_LOCK_FUNCTION}(text)') IS NOT NULL"
#: The ``meta`` key ``team init`` records (``memory/team/schema.META_GROUP``): a team store.
_META_TEAM_GROUP = "team_group"
#: Whether this connection is a team store's member (a team store whose tables it does not own).
_MEMBER_OF_TEAM = (
    "SELECT EXISTS (SELECT 1 FROM meta WHERE key = %s) AND NOT pg_has_role("
    "(SELECT relowner FROM pg_class WHERE oid = 'memories'::regclass), 'USAGE')"
)
#: Who wrote each memory (or conversation turn) of a list the caller sees, on a team store only.
_MEMORY_AUTHORS = (
    "SELECT id, owner_role, visibility, owner_role = current_user FROM memories "
    "WHERE id = ANY(%s) AND EXISTS (SELECT 1 FROM meta WHERE key = %s)"
)
#: Which of a batch's client ids (``outbox.py``) this role delivered before.
_DELIVERED = "SELECT client_id FROM memories WHERE client_id = ANY(%s::uuid[]) AND owner_role = current_user"
_TURN_AUTHORS = (
    "SELECT id, owner_role, visibility, owner_role = current_user FROM agent_conversations "
    "WHERE id = ANY(%s) AND EXISTS (SELECT 1 FROM meta WHERE key = %s)"
)


def _jsonb(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(dict(value) if isinstance(value, Mapping) else value)


def _as_vector(vector: Vector) -> Any:
    from pgvector import Vector as PgVector

    return PgVector(np.ascontiguousarray(vector, dtype=np.float32))


def _to_numpy(value: Any) -> Vector:
    array = value.to_numpy() if hasattr(value, "to_numpy") else value
    return np.asarray(array, dtype=np.float32)


#: jsonb, timestamptz, ``text[]`` tags (GIN-indexed), pgvector vectors sent in binary.
DIALECT = Dialect(
    mark="%s",
    ifnull="coalesce",
    tags_in=list,
    tags_out=tuple,
    json_in=_jsonb,
    json_out=lambda value: value,
    time_in=parse_time,
    vector_in=_as_vector,
    vector_out=_to_numpy,
    has_tag="m.tags @> ARRAY[%s]::text[]",
    json_get="m.metadata -> %s::text",
    json_key=str,
    lock_row=" FOR UPDATE",
    mine=" AND owner_role = current_user",
)


# -- connecting ------------------------------------------------------------------------------
#: The URI schemes libpq reads as PostgreSQL.
_SCHEMES = ("postgresql", "postgres")


def host_problem(hosts: str) -> str | None:
    """What is wrong with a libpq host list (comma-separated), or None: a host name's labels have 1
    to 63 characters, the whole name at most 253 (DNS's limits); a socket directory passes."""
    for host in hosts.split(","):
        if not host or _socket(host):
            continue
        name = host.rstrip(".")
        if len(name) > 253 or any(not 0 < len(label) <= 63 for label in name.split(".")):
            shown = host if len(host) <= 40 else host[:37] + "..."
            return f"{shown!r} is not a host name (each dot-separated part holds 1 to 63 characters)"
    return None


def checked_dsn(dsn: str, source: str = "memory.dsn") -> dict[str, Any]:
    """``dsn``'s parameters, or one line naming ``source`` (``--dsn``, ``memory.dsn``) saying what
    is wrong with it in our words: another database's URL, or text libpq cannot read."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    scheme, found, _ = dsn.strip().partition("://")
    example = "postgresql://USER@HOST:PORT/DB, or key=value pairs (host=HOST dbname=DB user=USER)"
    if found and scheme.lower() not in _SCHEMES:
        raise InvalidInputError(
            f"{source} is not a PostgreSQL address: it starts with {scheme}://",
            hint=f"Mahavishnu's shared store is PostgreSQL: give {example}.",
        )
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        raise InvalidInputError(
            f"{source} is not a PostgreSQL connection string Mahavishnu can read",
            hint=f"Give {example}; percent-encode special characters in a URL's password.",
        ) from None
    problem = host_problem(str(params.get("host") or ""))
    if problem:
        raise InvalidInputError(f"{source}: {problem}", hint=f"Give {example}.")
    return params


def resolve_dsn(settings: MemorySettings, source: str = "memory.dsn") -> str:
    """The DSN to use: ``memory.dsn`` (or ``MAHAVISHNU_PG_DSN``, or ``MAHAVISHNU_PG_HOST``/``_PORT``/
    ``_USER``/``_DATABASE``), with the password, when the DSN has
    none, from ``MAHAVISHNU_PG_PASSWORD`` or the secrets store (``pg-password``); libpq's own
    ``PGPASSWORD``/``~/.pgpass`` still apply after that."""
    dsn = settings.dsn or os.environ.get("MAHAVISHNU_PG_DSN") or _dsn_from_parts()
    if not dsn:
        raise StoreError(
            "memory.backend is postgres but no DSN is set",
            hint="Set memory.dsn (or MAHAVISHNU_MEMORY__DSN), e.g. postgresql://user@host:5432/mahavishnu.",
        )
    from psycopg.conninfo import make_conninfo

    params = checked_dsn(dsn, source)
    if params.get("password"):
        return dsn
    password = os.environ.get(PASSWORD_VARIABLE) or _secret_password()
    return make_conninfo(dsn, password=password) if password else dsn


def _dsn_from_parts() -> str | None:
    """``MAHAVISHNU_PG_HOST``/``_PORT``/``_USER``/``_DATABASE`` (host required) as a DSN."""
    parts = {k: os.environ.get(f"MAHAVISHNU_PG_{k.upper()}") for k in ("host", "port", "user", "database")}
    if not parts["host"]:
        return None
    from psycopg.conninfo import make_conninfo

    parts["dbname"] = parts.pop("database")
    return make_conninfo("", **{k: v for k, v in parts.items() if v})


def _secret_password() -> str | None:
    try:
        from mahavishnu.config import load_settings
        from mahavishnu.environments.secrets import lookup

        return lookup("pg-password", load_settings())
    except (MahavishnuError, ImportError):
        return None


def _conninfo(dsn: str) -> dict[str, Any] | None:
    """A DSN's parameters; None when it does not parse or psycopg is not installed."""
    try:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        return None
    try:
        return conninfo_to_dict(dsn)
    except psycopg.Error:
        return None


def _socket(host: str) -> bool:
    """A libpq host that names a Unix socket's directory (or an abstract socket), not a machine."""
    return host.startswith(("/", "@"))


def dsn_host(dsn: str) -> str:
    """host[:port] of a DSN (URL or key=value), never its password; a Unix socket as its file
    (``/var/run/postgresql/.s.PGSQL.5432``)."""
    params = _conninfo(dsn)
    if params is None:
        return "?"
    host = _visible_host(str(params.get("host") or params.get("hostaddr") or "localhost (socket)"))
    if _socket(host) and "," not in host:
        return f"{host.rstrip('/')}/.s.PGSQL.{params.get('port') or 5432}"
    return f"{host}:{params['port']}" if params.get("port") else host


def _visible_host(host: str) -> str:
    """libpq ends a URL's password at its first ``@``: with an unencoded ``@`` in the password, the
    rest of it lands in the host. Show only what follows the last ``@`` of each host."""
    return ",".join(h.rpartition("@")[2] for h in host.split(","))


_IS_TEAM = "SELECT EXISTS (SELECT 1 FROM meta WHERE key = %s)"


def masked(dsn: str, text: str) -> str:
    """``text`` (an error about ``dsn``) without the password, nor a tail of it libpq took for a host."""
    params = _conninfo(dsn) or {}
    for host in str(params.get("host") or "").split(","):
        if "@" in host:
            text = text.replace(host, "****@" + _visible_host(host))
    return mask_url(text)


def _password_has_at(dsn: str) -> bool:
    """Whether a URL DSN's authority holds more than one ``@`` (an unencoded one in the password)."""
    _, found, rest = dsn.partition("://")
    return bool(found) and rest.split("/", 1)[0].count("@") > 1


def dsn_location(dsn: str) -> str:
    """``postgresql://user@host:port/db``: where the store lives, without the password."""
    params = _conninfo(dsn)
    if params is None:
        return mask_url(dsn)
    user = f"{params['user']}@" if params.get("user") else ""
    host = str(params.get("host") or "")
    if _socket(host):  # as libpq reads it back: a socket directory goes in the query string
        port = f"&port={params['port']}" if params.get("port") else ""
        return f"postgresql://{user}/{params.get('dbname') or ''}?host={host}{port}"
    return f"postgresql://{user}{dsn_host(dsn)}/{params.get('dbname') or ''}"


def connect_timeout() -> int:
    """``MAHAVISHNU_PG_CONNECT_TIMEOUT`` seconds (at least 1), else ``_CONNECT_TIMEOUT``."""
    try:
        return max(1, int(os.environ.get(CONNECT_TIMEOUT_ENV) or _CONNECT_TIMEOUT))
    except ValueError:
        return _CONNECT_TIMEOUT


def timeouts() -> tuple[int, int]:
    """(``lock_timeout``, ``statement_timeout``) in seconds for every connection: waiting for a lock
    as long as for a connection (3 s, a hook 1 s), a statement ``_STATEMENT_TIMEOUT`` (a hook 3 s)."""
    seconds = connect_timeout()
    return seconds, _STATEMENT_TIMEOUT if seconds >= _CONNECT_TIMEOUT else 3 * seconds


def tcp_settings(dsn: str) -> dict[str, Any]:
    """libpq's TCP settings for a connection (those ``dsn`` does not set itself): a server that
    goes silent mid-query (a network that drops the packets, a frozen host) is given up after about
    two connect timeouts, unacknowledged data after one, rather than after as long as TCP keeps the
    connection (up to hours); its ``statement_timeout`` cannot end a query it never got. Keepalives
    probe an idle connection (a query the server runs meanwhile answers them); libpq ignores them
    all on a Unix socket, and PgBouncer never sees them (they are the client's socket options)."""
    seconds = connect_timeout()
    settings = {
        "keepalives": 1,
        "keepalives_idle": seconds,
        "keepalives_interval": 1,
        "keepalives_count": seconds,  # (where TCP_USER_TIMEOUT is missing: idle + count probes)
        "tcp_user_timeout": seconds * 1000,
    }
    given = _conninfo(dsn) or {}
    return {name: value for name, value in settings.items() if name not in given}


def _set_timeouts(conn: Conn) -> None:
    lock, statement = timeouts()
    conn.execute(
        "SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false)",
        (f"{lock}s", f"{statement}s"),
    )


#: What a transaction that must not be cut short sets (the owner's reembed, a migration).
_NO_STATEMENT_TIMEOUT = "SELECT set_config('statement_timeout', '0', true)"


def configured_location(settings: MemorySettings) -> str | None:
    """Where the configured PostgreSQL store lives (``dsn_location``, no password and no secret
    looked up), or None when no DSN is set."""
    dsn = settings.dsn or os.environ.get("MAHAVISHNU_PG_DSN") or _dsn_from_parts()
    return dsn_location(dsn) if dsn else None


#: What to check when the server did not answer, or said nothing Mahavishnu names (``_unavailable``).
REACH_HINT = "Check that the server is running and reachable, and memory.dsn names it."
#: What a memory command stores while the server does not answer.
OUTBOX_NOTE = "memories stored meanwhile wait in this machine's outbox (`mahavishnu team status`)."


def _unavailable(dsn: str, exc: BaseException) -> BackendUnavailableError:
    """The error for a server that cannot be used: ``ServerUnreachableError`` when it did not
    answer at all (recorded in the outbox, so the hooks skip it for a while), else what it said."""
    reason = masked(dsn, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    if _ROLE_FULL in reason:  # a refusal for now: what is stored meanwhile waits in the outbox
        _note_unreachable(dsn, reason)
        role = (_conninfo(dsn) or {}).get("user") or "this role"
        return ConnectionLimitError(
            f"PostgreSQL at {dsn_host(dsn)} refuses {role} another connection: it already holds as many "
            "as the team store allows each member",
            hint="Close what else of yours uses the team store (other assistant sessions, a dashboard, "
            "psql), or ask its owner to raise the limit (`mahavishnu team init --dsn OWNER_DSN "
            f"--member-connections N`); {OUTBOX_NOTE}",
        )
    if any(full in reason for full in _SERVER_FULL):  # running and reachable: for now, no room
        _note_unreachable(dsn, reason)
        return ServerUnreachableError(
            f"cannot use PostgreSQL at {dsn_host(dsn)}: {reason}",
            hint="Every connection the server allows (max_connections) is taken: try again in a moment; "
            "its administrator sees who holds them in pg_stat_activity and can raise max_connections; "
            f"{OUTBOX_NOTE}",
        )
    if not _password_has_at(dsn) and not any(refusal in reason for refusal in _REFUSALS):
        _note_unreachable(dsn, reason)
        unreachable = ServerUnreachableError(
            f"cannot use PostgreSQL at {dsn_host(dsn)}: {reason}",
            hint=f"{REACH_HINT[:-1]}; {OUTBOX_NOTE}",
        )
        unreachable.about_reach = True
        return unreachable
    if _NO_LOGIN in reason:
        return BackendUnavailableError(
            f"you are no longer a member of this team: PostgreSQL at {dsn_host(dsn)} says {reason}",
            hint="Ask the team's owner for a new join string (`mahavishnu team add NAME`) and run "
            "`mahavishnu team join STRING`, or take memory.dsn out of your settings (`mahavishnu config "
            "path`) to use this machine's own store; until then nothing is stored in, queued for or read "
            "from the team store.",
        )
    if _password_has_at(dsn):
        hint = (
            "The DSN holds more than one '@': percent-encode an '@' in the password as %40 "
            "(or give the password in MAHAVISHNU_PG_PASSWORD)."
        )
    elif "SSL" in reason or "certificate" in reason:
        hint = (
            "The connection must be TLS with a certificate for this host that this machine trusts "
            "(sslmode=verify-full; its authority in ~/.postgresql/root.crt). Give the server TLS, or "
            "for a server without it ask the owner for a string made with `team add NAME --insecure`."
        )
    elif "password authentication failed" in reason or "no password supplied" in reason:
        hint = (
            "Check the user and the password: the one in the DSN (--dsn, else memory.dsn) if it holds "
            "one (percent-encode special characters), else MAHAVISHNU_PG_PASSWORD, secret pg-password "
            "or ~/.pgpass. A team member whose password the owner changed asks them for a new join "
            "string (`mahavishnu team add NAME`) and runs `mahavishnu team join STRING`."
        )
    else:
        hint = REACH_HINT
    refused = BackendUnavailableError(f"cannot use PostgreSQL at {dsn_host(dsn)}: {reason}", hint=hint)
    refused.about_reach = hint == REACH_HINT
    refused.password_refused = "password authentication failed" in reason
    return refused


def _note_unreachable(dsn: str, reason: str) -> None:
    with contextlib.suppress(Exception), Outbox() as outbox:  # a note for the hooks, no more
        outbox.mark_unreachable(dsn_location(dsn), reason)


def _note_reachable(dsn: str) -> None:
    with contextlib.suppress(Exception), Outbox() as outbox:
        if outbox.exists():
            outbox.mark_reachable(dsn_location(dsn))


#: When the daemon's request this thread answers was received (``serving``).
_request = threading.local()


@contextmanager
def serving(received: float) -> Iterator[None]:
    """This thread's calls answer a request received at ``received`` (``time.monotonic()``): a
    backend whose connection attempt found the server unreachable after that raises that failure
    again at once rather than wait for it anew (a request queued behind the one that waited gets
    its answer at once); one received later tries the server again."""
    _request.received = received
    try:
        yield
    finally:
        del _request.received


def connect(dsn: str) -> psycopg.Connection[Any]:
    """One autocommit connection outside the pool (no prepared statements: PgBouncer-safe); a server
    that cannot be used is a ``BackendUnavailableError`` naming the host, never the password."""
    import psycopg

    try:
        conn = psycopg.connect(
            dsn,
            connect_timeout=connect_timeout(),
            autocommit=True,
            prepare_threshold=None,
            **tcp_settings(dsn),
        )
    except psycopg.Error as exc:
        raise _unavailable(dsn, exc) from None
    except UnicodeError:  # a host name Python's resolver cannot encode (a label over 63 characters)
        params = _conninfo(dsn) or {}
        problem = host_problem(str(params.get("host") or "")) or "a host name that cannot be resolved"
        raise InvalidInputError(f"cannot connect to {problem}", hint="Check the host name.") from None
    try:
        _set_timeouts(conn)
    except psycopg.Error as exc:
        conn.close()
        raise _unavailable(dsn, exc) from None
    _note_reachable(dsn)
    return conn


def _gave_up(dsn: str, exc: BaseException) -> StoreError | None:
    """The error for a statement the server cut short (``timeouts``), else None: a lock held too
    long by another session, or a statement over its time. Never queued: the server answers."""
    import psycopg

    lock, statement = timeouts()
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        what = f"waited {lock} s for a lock another session holds on the store, and gave up"
    elif isinstance(exc, psycopg.errors.QueryCanceled) and "statement timeout" in str(exc):
        what = f"a statement ran over {statement} s, and was stopped"
    else:
        return None
    return StoreError(
        f"PostgreSQL at {dsn_host(dsn)}: {what}",
        hint="Try again in a moment; if it lasts, the store's owner can find the session that holds "
        "it in pg_stat_activity (pg_blocking_pids) and end it with pg_terminate_backend(PID).",
    )


def check_connection(conn: Conn) -> None:
    """``ConnectionPool.check_connection``'s round trip (an empty query), given up after a
    connection's timeout: a server answers it at once, and one that does not (a network that drops
    the packets, a frozen server) would keep the caller waiting for as long as TCP keeps the
    connection, up to hours; the server's ``statement_timeout`` cannot help a query it never got.
    An answer that is an error (the server ended the connection: a restart, pg_terminate_backend)
    is raised, as ``execute`` raises it: else the closed connection was passed on as sound."""
    from psycopg import errors, generators, pq

    conn.pgconn.send_query(b"")
    results = conn.wait(generators.execute(conn.pgconn), timeout=connect_timeout())
    if not results or results[-1].status != pq.ExecStatus.EMPTY_QUERY:
        raise (
            errors.error_from_result(results[-1], encoding=conn.info.encoding)
            if results
            else errors.OperationalError("no answer to the check")
        )


def _configure(conn: Conn) -> None:
    """Per pooled connection: UTC times (PgBouncer tracks the time zone per client), pgvector's
    adapter, iterative index scans. A search sets what it needs again with ``SET LOCAL`` in its own
    transaction: behind PgBouncer in transaction mode the next transaction may run on another server
    connection, where this session's settings are not."""
    from pgvector.psycopg import register_vector

    conn.execute("SET TIME ZONE 'UTC'")
    _set_timeouts(conn)
    conn.execute("SET hnsw.iterative_scan = relaxed_order")
    conn.execute("SET ivfflat.iterative_scan = relaxed_order")
    register_vector(conn)
    conn.commit()


def _pool_name() -> str:
    """The pool's name in its log lines: this process, e.g. ``mahavishnu[4242] memory``."""
    program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if not program or program.startswith("-") or program.endswith(".py"):
        program = "python"
    return f"{program}[{os.getpid()}] memory"


def _quiet_pool_log() -> None:
    """Keep the pool's own log lines ("error connecting in …") off the terminal: the failing call
    says what is wrong itself. Python prints records to stderr only when no handler is configured
    anywhere; a NullHandler on the pool's logger ends that, while a process that configures
    logging (a log file, ``--verbose``) still receives them."""
    logger = logging.getLogger("psycopg.pool")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


def _owns_memories(conn: Conn) -> bool:
    owner = "SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = 'memories'::regclass"
    return bool(conn.execute(owner).fetchone()[0])


def _refused(exc: BaseException) -> bool:
    """Whether the server refused what it was sent for what that holds, and would again
    (``RefusedError``): a value it cannot take, a constraint or trigger refusing it (a team store's
    bounds), a right the role lacks for it (row-level security's checks among them). Not a unique
    key another session took meanwhile: sent again, it merges."""
    import psycopg

    if isinstance(exc, psycopg.errors.UniqueViolation):
        return False
    return isinstance(exc, (psycopg.DataError, psycopg.IntegrityError, psycopg.errors.InsufficientPrivilege))


def _retryable(exc: BaseException) -> bool:
    """A lost connection, a server restart, a serialization failure or deadlock: worth one more try."""
    import psycopg
    from psycopg_pool import PoolTimeout

    cut_short = (PoolTimeout, psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled)
    return isinstance(exc, psycopg.OperationalError) and not isinstance(exc, cut_short)


class PostgresBackend(SqlBackend):
    name = "postgres"
    dialect = DIALECT
    migrations = MIGRATIONS

    def __init__(
        self,
        dsn: str,
        *,
        migrate: bool = True,
        index: IndexKind = "hnsw",
        pool_size: int = 10,
        retries: int = 2,
        pool_timeout: float = 15.0,
        share_by_default: bool = False,
        offline: bool = False,
        iterative_scan: IterativeScan = "relaxed_order",
        resolve: Callable[[], str] | None = None,
        one_command: bool = False,
    ) -> None:
        """``offline``: a server that does not answer now is no error yet (the migrations run at
        the first call that reaches it): the store can still queue what it is asked to store.
        ``one_command``: the backend serves one command (a CLI's): once a connection attempt found
        the server unreachable, every later one in it raises that failure at once (see
        ``serving`` for a daemon's requests); a long-lived backend tries again at each call.
        ``resolve``: the DSN as the settings give it now (``resolve_dsn``), for ``replaced``.
        ``iterative_scan``: pgvector's iterative index scans for a filtered search (``search``);
        ``off`` only to measure what they bring (``benchmarks/team.py --scale``)."""
        if index not in INDEX_KINDS:
            raise InvalidInputError(f"unknown vector index {index!r}", hint="Use hnsw or ivfflat.")
        if iterative_scan not in ITERATIVE_SCANS:
            raise InvalidInputError(f"unknown iterative scan {iterative_scan!r}", hint="Use relaxed_order.")
        self.iterative_scan: IterativeScan = iterative_scan
        self.dsn = dsn
        self.index_kind: IndexKind = index
        self.retries = retries
        self._pool_size = pool_size
        self._pool_timeout = pool_timeout
        self._used: weakref.WeakKeyDictionary[Conn, float] = weakref.WeakKeyDictionary()  # (``_checked``)
        self._pool: ConnectionPool[Any] | None = None
        self._pool_lock = threading.Lock()
        self._lost = False  # a pool was discarded: connect directly before building the next
        self.share_by_default = share_by_default
        self._maintaining = threading.local()  # the owner's reembed, in this thread
        self._may_maintain = False  # checked once: not a member of a team store (``maintenance``)
        self._behind = False  # opened offline: migrate at the first call that reaches the server
        self._catch_up_lock = threading.Lock()
        self._text_matches: bool | None = None  # the text leg through ``team_text_matches`` (search)
        self._vector_matches: bool | None = None  # vectors through ``team_vector_matches``, ``team_vectors``
        self._delete_through: bool | None = None  # deletes through ``team_delete`` (a team member)
        self._resolve = resolve
        self._password_refused = False  # the server refused ``dsn``'s password (``replaced``)
        self.one_command = one_command
        self._unreachable: tuple[float, ServerUnreachableError] | None = None  # (when it ended, why)
        if migrate:
            try:
                self.migrate()
            except ServerUnreachableError:
                if not offline:
                    raise
                self._behind = True
        else:
            self.migration_state()  # reachable, and not newer than this code

    def migrate(self) -> list[str]:
        """Pending migrations, then the vector index of the configured kind for the store's
        dimension if it is missing (a store switched between hnsw and ivfflat is re-indexed)."""
        applied = super().migrate()
        with self._direct() as conn, conn.transaction():
            row = conn.execute("SELECT value FROM meta WHERE key = %s", (_META_DIMENSION,)).fetchone()
            if row is not None:
                self._ensure_vector_index(conn, int(row[0]))
        return applied

    def _check_may_migrate(self) -> None:
        """A migration is pending: say so clearly if this role may not create tables."""
        with self._direct() as conn:
            schema, allowed, database, has_meta = conn.execute(
                "SELECT current_schema(), has_schema_privilege(current_schema(), 'CREATE'), "
                "current_database(), to_regclass('meta') IS NOT NULL"
            ).fetchone() or (None, False, None, False)
            team = has_meta and (conn.execute(_IS_TEAM, (_META_TEAM_GROUP,)).fetchone() or (False,))[0]
        if not allowed:
            # a team store's new tables need team init's grants and policies too, not only the tables
            owner_runs = "mahavishnu team init --dsn OWNER_DSN" if team else "mahavishnu db migrate"
            raise MigrationError(
                f"no permission to create tables in schema {schema or '(none)'} of {database}: "
                "this version of Mahavishnu has migrations the store lacks",
                hint=f"Ask its owner to run `{owner_runs}` on {self.location}.",
            )

    def _migration_failed(self, name: str, exc: Exception) -> MigrationError:
        import psycopg

        database = _conninfo(self.dsn) or {}
        where = database.get("dbname") or "the database"
        primary = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)
        if isinstance(exc, psycopg.errors.InsufficientPrivilege) and "extension" in primary:
            return MigrationError(
                f"the vector extension is not installed in {where} and this role may not create it",
                hint=f"Ask an administrator to run `CREATE EXTENSION vector;` in {where} once.",
            )
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            return MigrationError(
                f"migration {name} failed on {self.location}: {masked(self.dsn, primary)}",
                hint="Ask the database's owner to run `mahavishnu db migrate`.",
            )
        return super()._migration_failed(name, exc)

    # -- connections and transactions ---------------------------------------------------
    def _direct(self) -> psycopg.Connection[Any]:
        self._raise_if_found_unreachable()
        try:
            conn = connect(self.dsn)
        except BackendUnavailableError as exc:
            self._attempted(exc)
            raise
        self._attempted(None)
        return conn

    def _attempted(self, failure: BackendUnavailableError | None) -> None:
        """Note how a connection attempt ended: a refused password, for ``replaced``; a server that
        did not answer, for ``_raise_if_found_unreachable``."""
        self._password_refused = self._password_refused or bool(failure and failure.password_refused)
        unreachable = failure if isinstance(failure, ServerUnreachableError) else None
        self._unreachable = None if unreachable is None else (time.monotonic(), unreachable)

    def _raise_if_found_unreachable(self) -> None:
        """The failure of this backend's last connection attempt, raised again when it was made
        for the call at hand too: in the same command (``one_command``), or since the daemon's
        request was received (``serving``). Waiting for a silent server again would only double
        the wait (a connect timeout each) for the same answer."""
        if self._unreachable is None:
            return
        ended, failure = self._unreachable
        received = -math.inf if self.one_command else getattr(_request, "received", math.inf)
        if received < ended:
            raise failure

    def replaced(self) -> bool:
        """Once the server refused this backend's password: whether its settings now give another
        (the owner changed it and the member joined again), so that a long-lived process (the
        daemon, the dashboard) opens the store anew rather than be refused until it is restarted."""
        if not self._password_refused or self._resolve is None:
            return False
        try:
            return self._resolve() != self.dsn
        except MahavishnuError:  # (settings or secret store unreadable now: the store says so)
            return False

    @property
    def pool(self) -> ConnectionPool[Any]:
        with self._pool_lock:
            if self._pool is None:
                self._pool = self._open_pool()
            return self._pool

    def _open_pool(self) -> ConnectionPool[Any]:
        import psycopg
        from psycopg_pool import ConnectionPool

        _quiet_pool_log()
        self._raise_if_found_unreachable()
        if self._lost:  # a server still down fails here at once, with libpq's own reason
            self._direct().close()
        pool: ConnectionPool[Any] = ConnectionPool(
            self.dsn,
            min_size=1,
            max_size=self._pool_size,
            # No server-side prepared statements: PgBouncer in transaction mode (1.18) cannot keep
            # them, as the next transaction may run on another server connection.
            kwargs={
                "connect_timeout": connect_timeout(),
                "prepare_threshold": None,
                **tcp_settings(self.dsn),
            },
            configure=_configure,
            timeout=self._pool_timeout,
            open=False,
            name=_pool_name(),
        )
        try:
            pool.open(wait=True, timeout=connect_timeout() + 2)
        except psycopg.Error as exc:  # PoolTimeout is an OperationalError
            pool.close(timeout=1.0)
            error = _unavailable(self.dsn, exc)
            self._attempted(error)
            raise error from None
        self._attempted(None)
        self._lost = False
        _note_reachable(self.dsn)
        return pool

    def _discard(self, pool: ConnectionPool[Any]) -> None:
        """Drop ``pool`` (one of its connections broke): the next call builds a new one rather than
        wait for this one's reconnection attempts, which back off up to minutes."""
        with self._pool_lock:
            if self._pool is not pool:
                return
            self._pool, self._lost = None, True
        pool.close(timeout=1.0)

    def _checked(self) -> tuple[ConnectionPool[Any], Conn]:
        """A pooled connection that answers (``check_connection``: a round trip, so not for one
        that finished a transaction less than ``FRESH_SECONDS`` ago). A broken or silent one means
        the server went away or restarted since, or the network between drops everything: the
        pool is discarded (its other connections are just as broken). After a broken one the
        connection comes from a new pool (a restarted server answers it); after a silent one the
        server is found unreachable for the call's request (``_attempted``): a new connection
        would only wait as long again for the same answer."""
        import psycopg
        from psycopg_pool import PoolClosed

        for renewed in (False, True):
            pool = self.pool
            try:
                conn = pool.getconn()
            except PoolClosed:  # another thread's check (a search's other leg) discarded it meanwhile
                if renewed:
                    raise
                continue
            if time.monotonic() - self._used.get(conn, -math.inf) < FRESH_SECONDS:
                return pool, conn
            try:
                check_connection(conn)
            except psycopg.Error as exc:
                conn.close()  # (a check without its answer leaves the connection unusable)
                pool.putconn(conn)
                self._discard(pool)
                # ``Connection.wait``'s timeout, documented under a private name: should a release
                # rename it, a silent check is taken as a broken one (a new pool tried, as before)
                if isinstance(exc, getattr(psycopg.errors, "_WaitTimeout", ())):
                    silent = f"no answer to a check within {connect_timeout()} s (timeout expired)"
                    unreachable = _unavailable(self.dsn, psycopg.OperationalError(silent))
                    self._attempted(unreachable)
                    raise unreachable from None
                if renewed:
                    raise
                continue
            return pool, conn
        raise AssertionError("unreachable")

    @contextmanager
    def _connection(self) -> Iterator[Conn]:
        pool, conn = self._checked()
        try:
            with conn:
                yield conn
            self._used[conn] = time.monotonic()
        finally:
            pool.putconn(conn)
            if conn.broken or conn.closed:  # lost mid-transaction: the server is likely gone
                self._discard(pool)

    def run(self, work: Callable[[Conn], _T], *, retry: bool = True, pipelined: bool = False) -> _T:
        """``work(conn)`` in one transaction; retried on a fresh connection if the connection is lost
        (the server has rolled the failed attempt back), so it is applied once or not at all.
        ``pipelined``: in libpq's pipeline mode, so that the transaction's start and the statements
        before the first whose rows ``work`` reads go to the server in one round trip."""
        import psycopg
        from psycopg_pool import PoolTimeout

        if self._behind:
            self._catch_up()
        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            try:
                with (
                    self._connection() as conn,
                    conn.pipeline() if pipelined else contextlib.nullcontext(),
                    conn.transaction(),
                ):
                    if getattr(self._maintaining, "on", False):
                        conn.execute(_MAINTENANCE)
                        conn.execute(_NO_STATEMENT_TIMEOUT)  # a store-wide rewrite takes its time
                    return work(conn)
            except psycopg.Error as exc:
                if (gave_up := _gave_up(self.dsn, exc)) is not None:
                    raise gave_up from exc
                if not _retryable(exc):
                    if isinstance(exc, PoolTimeout):  # it says only that it waited: libpq's reason
                        self._direct().close()  # (a member at their connection limit) is said
                    if isinstance(exc, psycopg.OperationalError):
                        raise _unavailable(self.dsn, exc) from exc
                    raise self._store_error(exc) from exc
                if attempt + 1 == attempts:
                    raise _unavailable(self.dsn, exc) from exc
        raise AssertionError("unreachable")

    def _catch_up(self) -> None:
        """The migrations an offline open left for the first call that reaches the server."""
        with self._catch_up_lock:
            if not self._behind:
                return
            self.migrate()
            self._behind = False

    def deliver(
        self,
        client_ids: Sequence[str],
        drafts: Sequence[MemoryDraft],
        vectors: Sequence[Vector | None],
        *,
        model: str,
        now: Any,
        merge: Callable[[Any, MemoryDraft], Mapping[str, Any]],
    ) -> list[bool]:
        """Store queued drafts (``outbox.py``) in one transaction, each inserted with its client id
        (or merged, like ``insert_or_merge``), skipping an id this role delivered before; for
        each, whether it was written now."""
        sql = self._insert_sql(("client_id",))

        def work(conn: Conn) -> list[bool]:
            found = conn.execute(_DELIVERED, (list(client_ids),))
            delivered = {str(client_id) for (client_id,) in found}
            out = []
            for client_id, draft, vector in zip(client_ids, drafts, vectors, strict=True):
                if client_id in delivered:
                    out.append(False)
                    continue
                self._insert_or_merge_one(conn, sql, draft, vector, model, now, merge, (client_id,))
                out.append(True)
            self._check_model(conn, model)
            return out

        return self._write(work)

    def _delete_rows(self, conn: Conn, table: str, where: str, params: Sequence[Any]) -> int:
        """A team member holds no DELETE on the team's tables (that right would let them lock one,
        ``memory/team/writes.py``): their rows go through ``team_delete``, which deletes the ids
        they select here, of their own rows only (row-level security on the login role)."""
        if self._delete_through is None:
            self._delete_through = bool(conn.execute(_USE_TEAM_DELETE).fetchone()[0])
        if not self._delete_through:
            return super()._delete_rows(conn, table, where, params)
        name, _, alias = table.partition(" AS ")
        source = f"{name} AS {alias}" if alias else name
        sql = f"SELECT {_TEAM_DELETE}(%s, ARRAY(SELECT {alias or name}.id FROM {source} WHERE {where}))"
        return int(conn.execute(sql, [name, *params]).fetchone()[0])

    def _store_error(self, exc: Exception) -> StoreError:
        import psycopg

        hint = None
        error = RefusedError if _refused(exc) else StoreError
        if isinstance(exc, psycopg.errors.CheckViolation) and exc.diag.constraint_name in (
            BOUNDS_REFUSAL,
            QUOTA_REFUSAL,
        ):
            # longer than a team store takes, or more (``team init``'s bounds, quota): the database
            # says what to do
            said = f"PostgreSQL at {dsn_host(self.dsn)}: {exc.diag.message_primary}"
            return error(said, hint=exc.diag.message_hint)
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            # a member removed while this process held its connections (a daemon): a new login
            # says so in the words a removed member's command uses (``_unavailable``)
            self._direct().close()
            hint = "This role lacks a privilege it needs here: ask the database's owner to grant it."
        return error(f"PostgreSQL at {dsn_host(self.dsn)}: {masked(self.dsn, str(exc))}", hint=hint)

    def _read(self, work: Callable[[Conn], _T]) -> _T:
        return self.run(work)

    def _write(self, work: Callable[[Conn], _T]) -> _T:
        if not self.share_by_default:
            return self.run(work)

        def shared(conn: Conn) -> _T:
            conn.execute(_SHARE_BY_DEFAULT)
            return work(conn)

        return self.run(shared)

    @contextmanager
    def maintenance(self) -> Iterator[None]:
        """This thread's transactions as store-wide maintenance: on a team store, its owner sees
        and rewrites every member's memories (``team_maintain``); for anyone else nothing changes.
        A member of a team store is refused (``_MEMBER_OF_TEAM``)."""
        self._refuse_members_maintenance()
        self._maintaining.on = True
        try:
            yield
        finally:
            self._maintaining.on = False

    def _refuse_members_maintenance(self) -> None:
        """A team member's reembed rewrites no one's vectors but theirs, and half-moved a store that
        every member shares: refused, in words saying whose it is (it used to fail on the staging
        table, its hint asking the owner to grant what no member may have)."""
        if self._may_maintain:
            return
        if self.run(lambda conn: bool(conn.execute(_MEMBER_OF_TEAM, (_META_TEAM_GROUP,)).fetchone()[0])):
            raise StoreError(
                f"only the team store's owner may run `memory reembed` on {self.location}: it moves "
                "every member's vectors to the new embedder",
                hint="Ask the owner to run it (with the owner's memory.dsn); your memory commands "
                "follow the team's embedder afterwards.",
            )
        self._may_maintain = True

    def may_reembed(self) -> None:
        self._refuse_members_maintenance()

    @contextmanager
    def _run_lock(self, key: int, name: str | None, refused: StoreError) -> Iterator[None]:
        """An advisory lock of a transaction on a connection of its own, open to the end: the server
        lets go of it when that transaction or connection ends, a killed process's too. Keyed on
        ``key`` and this store's schema (and ``name`` when given); ``refused`` is raised if another
        holds it. (Not a session's: behind PgBouncer in transaction mode it stayed on a server
        connection after the run, and a later run was refused; a transaction keeps its server
        connection.)"""
        sql = "SELECT pg_try_advisory_xact_lock(%s, hashtext(concat_ws('/', current_schema(), %s::text)))"
        params: tuple[int | str | None, ...] = (key, name)
        with self._direct() as conn, conn.transaction():
            if key == INGEST_LOCK and conn.execute(_INGEST_THROUGH).fetchone()[0]:  # type: ignore[index]
                # a team store's: its members may take no advisory lock but this one (the same key)
                sql, params = f"SELECT public.{INGEST_LOCK_FUNCTION}(%s::text)", (name,)
            if not (conn.execute(sql, params).fetchone() or (False,))[0]:
                raise refused
            yield

    def reembed_lock(self) -> AbstractContextManager[None]:
        return self._run_lock(_REEMBED_LOCK, None, reembed_running(self.location))

    def ingest_lock(self, repo_id: str) -> AbstractContextManager[None]:
        """On the server, not in a lock file: two machines ingesting into one store both ran."""
        refused = StoreError(
            f"repository {repo_id!r} is being ingested into {self.location} by another run "
            "(on this machine or another)",
            hint="Wait for it to finish, or stop it and run again.",
        )
        return self._run_lock(INGEST_LOCK, repo_id, refused)

    def clear_staging(self) -> None:
        self._refuse_members_maintenance()
        super().clear_staging()

    # A reembed rewrites every vector: on a team store the owner's must reach every member's rows.
    def reembed_pending(self, limit: int) -> list[Unstaged]:
        with self.maintenance():
            return super().reembed_pending(limit)

    def reembed_progress(self) -> tuple[int, int]:
        with self.maintenance():
            return super().reembed_progress()

    def stage_vectors(self, ids: Sequence[int], vectors: Vector) -> None:
        with self.maintenance():
            super().stage_vectors(ids, vectors)

    def finish_reembed(self, model: str, dimension: int, meta: Mapping[str, str | None]) -> bool:
        with self.maintenance():
            return super().finish_reembed(model, dimension, meta)

    def team_store(self) -> bool:
        """Whether ``team init`` made this store a team's."""
        sql = "SELECT EXISTS (SELECT 1 FROM meta WHERE key = %s)"
        return bool(self.run(lambda conn: conn.execute(sql, (_META_TEAM_GROUP,)).fetchone()[0]))

    def team_authors(self, ids: Sequence[int], *, turns: bool = False) -> dict[int, tuple[str, str, bool]]:
        """On a team store, (owner, visibility, whether the caller owns it) of each of ``ids`` the
        caller sees (memories, or with ``turns`` conversation turns); on a single-user store, nothing."""
        sql = _TURN_AUTHORS if turns else _MEMORY_AUTHORS
        rows = self.run(lambda conn: conn.execute(sql, (list(ids), _META_TEAM_GROUP)).fetchall())
        return {int(i): (str(owner), str(visibility), bool(mine)) for i, owner, visibility, mine in rows}

    @contextmanager
    def _snapshot(self) -> Iterator[Any]:
        """A binary cursor (vectors arrive exactly) in one REPEATABLE READ, read-only transaction."""
        with self._connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            with conn.cursor(binary=True) as cursor:
                yield cursor

    @contextmanager
    def _migrating(self) -> Iterator[Conn]:
        with self._direct() as conn, conn.transaction():
            # An index build over every row takes its time; another process's migration too.
            conn.execute(_NO_STATEMENT_TIMEOUT)
            conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{_STATEMENT_TIMEOUT}s",))
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            yield conn

    def _errors(self) -> tuple[type[Exception], ...]:
        import psycopg

        return (psycopg.Error,)

    def _conflict(self, exc: Exception) -> BaseException | None:
        import psycopg

        return exc.__cause__ if isinstance(exc.__cause__, psycopg.errors.UniqueViolation) else None

    @property
    def location(self) -> str:
        return dsn_location(self.dsn)

    # -- schema ---------------------------------------------------------------------------
    @staticmethod
    def _applied(conn: Conn) -> dict[str, str]:
        if conn.execute("SELECT to_regclass('_migrations')").fetchone()[0] is None:
            return {}
        rows = conn.execute("SELECT name, applied_at FROM _migrations ORDER BY applied_at, name").fetchall()
        return {str(n): str(at) for n, at in rows}

    def _applied_now(self) -> dict[str, str]:
        with self._direct() as conn:
            return self._applied(conn)

    def close(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def _meta_written(self, conn: Conn, values: Mapping[str, str | None]) -> None:
        if values.get(_META_DIMENSION):
            self._ensure_vector_index(conn, int(str(values[_META_DIMENSION])))

    def _vectors_swapped(self, conn: Conn, dimension: int) -> None:
        self._ensure_vector_index(conn, dimension)

    def _before_swap(self, conn: Conn) -> None:
        conn.execute("LOCK TABLE memories IN SHARE ROW EXCLUSIVE MODE")  # no insert sneaks in

    def _sets_ids(self, conn: Conn) -> bool:
        return bool(conn.execute("SELECT has_column_privilege('memories', 'id', 'INSERT')").fetchone()[0])

    def _imported(self, conn: Conn) -> None:
        """New rows never reuse an imported id: the id sequence moves past the largest one. A role
        with only USAGE on the sequence may not ``setval`` it, but may draw the ids in between."""
        top, last, may_set = conn.execute(
            "SELECT (SELECT max(id) FROM memories), "
            "(SELECT last_value FROM pg_sequences WHERE sequencename = 'memories_id_seq'), "
            f"has_sequence_privilege({_ID_SEQUENCE}, 'UPDATE')"
        ).fetchone()
        behind = int(top or 0) - int(last or 0)
        if behind <= 0:
            return
        if may_set:
            conn.execute(f"SELECT setval({_ID_SEQUENCE}, %s)", (top,))
        elif behind <= _MAX_DRAWN_IDS:
            conn.execute(f"SELECT count(nextval({_ID_SEQUENCE})) FROM generate_series(1, %s)", (behind,))
        else:
            raise StoreError(
                f"this role may not move the id sequence of {self.location} past the imported ids",
                hint="Ask the database's owner to `GRANT UPDATE ON SEQUENCE memories_id_seq` to this role.",
            )

    def _ensure_vector_index(self, conn: Conn, dimension: int) -> None:
        """The ANN index of the store's dimension (and only that one). Only the table's owner may
        change indexes: for another role this is left to the owner's next `mahavishnu db migrate`
        (searches stay exact meanwhile, just slower)."""
        keep = vector_index_name(self.index_kind, dimension)
        stale = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'memories' "
            "AND indexname LIKE 'memories_embedding_%%' AND indexname <> %s",
            (keep,),
        ).fetchall()
        present = conn.execute("SELECT to_regclass(%s)", (keep,)).fetchone()[0] is not None
        if (present and not stale) or not _owns_memories(conn):
            return
        conn.execute(_NO_STATEMENT_TIMEOUT)  # (an index of a large store takes minutes: never cut short)
        for (name,) in stale:
            conn.execute(f'DROP INDEX IF EXISTS "{name}"')
        conn.execute(vector_index_sql(self.index_kind, dimension))

    def _storage(self, conn: Conn) -> dict[str, Any]:
        size = conn.execute("SELECT pg_total_relation_size('memories')").fetchone()[0]
        indexes = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'memories' "
            "AND indexname LIKE 'memories_embedding_%' ORDER BY 1"
        )
        return {
            "size_bytes": int(size),
            "vector_index": {"kind": self.index_kind, "indexes": [r[0] for r in indexes]},
        }

    # -- search ---------------------------------------------------------------------------
    def vector_search(self, vector: Vector, filters: Filters, k: int) -> list[Ranked]:
        return self.search(SearchRequest("vector", filters, k, vector=vector))

    def text_search(self, text: str, filters: Filters, k: int) -> list[Ranked]:
        return self.search(SearchRequest("text", filters, k, text=text))

    def pair_holders(self, pairs: Sequence[tuple[str, str]]) -> list[set[int]]:
        """Each pair as a ``<->`` phrase query over the stored tsvectors (GIN-indexed), in one
        statement; a pair that loses a word to PostgreSQL's stopwords (one node left) holds none."""
        sql = (
            f"SELECT p.n, m.id FROM unnest(%s::text[]) WITH ORDINALITY AS p(pair, n), "
            f"to_tsquery('{TS_CONFIG}', p.pair) AS q, memories AS m "
            "WHERE numnode(q) > 1 AND m.content_tsv @@ q"
        )
        phrases = [" <-> ".join(f"'{word}'" for word in pair) for pair in pairs]
        holders: list[set[int]] = [set() for _ in pairs]
        for n, i in self._read(lambda conn: conn.execute(sql, (phrases,)).fetchall()):
            holders[n - 1].add(i)
        return holders

    def _through_vector_functions(self) -> bool:
        if self._vector_matches is None:
            used = self.run(lambda conn: bool(conn.execute(_USE_VECTOR_FUNCTIONS).fetchone()[0]))
            self._vector_matches = used
        return self._vector_matches

    def _asking_again(self, call: Callable[[], _T]) -> _T:
        """``call()``, once more if it was refused a privilege while this backend read vectors from
        ``memories`` itself: ``team init`` took that right since it asked (a daemon started before)."""
        import psycopg

        asked = self._vector_matches
        try:
            return call()
        except StoreError as exc:
            if asked is not False or not isinstance(exc.__cause__, psycopg.errors.InsufficientPrivilege):
                raise
            self._vector_matches = None
            return call()

    def vectors(self, ids: Sequence[int]) -> dict[int, Vector]:
        def read() -> dict[int, Vector]:
            if not self._through_vector_functions():
                return super(PostgresBackend, self).vectors(ids)
            sql = f"SELECT id, embedding FROM {VECTORS}(%s::bigint[])"
            rows = self._read(lambda conn: conn.execute(sql, (list(ids),)).fetchall())
            return {int(i): _to_numpy(e) for i, e in rows}

        return self._asking_again(read)

    def _with_vectors_sql(self) -> str:
        if not self._through_vector_functions():
            return super()._with_vectors_sql()
        return (
            f"SELECT {SELECT_COLUMNS}, v.embedding FROM memories JOIN {VECTORS}(ARRAY("
            "SELECT id FROM memories WHERE id > %s ORDER BY id LIMIT %s)) AS v USING (id) ORDER BY id"
        )

    def search(self, request: SearchRequest) -> list[Ranked]:
        """Every mode is one SQL statement (see ``search_sql``); so is hybrid with convex or RRF
        fusion, while z-score fusion runs both legs and fuses in Python (``search.py``)."""
        if request.mode == "hybrid" and request.fusion.method not in SQL_FUSIONS:
            return super().search(request)
        return self._asking_again(lambda: self._search(request))

    def _search(self, request: SearchRequest) -> list[Ranked]:
        if request.mode != "vector" and self._text_matches is None:
            self._text_matches = self.run(lambda conn: bool(conn.execute(_USE_TEXT_MATCHES).fetchone()[0]))
        sql, params, ef_search = search_sql(
            request,
            text_matches=bool(self._text_matches),
            vector_matches=request.mode != "text" and self._through_vector_functions(),
        )
        settings = search_settings(ef_search, self.iterative_scan)
        exact_when_short = request.mode != "text" and self.iterative_scan != "off"

        def work(conn: Conn) -> list[Ranked]:
            conn.execute(settings)  # (in this transaction: see ``search_settings``)
            found = [_ranked(request.mode, row) for row in conn.execute(sql, params)]
            if len(found) < request.limit and exact_when_short:
                # The index gave up before k rows passed the filters and row-level security
                # (hnsw.max_scan_tuples, or its memory): the same statement without the ANN index
                # (the filters' own indexes, or a scan) is exact, and cheap for so few matches.
                conn.execute(_EXACT)
                found = [_ranked(request.mode, row) for row in conn.execute(sql, params)]
            return found

        return self.run(work, pipelined=True)


def open_backend(
    settings: MemorySettings, *, migrate: bool = True, pool_size: int = 10, one_command: bool = False
) -> PostgresBackend:
    """What ``store.open_backend`` calls for ``memory.backend: postgres``. The vector index kind is
    ``hnsw`` unless ``MAHAVISHNU_PG_INDEX=ivfflat``. ``pool_size``: the most connections its pool
    holds (the memory daemon's is ``memory.daemon_pool_size``; a command's own, 10).
    ``one_command``: see ``PostgresBackend``."""
    kind = os.environ.get("MAHAVISHNU_PG_INDEX", "hnsw")
    if kind not in INDEX_KINDS:
        raise InvalidInputError(f"MAHAVISHNU_PG_INDEX={kind!r}", hint="Use hnsw or ivfflat.")
    return PostgresBackend(
        resolve_dsn(settings),
        resolve=lambda: resolve_dsn(settings),
        migrate=migrate,
        index=kind,  # type: ignore[arg-type]
        share_by_default=_share_by_default(),
        offline=migrate,
        pool_size=pool_size,
        one_command=one_command,
    )


def _share_by_default() -> bool:
    """``team.share_by_default`` (a store of one's own: the setting is never read there)."""
    from mahavishnu.config import load_settings

    return load_settings().team.share_by_default


def tsquery_terms(text: str) -> list[str]:
    """The query's terms as the embedded backend picks them (those ``to_tsquery`` can quote)."""
    return [t for t in query_terms(text) if "'" not in t and "\\" not in t]


#: Whether this connection's text search goes through ``team_text_matches`` (asked once by a
#: backend): row-level security applies to it (a member, or the owner, of a team store; never a
#: single-user store or a superuser) and ``team init`` let it run the function (which it does only
#: once the function is the text-search role's: ``memory/team/schema.py``).
_USE_TEXT_MATCHES = (
    "SELECT row_security_active('memories') AND coalesce(has_function_privilege("
    f"to_regprocedure('{TEXT_MATCHES}(tsquery)'), 'EXECUTE'), false)"
)


#: Whether this connection reads vectors through ``team_vector_matches`` and ``team_vectors``, as
#: it must once ``team init`` (``SETUP`` 8) took members' right to read ``embedding`` themselves:
#: row-level security applies to it and it may run both.
_USE_VECTOR_FUNCTIONS = "SELECT row_security_active('memories') AND " + " AND ".join(
    f"coalesce(has_function_privilege(to_regprocedure('{f}'), 'EXECUTE'), false)" for f in VECTOR_FUNCTIONS
)


#: The function a team member deletes through (``memory/team/writes.py``), and whether this
#: connection must: it exists and the role may not delete from ``memories`` itself.
_TEAM_DELETE = "team_delete"
_USE_TEAM_DELETE = (
    f"SELECT to_regprocedure('{_TEAM_DELETE}(text, bigint[])') IS NOT NULL "
    "AND NOT has_table_privilege('memories', 'DELETE')"
)


def search_sql(
    request: SearchRequest, *, text_matches: bool = False, vector_matches: bool = False
) -> tuple[str, list[Any], int]:
    """(statement, parameters, ef_search) answering ``request`` in one statement.

    Rows: vector mode (id, cosine); text mode (id, rank); hybrid (id, fused, cosine, rank).
    ``text_matches``: the text leg takes the ids of its matches from ``team_text_matches`` (the GIN
    index, for a caller under row-level security) and reads the rows under the caller's policy as
    any statement does; otherwise ``@@`` on ``memories`` itself (the index, without row-level security).
    ``vector_matches``: the vector leg is ``team_vector_matches``' (the filters passed as values),
    its rows joined back under the caller's policy."""
    where, filter_params = DIALECT.filter_sql(request.filters)
    depth = request.limit if request.mode != "hybrid" else max(request.fusion.depth, request.limit)
    legs, params = [], []
    if request.mode != "text":
        vector = request.query_vector()
        dim = len(vector)
    if request.mode != "text" and vector_matches:
        params += [_as_vector(vector), depth, _jsonb(filters_json(request.filters))]
        legs.append(
            "v AS MATERIALIZED (SELECT c.id, c.distance "
            f"FROM {VECTOR_MATCHES}(%s::vector, {dim}, %s, %s::jsonb) AS c JOIN memories AS m ON m.id = c.id)"
        )
    elif request.mode != "text":
        params += [_as_vector(vector), *filter_params, depth]
        legs.append(
            "v AS MATERIALIZED (SELECT m.id, "
            f"m.embedding::vector({dim}) <=> %s::vector({dim}) AS distance FROM memories AS m "
            f"WHERE m.embedding_dim = {dim} AND {where} ORDER BY distance LIMIT %s)"
        )
    if request.mode != "vector":
        terms = tsquery_terms(_need(request.text))
        params += [" | ".join(f"'{t}'" for t in terms), " ".join(terms), *filter_params, depth]
        legs.append(_bm25_sql(where, matched=bool(terms), text_matches=text_matches))
    ef_search = min(1000, max(40, depth))
    if request.mode == "vector":
        return f"WITH {legs[0]} SELECT id, 1 - distance FROM v ORDER BY distance, id", params, ef_search
    if request.mode == "text":
        return f"WITH {legs[0]} SELECT id, score FROM t ORDER BY score DESC, id", params, ef_search
    fusion = request.fusion
    if fusion.method not in SQL_FUSIONS:
        raise StoreError(f"{fusion.method} fusion is not done in SQL: fuse both legs' results in Python")
    alpha, rrf_k = f"{float(fusion.alpha)!r}::float8", f"{float(fusion.rrf_k)!r}::float8"
    fused = _convex(alpha) if fusion.method == "convex" else _rrf(alpha, rrf_k)
    sql = f"""
        WITH {legs[0]}, {legs[1]},
        vr AS (SELECT id, 1 - distance AS score, row_number() OVER (ORDER BY distance, id) AS rank FROM v),
        tr AS (SELECT id, score, row_number() OVER (ORDER BY score DESC, id) AS rank FROM t),
        j AS (
            SELECT coalesce(vr.id, tr.id) AS id, vr.score AS vs, tr.score AS ts, vr.rank AS vrank,
                   tr.rank AS trank, max(vr.score) OVER () AS vmax, max(tr.score) OVER () AS tmax
            FROM vr FULL JOIN tr ON vr.id = tr.id
        ),
        f AS (SELECT id, {fused} AS score, vs, ts FROM j)
        SELECT id, score, vs, ts FROM f ORDER BY score DESC, id LIMIT %s
    """
    return sql, [*params, request.limit], ef_search


def filters_json(filters: Filters) -> dict[str, Any]:
    """``filters`` as ``team_vector_matches`` reads them: only what is set, times as ISO text."""
    out: dict[str, Any] = {}
    if filters.types:
        out["types"] = list(filters.types)
    if filters.tags:
        out["tags"] = list(filters.tags)
    for name in ("project", "group", *filters.labels()):
        if (value := getattr(filters, name)) is not None:
            out[name] = value
    for name in ("since", "until"):
        if (value := getattr(filters, name)) is not None:
            out[name] = parse_time(value).isoformat()
    if filters.shared:
        out["shared"] = True
    if filters.with_global:
        out["with_global"] = True
    return out


#: FTS5's ``bm25()`` constants (the embedded store's text leg), so both backends score alike.
BM25_K1, BM25_B = 1.2, 0.75
#: Below this many rows (by the planner's count, which a table never analysed lacks) the text leg
#: counts the memories exactly.
_EXACT_COUNT_BELOW = 10_000


def _bm25_sql(where: str, *, matched: bool, text_matches: bool) -> str:
    """The text leg as CTEs ending in ``t`` (id, score): FTS5's ``bm25()``, so a rare word (an
    identifier) outweighs a common one as on the embedded store, where ``ts_rank_cd`` counted
    every query word alike. Parameters: the tsquery, the query's terms (their lexemes are the ones
    scored), the filters', the depth.

    Everything is counted over the memories the search ranks (those the filters and the caller's
    row-level security let through that match the query): a word's document frequency (FTS5
    counts the whole table's, which would read every match of a common word whatever the filter),
    and the mean length; a memory's length is its bytes (FTS5 counts tokens: a regular expression
    over each match cost ten times the query). The number of memories is the planner's count, or
    an exact count of a small table. Each match's query words and their positions are its tsvector
    filtered in C (``setweight`` then ``ts_filter``): only those are carried on. What still differs
    from the embedded store: stop words and numbers (PostgreSQL's english configuration drops
    "before" and keeps "2.0.29" whole), and the statistics of a filtered search."""
    source = "tq, tw, memories AS m"
    match = "m.content_tsv @@ tq.q" if matched else "false"
    if text_matches:  # under row-level security: the GIN index's ids, read under the caller's policy
        source = f"tq, tw, {TEXT_MATCHES}(tq.q) AS c, memories AS m"
        match += " AND m.id = c.id"
    k1, b = BM25_K1, BM25_B
    return f"""
        tq AS (SELECT to_tsquery('{TS_CONFIG}', %s) AS q),
        tw AS (SELECT tsvector_to_array(to_tsvector('{TS_CONFIG}', %s)) AS words),
        th AS MATERIALIZED (
            SELECT m.id, octet_length(m.content)::float8 AS dl,
                   ts_filter(setweight(m.content_tsv, 'A', tw.words), '{{a}}') AS words
            FROM {source} WHERE {match} AND {where}
        ),
        tf AS MATERIALIZED (
            SELECT th.id, th.dl, u.lexeme, greatest(cardinality(u.positions), 1)::float8 AS n
            FROM th, unnest(th.words) AS u
        ),
        tdf AS (SELECT lexeme, count(*)::float8 AS df FROM tf GROUP BY lexeme),
        tn AS (
            SELECT greatest(
                (SELECT CASE WHEN c.reltuples < {_EXACT_COUNT_BELOW}
                             THEN (SELECT count(*) FROM memories) ELSE c.reltuples END
                 FROM pg_class AS c WHERE c.oid = 'memories'::regclass),
                (SELECT count(*) FROM th)
            )::float8 AS n, greatest((SELECT avg(dl) FROM th), 1.0)::float8 AS avgdl
        ),
        t AS MATERIALIZED (
            SELECT tf.id, sum(
                greatest(ln((tn.n - tdf.df + 0.5) / (tdf.df + 0.5)), 1e-6)
                * tf.n * {k1 + 1} / (tf.n + {k1} * ({1 - b} + {b} * tf.dl / tn.avgdl))
            )::float8 AS score
            FROM tf JOIN tdf ON tdf.lexeme = tf.lexeme, tn
            GROUP BY tf.id ORDER BY score DESC, tf.id LIMIT %s
        )"""


def _scaled_sql(value: str, top: str) -> str:
    """``search._scaled(value, 0, top)`` in SQL (0 where the leg did not find the row)."""
    return (
        f"(CASE WHEN {value} IS NULL THEN 0 WHEN {top} <= 0 THEN (CASE WHEN {value} > 0 THEN 1 ELSE 0 END) "
        f"ELSE least(1, greatest(0, {value} / {top})) END)"
    )


def _convex(alpha: str) -> str:
    return f"{alpha} * {_scaled_sql('vs', 'vmax')} + (1 - {alpha}) * {_scaled_sql('ts', 'tmax')}"


def _rrf(alpha: str, rrf_k: str) -> str:
    vector = f"coalesce({alpha} / ({rrf_k} + vrank), 0)"
    text = f"coalesce((1 - {alpha}) / ({rrf_k} + trank), 0)"
    return f"({vector} + {text}) * ({rrf_k} + 1)"


#: The fusion methods ``search_sql`` does in SQL.
SQL_FUSIONS = ("convex", "rrf")


def _probes(ef_search: int) -> int:
    return max(10, min(100, ef_search // 4))


#: pgvector's iterative index scans (0.8): ``off`` only to measure what they bring.
IterativeScan = Literal["relaxed_order", "strict_order", "off"]
ITERATIVE_SCANS: tuple[IterativeScan, ...] = ("relaxed_order", "strict_order", "off")


#: The least ``hnsw.ef_search`` of a search with iterative scans (pgvector's default is 40): a member
#: who sees a quarter of the rows gets ~100 of their own among the first candidates, as many as
#: ``ef_search`` 100 gives a search without row-level security. Measured with ``benchmarks/team.py
#: --scale 1000000`` (a member seeing 25 %, clustered rows, top-10). On the graph of
#: ``ef_construction`` 64: recall 0.76 at 40, 0.84 at 100, 0.913 at 400 (the index's own recall
#: without row-level security: 0.914), 0.937 at 800. On the graph of ``HNSW_EF_CONSTRUCTION`` (128,
#: ``m013_hnsw_ef_construction``): 0.757 at 40, 0.868 at 100, 0.978 at 400 (the index alone: 0.980),
#: 0.983 at 600 to 1000; p95 10-12 ms from 400 to 1000; within a project 0.983 at 400.
HNSW_EF_SEARCH = 400
#: A pooled connection that finished a transaction this recently is used without a check's round
#: trip (a lost one still fails its statement, and ``run`` retries on a new pool).
FRESH_SECONDS = 2.0
#: What a search that came back short sets before it runs again exactly.
_EXACT = "SET LOCAL enable_indexscan = off"


def search_settings(ef_search: int, iterative_scan: IterativeScan = "relaxed_order") -> str:
    """What a search sets with ``SET LOCAL``, in its own transaction (behind PgBouncer in transaction
    mode the next transaction may run on another server connection). Row-level security and the
    filters are applied to the index's candidates: with iterative scans the index keeps scanning
    until the top-k is full rather than stopping after ``ef_search`` candidates. ``relaxed_order``
    (rows slightly out of order, put back in order by the statement) measured better recall than
    ``strict_order`` under a project filter (0.989 against 0.974). ``off``: one bounded candidate list
    (pgvector's default), ``ef_search`` as deep as the search, to measure what this brings."""
    values: dict[str, object] = {
        "hnsw.ef_search": int(ef_search) if iterative_scan == "off" else max(HNSW_EF_SEARCH, int(ef_search)),
        "hnsw.iterative_scan": iterative_scan,
        "ivfflat.iterative_scan": "off" if iterative_scan == "off" else "relaxed_order",
        "ivfflat.probes": _probes(ef_search),
    }
    # One statement (a pipelined transaction sends no multi-statement string): set_config(..., true)
    # is SET LOCAL.
    return "SELECT " + ", ".join(f"set_config('{name}', '{value}', true)" for name, value in values.items())


def _ranked(mode: str, row: Sequence[Any]) -> Ranked:
    if mode == "vector":
        return Ranked(int(row[0]), float(row[1]), vector_score=float(row[1]))
    if mode == "text":
        return Ranked(int(row[0]), float(row[1]), text_score=float(row[1]))
    vs, ts = row[2], row[3]
    return Ranked(
        int(row[0]),
        float(row[1]),
        None if vs is None else float(vs),
        None if ts is None else float(ts),
    )
