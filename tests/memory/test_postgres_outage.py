"""A long-lived PostgreSQL store (the memory daemon's) while the server goes away and comes back.

The server is reached through a TCP relay this test stops and starts: stopping it drops every
connection and refuses new ones, as a stopped server does. A call then fails about as fast as a
connection attempt, with libpq's reason (not after the pool's 15 s wait), a server that is back is
used at once (not after the pool's reconnection back-off), and the pool's own log lines stay off
the terminal."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from testkit.team_pg import within

import mahavishnu
from mahavishnu.config import MemorySettings
from mahavishnu.errors import BackendUnavailableError
from mahavishnu.memory.core.backends.postgres import PostgresBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore

FAST = 3.0  # seconds: a refused connection takes milliseconds; the old pool waited 15 s


class Relay:
    """127.0.0.1:port -> the server; ``stop`` closes the listener and every relayed connection;
    while ``holding`` is set, nothing goes through, in either direction (a network that drops the
    packets, a frozen server): each side waits, its connection still open."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self.holding = threading.Event()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, []
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            while self.holding.is_set():
                time.sleep(0.05)
            server = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                while self.holding.is_set():
                    time.sleep(0.05)
                dst.sendall(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def relay(pg_dsn: str) -> Iterator[tuple[Relay, str]]:
    params = conninfo_to_dict(pg_dsn)
    relay = Relay(str(params["host"]), int(str(params["port"])))
    relay.start()
    try:
        yield relay, make_conninfo(pg_dsn, host="127.0.0.1", port=str(relay.port))
    finally:
        relay.stop()


def _timed_search(store: MemoryStore) -> tuple[float, BaseException | None]:
    start = time.monotonic()
    try:
        store.search("gunicorn workers", limit=3)
    except BackendUnavailableError as exc:
        return time.monotonic() - start, exc
    return time.monotonic() - start, None


def test_a_stopped_server_fails_fast_and_a_restarted_one_is_used_at_once(
    relay: tuple[Relay, str],
) -> None:
    proxy, dsn = relay
    store = MemoryStore(PostgresBackend(dsn), MemorySettings(), FakeEmbedder())
    try:
        store.store("gunicorn workers = 2*cores+1", "note")
        elapsed, error = _timed_search(store)
        assert error is None and elapsed < FAST
        proxy.stop()
        for _ in range(3):
            elapsed, error = _timed_search(store)
            assert error is not None and elapsed < FAST, elapsed
            assert "couldn't get a connection" not in str(error)  # libpq's reason, not the pool's
        proxy.start()
        elapsed, error = _timed_search(store)
        assert error is None and elapsed < FAST, (elapsed, error)
        proxy.stop()  # a restart while nobody asks: the next call is served at once
        proxy.start()
        elapsed, error = _timed_search(store)
        assert error is None and elapsed < FAST, (elapsed, error)
    finally:
        store.close()


def test_a_pooled_connection_gone_silent_fails_in_seconds_and_is_replaced(relay: tuple[Relay, str]) -> None:
    """The network between a long-lived store (the daemon's, the dashboard's) and its server drops
    everything: the next call fails within the check's and a connection's timeouts, libpq's reason
    said, rather than wait on the pooled connection for ever (the dashboard's memory page did); once
    the network is back, the next call is served at once."""
    from mahavishnu.memory.core.backends import postgres

    proxy, dsn = relay
    store = MemoryStore(PostgresBackend(dsn), MemorySettings(), FakeEmbedder())
    try:
        store.store("gunicorn workers = 2*cores+1", "note")
        time.sleep(postgres.FRESH_SECONDS)  # (the pool's connections idle: checked before use)
        proxy.holding.set()
        timed: list[tuple[float, BaseException | None]] = []
        assert (
            within(4 * postgres.connect_timeout() + FAST, lambda: timed.append(_timed_search(store))) is None
        )
        [(elapsed, error)] = timed
        assert isinstance(error, BackendUnavailableError), error
        assert "timeout" in str(error) and "couldn't get a connection" not in str(error)
        proxy.holding.clear()
        elapsed, error = _timed_search(store)
        assert error is None and elapsed < FAST, (elapsed, error)
    finally:
        proxy.holding.clear()
        store.close()


CLIENT = textwrap.dedent(
    """
    import sys
    from mahavishnu.memory.core.backends.postgres import PostgresBackend
    from mahavishnu.memory.core.models import Filters
    backend = PostgresBackend(sys.argv[1])
    backend.recent(Filters(), 1)
    print(backend.pool.name, flush=True)
    sys.stdin.readline()  # the server is gone
    try:
        backend.recent(Filters(), 1)
    except Exception as exc:
        print(type(exc).__name__, flush=True)
    """
)


def test_pool_log_lines_stay_off_the_terminal_and_name_the_process(relay: tuple[Relay, str]) -> None:
    proxy, dsn = relay
    code = str(Path(mahavishnu.__file__).parents[1])  # the code under test, wherever the test runs
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([code, os.environ.get("PYTHONPATH", "")])}
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, dsn],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert client.stdout is not None and client.stdin is not None
    name = client.stdout.readline().strip()
    proxy.stop()
    out, err = client.communicate("\n", timeout=60)
    assert out.strip() == "ServerUnreachableError"  # (a BackendUnavailableError: no answer at all)
    assert "error connecting" not in err and "psycopg.pool" not in err, err
    assert name != "mahavishnu-memory" and str(client.pid) in name


