"""Session-Buddy as a peer: a small synchronous client for the MCP tools Mahavishnu uses.

Session-Buddy (PyPI ``session-buddy``; 0.23.0 is the newest on Python 3.13) is an MCP server reached
over streamable HTTP (``session_buddy.url``, e.g. ``http://127.0.0.1:8678/mcp``: ``session-buddy start``
has no stdio mode); ``session_buddy.command`` runs another MCP server over stdio instead. Its tools
answer with human-oriented text, parsed here. What 0.23 really does (tests/memory/
test_session_buddy_real.py pins it against the real server):

``quick_search(query, min_score=0.7, project=None)``
    Ignores ``project`` and ``min_score``: the query is ONE case-sensitive substring of a reflection's
    content (or equals one of its tags), and it answers with the newest match only::

        🔍 Quick search for: 'QUERY'
        📊 Found results (showing top 1)
        📝 CONTENT (cut to 150 characters: the first 147 and "..."; may span lines)
        📅 Date: Unknown

    (``📁 Project:`` and ``⭐ Relevance:`` lines only when a hit has them, which reflections stored
    through ``store_reflection`` never do), or ``🔍 No results found`` plus a tip. Older releases
    answered ``🔍 **N results** for 'QUERY'`` / ``**Top Result** (score: S):`` / content; both parse.
    So ``search`` asks for a question's salient terms in one round (``peer_queries``), and only the
    query is sent: project and scores are applied by the caller (``unified.py``).
``store_reflection(content, tags=None)``
    ``💾 Reflection stored successfully!`` then ``📝 Content:``, ``🏷️ Tags:``, ``📅 Stored:`` lines.
    A ``project`` argument is a validation error.
``reflection_stats(project=None)``
    ``📈 Total reflections: N`` among other lines (``project`` ignored).
``checkpoint(working_directory=None)``
    A quality report ending ``⏰ Checkpoint completed at: …``, or ``❌ Checkpoint failed: …``.
``health_check()``
    ``🏥 MCP Server Health Check`` then ``Key: Value`` lines (Server Status, Platform, Python,
    Process ID, Working Directory, Timestamp).

Failures come back as ordinary text, not as tool errors: a line starting ``❌`` (``❌ Quick
search failed: …``, ``❌ Validation error: …``), ``Reflection tools not available …`` or
``Failed to …``. Those, tool errors, an absent or slow peer all become a ``PeerError``;
``search`` never raises for them: it answers with no hits and a warning saying what to do.

A ``SessionBuddy`` keeps one MCP session open across calls (opened on the first, on an event loop
in a background thread), so a long-lived process pays the handshake (with 0.23: ``server/discover``
refused with 400, then ``initialize``), or a stdio peer's start, once. Every call, opening included,
is bounded by ``timeout_seconds`` (``anyio.fail_after``), counted from after the MCP SDK is imported
(the budget is the peer's, not our imports'); the first call after Session-Buddy starts sets up its
database (~8 s), and a timeout says so. A call that times out or finds the session broken discards
it (the next call opens a fresh one; calls safe to repeat are retried once on a fresh session when a
kept one turns out broken). A stdio peer runs in its own process group, killed (SIGKILL to the group)
when its session is discarded or closed, so a hung peer never outlives the call; ``close()`` (or
``with``), garbage collection and interpreter exit close the session. Only loopback URLs are contacted.
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
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, TypeAlias, TypedDict, cast
from urllib.parse import urlsplit

from mahavishnu import telemetry
from mahavishnu.errors import PeerError
from mahavishnu.json_types import JSONObject, JSONScalar, JSONValue
from mahavishnu.masking import mask_url

if TYPE_CHECKING:
    from anyio import CancelScope, Event
    from anyio.abc import Process, TaskStatus
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
    "Set `session_buddy.url` (e.g. http://127.0.0.1:8678/mcp, what `session-buddy start` serves) in "
    "mahavishnu.yaml or MAHAVISHNU_SESSION_BUDDY__URL."
)
SLOW_HINT = (
    "A Session-Buddy that has just started sets up its database on its first call (~8 s): try again in a "
    "few seconds; otherwise raise `session_buddy.timeout_seconds` or restart it."
)
START_HINT = (
    "Start it (`session-buddy start`, or `mahavishnu service start session-buddy`) or fix "
    "`session_buddy.url` / `session_buddy.command`; `session_buddy.enabled: false` turns the peer off."
)


#: Session-Buddy 0.23 shows a hit's content cut to 150 characters: the first 147 and "...".
CUT_AT, CUT_MARK = 150, "..."
#: A question becomes at most this many substring searches (its salient terms in a few casings).
MAX_PEER_TERMS, MAX_PEER_QUERIES = 3, 8


# -- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerHit:
    """One hit from the peer's search."""

    content: str
    score: float | None
    project: str | None
    timestamp: str | None
    metadata: dict[str, JSONScalar] = field(default_factory=dict)  # truncated, source, total, query


