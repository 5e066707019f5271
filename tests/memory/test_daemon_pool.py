"""A machine's memory daemon on a team PostgreSQL store: one small pool (``memory.daemon_pool_size``,
2) serves all of the machine's terminals and hooks, so the server's connections for a member stay
within that bound however many terminals recall, store and search at once; and through PgBouncer in
transaction mode (Debian's ``pgbouncer`` 1.18, which keeps no prepared statements) none of it fails.

The server is the embedded PostgreSQL 18 + pgvector; the member is a login role made by ``team add``
(``testkit.team_pg``); the daemon is the supervised service the hooks start, with the real local
embedder (the team records its model, as ``team join`` requires)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("psycopg")

import psycopg
from testkit.embedded_pg import PgServer
from testkit.pgbouncer import pgbouncer_binary, running_pgbouncer
from testkit.team_pg import TeamCluster

from mahavishnu.config import load_settings
from mahavishnu.memory.core.embedders.local import DIMENSION
from mahavishnu.memory.loop import daemon
from mahavishnu.memory.loop.daemon import SERVICE, Daemon
from mahavishnu.services.supervisor import Supervisor

BOUND = 2  # memory.daemon_pool_size's default
TERMINALS = 6

# One hook or command run as the assistant runs it (the console script's entry point), printing
# its exit code, whether this process imported psycopg (it connected to the server itself) and
# which of the heavy modules it loaded (Typer, numpy, ONNX Runtime: it did the work itself).
_PROBE = """
import json, sys
from mahavishnu import settings_snapshot
settings_snapshot.SETTLE_NS = 0
from mahavishnu.cli.entry import run
sys.argv = ["mahavishnu", *json.loads(sys.argv[1])]
try:
    run()
    code = 0
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
sys.stdout.flush()
heavy = [m for m in ("typer", "numpy", "onnxruntime") if m in sys.modules]
print("\\n@@" + json.dumps({"code": code, "psycopg": "psycopg" in sys.modules, "heavy": heavy}))
"""


def _local_identity() -> str:
    from mahavishnu.config import MemorySettings
    from mahavishnu.memory.core.store import default_embedder

    return default_embedder(MemorySettings()).identity  # (the model loads at its first embed only)


@pytest.fixture
def member(pg_server: PgServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TeamCluster, str, str]]:
    """A team store whose space is the local embedder's, and one member: (team, role, their DSN)."""
    team = TeamCluster(pg_server.dsn, embedder=_local_identity(), dimension=DIMENSION)
    try:
        team.init()
        ticket = team.add("pooled")
        yield team, ticket.user, ticket.dsn()
    finally:
        team.drop()


