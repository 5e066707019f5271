"""The memory daemon: a warm process that answers memory searches over a Unix socket.

A memory command run as a fresh process pays ~1 s before its first answer (imports, the ONNX
session, the vector index loaded from SQLite); an assistant's per-prompt hook cannot. The daemon
pays that once and answers in milliseconds. It is the supervised service ``mahavishnu-memory``
(``services/definitions.py``: PID file, own process group, log, health check), started on demand by
the first client that finds it down, and a client that finds no daemon does the work itself.

Protocol: one connection per request. The client sends one JSON line and reads one back::

    -> {"op": "search", "args": {...}, "cwd": "/home/me/proj", "settings_key": [...], "held": [...]}
    <- {"ok": true, "result": [...]}
    <- {"ok": false, "error": "...", "hint": "...", "exit_code": 2}   a user error, said as the CLI says it
    <- {"ok": false, "fallback": "why"}                               the client does the work itself

Ops: ``ping``; ``search`` (``MemoryStore.search`` arguments, hits as ``to_dict``); ``context``
(``mahavishnu.memory.loop.recall.build_context(store, payload, tool, settings.recall)``, imported when
first asked); ``capture`` (``memory.capture.capture_hook``: the capture hook's import; with
``"detach": true``, acknowledged at once and its outcome written to the hook log, so the hook
starts no process to wait for it); ``store``
(``MemoryStore.add``: ``memory store`` on a PostgreSQL store). On PostgreSQL all of them share one
pool of at most ``memory.daemon_pool_size`` connections (2): the machine's terminals and hooks use
the server through it, so a team server's connections grow with machines, not terminals. Settings
follow the client: ``settings_key`` is its ``settings_snapshot.process_key()`` (which names the
settings files, the project's included, the code, and a digest of the ``MAHAVISHNU_*`` settings
variables); the daemon loads the settings for an unknown key from the client's working directory
(it keeps those of the last ``SETTINGS_KEPT`` keys), and serves it only when its own key there is
the same (same files, same variables: a daemon runs with the environment of whoever started it),
else the client does the work itself. It keeps one store open per memory configuration (for the
last ``STORES_KEPT`` asked for). A client's ``held`` are the values of its environment's variables
named as secrets (``redaction.held``): the scrubber redacts them too in what the daemon does for
that request (its captures and the hits it returns), as the client itself would; they are never
written anywhere.

One daemon, and it goes away: a daemon holds an exclusive lock (``flock`` on ``memory.lock``
beside the socket) from before it warms the store until it exits, so a second one started at the
same time exits at once (status 1, one line). It exits after ``memory.daemon_idle_seconds`` without
a request (pings do not count; a capture under way does), freeing its memory; ``serve``'s
``release`` then has the supervisor drop its PID file and mark it ``idle``, so the exit is no crash
and the next client starts it again. One the user stopped (``mahavishnu service stop``) stays
stopped: clients read the service's state and do the work themselves (``memory search`` says so
once, on stderr; the hooks never do), until ``service start`` or ``memory daemon``.

Safety: the socket is created 0600 inside a 0700 directory, no network port; a peer of another
user is refused (``SO_PEERCRED``); each request is read in its own thread within a deadline and
answered in turn by the main thread, captures by a capture thread of their own (an import of a
long session must not hold up a recall), so a client that hangs or dies mid-request costs that
request only; the part of an answer its socket does not take at once is written by a thread of its
own, so a client that does not read its answer holds up no other. A client waits a bounded time (a
recall: ``RECALL_SECONDS``) and, when no answer comes, does the work itself. SIGTERM closes the
socket and the stores, and removes the socket file; a capture cut short (SIGTERM, SIGKILL) is redone
by the next one, since an import only re-reads the assistant's own session file and is idempotent.
While nothing is captured, the capture thread delivers, every ``sync.DELIVER_SECONDS``, what this
machine's outbox holds for the daemon's store (``memory/loop/sync.py``: stored while the team store
was unreachable). Only the standard library is imported until a request needs the store: the client
side stays cheap for the hooks.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import time
from collections import OrderedDict
from pathlib import Path
from stat import S_ISDIR, S_ISLNK
from typing import TYPE_CHECKING, Any

from mahavishnu import paths, telemetry

if TYPE_CHECKING:  # (the server's modules: a client imports only what it needs)
    import queue
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from mahavishnu.config import Settings
    from mahavishnu.memory.core.size_metrics import Sizes
    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.telemetry.serve import MetricsServer

    #: The capture thread's queue: (request, connection), no connection for a capture acknowledged
    #: to its hook at once; None to stop.
    Captures = queue.Queue[tuple[Any, socket.socket | None] | None]

SERVICE = "mahavishnu-memory"
PROTOCOL = 1
#: Set to ``off`` to keep clients from using or starting the daemon (the test suite does).
DISABLE_ENV = "MAHAVISHNU_DAEMON"
MAX_REQUEST_BYTES = 1_000_000
REQUEST_SECONDS = 10.0  # the server's deadline for reading a request and writing its answer
#: How long a recall hook waits for the daemon before recalling in-process: a warm daemon answers
#: in milliseconds, so a longer wait only means it is stopped or stuck.
RECALL_SECONDS = 1.0
#: How many clients' settings a daemon keeps loaded (``Daemon.settings_for``): each edit of a
#: settings file, each project with files of its own makes a new key, and a daemon runs for days.
SETTINGS_KEPT = 16
#: How many memory configurations a daemon keeps a store open for (each with its embedder and
#: vector index in memory): a project's own ``memory.*`` settings, or each value tried while tuning
#: one, is another.
STORES_KEPT = 4
_SUN_PATH_MAX = 100  # sockaddr_un holds 108 bytes; keep a margin
_START_MARKER_SECONDS = 60.0
#: The key ``_read_request`` adds to a request: when it was read (``time.monotonic()``).
RECEIVED = "_received"
#: The ops the assistants' hooks send: their stdout is the hook's JSON and nothing is said on stderr.
HOOK_OPS = frozenset({"context", "capture"})
STOPPED_NOTE = (
    "the memory daemon is stopped (`mahavishnu service stop`): memory commands run in-process; "
    "`mahavishnu service start mahavishnu-memory` starts it again"
)


# -- where ----------------------------------------------------------------------------------------
def socket_path() -> Path:
    """``<data dir>/run/memory.sock``; a data dir too deep for a socket address uses a per-user
    directory under the temp dir, named by a hash of the data dir (still one daemon per home)."""
    preferred = paths.data_dir() / "run" / "memory.sock"
    if len(os.fsencode(preferred)) <= _SUN_PATH_MAX:
        return preferred
    import hashlib  # only here: loading OpenSSL costs a hook a few milliseconds

    digest = hashlib.sha256(os.fsencode(paths.data_dir())).hexdigest()[:16]
    return Path(os.environ.get("TMPDIR") or "/tmp") / f"mahavishnu-{os.getuid()}" / f"{digest}.sock"


def _service_state_path() -> Path:
    """The service's state file, ``services/supervisor.py``'s ``NAME.state.json`` (the supervisor
    sits above memory/: its path is spelled here, for a client that reads only this file)."""
    return paths.data_dir() / "services" / f"{SERVICE}.state.json"


def stopped_by_user() -> bool:
    """Whether the user stopped the service (``service stop``): then no client starts it, only an
    explicit start does. No state, an idle exit or a start that failed is no stop."""
    try:
        data = json.loads(_service_state_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("desired") == "stopped" and data.get("stopped_by_user") is True


def _private_dir(directory: Path) -> None:
    """Create ``directory`` 0700; refuse one that another user owns, or a symlink (whoever made it
    can point it elsewhere later); close one that others can enter."""
    paths.make_dir(directory)
    info = directory.lstat()
    if info.st_uid != os.getuid() or S_ISLNK(info.st_mode):
        from mahavishnu.errors import ServiceError

        whose = "is a symlink" if S_ISLNK(info.st_mode) else "belongs to another user"
        raise ServiceError(f"{directory} {whose}", hint="Remove it or set MAHAVISHNU_HOME.")
    if info.st_mode & 0o077:
        os.chmod(directory, 0o700)


def _check_private(directory: Path) -> None:
    """Raise PermissionError unless ``directory`` is this user's own folder (no symlink) that no one
    else can enter: only then is the socket in it our daemon's. The temp dir's (a deep home's) may
    have been made first by another user, listening there for the requests (secrets in ``held``)
    and answering with hits and recall context of its own. FileNotFoundError when there is none."""
    info = directory.lstat()
    if not S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{directory} is not this user's private folder: its socket is not asked")


# -- client ---------------------------------------------------------------------------------------
def enabled() -> bool:
    return os.environ.get(DISABLE_ENV, "").lower() not in ("off", "0", "false", "no")


def request(op: str, args: dict[str, Any] | None = None, *, timeout: float = 10.0) -> dict[str, Any] | None:
    """The daemon's answer (``{"ok": ...}``), or None when there is no daemon to ask, its settings
    are not the caller's, it failed or it gave no answer within ``timeout`` seconds (the whole
    exchange): the caller then does the work itself."""
    return exchange(op, args, timeout)[0]


def exchange(op: str, args: dict[str, Any] | None, timeout: float) -> tuple[dict[str, Any] | None, str]:
    """``request``'s answer, and why there is none: "off", "settings" (unknown here, or not the
    daemon's), "down" (nothing listens), "silent" (no answer in time), "broken" (the connection
    failed midway, or the answer was not one) or "fallback" (the daemon said to do it here, or
    this process's working folder is gone)."""
    from mahavishnu import settings_snapshot
    from mahavishnu.redaction.held import held_in_environment

    if not enabled():
        return None, "off"
    key = settings_snapshot.process_key()  # the environment's settings included (hashed)
    if key is None:
        return None, "settings"
    try:
        cwd = os.getcwd()
    except OSError:  # deleted under this process: the daemon cannot work there, this process can
        return None, "fallback"
    message = {"op": op, "args": args or {}, "cwd": cwd, "settings_key": key, "protocol": PROTOCOL}
    held = held_in_environment()  # (the daemon's environment need not hold this process's secrets)
    if held:
        message["held"] = held
    command = telemetry.pending_command()  # (telemetry on: the daemon may record the command)
    if command is not None:
        message["command"] = command
    try:
        answer = _exchange(socket_path(), message, timeout)
    except (FileNotFoundError, ConnectionRefusedError):
        return None, "down"
    except TimeoutError:
        return None, "silent"
    except (OSError, ValueError):
        return None, "broken"
    if not _well_formed(answer, op):
        return None, "broken"
    if "fallback" in answer:
        return None, "settings" if answer["fallback"] == "settings" else "fallback"
    if answer.get("measured") is True:
        telemetry.hand_off()
    return answer, ""


#: Whether an ``ok`` answer's result is what the op returns (hits are objects; ``context``'s None
#: is no recall): the caller reads it as such (hits that were a string: a traceback).
_RESULT_FITS: dict[str, Callable[[Any], bool]] = {
    "search": lambda hits: isinstance(hits, list) and all(isinstance(hit, dict) for hit in hits),
    "context": lambda answer: answer is None or isinstance(answer, dict),
    "capture": lambda outcome: isinstance(outcome, dict),
    "store": lambda stored: isinstance(stored, dict),
}


def _well_formed(answer: Any, op: str) -> bool:
    """Whether ``answer`` is one the daemon gives ``op``: ``ok`` with a result of the op's shape,
    and an error it says with its message (text) and exit code (a number an exit status can be), so
    that ``result`` can raise it. Whatever else answers on the socket (another version, another
    program) leaves the work to the caller."""
    if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
        return False
    if answer["ok"]:
        return _RESULT_FITS.get(op, lambda _result: True)(answer.get("result"))
    if "fallback" in answer:
        return True
    code, hint = answer.get("exit_code", 1), answer.get("hint")
    return (
        isinstance(answer.get("error"), str)
        and (hint is None or isinstance(hint, str))
        and type(code) is int
        and 0 < code < 256
    )


def result(answer: dict[str, Any]) -> Any:
    """The result of a daemon's answer; its user error raised as the command would raise it."""
    from mahavishnu.errors import MahavishnuError

    if not answer.get("ok"):
        error = MahavishnuError(str(answer.get("error")), answer.get("hint") or None)
        error.exit_code = int(answer.get("exit_code") or 1)
        raise error
    return answer.get("result")


def ask(
    op: str,
    args: dict[str, Any] | None = None,
    *,
    timeout: float = 10.0,
    on_silence: Callable[[float], None] | None = None,
) -> dict[str, Any] | None:
    """``request``, and when no daemon answered, start one for the next call (in the background).
    What a hook runs: ``answer = ask("context", {"payload": payload, "tool": "codex"})``; on None,
    the caller computes the answer in-process. A daemon that is there but does not answer within
    ``timeout`` (stopped, stuck) costs that much and no more: no ping, no start (the supervisor
    owns it), and ``on_silence(timeout)`` is called so the caller can say so."""
    answer, why = exchange(op, args, timeout)
    if why == "down" or (why == "broken" and ping(timeout=min(timeout, 1.0)) is None):
        if not stopped_by_user():
            start_in_background()
        elif op not in HOOK_OPS:  # (a hook prints its JSON and nothing else)
            _say_stopped_once()
    elif why == "silent" and on_silence is not None:
        on_silence(timeout)
    return answer


def _say_stopped_once() -> None:
    """Say on stderr, once per stop, that the daemon is stopped and commands run in-process: a
    marker beside the socket, newer than the service's state file, means it was said."""
    marker = socket_path().with_suffix(".stopped-said")
    try:
        stopped = _service_state_path().stat().st_mtime_ns
        if marker.stat().st_mtime_ns >= stopped:
            return
    except FileNotFoundError:
        pass
    except OSError:
        return
    sys.stderr.write(STOPPED_NOTE + "\n")
    from mahavishnu.errors import ServiceError

    with contextlib.suppress(OSError, ServiceError):  # (unwritable: said again next time, no harm)
        _private_dir(marker.parent)
        marker.touch(mode=0o600)


def _exchange(path: Path, message: dict[str, Any], timeout: float) -> Any:
    """Send ``message`` and read the answer, all within ``timeout`` seconds (TimeoutError)."""
    deadline = time.monotonic() + timeout
    _check_private(path.parent)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        _connect(conn, path, deadline)
        _until(conn, deadline)
        conn.sendall(json.dumps(message, ensure_ascii=False).encode() + b"\n")
        conn.shutdown(socket.SHUT_WR)
        data = _read_all(conn, deadline)
    return json.loads(data) if data else None


def _connect(conn: socket.socket, path: Path, deadline: float) -> None:
    """Connect, waiting until ``deadline`` while the daemon's backlog is full (a burst of clients):
    a Unix socket with a timeout says so at once (EAGAIN), where it would wait for a TCP server."""
    while True:
        try:
            conn.connect(str(path))
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError("the memory daemon did not take the connection in time") from None
            time.sleep(0.01)


def _until(conn: socket.socket, deadline: float | None) -> None:
    """Give the socket's next operation what is left before ``deadline`` (TimeoutError when none)."""
    if deadline is None:
        return
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the memory daemon did not answer in time")
    conn.settimeout(left)


def _read_all(conn: socket.socket, deadline: float | None = None) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_REQUEST_BYTES * 50:  # answers may be long (many hits); requests are capped
        _until(conn, deadline)
        chunk = conn.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def ping(timeout: float = 2.0) -> dict[str, Any] | None:
    """The daemon's pid, version and uptime, or None when none answers (whatever the settings)."""
    try:
        answer = _exchange(socket_path(), {"op": "ping", "protocol": PROTOCOL}, timeout)
    except (OSError, ValueError):
        return None
    return answer.get("result") if isinstance(answer, dict) and answer.get("ok") else None


def health_check() -> None:
    """The service's health check command: exit 0 when the daemon answers a ping."""
    found = ping()
    if found is None:
        sys.stderr.write(f"no memory daemon answers at {socket_path()}\n")
        sys.exit(1)
    sys.stdout.write(f"pid {found['pid']}, up {found['uptime_seconds']} s\n")


def start_in_background() -> bool:
    """Ask the supervisor to start the daemon, without waiting: a detached ``mahavishnu service
    start --on-demand`` (so the service gets its PID file, process group and log; refused, under
    the service's lock, when a ``service stop`` came after the look here). At most one attempt a
    minute per home, so a burst of hooks starts one. True when an attempt was launched."""
    import subprocess

    from mahavishnu.errors import ServiceError

    if not enabled() or stopped_by_user():
        return False
    marker = socket_path().with_name("memory.starting")
    try:
        _private_dir(marker.parent)
        if _started_lately(marker):
            return False
        marker.touch(mode=0o600)
    except (OSError, ServiceError):  # (a run directory of another user, or none can be made: the
        return False  # caller works alone, and says so if it cannot either)
    subprocess.Popen(
        paths.mahavishnu_argv("service", "start", SERVICE, "--on-demand"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    return True


def _started_lately(marker: Path) -> bool:
    """Whether a start was launched less than ``_START_MARKER_SECONDS`` ago (``marker``'s time)."""
    try:
        return time.time() - marker.stat().st_mtime < _START_MARKER_SECONDS
    except FileNotFoundError:
        return False


# -- server ---------------------------------------------------------------------------------------
class Daemon:
    """Stores kept open per memory configuration, and the requests they answer.

    Two threads use it: the main thread answers ``ping``, ``search`` and ``context`` with the
    reading stores (``stores``), the capture thread answers ``capture`` with stores of its own
    (``writers``: their own SQLite connections, so a long import's transactions never make a
    recall wait; WAL lets both read and write at once). A writer shares the reader's embedder (the
    model is loaded once; onnxruntime runs from any thread). ``lock`` guards the dictionaries and
    the working directory ``settings_for`` moves into."""

    def __init__(self) -> None:
        import threading

        self.started = time.time()
        self.settings_by_key: OrderedDict[str, Settings] = OrderedDict()  # the last asked for last
        self.stores: OrderedDict[str, MemoryStore] = OrderedDict()  # the last asked for last
        self.writers: dict[str, MemoryStore] = {}
        self.code = _code_stamp()
        self.lock: threading.RLock = threading.RLock()
        self.last_request = time.monotonic()  # a ping does not count: a health check is no use
        self.capturing = 0  # captures under way: never idle while one runs
        self.sizes: Sizes | None = None  # the stores' sizes as gauges (telemetry on)
        self.metrics: MetricsServer | None = None  # /metrics (telemetry.daemon_metrics_port)
        self.default_settings: Settings | None = None  # the store it delivers the outbox to

    def idle_for(self) -> float:
        """Seconds since the last request (a ping is none); 0 while a capture runs."""
        return 0.0 if self.capturing else time.monotonic() - self.last_request

    def handle(self, message: Any) -> dict[str, Any]:
        if not isinstance(message, dict) or message.get("protocol") != PROTOCOL:
            return {"ok": False, "fallback": "protocol"}
        op = message.get("op")
        if op == "ping":
            return {"ok": True, "result": self.status()}
        if not isinstance(op, str) or op not in _OPS:  # (a list or an object: no op, and no TypeError)
            return {"ok": False, "fallback": f"unknown op {op!r}"}
        args = message.get("args") or {}
        if not isinstance(args, dict):
            return {"ok": False, "fallback": "protocol"}
        self.last_request = time.monotonic()
        settings = self.settings_for(message.get("cwd"), message.get("settings_key"))
        if settings is None:
            return {"ok": False, "fallback": "settings"}
        from mahavishnu.redaction.held import also_held

        command = telemetry.remote_command(message.get("command"))  # the client's, when it sent it
        handed = message.get("held")
        with (
            command or contextlib.nullcontext(),
            also_held(handed if isinstance(handed, list) else ()),
            _serving(settings, message.get(RECEIVED)),
        ):
            reply = self._answered(op, settings, args)
            if command is not None:
                failed = not reply.get("ok") and "fallback" not in reply
                command.set(outcome="error" if failed else "ok", exit_code=int(reply.get("exit_code") or 0))
        if command is not None and "fallback" not in reply:
            reply["measured"] = True  # (a fallback: the client does the work, and measures it)
        return reply

    def _answered(self, op: str, settings: Settings, args: dict[str, Any]) -> dict[str, Any]:
        from mahavishnu.errors import MahavishnuError, StoreClosedError

        try:
            store = self.writer_for(settings) if op in WRITE_OPS else self.store_for(settings)
            result = _OPS[op](store, settings, args)
        except ClientDoesIt as why:
            return {"ok": False, "fallback": str(why)}
        except StoreClosedError:  # (dropped by the other thread meanwhile: superseded, or too many)
            return {"ok": False, "fallback": "the store was closed"}
        except MahavishnuError as exc:
            return {"ok": False, "error": exc.message, "hint": exc.hint, "exit_code": exc.exit_code}
        if op in WRITE_OPS:
            self.note_size(settings, store)
        return {"ok": True, "result": result}

    def status(self) -> dict[str, Any]:
        from mahavishnu.__about__ import __version__

        return {
            "pid": os.getpid(),
            "version": __version__,
            "uptime_seconds": round(time.time() - self.started, 1),
            "cpu_seconds": round(time.process_time(), 4),
            "stores": len(self.stores),
        }

    def settings_for(self, cwd: Any, key: Any) -> Settings | None:
        """The client's settings, or None when they cannot be known here (a key that is not what
        the files and this process's environment say now, e.g. a file written a moment ago, other
        ``MAHAVISHNU_*`` variables, or a working directory that is gone)."""
        from mahavishnu import settings_snapshot
        from mahavishnu.config import load_settings

        if key is None or not isinstance(cwd, str):
            return None
        name = json.dumps(key, sort_keys=True)
        with self.lock:  # (the working directory is the process's, not the thread's)
            known = self.settings_by_key.get(name)
            if known is not None:
                self.settings_by_key.move_to_end(name)
                return known
            try:
                with _working_directory(cwd):
                    if settings_snapshot.process_key() != key:
                        return None
                    settings = load_settings()
            except Exception:  # an unreadable cwd or settings file: the client reports it
                return None
            self.settings_by_key[name] = settings
            if len(self.settings_by_key) > SETTINGS_KEPT:  # (the one asked for longest ago)
                self.settings_by_key.popitem(last=False)
            return settings

    def store_for(self, settings: Settings) -> MemoryStore:
        from mahavishnu.memory.core.store import MemoryStore, superseded

        name = _store_key(settings)
        with self.lock:
            store = self.stores.get(name)
            if store is not None and superseded(store):
                self._drop(name)
                store = None
            if store is None:
                store = self.stores[name] = MemoryStore.open(settings, backend=_pooled_backend(settings))
                if len(self.stores) > STORES_KEPT:  # (the one asked for longest ago, its writer with it)
                    self._drop(next(iter(self.stores)))
            else:
                self.stores.move_to_end(name)
            return store

    def _drop(self, name: str) -> None:
        """Forget (and close) the reader and writer of one store (the caller holds the lock)."""
        for kept in (self.writers.pop(name, None), self.stores.pop(name, None)):
            if kept is not None:
                with contextlib.suppress(Exception):  # (a request midway fails: its client falls back)
                    kept.close()

    def writer_for(self, settings: Settings) -> MemoryStore:
        """The capture thread's store for ``settings``: the reader's embedder, and its own SQLite
        connection; on PostgreSQL the reader's backend, so that both share one bounded pool."""
        from mahavishnu.memory.core.store import MemoryStore, superseded

        name = _store_key(settings)
        with self.lock:
            store = self.writers.get(name)
            if store is not None and superseded(store):  # (the reader too: both go)
                self._drop(name)
                store = None
            if store is None:
                reader = self.store_for(settings)
                shared = reader.backend if settings.memory.backend == "postgres" else None
                store = self.writers[name] = MemoryStore.open(
                    settings, embedder=reader.embedder, backend=shared
                )
            else:  # (its reader is there too: the two go together, when least recently asked for)
                self.stores.move_to_end(name)
            return store

    def warm(self, settings: Settings) -> None:
        """Load the embedder and the vector index before the first client waits for them (a
        search no one asked for: not one of the searches the telemetry counts)."""
        store = self.store_for(settings)
        with contextlib.suppress(Exception), telemetry.unmeasured():  # an empty store still serves
            store.search("warm up", limit=1)
        self.note_size(settings, store)

    def note_size(self, settings: Settings, store: MemoryStore) -> None:
        """Keep the store's size for the gauges (by the thread that owns ``store``: the collecting
        thread only reads what is kept)."""
        if self.sizes is not None:
            with contextlib.suppress(Exception):  # a figure missing from the gauges, no more
                self.sizes.update(_store_key(settings), store.stats())

    def close(self) -> None:
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        with self.lock:
            for store in [*self.writers.values(), *self.stores.values()]:
                with contextlib.suppress(Exception):  # (a capture midway fails: it is redone later)
                    store.close()
            self.writers.clear()
            self.stores.clear()

    def outdated(self) -> bool:
        """The installed code changed under the running daemon (an upgrade): time to go."""
        return _code_stamp() != self.code


def _serving(settings: Settings, received: Any) -> AbstractContextManager[None]:
    """A request to a PostgreSQL store, received at ``received`` (``_read_request``): queued behind
    one that waited for the server and found it unreachable, it gets that answer at once rather than
    wait as long again (each behind the other, the last past its client's wait)."""
    if settings.memory.backend != "postgres" or not isinstance(received, float):
        return contextlib.nullcontext()
    from mahavishnu.memory.core.backends.postgres import serving

    return serving(received)


def _store_key(settings: Settings) -> str:
    """One store per memory configuration (the daemon's own idle time and pool are none of the store's)."""
    return settings.memory.model_dump_json(exclude={"daemon_idle_seconds", "daemon_pool_size"})


def _pooled_backend(settings: Settings) -> Any:
    """A PostgreSQL store's backend with a pool of at most ``memory.daemon_pool_size`` connections
    (shared by the reading and the writing store: see ``writer_for``), so that every terminal and
    hook of the machine goes through that many server connections; None for the embedded store
    (``MemoryStore.open`` opens it)."""
    if settings.memory.backend != "postgres":
        return None
    from mahavishnu.memory.core.backends.postgres import open_backend

    return open_backend(settings.memory, pool_size=settings.memory.daemon_pool_size)


def _search(store: MemoryStore, settings: Settings, args: dict[str, Any]) -> list[dict[str, Any]]:
    from mahavishnu.memory.core.authors import hit_dicts

    # as sent: the store's checks refuse a value of the wrong type with what to fix (an int() here
    # logged ``limit: "many"`` as the daemon's own failure, and searched for a query of 5 as "5")
    hits = store.search(
        args.get("query", ""),
        mode=args.get("mode", "hybrid"),
        filters=args.get("filters") or None,
        min_score=args.get("min_score"),
        limit=args.get("limit", 10),
    )
    return hit_dicts(store.backend, hits)  # on a team store, each with its author


def _context(store: MemoryStore, settings: Settings, args: dict[str, Any]) -> Any:
    import importlib

    from mahavishnu.errors import ServerUnreachableError
    from mahavishnu.memory.loop import sync

    target = store.outbox_target
    if sync.recently_unreachable(target):  # found down a moment ago: answer within the hook's budget
        return sync.unreachable_answer(_payload(args), str(target))
    recall = importlib.import_module("mahavishnu.memory.loop.recall")  # the hook's logic, loaded when asked
    try:
        return recall.build_context(store, _payload(args), str(args.get("tool", "")), settings.recall)
    except ServerUnreachableError:
        if target is None:
            raise
        return sync.unreachable_answer(_payload(args), target)


def _capture(store: MemoryStore, settings: Settings, args: dict[str, Any]) -> Any:
    """The capture hook's import of the session its JSON names (one writer, the embedder warm)."""
    from mahavishnu.memory.loop.capture import capture_hook
    from mahavishnu.memory.loop.session_logs import check_tool
    from mahavishnu.memory.loop.sync import deliver_quietly

    tool = check_tool(str(args.get("tool", "")))
    root = args.get("root")  # the client's session folder (its environment's, not the daemon's)
    deliver_quietly(store)  # what waits for the store goes first
    within = Path(root) if isinstance(root, str) and root else None
    return capture_hook(store, tool, _payload(args), within=within).to_dict()


def _payload(args: dict[str, Any]) -> dict[str, Any]:
    """The hook's JSON a request carries (an object; anything else counts as an empty one)."""
    payload = args.get("payload")
    return payload if isinstance(payload, dict) else {}


class ClientDoesIt(Exception):
    """Raised by an op the daemon leaves to its client (answered ``{"ok": false, "fallback": why}``)."""


def _store(store: MemoryStore, settings: Settings, args: dict[str, Any]) -> dict[str, Any]:
    """``memory store`` on a PostgreSQL store (``MemoryStore.add``'s arguments): the stored memory
    and whether it was stored already, or, when the server is unreachable, that it was queued in
    this machine's outbox (acknowledged all the same). The embedded store's client stores itself:
    a write here would hold the main thread, which answers the prompt hooks, behind the capture
    thread's SQLite write lock."""
    from mahavishnu.errors import QueuedOfflineError

    if settings.memory.backend != "postgres":
        raise ClientDoesIt("the embedded store: stored by its client")

    def text(key: str) -> str | None:
        value = args.get(key)
        return None if value is None else str(value)

    try:
        stored = store.add(  # the values as sent, for the store's checks (see ``_search``)
            args.get("content", ""),
            args.get("memory_type") or "note",
            tags=args.get("tags") or (),
            metadata=args.get("metadata"),
            project=text("project"),
            repo_id=text("repo_id"),
            agent_id=text("agent_id"),
            session_id=text("session_id"),
            workflow_id=text("workflow_id"),
            source_system=text("source_system"),
        )
    except QueuedOfflineError as queued:
        return {
            "queued": True,
            "message": queued.message,
            "client_ids": list(queued.client_ids),
            "waiting": queued.waiting,
        }
    return {"memory": stored.memory.to_dict(), "duplicate": stored.duplicate}


_OPS = {"search": _search, "context": _context, "capture": _capture, "store": _store}
#: The ops answered by the capture thread, with the writing stores, one at a time and never ahead
#: of or in the way of the others (an import of a long session takes minutes).
WRITE_OPS = frozenset({"capture"})
#: How much lower the capture thread runs (``nice``): a recall must not wait for the CPU either.
CAPTURE_NICENESS = 10


def serve(
    path: Path | None = None,
    *,
    idle_seconds: float | None = None,
    release: Callable[[], AbstractContextManager[bool]] | None = None,
) -> str:
    """Run the daemon until SIGTERM/SIGINT, or until idle: take the lock (a second daemon exits at
    once), warm the default store, then bind and answer. Returns why it stopped: "signal",
    "outdated" or "idle".

    ``idle_seconds`` (default ``memory.daemon_idle_seconds``; 0: never) without a request ends it.
    ``release`` (the supervisor's part, from the CLI) is entered when it has been idle that long:
    it yields False when the daemon must stay (a ``service`` command holds the service right now),
    else True and is left once the socket, the stores and the lock are gone (it then drops the PID
    file), so a start that comes meanwhile waits for the exit and starts a fresh daemon."""
    import signal

    from mahavishnu.config import load_settings

    path = path or socket_path()
    _private_dir(path.parent)
    held = _lock(path.with_suffix(".lock"), path)
    try:
        if ping() is not None:  # (a daemon of a version without the lock)
            from mahavishnu.errors import ServiceError

            raise ServiceError(f"a memory daemon already answers at {path}")
        settings = load_settings()
        if idle_seconds is None:
            idle_seconds = settings.memory.daemon_idle_seconds
        daemon = Daemon()
        daemon.default_settings = settings
        try:
            _observe(daemon, settings)
            daemon.warm(settings)
        except BaseException:
            daemon.close()
            raise
    except BaseException:
        os.close(held)
        raise
    return _listen(daemon, path, held, idle_seconds, release, signal)


def _observe(daemon: Daemon, settings: Settings) -> None:
    """The daemon's telemetry: its own figures (recall, capture, search) go wherever telemetry
    sends them (OTLP, when configured), with the stores' sizes as gauges; with
    ``telemetry.daemon_metrics_port``, ``/metrics`` on 127.0.0.1 too, behind the MCP server's
    bearer token (secret ``mahavishnu-mcp-token``), so Prometheus can scrape where the hooks' work
    is done. A port that cannot be served is said in the log; the daemon serves on without it."""
    from mahavishnu import telemetry

    port = settings.telemetry.daemon_metrics_port
    if port is not None:
        if telemetry.enable(prometheus=True) is None:
            from mahavishnu.distribution import install_extra

            print(
                "telemetry.daemon_metrics_port is set but the OpenTelemetry SDK is not installed: "
                f"no /metrics ({install_extra('otel')})",
                flush=True,
            )
        else:
            from mahavishnu.environments.mcp_access import TOKEN_SECRET, bearer_token
            from mahavishnu.errors import MahavishnuError
            from mahavishnu.telemetry.serve import MetricsServer

            try:
                daemon.metrics = MetricsServer(port, bearer_token() or "")
            except (OSError, ValueError, MahavishnuError) as exc:
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                print(f"cannot serve /metrics on 127.0.0.1:{port}: {why}", flush=True)
            else:
                print(f"metrics on {daemon.metrics.url} (token: secret {TOKEN_SECRET})", flush=True)
    if telemetry.enabled():
        from mahavishnu.memory.core.size_metrics import Sizes

        daemon.sizes = Sizes()


def _lock(lock: Path, path: Path) -> int:
    """Hold ``lock`` (``flock``, exclusive) for the daemon's life and write our pid into it; when
    another daemon holds it, a ServiceError that names it (one line: this one exits at once)."""
    import fcntl

    from mahavishnu.errors import ServiceError

    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise ServiceError(f"another memory daemon (pid {holder}) already serves {path}", hint="") from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _holder(fd: int) -> str:
    """The pid the lock's holder wrote, waiting a moment for it (it writes just after it took the
    lock: a daemon started together with this one may not have yet)."""
    deadline = time.monotonic() + 2.0
    while True:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if holder or time.monotonic() > deadline:
            return holder or "?"
        time.sleep(0.02)


def _listen(
    daemon: Daemon,
    path: Path,
    held: int,
    idle_seconds: float,
    release: Callable[[], AbstractContextManager[bool]] | None,
    signal: Any,
) -> str:
    """Bind the socket and answer until a signal, an upgrade or ``idle_seconds`` without a request;
    on the way out, the socket, the stores, then the lock ``held`` go, and last ``release`` is left."""
    import queue
    import threading

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    requests: queue.Queue[tuple[Any, socket.socket] | None] = queue.Queue()
    captures: Captures = queue.Queue()
    capturing = threading.Thread(target=_capture_thread, args=(daemon, captures), daemon=True)
    stopping: list[int] = []
    bound: int | None = None
    why = "signal"

    def stop(signum: int, _frame: Any) -> None:
        stopping.append(signum)
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)

    with contextlib.ExitStack() as leaving:  # the supervisor's release, left after everything else
        try:
            path.unlink(missing_ok=True)  # left by a daemon that was killed (we hold the lock)
            old_umask = os.umask(0o177)
            try:
                listener.bind(str(path))
            finally:
                os.umask(old_umask)
            os.chmod(path, 0o600)
            bound = path.stat().st_ino
            listener.listen(socket.SOMAXCONN)  # (a burst of hooks waits there, not refused at once)
            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            idle = f", exits after {idle_seconds:g} s idle" if idle_seconds else ""
            print(f"memory daemon {os.getpid()} listening on {path}{idle}", flush=True)
            capturing.start()
            threading.Thread(target=_accept, args=(daemon, listener, requests, captures), daemon=True).start()
            daemon.last_request = time.monotonic()  # idle from now on, not from before the warm-up
            while not stopping:
                left = idle_seconds - daemon.idle_for() if idle_seconds else None
                try:
                    item = requests.get(timeout=max(left, 0.05) if left is not None else None)
                except queue.Empty:
                    if daemon.idle_for() < idle_seconds or not captures.empty():
                        continue
                    if release is not None and not leaving.enter_context(release()):
                        daemon.last_request = time.monotonic()  # busy: look again after another wait
                        continue
                    why = "idle"
                    # the next client may start one at once (not a minute after the last start)
                    path.with_name("memory.starting").unlink(missing_ok=True)
                    print(f"idle for {idle_seconds:g} s: exiting (the next client starts it)", flush=True)
                    break
                if item is None:  # the listener was shut down
                    break
                message, conn = item
                _answer(daemon, conn, message)
                if daemon.outdated():
                    print("the installed code changed: exiting so the next start runs it", flush=True)
                    why = "outdated"
                    break
        finally:
            listener.close()
            with contextlib.suppress(FileNotFoundError):
                if bound is not None and path.stat().st_ino == bound:  # ours, not a newer daemon's
                    path.unlink()
            if capturing.is_alive():
                captures.put(None)  # the capture under way may finish its batch; the stores close after
                capturing.join(timeout=2.0)
            daemon.close()
            os.close(held)  # a daemon started from now on may bind
            print(f"memory daemon {os.getpid()} stopped", flush=True)
    return why


def _capture_thread(daemon: Daemon, captures: Captures) -> None:
    """Answer the capture requests, one at a time, at a lower CPU priority (the threads it starts
    to embed inherit it) so that the recalls answered meanwhile by the main thread stay quick."""
    with contextlib.suppress(OSError, AttributeError):  # (Linux: a thread's niceness is its own)
        import threading

        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CAPTURE_NICENESS)
    import queue

    from mahavishnu.memory.loop.sync import DELIVER_SECONDS

    while True:
        try:
            item = captures.get(timeout=DELIVER_SECONDS)
        except queue.Empty:
            _deliver_waiting(daemon)
            continue
        if item is None:
            return
        message, conn = item
        daemon.capturing += 1  # (only this thread changes it)
        try:
            if conn is None:  # acknowledged to its hook, which did not wait
                _capture_for_hook(daemon, message)
                continue
            _answer(daemon, conn, message)
        finally:
            daemon.last_request = time.monotonic()
            daemon.capturing -= 1


def _deliver_waiting(daemon: Daemon) -> None:
    """Every ``sync.DELIVER_SECONDS`` without a capture: deliver what the outbox holds for the
    daemon's own store (by the capture thread, the one writer), and say so in the log."""
    from mahavishnu.memory.core.outbox import outbox_path

    if daemon.default_settings is None or not outbox_path().exists():
        return
    from mahavishnu.memory.loop.sync import deliver_quietly

    try:
        store = daemon.writer_for(daemon.default_settings)
    except Exception:  # (a store that cannot be opened now: next time)
        return
    report = deliver_quietly(store, retry_now=True)  # (every DELIVER_SECONDS: worth one attempt)
    if report is not None and (report.delivered or report.captures):
        print(f"delivered from the outbox: {report.to_dict()}", flush=True)


def _accept(
    daemon: Daemon,
    listener: socket.socket,
    requests: queue.Queue[tuple[Any, socket.socket] | None],
    captures: Captures,
) -> None:
    """Accept connections; each is read in its own thread, so a client that hangs before it has
    sent its request delays nobody. A capture goes to the capture thread's queue, every other
    request to the main thread's: each queue is answered in order, one request at a time."""
    import threading

    while True:
        try:
            conn, _ = listener.accept()
        except OSError as exc:
            if exc.errno in _ACCEPT_LATER:  # a burst of clients: they go, the descriptors come back
                time.sleep(0.05)
                continue
            requests.put(None)  # the listener was shut down
            return
        reader = threading.Thread(target=_read_request, args=(daemon, conn, requests, captures), daemon=True)
        try:
            reader.start()
        except RuntimeError:  # no thread to be had now: that client works alone
            conn.close()


#: What ``accept`` meets when the process or the system is out of descriptors or buffers for now,
#: or a client went away while waiting: no reason to stop listening.
_ACCEPT_LATER = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.ECONNABORTED})


