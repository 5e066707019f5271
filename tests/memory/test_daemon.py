"""The memory daemon: a real supervised process on a Unix socket, its protocol, and the fallback."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mahavishnu import paths
from mahavishnu.cli.fast.search import parse_memory_search
from mahavishnu.config import load_settings
from mahavishnu.errors import MahavishnuError, ServiceError
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.loop import daemon
from mahavishnu.memory.loop.daemon import PROTOCOL, SERVICE, Daemon, socket_path
from mahavishnu.memory.loop.session_logs import session_root
from mahavishnu.services.supervisor import Supervisor, reap

HEAVY = ("numpy", "onnxruntime", "usearch", "tokenizers", "typer", "pydantic", "rich")

# The console script's entry point; prints its exit code and the top-level packages it imported.
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
    code = exc.code
sys.stdout.flush()
print("\\n@@" + json.dumps({"code": code, "modules": sorted({n.split(".")[0] for n in sys.modules})}))
"""


def cli(args: list[str]) -> tuple[int, Any, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args)],
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        check=False,
    )
    output, _, report = done.stdout.rpartition("\n@@")
    data = json.loads(report)
    return data["code"], output, set(data["modules"])


@pytest.fixture
def memories(isolated_home: Path) -> list[int]:
    with MemoryStore.open() as store:  # the real local embedder, as the daemon will use
        return [
            store.store("Use WAL mode for the SQLite store", "decision", project="demo").id,
            store.store("The CI runs on two cores", "note", project="demo").id,
        ]


@pytest.fixture
def running(memories: list[int], monkeypatch: pytest.MonkeyPatch) -> Iterator[Supervisor]:
    monkeypatch.setenv(daemon.DISABLE_ENV, "on")
    supervisor = Supervisor(load_settings())
    supervisor.start(SERVICE)
    try:
        yield supervisor
    finally:
        supervisor.stop(SERVICE)


def test_search_through_the_daemon_is_the_in_process_search_without_the_heavy_imports(
    running: Supervisor, memories: list[int]
) -> None:
    path = socket_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    code, output, modules = cli(["memory", "search", "sqlite journal mode", "-p", "demo", "--json"])
    assert code == 0
    assert not modules & set(HEAVY)  # the daemon answered: no model, no index, no Typer here
    with MemoryStore.open() as store:
        expected = [h.to_dict() for h in store.search("sqlite journal mode", filters={"project": "demo"})]
    assert json.loads(output) == expected and expected[0]["memory"]["id"] == memories[0]
    code, output, _ = cli(["memory", "search", "sqlite", "--mode", "text"])
    assert code == 0 and "Use WAL mode for the SQLite store" in output and "decision" in output


def test_a_user_error_is_reported_as_the_command_reports_it(running: Supervisor) -> None:
    code, _, _ = cli(["memory", "search", "x", "--mode", "fuzzy"])
    assert code == 2
    done = subprocess.run(
        [sys.executable, "-m", "mahavishnu", "memory", "search", "x", "--mode", "fuzzy"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "error: invalid search mode 'fuzzy'" in done.stderr


def test_clients_that_hang_send_garbage_or_die_do_not_take_it_down(running: Supervisor) -> None:
    path = str(socket_path())
    hung = socket.socket(socket.AF_UNIX)  # connects, sends nothing, stays: must delay nobody
    hung.connect(path)
    answer = daemon.request("search", {"query": "sqlite", "limit": 1}, timeout=5)
    assert answer is not None and answer["ok"]
    hung.close()
    with socket.socket(socket.AF_UNIX) as conn:  # half a request, then gone
        conn.connect(path)
        conn.sendall(b'{"op": "sea')
    with socket.socket(socket.AF_UNIX) as conn:  # garbage
        conn.connect(path)
        conn.sendall(b"\x00\xff not json\n")
        conn.shutdown(socket.SHUT_WR)
        assert json.loads(conn.recv(65536))["fallback"] == "protocol"
    killed = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import socket, os, signal; s = socket.socket(socket.AF_UNIX); s.connect({path!r}); "
            's.sendall(b\'{"op": "search"\'); os.kill(os.getpid(), signal.SIGKILL)',
        ]
    )
    assert killed.wait(30) == -9
    answer = daemon.request("search", {"query": "sqlite", "limit": 1})
    assert answer is not None and answer["ok"] and len(answer["result"]) == 1
    assert daemon.ping() is not None and running.status(SERVICE).state == "running"


