"""The MCP server's tools called through the SDK's client connected in process (no transport), in
order; the ``backing`` fixture (conftest.py) opens the store with the FakeEmbedder."""

from __future__ import annotations

from typing import Any

import anyio
from mcp import Client
from mcp.types import CallToolResult

from mahavishnu import mcp_server


def run(backing: mcp_server.Backing, calls: list[tuple[str, dict[str, Any]]]) -> list[CallToolResult]:
    async def go() -> list[CallToolResult]:
        async with Client(mcp_server.build_server(backing)) as client:
            return [await client.call_tool(name, args) for name, args in calls]

    return anyio.run(go)
