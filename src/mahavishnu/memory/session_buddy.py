"""Session-Buddy as a peer: a small synchronous client for four of its MCP tools.

Session-Buddy (PyPI ``session-buddy``) is an MCP server, reached over streamable HTTP
(``session_buddy.url``, e.g. ``http://127.0.0.1:8678/mcp``) or as a stdio subprocess
(``session_buddy.command``). Its tools answer with human-oriented text, parsed here:

``quick_search(query, min_score=0.7, project=None)``
    The count-and-top-result search. It answers with at most ONE hit::

        🔍 Quick search for: 'QUERY'
        📊 Found results (showing top 1)
        📝 CONTENT (the first 150 characters, "..." when cut; may span lines)
        📁 Project: PROJECT          (only when the hit has a project)
        ⭐ Relevance: 0.87           (only when it has a score)
        📅 Date: TIMESTAMP           ("Unknown" when it has none)

    or ``🔍 No results found`` plus a tip. Older releases answered
    ``🔍 **N results** for 'QUERY'`` / ``**Top Result** (score: S):`` / content; both parse.
    It takes no ``limit`` argument (sending one is refused), so ``limit`` applies here.
``store_reflection(content, tags=None)``
    ``💾 Reflection stored successfully!`` then ``📝 Content:``, ``🏷️ Tags:``, ``📅 Stored:`` lines.
``checkpoint(working_directory=None)``
    A quality report ending ``⏰ Checkpoint completed at: …``, or ``❌ Checkpoint failed: …``.
``health_check()``
    ``🏥 MCP Server Health Check`` then ``Key: Value`` lines (Server Status, Platform, Python,
    Process ID, Working Directory, Timestamp).

Failures come back as ordinary text, not as tool errors: a line starting ``❌`` (``❌ Quick
search failed: …``, ``❌ Validation error: …``), ``Reflection tools not available …`` or
``Failed to …``. Those, tool errors, an absent or slow peer all become a ``PeerError``;
``quick_search`` never raises for them: it answers with no hits and a warning saying what to do.

A ``SessionBuddy`` keeps one MCP session open across calls (opened on the first, on an event loop
in a background thread), so a long-lived process pays the handshake, or a stdio peer's start, once.
Every call, opening included, is bounded by ``timeout_seconds`` (``anyio.fail_after``); a call that
times out or finds the session broken discards it (the next call opens a fresh one; a search or
health check is retried once on a fresh session when a kept one turns out broken). A stdio peer
runs in its own process group, killed (SIGKILL to the group) when its session is discarded or
closed, so a hung peer never outlives the call; ``close()`` (or ``with``), garbage collection and
interpreter exit close the session. Only loopback URLs are contacted.
"""

from __future__ import annotations

import math
import os
import re
import signal
import socket
import subprocess
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager, asynccontextmanager, suppress
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from mahavishnu.errors import PeerError
from mahavishnu.masking import mask_url

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal
    from mcp import Client
    from mcp.client._transport import TransportStreams
    from mcp.types import CallToolResult

    from mahavishnu.config import SessionBuddySettings, Settings

PEER = "Session-Buddy"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: A checkpoint scores the project and may commit: it gets at least this long.
CHECKPOINT_MIN_TIMEOUT_SECONDS = 30.0
#: How long a stdio peer may take to exit on its own once its stdin is closed.
STDIO_EXIT_GRACE_SECONDS = 0.2
CONFIGURE_HINT = (
    "Set `session_buddy.url` (e.g. http://127.0.0.1:8678/mcp) in mahavishnu.yaml or "
    "MAHAVISHNU_SESSION_BUDDY__URL, or `session_buddy.command` for a stdio server."
)
START_HINT = (
    "Start it (`session-buddy start`, or `mahavishnu service start session-buddy`) or fix "
    "`session_buddy.url` / `session_buddy.command`; `session_buddy.enabled: false` turns the peer off."
)


