"""A minimal MCP server over streamable HTTP on 127.0.0.1:PORT, for the MCP health check test."""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("health-test")


@server.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return text


if __name__ == "__main__":
    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