def test_a_connection_used_a_moment_ago_is_not_checked_again(
    relay: tuple[Relay, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check before a pooled connection is used costs a round trip (through PgBouncer, a
    server transaction of its own): skipped within ``FRESH_SECONDS`` of the connection's last
    transaction; a restart in that window is still survived (``run`` retries on a new pool)."""
    from mahavishnu.memory.core.backends import postgres

    checks: list[object] = []
    check = postgres.check_connection
    monkeypatch.setattr(postgres, "check_connection", lambda conn: (checks.append(conn), check(conn)))
    proxy, dsn = relay
    store = MemoryStore(PostgresBackend(dsn), MemorySettings(), FakeEmbedder())
    try:
        store.store("gunicorn workers = 2*cores+1", "note")
        for _ in range(3):  # (the pool's connections each used once: hybrid runs its legs side by side)
            assert _timed_search(store)[1] is None
        checks.clear()
        for _ in range(3):
            assert _timed_search(store)[1] is None
        assert checks == []
        monkeypatch.setattr(postgres, "FRESH_SECONDS", 0.0)
        assert _timed_search(store)[1] is None
        assert checks
        monkeypatch.setattr(postgres, "FRESH_SECONDS", 60.0)
        proxy.stop()
        proxy.start()
        assert _timed_search(store)[1] is None
    finally:
        store.close()


@pytest.mark.parametrize(
    "said",
    [
        "sorry, too many clients already",
        "remaining connection slots are reserved for roles with the SUPERUSER attribute",
    ],
)
def test_a_server_at_its_max_connections_is_said_to_be_full_not_down(said: str) -> None:
    """Every connection of the server taken (by everyone, not this member: that is their CONNECTION
    LIMIT's own line): the hint said to check that the server runs and memory.dsn names it, which
    both hold; it says the server is full, and what is stored meanwhile waits."""
    import psycopg

    from mahavishnu.errors import ServerUnreachableError
    from mahavishnu.memory.core.backends.postgres import _unavailable

    dsn = "postgresql://alice:pw@db.example:5432/team"
    reason = f'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  {said}'
    error = _unavailable(dsn, psycopg.OperationalError(reason))
    assert isinstance(error, ServerUnreachableError)  # (queued: a moment later there is room)
    assert "max_connections" in str(error.hint) and "running and reachable" not in str(error.hint)
    assert "outbox" in str(error.hint) and "pw" not in str(error) + str(error.hint)
