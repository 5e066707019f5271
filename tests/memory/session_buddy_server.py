"""A loopback stand-in for Session-Buddy 0.23: the tools Mahavishnu calls, with the real names,
argument names, defaults and answer text (see ``mahavishnu.memory.session_buddy``'s docstring).

    python session_buddy_server.py [--http PORT] [--mode MODE] [--delay S] [--record FILE]

stdio by default; ``--http PORT`` serves streamable HTTP on 127.0.0.1:PORT at ``/mcp``. Modes:
``normal`` (one stored reflection matches any query), ``empty`` (no results), ``slow`` (every tool
sleeps ``--delay`` seconds first, blocking like a stuck server; in every mode a ``quick_search`` for
``HANG_QUERY`` does), ``error`` (answers are the peer's failure texts), ``raise`` (tools raise: MCP
tool errors). ``--record FILE`` appends one JSON
line ``{"tool", "arguments", "pid", "session"}`` per call, so tests can check the argument names
sent and the server process (``pid``) and MCP session id (``session``, HTTP sessions on the legacy
protocol only) each call came in; over HTTP it also appends ``{"handshake", "pid"}`` for every
``server/discover`` or ``initialize`` request, so tests can count the sessions clients opened (on
stdio a session is a process: count the ``pid``s).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

HIT = {
    "content": "Use anyio.fail_after around MCP client calls so a slow peer never blocks a search",
    "project": "mahavishnu",
    "score": 0.87,
    "timestamp": "2026-11-20 09:15:02",
}
START = time.time()
#: A ``quick_search`` for this query sleeps ``--delay`` seconds in every mode: one hung call.
HANG_QUERY = "hang"


def build_server(mode: str = "normal", delay: float = 0.0, record: Path | None = None) -> MCPServer:
    server = MCPServer("session-buddy", version="0.23.0", log_level="WARNING")

    def enter(tool: str, arguments: dict[str, Any], ctx: Context) -> None:
        if record is not None:
            request = ctx.request_context.request  # the HTTP request; None on stdio
            session = request.headers.get("mcp-session-id") if request is not None else None
            _append(record, {"tool": tool, "arguments": arguments, "pid": os.getpid(), "session": session})
        if mode == "slow" or arguments.get("query") == HANG_QUERY:
            time.sleep(delay)  # blocking, like a server stuck in a database lock
        if mode == "raise":
            raise ToolError(f"{tool} exploded")  # an MCP tool error carrying its message

    @server.tool()
    def quick_search(ctx: Context, query: str, min_score: float = 0.7, project: str | None = None) -> str:
        """Quick search that returns only the count and top result for fast overview."""
        enter("quick_search", {"query": query, "min_score": min_score, "project": project}, ctx)
        if mode == "error":
            return "❌ Quick search failed: database is locked"
        lines = [f"🔍 Quick search for: '{query}'"]
        if mode == "empty" or HIT["score"] < min_score or (project and project != HIT["project"]):
            lines += ["🔍 No results found", "💡 Try adjusting your search terms or lowering min_score"]
            return "\n".join(lines)
        content = str(HIT["content"])
        shown = content if len(content) <= 150 else content[:147] + "..."
        lines += ["📊 Found results (showing top 1)", f"📝 {shown}"]
        lines.append(f"📁 Project: {HIT['project']}")
        lines.append(f"⭐ Relevance: {float(HIT['score']):.2f}")  # type: ignore[arg-type]
        lines.append(f"📅 Date: {HIT['timestamp']}")
        return "\n".join(lines)

    @server.tool()
    def store_reflection(
        ctx: Context, content: str, tags: list[str] | None = None, project: str | None = None
    ) -> str:
        """Store an important insight or reflection for future reference."""
        enter("store_reflection", {"content": content, "tags": tags, "project": project}, ctx)
        if mode == "error":
            return "❌ Validation error: Store reflection - content is required"
        lines = [
            "💾 Reflection stored successfully!",
            f"📝 Content: {content[:97] + '...' if len(content) > 100 else content}",
        ]
        if tags:
            lines.append(f"🏷️ Tags: {', '.join(tags)}")
        lines.append(f"📅 Stored: {time.strftime('%Y-%m-%d %H:%M:%S')}")
        return "\n".join(lines)

    @server.tool()
    def checkpoint(ctx: Context, working_directory: str | None = None) -> str:
        """Perform mid-session quality checkpoint with workflow analysis and optimization recommendations."""
        enter("checkpoint", {"working_directory": working_directory}, ctx)
        title = "🔍 Claude Session Checkpoint - mahavishnu"
        if mode == "error":
            return f"{title}\n{'=' * 50}\n❌ Checkpoint failed: not a git repository"
        return "\n".join(
            [
                title,
                "=" * 50,
                "📊 Quality score: 82/100",
                "✅ Git checkpoint created",
                f"\n⏰ Checkpoint completed at: {time.strftime('%Y-%m-%d %H:%M:%S')}",
                "\n💡 This checkpoint includes intelligent conversation management and optimization.",
            ]
        )

    @server.tool()
    def health_check(ctx: Context) -> str:
        """Simple health check that doesn't require database or session context."""
        enter("health_check", {}, ctx)
        if mode == "error":
            return "❌ Health check failed: server shutting down"
        return f"""🏥 MCP Server Health Check
================================
Server Status: ✅ Active
Platform: Linux
Python: 3.13.1
Process ID: {os.getpid()}
Working Directory: {Path.cwd()}
Timestamp: {time.time()}

✅ MCP server is operational and responding to requests."""

    @server.tool()
    def get_liveness(ctx: Context) -> dict[str, Any]:
        """Get liveness status for this service."""
        enter("get_liveness", {}, ctx)
        return {
            "status": "ok",
            "service": "session-buddy",
            "version": "0.23.0",
            "uptime_seconds": time.time() - START,
        }

    return server


