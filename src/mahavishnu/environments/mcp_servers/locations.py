"""Where each assistant keeps its MCP servers: a file, and the keys leading to the map in it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mahavishnu.environments.scopes import parse_scope
from mahavishnu.errors import InvalidInputError

__all__ = ["Location", "claude_json_path", "location", "locations", "scopes_of"]


@dataclass(frozen=True)
class Location:
    """The map of MCP servers of one assistant at one scope: a file and the keys leading to the map."""

    tool: str
    scope: str
    path: Path
    keys: tuple[str, ...]

    @property
    def key(self) -> str:
        """Identifies the map in the state file."""
        return json.dumps([str(self.path.absolute()), *self.keys])

    def label(self) -> str:
        where = f"{self.path}" + (f" [project {self.keys[1]}]" if len(self.keys) == 3 else "")
        return f"{self.tool} ({self.scope}) {where}"


def claude_json_path() -> Path:
    """Claude Code's own state file: ``$CLAUDE_CONFIG_DIR/.claude.json`` or ``~/.claude.json``."""
    from mahavishnu.environments.assistants import claude

    return claude.state_file()


def scopes_of(tool: str) -> tuple[str, ...]:
    """The scopes an assistant keeps MCP servers at, lowest precedence first."""
    return {"claude": ("user", "project", "local"), "codex": ("user",)}.get(tool, ("user", "project"))


def locations(tool: str) -> list[Location]:
    """Every map of MCP servers an assistant reads, lowest precedence first."""
    from mahavishnu.environments.assistants import codex, gemini, opencode, qwen
    from mahavishnu.environments.assistants.base import project_dir

    if tool == "claude":
        project = project_dir()
        return [
            Location("claude", "user", claude_json_path(), ("mcpServers",)),
            Location("claude", "project", project / ".mcp.json", ("mcpServers",)),
            Location("claude", "local", claude_json_path(), ("projects", str(project), "mcpServers")),
        ]
    if tool == "codex":
        return [Location("codex", "user", codex.config_path("user"), ("mcp_servers",))]
    if tool == "opencode":  # (opencode.json or an existing opencode.jsonc)
        return [Location(tool, scope, opencode.config_path(scope), ("mcp",)) for scope in ("user", "project")]
    module = {"qwen": qwen, "gemini": gemini}[tool]
    return [
        Location(tool, scope, module.config_path(scope), ("mcpServers",)) for scope in ("user", "project")
    ]


def location(tool: str, scope: str) -> Location:
    parse_scope(scope)
    for loc in locations(tool):
        if loc.scope == scope:
            return loc
    raise InvalidInputError(
        f"{tool} keeps no MCP servers at {scope} scope",
        hint=f"{tool} scopes: {', '.join(scopes_of(tool))}.",
    )