def _read_request(
    daemon: Daemon,
    conn: socket.socket,
    requests: queue.Queue[tuple[Any, socket.socket] | None],
    captures: Captures,
) -> None:
    """Read one JSON line (within ``REQUEST_SECONDS``) and queue it; a client that is slow, sends
    garbage, is another user or vanishes gets no answer or a fallback one. The deadline is for the
    whole request: one that trickles in a byte at a time must not hold its thread for ever."""
    deadline = time.monotonic() + REQUEST_SECONDS
    try:
        if not _same_user(conn):
            conn.close()
            return
        data = b""
        while b"\n" not in data and len(data) <= MAX_REQUEST_BYTES:
            _until(conn, deadline)
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        conn.close()
        return
    conn.settimeout(REQUEST_SECONDS)  # (for writing its answer)
    try:
        message = json.loads(data.split(b"\n", 1)[0]) if data else None
    except (ValueError, RecursionError):  # (nested too deeply: not a client's; it falls back)
        message = None
    if isinstance(message, dict):
        message[RECEIVED] = time.monotonic()
    op = message.get("op") if isinstance(message, dict) else None
    writes = isinstance(op, str) and op in WRITE_OPS  # (an op that is a list: answered as no op)
    if isinstance(message, dict) and writes and _hook_does_not_wait(message):
        if _acknowledge(daemon, conn, message):
            captures.put((message, None))
        return
    (captures if writes else requests).put((message, conn))