@dataclass(frozen=True)
class PeerAnswer:
    """What a search of the peer gave: hits, or a warning saying why there are none."""

    hits: list[PeerHit]
    warning: str | None
    elapsed_ms: float

    def to_dict(self) -> JSONObject:
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
    body, fields = _hit_body_and_fields(lines[start + 1 :])
    date = fields.get("Date")
    cut = body.endswith(CUT_MARK) and len(body) >= CUT_AT  # content[:147] + "..."
    return PeerHit(
        content=body.removesuffix(CUT_MARK) if cut else body,
        score=_score(fields["Relevance"]) if "Relevance" in fields else None,
        project=fields.get("Project") or None,
        timestamp=None if date in (None, "", "Unknown", "None") else date,
        metadata={"truncated": cut, "source": "quick_search"},
    )


def _hit_body_and_fields(lines: list[str]) -> tuple[str, dict[str, str]]:
    """A hit's content (up to its first field line) and its ``📁 Project``-style fields by name."""
    content: list[str] = []
    fields: dict[str, str] = {}
    for line in lines:
        match = _HIT_FIELD.match(line)
        if match:
            fields[match.group(1).split(" ", 1)[1]] = match.group(2).strip()
        elif not fields:  # content runs until the first field line
            content.append(line.removeprefix("📝 ") if not content else line)
    return "\n".join(content).strip(), fields


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


def parse_reflection_stats(text: str) -> int:
    """The ``Total reflections: N`` of a ``reflection_stats`` answer."""
    failure = peer_failure(text)
    found = re.search(r"Total reflections:\s*(\d+)", text)
    if failure or not found:
        reason = failure or f"no count in {text.strip()[:80]!r}"
        raise PeerError(f"{PEER} reflection_stats failed: {reason}", hint=_failure_hint(reason))
    return int(found.group(1))


def peer_queries(query: str) -> list[str]:
    """What to ask a peer whose search is one case-sensitive substring: the query as typed, then its
    salient terms (stopwords dropped, longest first) as typed, lower-cased and capitalised; at most
    ``MAX_PEER_QUERIES``. "zebrafish retry budget" finds nothing as one substring, "budget" may."""
    from mahavishnu.memory.core.search import STOPWORDS

    words = [w for w in dict.fromkeys(re.findall(r"\w+", query)) if w.lower() not in STOPWORDS]
    salient = sorted(words, key=len, reverse=True)[:MAX_PEER_TERMS]
    phrase = query.strip()
    forms = [phrase, _capitalised(phrase)]
    forms += [form for w in salient for form in (w, w.lower(), _capitalised(w.lower()))]
    return [q for q in dict.fromkeys(forms) if q][:MAX_PEER_QUERIES]


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


class StoredReflection(TypedDict):
    """What ``store_reflection`` confirmed."""

    stored: bool
    id: str | None
    tags: list[str]
    timestamp: str | None
    text: str


def parse_store_reflection(text: str) -> StoredReflection:
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