def test_a_client_that_never_reads_its_long_answer_delays_nobody(running: Supervisor) -> None:
    """An answer longer than the socket takes at once (a 900 kB error: the mode is quoted back) to
    a client that does not read it: the next client is answered meanwhile, and the first one still
    gets the whole answer when it reads at last."""
    import select

    mode = "z" * 900_000
    request = message("search", query="sqlite", mode=mode)
    with socket.socket(socket.AF_UNIX) as slow:
        slow.connect(str(socket_path()))
        slow.sendall(json.dumps(request).encode() + b"\n")
        slow.shutdown(socket.SHUT_WR)
        assert select.select([slow], [], [], 30)[0]  # its answer is being written: the next one waits for it
        answer = daemon.request("search", {"query": "sqlite", "limit": 1}, timeout=5)
        assert answer is not None and answer["ok"] and len(answer["result"]) == 1
        slow.settimeout(30)
        assert json.loads(daemon._read_all(slow))["error"] == f"invalid search mode {mode!r}"


@pytest.mark.skipif(not hasattr(__import__("resource"), "prlimit"), reason="Linux: prlimit")
def test_a_burst_beyond_its_open_files_limit_does_not_stop_it(running: Supervisor) -> None:
    """``accept`` failing for want of a descriptor (EMFILE) is a moment, not a shutdown: the
    clients of the burst fall back, and the daemon serves those that come after."""
    import resource

    pid = running.status(SERVICE).pid
    assert pid is not None
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (len(os.listdir(f"/proc/{pid}/fd")) + 8,) * 2)
    burst = []
    for _ in range(60):  # (the listen backlog holds what is not accepted yet)
        conn = socket.socket(socket.AF_UNIX)
        conn.connect(str(socket_path()))
        burst.append(conn)
    time.sleep(1)
    for conn in burst:
        conn.close()
    deadline = time.monotonic() + 10
    answer = None
    while answer is None and time.monotonic() < deadline:
        answer = daemon.request("search", {"query": "sqlite", "limit": 1}, timeout=2)
    assert answer is not None and answer["ok"]
    assert running.status(SERVICE).state == "running"