def _hook_does_not_wait(message: dict[str, Any]) -> bool:
    """A capture hook's request (``"detach": true``): acknowledged at once, captured afterwards."""
    args = message.get("args")
    return isinstance(args, dict) and args.get("detach") is True and message.get("protocol") == PROTOCOL


def _acknowledge(daemon: Daemon, conn: socket.socket, message: dict[str, Any]) -> bool:
    """Tell the capture hook at once whether its capture is taken (the client's settings are this
    daemon's) or is the client's to do; True when taken."""
    settings = daemon.settings_for(message.get("cwd"), message.get("settings_key"))
    taken = settings is not None
    answer = {"ok": True, "result": {"queued": True}} if taken else {"ok": False, "fallback": "settings"}
    with conn, contextlib.suppress(OSError):  # (a hook that gave up hands the capture off itself)
        conn.sendall(json.dumps(answer).encode() + b"\n")
    return taken


def _capture_for_hook(daemon: Daemon, message: dict[str, Any]) -> None:
    """A capture acknowledged to its hook (``_acknowledge``): done, and its outcome written where a
    detached capture writes it, the hook log (a failure, or that the hook worked), which
    ``memory hooks status`` reads."""
    from mahavishnu.memory.loop.hook_log import log_hook_line, mark_success

    tool = str(message["args"].get("tool") or "?")
    try:
        answer = daemon.handle(message)
    except Exception as exc:  # a bug here must not take the daemon down: the next capture re-reads
        print(f"request failed: {type(exc).__name__}: {exc}", flush=True)
        answer = {"ok": False, "error": f"the memory daemon's capture failed ({type(exc).__name__})"}
    if answer.get("ok"):
        mark_success(tool, "capture")
    elif "fallback" in answer:
        log_hook_line(
            tool, "capture", f"error: not captured ({answer['fallback']}); the next capture reads it"
        )
    else:
        log_hook_line(tool, "capture", f"error: {answer.get('error')}")
        if answer.get("hint"):
            log_hook_line(tool, "capture", f"hint: {answer['hint']}")