# -- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerHit:
    """One hit from the peer's search."""

    content: str
    score: float | None
    project: str | None
    timestamp: str | None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PeerAnswer:
    """What a search of the peer gave: hits, or a warning saying why there are none."""

    hits: list[PeerHit]
    warning: str | None
    elapsed_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "hits": [asdict(h) for h in self.hits],
            "warning": self.warning,
            "elapsed_ms": self.elapsed_ms,
        }


# -- parsing (pure) ----------------------------------------------------------------------------------

_FAILURE_PREFIXES = (
    "❌",
    "Reflection tools not available",
    "Failed to ",
    "Error ",
    "Parameter validation failed",
)
_HIT_FIELD = re.compile(r"^(📁 Project|⭐ Relevance|📅 Date):\s?(.*)$")
_OLD_HEADER = re.compile(r"^🔍 \*\*(\d+) results?\*\* for ")
_OLD_TOP = re.compile(r"^\*\*Top Result\*\* \(score: ([^)]*)\):\s*$")


def peer_failure(text: str) -> str | None:
    """The failure a tool reported as text (its first line), or None when the text is an answer."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if first.startswith(_FAILURE_PREFIXES):
        return first.removeprefix("❌").strip()
    return None


def _score(value: str) -> float | None:
    try:
        score = float(value.strip())
    except ValueError:
        return None
    return score if math.isfinite(score) else None


def parse_quick_search(text: str) -> list[PeerHit]:
    """The hits in a ``quick_search`` answer ([] for "No results found").

    Raises ``PeerError`` when the text is a failure report or an unknown format.
    """
    failure = peer_failure(text)
    if failure:
        raise PeerError(f"{PEER} quick_search failed: {failure}", hint=_failure_hint(failure))
    lines = text.strip().splitlines()
    if any("No results found" in line for line in lines[:3]):
        return []
    if any(line.startswith("📊 Found results") for line in lines):
        return [_parse_current_hit(lines)]
    if lines and _OLD_HEADER.match(lines[0]):
        return [_parse_old_hit(lines)]
    raise PeerError(
        f"{PEER} quick_search answered in an unknown format: {text.strip()[:80]!r}",
        hint="This Session-Buddy release may be newer than this client; please report it.",
    )


def _parse_current_hit(lines: list[str]) -> PeerHit:
    start = next(i for i, line in enumerate(lines) if line.startswith("📊 Found results"))
    content: list[str] = []
    fields: dict[str, str] = {}
    for line in lines[start + 1 :]:
        match = _HIT_FIELD.match(line)
        if match:
            fields[match.group(1).split(" ", 1)[1]] = match.group(2).strip()
        elif not fields:  # content runs until the first field line
            content.append(line.removeprefix("📝 ") if not content else line)
    body = "\n".join(content).strip()
    date = fields.get("Date")
    return PeerHit(
        content=body.removesuffix("...") if body.endswith("...") else body,
        score=_score(fields["Relevance"]) if "Relevance" in fields else None,
        project=fields.get("Project") or None,
        timestamp=None if date in (None, "", "Unknown", "None") else date,
        metadata={"truncated": body.endswith("..."), "source": "quick_search"},
    )


def _parse_old_hit(lines: list[str]) -> PeerHit:
    header = _OLD_HEADER.match(lines[0])
    total = int(header.group(1)) if header else None
    score: float | None = None
    content: list[str] = []
    seen_top = False
    for line in lines[1:]:
        top = _OLD_TOP.match(line)
        if top:
            seen_top, score = True, _score(top.group(1))
        elif seen_top and line.startswith("💡 "):
            break
        elif seen_top:
            content.append(line)
    body = "\n".join(content).strip()
    return PeerHit(
        content=body.removesuffix("...") if body.endswith("...") else body,
        score=score,
        project=None,
        timestamp=None,
        metadata={"truncated": body.endswith("..."), "total": total, "source": "quick_search"},
    )


def parse_store_reflection(text: str) -> dict[str, Any]:
    """``{"stored": True, "id", "tags", "timestamp", "text"}`` from a ``store_reflection`` answer."""
    failure = peer_failure(text)
    if failure or "stored successfully" not in text:
        reason = failure or text.strip()[:120]
        raise PeerError(f"{PEER} did not store the reflection: {reason}", hint=_failure_hint(reason))
    found_id = re.search(r"with ID: (\S+)", text)
    tags_line = re.search(r"^🏷️? ?Tags: (.*)$", text, re.MULTILINE) or re.search(r"\(tags: ([^)]*)\)", text)
    stored = re.search(r"^📅 Stored: (.*)$", text, re.MULTILINE)
    return {
        "stored": True,
        "id": found_id.group(1) if found_id else None,
        "tags": [t.strip() for t in tags_line.group(1).split(",") if t.strip()] if tags_line else [],
        "timestamp": stored.group(1).strip() if stored else None,
        "text": text.strip(),
    }


def parse_health_check(text: str) -> dict[str, Any]:
    """The ``Key: Value`` lines of a ``health_check`` answer, snake_cased, plus ``status``."""
    failure = peer_failure(text)
    if failure:
        raise PeerError(f"{PEER} health_check failed: {failure}", hint=_failure_hint(failure))
    info: dict[str, Any] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key and not key.startswith(("🏥", "✅", "⚠", "=")) and len(key) < 40:
            info[re.sub(r"\W+", "_", key.strip().lower()).strip("_")] = value.strip()
    if "process_id" in info:
        with suppress(ValueError):
            info["process_id"] = int(info["process_id"])
    server_status = str(info.get("server_status", ""))
    healthy = "✅" in server_status or "Active" in server_status or "operational" in text
    info["status"] = "ok" if healthy else "error"
    return info


def _failure_hint(reason: str) -> str:
    if "not available" in reason or "Install" in reason:
        return "Session-Buddy lacks a dependency for this tool; see its own message above."
    return "See Session-Buddy's own log for the cause."


# -- transports ----------------------------------------------------------------------------------------


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PeerError(f"session_buddy.url {mask_url(url)!r} is not an http(s) URL", hint=CONFIGURE_HINT)
    if parts.hostname not in LOOPBACK_HOSTS:
        raise PeerError(
            f"session_buddy.url {mask_url(url)!r} is not a loopback address",
            hint="Session-Buddy has no authentication: reach it on 127.0.0.1 (tunnel a remote one).",
        )
    return url


def _check_listening(url: str, limit: float) -> None:
    """Fail fast when nothing listens at the URL: a refused TCP connect takes well under a
    millisecond, an MCP session that finds out the same thing some 40 ms."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=min(limit, 1.0)).close()
    except OSError as exc:
        raise PeerError(
            f"{PEER} at {mask_url(url)} is unreachable: {exc.strerror or type(exc).__name__}", hint=START_HINT
        ) from exc


