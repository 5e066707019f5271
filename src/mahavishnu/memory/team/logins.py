"""Whether the team store's server lets a role log in without its password (issue 47.5).

Row-level security keeps each member's rows private only if a member can log in as nobody else.
A server whose ``pg_hba.conf`` says ``trust`` for some connections (the embedded PostgreSQL's
``initdb`` default for local ones, say) lets anyone who reaches it that way log in as any member
with no password, and a join string that was used works again there. ``team init``, ``team status``
and ``doctor`` say so, loudly, with the fix.

The probe needs no superuser (``pg_hba_file_rules`` does): it logs in, with no password at all, as
the team's group role, which may never log in. A server that checks passwords refuses the missing
password first; one that trusts the connection accepts it and only then refuses the role, saying
it "is not permitted to log in". Probed: the DSN's own host, and the server's Unix sockets when it
runs on this machine (a loopback or socket DSN), found in ``/proc/net/unix`` (the setting naming
them is for superusers only).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

_ACCEPTED = "is not permitted to log in"
_NO_FILE = os.path.join(os.sep, "nonexistent", f"mahavishnu-no-pgpass-{os.getpid()}")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
#: The fix, for every place that reports a trusting server.
FIX = (
    "In the server's pg_hba.conf (its path: `SHOW hba_file;` as a superuser) change `trust` to "
    "`scram-sha-256` on those lines, then reload it (`SELECT pg_reload_conf();` or `pg_ctl reload`)."
)


def trusted_paths(conn: psycopg.Connection[Any], dsn: str, group: str) -> list[str]:
    """The ways of reaching the server (``host:port``, a socket file) on which it lets a role log in
    with no password; empty when every one probed asks for the password."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(dsn)
    hosts = str(params.get("host") or "").split(",")
    local = all(not h or h.startswith("/") or h in _LOOPBACK for h in hosts)
    targets: list[tuple[str, str]] = [(str(params.get("host") or ""), str(params.get("port") or ""))]
    if local:
        port = str(conn.info.port)
        targets += [(folder, port) for folder in _socket_folders(port)]
    found: list[str] = []
    for host, port in dict.fromkeys(targets):
        if _accepts_without_password(dsn, host, port, group):
            found.append(
                f"{host}/.s.PGSQL.{port}" if host.startswith("/") else f"{host or 'localhost'}:{port}"
            )
    return found


def _socket_folders(port: str) -> list[str]:
    """The folders holding this machine's sockets of a server on ``port`` (only a superuser may read
    ``unix_socket_directories``): Linux lists every listening socket in ``/proc/net/unix``; else
    PostgreSQL's usual folders where the socket is."""
    from pathlib import Path

    name = f".s.PGSQL.{port}"
    try:
        lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    except OSError:
        lines = []
    found = [line.split()[-1] for line in lines if line.split() and line.split()[-1].endswith("/" + name)]
    found += [f"{folder}/{name}" for folder in ("/var/run/postgresql", "/tmp") if Path(folder, name).exists()]
    return list(dict.fromkeys(str(Path(path).parent) for path in found))


def _accepts_without_password(dsn: str, host: str, port: str, role: str) -> bool:
    import psycopg
    from psycopg.conninfo import make_conninfo

    probe = make_conninfo(
        dsn,
        user=role,
        password="",  # set, if empty: libpq then takes none from PGPASSWORD either
        passfile=_NO_FILE,  # nor from ~/.pgpass (a missing file: /dev/null makes libpq print a warning)
        host=host or None,
        port=port or None,
        sslmode="disable" if host.startswith("/") else None,
        connect_timeout=2,
    )
    try:
        psycopg.connect(probe).close()
    except psycopg.Error as exc:
        return _ACCEPTED in str(exc)
    return True  # (the group logged in: worse still)


def warning(paths: list[str]) -> str:
    """The loud line for ``paths`` (``trusted_paths``)."""
    return (
        f"PRIVACY DOES NOT HOLD: the server lets anyone who reaches it through {', '.join(paths)} log in "
        "as any member without a password (pg_hba.conf `trust`), and a used join string works again"
    )