def _answer(daemon: Daemon, conn: socket.socket, message: Any) -> None:
    began, cpu = time.perf_counter(), time.process_time()
    try:
        answer = daemon.handle(message)
    except Exception as exc:  # a bug here must not take the daemon down: the client falls back
        answer = {"ok": False, "fallback": f"{type(exc).__name__}"}
        print(f"request failed: {type(exc).__name__}: {exc}", flush=True)
    answer["ms"] = round((time.perf_counter() - began) * 1000, 1)
    answer["cpu_ms"] = round((time.process_time() - cpu) * 1000, 1)  # on a busy machine, the truer cost
    _send(conn, json.dumps(answer, ensure_ascii=False, default=str).encode() + b"\n")


def _send(conn: socket.socket, data: bytes) -> None:
    """Write an answer and close its connection, without waiting for the client: what the socket
    does not take at once (a long answer to a client slow to read it, or that never does) is
    written by a thread of its own within ``REQUEST_SECONDS``, so the thread that answers goes on
    to the next request."""
    import threading

    try:
        conn.setblocking(False)
        sent = conn.send(data)
    except BlockingIOError:
        sent = 0
    except OSError:  # the client went away (crashed, timed out): nothing to do
        sent = len(data)
    if sent == len(data):
        conn.close()
        return
    conn.settimeout(REQUEST_SECONDS)
    writer = threading.Thread(target=_send_rest, args=(conn, memoryview(data)[sent:]), daemon=True)
    try:
        writer.start()
    except RuntimeError:  # no thread to be had now: that client falls back
        conn.close()


def _send_rest(conn: socket.socket, rest: memoryview) -> None:
    with conn, contextlib.suppress(OSError):  # (a client that reads too slowly: it falls back)
        conn.sendall(rest)


def _same_user(conn: socket.socket) -> bool:
    import struct

    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (OSError, AttributeError):
        return True  # no SO_PEERCRED here: the 0600 socket in a 0700 directory still guards it
    _pid, uid, _gid = struct.unpack("3i", creds)
    return bool(uid == os.getuid())


@contextlib.contextmanager
def _working_directory(path: str) -> Any:
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _code_stamp() -> list[Any]:
    from mahavishnu.__about__ import __version__

    package = Path(__file__).resolve().parents[1]
    return [
        __version__,
        *(_mtime(package / name) for name in ("__about__.py", "config.py", "memory/core/store.py")),
    ]


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


if __name__ == "__main__":  # python -m mahavishnu.memory.loop.daemon --health: the service's health check
    if sys.argv[1:] == ["--health"]:
        health_check()
    else:
        serve()