def test_the_callers_secrets_are_redacted_in_what_the_daemon_captures_and_returns(
    running: Supervisor, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token exported where the hook runs, not where the daemon was started: the daemon redacts
    it in the session it captures for that hook and in the hits it returns to that caller, as the
    caller itself would (its request hands the daemon its held values)."""
    value = "qwe7Rty9Uio1Pas3Dfg5"
    with MemoryStore.open() as store:  # stored before it was held anywhere: quoted as it is
        store.store(f"The acme gateway answers to {value}", "note", project="demo")
    monkeypatch.setenv("ACME_GATEWAY_TOKEN", value)
    root = session_root("claude")
    session = root / "-proj" / "acme.jsonl"
    session.parent.mkdir(parents=True)
    turn = {"role": "user", "content": f"We decided the acme gateway uses {value} as its credential."}
    line = {"type": "user", "message": turn, "uuid": "u1", "timestamp": "2026-11-22T09:49:09.236Z"}
    session.write_text(json.dumps({**line, "cwd": str(isolated_home), "sessionId": "acme"}) + "\n")
    payload = {"hook_event_name": "Stop", "session_id": "acme", "transcript_path": str(session)}
    answer = daemon.request("capture", {"tool": "claude", "payload": payload, "root": str(root)}, timeout=120)
    assert answer is not None and answer["ok"], answer
    stored = b"".join(p.read_bytes() for p in paths.data_dir().glob("memory.db*"))  # with its WAL
    assert b"acme gateway uses [REDACTED" in stored
    assert stored.count(value.encode()) == stored.count(
        b"answers to " + value.encode()
    )  # the old note's only
    code, output, modules = cli(["memory", "search", "acme gateway credential", "--json"])
    assert code == 0 and not modules & set(HEAVY)  # the daemon answered
    assert "acme gateway" in output and value not in output


def test_stop_removes_the_socket_and_the_process(running: Supervisor) -> None:
    pid = running.status(SERVICE).pid
    assert pid is not None and socket_path().exists()
    assert running.stop(SERVICE).signals == ["SIGTERM"]  # it exits on SIGTERM, no SIGKILL needed
    assert not socket_path().exists()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        reap()  # this test process is its parent: collect the exit status, as `watch` does
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()
    assert daemon.request("search", {"query": "x"}) is None
    assert "stopped" in running.log_path(SERVICE).read_text()


def test_when_it_is_down_the_command_works_and_starts_it_for_next_time(
    memories: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(daemon.DISABLE_ENV, "on")
    supervisor = Supervisor(load_settings())
    try:
        code, output, modules = cli(["memory", "search", "sqlite journal mode", "--json"])
        assert code == 0 and json.loads(output)[0]["memory"]["id"] == memories[0]
        assert "typer" in modules  # answered in-process by the Typer command
        deadline = time.monotonic() + 120
        while daemon.ping() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert daemon.ping() is not None, supervisor.tail(SERVICE, 20)
        deadline = time.monotonic() + 60  # the starter holds the service until its health check passes
        while (state := supervisor.status(SERVICE).state) == "busy" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert state == "running"  # started through the supervisor
        code, _, modules = cli(["memory", "search", "sqlite journal mode", "--json"])
        assert code == 0 and "typer" not in modules
    finally:
        deadline = time.monotonic() + 60  # the background starter may still hold the lock
        while (
            supervisor.status(SERVICE, check_health=False).state != "running" and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        supervisor.stop(SERVICE)


def test_no_daemon_is_used_or_started_when_turned_off(memories: list[int]) -> None:
    assert os.environ[daemon.DISABLE_ENV] == "off"  # the suite's default
    assert daemon.request("ping") is None and not daemon.start_in_background()
    code, _, modules = cli(["memory", "search", "sqlite", "--json"])
    assert code == 0 and "typer" in modules
    assert not socket_path().with_name("memory.starting").exists()


# -- the protocol, in-process ---------------------------------------------------------------------
def message(op: str, **args: Any) -> dict[str, Any]:
    from mahavishnu import settings_snapshot

    key = settings_snapshot.fingerprint()
    return {"op": op, "args": args, "cwd": os.getcwd(), "settings_key": key, "protocol": PROTOCOL}


def test_protocol_answers() -> None:
    served = Daemon()
    try:
        assert served.handle({"op": "ping"})["fallback"] == "protocol"
        assert served.handle(message("ping"))["result"]["pid"] == os.getpid()
        assert served.handle(message("drop-tables"))["fallback"] == "unknown op 'drop-tables'"
        stale = {**message("search", query="x"), "settings_key": ["not", "these"]}
        assert served.handle(stale) == {"ok": False, "fallback": "settings"}
        error = served.handle(message("search", query=" "))
        assert error["ok"] is False and error["exit_code"] == 1  # nothing to look for: no usage error
        assert error["error"] == "the search query is empty: nothing to search for"
        assert served.handle(message("search", query="anything", mode="text")) == {"ok": True, "result": []}
        # the embedded store's `memory store` is its client's (a write here would queue the recalls
        # behind the capture thread's SQLite write lock): nothing stored, the client told to do it
        stored = served.handle(message("store", content="kept by the client", memory_type="note"))
        assert stored == {"ok": False, "fallback": "the embedded store: stored by its client"}
        assert served.handle(message("search", query="kept client", mode="text")) == {
            "ok": True,
            "result": [],
        }
    finally:
        served.close()


def test_arguments_of_the_wrong_type_are_answered_with_what_to_fix(
    isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``"limit": "many"`` (or null) raised the daemon's own ValueError: logged as a failure of the
    daemon, its client told to do the work itself; a query of 5 was searched for as "5". Each is
    now answered as the store refuses it, as the other bad arguments are."""
    served = Daemon()
    try:
        for args, said in [
            ({"query": "x", "limit": "many"}, "limit must be between 1 and 1000, got 'many'"),
            ({"query": "x", "limit": None}, "limit must be between 1 and 1000, got None"),
            ({"query": 5}, "the search query must be text, not int"),
        ]:
            answer = served.handle(message("search", **args))
            assert (answer["ok"], answer["error"], answer["exit_code"]) == (False, said, 2)
        postgres = types.SimpleNamespace(memory=types.SimpleNamespace(backend="postgres"))
        store = served.store_for(load_settings())
        for args, said in [
            ({"content": "x", "tags": 5}, "tags must be a list of strings, got 5"),
            ({"content": "x", "metadata": "abc"}, "metadata must be a JSON object, got str"),
            ({"content": None}, "memory content must be text, not NoneType"),
        ]:
            with pytest.raises(MahavishnuError, match=re.escape(said)):
                daemon._store(store, postgres, args)  # type: ignore[arg-type]
    finally:
        served.close()
    assert "request failed" not in capsys.readouterr().out


def test_a_client_waits_its_time_while_the_daemons_backlog_is_full(tmp_path: Path) -> None:
    """A burst of clients fills the listen backlog for a moment: the next client waits (within its
    timeout) to be taken, rather than doing the work itself at once for a daemon that is there."""
    import threading

    path = tmp_path / "memory.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(1)
    burst: list[socket.socket] = []
    with contextlib.suppress(BlockingIOError):
        while True:
            burst.append(socket.socket(socket.AF_UNIX))
            burst[-1].setblocking(False)
            burst[-1].connect(str(path))

    def serve_later() -> None:  # the burst goes, then the client waiting is answered
        time.sleep(0.3)
        for conn in burst:
            conn.close()
        while True:
            conn, _ = listener.accept()
            with conn:
                if conn.recv(65536):
                    conn.sendall(b'{"ok": true, "result": "taken"}\n')
                    return

    server = threading.Thread(target=serve_later, daemon=True)
    server.start()
    try:
        answer = daemon._exchange(path, {"op": "ping", "protocol": PROTOCOL}, 10)
    finally:
        server.join(10)
        listener.close()
    assert answer == {"ok": True, "result": "taken"}


@pytest.mark.parametrize(
    "answer",
    [
        [1],
        {"ok": "yes"},
        {"ok": False},
        {"ok": False, "error": "x", "exit_code": "abc"},
        {"ok": False, "error": {"a": 1}, "hint": [1], "exit_code": 10**20},
    ],
)
def test_an_answer_not_the_daemons_leaves_the_work_to_its_caller(
    answer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever else answers on the socket (another version, another program): the hook does its
    work itself, no traceback (an exit code that was no number raised ValueError in the hook)."""
    monkeypatch.setenv(daemon.DISABLE_ENV, "on")
    monkeypatch.setattr(daemon, "_exchange", lambda *_args: answer)
    assert daemon.exchange("context", {}, 1) == (None, "broken")
    said = {"ok": False, "error": "invalid search mode 'x'", "hint": None, "exit_code": 2}
    monkeypatch.setattr(daemon, "_exchange", lambda *_args: said)
    assert daemon.exchange("search", {}, 1) == (said, "")


def test_a_result_not_of_the_ops_shape_leaves_the_work_to_the_client(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process of the same user that took over the private socket answers ``ok`` with a result
    no op gives (a string where the hits go): ``memory search`` printed a traceback; its fast path
    now leaves the search to Typer's in-process path, as for any answer not the daemon's."""
    import threading

    from mahavishnu.cli.fast.search import memory_search

    path = socket_path()
    daemon._private_dir(path.parent)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(4)

    def answer() -> None:  # every request, pings too, until the listener is closed
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                with conn:
                    conn.recv(65536)
                    conn.sendall(b'{"ok": true, "result": "planted"}\n')

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    monkeypatch.setenv(daemon.DISABLE_ENV, "on")
    try:
        assert memory_search(["how do we deploy"]) is None
        for op in ("search", "context", "capture", "store"):
            assert daemon.exchange(op, {}, 2) == (None, "broken")
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(5)


def test_a_request_of_the_wrong_shape_falls_back(isolated_home: Path) -> None:
    """What another local process may send: an op or arguments that are no string or object are
    read, queued and answered like an unknown op, never a reader thread's TypeError (its client
    then waited for an answer that never came)."""
    import queue

    served, client = socket.socketpair()
    requests: queue.Queue[Any] = queue.Queue()
    with client:
        client.sendall(json.dumps({**message("search", query="x"), "op": ["capture"]}).encode() + b"\n")
        daemon._read_request(Daemon.__new__(Daemon), served, requests, queue.Queue())
        queued, conn = requests.get_nowait()
    conn.close()
    answering = Daemon()
    try:
        assert answering.handle(queued) == {"ok": False, "fallback": "unknown op ['capture']"}
        assert answering.handle({**message("search"), "op": {"a": 1}})["fallback"] == "unknown op {'a': 1}"
        assert answering.handle({**message("search"), "args": ["x"]}) == {"ok": False, "fallback": "protocol"}
    finally:
        answering.close()


def test_it_keeps_the_settings_last_asked_for_and_no_more(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every edit of a settings file, every project with files of its own is a new settings key: a
    daemon that runs for days keeps ``SETTINGS_KEPT`` of them, those asked for last."""
    from mahavishnu import settings_snapshot

    monkeypatch.setattr(settings_snapshot, "process_key", lambda: ["in", os.getcwd()])
    served = Daemon()
    folders = [tmp_path / str(n) for n in range(daemon.SETTINGS_KEPT + 4)]
    for folder in folders:
        folder.mkdir()
        assert served.settings_for(str(folder), ["in", str(folder)]) is not None
        assert served.settings_for(str(folders[0]), ["in", str(folders[0])]) is not None  # all along
    kept = {json.loads(name)[1] for name in served.settings_by_key}
    assert len(kept) == daemon.SETTINGS_KEPT
    assert {str(folders[0]), str(folders[-1])} <= kept and str(folders[1]) not in kept


def test_it_keeps_the_stores_last_asked_for_open_and_no_more(isolated_home: Path) -> None:
    """Each memory configuration has a store of its own (its embedder, its vector index): one for
    each ``memory.hybrid_alpha`` tried while tuning it must not stay open for the daemon's life."""
    from mahavishnu.errors import StoreClosedError

    settings = load_settings()

    def tuned(alpha: float) -> Any:
        return settings.model_copy(
            update={"memory": settings.memory.model_copy(update={"hybrid_alpha": alpha})}
        )

    served = Daemon()
    try:
        first = served.store_for(settings)
        writer = served.writer_for(settings)
        opened = []
        for n in range(daemon.STORES_KEPT + 2):
            opened.append(served.store_for(tuned((n + 1) / 100)))  # (the default: 0.5)
            assert served.writer_for(settings) is writer  # asked for all along: kept
        assert len(served.stores) == daemon.STORES_KEPT and first in served.stores.values()
        assert opened[-1] in served.stores.values() and opened[0] not in served.stores.values()
        with pytest.raises(StoreClosedError):  # closed, not only forgotten
            opened[0].stats()
        # one closed by the other thread while a request used it: that client does it itself
        served.store_for = lambda _settings: opened[0]  # type: ignore[method-assign]
        answer = served.handle(message("search", query="wal", mode="text"))
        assert answer == {"ok": False, "fallback": "the store was closed"}
    finally:
        served.close()


def test_a_request_trickling_in_is_dropped_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """``REQUEST_SECONDS`` is for the whole request: a client sending a byte now and then (within
    each read's timeout) must not hold its reader thread and socket for as long as it likes."""
    import queue
    import threading

    monkeypatch.setattr(daemon, "REQUEST_SECONDS", 0.5)
    served, client = socket.socketpair()
    stop = threading.Event()
    began = time.monotonic()

    def trickle() -> None:  # for 3 s, then silent (the connection stays open)
        with contextlib.suppress(OSError):
            while not stop.wait(0.1) and time.monotonic() < began + 3:
                client.sendall(b" ")

    thread = threading.Thread(target=trickle)
    thread.start()
    requests: queue.Queue[Any] = queue.Queue()
    try:
        daemon._read_request(Daemon.__new__(Daemon), served, requests, queue.Queue())
        took = time.monotonic() - began
    finally:
        stop.set()
        thread.join()
        client.close()
    assert took < 1.5 and served.fileno() == -1 and requests.empty()


def test_context_runs_the_recall_function_given_the_store_and_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[Any, ...]] = []
    recall = types.ModuleType("mahavishnu.memory.loop.recall")

    def build_context(
        store: MemoryStore, payload: dict[str, Any], tool: str, settings: Any
    ) -> dict[str, Any]:
        calls.append((store, payload, tool, settings))
        return {"additionalContext": f"{tool}: {payload['prompt']}"}

    recall.build_context = build_context  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mahavishnu.memory.loop.recall", recall)
    served = Daemon()
    try:
        answer = served.handle(message("context", payload={"prompt": "hi"}, tool="codex"))
        assert answer == {"ok": True, "result": {"additionalContext": "codex: hi"}}
        [(store, _, _, settings)] = calls
        assert isinstance(store, MemoryStore) and settings == load_settings().recall
    finally:
        served.close()


def test_a_deep_home_gets_a_short_private_socket_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    monkeypatch.setenv("MAHAVISHNU_HOME", str(deep))
    path = socket_path()
    assert len(str(path)) <= 100 and path.parent.name == f"mahavishnu-{os.getuid()}"
    monkeypatch.setenv("MAHAVISHNU_HOME", str(deep / "other"))
    assert socket_path() != path  # one daemon per home


@pytest.mark.parametrize("planted", ["a folder others can enter", "a symlink"])
def test_a_socket_in_a_folder_not_the_users_own_is_never_asked(
    planted: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deep home's socket is in the temp dir, whose ``mahavishnu-<uid>`` another user may make
    first and listen in: the client must neither send it the request (the caller's secrets are in
    ``held``) nor take its answer (hits, a recall's context) — it does the work itself."""
    import threading

    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    folder = tmp_path / "mahavishnu-uid"
    if planted == "a symlink":  # (whoever made it may point it anywhere next)
        folder.symlink_to(theirs)
    else:
        theirs.rename(folder)
        folder.chmod(0o777)
    received: list[bytes] = []
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(folder / "memory.sock"))
    listener.listen(1)
    listener.settimeout(5)

    def answer() -> None:
        with contextlib.suppress(OSError), listener.accept()[0] as conn:
            received.append(conn.recv(65536))
            conn.sendall(b'{"ok": true, "result": [{"planted": 1}]}\n')

    thread = threading.Thread(target=answer)
    thread.start()
    monkeypatch.setenv(daemon.DISABLE_ENV, "on")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-" + "k" * 40)
    monkeypatch.setattr(daemon, "socket_path", lambda: folder / "memory.sock")
    try:
        assert daemon.request("search", {"query": "x"}, timeout=2) is None
        assert daemon.ping(timeout=2) is None
    finally:
        listener.close()
        thread.join()
    assert received == []
    if planted == "a symlink":
        with pytest.raises(ServiceError, match="is a symlink"):
            daemon._private_dir(folder)  # nor does a daemon listen there


# -- the fast path's command line ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["q"], {"query": "q", "limit": 10, "mode": "hybrid", "types": [], "min_score": None}),
        (["q", "-n", "3", "--type=note", "-t", "decision"], {"limit": 3, "types": ["note", "decision"]}),
        (
            ["--project", "p", "q", "--min-score", "0.5", "--json"],
            {"project": "p", "min_score": 0.5, "as_json": True},
        ),
    ],
)
def test_plain_spellings_parse(args: list[str], expected: dict[str, Any]) -> None:
    parsed = parse_memory_search(args)
    assert parsed is not None and {k: parsed[k] for k in expected} == expected


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["a", "b"],
        ["q", "--everywhere"],
        ["q", "-n"],
        ["q", "-n", "x"],
        ["q", "--json=1"],
        ["q", "--bogus"],
    ],
)
def test_anything_else_is_left_to_typer(args: list[str]) -> None:
    assert parse_memory_search(args) is None


