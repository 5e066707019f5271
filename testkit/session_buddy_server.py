"""A loopback stand-in for Session-Buddy 0.23 that behaves like the real server (checked against it by
tests/memory/test_session_buddy_real.py): the tools Mahavishnu calls, with the real names, argument
names, defaults and answer text (see ``mahavishnu.memory.peers.session_buddy``'s docstring).

    python session_buddy_server.py [--http PORT] [--mode MODE] [--delay S] [--record FILE]

Like the real one: ``quick_search`` ignores ``project`` and ``min_score``, matches the query as one
case-sensitive substring of a reflection's content (or one of its tags, exactly), answers with the
newest match only, shows no relevance line, no project and ``Date: Unknown``, and cuts content over
150 characters to its first 147 and "..."; ``store_reflection`` takes ``content`` and ``tags`` only
(a ``project`` is a validation error); ``reflection_stats`` counts what is stored.

stdio by default; ``--http PORT`` serves streamable HTTP on 127.0.0.1:PORT at ``/mcp``;
``--slow-tool TOOL`` makes every call of that tool sleep ``--delay`` seconds first. Modes:
``normal`` (it starts holding one reflection, ``HIT``), ``empty`` (it starts with none), ``slow``
(every tool sleeps ``--delay`` seconds first, blocking like a stuck server; in every mode a
``quick_search`` for ``HANG_QUERY`` does), ``error`` (answers are the peer's failure texts), ``raise``
(tools raise: MCP tool errors). ``--record FILE`` appends one JSON line ``{"tool", "arguments",
"pid", "session"}`` per call, so tests can check the argument names sent and the server process
(``pid``) and MCP session id (``session``, HTTP sessions on the legacy protocol only) each call came
in; over HTTP it also appends ``{"handshake", "pid"}`` for every ``server/discover`` or
``initialize`` request, so tests can count the sessions clients opened (on stdio a session is a
process: count the ``pid``s).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

#: The reflection a ``normal`` server starts with: longer than the 150 characters a hit shows.
HIT = {
    "content": (
        "Use anyio.fail_after around MCP client calls so a slow peer never blocks a search; the deadline "
        "covers opening the session too, and a call that times out discards it so the next one reconnects."
    ),
    "tags": ["mcp", "timeouts"],
}
START = time.time()
#: A ``quick_search`` for this query sleeps ``--delay`` seconds in every mode: one hung call.
HANG_QUERY = "hang"
CUT_AT = 150


def shown(content: str, cut_at: int = CUT_AT) -> str:
    """The content as the real server shows it (``ToolMessages.truncate_text``: 150 in a search)."""
    return content if len(content) <= cut_at else content[: cut_at - 3] + "..."


def build_server(
    mode: str = "normal", delay: float = 0.0, record: Path | None = None, slow_tool: str | None = None
) -> MCPServer:
    server = MCPServer("session-buddy", version="0.23.0", log_level="WARNING")
    reflections: list[dict[str, Any]] = [dict(HIT)] if mode in ("normal", "slow") else []

    def enter(tool: str, arguments: dict[str, Any], ctx: Context) -> None:
        if record is not None:
            request = ctx.request_context.request  # the HTTP request; None on stdio
            session = request.headers.get("mcp-session-id") if request is not None else None
            _append(record, {"tool": tool, "arguments": arguments, "pid": os.getpid(), "session": session})
        if mode == "slow" or arguments.get("query") == HANG_QUERY or tool == slow_tool:
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
        found = [r for r in reversed(reflections) if query in r["content"] or query in r["tags"]]
        if not found:
            lines += ["🔍 No results found", "💡 Try adjusting your search terms or lowering min_score"]
            return "\n".join(lines)
        lines += ["📊 Found results (showing top 1)", f"📝 {shown(found[0]['content'])}", "📅 Date: Unknown"]
        return "\n".join(lines)

    @server.tool()
    def store_reflection(ctx: Context, content: str, tags: list[str] | None = None) -> str:
        """Store an important insight or reflection for future reference."""
        enter("store_reflection", {"content": content, "tags": tags}, ctx)
        if mode == "error":
            return "❌ Validation error: Store reflection - content is required"
        reflections.append({"content": content, "tags": list(tags or [])})
        lines = ["💾 Reflection stored successfully!", f"📝 Content: {shown(content, 100)}"]
        if tags:
            lines.append(f"🏷️ Tags: {', '.join(tags)}")
        lines.append(f"📅 Stored: {time.strftime('%Y-%m-%d %H:%M:%S')}")
        return "\n".join(lines)

    @server.tool()
    def reflection_stats(ctx: Context, project: str | None = None) -> str:
        """Get statistics about the reflection database."""
        enter("reflection_stats", {"project": project}, ctx)
        if mode == "error":
            return "❌ Failed to get reflection stats: database is locked"
        health = "✅ Healthy" if reflections else "⚠️ Empty"
        return "\n".join(
            [
                "📊 Reflection Database Statistics",
                "=" * 40,
                f"📈 Total reflections: {len(reflections)}",
                "📁 Projects: 0",
                f"🏥 Database health: {health}",
            ]
        )

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
Python: 3.13.0
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


def command(*args: str) -> list[str]:
    """The argv that runs this server (stdio unless ``--http PORT`` is among ``args``)."""
    return [sys.executable, str(Path(__file__).resolve()), *args]


def serve_http(*args: str, port: int | None = None) -> Iterator[str]:
    """Run this server over HTTP on a loopback port (a free one by default) in a subprocess; yield its
    URL once it answers."""
    import httpx

    from testkit.ports import free_port  # (here: run as a script, this file has no testkit to import)

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
    parser.add_argument("--slow-tool", default=None, metavar="TOOL", help="this tool sleeps --delay first")
    args = parser.parse_args()
    server = build_server(args.mode, args.delay, args.record, args.slow_tool)
    if args.http is None:
        server.run("stdio")
    else:
        serve_http_app(server, args.http, args.record)


if __name__ == "__main__":
    main()
