"""A throwaway PgBouncer in transaction mode in front of a test PostgreSQL (Debian's ``pgbouncer``),
for tests and benchmarks. ``.ci/install-pgbouncer.sh`` installs it; without it, callers skip."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo


def pgbouncer_binary() -> str | None:
    """The pgbouncer executable (Debian puts it in /usr/sbin), or None."""
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )


@dataclass(frozen=True)
class Bouncer:
    host: str
    port: int
    pool_size: int

    def dsn(self, server_dsn: str) -> str:
        """``server_dsn`` (user, password, database) reached through this PgBouncer."""
        return make_conninfo(server_dsn, host=self.host, port=str(self.port))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_pgbouncer(server_dsn: str, users: Mapping[str, str], *, pool_size: int = 4) -> Iterator[Bouncer]:
    """PgBouncer (transaction pooling, ``pool_size`` server connections per user and database) in
    front of the server of ``server_dsn``; ``users``: name -> password it accepts and logs in with.
    Runs as ``nobody`` when started as root (PgBouncer refuses root)."""
    binary = pgbouncer_binary()
    if binary is None:
        raise FileNotFoundError("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
    server = conninfo_to_dict(server_dsn)
    root = Path(tempfile.mkdtemp(prefix="mahavishnu-test-pgbouncer-"))
    root.chmod(0o755)
    port = _free_port()
    userlist = "".join(f'"{name}" "{password}"\n' for name, password in users.items())
    (root / "userlist.txt").write_text(userlist)
    (root / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={server.get('host', '127.0.0.1')} port={server.get('port', 5432)}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = scram-sha-256\nauth_file = {root / 'userlist.txt'}\n"
        f"pool_mode = transaction\ndefault_pool_size = {pool_size}\nmin_pool_size = 0\n"
        "max_client_conn = 500\nignore_startup_parameters = extra_float_digits\n"
        f"logfile = {root / 'pgbouncer.log'}\npidfile = {root / 'pgbouncer.pid'}\n"
        "server_reset_query =\nserver_check_delay = 0\n"
    )
    user = "nobody" if os.geteuid() == 0 else None
    if user is not None:
        for path in root.iterdir():
            path.chmod(0o644)
        os.chown(root, *_ids(user))
    # Its stderr goes to a file: a pipe nobody reads fills up (PgBouncer logs every login there
    # too) and then PgBouncer blocks writing to it, and every client with it.
    with (root / "stderr.log").open("w") as stderr:
        process = subprocess.Popen(
            [binary, str(root / "pgbouncer.ini")],
            user=user,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )
    try:
        _wait_listening(port, process, root)
        yield Bouncer("127.0.0.1", port, pool_size)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def _wait_listening(port: int, process: subprocess.Popen[str], root: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (root / "pgbouncer.log").read_text() if (root / "pgbouncer.log").exists() else ""
            stderr = (root / "stderr.log").read_text(errors="replace")
            raise RuntimeError(f"pgbouncer exited ({process.returncode}): {stderr.strip()} {log[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("pgbouncer did not listen within 15 s")
