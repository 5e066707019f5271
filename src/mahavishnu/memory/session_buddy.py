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

Every call opens its own MCP session, bounded by ``timeout_seconds`` (``anyio.fail_after``); a
stdio peer runs in its own process group, killed (SIGKILL to the group) when a call times out
or once it ends, so a hung peer never outlives the call. Only loopback URLs are contacted.
"""

from __future__ import annotations

import math
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

from mahavishnu.errors import PeerError
from mahavishnu.masking import mask_url

if TYPE_CHECKING:
    from mcp import Client
    from mcp.client._transport import TransportStreams
    from mcp.types import CallToolResult

    from mahavishnu.config import SessionBuddySettings, Settings

_T = TypeVar("_T")
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
    """The peer as a subprocess in its own process group; the group is killed when the call ends.

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


# -- the client -------------------------------------------------------------------------------------------


class SessionBuddy:
    """Calls to one Session-Buddy peer. Synchronous; each call opens and closes its own session."""

    def __init__(
        self, *, url: str | None = None, command: list[str] | None = None, timeout_seconds: float = 2.0,
        min_score: float = 0.0, enabled: bool = True,
    ) -> None:  # fmt: skip
        self.url = url
        self.command = list(command or [])
        self.timeout_seconds = timeout_seconds
        self.min_score = min_score
        self.enabled = enabled

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
        arguments: dict[str, Any] = {"content": content}
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
        """One tool call in its own session, within ``timeout``; the answer's text."""
        if not self.enabled:
            raise PeerError(f"{PEER} is disabled (session_buddy.enabled: false)", hint=CONFIGURE_HINT)
        if not self.configured:
            raise PeerError(f"{PEER} is not configured", hint=CONFIGURE_HINT)
        limit = timeout or self.timeout_seconds
        if self.url:
            _check_listening(_check_url(self.url), limit)
        try:
            result = _run_sync(lambda: self._call_async(tool, arguments, limit, server_info))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as caught:  # timeouts, refused connections, closed streams, protocol errors
            exc = _innermost(caught)
            if isinstance(exc, PeerError):
                raise exc from None
            if isinstance(exc, TimeoutError):
                message = f"{PEER} at {self.where} did not answer {tool} within {limit:g}s"
            elif isinstance(exc, FileNotFoundError) and not self.url:
                message = f"{PEER} command not found: {self.command[0]}"
            else:
                message = f"{PEER} at {self.where} is unreachable: {_describe(exc)}"
            raise PeerError(message, hint=START_HINT) from caught
        text = " ".join(getattr(c, "text", "") for c in result.content).strip()
        if result.is_error:
            raise PeerError(f"{PEER} {tool} failed: {text or 'tool error'}", hint=_failure_hint(text))
        return text

    async def _call_async(
        self, tool: str, arguments: dict[str, Any], limit: float, server_info: dict[str, str] | None
    ) -> CallToolResult:
        import anyio

        with anyio.fail_after(limit):
            async with self._client(limit) as client:
                if server_info is not None and client.server_info is not None:
                    server_info.update(name=client.server_info.name, version=client.server_info.version)
                return await client.call_tool(tool, arguments, read_timeout_seconds=limit)
        raise AssertionError("unreachable")  # pragma: no cover - mypy: fail_after may swallow

    @asynccontextmanager
    async def _client(self, limit: float) -> AsyncIterator[Client]:
        from mcp import Client

        if self.url:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            async with httpx2.AsyncClient(timeout=limit, follow_redirects=False) as http:
                transport = streamable_http_client(self.url, http_client=http)
                async with Client(transport, read_timeout_seconds=limit) as client:
                    yield client
        else:
            async with Client(_stdio_transport(self.command), read_timeout_seconds=limit) as client:
                yield client


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


def _run_sync(fn: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine to completion from sync code (in a worker thread when a loop is running here)."""
    import anyio

    async def main() -> _T:
        return await fn()

    try:
        import asyncio

        asyncio.get_running_loop()
    except RuntimeError:
        return anyio.run(main)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, main).result()


def _innermost(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (task groups wrap what their tasks raised)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