#: A ``health_check`` answer's fields: text, but ``process_id`` a number when it is one.
HealthInfo: TypeAlias = dict[str, str | int]


def parse_health_check(text: str) -> HealthInfo:
    """The ``Key: Value`` lines of a ``health_check`` answer, snake_cased, plus ``status``."""
    failure = peer_failure(text)
    if failure:
        raise PeerError(f"{PEER} health_check failed: {failure}", hint=_failure_hint(failure))
    info: HealthInfo = dict(_health_fields(text))
    if "process_id" in info:
        with suppress(ValueError):
            info["process_id"] = int(info["process_id"])
    server_status = str(info.get("server_status", ""))
    healthy = "✅" in server_status or "Active" in server_status or "operational" in text
    info["status"] = "ok" if healthy else "error"
    return info


def _health_fields(text: str) -> dict[str, str]:
    """The ``Key: Value`` lines (not the banner's), keys snake_cased; a later key wins."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key and not key.startswith(("🏥", "✅", "⚠", "=")) and len(key) < 40:
            fields[re.sub(r"\W+", "_", key.strip().lower()).strip("_")] = value.strip()
    return fields


def _failure_hint(reason: str) -> str:
    if "not available" in reason or "Install" in reason:
        return "Session-Buddy lacks a dependency for this tool; see its own message above."
    return "See Session-Buddy's own log for the cause."


# -- transports ----------------------------------------------------------------------------------------

ToolArguments: TypeAlias = dict[str, JSONValue]
ToolCall: TypeAlias = tuple[str, ToolArguments]  # (tool, arguments)
#: Opens an entered MCP client within the seconds it is given (``_open_client`` with its peer).
Opener: TypeAlias = "Callable[[float], AbstractAsyncContextManager[Client]]"


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


async def _stop_process(process: Process) -> None:
    import anyio

    with suppress(Exception):
        if process.stdin is not None:
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
_RETRYABLE = frozenset({"quick_search", "health_check", "reflection_stats"})


@dataclass
class _Session:
    """One open MCP session, held open by a task (``future``) on the link's event loop."""

    client: Client
    stop: Event  # set to end the session gracefully
    scope: CancelScope  # cancelled to end it at once
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

    def session(self, opener: Opener, deadline: float) -> tuple[_Session, bool]:
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

    def call(self, session: _Session, calls: list[ToolCall], deadline: float) -> list[CallToolResult]:
        """Tool calls on the session, sent together; all answered by ``deadline`` or a ``TimeoutError``."""
        limit = deadline - time.monotonic()
        if limit <= 0 or session.portal is None:
            raise TimeoutError("no time left for the call")
        results: list[CallToolResult] = session.portal.call(_call_tools, session.client, calls, limit)
        return results

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


async def _hold(opener: Opener, limit: float, *, task_status: TaskStatus[_Session]) -> None:
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