@asynccontextmanager
async def _stdio_transport(argv: list[str]) -> AsyncIterator[TransportStreams]:
    """The peer as a subprocess in its own process group; the group is killed when the session ends.

    The SDK's own stdio transport waits seconds for a stuck server to exit (shielded from
    cancellation); this one gives it ``STDIO_EXIT_GRACE_SECONDS``, so a call keeps its deadline.
    """
    import anyio
    import mcp_types
    from anyio.streams.text import TextReceiveStream
    from mcp.shared.message import SessionMessage

    process = await anyio.open_process(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True
    )
    read_in, read_out = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_in, write_out = anyio.create_memory_object_stream[SessionMessage](0)

    async def reader() -> None:
        assert process.stdout is not None
        buffer = ""
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            async with read_in:
                async for chunk in TextReceiveStream(process.stdout):
                    *lines, buffer = (buffer + chunk).split("\n")
                    for line in lines:
                        if not line.strip():
                            continue
                        try:
                            message: SessionMessage | Exception = SessionMessage(
                                mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                            )
                        except ValueError as exc:
                            message = exc
                        await read_in.send(message)

    async def writer() -> None:
        assert process.stdin is not None
        try:
            async with write_out:
                async for outgoing in write_out:
                    data = outgoing.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
                    await process.stdin.send(data.encode())
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            await read_in.aclose()

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(reader)
            group.start_soon(writer)
            try:
                yield read_out, write_in
            finally:
                group.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await _stop_process(process)


