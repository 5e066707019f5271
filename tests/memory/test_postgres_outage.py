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


def test_a_command_waits_for_a_silent_server_once(
    relay: tuple[Relay, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that takes the connection and never answers (a black-holed network): a command's
    store waited for it at its open, then again at each call (a search, a store: two connect
    timeouts and more); it waits once in the command, and the next command tries it again."""
    from mahavishnu.errors import QueuedOfflineError, ServerUnreachableError
    from mahavishnu.memory.core.backends import postgres

    attempts: list[float] = []
    connect = postgres.connect
    monkeypatch.setattr(postgres, "connect", lambda dsn: (attempts.append(time.monotonic()), connect(dsn))[1])
    monkeypatch.setenv("MAHAVISHNU_PG_CONNECT_TIMEOUT", "1")  # (libpq waits 2 s at the least)
    proxy, dsn = relay
    settings = MemorySettings(backend="postgres", dsn=dsn)
    proxy.holding.set()
    with MemoryStore.open(settings, one_command=True) as store:
        with pytest.raises(ServerUnreachableError):
            store.search("gunicorn workers", limit=3)
        with pytest.raises(QueuedOfflineError):
            store.store("gunicorn workers = 2*cores+1", "note")
    assert len(attempts) == 1
    proxy.holding.clear()
    with MemoryStore.open(settings, embedder=FakeEmbedder(), one_command=True) as store:
        assert _timed_search(store)[1] is None


def test_daemon_requests_received_while_one_waited_for_a_silent_server_get_its_answer(
    relay: tuple[Relay, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon answers its requests one at a time: with the team server silent, each waited for
    it (its store's open or check, then the call: two connect timeouts and more), so those queued
    behind were past their client's wait, and the client did the work itself, waiting as long
    again. A request received while another waited gets that answer at once; one received after it
    tries the server again, and is served once the server answers."""
    from mahavishnu import settings_snapshot
    from mahavishnu.memory.loop.daemon import PROTOCOL, RECEIVED, Daemon

    proxy, dsn = relay
    attempts = _counted_attempts(monkeypatch, dsn)

    def request(op: str, **args: object) -> dict[str, object]:
        key = settings_snapshot.process_key()
        message = {"op": op, "args": args, "cwd": os.getcwd(), "settings_key": key, "protocol": PROTOCOL}
        return {**message, RECEIVED: time.monotonic()}

    proxy.holding.set()
    served = Daemon()
    try:
        queued = [request("search", query="gunicorn workers") for _ in range(3)]  # (received together)
        for answer in [served.handle(message) for message in queued]:
            assert "cannot use PostgreSQL" in str(answer.get("error")), answer
        assert len(attempts) == 1
        stored = served.handle(request("store", content="gunicorn workers = 2*cores+1"))
        assert stored["ok"] and stored["result"]["queued"], stored
        assert len(attempts) == 2
        proxy.holding.clear()
        stored = served.handle(request("store", content="the retry budget is three attempts"))
        assert stored["ok"] and "memory" in stored["result"], stored
    finally:
        proxy.holding.clear()
        served.close()


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


def test_a_pooled_connection_the_server_ended_is_found_by_the_check(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that ended a pooled connection (a restart, pg_terminate_backend,
    idle_session_timeout) says so on it: the check before use finds it and renews the pool, rather
    than pass the closed connection on for the call to fail on (or spend a retry on)."""
    import psycopg

    from mahavishnu.memory.core.backends import postgres

    store = MemoryStore(PostgresBackend(pg_dsn, retries=0), MemorySettings(), FakeEmbedder())
    try:
        store.store("gunicorn workers = 2*cores+1", "note")
        assert _timed_search(store)[1] is None
        monkeypatch.setattr(postgres, "FRESH_SECONDS", 0.0)
        others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute(f"SELECT pg_terminate_backend(pid) {others}")  # type: ignore[arg-type]
            while admin.execute(f"SELECT count(*) {others}").fetchone() != (0,):  # type: ignore[arg-type]
                time.sleep(0.05)  # (each ends when its process has taken the signal)
        assert _timed_search(store)[1] is None
    finally:
        store.close()


def test_a_pool_another_thread_discarded_meanwhile_is_replaced(pg_dsn: str) -> None:
    """A search's two legs take their connections in two threads: one leg's check found the server
    had ended its connection and discarded the pool while the other was taking one from it, which
    failed as 'the pool is closed' (seen under load in CI)."""
    backend = PostgresBackend(pg_dsn, retries=0)
    try:
        first = backend.pool
        taken = first.getconn

        def discarded_meanwhile(*args: object, **kwargs: object) -> object:
            backend._discard(first)  # (the other thread's check, between `self.pool` and getconn)
            return taken(*args, **kwargs)

        first.getconn = discarded_meanwhile  # type: ignore[method-assign]
        assert backend.run(lambda conn: conn.execute("SELECT 1").fetchone()) == (1,)
        assert backend.pool is not first
    finally:
        backend.close()


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


SILENT_CLIENT = textwrap.dedent(
    """
    import subprocess, sys, threading, time
    from mahavishnu.errors import BackendUnavailableError
    from mahavishnu.memory.core.backends.postgres import PostgresBackend

    def sh(command):
        subprocess.run(command, shell=True, check=True)

    # the server's side in a network namespace of its own, at 10.9.0.2, over a veth pair: dropping
    # what leaves it is a network that drops everything (a drop on the client's own side would be
    # taken by TCP for local congestion, never given up)
    side = subprocess.Popen(["unshare", "-n", "sleep", "60"])
    time.sleep(0.3)
    server = f"nsenter -t {side.pid} -n"
    sh(f"ip link add va type veth peer name vb netns {side.pid}")
    sh("ip addr add 10.9.0.1/24 dev va && ip link set va up")
    sh(f"{server} sh -c 'ip addr add 10.9.0.2/24 dev vb && ip link set vb up'")
    relay = subprocess.Popen([*server.split(), sys.executable, "-c", sys.argv[3], sys.argv[1]])
    time.sleep(0.5)
    backend = PostgresBackend(sys.argv[2])
    backend.run(lambda conn: conn.execute("SELECT 1"))
    silence = f"{server} tc qdisc add dev vb root pfifo limit 0"
    for case in ("fresh", "in flight"):
        if case == "in flight":  # the query sent and taken before the network went silent
            threading.Timer(0.5, sh, (silence,)).start()
        else:  # within FRESH_SECONDS of the last use: not checked before the query
            sh(silence)
        start = time.monotonic()
        try:
            backend.run(lambda conn: conn.execute("SELECT pg_sleep(1)"), retry=False)
            outcome = "answered"
        except BackendUnavailableError as exc:
            outcome = type(exc).__name__
        print(case, outcome, round(time.monotonic() - start, 1), flush=True)
        sh(f"{server} tc qdisc del dev vb root")
        backend.run(lambda conn: conn.execute("SELECT 1"))  # the network back: served again
    relay.kill()
    side.kill()
    """
)
#: In the server's namespace: 10.9.0.2:5432 -> the test's Unix socket (argv[1]) -> the server.
SILENT_RELAY = textwrap.dedent(
    """
    import socket, sys, threading

    def pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass

    listener = socket.create_server(("10.9.0.2", 5432))
    while True:
        client = listener.accept()[0]
        server = socket.socket(socket.AF_UNIX)
        server.connect(sys.argv[1])
        for a, b in ((client, server), (server, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()
    """
)


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)


def _unshare_with_tc() -> bool:
    """Whether this machine lets a test drop every packet in a network namespace of its own."""
    try:
        probe = "ip link add va type veth peer name vb && tc qdisc add dev vb root pfifo limit 0"
        return (
            subprocess.run(["unshare", "-rn", "sh", "-c", probe], capture_output=True, timeout=10).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_a_query_whose_network_goes_silent_fails_within_seconds(pg_dsn: str, tmp_path: Path) -> None:
    """The network drops every packet while a query is on its way or under way (the pool's check
    skipped, or passed a moment before): the server's statement_timeout cannot end a query it
    never got, so the client waited as long as TCP keeps the connection (15 min and more); libpq's
    TCP user timeout and keepalives give it up within about two connect timeouts, said as the
    server being unreachable. (Packets are dropped in a network namespace of the test's own.)"""
    if not _unshare_with_tc():
        pytest.skip("needs `unshare -rn`, veth and tc's pfifo qdisc (network namespaces to drop packets in)")
    params = conninfo_to_dict(pg_dsn)
    path = str(tmp_path / "pg.sock")
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(path)
    unix.listen(8)

    def forward() -> None:  # the test's Unix socket -> the server's TCP port
        with contextlib.suppress(OSError):
            while True:
                client = unix.accept()[0]
                server = socket.create_connection((str(params["host"]), int(str(params["port"]))))
                for a, b in ((client, server), (server, client)):
                    threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    threading.Thread(target=forward, daemon=True).start()
    code = str(Path(mahavishnu.__file__).parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([code, os.environ.get("PYTHONPATH", "")]),
        "MAHAVISHNU_PG_CONNECT_TIMEOUT": "2",
    }
    dsn = make_conninfo(pg_dsn, host="10.9.0.2", port="5432")
    try:
        ran = subprocess.run(
            ["unshare", "-rn", sys.executable, "-c", SILENT_CLIENT, path, dsn, SILENT_RELAY],
            env=env,
            capture_output=True,
            text=True,
            timeout=40,  # (without the bound, TCP waits 15 min and more)
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"still waiting on a silent network after 40 s: {exc.stdout!r}")
    finally:
        unix.close()
    assert ran.returncode == 0, ran.stderr[-2000:]
    for line, case in zip(ran.stdout.splitlines(), ("fresh", "in flight"), strict=True):
        said, seconds = line.rsplit(" ", 1)
        assert said == f"{case} ServerUnreachableError", ran.stdout
        assert float(seconds) < 2 * 2 + FAST, ran.stdout


def test_the_tcp_settings_a_dsn_gives_are_its_own() -> None:
    """A DSN that sets keepalives or a TCP user timeout keeps them: only the others are added."""
    from mahavishnu.memory.core.backends.postgres import tcp_settings

    mine = tcp_settings("postgresql://alice@db.example/team?keepalives_idle=30&tcp_user_timeout=0")
    assert "keepalives_idle" not in mine and "tcp_user_timeout" not in mine
    assert mine["keepalives"] == 1 and set(tcp_settings("postgresql://alice@db.example/team")) > set(mine)


def test_health_waits_for_a_silent_team_server_once(
    relay: tuple[Relay, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``health``'s store and postgres checks each opened the store, side by side: two connection
    attempts to a black-holed server; the postgres line is now the store check's own attempt."""
    from mahavishnu.health import health_report

    proxy, dsn = relay
    attempts = _counted_attempts(monkeypatch, dsn)
    proxy.holding.set()
    started = time.monotonic()
    found = {c.component: c for c in health_report(probe_providers=False, record=False).components}
    print(f"health: {time.monotonic() - started:.2f} s, {len(attempts)} attempts")
    assert found["store"].status == found["postgres"].status == "error"
    assert "timeout" in found["postgres"].detail and "s3cret" not in found["postgres"].detail
    assert len(attempts) == 1
    proxy.holding.clear()
    found = {c.component: c for c in health_report(probe_providers=False, record=False).components}
    assert found["store"].status == found["postgres"].status == "ok", found
    assert found["postgres"].detail.startswith("reachable at ") and found["postgres"].data["pending"] == []


def test_a_pooled_connection_whose_check_times_out_is_waited_for_once(
    relay: tuple[Relay, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long-lived store (the daemon's) connected before the network went silent: its first request
    waited for the pooled connection's check to time out, then for a new connection's attempt as long
    again. A check that timed out now answers the request (and the rest of it) that the server is
    unreachable; the next request tries it again, and is served once the network is back."""
    from mahavishnu.errors import ServerUnreachableError
    from mahavishnu.memory.core.backends import postgres
    from mahavishnu.memory.core.models import Filters

    attempts: list[float] = []
    connect = postgres.connect
    monkeypatch.setattr(postgres, "connect", lambda dsn: (attempts.append(time.monotonic()), connect(dsn))[1])
    monkeypatch.setenv("MAHAVISHNU_PG_CONNECT_TIMEOUT", "1")  # (libpq waits 2 s at the least)
    proxy, dsn = relay
    backend = PostgresBackend(dsn)
    try:
        backend.recent(Filters(), 1)
        time.sleep(postgres.FRESH_SECONDS)  # (the pooled connection idle: checked before use)
        proxy.holding.set()
        attempts.clear()
        with postgres.serving(time.monotonic()):
            started = time.monotonic()
            with pytest.raises(ServerUnreachableError, match="no answer to a check within 1 s"):
                backend.recent(Filters(), 1)
            elapsed = time.monotonic() - started
            with pytest.raises(ServerUnreachableError):
                backend.recent(Filters(), 1)
            assert time.monotonic() - started - elapsed < 0.5  # (the same request: not waited for again)
        print(f"first request: {elapsed:.2f} s, {len(attempts)} connection attempts after the check")
        assert attempts == [] and elapsed < 2 * postgres.connect_timeout(), elapsed
        proxy.holding.clear()
        with postgres.serving(time.monotonic()):
            assert backend.recent(Filters(), 1) is not None
    finally:
        proxy.holding.clear()
        backend.close()


def _counted_attempts(monkeypatch: pytest.MonkeyPatch, dsn: str) -> list[float]:
    """The store set to the team server at ``dsn`` with a 1 s connect timeout (libpq waits 2 s at
    the least); the times of its connection attempts, as they are made."""
    from mahavishnu.memory.core.backends import postgres

    attempts: list[float] = []
    connect = postgres.connect
    monkeypatch.setattr(postgres, "connect", lambda dsn: (attempts.append(time.monotonic()), connect(dsn))[1])
    monkeypatch.setenv("MAHAVISHNU_PG_CONNECT_TIMEOUT", "1")
    monkeypatch.setenv("MAHAVISHNU_MEMORY__BACKEND", "postgres")
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", dsn)
    return attempts