async def _call_tools(client: Client, calls: list[ToolCall], limit: float) -> list[CallToolResult]:
    import anyio

    results: dict[int, CallToolResult] = {}

    async def one(index: int, tool: str, arguments: ToolArguments) -> None:
        results[index] = await client.call_tool(tool, arguments, read_timeout_seconds=limit)

    with anyio.fail_after(limit):
        async with anyio.create_task_group() as group:
            for index, (tool, arguments) in enumerate(calls):
                group.start_soon(one, index, tool, arguments)
    return [results[i] for i in range(len(calls))]


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

    def prepare(self) -> None:
        """Import what a call needs (the MCP SDK: ~1.25 s, more on a busy machine), so that a caller
        can do it ahead of time; every call's budget starts after it anyway."""
        _import_sdk()

    def search(self, query: str, *, limit: int = 10) -> PeerAnswer:
        """The peer's hits for a question, asked the way its ``quick_search`` works: one case-sensitive
        substring per call, one hit per answer. So it is asked, in one round, for the query as typed
        and for its salient terms (``peer_queries``); the distinct hits come back in that order.
        Never raises for the peer: problems become ``warning``."""
        return self._search(peer_queries(query), limit)

    def quick_search(self, query: str, *, limit: int = 10) -> PeerAnswer:
        """One ``quick_search`` call for ``query`` as it is (at most one hit). Never raises for the peer."""
        return self._search([query], limit)

    def _search(self, queries: list[str], limit: int) -> PeerAnswer:
        self.prepare()  # ``elapsed_ms`` is the peer's time
        started = time.perf_counter()
        try:
            texts = self._call_many([("quick_search", {"query": q}) for q in queries])
            hits = _distinct(hit for q, text in zip(queries, texts, strict=True) for hit in _found(q, text))
        except PeerError as exc:
            return PeerAnswer([], _warning(exc), _ms(started))
        except Exception as exc:  # a search must never fail because of the peer
            warning = f"{PEER} search failed ({type(exc).__name__}: {mask_url(str(exc))}). {START_HINT}"
            return PeerAnswer([], warning, _ms(started))
        return PeerAnswer(hits[: max(0, limit)], None, _ms(started))

    def store_reflection(self, content: str, tags: tuple[str, ...] | list[str] = ()) -> str:
        """Store a reflection on the peer; its confirmation text. Raises ``PeerError``."""
        from mahavishnu.redaction.scrub import scrub

        arguments: ToolArguments = {"content": scrub(content)}  # the peer is a memory store too
        if tags:
            arguments["tags"] = list(tags)
        return str(parse_store_reflection(self._call("store_reflection", arguments))["text"])

    def reflection_count(self) -> int:
        """How many reflections the peer holds (its ``reflection_stats``). Raises ``PeerError``."""
        return parse_reflection_stats(self._call("reflection_stats", {}))

    def checkpoint(
        self, working_directory: str | None = None, *, timeout_seconds: float | None = None
    ) -> str:
        """Run the peer's quality checkpoint; its report. Raises ``PeerError``."""
        arguments: ToolArguments = {"working_directory": working_directory} if working_directory else {}
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

    def health_check(self) -> PeerHealth:
        """``{"status", "latency_ms", "server", "version", "detail", "info"}``. Raises ``PeerError``."""
        self.prepare()  # the latency is the peer's
        started = time.perf_counter()
        server: dict[str, str] = {}
        text = self._call("health_check", {}, server_info=server)
        info = parse_health_check(text)
        status = str(info.pop("status"))
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
        self, tool: str, arguments: ToolArguments, *, timeout: float | None = None,
        server_info: dict[str, str] | None = None,
    ) -> str:  # fmt: skip
        """One tool call on the kept session (opened or reopened as needed), within ``timeout``."""
        return self._call_many([(tool, arguments)], timeout=timeout, server_info=server_info)[0]

    def _call_many(
        self, calls: list[ToolCall], *, timeout: float | None = None,
        server_info: dict[str, str] | None = None,
    ) -> list[str]:  # fmt: skip
        """Tool calls sent together on the kept session, all within ``timeout``; their answers' text.

        The clock starts after the MCP SDK is imported: the budget is the peer's, not our imports'.
        Measured: ``mahavishnu.session_buddy.call.*``, a span by the first tool called."""
        transport = "http" if self.url else "stdio"
        with telemetry.measure("session_buddy.call", tool=calls[0][0], transport=transport) as measured:
            measured.count("calls", len(calls))
            return self._calls(calls, timeout, server_info)

    def _calls(
        self, calls: list[ToolCall], timeout: float | None, server_info: dict[str, str] | None
    ) -> list[str]:
        self._check_usable()
        _import_sdk()
        limit = timeout or self.timeout_seconds
        deadline = time.monotonic() + limit
        try:
            session, results = self._attempt(calls, deadline)
        except _Broken as broken:
            if not broken.retry or time.monotonic() >= deadline:
                raise self._failure(broken, calls, limit) from broken.caught
            # A kept session the peer no longer knows (it restarted) or whose stdio process died:
            # calls safe to repeat are sent again on a fresh session, within the same deadline.
            try:
                session, results = self._attempt(calls, deadline)
            except _Broken as again:
                raise self._failure(again, calls, limit) from again.caught
        info = session.client.server_info
        if server_info is not None and info is not None:
            server_info.update(name=info.name, version=info.version)
        return [_text(tool, result) for (tool, _), result in zip(calls, results, strict=True)]

    def _check_usable(self) -> None:
        if not self.enabled:
            raise PeerError(f"{PEER} is disabled (session_buddy.enabled: false)", hint=CONFIGURE_HINT)
        if not self.configured:
            raise PeerError(f"{PEER} is not configured", hint=CONFIGURE_HINT)
        if self.url:
            _check_url(self.url)

    def _attempt(self, calls: list[ToolCall], deadline: float) -> tuple[_Session, list[CallToolResult]]:
        """One try: the kept (or a fresh) session and the calls on it. A failure discards the session."""
        session: _Session | None = None
        fresh = False
        try:
            if self.url and not self._link.is_open:
                _check_listening(self.url, deadline - time.monotonic())
            opener = partial(_open_client, self.url, tuple(self.command))
            session, fresh = self._link.session(opener, deadline)
            return session, self._link.call(session, calls, deadline)
        except Exception as caught:  # timeouts, refused connections, closed streams, protocol errors
            if session is not None:
                self._link.discard(session)
            exc = _innermost(caught)
            if isinstance(exc, PeerError):
                raise exc from None
            kept = session is not None and not fresh
            retry = kept and all(t in _RETRYABLE for t, _ in calls) and not isinstance(exc, TimeoutError)
            raise _Broken(exc, caught, retry=retry) from caught

    def _failure(self, broken: _Broken, calls: list[ToolCall], limit: float) -> PeerError:
        exc, tool = broken.exc, calls[0][0]
        if isinstance(exc, TimeoutError):  # it listens but is slow: maybe it has just started
            message = f"{PEER} at {self.where} did not answer {tool} within {limit:g}s"
            return PeerError(message, hint=SLOW_HINT)
        if isinstance(exc, FileNotFoundError) and not self.url:
            return PeerError(f"{PEER} command not found: {self.command[0]}", hint=START_HINT)
        return PeerError(f"{PEER} at {self.where} is unreachable: {_describe(exc)}", hint=START_HINT)