def test_a_store_moved_by_a_reembed_elsewhere_is_reopened_with_the_new_embedder(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon keeps its stores open: after ``memory reembed`` in another process, the next
    request must embed its query with the model the store moved to, not the one it bound first
    (the settings unchanged: with no model configured, a store's own local or hub model is used)."""
    from mahavishnu.memory.core import store as store_module
    from mahavishnu.memory.core.embedders.fake import FakeEmbedder

    moved_to: list[FakeEmbedder] = []  # what the unchanged settings resolve to once the store moved
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: (moved_to or [FakeEmbedder()])[0])
    with MemoryStore.open() as store:
        store.store("Use WAL mode for the SQLite store", "decision")
    served = Daemon()
    try:
        first = served.handle(message("search", query="WAL mode", mode="vector"))
        assert first["ok"] and first["result"][0]["memory"]["embedding_dim"] == 64
        with MemoryStore.open() as store:  # `memory reembed`, another process
            store.reembed(FakeEmbedder(32, "v2"))
        moved_to.append(FakeEmbedder(32, "v2"))
        moved = served.handle(message("search", query="Use WAL mode for the SQLite store", mode="vector"))
        assert moved["ok"], moved
        assert moved["result"][0]["memory"]["embedding_dim"] == 32
        assert moved["result"][0]["score"] == pytest.approx(1.0)  # the query embedded by v2
    finally:
        served.close()


def test_a_capture_after_a_reembed_elsewhere_embeds_with_the_new_embedder(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The capture thread's store, like the reader, follows a reembed in another process, also
    when no search came in between: a vector of the old space in the moved store broke every
    vector search of it (numpy: cannot reshape), in-process ones too."""
    from mahavishnu.memory.core import store as store_module
    from mahavishnu.memory.core.embedders.fake import FakeEmbedder

    moved_to: list[FakeEmbedder] = []
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: (moved_to or [FakeEmbedder()])[0])
    with MemoryStore.open() as store:
        store.store("Use WAL mode for the SQLite store", "decision")
    served = Daemon()
    try:
        assert served.handle(message("search", query="WAL mode", mode="vector"))["ok"]
        served.writer_for(load_settings()).store("captured before", "note")
        with MemoryStore.open() as store:  # `memory reembed`, another process
            store.reembed(FakeEmbedder(32, "v2"))
        moved_to.append(FakeEmbedder(32, "v2"))
        served.writer_for(load_settings()).store("captured after the reembed", "note")  # a capture
        with MemoryStore.open() as store:
            assert {hit.memory.embedding_dim for hit in store.search("captured", mode="vector")} == {32}
    finally:
        served.close()


@pytest.mark.parametrize("how", ["renamed over", "removed"])
def test_a_store_file_replaced_under_it_is_opened_anew(
    how: str, isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon keeps its stores open: a store file replaced by another renamed into its place
    (a copy moved in, a file sync), or removed, must not go on being searched, and captured into,
    as the file it opened, which no one else sees any more."""
    from mahavishnu.memory.core import store as store_module
    from mahavishnu.memory.core.embedders.fake import FakeEmbedder
    from mahavishnu.memory.core.store import default_store_path

    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())
    with MemoryStore.open() as store:
        store.store("Use WAL mode for the SQLite store", "decision")
    served = Daemon()
    try:
        first = served.handle(message("search", query="WAL mode", mode="text"))
        assert [hit["memory"]["content"] for hit in first["result"]] == ["Use WAL mode for the SQLite store"]
        writer = served.writer_for(load_settings())
        path = default_store_path()
        for sidecar in path.parent.glob(path.name + "*"):
            sidecar.unlink()
        if how == "renamed over":
            other = tmp_path / "other.db"
            with MemoryStore.open(load_settings().memory.model_copy(update={"path": other})) as store:
                store.store("Durians are not allowed in the office", "note")
            other.rename(path)
        found = served.handle(message("search", query="WAL mode durians", mode="text"))
        expected = ["Durians are not allowed in the office"] if how == "renamed over" else []
        assert [hit["memory"]["content"] for hit in found["result"]] == expected
        assert served.writer_for(load_settings()) is not writer
    finally:
        served.close()


def test_a_client_whose_working_folder_was_deleted_does_the_work_itself(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A hook run in a session whose folder was deleted meanwhile: no FileNotFoundError from the
    client (the recall hook said "failed unexpectedly"), the daemon is not asked to work there."""
    monkeypatch.setenv(daemon.DISABLE_ENV, "on")
    monkeypatch.setattr(daemon, "_exchange", lambda *_args: pytest.fail("the daemon was asked"))
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    assert daemon.exchange("context", {}, 1) == (None, "fallback")