async def _stop_process(process: Any) -> None:
    import anyio

    with suppress(Exception):
        await process.stdin.aclose()
    with anyio.move_on_after(STDIO_EXIT_GRACE_SECONDS):
        while process.returncode is None:
            await anyio.sleep(0.01)
    if process.returncode is None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # its own group: the server and its children
    with anyio.move_on_after(2.0):
        await process.wait()
    with suppress(Exception):
        await process.aclose()


# -- the connection ----------------------------------------------------------------------------------------

#: How long ``close()`` lets an open session end on its own (an HTTP DELETE, a stdio peer exiting
#: once its stdin closes) before cancelling it.
CLOSE_GRACE_SECONDS = 1.0
#: Calls that are safe to send twice: retried once on a fresh session when a kept one turns out broken.
_RETRYABLE = frozenset({"quick_search", "health_check"})


@dataclass
class _Session:
    """One open MCP session, held open by a task (``future``) on the link's event loop."""

    client: Client
    stop: Any  # anyio.Event: set to end the session gracefully
    scope: Any  # anyio.CancelScope: cancelled to end it at once
    portal: BlockingPortal | None = None
    future: Future[None] | None = None


class _Link:
    """One MCP session kept open across calls, on an event loop in a background thread (a blocking portal).

    Opened on a call's first use, within that call's deadline. A call that fails for the connection
    (a timeout, a closed stream, a protocol error) discards the session, ending it at once (a stdio
    peer's process group is killed), so the next call opens a fresh one; so does a session whose
    holding task has ended (the stdio peer died). Calls from several threads run concurrently on the
    one session: the SDK's JSON-RPC dispatcher matches each answer to its request by id. Holds no
    reference to its ``SessionBuddy``, so a finaliser can close it (also at interpreter exit)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards opening, discarding and closing
        self._portal_cm: AbstractContextManager[BlockingPortal] | None = None
        self._portal: BlockingPortal | None = None
        self._thread: threading.Thread | None = None
        self._session: _Session | None = None
        self._pid = os.getpid()
        self.sessions_opened = 0

    @property
    def is_open(self) -> bool:
        session = self._session
        return session is not None and session.future is not None and not session.future.done()

    def session(self, opener: Callable[[float], Any], deadline: float) -> tuple[_Session, bool]:
        """The open session (and False), or one opened now within ``deadline`` (and True)."""
        if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise TimeoutError("another call is still opening the session")
        try:
            if os.getpid() != self._pid:  # a forked child: the loop thread is the parent's
                self._forget()
            session = self._session
            if session is not None and session.future is not None and not session.future.done():
                return session, False
            self._session = None  # its holding task ended: the transport broke
            portal = self._start_portal()
            limit = deadline - time.monotonic()
            if limit <= 0:
                raise TimeoutError("no time left to open a session")
            future, session = portal.start_task(_hold, opener, limit, name="session-buddy session")
            session.portal, session.future = portal, future
            self._session = session
            self.sessions_opened += 1
            return session, True
        finally:
            self._lock.release()

    def call(
        self, session: _Session, tool: str, arguments: dict[str, Any], deadline: float
    ) -> CallToolResult:
        limit = deadline - time.monotonic()
        if limit <= 0 or session.portal is None:
            raise TimeoutError("no time left for the call")
        result: CallToolResult = session.portal.call(_call_tool, session.client, tool, arguments, limit)
        return result

    def discard(self, session: _Session) -> None:
        """End a session a call failed on (at once), unless it has been replaced already."""
        with self._lock:
            if self._session is session:
                self._session = None
        self._end(session, graceful=False)

    def close(self) -> None:
        """End the session and stop the loop thread; idempotent. A later call opens them again."""
        if self._thread is threading.current_thread():  # a finaliser run on the loop itself
            threading.Thread(target=self.close, name="session-buddy-close", daemon=True).start()
            return
        with self._lock:
            if os.getpid() != self._pid:
                self._forget()
                return
            session, portal_cm, portal = self._session, self._portal_cm, self._portal
            self._forget()
        if session is not None:
            self._end(session, graceful=True)
        if portal_cm is not None and portal is not None:
            with suppress(Exception):
                portal.call(portal.stop, True)  # cancel calls still in flight (they keep their errors)
            with suppress(Exception):
                portal_cm.__exit__(None, None, None)  # joins the thread

    def _forget(self) -> None:
        self._session = self._portal = self._portal_cm = self._thread = None
        self._pid = os.getpid()

    def _start_portal(self) -> BlockingPortal:
        if self._portal is None:
            from anyio.from_thread import start_blocking_portal

            portal_cm = start_blocking_portal(name="session-buddy-loop")
            portal = portal_cm.__enter__()
            self._thread = portal.call(threading.current_thread)
            self._portal_cm, self._portal = portal_cm, portal
        return self._portal

    @staticmethod
    def _end(session: _Session, *, graceful: bool) -> None:
        if session.portal is None or session.future is None:
            return
        with suppress(Exception):
            if graceful:
                session.portal.call(session.stop.set)
                with suppress(FutureTimeout):
                    session.future.result(timeout=CLOSE_GRACE_SECONDS)
                    return
            session.portal.call(session.scope.cancel)
        with suppress(BaseException):
            session.future.result(timeout=STDIO_EXIT_GRACE_SECONDS + 5.0)


async def _hold(opener: Callable[[float], Any], limit: float, *, task_status: Any) -> None:
    """Open a session within ``limit``, report it, and keep it open until stopped or cancelled.

    One task enters and leaves the client, as anyio's cancel scopes require; the opening deadline
    is lifted once the session is up."""
    import anyio

    started = False
    with anyio.CancelScope(deadline=anyio.current_time() + limit) as scope:
        async with opener(limit) as client:
            scope.deadline = math.inf
            stop = anyio.Event()
            task_status.started(_Session(client, stop, scope))
            started = True
            await stop.wait()
    if not started:
        raise TimeoutError(f"no session within {limit:g}s")


async def _call_tool(client: Client, tool: str, arguments: dict[str, Any], limit: float) -> CallToolResult:
    import anyio

    with anyio.fail_after(limit):
        return await client.call_tool(tool, arguments, read_timeout_seconds=limit)
    raise AssertionError("unreachable")  # pragma: no cover - mypy: fail_after may swallow


@asynccontextmanager
async def _open_client(url: str | None, command: tuple[str, ...], limit: float) -> AsyncIterator[Client]:
    """An entered ``Client`` for the peer; ``limit`` bounds connecting (each call has its deadline)."""
    from mcp import Client

    if url:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        # No read timeout: every call has its deadline, and the idle GET stream may wait for ever.
        timeout = httpx2.Timeout(None, connect=limit)
        async with httpx2.AsyncClient(timeout=timeout, follow_redirects=False) as http:
            transport = streamable_http_client(url, http_client=http)
            async with Client(transport, read_timeout_seconds=limit) as client:
                yield client
    else:
        async with Client(_stdio_transport(list(command)), read_timeout_seconds=limit) as client:
            yield client


# -- the client -------------------------------------------------------------------------------------------


class SessionBuddy:
    """Calls to one Session-Buddy peer. Synchronous and thread-safe; keeps one MCP session open.

    The session opens on the first call and stays open for the next ones (an HTTP call then costs
    one request, a stdio peer starts once); ``close()`` (or leaving ``with SessionBuddy(...)``) ends
    it and its loop thread, and so does garbage collection or interpreter exit for one left open."""

    def __init__(
        self, *, url: str | None = None, command: list[str] | None = None, timeout_seconds: float = 2.0,
        min_score: float = 0.0, enabled: bool = True,
    ) -> None:  # fmt: skip
        self.url = url
        self.command = list(command or [])
        self.timeout_seconds = timeout_seconds
        self.min_score = min_score
        self.enabled = enabled
        self._link = _Link()
        weakref.finalize(self, self._link.close)  # at garbage collection or, at the latest, exit

    @classmethod
    def from_settings(cls, settings: Settings | SessionBuddySettings) -> SessionBuddy:
        peer = cast("SessionBuddySettings", getattr(settings, "session_buddy", settings))
        return cls(
            url=peer.url,
            command=peer.command,
            timeout_seconds=peer.timeout_seconds,
            min_score=peer.min_score,
            enabled=peer.enabled,
        )

    def __enter__(self) -> SessionBuddy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the open session (a stdio peer's process group is killed) and its loop thread."""
        self._link.close()

    @property
    def sessions_opened(self) -> int:
        """How many MCP sessions this client has opened (1 while one stays healthy)."""
        return self._link.sessions_opened

    @property
    def configured(self) -> bool:
        return self.enabled and bool(self.url or self.command)

    @property
    def where(self) -> str:
        """The peer's address for messages (URL masked; the command's program only)."""
        if self.url:
            return mask_url(self.url)
        return f"stdio `{os.path.basename(self.command[0])}`" if self.command else "nowhere"

    # -- public calls --

    def quick_search(
        self, query: str, *, project: str | None = None, limit: int = 10, min_score: float | None = None
    ) -> PeerAnswer:
        """The peer's hits for ``query``. Never raises for the peer: problems become ``warning``."""
        started = time.perf_counter()
        arguments: dict[str, Any] = {
            "query": query,
            "min_score": self.min_score if min_score is None else min_score,
        }
        if project:
            arguments["project"] = project
        try:
            text = self._call("quick_search", arguments)
            hits = parse_quick_search(text)[: max(0, limit)]
        except PeerError as exc:
            return PeerAnswer([], _warning(exc), _ms(started))
        except Exception as exc:  # a search must never fail because of the peer
            warning = f"{PEER} search failed ({type(exc).__name__}: {mask_url(str(exc))}). {START_HINT}"
            return PeerAnswer([], warning, _ms(started))
        return PeerAnswer(hits, None, _ms(started))

    def store_reflection(self, content: str, tags: tuple[str, ...] | list[str] = ()) -> str:
        """Store a reflection on the peer; its confirmation text. Raises ``PeerError``."""
        from mahavishnu.memory.scrub import scrub

        arguments: dict[str, Any] = {"content": scrub(content)}  # the peer is a memory store too
        if tags:
            arguments["tags"] = list(tags)
        return str(parse_store_reflection(self._call("store_reflection", arguments))["text"])

    def checkpoint(
        self, working_directory: str | None = None, *, timeout_seconds: float | None = None
    ) -> str:
        """Run the peer's quality checkpoint; its report. Raises ``PeerError``."""
        arguments = {"working_directory": working_directory} if working_directory else {}
        timeout = timeout_seconds or max(self.timeout_seconds, CHECKPOINT_MIN_TIMEOUT_SECONDS)
        text = self._call("checkpoint", arguments, timeout=timeout)
        failure = peer_failure(text) or next(
            (
                line.removeprefix("❌").strip()
                for line in text.splitlines()
                if line.startswith(("❌ Checkpoint failed", "❌ Unexpected checkpoint error"))
            ),
            None,
        )
        if failure:
            raise PeerError(f"{PEER} checkpoint failed: {failure}", hint=_failure_hint(failure))
        return text.strip()

    def health_check(self) -> dict[str, Any]:
        """``{"status", "latency_ms", "server", "version", "detail", "info"}``. Raises ``PeerError``."""
        started = time.perf_counter()
        server: dict[str, str] = {}
        text = self._call("health_check", {}, server_info=server)
        info = parse_health_check(text)
        status = info.pop("status")
        detail = f"{server.get('name') or PEER} {server.get('version') or ''}".strip()
        detail += f" at {self.where}: " + ("answers health_check" if status == "ok" else "reports unhealthy")
        return {
            "status": status,
            "latency_ms": _ms(started),
            "server": server.get("name"),
            "version": server.get("version"),
            "where": self.where,
            "detail": detail,
            "info": info,
        }

    # -- plumbing --

    def _call(
        self, tool: str, arguments: dict[str, Any], *, timeout: float | None = None,
        server_info: dict[str, str] | None = None,
    ) -> str:  # fmt: skip
        """One tool call on the kept session (opened or reopened as needed), within ``timeout``."""
        if not self.enabled:
            raise PeerError(f"{PEER} is disabled (session_buddy.enabled: false)", hint=CONFIGURE_HINT)
        if not self.configured:
            raise PeerError(f"{PEER} is not configured", hint=CONFIGURE_HINT)
        limit = timeout or self.timeout_seconds
        deadline = time.monotonic() + limit
        if self.url:
            _check_url(self.url)
        opener = partial(_open_client, self.url, tuple(self.command))
        for attempt in (1, 2):
            session: _Session | None = None
            fresh = False
            try:
                if self.url and not self._link.is_open:
                    _check_listening(self.url, limit)
                session, fresh = self._link.session(opener, deadline)
                result = self._link.call(session, tool, arguments, deadline)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as caught:  # timeouts, refused connections, closed streams, protocol errors
                if session is not None:
                    self._link.discard(session)
                exc = _innermost(caught)
                if isinstance(exc, PeerError):
                    raise exc from None
                # A kept session the peer no longer knows (it restarted) or whose stdio process died:
                # a call safe to repeat is sent again on a fresh session, within the same deadline.
                retry = attempt == 1 and session is not None and not fresh and tool in _RETRYABLE
                if retry and not isinstance(exc, TimeoutError) and time.monotonic() < deadline:
                    continue
                if isinstance(exc, TimeoutError):
                    message = f"{PEER} at {self.where} did not answer {tool} within {limit:g}s"
                elif isinstance(exc, FileNotFoundError) and not self.url:
                    message = f"{PEER} command not found: {self.command[0]}"
                else:
                    message = f"{PEER} at {self.where} is unreachable: {_describe(exc)}"
                raise PeerError(message, hint=START_HINT) from caught
            break
        assert session is not None
        if server_info is not None and session.client.server_info is not None:
            info = session.client.server_info
            server_info.update(name=info.name, version=info.version)
        text = " ".join(getattr(c, "text", "") for c in result.content).strip()
        if result.is_error:
            raise PeerError(f"{PEER} {tool} failed: {text or 'tool error'}", hint=_failure_hint(text))
        return text


def _warning(exc: PeerError) -> str:
    return f"{exc.message}. {exc.hint}" if exc.hint else exc.message


def _describe(exc: BaseException) -> str:
    """The innermost useful message of an exception (group)."""
    exc = _innermost(exc)
    cause = exc.__cause__ or exc.__context__
    text = str(exc) or (str(cause) if cause else "") or type(exc).__name__
    return mask_url(f"{type(exc).__name__}: {text}" if str(exc) else text)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _innermost(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (task groups wrap what their tasks raised)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