def _append(record: Path, line: dict[str, Any]) -> None:
    with record.open("a") as out:
        out.write(json.dumps(line) + "\n")


def serve_http_app(server: MCPServer, port: int, record: Path | None) -> None:
    """``server.run("streamable-http")``, recording each handshake request when ``record`` is set."""
    import uvicorn

    app = server.streamable_http_app(host="127.0.0.1")

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        if record is None or scope["type"] != "http" or scope["method"] != "POST":
            return await app(scope, receive, send)
        messages = [await receive()]
        while messages[-1]["type"] == "http.request" and messages[-1].get("more_body"):
            messages.append(await receive())
        try:
            method = json.loads(b"".join(m.get("body", b"") for m in messages)).get("method")
        except (ValueError, AttributeError):
            method = None
        if method in ("server/discover", "initialize"):
            _append(record, {"handshake": method, "pid": os.getpid()})
        replay = iter(messages)

        async def again() -> Any:
            return next(replay, None) or await receive()

        return await app(scope, again, send)

    uvicorn.run(counting, host="127.0.0.1", port=port, log_level="warning")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def command(*args: str) -> list[str]:
    """The argv that runs this server (stdio unless ``--http PORT`` is among ``args``)."""
    return [sys.executable, str(Path(__file__).resolve()), *args]


def serve_http(*args: str, port: int | None = None) -> Iterator[str]:
    """Run this server over HTTP on a loopback port (a free one by default) in a subprocess; yield its
    URL once it answers."""
    import httpx

    port = port or free_port()
    proc = subprocess.Popen(
        command("--http", str(port), *args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        proc.kill()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, default=None, metavar="PORT")
    parser.add_argument("--mode", default="normal", choices=["normal", "empty", "slow", "error", "raise"])
    parser.add_argument("--delay", type=float, default=30.0)
    parser.add_argument("--record", type=Path, default=None)
    args = parser.parse_args()
    server = build_server(args.mode, args.delay, args.record)
    if args.http is None:
        server.run("stdio")
    else:
        serve_http_app(server, args.http, args.record)


if __name__ == "__main__":
    main()