class Peak:
    """The most server connections ``role`` held at once, sampled every 20 ms by a superuser."""

    def __init__(self, admin_dsn: str, role: str) -> None:
        self.admin_dsn, self.role, self.peak = admin_dsn, role, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (self.role,)
                ).fetchone()
                self.peak = max(self.peak, int(row[0]) if row else 0)
                self._stop.wait(0.02)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_the_daemons_reading_and_writing_stores_share_one_bounded_pool(
    member: tuple[TeamCluster, str, str], pg_server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, role, dsn = member
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", dsn)
    settings = load_settings()
    served = Daemon()
    try:
        reader, writer = served.store_for(settings), served.writer_for(settings)
        assert writer.backend is reader.backend  # one pool for the recalls and the captures
        reader.store("the retry budget is three attempts", "decision", project="api")
        errors: list[BaseException] = []

        def terminal(store: Any) -> None:  # requests at once, as the daemon's threads would make them
            try:
                for _ in range(15):
                    store.search("retry budget", mode="text", limit=5)
                    store.recent(limit=5)
            except BaseException as exc:
                errors.append(exc)

        with Peak(pg_server.dsn, role) as seen:
            threads = [threading.Thread(target=terminal, args=(s,)) for s in [reader, writer] * 4]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert errors == []
        assert 1 <= seen.peak <= BOUND, f"{seen.peak} server connections for one daemon"
    finally:
        served.close()


def _run(args: list[str], stdin: str = "") -> tuple[int, str, bool]:
    """(exit code, stdout, whether the process connected to the server itself); a process answered
    by the daemon that loaded Typer, numpy or ONNX Runtime anyway fails the test."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args)],
        input=stdin,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    output, _, report = done.stdout.rpartition("\n@@")
    data = json.loads(report)
    assert data["code"] == 0, f"{args}: exit {data['code']}: {done.stderr[-800:]}"
    assert data["psycopg"] or data["heavy"] == [], f"{args} loaded {data['heavy']} with the daemon up"
    return data["code"], output, bool(data["psycopg"])


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Supervisor]]:
    """``start(dsn)``: this home's memory daemon on the store at ``dsn``, started as the hooks start
    it (the supervised service); stopped at the end."""
    started: list[Supervisor] = []

    def start(dsn: str) -> Supervisor:
        monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", dsn)
        monkeypatch.setenv(daemon.DISABLE_ENV, "on")
        supervisor = Supervisor(load_settings())
        supervisor.start(SERVICE)
        started.append(supervisor)
        return supervisor

    yield start
    for supervisor in started:
        supervisor.stop(SERVICE)


def _terminals(n: int) -> tuple[list[str], list[bool]]:
    """``n`` terminals at once, each: a prompt hook, a store with its own marker, a search, a
    prompt hook again. The markers each acknowledged, and whether each process connected itself."""
    markers: list[str] = []
    connected: list[bool] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def terminal(t: int) -> None:
        prompt = json.dumps(
            {
                "hook_event_name": "UserPromptSubmit",
                "session_id": f"s{t}",
                "prompt": "what is the retry budget?",
            }
        )
        marker = f"pool-marker-{t}: the retry budget of terminal {t} is three attempts"
        try:
            runs = [
                _run(["memory", "context", "--tool", "claude"], prompt),
                _run(["memory", "store", marker, "--type", "decision", "--project", "api"]),
                _run(["memory", "search", "retry budget", "--limit", "3"]),
                _run(["memory", "context", "--tool", "claude"], prompt),
            ]
        except BaseException as exc:
            failures.append(exc)
            return
        with lock:
            markers.append(marker)
            connected.extend(own for _, _, own in runs)

    threads = [threading.Thread(target=terminal, args=(t,)) for t in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    return markers, connected


def _present(admin_dsn: str, database: str, markers: list[str]) -> dict[str, int]:
    from psycopg.conninfo import make_conninfo

    with psycopg.connect(make_conninfo(admin_dsn, dbname=database)) as conn:
        rows = conn.execute(
            "SELECT content, count(*) FROM memories WHERE content LIKE 'pool-marker-%' GROUP BY 1"
        ).fetchall()
    counts = {str(content): int(n) for content, n in rows}
    return {marker: counts.get(marker, 0) for marker in markers}


def test_many_terminals_hooks_use_the_daemons_pool_not_connections_of_their_own(
    member: tuple[TeamCluster, str, str],
    pg_server: PgServer,
    machine: Callable[[str], Supervisor],
) -> None:
    team, role, dsn = member
    machine(dsn)
    with Peak(pg_server.dsn, role) as seen:
        markers, connected = _terminals(TERMINALS)
    assert not any(connected), "a hook or command opened a server connection of its own"
    assert seen.peak <= BOUND, f"{seen.peak} server connections for one machine of {TERMINALS} terminals"
    assert set(_present(pg_server.dsn, team.database, markers).values()) == {1}


def test_the_daemon_behind_pgbouncer_in_transaction_mode_has_no_prepared_statement_errors(
    member: tuple[TeamCluster, str, str],
    pg_server: PgServer,
    machine: Callable[[str], Supervisor],
) -> None:
    if pgbouncer_binary() is None:
        reason = "pgbouncer is not installed (.ci/install-pgbouncer.sh installs Debian's)"
        print(f"SKIPPED: {reason}")
        pytest.skip(reason)
    from psycopg.conninfo import conninfo_to_dict

    team, role, dsn = member
    password = str(conninfo_to_dict(dsn)["password"])
    with running_pgbouncer(team.owner_dsn, {role: password}, pool_size=BOUND) as bouncer:
        supervisor = machine(bouncer.dsn(dsn))
        with Peak(pg_server.dsn, role) as seen:
            markers, connected = _terminals(TERMINALS)
        log = supervisor.log_path(SERVICE).read_text(encoding="utf-8", errors="replace")
    assert "prepared statement" not in log and "request failed" not in log, log[-2000:]
    assert not any(connected)
    assert seen.peak <= BOUND
    assert set(_present(pg_server.dsn, team.database, markers).values()) == {1}


def test_a_prompt_hook_without_its_daemon_adds_nothing_rather_than_connecting(
    member: tuple[TeamCluster, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No daemon answers (it is starting, or busy): a prompt's recall on a team store is the daemon's
    or none, never a connection of the hook's own; a session start still recalls in-process."""
    _, _, dsn = member
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", dsn)
    monkeypatch.setenv(daemon.DISABLE_ENV, "on")
    starting = daemon.socket_path().with_name("memory.starting")  # (a start under way: none is launched)
    starting.parent.mkdir(parents=True, exist_ok=True)
    starting.touch()
    prompt = json.dumps({"hook_event_name": "UserPromptSubmit", "session_id": "s", "prompt": "retry budget?"})
    _, output, connected = _run(["memory", "context", "--tool", "claude"], prompt)
    assert (output.strip(), connected) == ("", False)
    session = json.dumps({"hook_event_name": "SessionStart", "session_id": "s"})
    _, _, connected = _run(["memory", "context", "--tool", "claude"], session)
    assert connected


def test_an_assistants_mcp_server_stores_and_searches_through_the_daemons_pool(
    member: tuple[TeamCluster, str, str], pg_server: PgServer, machine: Callable[[str], Supervisor]
) -> None:
    """An assistant's MCP server (one per session) on a team store stores and searches through the
    machine's daemon: it opens no store nor connection of its own, and hits carry their author."""
    import anyio
    from mcp import Client

    from mahavishnu import mcp_server

    team, role, dsn = member
    machine(dsn)
    backing = mcp_server.Backing()
    marker = "pool-marker-mcp: the retry budget the MCP server stored is three attempts"

    async def session() -> list[Any]:
        async with Client(mcp_server.build_server(backing)) as client:
            stored = await client.call_tool("store_memory", {"content": marker, "type": "decision"})
            found = await client.call_tool("search_memory", {"query": "retry budget MCP server stored"})
            return [stored.structured_content, found.structured_content]

    with Peak(pg_server.dsn, role) as seen:
        stored, found = anyio.run(session)
    assert stored["already_stored"] is False and stored["source_system"] == "mcp"
    hits = found["result"]
    assert hits[0]["memory"]["id"] == stored["id"] and hits[0]["memory"]["author"] == role
    assert backing._store is None, "the MCP server opened a store of its own"
    assert seen.peak <= BOUND
    assert _present(pg_server.dsn, team.database, [marker]) == {marker: 1}


def test_a_daemon_uses_the_new_password_its_member_joined_again_with(
    member: tuple[TeamCluster, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner changed a member's password and gave them a new join string; ``team join`` kept the
    new password. The daemon's store, opened with the old one, is refused logins: its next request
    opens the store anew with the password kept now (it said `password authentication failed` to
    every hook and command until the daemon was restarted)."""
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from mahavishnu.errors import BackendUnavailableError

    team, role, dsn = member
    params = conninfo_to_dict(dsn)
    monkeypatch.setenv("MAHAVISHNU_PG_PASSWORD", str(params.pop("password")))
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", make_conninfo("", **params))
    settings = load_settings()
    served = Daemon()
    try:
        served.store_for(settings).store("the retry budget is three attempts", "decision")
        with psycopg.connect(team.admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD 'changed-by-the-owner'").format(sql.Identifier(role))
            )
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
        with pytest.raises(BackendUnavailableError, match="password authentication failed") as refused:
            served.store_for(settings).recent(limit=1)
        assert "`mahavishnu team join STRING`" in str(refused.value.hint)
        monkeypatch.setenv("MAHAVISHNU_PG_PASSWORD", "changed-by-the-owner")  # (what `team join` kept)
        recent = served.store_for(settings).recent(limit=1)
        assert [m.content for m in recent] == ["the retry budget is three attempts"]
    finally:
        served.close()
