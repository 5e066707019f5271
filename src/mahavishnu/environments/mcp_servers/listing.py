"""Reading the registry: every assistant's servers, and the one an assistant would use by a name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mahavishnu.environments.mcp_servers.file_formats import CODECS
from mahavishnu.environments.mcp_servers.locations import Location, location, locations
from mahavishnu.environments.mcp_servers.model import McpServer
from mahavishnu.environments.mcp_servers.options import parse_tools
from mahavishnu.environments.mcp_servers.shapes import SHAPES
from mahavishnu.environments.mcp_servers.state import changed_by_hand, load_state, owned, record_of
from mahavishnu.errors import InvalidConfigFileError, NotFoundError
from mahavishnu.files import safe_write

__all__ = ["Registered", "find_server", "list_servers", "parse_entry", "servers_at"]


@dataclass(frozen=True)
class Registered:
    """A server as one assistant has it at one scope."""

    tool: str
    scope: str
    path: str
    server: McpServer
    managed: bool  # written by Mahavishnu, and still as it wrote it
    changed_by_hand: bool = False  # written by Mahavishnu, then changed by someone: theirs now

    def to_dict(self) -> dict[str, object]:
        where = {"tool": self.tool, "scope": self.scope, "path": self.path, "managed": self.managed}
        return {**where, "changed_by_hand": self.changed_by_hand, **self.server.to_dict(masked=True)}


def servers_at(loc: Location) -> Mapping[str, object]:
    """The map of servers in the file on disk, as plain data."""
    return CODECS[loc.tool].servers(safe_write.read_text(loc.path), loc)


def parse_entry(tool: str, name: str, raw: object) -> McpServer:
    """An entry as the model; one that is not even an object reads as an empty one."""
    return SHAPES[tool].parse(name, raw if isinstance(raw, dict) else {})


def list_servers(tool: str = "all") -> tuple[list[Registered], list[str]]:
    """Every MCP server of the chosen assistants, with its scope; unreadable files become warnings."""
    tools, _ = parse_tools(tool)
    state = load_state()
    found: list[Registered] = []
    warnings: list[str] = []
    seen: set[tuple[Path, tuple[str, ...]]] = set()
    unreadable: set[Path] = set()  # one warning per file: Claude's user and local maps share one
    for name in tools:
        for loc in locations(name):
            ident = (loc.path.absolute(), loc.keys)
            if ident in seen or ident[0] in unreadable:  # e.g. the project file is the user file in $HOME
                continue
            seen.add(ident)
            try:
                servers = servers_at(loc)
            except InvalidConfigFileError as exc:
                unreadable.add(ident[0])
                warnings.append(exc.message)
                continue
            for server_name, raw in servers.items():
                server = parse_entry(loc.tool, server_name, raw)
                record = record_of(state, loc, server_name)
                hand = changed_by_hand(record, server)
                found.append(
                    Registered(loc.tool, loc.scope, str(loc.path), server, owned(record, server), hand)
                )
    return found, warnings


def find_server(name: str, tool: str, scope: str | None = None) -> tuple[Location, McpServer]:
    """The server an assistant would use under that name: at ``scope``, or the most specific scope."""
    candidates = [location(tool, scope)] if scope else list(reversed(locations(tool)))
    for loc in candidates:
        raw = servers_at(loc).get(name)
        if raw is not None:
            return loc, parse_entry(tool, name, raw)
    where = f"at {scope} scope" if scope else "at any scope"
    raise NotFoundError(
        f"{tool} has no MCP server '{name}' {where}", hint="List them with `mahavishnu mcp-servers list`."
    )