class PeerHealth(TypedDict):
    """What ``SessionBuddy.health_check`` reports."""

    status: str  # ok | error
    latency_ms: float
    server: str | None
    version: str | None
    where: str
    detail: str
    info: HealthInfo


def _text(tool: str, result: CallToolResult) -> str:
    text = " ".join(getattr(c, "text", "") for c in result.content).strip()
    if result.is_error:
        raise PeerError(f"{PEER} {tool} failed: {text or 'tool error'}", hint=_failure_hint(text))
    return text


def _found(query: str, text: str) -> list[PeerHit]:
    return [replace(hit, metadata={**hit.metadata, "query": query}) for hit in parse_quick_search(text)]


def _distinct(hits: Iterable[PeerHit]) -> list[PeerHit]:
    """Hits in order, each content once (the same reflection found by several terms)."""
    seen: set[str] = set()
    kept: list[PeerHit] = []
    for hit in hits:
        key = " ".join(hit.content.split())
        if key not in seen:
            seen.add(key)
            kept.append(hit)
    return kept


class _Broken(Exception):
    """A call failed for the connection: what failed (``exc``, innermost) and whether repeating it on a
    fresh session is safe (``retry``)."""

    def __init__(self, exc: BaseException, caught: Exception, *, retry: bool) -> None:
        super().__init__(str(exc))
        self.exc, self.caught, self.retry = exc, caught, retry


def _import_sdk() -> None:
    """Import what a call needs before its clock starts (~1.25 s on a busy machine, once)."""
    import httpx2  # noqa: F401
    import mcp
    import mcp.client.streamable_http  # noqa: F401


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
